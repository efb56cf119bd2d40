package sandbox

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
)

// state is what a user can count after a run: resources on Heroku and on GitHub. A rerun of any
// stage must leave every count as it was.
type state struct {
	LiveReviewApps int            // review apps of the PR not being deleted
	Builds         map[string]int // per app name
	Releases       map[string]int // per app name
	Promotions     int
	CheckRuns      int
	Deployments    int
	Comments       int
	CurrentRelease map[string]string // app name -> the commit its current release runs
}

func (w *World) state(t *testing.T) state {
	t.Helper()
	s := state{Builds: map[string]int{}, Releases: map[string]int{}, CurrentRelease: map[string]string{}}
	for _, ra := range w.Heroku.ReviewApps(Pipeline) {
		if ra.PRNumber == PR && ra.Status != "deleting" && ra.Status != "deleted" {
			s.LiveReviewApps++
		}
	}
	for _, app := range w.Heroku.Apps() {
		s.Builds[app.Name] = len(w.Heroku.Builds(app.Name))
		rels := w.Heroku.Releases(app.Name)
		s.Releases[app.Name] = len(rels)
		for i := len(rels) - 1; i >= 0; i-- {
			if rels[i].Status == "succeeded" {
				s.CurrentRelease[app.Name] = rels[i].Commit
				break
			}
		}
	}
	s.Promotions = countRequests(w.Heroku.Requests(), "POST", "/pipeline-promotions")
	s.CheckRuns = len(w.GitHub.CheckRuns(Repository))
	s.Deployments = len(w.GitHub.Deployments(Repository))
	s.Comments = len(w.GitHub.Comments(Repository, PR))
	return s
}

// awaitDeletions waits (boundedly) until no review app is still being deleted.
func (w *World) awaitDeletions(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		deleting := false
		for _, ra := range w.Heroku.ReviewApps(Pipeline) {
			deleting = deleting || ra.Status == "deleting"
		}
		if !deleting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a review app is still being deleted after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRerunsAreIdempotent runs each lifecycle stage twice in a row (a re-run workflow, a retried
// job): the second run succeeds and leaves the same state, with no duplicate review app, build,
// release, promotion, check run, deployment or comment.
func TestRerunsAreIdempotent(t *testing.T) {
	t.Parallel()
	steps := Lifecycle()
	tests := []struct {
		step   int
		notice string // what the rerun says it did not do again, "" when it says nothing
	}{
		{step: 0, notice: "not building it again"},  // PR opened: the review app exists and runs the commit
		{step: 1, notice: "not building it again"},  // PR updated
		{step: 2, notice: "not building it again"},  // main: staging runs the commit
		{step: 3, notice: "not promoting it again"}, // prod: prod runs staging's slug
		{step: 4, notice: "has no review app"},      // PR closed: nothing left to tear down
	}
	for _, tt := range tests {
		t.Run(steps[tt.step].Name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			ctx := context.Background()
			for _, step := range steps[:tt.step+1] {
				mustRun(t, w, ctx, step)
			}
			// Heroku deletes a torn-down review app asynchronously: count once it is gone.
			w.awaitDeletions(t)
			before := w.state(t)
			rerun := mustRun(t, w, ctx, steps[tt.step])
			w.awaitDeletions(t)
			after := w.state(t)
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("the rerun changed the state (-first run +rerun):\n%s", diff)
			}
			if !strings.Contains(rerun.Log, tt.notice) {
				t.Errorf("the rerun's log does not say %q:\n%s", tt.notice, rerun.Log)
			}
			if v := w.Heroku.Violations(); len(v) > 0 {
				t.Errorf("Heroku schema violations: %v", v)
			}
		})
	}
}

// TestStaleDeployGuard: a staging or prod run whose commit is no longer its branch's head (a newer
// push exists) changes nothing on Heroku and skips with a notice; the check run is neutral.
func TestStaleDeployGuard(t *testing.T) {
	t.Parallel()
	steps := Lifecycle()
	tests := []struct {
		name   string
		before []Step
		step   Step
		branch string
	}{
		{name: "staging", step: steps[2], branch: "main"},
		{name: "prod", before: steps[2:3], step: steps[3], branch: "prod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			ctx := context.Background()
			for _, step := range tt.before {
				mustRun(t, w, ctx, step)
			}
			newer := SHA("a-newer-push-to-" + tt.branch)
			w.GitHub.AddCommit(Repository, newer, SHA("newer-tree"), "A newer push", tt.step.Checkout)
			w.GitHub.SetBranch(Repository, tt.branch, newer)
			before := len(w.Heroku.Requests())
			run := mustRun(t, w, ctx, tt.step)
			if got := writes(w.Heroku.Requests()[before:]); len(got) != 0 {
				t.Errorf("a stale run wrote to Heroku: %v", got)
			}
			if run.Outputs["deployed"] != "false" {
				t.Errorf("outputs = %v, want deployed=false", run.Outputs)
			}
			if !strings.Contains(run.Log, "::notice") || !strings.Contains(run.Log, "no longer the head of "+tt.branch) {
				t.Errorf("no notice saying the commit is stale:\n%s", run.Log)
			}
			var cr *githubapi.CheckRun
			for _, c := range w.GitHub.CheckRuns(Repository) {
				if c.HeadSHA == tt.step.Checkout {
					cr = &c
				}
			}
			if cr == nil || cr.Conclusion != "neutral" || !strings.Contains(cr.Summary, "newer push") {
				t.Errorf("check run of the stale commit = %+v, want it neutral, saying why", cr)
			}
		})
	}
}

func mustRun(t *testing.T, w *World, ctx context.Context, step Step) *Run {
	t.Helper()
	run, err := w.Run(ctx, step, nil)
	if err != nil {
		t.Fatal(err)
	}
	if run.Code != 0 {
		t.Fatalf("%s: exit code %d\n%s", step.Title, run.Code, run.Log)
	}
	return run
}
