package herokuapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// Pipeline is a seeded pipeline.
type Pipeline struct{ ID, Name string }

// App is an app as the server holds it.
type App struct {
	ID, Name string
	WebURL   string // https://<name>-<12 hex>.herokuapp.com/, like new Heroku apps
	Pipeline string // pipeline ID it is coupled to, "" when uncoupled
	Stage    string // its pipeline stage, "" when uncoupled
	Team     string // name of the team that owns it, "" for a personal app
}

// Release is one release of an app.
type Release struct {
	ID          string
	Version     int
	Status      string // pending, succeeded, failed
	SlugID      string // "" for releases without code (the initial one, config before any build)
	ImageID     string // the OCI image a Fir release runs, where a Cedar release has SlugID
	Commit      string // commit of the slug or image
	Description string
	Current     bool
	Config      map[string]string // config vars the release runs with
}

// Build is one build of an app.
type Build struct {
	ID        string
	Status    string // pending, succeeded, failed
	Commit    string // source_blob.version
	SlugID    string
	ImageID   string // a Fir build's OCI image, where a Cedar build has SlugID
	ReleaseID string
}

// ReviewApp is a review app of a pipeline.
type ReviewApp struct {
	ID       string
	PRNumber int
	Branch   string
	Status   string // pending, creating, created, deleting, errored
	AppID    string
	AppName  string
	Message  string
	// ForkRepoID is the fork_repo_id it was created with (a fork's pull request), 0 when none.
	ForkRepoID int64
}

type pipelineRec struct {
	id, name         string
	created, updated time.Time
	reviewRepo       string // "" when review apps are not enabled
	repoID           int
	failReview       string
	team             string // owning team's ID, "" when the user owns it
	// automaticReviewApps is the review app setting that makes Heroku create a review app for
	// every new pull request itself.
	automaticReviewApps bool
	fir                 bool // of the Fir generation (SetFir)
}

type appRec struct {
	id, name, webURL string
	created, updated time.Time
	releasedAt       time.Time
	config           map[string]string
	releasePhase     bool
	releaseOK        bool
	failBuild        string
	secondFactor     bool // writes need Heroku-Two-Factor-Code (RequireSecondFactor)
	domains          []*domainRec
	nextVersion      int
	releaseIDs       []string // in version order
	buildIDs         []string
	reviewApp        string // review app ID when this app is one
	team             string // owning team's ID, "" for a personal app
	container        bool   // on the container stack (heroku.yml apps, SetContainerStack)
	fir              bool   // of the Fir generation: builds make OCI images (SetFir)
	maintenance      bool   // maintenance mode: the router answers every request with the maintenance page
	deleted          bool
}

type couplingRec struct {
	id, pipelineID, appID, stage string
	created, updated             time.Time
}

type domainRec struct {
	id, hostname, kind, cname, acmStatus string
	created, updated                     time.Time
}

type blobRec struct {
	id             string
	getSig, putSig string
	data           []byte
	uploaded       bool
	created        time.Time
}

type buildRec struct {
	id, appID                  string
	status                     string
	blobURL, checksum, version string
	hasChecksum, hasVersion    bool
	slugID, releaseID          string
	created, updated           time.Time
	log                        *outputLog
	onDone                     func(b *buildRec) // under lock, when the build and its release settle
}

type slugRec struct {
	id, appID, commit, checksum string
	releaseCmd                  string // the Procfile's release command, "" when it has none
	hasCommit                   bool
	oci                         bool // an OCI image, what a Fir build makes
	size                        int
	created                     time.Time
}

type releaseRec struct {
	id, appID        string
	version          int
	status           string
	description      string
	slugID           string
	config           map[string]string
	log              *outputLog
	created, updated time.Time
	onDone           []func(rel *releaseRec)
}

type reviewAppRec struct {
	id, pipelineID, branch string
	pr                     int
	hasPR                  bool
	status                 string
	message, errorStatus   string
	appID                  string
	blobURL, version       string
	env                    map[string]string
	created, updated       time.Time
	forkRepoID             int64 // fork_repo_id of the create request, 0 when none
}

type promotionRec struct {
	id, pipelineID, sourceAppID, sourceReleaseID string
	status                                       string
	created, updated                             time.Time
	targetIDs                                    []string
}

type targetRec struct {
	id, promotionID, appID, releaseID, status, errorMessage string
}

