package sandbox

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
	"github.com/pangeo-forge/deploy-action/internal/secrets"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func newWorld(t *testing.T) *World {
	t.Helper()
	w, err := New(Options{BuildTime: 60 * time.Millisecond, ReleaseTime: 20 * time.Millisecond, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	w.SeedLifecycle()
	return w
}

// TestLifecycle runs the seed's five phases through the entry point and checks what a user sees:
// exit codes, outputs, the job summary, and the state and requests of the Heroku test server.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	steps := Lifecycle()
	runs := make([]*Run, len(steps))
	var (
		requests [][]herokuapi.Request
		review   []herokuapi.ReviewApp // as the first step left them
		webURL   = map[int]string{}    // the web_url of each step's app, read right after the step
	)
	for i, step := range steps {
		before := len(w.Heroku.Requests())
		run, err := w.Run(ctx, step, nil)
		if err != nil {
			t.Fatal(err)
		}
		if run.Code != 0 {
			t.Fatalf("%s: exit code %d\n%s", step.Title, run.Code, run.Log)
		}
		runs[i] = run
		requests = append(requests, w.Heroku.Requests()[before:])
		if i == 0 {
			review = w.Heroku.ReviewApps(Pipeline)
		}
		if a, ok := w.Heroku.App(run.Outputs["app"]); ok {
			webURL[i] = a.WebURL // before teardown deletes the review app
		}
	}

	// 1. PR opened: a review app is created with the PR's config vars and the PR head.
	if n := countRequests(requests[0], "POST", "/review-apps"); n != 1 {
		t.Errorf("PR opened: %d POST /review-apps, want 1", n)
	}
	if got := runs[0].Outputs; got["stage"] != "review" || got["deployed"] != "true" || got["commit"] != CommitOpened || got["deployment"] != "pforge-pr-80" || !strings.HasPrefix(got["app_url"], "https://") {
		t.Errorf("PR opened outputs = %v", got)
	}
	// 2. PR updated: no new review app, a build of the new head on the same app.
	if n := countRequests(requests[1], "POST", "/review-apps"); n != 0 {
		t.Errorf("PR updated created %d review apps, want 0", n)
	}
	if runs[1].Outputs["app"] != runs[0].Outputs["app"] || runs[1].Outputs["build_id"] == "" {
		t.Errorf("PR updated outputs = %v, want a build on %s", runs[1].Outputs, runs[0].Outputs["app"])
	}
	// 3. main: staging built from the merge commit, config vars set, the release phase passed.
	stagingBuilds := w.Heroku.Builds(StagingApp)
	if len(stagingBuilds) != 1 || stagingBuilds[0].Commit != CommitMain || stagingBuilds[0].Status != "succeeded" {
		t.Errorf("staging builds = %+v, want one succeeded build of %s", stagingBuilds, CommitMain)
	}
	vars := w.Heroku.ConfigVars(StagingApp)
	if vars["PANGEO_FORGE_DEPLOYMENT"] != "pangeo-forge-staging" || vars["DATABASE_URL"] == "" || vars["GITHUB_APP_PRIVATE_KEY"] == "" {
		t.Errorf("staging config var names = %v", keys(vars))
	}
	// 4. prod: promotion of staging's release (same tree), no build, no source upload.
	if n := countRequests(requests[3], "POST", "/sources") + countRequests(requests[3], "POST", "/apps/*/builds"); n != 0 {
		t.Errorf("prod promotion uploaded or built %d times, want 0", n)
	}
	if n := countRequests(requests[3], "POST", "/pipeline-promotions"); n != 1 {
		t.Errorf("prod: %d promotions, want 1", n)
	}
	prodReleases := w.Heroku.Releases(ProdApp)
	if last := prodReleases[len(prodReleases)-1]; last.Commit != CommitMain || last.Status != "succeeded" {
		t.Errorf("prod's last release = %+v, want staging's slug of %s", last, CommitMain)
	}
	if got := runs[3].Outputs; got["stage"] != "prod" || got["commit"] != CommitMain || got["app"] != ProdApp || got["deployed"] != "true" {
		t.Errorf("prod outputs = %v", got)
	}
	// The prod step reads one app, staging's, for its stack (a container-stack app cannot be
	// promoted); prod's name comes with its releases, its URL with its default domain
	// (docs/performance.md counts the promotion's requests).
	stagingApp, _ := w.Heroku.App(StagingApp)
	if n, m := countRequests(requests[3], "GET", "/apps/*"), countRequests(requests[3], "GET", "/apps/"+stagingApp.ID); n != 1 || m != 1 {
		t.Errorf("prod promotion read %d apps (%d times the staging app), want only the staging app once", n, m)
	}
	for _, i := range []int{0, 3} {
		if got := runs[i].Outputs["app_url"]; got == "" || got != webURL[i] {
			t.Errorf("%s: app_url = %q, want the app's web_url %q", steps[i].Title, got, webURL[i])
		}
	}
	// 5. closed: the review app is gone.
	if len(review) != 1 {
		t.Fatalf("review apps after the PR opened = %+v, want 1", review)
	}
	// Heroku deletes review apps asynchronously: "deleting" or gone are both torn down.
	for _, ra := range w.Heroku.ReviewApps(Pipeline) {
		if ra.Status != "deleting" && ra.Status != "deleted" {
			t.Errorf("review app after teardown = %+v, want it deleting or gone", ra)
		}
	}
	if n := countRequests(requests[4], "DELETE", "/review-apps/*"); n != 1 {
		t.Errorf("teardown sent %d DELETE /review-apps, want 1", n)
	}
	if got := runs[4].Outputs; got["stage"] != "teardown" || got["deployed"] != "false" {
		t.Errorf("teardown outputs = %v", got)
	}

	if v := w.Heroku.Violations(); len(v) > 0 {
		t.Errorf("Heroku schema violations: %v", v)
	}
	if v := w.GitHub.Violations(); len(v) > 0 {
		t.Errorf("GitHub description violations: %v", v)
	}
	for i, run := range runs {
		checkGolden(t, filepath.Join("testdata", "lifecycle", steps[i].Name+".summary.md"), normalize(run.Summary))
	}
}

// TestLifecycleLeaksNoSecret runs the lifecycle and looks for every decrypted value, in several
// encodings, everywhere the action writes: the log (less the ::add-mask:: commands the runner
// consumes), stderr, outputs, summaries, and every request to Heroku and GitHub other than the two
// that must carry config vars to Heroku.
func TestLifecycleLeaksNoSecret(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	values := secretValues(t, w)
	var runs []*Run
	for _, step := range Lifecycle() {
		run, err := w.Run(context.Background(), step, nil)
		if err != nil {
			t.Fatal(err)
		}
		if run.Code != 0 {
			t.Fatalf("%s: exit %d\n%s", step.Title, run.Code, run.Log)
		}
		runs = append(runs, run)
	}
	for _, leak := range findLeaks(values, writtenBy(w, runs, carriesConfigVars)) {
		t.Error(leak)
	}
}

func carriesConfigVars(r herokuapi.Request) bool {
	switch {
	case r.Method == "PATCH" && strings.HasSuffix(strings.SplitN(r.Path, "?", 2)[0], "/config-vars"):
		return true
	case r.Method == "POST" && r.Path == "/review-apps":
		return true
	}
	return false
}

// secretValues decrypts every demo secrets file and returns the values worth searching for: the
// short ones (a boolean) also occur by chance in logs and IDs, so they are left out.
func secretValues(t *testing.T, w *World) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(w.Root, "secrets", "config.*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no demo secrets files: %v", err)
	}
	var values []string
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "config."), ".yaml")
		vars, err := secrets.Load(context.Background(), filepath.Join(w.Root, "secrets"), name, secrets.Options{
			Getenv: func(k string) string {
				if k == "SOPS_AGE_KEY" {
					return w.AgeKey
				}
				return ""
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vars {
			for _, line := range secrets.MaskLines(v) {
				if len(line) >= 8 {
					values = append(values, line)
				}
			}
		}
	}
	return values
}

func encodings(v string) []string {
	j, _ := json.Marshal(v)
	return []string{
		v,
		strings.Trim(string(j), `"`),
		base64.StdEncoding.EncodeToString([]byte(v)),
		base64.URLEncoding.EncodeToString([]byte(v)),
		url.QueryEscape(v),
	}
}

func countRequests(reqs []herokuapi.Request, method, pattern string) int {
	re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, `[^/]+`) + `(\?.*)?$`)
	n := 0
	for _, r := range reqs {
		if r.Method == method && re.MatchString(r.Path) {
			n++
		}
	}
	return n
}

var (
	uuidRe     = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	durationRe = regexp.MustCompile(`\| [0-9.]+(ns|µs|ms|s|m[0-9.]+s) \|`)
	reviewRe   = regexp.MustCompile(`pangeo-forge-api-f-pr-80-[0-9a-f]+`)
	hostRe     = regexp.MustCompile(`-[0-9a-f]{12}\.herokuapp\.com`)
	releaseRe  = regexp.MustCompile(`v[0-9]+`)
)

// normalize replaces what differs from run to run (IDs, durations, random app name suffixes).
func normalize(s string) string {
	s = uuidRe.ReplaceAllString(s, "<id>")
	s = durationRe.ReplaceAllString(s, "| <duration> |")
	s = reviewRe.ReplaceAllString(s, "<review-app>")
	s = hostRe.ReplaceAllString(s, "-<hex>.herokuapp.com")
	return releaseRe.ReplaceAllString(s, "v<n>")
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/sandbox -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
