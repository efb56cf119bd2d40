package herokuapi

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

// App setups make an app from a source tarball and its app.json, the way Heroku does for review
// apps made without its GitHub integration: the app exists at once; then, on the server's timers,
// the manifest is read, its add-ons provisioned (setting their config vars), its env and the
// request's overrides applied, the app built and released, and app.json's postdeploy script run.

// AppSetup is an app setup as the server holds it.
type AppSetup struct {
	ID             string
	AppName        string
	Team           string // team the app was created in, "" for a personal app
	Status         string // pending, succeeded, failed
	FailureMessage string
	Addons         []string // add-ons app.json asked for, as written there
	Postdeploy     string   // the postdeploy script's command, "" when app.json has none
}

type appSetupRec struct {
	id, appID, status, failureMessage string
	appName, teamName                 string // kept: the app may be deleted later
	seq                               int    // creation order: timestamps have whole seconds
	buildID                           string
	manifestErrors                    []string
	addons                            []string
	postdeployCmd                     string
	postdeploy                        *postdeployResult // set once the script ran
	created, updated                  time.Time
}

type postdeployResult struct {
	exitCode int
	output   string
}

type teamRec struct {
	id, name         string
	created, updated time.Time
}

// SetPipelineTeam makes team (created when new) the owner of the pipeline, as when a pipeline
// belongs to a Heroku team rather than to a user.
func (s *Server) SetPipelineTeam(pipeline, team string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPipeline(pipeline)
	t := s.findTeam(team)
	if t == nil {
		now := s.now()
		t = &teamRec{id: newID(), name: team, created: now, updated: now}
		s.teams[t.id] = t
	}
	p.team = t.id
}

// DisableReviewApps disconnects the pipeline from GitHub: it has no review app configuration, as
// for organizations that do not grant Heroku's GitHub integration.
func (s *Server) DisableReviewApps(pipeline string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPipeline(pipeline)
	p.reviewRepo, p.repoID = "", 0
}

// FailAddon makes provisioning of addon fail in later app setups whose app.json asks for it.
// addon is a service ("heroku-postgresql") or a service and plan ("heroku-postgresql:in-dyno");
// message is the provider's reason. An empty message makes provisioning succeed again.
func (s *Server) FailAddon(addon, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if message == "" {
		delete(s.addonFails, addon)
		return
	}
	s.addonFails[addon] = message
}

// SetPostdeploy chooses how later app setups' postdeploy scripts end: their exit code and what
// they print. A non-zero exit code fails the setup.
func (s *Server) SetPostdeploy(exitCode int, output string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.postdeploy = &postdeployResult{exitCode: exitCode, output: output}
}

// AppSetups returns every app setup, oldest first.
func (s *Server) AppSetups() []AppSetup {
	s.mu.Lock()
	defer s.mu.Unlock()
	var recs []*appSetupRec
	for _, as := range s.appSetups {
		recs = append(recs, as)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].seq < recs[j].seq })
	out := make([]AppSetup, len(recs))
	for i, as := range recs {
		out[i] = AppSetup{
			ID: as.id, AppName: as.appName, Team: as.teamName, Status: as.status, FailureMessage: as.failureMessage,
			Addons: append([]string(nil), as.addons...), Postdeploy: as.postdeployCmd,
		}
	}
	return out
}

func (s *Server) findTeam(ident string) *teamRec {
	if t, ok := s.teams[ident]; ok {
		return t
	}
	for _, t := range s.teams {
		if t.name == ident {
			return t
		}
	}
	return nil
}

func (s *Server) pipelineOwner(p *pipelineRec) map[string]any {
	if p.team != "" {
		return map[string]any{"id": p.team, "type": "team"}
	}
	return map[string]any{"id": ownerID, "type": "user"}
}

// teamRef renders an app's team (and its deprecated twin, organization).
func (s *Server) teamRef(id string) any {
	t := s.teams[id]
	if t == nil {
		return nil
	}
	return map[string]any{"id": t.id, "name": t.name}
}

func (s *Server) getTeam(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	t := s.findTeam(p[0])
	if t == nil {
		return reply{}, notFound("team", p[0])
	}
	return ok(map[string]any{
		"id": t.id, "name": t.name, "created_at": ts(t.created), "updated_at": ts(t.updated),
		"credit_card_collections": false, "default": false, "enterprise_account": nil,
		"identity_provider": nil, "membership_limit": nil, "provisioned_licenses": false,
		"role": "admin", "type": "team",
	})
}