func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("herokuapi: crypto/rand failed: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func randHex(n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("herokuapi: crypto/rand failed: %v", err))
	}
	return hex.EncodeToString(b)[:n]
}

func (s *Server) now() time.Time { return s.opt.Now().UTC().Truncate(time.Second) }

// AddPipeline creates a pipeline. Seeding methods panic on setup mistakes
// (unknown names, duplicates), like httptest does.
func (s *Server) AddPipeline(name string) Pipeline {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.findPipeline(name) != nil {
		panic(fmt.Sprintf("herokuapi: pipeline %q already exists", name))
	}
	now := s.now()
	p := &pipelineRec{id: newID(), name: name, created: now, updated: now}
	s.pipelines[p.id] = p
	return Pipeline{ID: p.id, Name: p.name}
}

// AddApp creates an app with its initial release and couples it to pipeline
// at stage (development, staging, production, review, test); an empty stage
// leaves it uncoupled.
func (s *Server) AddApp(name, pipeline, stage string) App {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.findApp(name) != nil {
		panic(fmt.Sprintf("herokuapi: app %q already exists", name))
	}
	a := s.createApp(name, nil)
	if stage != "" {
		p := s.mustPipeline(pipeline)
		a.fir = p.fir // a pipeline's apps are all of its generation
		s.couple(p.id, a.id, stage)
	}
	return s.appView(a)
}

// SetContainerStack puts an app on the container stack, where heroku.yml apps (Docker builds) run:
// its stack and build_stack read "container", and Heroku refuses to promote it (see createPromotion).
func (s *Server) SetContainerStack(app string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustApp(app).container = true
}

// createApp makes an app with Heroku's first release and default domain.
// The caller holds the lock.
func (s *Server) createApp(name string, config map[string]string) *appRec {
	now := s.now()
	suffix := randHex(12)
	a := &appRec{
		id: newID(), name: name, created: now, updated: now, releasedAt: now,
		webURL:      "https://" + name + "-" + suffix + ".herokuapp.com/",
		config:      map[string]string{},
		releaseOK:   true,
		nextVersion: 1,
	}
	maps.Copy(a.config, config)
	a.domains = append(a.domains, &domainRec{
		id: newID(), hostname: name + "-" + suffix + ".herokuapp.com", kind: "heroku",
		created: now, updated: now,
	})
	s.apps[a.id] = a
	s.newRelease(a, "", "Initial release")
	return a
}

func (s *Server) couple(pipelineID, appID, stage string) *couplingRec {
	now := s.now()
	c := &couplingRec{id: newID(), pipelineID: pipelineID, appID: appID, stage: stage, created: now, updated: now}
	s.couplings[c.id] = c
	return c
}

// EnableReviewApps turns review apps on for a pipeline connected to the
// GitHub repository repo ("owner/name").
func (s *Server) EnableReviewApps(pipeline, repo string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPipeline(pipeline)
	p.reviewRepo = repo
	// The schema gives the repository only a numeric id; derive a stable one.
	h := 0
	for _, c := range repo {
		h = (h*31 + int(c)) % 1_000_000_000
	}
	p.repoID = h
}

// AddDomain adds a custom domain to an app.
func (s *Server) AddDomain(app, hostname, cname, acmStatus string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.mustApp(app)
	now := s.now()
	a.domains = append(a.domains, &domainRec{id: newID(), hostname: hostname, kind: "custom", cname: cname, acmStatus: acmStatus, created: now, updated: now})
}

// SetReleasePhase declares a release phase on the app's later builds (as a Procfile "release:"
// line would: the slug's process types name release); ok=false makes release phases on the app
// fail, leaving the release "failed" and the previous release current. As on Heroku, a release runs
// a release phase when its slug names one, whichever app built the slug (a promotion runs the
// promoted slug's release phase on the target).
func (s *Server) SetReleasePhase(app string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.mustApp(app)
	a.releasePhase = true
	a.releaseOK = ok
}

// RemoveReleasePhase makes the app's later builds declare no release phase (a Procfile without a
// "release:" line). Releases of slugs built before still run theirs.
func (s *Server) RemoveReleasePhase(app string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.mustApp(app)
	a.releasePhase = false
	a.releaseOK = true
}

