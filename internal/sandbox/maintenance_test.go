package sandbox

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
	"github.com/pangeo-forge/deploy-action/internal/gh"
)

// maintenancePatches are the PATCH /apps/{app} requests the Heroku test server received for app
// (by name or ID), with the mode each asked for.
func maintenancePatches(w *World, app string) []herokuapi.Request {
	a, _ := w.Heroku.App(app)
	var out []herokuapi.Request
	for _, r := range w.Heroku.Requests() {
		if r.Method == http.MethodPatch && (r.Path == "/apps/"+a.ID || r.Path == "/apps/"+a.Name) {
			out = append(out, r)
		}
	}
	return out
}

// firstRequest is the first request with that method whose path starts with prefix.
func firstRequest(t *testing.T, w *World, method, prefix string) herokuapi.Request {
	t.Helper()
	for _, r := range w.Heroku.Requests() {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) {
			return r
		}
	}
	t.Fatalf("no %s %s… request reached the Heroku test server", method, prefix)
	return herokuapi.Request{}
}

// releaseSettled is when the Heroku test server's release id stopped being pending; ok is false
// for a release that never was (it ran no release phase).
func releaseSettled(w *World, id string) (at time.Time, ok bool) {
	for _, s := range w.Heroku.Settlements() {
		if s.Kind == "release" && s.ID == id {
			return s.At, true
		}
	}
	return time.Time{}, false
}

// appHits are the requests made to app's URL (its health check).
func appHits(w *World, app string) []AppRequest {
	a, _ := w.Heroku.App(app)
	var out []AppRequest
	for _, h := range w.AppRequests() {
		if "https://"+h.Host+"/" == a.WebURL {
			out = append(out, h)
		}
	}
	return out
}

// maintenanceRecords are the GitHub Deployments that record app's maintenance windows.
func maintenanceRecords(w *World, app string) []githubapi.Deployment {
	var out []githubapi.Deployment
	for _, d := range w.GitHub.Deployments(Repository) {
		if d.Task == gh.MaintenanceTask && d.Environment == gh.MaintenanceEnvironment(app) {
			out = append(out, d)
		}
	}
	return out
}

func lastState(d githubapi.Deployment) string {
	if len(d.Statuses) == 0 {
		return ""
	}
	return d.Statuses[len(d.Statuses)-1].State
}

// inMaintenance is whether Heroku's router serves app's maintenance page.
func inMaintenance(w *World, app string) bool {
	a, _ := w.Heroku.App(app)
	host := strings.TrimSuffix(strings.TrimPrefix(a.WebURL, "https://"), "/")
	_, on, ok := w.Heroku.Route(host)
	return ok && on
}

