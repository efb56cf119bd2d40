package herokuapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Fixed identities of things this server does not model but responses name.
const (
	ownerID    = "5a2f5e8c-6b59-4d55-a4a9-7d1c2f4e0b11"
	ownerEmail = "deploy@example.com"
	stackID    = "ee582d3c-717d-4a57-ba5a-1c3d0ac5e0f8"
	stackName  = "heroku-24"
	regionID   = "59accabd-516d-4f0e-83e6-6e3757701145"
	// cedarID identifies the Cedar generation, every app's and pipeline's here (the schema's
	// default; Fir is the other).
	cedarID = "8a6f3c2e-1d4b-4e7a-9c5f-0b2d6e8f1a3c"
)

// generation is the platform generation apps and pipelines report (v6 schema: {id, name}).
func generation() map[string]any { return map[string]any{"id": cedarID, "name": "cedar"} }

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func ref(id string) map[string]any { return map[string]any{"id": id} }

// refOrNil renders an optional {"id": ...} reference.
func refOrNil(id string) any {
	if id == "" {
		return nil
	}
	return ref(id)
}

func strOrNil(v string, ok bool) any {
	if !ok {
		return nil
	}
	return v
}

func user() map[string]any { return map[string]any{"id": ownerID, "email": ownerEmail} }

func stack() map[string]any { return map[string]any{"id": stackID, "name": stackName} }

// containerStackID names the container stack, where heroku.yml apps run (the ID is made up: the
// schema only asks for a UUID).
const containerStackID = "f36a4b7e-9d1c-4e52-8a37-2c5b0e6d9f18"

// appStack is the stack an app runs on and builds on: heroku-24, or container for heroku.yml apps.
func appStack(a *appRec) map[string]any {
	if a.container {
		return map[string]any{"id": containerStackID, "name": "container"}
	}
	return stack()
}

func (s *Server) handlers() map[string]handler {
	return map[string]handler{
		"GET /pipelines":                                                  s.listPipelines,
		"GET /pipelines/{pipeline}":                                       s.getPipeline,
		"GET /pipelines/{pipeline}/pipeline-couplings":                    s.listPipelineCouplings,
		"GET /pipeline-couplings":                                         s.listAllCouplings,
		"POST /pipeline-couplings":                                        s.createCoupling,
		"GET /pipeline-couplings/{pipeline-coupling}":                     s.getCoupling,
		"GET /apps/{app}/pipeline-couplings":                              s.getAppCoupling,
		"GET /apps":                                                       s.listApps,
		"GET /apps/{app}":                                                 s.getApp,
		"DELETE /apps/{app}":                                              s.deleteAppHandler,
		"PATCH /apps/{app}":                                               s.patchApp,
		"POST /sources":                                                   s.createSource,
		"POST /apps/{app}/builds":                                         s.createBuild,
		"GET /apps/{app}/builds":                                          s.listBuilds,
		"GET /apps/{app}/builds/{build}":                                  s.getBuild,
		"GET /apps/{app}/releases":                                        s.listReleases,
		"GET /apps/{app}/releases/{release}":                              s.getRelease,
		"POST /apps/{app}/releases":                                       s.createRelease,
		"GET /apps/{app}/slugs/{slug}":                                    s.getSlug,
		"GET /apps/{app}/oci-images/{oci-image}":                          s.getOCIImage,
		"GET /apps/{app}/config-vars":                                     s.getConfigVars,
		"GET /apps/{app}/releases/{release}/config-vars":                  s.getReleaseConfigVars,
		"PATCH /apps/{app}/config-vars":                                   s.patchConfigVars,
		"GET /apps/{app}/domains":                                         s.listDomains,
		"GET /apps/{app}/domains/{domain}":                                s.getDomain,
		"GET /pipelines/{pipeline}/review-app-config":                     s.getReviewAppConfig,
		"POST /review-apps":                                               s.createReviewAppHandler,
		"GET /review-apps/{review-app}":                                   s.getReviewApp,
		"DELETE /review-apps/{review-app}":                                s.deleteReviewAppHandler,
		"GET /apps/{app}/review-app":                                      s.getAppReviewApp,
		"GET /pipelines/{pipeline}/review-apps":                           s.listReviewApps,
		"POST /pipeline-promotions":                                       s.createPromotion,
		"GET /pipeline-promotions/{pipeline-promotion}":                   s.getPromotion,
		"GET /pipeline-promotions/{pipeline-promotion}/promotion-targets": s.listPromotionTargets,
		"POST /app-setups":                                                s.createAppSetup,
		"GET /account/rate-limits":                                        s.getRateLimits,
		"GET /app-setups/{app-setup}":                                     s.getAppSetup,
		"POST /test-runs":                                                 s.createTestRun,
		"GET /test-runs/{test-run}":                                       s.getTestRun,
		"GET /test-runs/{test-run}/test-nodes":                            s.listTestNodes,
		"GET /pipelines/{pipeline}/test-runs":                             s.listTestRuns,
		"GET /pipelines/{pipeline}/test-runs/{test-run}":                  s.getTestRunByNumber,
		"GET /teams/{team}":                                               s.getTeam,
	}
}

