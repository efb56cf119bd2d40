package sandbox

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
)

// The tests below run review_mode app-setup through the entry point, on a pipeline that is not
// connected to GitHub (no review app configuration): the action makes each pull request's app
// itself and must never touch an app it did not make.

const prApp = "pforge-pr-80" // the default review_name for PR 80: the app's name in this mode

// newAppSetupWorld is the lifecycle's world with the pipeline disconnected from GitHub, owned by
// the team "pangeo-forge".
func newAppSetupWorld(t *testing.T) *World {
	t.Helper()
	w := newWorld(t)
	w.Heroku.DisableReviewApps(Pipeline)
	w.Heroku.SetPipelineTeam(Pipeline, "pangeo-forge")
	return w
}

// appSetupMode returns the step with review_mode app-setup and the extra inputs kv, keeping the
// step's own inputs.
func appSetupMode(s Step, kv ...string) Step {
	in := map[string]string{"review_mode": "app-setup"}
	for k, v := range s.Inputs {
		in[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		in[kv[i]] = kv[i+1]
	}
	s.Inputs = in
	return s
}

func sweepStep() Step {
	return appSetupMode(Step{Event: "schedule", Payload: map[string]any{"schedule": "0 3 * * *"}, SHA: CommitMain, Ref: "refs/heads/main"}, "stage", "teardown")
}

func pipelineID(t *testing.T, w *World) string {
	t.Helper()
	for _, a := range w.Heroku.Apps() {
		if a.Name == StagingApp {
			return a.Pipeline
		}
	}
	t.Fatal("no staging app in the world")
	return ""
}

// TestLifecycleAppSetup runs the seed's five phases with review_mode app-setup.
func TestLifecycleAppSetup(t *testing.T) {
	t.Parallel()
	w := newAppSetupWorld(t)
	ctx := context.Background()
	steps := Lifecycle()
	runs := make([]*Run, len(steps))
	var requests [][]herokuapi.Request
	for i, step := range steps {
		before := len(w.Heroku.Requests())
		run, err := w.Run(ctx, appSetupMode(step), nil)
		if err != nil {
			t.Fatal(err)
		}
		if run.Code != 0 {
			t.Fatalf("%s: exit code %d\n%s", step.Title, run.Code, run.Log)
		}
		runs[i] = run
		requests = append(requests, w.Heroku.Requests()[before:])
		if i == 0 {
			// What the PR's app was, before teardown removes it.
			app, ok := w.Heroku.App(prApp)
			if !ok {
				t.Fatalf("PR opened: no app %s; apps: %+v", prApp, w.Heroku.Apps())
			}
			if diff := cmp.Diff(herokuapi.App{ID: app.ID, Name: prApp, WebURL: app.WebURL, Pipeline: pipelineID(t, w), Stage: "development", Team: "pangeo-forge"}, app); diff != "" {
				t.Errorf("PR opened: the app (-want +got):\n%s", diff)
			}
			vars := w.Heroku.ConfigVars(prApp)
			for _, name := range []string{"PANGEO_FORGE_DEPLOYMENT", "DATABASE_URL", "DEPLOY_ACTION_MANAGED_VARS", "GITHUB_APP_PRIVATE_KEY"} {
				if vars[name] == "" {
					t.Errorf("PR opened: config var %s missing; the app has %v", name, keys(vars))
				}
			}
			if vars["PANGEO_FORGE_DEPLOYMENT"] != prApp {
				t.Errorf("PR opened: PANGEO_FORGE_DEPLOYMENT = %q, want %q", vars["PANGEO_FORGE_DEPLOYMENT"], prApp)
			}
		}
	}

	// 1. PR opened: one app setup from app.json (its Postgres add-on, postdeploy), coupled at
	// development; Heroku Review Apps are not used at all.
	setups := w.Heroku.AppSetups()
	want := []herokuapi.AppSetup{{ID: setups[0].ID, AppName: prApp, Team: "pangeo-forge", Status: "succeeded", Addons: []string{"heroku-postgresql:essential-0"}, Postdeploy: "python -m pangeo_forge_orchestrator.migrate"}}
	if diff := cmp.Diff(want, setups); diff != "" {
		t.Errorf("app setups (-want +got):\n%s", diff)
	}
	for _, path := range []string{"/app-setups", "/pipeline-couplings"} {
		if n := countRequests(requests[0], "POST", path); n != 1 {
			t.Errorf("PR opened: %d POST %s, want 1", n, path)
		}
	}
	for _, step := range requests {
		if n := countRequests(step, "POST", "/review-apps") + countRequests(step, "GET", "/pipelines/*/review-app-config"); n != 0 {
			t.Errorf("review_mode app-setup used Heroku Review Apps (%d requests)", n)
		}
	}
	if got := runs[0].Outputs; got["stage"] != "review" || got["deployed"] != "true" || got["app"] != prApp || got["commit"] != CommitOpened || got["release"] == "" || !strings.HasPrefix(got["app_url"], "https://"+prApp+"-") {
		t.Errorf("PR opened outputs = %v", got)
	}
	if !strings.Contains(runs[0].Log, "Running python -m pangeo_forge_orchestrator.migrate") {
		t.Errorf("PR opened: the postdeploy output is not in the log:\n%s", runs[0].Log)
	}
	if !strings.Contains(runs[0].Summary, "created review app") {
		t.Errorf("PR opened summary does not say what was done:\n%s", runs[0].Summary)
	}

	// 2. PR updated: no new setup, a build of the new head on the same app.
	if n := countRequests(requests[1], "POST", "/app-setups"); n != 0 {
		t.Errorf("PR updated: %d app setups, want 0", n)
	}
	if runs[1].Outputs["app"] != prApp || runs[1].Outputs["build_id"] == "" || runs[1].Outputs["commit"] != CommitUpdated {
		t.Errorf("PR updated outputs = %v, want a build of %s on %s", runs[1].Outputs, CommitUpdated, prApp)
	}
	if n := countRequests(requests[1], "POST", "/apps/*/builds"); n != 1 {
		t.Errorf("PR updated: %d builds, want 1", n)
	}
	// Unchanged secrets: the vars are not sent again (that would restart the app for nothing).
	if n := countRequests(requests[1], "PATCH", "/apps/*/config-vars"); n != 0 {
		t.Errorf("PR updated: %d config var updates with unchanged secrets, want 0", n)
	}

	// 3 and 4 are the review-app lifecycle's: staging builds, prod promotes.
	if runs[2].Outputs["app"] != StagingApp || runs[3].Outputs["app"] != ProdApp || runs[3].Outputs["deployed"] != "true" {
		t.Errorf("staging/prod outputs = %v / %v", runs[2].Outputs, runs[3].Outputs)
	}

	// 5. closed: the app is deleted.
	if _, ok := w.Heroku.App(prApp); ok {
		t.Errorf("the app %s survived the teardown", prApp)
	}
	if n := countRequests(requests[4], "DELETE", "/apps/*"); n != 1 {
		t.Errorf("teardown sent %d DELETE /apps, want 1", n)
	}
	if got := runs[4].Outputs; got["stage"] != "teardown" || got["deployed"] != "false" || got["app"] != prApp {
		t.Errorf("teardown outputs = %v", got)
	}
	for _, app := range []string{StagingApp, ProdApp} {
		if _, ok := w.Heroku.App(app); !ok {
			t.Errorf("%s was deleted", app)
		}
	}

	if v := w.Heroku.Violations(); len(v) > 0 {
		t.Errorf("Heroku schema violations: %v", v)
	}
	if v := w.GitHub.Violations(); len(v) > 0 {
		t.Errorf("GitHub description violations: %v", v)
	}
}

// TestAppSetupLeaksNoSecret: the decrypted values go to Heroku only in the app setup's overrides
// and in config var updates, never into the log, outputs, summaries or other requests.
func TestAppSetupLeaksNoSecret(t *testing.T) {
	t.Parallel()
	w := newAppSetupWorld(t)
	values := secretValues(t, w)
	var runs []*Run
	for _, step := range Lifecycle() {
		run, err := w.Run(context.Background(), appSetupMode(step), nil)
		if err != nil {
			t.Fatal(err)
		}
		if run.Code != 0 {
			t.Fatalf("%s: exit %d\n%s", step.Title, run.Code, run.Log)
		}
		runs = append(runs, run)
	}
	carries := func(r herokuapi.Request) bool {
		return carriesConfigVars(r) || (r.Method == "POST" && r.Path == "/app-setups")
	}
	for _, leak := range findLeaks(values, writtenBy(w, runs, carries)) {
		t.Error(leak)
	}
}

// TestAppSetupFailures: a setup that fails, or a name the action may not use, fails the run with
// one ::error line saying why.
func TestAppSetupFailures(t *testing.T) {
	t.Parallel()
	opened := appSetupMode(Lifecycle()[0])
	tests := []struct {
		name    string
		setup   func(w *World)
		step    Step
		want    []string // in the ::error line
		writes  bool     // Heroku writes are expected
		appLeft bool     // an app called pforge-pr-80 exists after the run
	}{
		{
			name:  "add-on provisioning error",
			setup: func(w *World) { w.Heroku.FailAddon("heroku-postgresql", "no essential-0 capacity in region us") },
			step:  opened, want: []string{"heroku-postgresql:essential-0", "no essential-0 capacity", "next push"}, writes: true,
		},
		{
			name:  "postdeploy script fails",
			setup: func(w *World) { w.Heroku.SetPostdeploy(3, "alembic: relation \"recipe_runs\" does not exist\n") },
			step:  opened, want: []string{"postdeploy", "exit code 3"}, writes: true,
		},
		{
			name: "name too long for Heroku",
			step: appSetupMode(Lifecycle()[0], "review_name", "pangeo-forge-orchestrator-pr-{pr}"),
			want: []string{"pangeo-forge-orchestrator-pr-80", "31 characters", "review_name"},
		},
		{
			name: "name starting with a digit",
			step: appSetupMode(Lifecycle()[0], "review_name", "{pr}-pforge"),
			want: []string{"80-pforge", "lower-case letter", "review_name"},
		},
		{
			name:  "name taken by an app the action did not create",
			setup: func(w *World) { w.Heroku.AddApp(prApp, "", "") },
			step:  opened, want: []string{prApp, "did not create", "review_name"}, appLeft: true,
		},
		{
			name:  "name taken by an app at another stage",
			setup: func(w *World) { w.Heroku.AddApp(prApp, Pipeline, "review") },
			step:  opened, want: []string{prApp, "not coupled", "development"}, appLeft: true,
		},
		{
			name:   "team that does not exist",
			step:   appSetupMode(Lifecycle()[0], "team", "no-such-team"),
			want:   []string{"no-such-team", "team input"},
			writes: true, // the source upload precedes the setup
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newAppSetupWorld(t)
			if tt.setup != nil {
				tt.setup(w)
			}
			before := len(w.Heroku.Requests())
			run, err := w.Run(context.Background(), tt.step, nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.Code == 0 {
				t.Errorf("exit code 0, want a failure\n%s", run.Log)
			}
			errs := errorLines(run.Log)
			if len(errs) != 1 {
				t.Fatalf("::error lines = %q, want one\n%s", errs, run.Log)
			}
			t.Log(errs[0])
			for _, want := range tt.want {
				if !strings.Contains(errs[0], want) {
					t.Errorf("::error line %q does not mention %q", errs[0], want)
				}
			}
			if got := writes(w.Heroku.Requests()[before:]); !tt.writes && len(got) > 0 {
				t.Errorf("Heroku writes: %v, want none", got)
			}
			if _, ok := w.Heroku.App(prApp); ok != tt.appLeft {
				t.Errorf("app %s exists after the run: %v, want %v", prApp, ok, tt.appLeft)
			}
			if run.Outputs["deployed"] == "true" {
				t.Errorf("deployed=true after a failure")
			}
			if v := w.Heroku.Violations(); len(v) > 0 {
				t.Errorf("Heroku schema violations: %v", v)
			}
		})
	}
}

// TestAppSetupRetriedAfterFailure: a failed setup leaves nothing behind, so the next push makes
// the app afresh, add-ons included.
func TestAppSetupRetriedAfterFailure(t *testing.T) {
	t.Parallel()
	w := newAppSetupWorld(t)
	w.Heroku.FailAddon("heroku-postgresql:essential-0", "provider unavailable")
	if run, err := w.Run(context.Background(), appSetupMode(Lifecycle()[0]), nil); err != nil || run.Code == 0 {
		t.Fatalf("first push: err %v, exit %d, want a failure", err, run.Code)
	}
	w.Heroku.FailAddon("heroku-postgresql:essential-0", "")
	run, err := w.Run(context.Background(), appSetupMode(Lifecycle()[1]), nil)
	if err != nil {
		t.Fatal(err)
	}
	if run.Code != 0 || run.Outputs["deployed"] != "true" || run.Outputs["commit"] != CommitUpdated {
		t.Fatalf("second push: exit %d, outputs %v\n%s", run.Code, run.Outputs, run.Log)
	}
	var statuses []string
	for _, s := range w.Heroku.AppSetups() {
		statuses = append(statuses, s.Status)
	}
	if diff := cmp.Diff([]string{"failed", "succeeded"}, statuses); diff != "" {
		t.Errorf("app setups (-want +got):\n%s", diff)
	}
	if w.Heroku.ConfigVars(prApp)["DATABASE_URL"] == "" {
		t.Errorf("the app made by the second push has no DATABASE_URL: its add-on was not provisioned")
	}
}

// TestAppSetupTeardownKeepsOthersApps: closing the PR and sweeping delete only apps the action made
// (the PR's name and a development coupling on this pipeline), never an uncoupled app that has the
// PR's name, nor a development app with another name.
func TestAppSetupTeardownKeepsOthersApps(t *testing.T) {
	t.Parallel()
	w := newAppSetupWorld(t)
	w.Heroku.AddApp(prApp, "", "")                               // someone's app that happens to have the PR's name
	w.Heroku.AddApp("pangeo-forge-dev", Pipeline, "development") // the team's own development app
	w.Heroku.AddApp("pforge-pr-81", Pipeline, "development")     // the action's app of a closed PR
	w.Heroku.AddApp("pforge-pr-82", Pipeline, "development")     // ... and of an open one
	w.Heroku.AddApp("pforge-pr-83-old", Pipeline, "development")
	w.GitHub.AddPullRequest(Repository, githubPR(81, "closed"))
	w.GitHub.AddPullRequest(Repository, githubPR(82, "open"))

	before := len(w.Heroku.Requests())
	closed, err := w.Run(context.Background(), appSetupMode(Lifecycle()[4]), nil)
	if err != nil {
		t.Fatal(err)
	}
	if closed.Code != 0 {
		t.Fatalf("PR closed: exit %d\n%s", closed.Code, closed.Log)
	}
	if got := writes(w.Heroku.Requests()[before:]); len(got) > 0 {
		t.Errorf("PR closed: Heroku writes %v, want none", got)
	}
	if !strings.Contains(closed.Log, "did not create it") {
		t.Errorf("PR closed: the log does not say why %s was left alone:\n%s", prApp, closed.Log)
	}

	sweep, err := w.Run(context.Background(), sweepStep(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sweep.Code != 0 {
		t.Fatalf("sweep: exit %d\n%s", sweep.Code, sweep.Log)
	}
	var names []string
	for _, a := range w.Heroku.Apps() {
		names = append(names, a.Name)
	}
	want := []string{"pangeo-forge-api-prod", "pangeo-forge-api-staging", "pangeo-forge-dev", prApp, "pforge-pr-82", "pforge-pr-83-old"}
	slices.Sort(want)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("apps after the sweep (-want +got):\n%s", diff)
	}
	if !strings.Contains(sweep.Log, "pull request #81 is closed") {
		t.Errorf("sweep: the log does not say why pforge-pr-81 was removed:\n%s", sweep.Log)
	}
	if v := w.Heroku.Violations(); len(v) > 0 {
		t.Errorf("Heroku schema violations: %v", v)
	}
}

// TestAppSetupDryRun: a dry run says what app-setup mode would do and changes nothing.
func TestAppSetupDryRun(t *testing.T) {
	t.Parallel()
	w := newAppSetupWorld(t)
	run, err := w.Run(context.Background(), appSetupMode(Lifecycle()[0], "dry_run", "true"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if run.Code != 0 || !strings.Contains(run.Log, "would create the app "+prApp) {
		t.Errorf("dry run: exit %d\n%s", run.Code, run.Log)
	}
	if got := writes(w.Heroku.Requests()); len(got) > 0 {
		t.Errorf("dry run wrote to Heroku: %v", got)
	}
}

func githubPR(number int, state string) githubapi.PullRequest {
	return githubapi.PullRequest{
		Number: number, State: state, HeadSHA: SHA(fmt.Sprintf("pr-%d-head", number)), HeadRef: fmt.Sprintf("feature-%d", number),
		BaseRef: "main", Title: fmt.Sprintf("Pull request %d", number), User: "cisaacstern",
	}
}
