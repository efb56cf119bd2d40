package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pangeo-forge/deploy-action/internal/gh"
)

// appsOutput is the apps output, decoded.
type appsOutput []struct {
	App      string `json:"app"`
	URL      string `json:"url"`
	Release  int    `json:"release"`
	Deployed bool   `json:"deployed"`
	Outcome  string `json:"outcome"`
}

func decodeApps(t *testing.T, run *Run) appsOutput {
	t.Helper()
	var apps appsOutput
	if err := json.Unmarshal([]byte(run.Outputs["apps"]), &apps); err != nil {
		t.Fatalf("apps output %q: %v", run.Outputs["apps"], err)
	}
	return apps
}

// deploymentTo is the newest deployment of sha to environment on GitHub, with its last state.
func deploymentTo(w *World, sha, environment string) (state, url string, found bool) {
	for _, d := range w.GitHub.Deployments(Repository) {
		if d.SHA == sha && d.Environment == environment && len(d.Statuses) > 0 {
			last := d.Statuses[len(d.Statuses)-1]
			state, url, found = last.State, last.EnvironmentURL, true
		}
	}
	return state, url, found
}

// TestLifecycleTwoProductionApps runs the seed's lifecycle on a pipeline with two production apps
// (the US one and ProdAppEU), through the entry point: the push to prod promotes staging's release
// to both in one promotion, sets each app's config vars, checks each app's health, and reports one
// row per app (summary, check run, the apps output) and one GitHub Deployment per app.
func TestLifecycleTwoProductionApps(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.AddProdAppEU()
	ctx := context.Background()
	steps := Lifecycle()
	var prodRun *Run
	var prodRequests int
	for _, step := range steps {
		before := len(w.Heroku.Requests())
		run := mustRun(t, w, ctx, withInputs(step, "health_path", "/health"))
		if step.Name == "prod" {
			prodRun, prodRequests = run, before
		}
	}
	reqs := w.Heroku.Requests()[prodRequests:]
	// One promotion, naming both apps as its targets; no build, no upload.
	var promotions []map[string]any
	for _, r := range reqs {
		if r.Method == http.MethodPost && r.Path == "/pipeline-promotions" {
			var body map[string]any
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatal(err)
			}
			promotions = append(promotions, body)
		}
	}
	if len(promotions) != 1 {
		t.Fatalf("%d promotions, want 1", len(promotions))
	}
	if targets, _ := promotions[0]["targets"].([]any); len(targets) != 2 {
		t.Errorf("the promotion's targets = %v, want both production apps", promotions[0]["targets"])
	}
	if n := countRequests(reqs, "POST", "/sources") + countRequests(reqs, "POST", "/apps/*/builds"); n != 0 {
		t.Errorf("the promotion uploaded or built %d times, want 0", n)
	}
	staging := current(w, StagingApp)
	for _, app := range []string{ProdApp, ProdAppEU} {
		rel := current(w, app)
		if rel.SlugID != staging.SlugID || rel.Commit != CommitMain || rel.Status != "succeeded" {
			t.Errorf("%s runs %+v, want staging's slug of %s", app, rel, CommitMain)
		}
		vars := w.Heroku.ConfigVars(app)
		if vars["PANGEO_FORGE_DEPLOYMENT"] != "pangeo-forge" || vars["GITHUB_APP_PRIVATE_KEY"] == "" || vars["DEPLOY_ACTION_MANAGED_VARS"] == "" {
			t.Errorf("%s's config var names = %v, want the production file's", app, keys(vars))
		}
		if !strings.Contains(vars["DATABASE_URL"], map[string]string{ProdApp: "prod-db", ProdAppEU: "prod-eu-db"}[app]) {
			t.Errorf("%s's DATABASE_URL was changed: the action manages only the file's vars", app)
		}
	}
	// Outputs: the first-coupled app's name, URL and release; every app in apps.
	out := prodRun.Outputs
	if out["app"] != ProdApp || out["deployed"] != "true" || out["commit"] != CommitMain || out["release"] != fmt.Sprint(current(w, ProdApp).Version) {
		t.Errorf("prod outputs = %v, want %s's", out, ProdApp)
	}
	apps := decodeApps(t, prodRun)
	if len(apps) != 2 || apps[0].App != ProdApp || apps[1].App != ProdAppEU {
		t.Fatalf("apps output = %+v, want %s then %s", apps, ProdApp, ProdAppEU)
	}
	for _, a := range apps {
		if !a.Deployed || !strings.HasPrefix(a.URL, "https://"+a.App+"-") || a.Release != current(w, a.App).Version {
			t.Errorf("apps output entry %+v: want deployed, with the app's URL and release", a)
		}
	}
	// Each app's health was checked.
	for _, app := range []string{ProdApp, ProdAppEU} {
		if !strings.Contains(prodRun.Log, "Health check https://"+app+"-") {
			t.Errorf("the log shows no health check of %s:\n%s", app, prodRun.Log)
		}
	}
	// One row per app in the job summary and the check run.
	cr := checkRunOn(w, CommitProd, "deploy/prod")
	if cr == nil || cr.Conclusion != "success" {
		t.Fatalf("check run on %s = %+v, want success", CommitProd, cr)
	}
	for _, text := range []string{prodRun.Summary, cr.Summary} {
		for _, app := range []string{ProdApp, ProdAppEU} {
			if !rowFor(text, app, "promoted release v") {
				t.Errorf("no row saying %s was promoted in:\n%s", app, text)
			}
		}
	}
	// A GitHub Deployment per app, besides the deployment's own.
	for _, env := range []string{"pangeo-forge", gh.AppEnvironment("pangeo-forge", ProdApp), gh.AppEnvironment("pangeo-forge", ProdAppEU)} {
		if state, _, ok := deploymentTo(w, CommitProd, env); !ok || state != "success" {
			t.Errorf("deployment of %s to %q: %q (found %v), want success", CommitProd[:12], env, state, ok)
		}
	}
	if v := w.Heroku.Violations(); len(v) > 0 {
		t.Errorf("Heroku schema violations: %v", v)
	}
	if v := w.GitHub.Violations(); len(v) > 0 {
		t.Errorf("GitHub schema violations: %v", v)
	}
}