// SetMaintenance turns the app's maintenance mode on or off as an operator would (heroku
// maintenance:on), without the client.
func (s *Server) SetMaintenance(app string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.mustApp(app)
	if a.maintenance != on {
		a.maintenance = on
		s.maintenanceLog = append(s.maintenanceLog, MaintenanceChange{App: a.name, On: on, At: time.Now()})
	}
}

// MaintenanceChange is one change of an app's maintenance mode, at the wall-clock time it was made.
type MaintenanceChange struct {
	App string
	On  bool
	At  time.Time
}

// MaintenanceChanges returns every change of any app's maintenance mode, in order.
func (s *Server) MaintenanceChanges() []MaintenanceChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.maintenanceLog)
}

// MaintenancePage is the body the router serves for an app in maintenance mode, with status 503
// (Dev Center, Maintenance Mode: "your application will serve a static maintenance page to all
// visitors"; the router logs it as error H80).
const MaintenancePage = "<!DOCTYPE html><html><head><title>Offline for Maintenance</title></head><body><p>This app is undergoing maintenance right now. Please check back later.</p></body></html>\n"

// Route is what Heroku's router does with a request to host: ok is false when no app has that
// hostname (its default *.herokuapp.com domain or a custom one); maintenance is true when the app
// is in maintenance mode, and the router then answers 503 with MaintenancePage without passing
// the request to the app.
func (s *Server) Route(host string) (app string, maintenance, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.apps {
		for _, d := range a.domains {
			if strings.EqualFold(d.hostname, host) {
				return a.name, a.maintenance, true
			}
		}
	}
	return "", false, false
}

// ExpireRelease marks the app's release of that version expired, as Heroku does with releases
// it no longer keeps the code of: they are listed, but cannot be rolled back to.
func (s *Server) ExpireRelease(app string, version int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.mustApp(app)
	for _, id := range a.releaseIDs {
		if r := s.releases[id]; r.version == version {
			r.status = "expired"
			return
		}
	}
	panic(fmt.Sprintf("herokuapi: app %s has no release v%d", app, version))
}

// RequireSecondFactor makes every later write to the app (a path naming it, or a promotion
// targeting it) need a second factor, as Heroku asks of accounts and teams that require two-factor
// authentication for sensitive operations: without a Heroku-Two-Factor-Code header it is answered
// 403 with id two_factor, which is how the Heroku CLI knows to prompt for a code
// (src/commands/pipelines/promote.ts).
func (s *Server) RequireSecondFactor(app string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustApp(app).secondFactor = true
}

// needsSecondFactor reports whether a write must carry a second factor it lacks. The caller
// holds the lock.
func (s *Server) needsSecondFactor(r *http.Request, rt *route, params []string, body []byte) bool {
	if r.Method == http.MethodGet || r.Header.Get("Heroku-Two-Factor-Code") != "" {
		return false
	}
	for i, p := range rt.params {
		if strings.HasPrefix(p.ref, "#/definitions/app/") {
			if a := s.findApp(params[i]); a != nil && a.secondFactor {
				return true
			}
		}
	}
	if rt.key == "POST /pipeline-promotions" {
		var b struct {
			Targets []struct {
				App struct{ ID string } `json:"app"`
			} `json:"targets"`
		}
		_ = json.Unmarshal(body, &b)
		for _, t := range b.Targets {
			if a := s.findApp(t.App.ID); a != nil && a.secondFactor {
				return true
			}
		}
	}
	return false
}

// SetBuildOutput makes every later build's build script print output, as separate writes to the
// build's output stream (the app's own build script, written by whoever wrote the commit, prints
// what it likes); nil prints nothing more.
func (s *Server) SetBuildOutput(writes []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buildPrint = append([]string(nil), writes...)
}

// HoldBuilds keeps every build of the commit version (its source_blob.version) running once its
// work is done, its output stream open, until the returned func is called: then each held build
// ends as it would have (slug, release), in the order it was held. Tests use it to make an older
// run's build finish after a newer run's. Calling the func again does nothing.
func (s *Server) HoldBuilds(version string) (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holds == nil {
		s.holds = map[string]*buildHold{}
	}
	h := &buildHold{}
	s.holds[version] = h
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if h.released {
			return
		}
		h.released = true
		for _, f := range h.waiting {
			s.after(0, f)
		}
		h.waiting = nil
	}
}