// --- views: resources as the Platform API renders them ---

func (s *Server) pipelineJSON(p *pipelineRec) map[string]any {
	return map[string]any{
		"created_at": ts(p.created), "generation": generationJSON(p.fir), "id": p.id, "name": p.name,
		"owner": s.pipelineOwner(p), "updated_at": ts(p.updated),
	}
}

func (s *Server) couplingJSON(c *couplingRec) map[string]any {
	return map[string]any{
		"app": ref(c.appID), "created_at": ts(c.created), "id": c.id,
		"pipeline": ref(c.pipelineID), "stage": c.stage, "updated_at": ts(c.updated),
	}
}

func (s *Server) appJSON(a *appRec) map[string]any {
	var desc any
	if s.currentSlug(a) != "" {
		desc = "Python"
	}
	return map[string]any{
		"acm": false, "archived_at": nil, "build_stack": appStack(a), "buildpack_provided_description": desc,
		"created_at": ts(a.created), "generation": generationJSON(a.fir), "git_url": "https://git.heroku.com/" + a.name + ".git", "id": a.id,
		"internal_routing": nil, "maintenance": a.maintenance, "name": a.name, "owner": user(),
		"organization": s.teamRef(a.team), "team": s.teamRef(a.team), "region": map[string]any{"id": regionID, "name": "us"},
		"released_at": ts(a.releasedAt), "repo_size": nil, "slug_size": nil, "space": nil,
		"stack": appStack(a), "updated_at": ts(a.updated), "web_url": a.webURL,
	}
}

func (s *Server) buildJSON(b *buildRec) map[string]any {
	return map[string]any{
		"app":               ref(b.appID),
		"buildpacks":        s.buildpacks(b),
		"created_at":        ts(b.created),
		"id":                b.id,
		"output_stream_url": s.streamURL("builds", b.id),
		"release":           refOrNil(b.releaseID),
		"slug":              s.slugRef(b.slugID),
		"source_blob": map[string]any{
			"checksum": strOrNil(b.checksum, b.hasChecksum), "url": b.blobURL,
			"version": strOrNil(b.version, b.hasVersion),
		},
		"stack": stackName, "status": b.status, "updated_at": ts(b.updated), "user": user(),
	}
}

func (s *Server) releaseJSON(r *releaseRec) map[string]any {
	a := s.apps[r.appID]
	name, current := "", false
	if a != nil {
		name = a.name
		cur := s.currentRelease(a)
		current = cur != nil && cur.id == r.id
	}
	var stream any
	if r.log != nil {
		stream = s.streamURL("releases", r.id)
	}
	// A release's one artifact is its slug on Cedar, its OCI image on Fir.
	return map[string]any{
		"addon_plan_names": []string{}, "app": map[string]any{"id": r.appID, "name": name}, "artifacts": s.codeArtifacts(r.slugID),
		"created_at": ts(r.created), "current": current, "description": r.description, "id": r.id,
		"output_stream_url": stream, "slug": s.slugRef(r.slugID), "status": r.status,
		"updated_at": ts(r.updated), "user": user(), "version": r.version,
	}
}

func (s *Server) slugJSON(sl *slugRec) map[string]any {
	return map[string]any{
		"blob":                           map[string]any{"method": "get", "url": s.base + "/slugs/" + sl.id + ".tgz"},
		"buildpack_provided_description": "Python",
		"checksum":                       sl.checksum,
		"commit":                         strOrNil(sl.commit, sl.hasCommit),
		"commit_description":             nil,
		"created_at":                     ts(sl.created),
		"id":                             sl.id,
		"process_types":                  processTypes(sl),
		"size":                           sl.size,
		"stack":                          stack(),
		"updated_at":                     ts(sl.created),
	}
}