func (s *Server) appSetupJSON(as *appSetupRec) map[string]any {
	var build any
	if b := s.builds[as.buildID]; b != nil {
		build = map[string]any{"id": b.id, "status": b.status, "output_stream_url": s.streamURL("builds", b.id)}
	}
	var postdeploy any
	if as.postdeploy != nil {
		postdeploy = map[string]any{"exit_code": as.postdeploy.exitCode, "output": as.postdeploy.output}
	}
	return map[string]any{
		"id": as.id, "created_at": ts(as.created), "updated_at": ts(as.updated), "status": as.status,
		"failure_message": strOrNil(as.failureMessage, as.failureMessage != ""),
		"app":             map[string]any{"id": as.appID, "name": as.appName}, "build": build,
		"manifest_errors": append([]string{}, as.manifestErrors...), "postdeploy": postdeploy,
		"resolved_success_url": nil,
	}
}

// createAppSetup creates the app at once (named as asked, in the team asked for) and runs the
// rest of the setup on timers.
func (s *Server) createAppSetup(r *http.Request, _ []string, body []byte) (reply, *apiError) {
	var in struct {
		App *struct {
			Name         *string `json:"name"`
			Organization *string `json:"organization"`
			Personal     *bool   `json:"personal"`
		} `json:"app"`
		SourceBlob sourceBlobIn `json:"source_blob"`
		Overrides  *struct {
			Env map[string]string `json:"env"`
		} `json:"overrides"`
	}
	if e := decodeBody(body, &in); e != nil {
		return reply{}, e
	}
	if in.SourceBlob.URL == "" {
		s.violation(r, "source_blob.url is missing")
		return reply{}, errorf(http.StatusUnprocessableEntity, "invalid_params", "Invalid params: source_blob.url is required.")
	}
	name := "app-" + randHex(8)
	var team *teamRec
	if in.App != nil {
		if in.App.Name != nil {
			name = *in.App.Name
		}
		if in.App.Organization != nil {
			if in.App.Personal != nil && *in.App.Personal {
				return reply{}, errorf(http.StatusUnprocessableEntity, "invalid_params", "An app cannot be both personal and in team %s.", *in.App.Organization)
			}
			if team = s.findTeam(*in.App.Organization); team == nil {
				return reply{}, notFound("team", *in.App.Organization)
			}
		}
	}
	if s.findApp(name) != nil {
		return reply{}, errorf(http.StatusUnprocessableEntity, "invalid_params", "Name %s is already taken.", name)
	}
	var env map[string]string
	if in.Overrides != nil {
		env = in.Overrides.Env
	}
	a := s.createApp(name, nil)
	if team != nil {
		a.team = team.id
	}
	now := s.now()
	as := &appSetupRec{id: newID(), appID: a.id, appName: a.name, seq: len(s.appSetups), status: "pending", created: now, updated: now}
	if team != nil {
		as.teamName = team.name
	}
	s.appSetups[as.id] = as
	s.runAppSetup(as, a, in.SourceBlob, maps.Clone(env))
	return created(s.appSetupJSON(as))
}

func (s *Server) getAppSetup(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	if as := s.appSetups[p[0]]; as != nil {
		return ok(s.appSetupJSON(as))
	}
	return reply{}, notFound("app setup", p[0])
}

// runAppSetup reads the manifest, provisions add-ons, sets config vars, builds, releases and runs
// postdeploy. The caller holds the lock.
func (s *Server) runAppSetup(as *appSetupRec, a *appRec, src sourceBlobIn, overrides map[string]string) {
	fail := func(msg string) {
		if as.status == "pending" {
			as.status, as.failureMessage, as.updated = "failed", msg, s.now()
		}
	}
	s.after(s.opt.BuildTime/3, func() {
		if a.deleted {
			fail("The app was deleted during the setup.")
			return
		}
		blob, err := s.blobFor(src.URL)
		if err != nil {
			fail("Could not download the source: " + err.Error())
			return
		}
		m, err := readManifest(blob.data)
		if err != nil {
			as.manifestErrors = []string{err.Error()}
			fail("invalid app.json")
			return
		}
		as.addons, as.postdeployCmd = m.addons, m.postdeploy
		for name, v := range m.env {
			if v.required && v.value == "" && overrides[name] == "" {
				as.manifestErrors = append(as.manifestErrors, fmt.Sprintf("config var %s is required", name))
			}
		}
		if len(as.manifestErrors) > 0 {
			sort.Strings(as.manifestErrors)
			fail("invalid app.json")
			return
		}
		for _, addon := range m.addons {
			service, _, _ := strings.Cut(addon, ":")
			msg, bad := s.addonFails[addon]
			if !bad {
				msg, bad = s.addonFails[service]
			}
			if bad {
				fail(fmt.Sprintf("The add-on %s could not be provisioned: %s", addon, msg))
				return
			}
			a.config[addonVar(service)] = fmt.Sprintf("%s://%s.invalid/%s", strings.ReplaceAll(service, "heroku-postgresql", "postgres"), service, randHex(8))
		}
		for name, v := range m.env {
			if v.value != "" {
				a.config[name] = v.value
			}
		}
		maps.Copy(a.config, overrides)
		a.updated = s.now()
		b := s.startBuild(a, src.URL, deref(src.Checksum), src.Checksum != nil, deref(src.Version), src.Version != nil)
		as.buildID = b.id
		as.updated = s.now()
		b.onDone = func(b *buildRec) {
			if b.status != "succeeded" {
				fail("Build failed: see the build output for details.")
				return
			}
			if rel := s.releases[b.releaseID]; rel == nil || rel.status != "succeeded" {
				fail("The release phase failed.")
				return
			}
			if m.postdeploy == "" {
				as.status, as.updated = "succeeded", s.now()
				return
			}
			result := postdeployResult{output: "Running " + m.postdeploy + "\n"}
			if s.postdeploy != nil {
				result.exitCode = s.postdeploy.exitCode
				result.output += s.postdeploy.output
			}
			s.after(s.opt.ReleaseTime, func() {
				as.postdeploy = &result
				if result.exitCode != 0 {
					fail(fmt.Sprintf("The postdeploy script failed with exit code %d.", result.exitCode))
					return
				}
				as.status, as.updated = "succeeded", s.now()
			})
		}
	})
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// addonVar is the config var an add-on sets: Postgres sets DATABASE_URL, others <SERVICE>_URL.
func addonVar(service string) string {
	if service == "heroku-postgresql" {
		return "DATABASE_URL"
	}
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(service)) + "_URL"
}