// buildHold is one HoldBuilds: the builds' last steps, waiting for the release.
type buildHold struct {
	released bool
	waiting  []func()
}

// FailBuilds makes every later build of the app fail, its output stream
// ending with message; an empty message makes builds succeed again.
func (s *Server) FailBuilds(app, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustApp(app).failBuild = message
}

// FailReviewApps makes review-app creation on the pipeline end "errored"
// with message; an empty message makes it succeed again.
func (s *Server) FailReviewApps(pipeline, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustPipeline(pipeline).failReview = message
}

// SetAutomaticReviewApps sets the pipeline's automatic_review_apps review app setting, which
// makes Heroku create a review app for each new pull request itself.
func (s *Server) SetAutomaticReviewApps(pipeline string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustPipeline(pipeline).automaticReviewApps = on
}

// AddReviewApp seeds a review app of the pipeline for pull request pr that nobody asked this
// server for: one Heroku made itself (automatic review apps, the Dashboard) from the branch head,
// with the pipeline's review app config vars only. Status "created" makes its app, coupled at
// review, with one build of commit and its release; "errored" makes the app and leaves it
// errored with message, as a failed postdeploy does.
func (s *Server) AddReviewApp(pipeline string, pr int, branch, commit, status, message string) ReviewApp {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPipeline(pipeline)
	if status != "created" && status != "errored" {
		panic(fmt.Sprintf("herokuapi: AddReviewApp makes created or errored review apps, not %q", status))
	}
	now := s.now()
	ra := &reviewAppRec{id: newID(), pipelineID: p.id, branch: branch, pr: pr, hasPR: true, status: status, version: commit, env: map[string]string{}, created: now, updated: now}
	a := s.createApp(reviewAppName(p.name, pr), nil)
	a.fir = p.fir
	a.reviewApp = ra.id
	s.couple(p.id, a.id, "review")
	ra.appID = a.id
	if status == "errored" {
		ra.errorStatus, ra.message = "postdeploy_failed", message
	} else {
		sl := &slugRec{id: newID(), appID: a.id, commit: commit, hasCommit: true, oci: a.fir, checksum: "SHA256:" + strings.Repeat("0", 64), size: 64_200_000, created: now}
		s.slugs[sl.id] = sl
		rel := s.newRelease(a, sl.id, "Deploy "+shortCommit(commit))
		b := &buildRec{id: newID(), appID: a.id, status: "succeeded", blobURL: "https://github.com/codeload/" + branch + ".tar.gz", version: commit, hasVersion: true, slugID: sl.id, releaseID: rel.id, created: now, updated: now, log: s.newLog()}
		b.log.finish()
		s.builds[b.id] = b
		a.buildIDs = append(a.buildIDs, b.id)
	}
	s.reviewApps[ra.id] = ra
	return ReviewApp{ID: ra.id, PRNumber: pr, Branch: branch, Status: status, AppID: a.id, AppName: a.name, Message: message}
}

// SetConfigVar sets a config var the way an add-on does (DATABASE_URL):
// without the client, but with a release, like Heroku.
func (s *Server) SetConfigVar(app, name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.mustApp(app)
	a.config[name] = value
	s.newRelease(a, s.currentSlug(a), "Set "+name+" config vars")
}

// ConfigVars returns the app's config vars.
func (s *Server) ConfigVars(app string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.mustApp(app).config)
}

// Releases returns the app's releases in version order.
func (s *Server) Releases(app string) []Release {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.mustApp(app)
	cur := s.currentRelease(a)
	var out []Release
	for _, id := range a.releaseIDs {
		r := s.releases[id]
		v := Release{
			ID: r.id, Version: r.version, Status: r.status, SlugID: r.slugID,
			Commit: s.slugCommit(r.slugID), Description: r.description,
			Current: cur != nil && cur.id == r.id, Config: maps.Clone(r.config),
		}
		if sl := s.slugs[r.slugID]; sl != nil && sl.oci {
			v.SlugID, v.ImageID = "", r.slugID
		}
		out = append(out, v)
	}
	return out
}