// ReleaseCommand is the release phase of the slugs built on an app with one (SetReleasePhase).
const ReleaseCommand = "python -m alembic upgrade head"

func processTypes(sl *slugRec) map[string]string {
	types := map[string]string{"web": "gunicorn -w 2 -k uvicorn.workers.UvicornWorker app.main:app"}
	if sl.releaseCmd != "" {
		types["release"] = sl.releaseCmd
	}
	return types
}

func (s *Server) domainJSON(a *appRec, d *domainRec) map[string]any {
	status := "none"
	var cname, acm any
	if d.kind == "custom" {
		status = "succeeded"
		cname = strOrNil(d.cname, d.cname != "")
		acm = strOrNil(d.acmStatus, d.acmStatus != "")
	}
	return map[string]any{
		"acm_status": acm, "acm_status_reason": nil, "app": map[string]any{"id": a.id, "name": a.name},
		"cname": cname, "created_at": ts(d.created), "hostname": d.hostname, "id": d.id, "kind": d.kind,
		"sni_endpoint": nil, "status": status, "updated_at": ts(d.updated),
	}
}

func (s *Server) reviewAppJSON(ra *reviewAppRec) map[string]any {
	var pr any
	if ra.hasPR {
		pr = ra.pr
	}
	return map[string]any{
		"app": refOrNil(ra.appID), "app_setup": nil, "branch": ra.branch, "created_at": ts(ra.created),
		"creator": ref(ownerID), "error_status": strOrNil(ra.errorStatus, ra.errorStatus != ""),
		"fork_repo": forkRepoJSON(ra.forkRepoID), "id": ra.id, "message": strOrNil(ra.message, ra.message != ""),
		"pipeline": ref(ra.pipelineID), "pr_number": pr, "status": ra.status,
		"updated_at": ts(ra.updated), "wait_for_ci": false,
	}
}

// forkRepoJSON is a review app's fork_repo: {"id": n} when it was created for a fork, else null.
func forkRepoJSON(id int64) any {
	if id == 0 {
		return nil
	}
	return map[string]any{"id": id}
}

func (s *Server) promotionJSON(p *promotionRec) map[string]any {
	return map[string]any{
		"created_at": ts(p.created), "id": p.id, "pipeline": ref(p.pipelineID),
		"source": map[string]any{"app": ref(p.sourceAppID), "release": ref(p.sourceReleaseID)},
		"status": p.status, "updated_at": ts(p.updated),
	}
}

func (s *Server) targetJSON(t *targetRec) map[string]any {
	return map[string]any{
		"app": ref(t.appID), "error_message": strOrNil(t.errorMessage, t.errorMessage != ""), "id": t.id,
		"pipeline_promotion": ref(t.promotionID), "release": refOrNil(t.releaseID), "status": t.status,
	}
}

// --- lookups that answer 404 like Heroku ---

func (s *Server) app(ident string) (*appRec, *apiError) {
	if a := s.findApp(ident); a != nil {
		return a, nil
	}
	return nil, notFound("app", ident)
}

func (s *Server) pipeline(ident string) (*pipelineRec, *apiError) {
	if p := s.findPipeline(ident); p != nil {
		return p, nil
	}
	return nil, notFound("pipeline", ident)
}

func ok(v any) (reply, *apiError)      { return reply{status: http.StatusOK, body: v}, nil }
func created(v any) (reply, *apiError) { return reply{status: http.StatusCreated, body: v}, nil }

// decodeBody decodes an already schema-validated body.
func decodeBody(body []byte, v any) *apiError {
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(http.StatusBadRequest, "bad_request", "Request body could not be decoded: %v.", err)
	}
	return nil
}

// --- pipelines and couplings ---

func (s *Server) listPipelines(r *http.Request, _ []string, _ []byte) (reply, *apiError) {
	var items []item
	for _, p := range s.pipelines {
		items = append(items, item{keys: map[string]any{"id": p.id, "name": p.name}, body: s.pipelineJSON(p)})
	}
	return s.page(r, items, "id", "name")
}

// getRateLimits answers what the bucket holds; serveAPI took no token for it.
func (s *Server) getRateLimits(_ *http.Request, _ []string, _ []byte) (reply, *apiError) {
	return ok(map[string]any{"remaining": s.refill()})
}