// withoutReleasePhase makes the world's app builds and the checkout declare no release phase.
func withoutReleasePhase(t *testing.T, w *World) {
	t.Helper()
	w.Heroku.RemoveReleasePhase(StagingApp)
	w.Heroku.RemoveReleasePhase(ProdApp)
	procfile := "web: uvicorn pangeo_forge_orchestrator.api:app --host=0.0.0.0 --port=${PORT:-8000}\n"
	if err := os.WriteFile(filepath.Join(w.Workspace, "Procfile"), []byte(procfile), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMaintenanceWindows: the maintenance input through the entry point. With migrations, a build
// or promotion whose release runs a release phase is made with the app in maintenance mode, turned
// on before the build is created or the promotion made, and off once the release phase has ended,
// before the health check (which the router would answer with the maintenance page); the window is
// recorded on GitHub and closed there; the summary and the outputs say how long it lasted. Without a
// release phase, migrations leaves the app up; always makes a window anyway.
func TestMaintenanceWindows(t *testing.T) {
	t.Parallel()
	steps := Lifecycle()
	staging, prod := steps[2], steps[3]
	tests := []struct {
		name         string
		noPhase      bool
		before       []Step // run with maintenance: never
		step         Step
		mode         string
		app          string
		createPrefix string // the request that makes the release: POST of a build or a promotion
		window       bool
		log          string
	}{
		{name: "staging build with a release phase", step: staging, mode: "migrations", app: StagingApp, createPrefix: "/apps/", window: true,
			log: "Maintenance mode on for " + StagingApp + " (the checkout's Procfile declares a release phase (python -m pangeo_forge_orchestrator.migrate))"},
		{name: "prod promotion of a release that ran a release phase", before: []Step{staging}, step: prod, mode: "migrations", app: ProdApp, createPrefix: "/pipeline-promotions", window: true,
			log: "Maintenance mode on for " + ProdApp + " (the promoted slug names a release process type (" + herokuapi.ReleaseCommand + "))"},
		{name: "staging build without a release phase", noPhase: true, step: staging, mode: "migrations", app: StagingApp,
			log: "Maintenance: nothing says the new release of " + StagingApp + " runs a release phase"},
		{name: "prod promotion without a release phase", noPhase: true, before: []Step{staging}, step: prod, mode: "migrations", app: ProdApp,
			log: "Maintenance: nothing says the new release of " + ProdApp + " runs a release phase"},
		{name: "always, without a release phase", noPhase: true, step: staging, mode: "always", app: StagingApp, createPrefix: "/apps/", window: true,
			log: "Maintenance mode on for " + StagingApp + " (maintenance: always)"},
		{name: "never", step: staging, mode: "never", app: StagingApp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			if tt.noPhase {
				withoutReleasePhase(t, w)
			}
			for _, s := range tt.before {
				mustRun(t, w, context.Background(), s)
			}
			start := len(w.Heroku.Requests())
			step := withInputs(tt.step, "maintenance", tt.mode, "health_path", "/health")
			run := mustRun(t, w, context.Background(), step)
			if tt.log != "" && !strings.Contains(run.Log, tt.log) {
				t.Errorf("the log does not say %q:\n%s", tt.log, run.Log)
			}
			patches := maintenancePatches(w, tt.app)
			hits := appHits(w, tt.app)
			if len(hits) == 0 || hits[len(hits)-1].Status != http.StatusOK {
				t.Fatalf("the health check of %s did not pass: %+v", tt.app, hits)
			}
			if inMaintenance(w, tt.app) {
				t.Errorf("%s is still in maintenance mode after the run", tt.app)
			}
			if !tt.window {
				if len(patches) != 0 {
					t.Errorf("maintenance mode changed without a release phase: %d PATCH /apps requests", len(patches))
				}
				if run.Outputs["maintenance"] != "" || strings.Contains(run.Summary, "| Maintenance |") {
					t.Errorf("a run without a window reports one: output %q\n%s", run.Outputs["maintenance"], run.Summary)
				}
				if got := maintenanceRecords(w, tt.app); len(got) != 0 {
					t.Errorf("a run without a window recorded one on GitHub: %+v", got)
				}
				return
			}
			if len(patches) != 2 || string(patches[0].Body) != `{"maintenance":true}` || string(patches[1].Body) != `{"maintenance":false}` {
				var bodies []string
				for _, p := range patches {
					bodies = append(bodies, string(p.Body))
				}
				t.Fatalf("PATCH /apps/%s bodies = %q, want maintenance on, then off", tt.app, bodies)
			}
			on, off := patches[0], patches[1]
			// On before the build or promotion was even requested.
			var create herokuapi.Request
			for _, r := range w.Heroku.Requests()[start:] {
				if r.Method == http.MethodPost && strings.HasPrefix(r.Path, tt.createPrefix) && (strings.HasSuffix(r.Path, "/builds") || tt.createPrefix == "/pipeline-promotions") {
					create = r
					break
				}
			}
			if create.Method == "" {
				t.Fatal("no build or promotion was created")
			}
			if !on.Answered.Before(create.Received) {
				t.Errorf("maintenance mode went on at %v, after %s %s arrived at %v", on.Answered, create.Method, create.Path, create.Received)
			}
			// Off only once the release phase had ended, and before the health check's first request.
			rel := current(w, tt.app)
			settled, ok := releaseSettled(w, rel.ID)
			switch {
			case !ok && !tt.noPhase:
				t.Errorf("release v%d of %s ran no release phase", rel.Version, tt.app)
			case ok && !off.Received.After(settled):
				t.Errorf("maintenance mode went off at %v, before the release phase of v%d ended at %v", off.Received, rel.Version, settled)
			}
			if !off.Answered.Before(hits[0].At) {
				t.Errorf("the health check's first request (%v) came before maintenance mode went off (%v)", hits[0].At, off.Answered)
			}
			for _, h := range hits {
				if h.Status == http.StatusServiceUnavailable {
					t.Errorf("the health check got the maintenance page: %+v", h)
				}
			}
			if !strings.Contains(run.Summary, "| Maintenance | in maintenance for ") {
				t.Errorf("the job summary does not say how long %s was in maintenance:\n%s", tt.app, run.Summary)
			}
			if run.Outputs["maintenance"] != "off" || run.Outputs["maintenance_seconds"] == "" {
				t.Errorf("outputs maintenance=%q maintenance_seconds=%q, want off and a number", run.Outputs["maintenance"], run.Outputs["maintenance_seconds"])
			}
			cr := checkRunOn(w, tt.step.Checkout, "deploy/"+string(step.Inputs["stage"]))
			if cr == nil {
				cr = checkRunOn(w, tt.step.Checkout, map[string]string{StagingApp: "deploy/staging", ProdApp: "deploy/prod"}[tt.app])
			}
			if cr == nil || !strings.Contains(cr.Summary, "| Maintenance | in maintenance for ") {
				t.Errorf("the check run does not say how long %s was in maintenance: %+v", tt.app, cr)
			}
			recs := maintenanceRecords(w, tt.app)
			if len(recs) != 1 || lastState(recs[0]) != "inactive" || recs[0].Statuses[0].State != "in_progress" {
				t.Errorf("GitHub records of the window = %+v, want one, in_progress then inactive", recs)
			}
			if v := w.Heroku.Violations(); len(v) > 0 {
				t.Errorf("Heroku schema violations: %v", v)
			}
		})
	}
}

// TestMaintenanceLeftOnWhenStopped: a run stopped while its release phase still runs leaves the app
// in maintenance mode and says so (log, summary, check run, deployment, outputs); the next run on
// the app waits until no release phase runs and turns that window off, whether it then builds
// (here the same commit again: the first release never became current before the stop, so it
// builds) or not.
func TestMaintenanceLeftOnWhenStopped(t *testing.T) {
	t.Parallel()
	for _, next := range []string{"migrations", "always"} {
		t.Run("next run with "+next, func(t *testing.T) {
			t.Parallel()
			w, err := New(Options{BuildTime: 60 * time.Millisecond, ReleaseTime: 1500 * time.Millisecond, PageSize: 2})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(w.Close)
			w.SeedLifecycle()
			staging := withInputs(Lifecycle()[2], "maintenance", "migrations", "health_path", "/health")
			stagingApp, _ := w.Heroku.App(StagingApp)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// The run is cancelled (as the runner's SIGINT does) as soon as it follows the release.
			w.Heroku.Disrupt(func(r *http.Request) (herokuapi.Disruption, bool) {
				if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/apps/"+stagingApp.ID+"/releases/") {
					cancel()
				}
				return herokuapi.Disruption{}, false
			})
			run, err := w.Run(ctx, staging, nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.Code != 130 {
				t.Fatalf("exit code %d, want 130 (cancelled)\n%s", run.Code, run.Log)
			}
			if !inMaintenance(w, StagingApp) {
				t.Fatalf("%s left maintenance mode while its release phase still ran\n%s", StagingApp, run.Log)
			}
			pending := w.Heroku.Releases(StagingApp)
			newest := pending[len(pending)-1]
			if newest.Status != "pending" {
				t.Fatalf("the release phase of v%d had ended (%s) when the run stopped: the test proves nothing", newest.Version, newest.Status)
			}
			want := StagingApp + " stays in maintenance mode: the run stopped while the release phase of v"
			if !strings.Contains(run.Log, want) {
				t.Errorf("the log does not say %q:\n%s", want, run.Log)
			}
			if !strings.Contains(run.Summary, want) || !strings.Contains(run.Summary, "still on") {
				t.Errorf("the job summary does not say the app stays in maintenance:\n%s", run.Summary)
			}
			if run.Outputs["maintenance"] != "on" {
				t.Errorf("output maintenance = %q, want on", run.Outputs["maintenance"])
			}
			if cr := checkRunOn(w, staging.Checkout, "deploy/staging"); cr == nil || cr.Conclusion != "cancelled" || !strings.Contains(cr.Summary, want) {
				t.Errorf("the check run does not say the app stays in maintenance: %+v", cr)
			}
			var status string
			for _, d := range w.GitHub.Deployments(Repository) {
				if d.Environment == "pangeo-forge-staging" && len(d.Statuses) > 0 {
					status = d.Statuses[len(d.Statuses)-1].Description
				}
			}
			if !strings.HasPrefix(status, StagingApp+" left in maintenance mode") {
				t.Errorf("the deployment status says %q, not that the app was left in maintenance mode", status)
			}
			if recs := maintenanceRecords(w, StagingApp); len(recs) != 1 || lastState(recs[0]) != "in_progress" {
				t.Fatalf("GitHub records = %+v, want one still in_progress", recs)
			}

			// The next run, at once: the release phase still runs.
			w.Heroku.Disrupt(func(*http.Request) (herokuapi.Disruption, bool) { return herokuapi.Disruption{}, false })
			cancel()
			step := withInputs(Lifecycle()[2], "maintenance", next, "health_path", "/health")
			run2 := mustRun(t, w, context.Background(), step)
			if inMaintenance(w, StagingApp) {
				t.Fatalf("the next run left %s in maintenance mode\n%s", StagingApp, run2.Log)
			}
			patches := maintenancePatches(w, StagingApp)
			firstOff := -1
			for i, p := range patches {
				if string(p.Body) == `{"maintenance":false}` {
					firstOff = i
					break
				}
			}
			if firstOff < 0 {
				t.Fatal("the next run never turned maintenance mode off")
			}
			if settled, ok := releaseSettled(w, newest.ID); !ok || !patches[firstOff].Received.After(settled) {
				t.Errorf("the next run turned maintenance off at %v, before the release phase the stopped run left (v%d) ended at %v", patches[firstOff].Received, newest.Version, settled)
			}
			if !strings.Contains(run2.Log, "turned off the maintenance mode of "+StagingApp+" that an earlier run left on") {
				t.Errorf("the next run does not say it turned the left window off:\n%s", run2.Log)
			}
			for _, rec := range maintenanceRecords(w, StagingApp) {
				if lastState(rec) != "inactive" {
					t.Errorf("a GitHub record of a window is still %s after the next run", lastState(rec))
				}
			}
			for _, h := range appHits(w, StagingApp) {
				if h.Status != http.StatusOK {
					t.Errorf("the health check got %d", h.Status)
				}
			}
		})
	}
}

// TestMaintenanceOperatorWindow: an app an operator put in maintenance mode is left in it; the run
// says so and skips the health check, which the router would answer with the maintenance page.
func TestMaintenanceOperatorWindow(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Heroku.SetMaintenance(StagingApp, true)
	run := mustRun(t, w, context.Background(), withInputs(Lifecycle()[2], "maintenance", "migrations", "health_path", "/health"))
	if got := maintenancePatches(w, StagingApp); len(got) != 0 {
		t.Errorf("the run changed an operator's maintenance mode: %d PATCH requests", len(got))
	}
	if !inMaintenance(w, StagingApp) {
		t.Error("the operator's maintenance window was turned off")
	}
	want := StagingApp + " was already in maintenance mode, not turned on by this action: it is left on"
	if !strings.Contains(run.Log, want) || !strings.Contains(run.Summary, want) {
		t.Errorf("the log and the summary do not say %q:\n%s\n%s", want, run.Log, run.Summary)
	}
	if hits := appHits(w, StagingApp); len(hits) != 0 {
		t.Errorf("the health check ran against the maintenance page: %+v", hits)
	}
	if recs := maintenanceRecords(w, StagingApp); len(recs) != 0 {
		t.Errorf("the run recorded a window it did not open: %+v", recs)
	}
}

// TestMaintenanceReleasePhaseFails: a release phase that fails ends the window too: the app runs
// the release before, up again, and the run fails with Heroku's reason.
func TestMaintenanceReleasePhaseFails(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Heroku.SetReleasePhase(StagingApp, false)
	run, err := w.Run(context.Background(), withInputs(Lifecycle()[2], "maintenance", "migrations"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if run.Code != 1 {
		t.Fatalf("exit code %d, want 1\n%s", run.Code, run.Log)
	}
	if inMaintenance(w, StagingApp) {
		t.Errorf("%s stays in maintenance mode after its release phase failed\n%s", StagingApp, run.Log)
	}
	patches := maintenancePatches(w, StagingApp)
	rels := w.Heroku.Releases(StagingApp)
	failed := rels[len(rels)-1]
	if failed.Status != "failed" {
		t.Fatalf("the newest release is %s, want failed", failed.Status)
	}
	settled, ok := releaseSettled(w, failed.ID)
	if len(patches) != 2 || !ok || !patches[1].Received.After(settled) {
		t.Errorf("maintenance mode: %d PATCH requests, want on, then off after the release phase failed", len(patches))
	}
	if run.Outputs["maintenance"] != "off" || !strings.Contains(run.Summary, "| Maintenance | in maintenance for ") {
		t.Errorf("output maintenance=%q; the summary:\n%s", run.Outputs["maintenance"], run.Summary)
	}
}

// TestMaintenanceDryRun: a dry run says what the maintenance input would do, and changes nothing.
func TestMaintenanceDryRun(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	run := mustRun(t, w, context.Background(), withInputs(Lifecycle()[2], "maintenance", "migrations", "dry_run", "true"))
	want := "Dry run: would put " + StagingApp + " into maintenance mode around the release if it runs a release phase (maintenance: migrations)"
	if !strings.Contains(run.Log, want) {
		t.Errorf("the log does not say %q:\n%s", want, run.Log)
	}
	for _, r := range w.Heroku.Requests() {
		if r.Method != http.MethodGet {
			t.Errorf("a dry run wrote to Heroku: %s %s", r.Method, r.Path)
		}
	}
}

// appOnly keeps the requests to an app itself (GET, PATCH /apps/{id}).
func appOnly(reqs []string) []string {
	var out []string
	for _, r := range reqs {
		if _, path, _ := strings.Cut(r, " "); path == "/apps/{id}" {
			out = append(out, r)
		}
	}
	return out
}

var uuid = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// TestMaintenanceCost: maintenance: never adds no request to the app itself; a window adds three
// (the app's read, on, off), on staging's build as on prod's promotion.
func TestMaintenanceCost(t *testing.T) {
	t.Parallel()
	count := func(mode string) (staging, prod []string) {
		w := newWorld(t)
		paths := func(from int) []string {
			var out []string
			for _, r := range w.Heroku.Requests()[from:] {
				// IDs differ from world to world: compare the requests' shapes.
				path, _, _ := strings.Cut(r.Path, "?") // signed upload URLs differ too
				out = append(out, r.Method+" "+uuid.ReplaceAllString(path, "{id}"))
			}
			return out
		}
		mustRun(t, w, context.Background(), withInputs(Lifecycle()[2], "maintenance", mode))
		n := len(w.Heroku.Requests())
		staging = paths(0)
		mustRun(t, w, context.Background(), withInputs(Lifecycle()[3], "maintenance", mode))
		return staging, paths(n)
	}
	neverStaging, neverProd := count("never")
	winStaging, winProd := count("migrations")
	extra := func(with, without []string) []string {
		seen := map[string]int{}
		for _, p := range without {
			seen[p]++
		}
		var out []string
		for _, p := range with {
			if seen[p] > 0 {
				seen[p]--
				continue
			}
			out = append(out, p)
		}
		return out
	}
	for _, tt := range []struct {
		name          string
		with, without []string
	}{{"staging", winStaging, neverStaging}, {"prod", winProd, neverProd}} {
		// Polls and stream reads vary with timing; requests to the app itself do not.
		got := extra(appOnly(tt.with), appOnly(tt.without))
		if strings.Join(got, ", ") != "GET /apps/{id}, PATCH /apps/{id}, PATCH /apps/{id}" {
			t.Errorf("%s: a maintenance window made these requests to the app beyond maintenance: never's: %v", tt.name, got)
		}
		for _, r := range tt.without {
			if strings.HasPrefix(r, "PATCH /apps/{id}") && !strings.HasSuffix(r, "/config-vars") {
				t.Errorf("%s: maintenance: never changed the app: %s", tt.name, r)
			}
		}
	}
}

// TestMaintenanceEveryProductionApp: with two production apps, each goes into maintenance mode
// before the one promotion and leaves it once its own release phase has ended, before its own
// health check; the summary names each app's window.
func TestMaintenanceEveryProductionApp(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.AddProdAppEU()
	ctx := context.Background()
	mustRun(t, w, ctx, Lifecycle()[2])
	start := len(w.Heroku.Requests())
	run := mustRun(t, w, ctx, withInputs(Lifecycle()[3], "maintenance", "migrations", "health_path", "/health"))
	var promotion herokuapi.Request
	for _, r := range w.Heroku.Requests()[start:] {
		if r.Method == http.MethodPost && r.Path == "/pipeline-promotions" {
			promotion = r
		}
	}
	if promotion.Method == "" {
		t.Fatal("no promotion")
	}
	for _, app := range []string{ProdApp, ProdAppEU} {
		patches := maintenancePatches(w, app)
		if len(patches) != 2 || string(patches[0].Body) != `{"maintenance":true}` || string(patches[1].Body) != `{"maintenance":false}` {
			t.Errorf("%s: %d PATCH requests, want maintenance on, then off", app, len(patches))
			continue
		}
		if !patches[0].Answered.Before(promotion.Received) {
			t.Errorf("%s went into maintenance after the promotion was requested", app)
		}
		rel := current(w, app)
		if settled, ok := releaseSettled(w, rel.ID); !ok || !patches[1].Received.After(settled) {
			t.Errorf("%s left maintenance before its release phase (v%d) ended", app, rel.Version)
		}
		hits := appHits(w, app)
		if len(hits) == 0 || !patches[1].Answered.Before(hits[0].At) {
			t.Errorf("%s: its health check (%d requests) did not come after maintenance mode went off", app, len(hits))
		}
		if inMaintenance(w, app) {
			t.Errorf("%s is still in maintenance mode", app)
		}
		if recs := maintenanceRecords(w, app); len(recs) != 1 || lastState(recs[0]) != "inactive" {
			t.Errorf("%s: GitHub records %+v, want one, closed", app, recs)
		}
		if !strings.Contains(run.Summary, app+" in maintenance for ") {
			t.Errorf("the summary does not say how long %s was in maintenance:\n%s", app, run.Summary)
		}
	}
}

// TestMaintenanceEveryStagingApp: with two staging apps (one build, its slug released on the
// other), each goes into maintenance before its release is made (the build, or the release of the
// built slug) and leaves it after its own release phase, before its own health check.
func TestMaintenanceEveryStagingApp(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.AddStagingAppEU()
	run := mustRun(t, w, context.Background(), withInputs(Lifecycle()[2], "maintenance", "migrations", "health_path", "/health"))
	for _, app := range []string{StagingApp, StagingAppEU} {
		a, _ := w.Heroku.App(app)
		var create herokuapi.Request
		for _, r := range w.Heroku.Requests() {
			if r.Method == http.MethodPost && (r.Path == "/apps/"+a.ID+"/builds" || r.Path == "/apps/"+a.ID+"/releases") {
				create = r
				break
			}
		}
		patches := maintenancePatches(w, app)
		if create.Method == "" || len(patches) != 2 || string(patches[0].Body) != `{"maintenance":true}` || string(patches[1].Body) != `{"maintenance":false}` {
			t.Errorf("%s: %d PATCH requests (want on, then off), release made: %v", app, len(patches), create.Method != "")
			continue
		}
		if !patches[0].Answered.Before(create.Received) {
			t.Errorf("%s went into maintenance after %s %s", app, create.Method, create.Path)
		}
		rel := current(w, app)
		if settled, ok := releaseSettled(w, rel.ID); !ok || !patches[1].Received.After(settled) {
			t.Errorf("%s left maintenance before its release phase (v%d) ended", app, rel.Version)
		}
		if hits := appHits(w, app); len(hits) == 0 || !patches[1].Answered.Before(hits[0].At) {
			t.Errorf("%s: its health check did not come after maintenance mode went off", app)
		}
		if inMaintenance(w, app) {
			t.Errorf("%s is still in maintenance mode", app)
		}
		if !strings.Contains(run.Summary, app+" in maintenance for ") {
			t.Errorf("the summary does not say how long %s was in maintenance:\n%s", app, run.Summary)
		}
	}
}