// Builds returns the app's builds in creation order.
func (s *Server) Builds(app string) []Build {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.mustApp(app)
	var out []Build
	for _, id := range a.buildIDs {
		b := s.builds[id]
		v := Build{ID: b.id, Status: b.status, Commit: b.version, SlugID: b.slugID, ReleaseID: b.releaseID}
		if sl := s.slugs[b.slugID]; sl != nil && sl.oci {
			v.SlugID, v.ImageID = "", b.slugID
		}
		out = append(out, v)
	}
	return out
}

// ReviewApps returns the pipeline's review apps that are not deleted, by PR number.
func (s *Server) ReviewApps(pipeline string) []ReviewApp {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPipeline(pipeline)
	var out []ReviewApp
	for _, ra := range s.reviewApps {
		if ra.pipelineID != p.id || ra.status == "deleted" {
			continue
		}
		v := ReviewApp{ID: ra.id, PRNumber: ra.pr, Branch: ra.branch, Status: ra.status, AppID: ra.appID, Message: ra.message, ForkRepoID: ra.forkRepoID}
		if a := s.apps[ra.appID]; a != nil {
			v.AppName = a.name
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PRNumber < out[j].PRNumber })
	return out
}

// Apps returns every app, by name.
func (s *Server) Apps() []App {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []App
	for _, a := range s.apps {
		out = append(out, s.appView(a))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// App returns one app by name or ID, and whether it exists.
func (s *Server) App(ident string) (App, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.findApp(ident)
	if a == nil {
		return App{}, false
	}
	return s.appView(a), true
}

func (s *Server) appView(a *appRec) App {
	v := App{ID: a.id, Name: a.name, WebURL: a.webURL}
	if t := s.teams[a.team]; t != nil {
		v.Team = t.name
	}
	if c := s.couplingOf(a.id); c != nil {
		v.Pipeline, v.Stage = c.pipelineID, c.stage
	}
	return v
}

func (s *Server) findPipeline(ident string) *pipelineRec {
	if p, ok := s.pipelines[ident]; ok {
		return p
	}
	for _, p := range s.pipelines {
		if p.name == ident {
			return p
		}
	}
	return nil
}

func (s *Server) mustPipeline(ident string) *pipelineRec {
	p := s.findPipeline(ident)
	if p == nil {
		panic(fmt.Sprintf("herokuapi: no pipeline %q: add it with AddPipeline first", ident))
	}
	return p
}

func (s *Server) findApp(ident string) *appRec {
	if a, ok := s.apps[ident]; ok {
		return a
	}
	for _, a := range s.apps {
		if a.name == ident {
			return a
		}
	}
	return nil
}

func (s *Server) mustApp(ident string) *appRec {
	a := s.findApp(ident)
	if a == nil {
		panic(fmt.Sprintf("herokuapi: no app %q: add it with AddApp first", ident))
	}
	return a
}

func (s *Server) couplingOf(appID string) *couplingRec {
	for _, c := range s.couplings {
		if c.appID == appID {
			return c
		}
	}
	return nil
}

// currentRelease is the newest release that succeeded: a release whose
// release phase is running or failed never becomes current.
func (s *Server) currentRelease(a *appRec) *releaseRec {
	for _, id := range slices.Backward(a.releaseIDs) {
		if r := s.releases[id]; r.status == "succeeded" {
			return r
		}
	}
	return nil
}

func (s *Server) currentSlug(a *appRec) string {
	if r := s.currentRelease(a); r != nil {
		return r.slugID
	}
	return ""
}

func (s *Server) slugCommit(id string) string {
	if sl := s.slugs[id]; sl != nil {
		return sl.commit
	}
	return ""
}

// deleteApp removes an app with its couplings; a review app whose app goes
// is gone too. The caller holds the lock.
func (s *Server) deleteApp(a *appRec) {
	delete(s.apps, a.id)
	a.deleted = true
	for id, c := range s.couplings {
		if c.appID == a.id {
			delete(s.couplings, id)
		}
	}
	if ra := s.reviewApps[a.reviewApp]; ra != nil && ra.status != "deleted" {
		ra.status = "deleted"
		ra.updated = s.now()
	}
}

// reviewAppName follows Heroku's "<base>-pr-<n>-<random>" while keeping
// within the 30 characters an app name may have.
func reviewAppName(base string, pr int) string {
	suffix := fmt.Sprintf("-pr-%d-%s", pr, randHex(5))
	if max := 30 - len(suffix); len(base) > max {
		base = strings.TrimRight(base[:max], "-")
	}
	return base + suffix
}