func (s *Server) getPipeline(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	pl, e := s.pipeline(p[0])
	if e != nil {
		return reply{}, e
	}
	return ok(s.pipelineJSON(pl))
}

func (s *Server) couplingItems(keep func(*couplingRec) bool) []item {
	var items []item
	for _, c := range s.couplings {
		if keep(c) {
			items = append(items, item{keys: map[string]any{"id": c.id, "stage": c.stage}, body: s.couplingJSON(c)})
		}
	}
	return items
}

func (s *Server) listPipelineCouplings(r *http.Request, p []string, _ []byte) (reply, *apiError) {
	pl, e := s.pipeline(p[0])
	if e != nil {
		return reply{}, e
	}
	return s.page(r, s.couplingItems(func(c *couplingRec) bool { return c.pipelineID == pl.id }), "id")
}

func (s *Server) listAllCouplings(r *http.Request, _ []string, _ []byte) (reply, *apiError) {
	return s.page(r, s.couplingItems(func(*couplingRec) bool { return true }), "id")
}

func (s *Server) getCoupling(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	if c := s.couplings[p[0]]; c != nil {
		return ok(s.couplingJSON(c))
	}
	return reply{}, notFound("pipeline coupling", p[0])
}

func (s *Server) getAppCoupling(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	a, e := s.app(p[0])
	if e != nil {
		return reply{}, e
	}
	c := s.couplingOf(a.id)
	if c == nil {
		return reply{}, errorf(http.StatusNotFound, "not_found", "Couldn't find that pipeline coupling: app %s is not in a pipeline.", a.name)
	}
	return ok(s.couplingJSON(c))
}

func (s *Server) createCoupling(_ *http.Request, _ []string, body []byte) (reply, *apiError) {
	var in struct{ App, Pipeline, Stage string }
	if e := decodeBody(body, &in); e != nil {
		return reply{}, e
	}
	a, e := s.app(in.App)
	if e != nil {
		return reply{}, e
	}
	pl, e := s.pipeline(in.Pipeline)
	if e != nil {
		return reply{}, e
	}
	if c := s.couplingOf(a.id); c != nil {
		return reply{}, errorf(http.StatusUnprocessableEntity, "invalid_params", "App %s is already in a pipeline.", a.name)
	}
	if e := generationMismatch(a, pl); e != nil {
		return reply{}, e
	}
	return created(s.couplingJSON(s.couple(pl.id, a.id, in.Stage)))
}

// --- apps ---

func (s *Server) listApps(r *http.Request, _ []string, _ []byte) (reply, *apiError) {
	var items []item
	for _, a := range s.apps {
		items = append(items, item{keys: map[string]any{"id": a.id, "name": a.name}, body: s.appJSON(a)})
	}
	return s.page(r, items, "id", "name")
}

func (s *Server) getApp(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	a, e := s.app(p[0])
	if e != nil {
		return reply{}, e
	}
	return ok(s.appJSON(a))
}

// patchApp updates an app. Of the fields the schema allows (build_stack, maintenance, name), the
// server models maintenance mode, which makes no release (Dev Center, Maintenance Mode: turning it
// on or off does not alter running dynos; Release Phase lists what makes a release, and it is not
// among them); a rename or a stack change is answered 422, as something this server does not do.
func (s *Server) patchApp(_ *http.Request, p []string, body []byte) (reply, *apiError) {
	a, e := s.app(p[0])
	if e != nil {
		return reply{}, e
	}
	var in struct {
		Maintenance *bool           `json:"maintenance"`
		Name        json.RawMessage `json:"name"`
		BuildStack  json.RawMessage `json:"build_stack"`
	}
	if e := decodeBody(body, &in); e != nil {
		return reply{}, e
	}
	if in.Name != nil || in.BuildStack != nil {
		return reply{}, errorf(http.StatusUnprocessableEntity, "invalid_params", "The test server does not rename apps or change their stack.")
	}
	if in.Maintenance != nil && *in.Maintenance != a.maintenance {
		a.maintenance = *in.Maintenance
		a.updated = s.now()
		s.maintenanceLog = append(s.maintenanceLog, MaintenanceChange{App: a.name, On: a.maintenance, At: time.Now()})
	}
	return ok(s.appJSON(a))
}

func (s *Server) deleteAppHandler(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	a, e := s.app(p[0])
	if e != nil {
		return reply{}, e
	}
	body := s.appJSON(a)
	s.deleteApp(a)
	return ok(body)
}