// manifest is what an app setup uses of app.json.
type manifest struct {
	addons     []string
	env        map[string]envSpec
	postdeploy string
}

type envSpec struct {
	value    string
	required bool
}

// readManifest finds app.json at the root of the gzipped tarball (or inside its one top
// directory, as GitHub's tarballs have it) and reads it. No app.json is an empty manifest.
func readManifest(tgz []byte) (manifest, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return manifest{}, fmt.Errorf("the source is not a gzipped tarball: %v", err)
	}
	tr := tar.NewReader(zr)
	var data []byte
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return manifest{}, fmt.Errorf("the source tarball is corrupt: %v", err)
		}
		name := strings.TrimPrefix(path.Clean(hdr.Name), "./")
		if hdr.Typeflag != tar.TypeReg || (name != "app.json" && path.Base(name) != "app.json") || strings.Count(name, "/") > 1 {
			continue
		}
		if data, err = io.ReadAll(io.LimitReader(tr, 1<<20)); err != nil {
			return manifest{}, fmt.Errorf("reading app.json: %v", err)
		}
		if name == "app.json" {
			break
		}
	}
	if data == nil {
		return manifest{}, nil
	}
	var raw struct {
		Addons  []json.RawMessage          `json:"addons"`
		Env     map[string]json.RawMessage `json:"env"`
		Scripts struct {
			Postdeploy json.RawMessage `json:"postdeploy"`
		} `json:"scripts"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return manifest{}, fmt.Errorf("app.json is not valid JSON: %v", err)
	}
	m := manifest{env: map[string]envSpec{}}
	for _, ad := range raw.Addons {
		var plan string
		if json.Unmarshal(ad, &plan) != nil {
			var obj struct{ Plan string }
			if err := json.Unmarshal(ad, &obj); err != nil || obj.Plan == "" {
				return manifest{}, fmt.Errorf("app.json: an add-on is neither a plan name nor an object with a plan")
			}
			plan = obj.Plan
		}
		m.addons = append(m.addons, plan)
	}
	for name, v := range raw.Env {
		var value string
		if json.Unmarshal(v, &value) == nil {
			m.env[name] = envSpec{value: value}
			continue
		}
		var obj struct {
			Value    string `json:"value"`
			Required *bool  `json:"required"`
		}
		if err := json.Unmarshal(v, &obj); err != nil {
			return manifest{}, fmt.Errorf("app.json: env %s is neither a string nor an object", name)
		}
		// Heroku treats an env entry as required unless it says otherwise.
		m.env[name] = envSpec{value: obj.Value, required: obj.Required == nil || *obj.Required}
	}
	if len(raw.Scripts.Postdeploy) > 0 && string(raw.Scripts.Postdeploy) != "null" {
		if json.Unmarshal(raw.Scripts.Postdeploy, &m.postdeploy) != nil {
			var obj struct{ Command string }
			if err := json.Unmarshal(raw.Scripts.Postdeploy, &obj); err != nil {
				return manifest{}, fmt.Errorf("app.json: scripts.postdeploy is neither a command nor an object with a command")
			}
			m.postdeploy = obj.Command
		}
	}
	return m, nil
}
