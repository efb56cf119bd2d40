package sandbox

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestLifecycleGHES runs the seed's lifecycle as on GitHub Enterprise Server: the runner sets
// GITHUB_API_URL to https://HOST/api/v3 and GITHUB_SERVER_URL to https://HOST. The GitHub test
// server serves its API only under /api/v3 (a request elsewhere reaches the web host: a 404 and a
// violation), and every link the action shows points at the GHES host.
func TestLifecycleGHES(t *testing.T) {
	t.Parallel()
	w, err := New(Options{BuildTime: 60 * time.Millisecond, ReleaseTime: 20 * time.Millisecond, PageSize: 2, GitHubPathPrefix: "/api/v3"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	w.SeedLifecycle()
	const server = "https://ghes.example.com"
	if !strings.HasSuffix(w.GitHub.URL(), "/api/v3") {
		t.Fatalf("GitHub test server at %s, want it under /api/v3", w.GitHub.URL())
	}
	ctx := context.Background()
	for _, step := range Lifecycle() {
		if step.Env == nil {
			step.Env = map[string]string{}
		}
		step.Env["GITHUB_SERVER_URL"] = server
		run, err := w.Run(ctx, step, nil)
		if err != nil {
			t.Fatal(err)
		}
		if run.Code != 0 {
			t.Fatalf("%s: exit code %d\n%s", step.Title, run.Code, run.Log)
		}
		if strings.Contains(run.Log, "warning") {
			t.Errorf("%s: the log has a warning (GitHub reporting failed?):\n%s", step.Title, run.Log)
		}
	}
	if v := w.GitHub.Violations(); len(v) > 0 {
		t.Errorf("GitHub violations (requests outside /api/v3 among them): %v", v)
	}

	runs := w.GitHub.CheckRuns(Repository)
	if len(runs) == 0 {
		t.Fatal("no check runs")
	}
	wantRun := server + "/" + Repository + "/actions/runs/4242"
	for _, cr := range runs {
		if cr.Status != "completed" || !strings.HasPrefix(cr.DetailsURL, wantRun) {
			t.Errorf("check run %s: status %s, details %q; want completed, details under %s", cr.Name, cr.Status, cr.DetailsURL, wantRun)
		}
		if !strings.Contains(cr.Summary, server+"/"+Repository+"/commit/") {
			t.Errorf("check run %s: summary has no commit link on %s:\n%s", cr.Name, server, cr.Summary)
		}
		if strings.Contains(cr.Summary+cr.Text, "https://github.com") {
			t.Errorf("check run %s links to github.com:\n%s", cr.Name, cr.Summary)
		}
	}
	deps := w.GitHub.Deployments(Repository)
	if len(deps) == 0 {
		t.Fatal("no deployments")
	}
	for _, d := range deps {
		for _, st := range d.Statuses {
			if st.LogURL != "" && !strings.HasPrefix(st.LogURL, wantRun) {
				t.Errorf("deployment %s status %s: log_url %q, want it under %s", d.Environment, st.State, st.LogURL, wantRun)
			}
		}
	}
	comments := w.GitHub.Comments(Repository, 80)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, wantRun) || strings.Contains(comments[0].Body, "https://github.com") {
		t.Errorf("PR comments = %+v, want one linking the run on %s", comments, server)
	}
}