// --- sources, builds, slugs ---

func (s *Server) createSource(_ *http.Request, _ []string, _ []byte) (reply, *apiError) {
	b := s.newBlob()
	return created(map[string]any{"source_blob": map[string]any{
		"get_url": s.blobURL(b, b.getSig), "put_url": s.blobURL(b, b.putSig),
	}})
}

type sourceBlobIn struct {
	URL      string  `json:"url"`
	Checksum *string `json:"checksum"`
	Version  *string `json:"version"`
}

func (s *Server) createBuild(r *http.Request, p []string, body []byte) (reply, *apiError) {
	a, e := s.app(p[0])
	if e != nil {
		return reply{}, e
	}
	var in struct {
		SourceBlob sourceBlobIn `json:"source_blob"`
	}
	if e := decodeBody(body, &in); e != nil {
		return reply{}, e
	}
	if in.SourceBlob.URL == "" {
		s.violation(r, "source_blob.url is missing")
		return reply{}, errorf(http.StatusUnprocessableEntity, "invalid_params", "Invalid params: source_blob.url is required.")
	}
	var checksum string
	if in.SourceBlob.Checksum != nil {
		checksum = *in.SourceBlob.Checksum
		hexSum, found := strings.CutPrefix(checksum, "SHA256:")
		if !found || len(hexSum) != 64 || strings.Trim(strings.ToLower(hexSum), "0123456789abcdef") != "" {
			s.violation(r, "source_blob.checksum %q is not SHA256:<64 hex digits>", checksum)
			return reply{}, errorf(http.StatusUnprocessableEntity, "invalid_params", "Invalid params: source_blob.checksum must be SHA256:<hex digest>.")
		}
	}
	version := ""
	if in.SourceBlob.Version != nil {
		version = *in.SourceBlob.Version
	}
	b := s.startBuild(a, normalizeSourceURL(in.SourceBlob.URL), checksum, in.SourceBlob.Checksum != nil, version, in.SourceBlob.Version != nil)
	return created(s.buildJSON(b))
}

func (s *Server) listBuilds(r *http.Request, p []string, _ []byte) (reply, *apiError) {
	a, e := s.app(p[0])
	if e != nil {
		return reply{}, e
	}
	var items []item
	for _, id := range a.buildIDs {
		b := s.builds[id]
		items = append(items, item{keys: map[string]any{"id": b.id, "started_at": ts(b.created)}, body: s.buildJSON(b)})
	}
	return s.page(r, items, "id", "started_at")
}

func (s *Server) getBuild(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	a, e := s.app(p[0])
	if e != nil {
		return reply{}, e
	}
	if b := s.builds[p[1]]; b != nil && b.appID == a.id {
		return ok(s.buildJSON(b))
	}
	return reply{}, notFound("build", p[1])
}

func (s *Server) getSlug(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	if _, e := s.app(p[0]); e != nil {
		return reply{}, e
	}
	// Slugs can be released on any app of the account (promotions do), so
	// the app in the path does not have to be the one that built it.
	// A Fir build's OCI image is no slug (oci-images has it).
	if sl := s.slugs[p[1]]; sl != nil && !sl.oci {
		return ok(s.slugJSON(sl))
	}
	return reply{}, notFound("slug", p[1])
}

// --- releases ---

func (s *Server) release(a *appRec, ident string) (*releaseRec, *apiError) {
	if r := s.releases[ident]; r != nil && r.appID == a.id {
		return r, nil
	}
	if v, err := strconv.Atoi(ident); err == nil {
		for _, id := range a.releaseIDs {
			if r := s.releases[id]; r.version == v {
				return r, nil
			}
		}
	}
	return nil, notFound("release", ident)
}

func (s *Server) listReleases(r *http.Request, p []string, _ []byte) (reply, *apiError) {
	a, e := s.app(p[0])
	if e != nil {
		return reply{}, e
	}
	var items []item
	for _, id := range a.releaseIDs {
		rel := s.releases[id]
		items = append(items, item{keys: map[string]any{"id": rel.id, "version": rel.version}, body: s.releaseJSON(rel)})
	}
	return s.page(r, items, "id", "version")
}

func (s *Server) getRelease(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	a, e := s.app(p[0])
	if e != nil {
		return reply{}, e
	}
	rel, e := s.release(a, p[1])
	if e != nil {
		return reply{}, e
	}
	return ok(s.releaseJSON(rel))
}

