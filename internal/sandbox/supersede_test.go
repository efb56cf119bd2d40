package sandbox

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
)

// commitPushedAgain is a third push to pull request #80, after CommitUpdated.
var commitPushedAgain = SHA("pr-80-third-push")

// pushedAgain is the run of commitPushedAgain: a synchronize event after the push, in a job of its
// own (runs of one pull request without a concurrency group run at once).
func pushedAgain(w *World) Step {
	w.GitHub.AddCommit(Repository, commitPushedAgain, SHA("tree-third-push"), "Fix the tests", CommitUpdated)
	return Step{
		Name: "pr-pushed-again", Title: "Pull request #80 pushed again while the previous run builds", Event: "pull_request",
		Payload: PullRequestEvent("synchronize", PR, commitPushedAgain), Checkout: commitPushedAgain, Pushed: true, OwnWorkspace: true,
		SHA: SHA("merge-ref-3"), Ref: "refs/pull/80/merge",
	}
}

// waitUntil polls cond until it holds, failing the test after a while.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTwoRunsAtOnce: without a concurrency group, a push while the previous run still builds
// starts a second run (of the pull request, or of main for staging). Here the older run's build
// finishes last: its release lands after the newer run's, just before the newer run finishes. The
// newer run sees that the app no longer runs its release and releases its slug again; the older
// run, whose commit is no longer the head after its release, ends superseded (neutral check run,
// exit 0) without rolling anything back. The app ends on the newer commit.
func TestTwoRunsAtOnce(t *testing.T) {
	t.Parallel()
	commitMainAgain := SHA("merge-pr-81-into-main")
	for _, tc := range []struct {
		name        string
		before      []Step
		setup       func(w *World) (older, newer Step)
		app         func(w *World, before []*Run) string
		olderCommit string
		newerCommit string
		headOf      string
	}{
		{
			name: "pull request", before: Lifecycle()[:1],
			setup: func(w *World) (Step, Step) {
				older := Lifecycle()[1] // CommitUpdated
				older.OwnWorkspace = true
				return older, pushedAgain(w)
			},
			app:         func(_ *World, before []*Run) string { return before[0].Outputs["app"] },
			olderCommit: CommitUpdated, newerCommit: commitPushedAgain, headOf: "pull request #80",
		},
		{
			name: "staging",
			setup: func(w *World) (Step, Step) {
				older := Lifecycle()[2] // CommitMain
				older.OwnWorkspace = true
				w.GitHub.AddCommit(Repository, commitMainAgain, SHA("tree-after-pr-81"), "Merge pull request #81", CommitMain)
				newer := Step{
					Name: "main-again", Title: "Merged again to main while staging builds", Event: "push",
					Payload: PushEvent("refs/heads/main", CommitMain, commitMainAgain), Checkout: commitMainAgain, OwnWorkspace: true,
					SHA: commitMainAgain, Ref: "refs/heads/main",
				}
				return older, newer
			},
			app:         func(*World, []*Run) string { return StagingApp },
			olderCommit: CommitMain, newerCommit: commitMainAgain, headOf: "branch main",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, fir := range []bool{false, true} {
				t.Run(map[bool]string{false: "cedar", true: "fir"}[fir], func(t *testing.T) {
					t.Parallel()
					w, err := New(Options{})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(w.Close)
					w.SeedLifecycle()
					if fir {
						w.Heroku.SetFir(Pipeline)
					}
					var before []*Run
					for _, s := range tc.before {
						before = append(before, mustRun(t, w, context.Background(), s))
					}
					app := tc.app(w, before)
					older, newer := tc.setup(w)
					if tc.name == "staging" {
						// The push to main that starts the newer run, once the older one builds.
						w.Heroku.Disrupt(func(r *http.Request) (herokuapi.Disruption, bool) {
							if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/builds") {
								w.GitHub.SetBranch(Repository, "main", commitMainAgain)
							}
							return herokuapi.Disruption{}, false
						})
					}
					olderRun, newerRun := interleave(t, w, app, older, tc.olderCommit, newer, tc.newerCommit)

					if !runsCommit(w, app, tc.newerCommit) {
						t.Errorf("the app does not run the newer commit at the end: %+v", w.Heroku.Releases(app))
					}
					rels := w.Heroku.Releases(app)
					last := rels[len(rels)-1]
					// On Fir the schema's release "Create" needs a slug, which a Fir release has not: the
					// newer run makes its release again by rolling back to it.
					again := "again"
					if fir {
						again = "Rollback to v"
					}
					if !strings.Contains(last.Description, again) {
						t.Errorf("the app's last release %+v is not the newer run's release made again", last)
					}
					for _, rel := range rels[:len(rels)-1] {
						if strings.HasPrefix(rel.Description, "Rollback") {
							t.Errorf("a rollback was made: %+v", rel)
						}
					}
					if newerRun.Code != 0 || newerRun.Outputs["deployed"] != "true" || newerRun.Outputs["commit"] != tc.newerCommit {
						t.Errorf("newer run exit %d, outputs %v", newerRun.Code, newerRun.Outputs)
					}
					if got := newerRun.Outputs["release"]; got != strconv.Itoa(last.Version) {
						t.Errorf("newer run reports release %s, the app runs v%d", got, last.Version)
					}
					for _, out := range []string{newerRun.Log, newerRun.Summary} {
						if !strings.Contains(out, "(an older push whose build finished later): released "+tc.newerCommit[:12]+" again") {
							t.Errorf("the newer run does not say it released its slug again:\n%s", out)
						}
					}
					if c := conclusion(w, newer); c != "success" {
						t.Errorf("newer run's check run concluded %q", c)
					}

					if olderRun.Code != 0 {
						t.Fatalf("older run exit %d:\n%s", olderRun.Code, olderRun.Log)
					}
					if olderRun.Outputs["deployed"] != "false" {
						t.Errorf("older run deployed = %q, want false", olderRun.Outputs["deployed"])
					}
					want := "superseded: " + tc.olderCommit[:12] + " is no longer the head of " + tc.headOf + " (a newer push, " + tc.newerCommit[:12] + ", exists)"
					if !strings.Contains(olderRun.Log, want) {
						t.Errorf("older run's log does not say %q:\n%s", want, olderRun.Log)
					}
					cr := checkRunOf(w, older)
					if cr == nil || cr.Conclusion != "neutral" || !strings.Contains(cr.Summary+cr.Title+cr.Text, "superseded") {
						t.Errorf("older run's check run %+v, want neutral and superseded", cr)
					}
					if v := w.Heroku.Violations(); len(v) > 0 {
						t.Errorf("Heroku violations: %v", v)
					}
					if v := w.GitHub.Violations(); len(v) > 0 {
						t.Errorf("GitHub violations: %v", v)
					}
				})
			}
		})
	}
}

