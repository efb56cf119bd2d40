package gh_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pangeo-forge/deploy-action/internal/sandbox"
	"github.com/pangeo-forge/deploy-action/internal/secrets"
)

// TestLifecycleOnGitHub runs the seed's lifecycle through the entry point and checks what it writes
// to GitHub at each stage: the check run, the deployment and its statuses, the pull request comment,
// and that no decrypted value reaches any request.
func TestLifecycleOnGitHub(t *testing.T) {
	t.Parallel()
	w, err := sandbox.New(sandbox.Options{BuildTime: 60 * time.Millisecond, ReleaseTime: 20 * time.Millisecond, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	w.SeedLifecycle()
	ctx := context.Background()

	var writes [][]write
	for _, step := range sandbox.Lifecycle() {
		before := len(w.GitHub.Requests())
		run, err := w.Run(ctx, step, nil)
		if err != nil {
			t.Fatal(err)
		}
		if run.Code != 0 {
			t.Fatalf("%s: exit code %d\n%s", step.Title, run.Code, run.Log)
		}
		if strings.Contains(run.Log, "warning") {
			t.Errorf("%s: the log warns:\n%s", step.Title, run.Log)
		}
		var ws []write
		concluded := false
		for _, req := range w.GitHub.Requests()[before:] { // in the order the server received them
			if req.Method == "GET" {
				continue
			}
			wr := write{req.Method, templated(req.Path)}
			if wr == (write{"PATCH", "/check-runs/ID"}) {
				if strings.Contains(string(req.Body), `"conclusion"`) {
					concluded = true
				} else {
					if concluded {
						t.Errorf("%s: a progress update of the check run reached GitHub after its conclusion", step.Title)
					}
					wr.Path += " (progress)"
				}
			}
			ws = append(ws, wr)
		}
		writes = append(writes, ws)
		if id := run.Outputs["check_run_id"]; id == "" {
			t.Errorf("%s: no check_run_id output", step.Title)
		}
	}

	start := func(more ...write) []write {
		return append([]write{{"POST", "/check-runs"}, {"POST", "/deployments"}, {"POST", "/deployments/ID/statuses"}}, more...)
	}
	phases := func(n int) []write { return slices.Repeat([]write{{"PATCH", "/check-runs/ID"}}, n) }
	finish := func(more ...write) []write {
		return append([]write{{"PATCH", "/check-runs/ID"}, {"POST", "/deployments/ID/statuses"}}, more...)
	}
	want := [][]write{
		// PR opened: check run, deployment and comment opened; phases secrets, upload, review app.
		join(start(write{"POST", "/issues/80/comments"}), phases(3), finish(write{"PATCH", "/issues/comments/ID"})),
		// PR updated: phases secrets, config vars, upload, build, release; the same comment is edited.
		join(start(write{"PATCH", "/issues/comments/ID"}), phases(5), finish(write{"PATCH", "/issues/comments/ID"})),
		// main: staging, without a comment.
		join(start(), phases(5), finish()),
		// prod: promotion of staging's release (secrets, config vars, promotion).
		join(start(), phases(3), finish()),
		// PR closed: the teardown's check run; both review deployments inactive; the comment edited.
		{{"POST", "/check-runs"}, {"PATCH", "/check-runs/ID"}, {"POST", "/deployments/ID/statuses"}, {"POST", "/deployments/ID/statuses"}, {"PATCH", "/issues/comments/ID"}},
	}
	names := []string{"PR opened", "PR updated", "main", "prod", "PR closed"}
	for i := range want {
		// Progress updates are sent in the background and coalesced: there are at most as many as
		// phases, and they come before the conclusion (checked above). The check run, the deployment
		// and the comment are opened at once and concluded at once: only each one's own writes keep
		// their order (the deployments' states, below).
		wantFixed, wantProgress := withoutProgress(want[i])
		gotFixed, gotProgress := withoutProgress(writes[i])
		slices.SortStableFunc(wantFixed, compareWrites)
		slices.SortStableFunc(gotFixed, compareWrites)
		if diff := cmp.Diff(wantFixed, gotFixed); diff != "" {
			t.Errorf("%s: GitHub writes other than progress updates (-want +got):\n%s", names[i], diff)
		}
		if gotProgress > wantProgress {
			t.Errorf("%s: %d progress updates, want at most %d", names[i], gotProgress, wantProgress)
		}
	}

	// What a user sees on GitHub afterwards.
	type check struct{ Name, SHA, Conclusion string }
	var gotChecks []check
	for _, cr := range w.GitHub.CheckRuns(sandbox.Repository) {
		gotChecks = append(gotChecks, check{cr.Name, cr.HeadSHA, cr.Conclusion})
	}
	wantChecks := []check{
		{"deploy/review", sandbox.CommitOpened, "success"},
		{"deploy/review", sandbox.CommitUpdated, "success"},
		{"deploy/staging", sandbox.CommitMain, "success"},
		{"deploy/prod", sandbox.CommitProd, "success"},
		{"deploy/teardown", sandbox.CommitUpdated, "success"},
	}
	if diff := cmp.Diff(wantChecks, gotChecks); diff != "" {
		t.Errorf("check runs (-want +got):\n%s", diff)
	}
	type dep struct {
		Env, SHA               string
		Transient, Production  bool
		States                 string
		EnvironmentURLReported bool
	}
	var gotDeps []dep
	for _, d := range w.GitHub.Deployments(sandbox.Repository) {
		var states []string
		hasURL := false
		for _, st := range d.Statuses {
			states = append(states, st.State)
			hasURL = hasURL || strings.HasPrefix(st.EnvironmentURL, "https://")
		}
		gotDeps = append(gotDeps, dep{d.Environment, d.SHA, d.TransientEnvironment, d.ProductionEnvironment, strings.Join(states, " "), hasURL})
	}
	wantDeps := []dep{
		{"pforge-pr-80", sandbox.CommitOpened, true, false, "in_progress success inactive", true},
		{"pforge-pr-80", sandbox.CommitUpdated, true, false, "in_progress success inactive", true},
		{"pangeo-forge-staging", sandbox.CommitMain, false, false, "in_progress success", true},
		{"pangeo-forge", sandbox.CommitProd, false, true, "in_progress success", true},
	}
	if diff := cmp.Diff(wantDeps, gotDeps); diff != "" {
		t.Errorf("deployments (-want +got):\n%s", diff)
	}
	comments := w.GitHub.Comments(sandbox.Repository, sandbox.PR)
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "torn down") || !strings.Contains(comments[0].Body, sandbox.CommitUpdated) {
		t.Errorf("pull request comments = %+v, want one saying the app at %s was torn down", comments, sandbox.CommitUpdated)
	}

	// No decrypted value in anything sent to GitHub.
	values := demoSecretValues(t, w)
	for _, req := range w.GitHub.Requests() {
		for v, name := range values {
			if strings.Contains(string(req.Body), v) {
				t.Errorf("%s %s sent the value of %s to GitHub", req.Method, req.Path, name)
			}
		}
	}
	if v := w.GitHub.Violations(); len(v) > 0 {
		t.Errorf("the GitHub test server saw requests GitHub would refuse:\n%s", strings.Join(v, "\n"))
	}
}

// templated replaces the repository prefix and numeric IDs of a request path.
func templated(path string) string {
	path = strings.TrimPrefix(path, "/repos/"+sandbox.Repository)
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if len(p) > 3 && strings.Trim(p, "0123456789") == "" {
			parts[i] = "ID"
		}
	}
	return strings.Join(parts, "/")
}