// createRelease is both of the schema's POST /apps/{app}/releases links:
// {"release": id} rolls back (a new release with that release's slug and
// config vars); {"slug": id} releases a slug.
func (s *Server) createRelease(_ *http.Request, p []string, body []byte) (reply, *apiError) {
	a, e := s.app(p[0])
	if e != nil {
		return reply{}, e
	}
	var in struct {
		Release     string  `json:"release"`
		Slug        string  `json:"slug"`
		Description *string `json:"description"`
	}
	if e := decodeBody(body, &in); e != nil {
		return reply{}, e
	}
	if in.Release != "" {
		old, e := s.release(a, in.Release)
		if e != nil {
			return reply{}, e
		}
		if old.slugID == "" {
			return reply{}, errorf(http.StatusUnprocessableEntity, "invalid_params", "Cannot roll back to v%d: it has no code.", old.version)
		}
		if old.status == "expired" {
			return reply{}, errorf(http.StatusUnprocessableEntity, "invalid_params", "Cannot roll back to v%d: the release has expired.", old.version)
		}
		a.config = maps.Clone(old.config)
		a.updated = s.now()
		return created(s.releaseJSON(s.newRelease(a, old.slugID, fmt.Sprintf("Rollback to v%d", old.version))))
	}
	if sl := s.slugs[in.Slug]; sl == nil || sl.oci {
		return reply{}, notFound("slug", in.Slug)
	}
	if a.fir {
		// Slugs are Cedar's: a Fir app runs OCI images (the schema's oci_image).
		return reply{}, errorf(http.StatusUnprocessableEntity, "invalid_params", "App %s is a fir-generation app: it cannot release a slug.", a.name)
	}
	desc := "Deploy " + shortCommit(s.slugCommit(in.Slug))
	if in.Description != nil {
		desc = *in.Description
	}
	return created(s.releaseJSON(s.newRelease(a, in.Slug, desc)))
}

// --- config vars ---

func (s *Server) getConfigVars(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	a, e := s.app(p[0])
	if e != nil {
		return reply{}, e
	}
	return ok(a.config)
}

func (s *Server) getReleaseConfigVars(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	a, e := s.app(p[0])
	if e != nil {
		return reply{}, e
	}
	rel, e := s.release(a, p[1])
	if e != nil {
		return reply{}, e
	}
	return ok(rel.config)
}

// patchConfigVars sets and (with null) unsets vars. Like Heroku, a change
// makes a new release running the current code with the new config; a patch
// that changes nothing makes none.
func (s *Server) patchConfigVars(_ *http.Request, p []string, body []byte) (reply, *apiError) {
	a, e := s.app(p[0])
	if e != nil {
		return reply{}, e
	}
	var in map[string]*string
	if e := decodeBody(body, &in); e != nil {
		return reply{}, e
	}
	var set, removed []string
	for k, v := range in {
		old, had := a.config[k]
		switch {
		case v == nil && had:
			delete(a.config, k)
			removed = append(removed, k)
		case v != nil && (!had || old != *v):
			a.config[k] = *v
			set = append(set, k)
		}
	}
	sort.Strings(set)
	sort.Strings(removed)
	if len(set)+len(removed) > 0 {
		a.updated = s.now()
		var desc string
		switch {
		case len(removed) == 0:
			desc = "Set " + strings.Join(set, ", ") + " config vars"
		case len(set) == 0:
			desc = "Remove " + strings.Join(removed, ", ") + " config vars"
		default:
			desc = "Set " + strings.Join(set, ", ") + " and remove " + strings.Join(removed, ", ") + " config vars"
		}
		s.newRelease(a, s.currentSlug(a), desc)
	}
	return ok(a.config)
}

// --- domains ---

func (s *Server) listDomains(r *http.Request, p []string, _ []byte) (reply, *apiError) {
	a, e := s.app(p[0])
	if e != nil {
		return reply{}, e
	}
	var items []item
	for _, d := range a.domains {
		items = append(items, item{keys: map[string]any{"id": d.id, "hostname": d.hostname}, body: s.domainJSON(a, d)})
	}
	return s.page(r, items, "id", "hostname")
}