// rowFor reports whether a markdown table in text has a row for app that says want.
func rowFor(text, app, want string) bool {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "| ["+app+"]") && strings.Contains(line, want) {
			return true
		}
	}
	return false
}

// TestOneProductionAppFailsItsHealthCheck: of two production apps, the EU one fails its health check
// after the promotion. It alone is rolled back; the US app keeps the new release. The run fails, and
// the log, the summary, the check run, the apps output and the per-app deployments say which app
// was rolled back and which was not (docs/faults.md, the per-app rows).
func TestOneProductionAppFailsItsHealthCheck(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.AddProdAppEU()
	ctx := context.Background()
	steps := Lifecycle()
	main2 := SHA("second-push-to-main")
	w.GitHub.AddCommit(Repository, main2, SHA("tree-of-second-push"), "Second push", CommitMain)
	for _, s := range steps[2:4] {
		mustRun(t, w, ctx, s)
	}
	w.GitHub.SetBranch(Repository, "main", main2)
	mustRun(t, w, ctx, Step{Name: "main-2", Event: "push", Payload: PushEvent("refs/heads/main", CommitMain, main2), Checkout: main2, SHA: main2, Ref: "refs/heads/main"})
	awaitSettled(t, w)
	euBefore, staging := current(w, ProdAppEU), current(w, StagingApp)

	w.SetAppStatus(func(host, path string) int {
		if strings.HasPrefix(host, ProdAppEU+"-") {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	promote := withInputs(Step{Name: "promote", Event: "workflow_dispatch", Payload: map[string]any{"ref": "refs/heads/main", "inputs": map[string]any{}},
		Checkout: main2, SHA: main2, Ref: "refs/heads/main"}, "stage", "prod", "health_path", "/health", "health_timeout", "300ms")
	run, err := w.Run(ctx, promote, nil)
	if err != nil {
		t.Fatal(err)
	}
	if run.Code != 1 {
		t.Fatalf("exit code %d, want 1\n%s", run.Code, run.Log)
	}
	awaitCurrent(t, w, ProdAppEU, euBefore.SlugID)
	if us := current(w, ProdApp); us.SlugID != staging.SlugID {
		t.Errorf("%s runs slug %s, want staging's %s: an app that passed is not rolled back", ProdApp, us.SlugID, staging.SlugID)
	}
	rolledBack := fmt.Sprintf("production (%s) runs v%d again (rolled back as v%d)", ProdAppEU, euBefore.Version, euBefore.Version+2)
	if !strings.Contains(run.Log, rolledBack) {
		t.Errorf("the log does not say %q:\n%s", rolledBack, run.Log)
	}
	if errs := strings.Join(errorLines(run.Log), "\n"); !strings.Contains(errs, ProdAppEU+": health check") || strings.Contains(errs, ProdApp+": ") {
		t.Errorf("the error does not name the failing app alone:\n%s", errs)
	}
	cr := checkRunOn(w, main2, "deploy/prod")
	if cr == nil || cr.Conclusion != "failure" {
		t.Fatalf("check run = %+v, want failure", cr)
	}
	for _, text := range []string{run.Summary, cr.Summary} {
		if !rowFor(text, ProdAppEU, "rolled back: "+rolledBack) {
			t.Errorf("no row saying %s was rolled back in:\n%s", ProdAppEU, text)
		}
		if !rowFor(text, ProdApp, "promoted release v") {
			t.Errorf("no row saying %s was promoted in:\n%s", ProdApp, text)
		}
		if !regexp.MustCompile(`\*\*After this run\*\*: production \(` + ProdApp + `\) runs v[0-9]+ \([0-9a-f]{12}\), made by this run; ` + regexp.QuoteMeta(rolledBack)).MatchString(text) {
			t.Errorf("After this run does not say what each app runs in:\n%s", text)
		}
	}
	if run.Outputs["deployed"] != "false" {
		t.Errorf("deployed = %q after a failed app, want false", run.Outputs["deployed"])
	}
	apps := decodeApps(t, run)
	if len(apps) != 2 || !apps[0].Deployed || apps[1].Deployed || apps[1].Outcome != "rolled back" {
		t.Errorf("apps output = %+v, want %s deployed and %s rolled back", apps, ProdApp, ProdAppEU)
	}
	for env, want := range map[string]string{gh.AppEnvironment("pangeo-forge", ProdApp): "success", gh.AppEnvironment("pangeo-forge", ProdAppEU): "failure", "pangeo-forge": "failure"} {
		if state, _, _ := deploymentTo(w, main2, env); state != want {
			t.Errorf("deployment to %q is %q, want %q", env, state, want)
		}
	}
	// The next run, once the EU app answers, promotes to the EU app alone (the US app runs the
	// release already).
	w.SetAppStatus(nil)
	before := len(w.Heroku.Requests())
	next := mustRun(t, w, ctx, promote)
	euApp, _ := w.Heroku.App(ProdAppEU)
	for _, r := range w.Heroku.Requests()[before:] {
		if r.Method == http.MethodPost && r.Path == "/pipeline-promotions" && (strings.Count(string(r.Body), `"app":`) != 2 || !strings.Contains(string(r.Body), euApp.ID)) {
			t.Errorf("the rerun's promotion = %s, want the EU app as its one target", r.Body)
		}
	}
	if !strings.Contains(next.Log, ProdApp+" already runs the slug") {
		t.Errorf("the rerun does not say %s already runs the release:\n%s", ProdApp, next.Log)
	}
	if v := w.Heroku.Violations(); len(v) > 0 {
		t.Errorf("Heroku schema violations: %v", v)
	}
}

// TestStagingWithTwoApps: a push to main on a pipeline with two staging apps builds once, on the
// first-coupled app, and releases that build's slug on the other (POST /apps/{app}/releases with
// the slug); each app gets its config vars and its health check. The push to prod then promotes
// from the first staging app.
func TestStagingWithTwoApps(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.AddStagingAppEU()
	ctx := context.Background()
	steps := Lifecycle()
	before := len(w.Heroku.Requests())
	run := mustRun(t, w, ctx, withInputs(steps[2], "health_path", "/health"))
	reqs := w.Heroku.Requests()[before:]
	if n := countRequests(reqs, "POST", "/apps/*/builds"); n != 1 {
		t.Errorf("%d builds, want 1", n)
	}
	if n := countRequests(reqs, "POST", "/sources"); n != 1 {
		t.Errorf("%d uploads, want 1", n)
	}
	if b := w.Heroku.Builds(StagingApp); len(b) != 1 || b[0].Commit != CommitMain {
		t.Errorf("builds on %s = %+v, want one of %s", StagingApp, b, CommitMain)
	}
	if b := w.Heroku.Builds(StagingAppEU); len(b) != 0 {
		t.Errorf("builds on %s = %+v, want none: it runs the first app's slug", StagingAppEU, b)
	}
	us, eu := current(w, StagingApp), current(w, StagingAppEU)
	if us.SlugID == "" || eu.SlugID != us.SlugID || eu.Status != "succeeded" {
		t.Errorf("%s runs %+v, want the slug of %s's %+v", StagingAppEU, eu, StagingApp, us)
	}
	euApp, _ := w.Heroku.App(StagingAppEU)
	if n := countRequests(reqs, "POST", "/apps/"+euApp.ID+"/releases"); n != 1 {
		t.Errorf("%d releases made on %s, want 1", n, StagingAppEU)
	}
	for _, app := range []string{StagingApp, StagingAppEU} {
		if v := w.Heroku.ConfigVars(app); v["PANGEO_FORGE_DEPLOYMENT"] != "pangeo-forge-staging" || v["GITHUB_APP_PRIVATE_KEY"] == "" {
			t.Errorf("%s's config var names = %v", app, keys(v))
		}
		if !strings.Contains(run.Log, "Health check https://"+app+"-") {
			t.Errorf("no health check of %s:\n%s", app, run.Log)
		}
		if !rowFor(run.Summary, app, "") {
			t.Errorf("no row for %s in the summary:\n%s", app, run.Summary)
		}
	}
	apps := decodeApps(t, run)
	if len(apps) != 2 || apps[0].App != StagingApp || !apps[0].Deployed || !apps[1].Deployed || run.Outputs["app"] != StagingApp || run.Outputs["build_id"] == "" {
		t.Errorf("outputs = %v, want both apps deployed, %s first", run.Outputs, StagingApp)
	}
	// A rerun builds nothing and releases nothing.
	before = len(w.Heroku.Requests())
	mustRun(t, w, ctx, steps[2])
	reqs = w.Heroku.Requests()[before:]
	if n := countRequests(reqs, "POST", "/apps/*/builds") + countRequests(reqs, "POST", "/apps/*/releases"); n != 0 {
		t.Errorf("the rerun built or released %d times, want 0", n)
	}
	// The push to prod promotes the first staging app's release.
	mustRun(t, w, ctx, steps[3])
	if p := current(w, ProdApp); p.SlugID != us.SlugID {
		t.Errorf("prod runs slug %s, want staging's %s", p.SlugID, us.SlugID)
	}
	if v := w.Heroku.Violations(); len(v) > 0 {
		t.Errorf("Heroku schema violations: %v", v)
	}
}

// TestContainerStagingWithTwoAppsIsRefused: container-stack builds leave no slug to release on a
// second app; the run refuses before any write, naming the apps and what to do.
func TestContainerStagingWithTwoAppsIsRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.AddStagingAppEU()
	w.Heroku.SetContainerStack(StagingAppEU)
	before := len(w.Heroku.Requests())
	run, err := w.Run(context.Background(), Lifecycle()[2], nil)
	if err != nil {
		t.Fatal(err)
	}
	if run.Code != 1 || !strings.Contains(strings.Join(errorLines(run.Log), "\n"), StagingAppEU+" is on the container stack") {
		t.Fatalf("exit code %d, want 1 with the container refusal:\n%s", run.Code, run.Log)
	}
	for _, r := range w.Heroku.Requests()[before:] {
		// The source upload starts beside the first reads (it changes no app); nothing else writes.
		if r.Method != http.MethodGet && r.Path != "/sources" && !strings.HasPrefix(r.Path, "/blobs/") {
			t.Errorf("a write before the refusal: %s %s", r.Method, r.Path)
		}
	}
}

// TestPerAppSecretsFile: with config.<deployment>.<app>.yaml in the repository, that app gets the
// vars of its own file instead of the deployment's; the other app keeps the deployment's. The
// app's own values are masked like any other.
func TestPerAppSecretsFile(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.AddProdAppEU()
	const euOnly = "eu-only-secret-value-5d1e"
	own := reencrypted(t, w, "pangeo-forge", func(doc map[string]any) { doc["eu_region_token"] = euOnly })
	if err := os.WriteFile(filepath.Join(w.Workspace, "secrets", "config.pangeo-forge."+ProdAppEU+".yaml"), own, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	steps := Lifecycle()
	for _, s := range steps[2:3] {
		mustRun(t, w, ctx, s)
	}
	run := mustRun(t, w, ctx, steps[3])
	if got := w.Heroku.ConfigVars(ProdAppEU)["EU_REGION_TOKEN"]; got != euOnly {
		t.Errorf("%s's EU_REGION_TOKEN = %q, want its own file's value", ProdAppEU, got)
	}
	if _, ok := w.Heroku.ConfigVars(ProdApp)["EU_REGION_TOKEN"]; ok {
		t.Errorf("%s got EU_REGION_TOKEN, which only the EU app's file has", ProdApp)
	}
	if !rowFor(run.Summary, ProdAppEU, "`config.pangeo-forge."+ProdAppEU+".yaml`") || !rowFor(run.Summary, ProdApp, "`config.pangeo-forge.yaml`") {
		t.Errorf("the summary does not name each app's secrets file:\n%s", run.Summary)
	}
	for what, text := range map[string]string{"log": Shown(run.Log), "summary": run.Summary, "outputs": fmt.Sprint(run.Outputs)} {
		if strings.Contains(text, euOnly) {
			t.Errorf("the EU app's secret value shows in the %s", what)
		}
	}
	if !strings.Contains(run.Log, "::add-mask::"+euOnly) {
		t.Errorf("the EU app's value was not masked")
	}
}

// TestRollbackStageTwoProductionApps: `stage: rollback` with rollback_app: prod rolls every
// production app back, each to its own earlier release; rollback_app naming one production app
// rolls back that app alone; rollback_to with several apps is refused before any write.
func TestRollbackStageTwoProductionApps(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.AddProdAppEU()
	ctx := context.Background()
	steps := Lifecycle()
	main2 := SHA("second-push-to-main")
	w.GitHub.AddCommit(Repository, main2, SHA("tree-of-second-push"), "Second push", CommitMain)
	mustRun(t, w, ctx, steps[2])
	mustRun(t, w, ctx, steps[3])
	first := map[string]string{ProdApp: current(w, ProdApp).SlugID, ProdAppEU: current(w, ProdAppEU).SlugID}
	w.GitHub.SetBranch(Repository, "main", main2)
	mustRun(t, w, ctx, Step{Name: "main-2", Event: "push", Payload: PushEvent("refs/heads/main", CommitMain, main2), Checkout: main2, SHA: main2, Ref: "refs/heads/main"})
	dispatch := func(kv ...string) Step {
		return withInputs(Step{Event: "workflow_dispatch", Payload: map[string]any{"ref": "refs/heads/main", "inputs": map[string]any{}},
			Checkout: main2, SHA: main2, Ref: "refs/heads/main"}, kv...)
	}
	mustRun(t, w, ctx, dispatch("stage", "prod"))
	awaitSettled(t, w)
	second := current(w, ProdAppEU).SlugID

	// rollback_to names one version: refused with two apps, nothing written.
	before := len(w.Heroku.Requests())
	run, err := w.Run(ctx, dispatch("stage", "rollback", "rollback_to", "v3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if run.Code != 1 || !strings.Contains(strings.Join(errorLines(run.Log), "\n"), "input rollback_to: the production stage of pipeline "+Pipeline+" has 2 apps") {
		t.Errorf("rollback_to with two apps: exit %d\n%s", run.Code, run.Log)
	}
	for _, r := range w.Heroku.Requests()[before:] {
		if r.Method != http.MethodGet {
			t.Errorf("a write before the refusal: %s %s", r.Method, r.Path)
		}
	}

	// Every production app, each to its newest earlier release that ran other code.
	run = mustRun(t, w, ctx, dispatch("stage", "rollback", "health_path", "/health"))
	awaitSettled(t, w)
	for app, slug := range first {
		if got := current(w, app).SlugID; got != slug {
			t.Errorf("%s runs slug %s after the rollback, want %s", app, got, slug)
		}
	}
	apps := decodeApps(t, run)
	if len(apps) != 2 || apps[0].App != ProdApp || !apps[0].Deployed || !apps[1].Deployed {
		t.Errorf("apps output = %+v", apps)
	}
	for _, app := range []string{ProdApp, ProdAppEU} {
		if !rowFor(run.Summary, app, "") || !strings.Contains(run.Log, "Health check https://"+app+"-") {
			t.Errorf("no row or no health check for %s:\n%s\n%s", app, run.Summary, run.Log)
		}
	}
	if !rowFor(run.Summary, ProdApp, "rolled "+ProdApp+" back to v") {
		t.Errorf("the summary does not say %s was rolled back:\n%s", ProdApp, run.Summary)
	}
	// One app by name: its newest earlier release that ran other code is now main-2's; the other
	// app stays where it is.
	run = mustRun(t, w, ctx, dispatch("stage", "rollback", "rollback_app", ProdAppEU, "health_path", "/health"))
	awaitSettled(t, w)
	if got := current(w, ProdAppEU).SlugID; got != second {
		t.Errorf("%s runs slug %s after its rollback, want %s", ProdAppEU, got, second)
	}
	if got := current(w, ProdApp).SlugID; got != first[ProdApp] {
		t.Errorf("%s runs slug %s, want %s: only the named app is rolled back", ProdApp, got, first[ProdApp])
	}
	if run.Outputs["app"] != ProdAppEU || run.Outputs["commit"] != main2 {
		t.Errorf("outputs = %v, want the EU app on %s", run.Outputs, main2)
	}
	if v := w.Heroku.Violations(); len(v) > 0 {
		t.Errorf("Heroku schema violations: %v", v)
	}
}

// TestStagingWithTwoAppsBuildFails: the one build fails (on the first app) after each app's config
// vars were set: neither app gets new code, and the run says of each what it runs.
func TestStagingWithTwoAppsBuildFails(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.AddStagingAppEU()
	ctx := context.Background()
	steps := Lifecycle()
	mustRun(t, w, ctx, steps[2])
	awaitSettled(t, w)
	us, eu := current(w, StagingApp), current(w, StagingAppEU)
	main2 := SHA("second-push-to-main")
	w.GitHub.AddCommit(Repository, main2, SHA("tree-of-second-push"), "Second push", CommitMain)
	w.GitHub.SetBranch(Repository, "main", main2)
	for _, app := range []string{StagingApp, StagingAppEU} {
		w.Heroku.SetConfigVar(app, "PANGEO_FORGE_DEPLOYMENT", "set-by-hand") // the run sets it back
	}
	awaitSettled(t, w)
	w.Heroku.FailBuilds(StagingApp, "Python version 2.7 is not available")
	run, err := w.Run(ctx, Step{Name: "main-2", Event: "push", Payload: PushEvent("refs/heads/main", CommitMain, main2), Checkout: main2, SHA: main2, Ref: "refs/heads/main"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if run.Code != 1 {
		t.Fatalf("exit code %d, want 1\n%s", run.Code, run.Log)
	}
	for _, b := range []struct {
		app    string
		before int
	}{{StagingApp, us.Version}, {StagingAppEU, eu.Version}} {
		want := fmt.Sprintf("staging (%s) runs v%d (the previous code, %s) with the new config vars set in v%d", b.app, b.before+1, CommitMain[:12], b.before+2)
		if !strings.Contains(run.Log, want) || !rowFor(run.Summary, b.app, want) {
			t.Errorf("the log and the summary do not say %q:\n%s", want, run.Summary)
		}
	}
	if got := current(w, StagingAppEU).SlugID; got != eu.SlugID {
		t.Errorf("%s runs slug %s, want its previous %s", StagingAppEU, got, eu.SlugID)
	}
}