// TestSupersededBeforeTheBuild: a run that starts after a newer push to its pull request (a late
// runner, a re-run of an old run) checks the head before it builds, and builds nothing.
func TestSupersededBeforeTheBuild(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		before []Step
		step   Step
	}{
		{name: "creation", step: Lifecycle()[0]},
		{name: "update", before: Lifecycle()[:1], step: Lifecycle()[1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, err := New(Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(w.Close)
			w.SeedLifecycle()
			for _, s := range tc.before {
				mustRun(t, w, context.Background(), s)
			}
			step := tc.step
			step.Pushed = false // the push of commitPushedAgain came first
			w.GitHub.AddCommit(Repository, commitPushedAgain, SHA("tree-third-push"), "Fix the tests", CommitUpdated)
			w.GitHub.AddPullRequest(Repository, githubapi.PullRequest{Number: PR, HeadSHA: commitPushedAgain, HeadRef: PRBranch, BaseRef: "main"})
			from := len(w.Heroku.Requests())
			run := mustRun(t, w, context.Background(), step)
			want := "superseded: " + step.Checkout[:12] + " is no longer the head of pull request #80 (a newer push, " + commitPushedAgain[:12] + ", exists)"
			if !strings.Contains(run.Log, want) {
				t.Errorf("log does not say %q:\n%s", want, run.Log)
			}
			if run.Outputs["deployed"] != "false" {
				t.Errorf("deployed = %q", run.Outputs["deployed"])
			}
			for _, r := range w.Heroku.Requests()[from:] {
				if r.Method != http.MethodGet && r.Path != "/sources" && !strings.HasPrefix(r.Path, "/blobs/") {
					t.Errorf("a write after the head moved: %s %s", r.Method, r.Path)
				}
			}
			if c := conclusion(w, step); c != "neutral" {
				t.Errorf("check run concluded %q, want neutral", c)
			}
		})
	}
}

// interleave runs older (deploying olderCommit on app) and, once older's build is under way, newer
// (deploying newerCommit); older's build is held until newer has released and reads the app's
// releases after its release: older's release lands on top of newer's just before newer finishes.
func interleave(t *testing.T, w *World, app string, older Step, olderCommit string, newer Step, newerCommit string) (olderRun, newerRun *Run) {
	t.Helper()
	ctx := context.Background()
	appID := appIDOf(t, w, app)
	releaseOlder := w.Heroku.HoldBuilds(olderCommit)
	t.Cleanup(releaseOlder)
	var once sync.Once
	w.Heroku.Disrupt(func(r *http.Request) (herokuapi.Disruption, bool) {
		if r.Method != http.MethodGet || r.URL.Path != "/apps/"+appID+"/releases" || !runsCommit(w, app, newerCommit) {
			return herokuapi.Disruption{}, false
		}
		once.Do(func() {
			releaseOlder()
			deadline := time.Now().Add(30 * time.Second)
			for !runsCommit(w, app, olderCommit) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond) // the older build's release, and its release phase
			}
		})
		return herokuapi.Disruption{}, false
	})
	var olderErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		olderRun, olderErr = w.Run(ctx, older, nil)
	}()
	waitUntil(t, "the older run's build is under way", func() bool {
		for _, b := range w.Heroku.Builds(app) {
			if b.Commit == olderCommit {
				return true
			}
		}
		return false
	})
	newerRun = mustRun(t, w, ctx, newer)
	releaseOlder() // if the newer run did not look after its release, the older build ends now
	<-done
	if olderErr != nil {
		t.Fatal(olderErr)
	}
	return olderRun, newerRun
}

func appIDOf(t *testing.T, w *World, name string) string {
	t.Helper()
	a, ok := w.Heroku.App(name)
	if !ok {
		t.Fatalf("no app %s", name)
	}
	return a.ID
}