func (s *Server) getDomain(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	a, e := s.app(p[0])
	if e != nil {
		return reply{}, e
	}
	for _, d := range a.domains {
		if d.id == p[1] || d.hostname == p[1] {
			return ok(s.domainJSON(a, d))
		}
	}
	return reply{}, notFound("domain", p[1])
}

// --- review apps ---

func (s *Server) getReviewAppConfig(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	pl, e := s.pipeline(p[0])
	if e != nil {
		return reply{}, e
	}
	if pl.reviewRepo == "" {
		return reply{}, errorf(http.StatusNotFound, "not_found", "Review apps are not enabled for pipeline %s.", pl.name)
	}
	return ok(map[string]any{
		"repo": map[string]any{"id": pl.repoID}, "automatic_review_apps": pl.automaticReviewApps,
		"deploy_target": map[string]any{"id": "us", "type": "region"}, "destroy_stale_apps": false,
		"stale_days": 5, "pipeline_id": pl.id, "wait_for_ci": false, "base_name": nil,
	})
}

func (s *Server) createReviewAppHandler(_ *http.Request, _ []string, body []byte) (reply, *apiError) {
	var in struct {
		Branch      string             `json:"branch"`
		PRNumber    *int               `json:"pr_number"`
		Pipeline    string             `json:"pipeline"`
		SourceBlob  sourceBlobIn       `json:"source_blob"`
		Environment map[string]*string `json:"environment"`
		ForkRepoID  *int64             `json:"fork_repo_id"`
	}
	if e := decodeBody(body, &in); e != nil {
		return reply{}, e
	}
	pl, e := s.pipeline(in.Pipeline)
	if e != nil {
		return reply{}, e
	}
	if pl.reviewRepo == "" {
		return reply{}, errorf(http.StatusUnprocessableEntity, "invalid_params", "Review apps are not enabled for pipeline %s: connect it to GitHub and enable review apps.", pl.name)
	}
	if in.PRNumber != nil {
		for _, ra := range s.reviewApps {
			if ra.pipelineID == pl.id && ra.hasPR && ra.pr == *in.PRNumber && ra.status != "deleted" {
				return reply{}, errorf(http.StatusConflict, "conflict", "A review app already exists for pull request #%d.", ra.pr)
			}
		}
	}
	now := s.now()
	ra := &reviewAppRec{
		id: newID(), pipelineID: pl.id, branch: in.Branch, status: "pending",
		blobURL: in.SourceBlob.URL, env: map[string]string{}, created: now, updated: now,
	}
	if in.PRNumber != nil {
		ra.pr, ra.hasPR = *in.PRNumber, true
	}
	if in.ForkRepoID != nil {
		ra.forkRepoID = *in.ForkRepoID
	}
	if in.SourceBlob.Version != nil {
		ra.version = *in.SourceBlob.Version
	}
	for k, v := range in.Environment {
		if v != nil {
			ra.env[k] = *v
		}
	}
	s.reviewApps[ra.id] = ra
	s.createReviewApp(ra, pl)
	return created(s.reviewAppJSON(ra))
}

func (s *Server) getReviewApp(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	if ra := s.reviewApps[p[0]]; ra != nil {
		return ok(s.reviewAppJSON(ra))
	}
	return reply{}, notFound("review app", p[0])
}

func (s *Server) deleteReviewAppHandler(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	ra := s.reviewApps[p[0]]
	if ra == nil || ra.status == "deleted" {
		return reply{}, notFound("review app", p[0])
	}
	if ra.status != "deleting" {
		s.deleteReviewApp(ra)
	}
	return ok(s.reviewAppJSON(ra))
}

func (s *Server) getAppReviewApp(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	a, e := s.app(p[0])
	if e != nil {
		return reply{}, e
	}
	if ra := s.reviewApps[a.reviewApp]; ra != nil && ra.status != "deleted" {
		return ok(s.reviewAppJSON(ra))
	}
	return reply{}, errorf(http.StatusNotFound, "not_found", "App %s is not a review app.", a.name)
}

func (s *Server) listReviewApps(r *http.Request, p []string, _ []byte) (reply, *apiError) {
	pl, e := s.pipeline(p[0])
	if e != nil {
		return reply{}, e
	}
	var items []item
	for _, ra := range s.reviewApps {
		if ra.pipelineID == pl.id && ra.status != "deleted" {
			items = append(items, item{keys: map[string]any{"id": ra.id}, body: s.reviewAppJSON(ra)})
		}
	}
	return s.page(r, items, "id")
}