// write is one request that changes something on GitHub.
type write struct{ Method, Path string }

func join(parts ...[]write) []write {
	var out []write
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// demoSecretValues decrypts every demo secrets file with the demo age key: value -> where it is from.
func demoSecretValues(t *testing.T, w *sandbox.World) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(w.Root, "secrets", "config.*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no demo secrets files under %s: %v", filepath.Join(w.Root, "secrets"), err)
	}
	key := strings.TrimSpace(w.AgeKey)
	deployments := map[string]bool{}
	for _, f := range files {
		deployments[strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "config."), ".yaml")] = true
	}
	values := map[string]string{}
	for name := range deployments {
		vars, err := secrets.Load(context.Background(), filepath.Join(w.Root, "secrets"), name, secrets.Options{
			Getenv: func(k string) string {
				if k == "SOPS_AGE_KEY" {
					return key
				}
				return ""
			},
		})
		if err != nil {
			t.Fatalf("decrypting the demo secrets of %s: %v", name, err)
		}
		for k, v := range vars {
			for _, line := range secrets.MaskLines(v) {
				// Short values ("true", "1") appear in any JSON by chance, and a GitHub App's name may be
				// the deployment's own name, which is public (it names the environment): neither is a
				// secret that could leak.
				if len(line) >= 8 && !deployments[line] {
					values[line] = fmt.Sprintf("%s of %s", k, name)
				}
			}
		}
	}
	return values
}

// withoutProgress drops the check-run progress updates, and counts them. In want, every check-run
// update before the last one (the conclusion) is one; in what was sent, those marked (progress).
func withoutProgress(ws []write) ([]write, int) {
	last := -1
	for i, w := range ws {
		if w == (write{"PATCH", "/check-runs/ID"}) {
			last = i
		}
	}
	var out []write
	n := 0
	for i, w := range ws {
		if w == (write{"PATCH", "/check-runs/ID (progress)"}) || w == (write{"PATCH", "/check-runs/ID"}) && i != last {
			n++
			continue
		}
		out = append(out, w)
	}
	return out, n
}

func compareWrites(a, b write) int { return strings.Compare(a.Method+" "+a.Path, b.Method+" "+b.Path) }
