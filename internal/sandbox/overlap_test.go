package sandbox

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
)

// The checks that guard Heroku's writes now answer beside other work (docs/performance.md,
// section 1): these tests hold them to stopping the run before the write they guard.

// stagingStep is the lifecycle's push to main.
func stagingStep() Step {
	for _, s := range Lifecycle() {
		if s.Name == "main" {
			return s
		}
	}
	panic("the lifecycle has no push to main")
}

// firstHeroku is the first request Heroku received that matches, or the zero Request.
func firstHeroku(reqs []herokuapi.Request, method, pathPart string) herokuapi.Request {
	for _, r := range reqs {
		if r.Method == method && strings.Contains(r.Path, pathPart) {
			return r
		}
	}
	return herokuapi.Request{}
}

// branchRead is the stale-deploy guard's read of the branch head.
func branchRead(t *testing.T, w *World, branch string) githubapi.Request {
	t.Helper()
	for _, r := range w.GitHub.Requests() {
		if r.Method == "GET" && strings.HasSuffix(r.Path, "/branches/"+branch) {
			return r
		}
	}
	t.Fatalf("the guard never read the head of %s", branch)
	return githubapi.Request{}
}

// TestOverlappedGuardStopsTheRun: the stale-deploy guard's GitHub read overlaps the source upload,
// and a stale or unreadable answer still stops the run before any config var or build.
func TestOverlappedGuardStopsTheRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(w *World)
		code  int
		log   string
	}{
		{
			name: "stale while the upload runs",
			setup: func(w *World) {
				newer := SHA("a-newer-push-to-main")
				w.GitHub.AddCommit(Repository, newer, SHA("newer-tree"), "A newer push", CommitMain)
				w.GitHub.SetBranch(Repository, "main", newer)
			},
			code: 0, log: "no longer the head of main",
		},
		{
			name: "the guard cannot read the branch",
			setup: func(w *World) {
				w.GitHub.Inject(githubapi.Fault{Method: "GET", Path: "/repos/{owner}/{repo}/branches/{branch}", Status: http.StatusNotFound, Times: -1})
			},
			code: 1, log: "could not check that",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// GitHub answers slowly: the upload is under way before the guard's answer arrives.
			w, err := New(Options{BuildTime: 60 * time.Millisecond, ReleaseTime: 20 * time.Millisecond, GitHubLatency: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(w.Close)
			w.SeedLifecycle()
			tt.setup(w)
			run, err := w.Run(context.Background(), stagingStep(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.Code != tt.code || !strings.Contains(run.Log, tt.log) {
				t.Fatalf("exit code %d, want %d, and a log saying %q:\n%s", run.Code, tt.code, tt.log, run.Log)
			}
			if run.Outputs["deployed"] == "true" {
				t.Errorf("outputs %v: want deployed=false", run.Outputs)
			}
			reqs := w.Heroku.Requests()
			if got := writes(reqs); len(got) > 0 {
				t.Errorf("the run wrote to Heroku although the guard stopped it: %v", got)
			}
			upload := firstHeroku(reqs, "POST", "/sources")
			guard := branchRead(t, w, "main")
			if upload.Received.IsZero() || !upload.Received.Before(guard.Answered) {
				t.Errorf("the upload did not overlap the guard's read (upload received %v, guard answered %v)", upload.Received, guard.Answered)
			}
		})
	}
}

// TestStagingWritesWaitForTheirChecks: in a staging deploy with every read overlapped, the config
// var write goes out only once the guard has answered, and the build only once the config vars are
// set, the upload is complete and the rerun check (the current release's slug) has answered.
func TestStagingWritesWaitForTheirChecks(t *testing.T) {
	t.Parallel()
	w, err := New(Options{BuildTime: 60 * time.Millisecond, ReleaseTime: 20 * time.Millisecond, Latency: 30 * time.Millisecond, GitHubLatency: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	w.SeedLifecycle()
	ctx := context.Background()
	mustRun(t, w, ctx, stagingStep())

	// A second push: staging runs a slug (the rerun check reads it), and its deployment var was
	// changed by hand (the run sets it back: a config var write).
	next := SHA("a-second-push-to-main")
	w.GitHub.AddCommit(Repository, next, SHA("second-tree"), "A second push", CommitMain)
	w.GitHub.SetBranch(Repository, "main", next)
	w.Heroku.SetConfigVar(StagingApp, "PANGEO_FORGE_DEPLOYMENT", "changed-by-hand")
	step := stagingStep()
	step.Payload = PushEvent("refs/heads/main", CommitMain, next)
	step.Checkout, step.SHA = next, next
	before := len(w.Heroku.Requests())
	ghBefore := len(w.GitHub.Requests())
	mustRun(t, w, ctx, step)
	reqs := w.Heroku.Requests()[before:]

	var guard githubapi.Request // the first read of the head: the guard's (finish reads it again after the release)
	for _, r := range w.GitHub.Requests()[ghBefore:] {
		if r.Method == "GET" && strings.HasSuffix(r.Path, "/branches/main") {
			guard = r
			break
		}
	}
	patch := firstHeroku(reqs, "PATCH", "/config-vars")
	build := firstHeroku(reqs, "POST", "/builds")
	put := firstHeroku(reqs, "PUT", "/blobs/")
	slug := firstHeroku(reqs, "GET", "/slugs/")
	for name, r := range map[string]time.Time{"guard's read": guard.Answered, "config var PATCH": patch.Answered, "POST /builds": build.Answered, "PUT of the source": put.Answered, "slug read": slug.Answered} {
		if r.IsZero() {
			t.Fatalf("no %s in the run", name)
		}
	}
	if patch.Received.Before(guard.Answered) {
		t.Errorf("config vars were written %v before the guard answered", guard.Answered.Sub(patch.Received))
	}
	for name, dep := range map[string]time.Time{"the guard's answer": guard.Answered, "the config vars": patch.Answered, "the upload": put.Answered, "the rerun check": slug.Answered} {
		if build.Received.Before(dep) {
			t.Errorf("the build was created before %s", name)
		}
	}
}

// TestStagingCriticalPath: a staging deploy waits for 5 round trips in a row before Heroku builds
// and 2 after its release phase ends (the release's confirming read, beside it the head check
// after the release and the app's current release; then the conclusion), with 50 ms on every
// Heroku and GitHub request. The reporter's
// opening writes and progress updates run beside the deploy and are left out: they take whatever
// time the chain leaves them (BenchmarkCriticalPath measures everything).
func TestStagingCriticalPath(t *testing.T) {
	t.Parallel()
	w, err := New(Options{Latency: benchLatency, GitHubLatency: benchLatency})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	w.SeedLifecycle()
	hb, gb := len(w.Heroku.Requests()), len(w.GitHub.Requests())
	start := time.Now()
	mustRun(t, w, context.Background(), stagingStep())
	end := time.Now()
	var calls []Call
	for _, r := range w.Heroku.Requests()[hb:] {
		calls = append(calls, Call{What: r.Method + " " + r.Path, Received: r.Received, Answered: r.Answered})
	}
	for _, r := range w.GitHub.Requests()[gb:] {
		conclusion := r.Method == "PATCH" && strings.Contains(string(r.Body), `"conclusion"`) || r.Method == "POST" && strings.HasSuffix(r.Path, "/statuses") && !strings.Contains(string(r.Body), "in_progress")
		if strings.Contains(r.Path, "/branches/") || conclusion {
			calls = append(calls, Call{What: r.Method + " " + r.Path, Received: r.Received, Answered: r.Answered})
		}
	}
	cp := Critical(calls, w.Heroku.WorkSpans(start, end))
	if cp.Before > 5 || cp.After > 2 {
		var chain []string
		for _, c := range cp.Chain {
			chain = append(chain, c.What)
		}
		t.Errorf("critical path %d before the build, %d after the release; want 5 and 2. The longest chain:\n%s", cp.Before, cp.After, strings.Join(chain, "\n"))
	}
}