// --- promotions ---

// createPromotion promotes the source app's current release, or exactly
// source.release when given: heroku-go's options cannot send it, but the
// API takes it and reports it back as the promotion's source release.
func (s *Server) createPromotion(r *http.Request, _ []string, body []byte) (reply, *apiError) {
	type idRef struct {
		ID string `json:"id"`
	}
	var in struct {
		Pipeline idRef `json:"pipeline"`
		Source   struct {
			App     idRef  `json:"app"`
			Release *idRef `json:"release"`
		} `json:"source"`
		Targets []struct {
			App idRef `json:"app"`
		} `json:"targets"`
	}
	if e := decodeBody(body, &in); e != nil {
		return reply{}, e
	}
	pl, e := s.pipeline(in.Pipeline.ID)
	if e != nil {
		return reply{}, e
	}
	src := s.apps[in.Source.App.ID]
	if src == nil {
		return reply{}, notFound("app", in.Source.App.ID)
	}
	if c := s.couplingOf(src.id); c == nil || c.pipelineID != pl.id {
		return reply{}, errorf(http.StatusUnprocessableEntity, "invalid_params", "Source app %s is not in pipeline %s.", src.name, pl.name)
	}
	if src.container {
		// Dev Center, Container Registry & Runtime, "Known issues and limitations": an app on the
		// container stack cannot be promoted, through the UI or the API (the message is ours).
		return reply{}, errorf(http.StatusUnprocessableEntity, "invalid_params", "Pipeline promotion is not supported for apps on the container stack: %s uses the container stack.", src.name)
	}
	var rel *releaseRec
	if in.Source.Release != nil {
		rel = s.releases[in.Source.Release.ID]
		if rel == nil || rel.appID != src.id {
			return reply{}, notFound("release", in.Source.Release.ID)
		}
		if rel.status != "succeeded" {
			return reply{}, errorf(http.StatusUnprocessableEntity, "invalid_params", "Release v%d of %s is %s, not succeeded.", rel.version, src.name, rel.status)
		}
	} else {
		rel = s.currentRelease(src)
	}
	if rel == nil || rel.slugID == "" {
		return reply{}, errorf(http.StatusUnprocessableEntity, "invalid_params", "Source app %s has no release with code to promote.", src.name)
	}
	if len(in.Targets) == 0 {
		s.violation(r, "promotion without targets")
		return reply{}, errorf(http.StatusUnprocessableEntity, "invalid_params", "Invalid params: targets must name at least one app.")
	}
	now := s.now()
	pr := &promotionRec{id: newID(), pipelineID: pl.id, sourceAppID: src.id, sourceReleaseID: rel.id, status: "pending", created: now, updated: now}
	seen := map[string]bool{}
	for _, t := range in.Targets {
		ta := s.apps[t.App.ID]
		if ta == nil {
			return reply{}, notFound("app", t.App.ID)
		}
		if c := s.couplingOf(ta.id); c == nil || c.pipelineID != pl.id {
			return reply{}, errorf(http.StatusUnprocessableEntity, "invalid_params", "Target app %s is not in pipeline %s.", ta.name, pl.name)
		}
		if ta.id == src.id || seen[ta.id] {
			return reply{}, errorf(http.StatusUnprocessableEntity, "invalid_params", "Target app %s is the source or named twice.", ta.name)
		}
		seen[ta.id] = true
		tr := &targetRec{id: newID(), promotionID: pr.id, appID: ta.id, status: "pending"}
		s.targets[tr.id] = tr
		pr.targetIDs = append(pr.targetIDs, tr.id)
	}
	s.promotions[pr.id] = pr
	s.promote(pr, rel)
	return created(s.promotionJSON(pr))
}

func (s *Server) getPromotion(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	if pr := s.promotions[p[0]]; pr != nil {
		return ok(s.promotionJSON(pr))
	}
	return reply{}, notFound("pipeline promotion", p[0])
}

func (s *Server) listPromotionTargets(r *http.Request, p []string, _ []byte) (reply, *apiError) {
	pr := s.promotions[p[0]]
	if pr == nil {
		return reply{}, notFound("pipeline promotion", p[0])
	}
	var items []item
	for _, id := range pr.targetIDs {
		t := s.targets[id]
		items = append(items, item{keys: map[string]any{"id": t.id}, body: s.targetJSON(t)})
	}
	return s.page(r, items, "id")
}
