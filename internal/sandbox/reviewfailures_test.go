package sandbox

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
)

// The tests below are the review-app rows of docs/faults.md's table "After a failure: what runs
// where" (issue 14, items 3 to 7): each runs a failure through the entry point and checks what
// production and the review app run afterwards, the check run's conclusion, and what the next
// run does.

// runStep runs one step and returns it, whatever its exit code.
func runStep(t *testing.T, w *World, step Step) *Run {
	t.Helper()
	run, err := w.Run(context.Background(), step, nil)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// conclusion is the conclusion of the step's check run, "" when there is none.
func conclusion(w *World, step Step) string {
	if c := checkRunOf(w, step); c != nil {
		return c.Conclusion
	}
	return ""
}

// liveReviewApps are the pull request's review apps not being deleted.
func liveReviewApps(w *World) []herokuapi.ReviewApp {
	var out []herokuapi.ReviewApp
	for _, ra := range w.Heroku.ReviewApps(Pipeline) {
		if ra.PRNumber == PR && ra.Status != "deleting" {
			out = append(out, ra)
		}
	}
	return out
}

// runsCommit tells whether the app's current release runs commit.
func runsCommit(w *World, app, commit string) bool {
	rels := w.Heroku.Releases(app)
	for i := len(rels) - 1; i >= 0; i-- {
		if rels[i].Status == "succeeded" {
			return rels[i].Commit == commit
		}
	}
	return false
}

// emptyIdentityPaths are the requests whose path names something by an empty identity.
func emptyIdentityPaths(reqs []herokuapi.Request) []string {
	var out []string
	for _, r := range reqs {
		path, _, _ := strings.Cut(r.Path, "?")
		if strings.Contains(path, "//") || (len(path) > 1 && strings.HasSuffix(path, "/")) {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// onFirst runs f (once) when the first request matching method and path prefix and suffix
// arrives, before the server handles it: what happens on Heroku meanwhile.
func onFirst(w *World, method, prefix, suffix string, f func()) {
	var once sync.Once
	w.Heroku.Inject(func(r *http.Request) (int, bool) {
		if r.Method == method && strings.HasPrefix(r.URL.Path, prefix) && strings.HasSuffix(r.URL.Path, suffix) {
			once.Do(f)
		}
		return 0, false
	})
}

// TestErroredReviewAppIsReplaced (issue 14, item 3): a review app that errored no longer blocks
// its pull request. The next run deletes it, waits until Heroku reports it deleted (a creation is
// answered 409 until then) and creates a new one, saying so; if the new one errors too, the run
// fails with Heroku's message, and the run after that replaces it again.
func TestErroredReviewAppIsReplaced(t *testing.T) {
	t.Parallel()
	const herokuMsg = "postdeploy: relation \"recipe_runs\" does not exist"
	opened, updated := Lifecycle()[0], Lifecycle()[1]
	tests := []struct {
		name      string
		setup     func(w *World) // before the run under test
		newErrors bool           // the new review app errors too
		step      Step           // the run under test
		seedRace  func(w *World) // installed before the run: an errored app appears meanwhile
	}{
		{
			name: "found errored by the next push",
			setup: func(w *World) {
				w.Heroku.FailReviewApps(Pipeline, herokuMsg)
				if run := runStep(t, w, opened); run.Code != 1 || !strings.Contains(strings.Join(errorLines(run.Log), "\n"), herokuMsg) {
					t.Fatalf("the first push: exit %d, want 1 with Heroku's message\n%s", run.Code, run.Log)
				}
				w.Heroku.FailReviewApps(Pipeline, "")
			},
			step: updated,
		},
		{
			name: "the new one errors too",
			setup: func(w *World) {
				w.Heroku.FailReviewApps(Pipeline, herokuMsg)
				runStep(t, w, opened)
			},
			newErrors: true,
			step:      updated,
		},
		{
			name: "errored meanwhile, met through the 409 of the creation",
			seedRace: func(w *World) {
				onFirst(w, "POST", "/review-apps", "", func() {
					w.Heroku.AddReviewApp(Pipeline, PR, PRBranch, SHA("branch-head"), "errored", herokuMsg)
				})
			},
			step: opened,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			if tt.setup != nil {
				tt.setup(w)
			}
			var oldIDs []string
			for _, ra := range w.Heroku.ReviewApps(Pipeline) {
				oldIDs = append(oldIDs, ra.ID)
			}
			if tt.seedRace != nil {
				tt.seedRace(w)
			}
			before := len(w.Heroku.Requests())
			run := runStep(t, w, tt.step)
			reqs := w.Heroku.Requests()[before:]
			live := liveReviewApps(w)
			for _, ra := range live {
				for _, old := range oldIDs {
					if ra.ID == old {
						t.Errorf("the errored review app %s is still there: %+v", old, ra)
					}
				}
			}
			if len(live) != 1 {
				t.Fatalf("review apps of the PR after the run: %+v, want one", live)
			}
			if !strings.Contains(run.Log, "had errored") || !strings.Contains(run.Log, herokuMsg) {
				t.Errorf("the log does not say that the errored review app was replaced, and why:\n%s", run.Log)
			}
			if n := countRequests(reqs, "DELETE", "/review-apps/*"); n != 1 {
				t.Errorf("%d DELETE /review-apps, want 1", n)
			}
			if tt.newErrors {
				if run.Code != 1 || live[0].Status != "errored" {
					t.Fatalf("exit %d, review app %+v: want a failure and the new app errored\n%s", run.Code, live[0], run.Log)
				}
				errs := errorLines(run.Log)
				if len(errs) != 1 || !strings.Contains(errs[0], herokuMsg) || !strings.Contains(errs[0], "next run") {
					t.Errorf("::error lines %q: want Heroku's message and what the next run does", errs)
				}
				if c := conclusion(w, tt.step); c != "failure" {
					t.Errorf("check run conclusion %q, want failure", c)
				}
				return
			}
			if run.Code != 0 || run.Outputs["deployed"] != "true" {
				t.Fatalf("exit %d, outputs %v: want the new review app deployed\n%s", run.Code, run.Outputs, run.Log)
			}
			if live[0].Status != "created" || !runsCommit(w, live[0].AppName, tt.step.Checkout) {
				t.Errorf("the new review app %+v does not run %s", live[0], tt.step.Checkout)
			}
			if c := conclusion(w, tt.step); c != "success" {
				t.Errorf("check run conclusion %q, want success", c)
			}
			if v := w.Heroku.Violations(); len(v) > 0 {
				t.Errorf("Heroku schema violations: %v", v)
			}
		})
	}
}

// TestAppSetupCleanupAfterAFailedRead (issue 14, item 4): when a read of the app setup fails
// while the run waits, the half-made app is deleted by the ID its creation answered, and said so
// only when Heroku deleted it; when it cannot be deleted, the run names it as left behind. No
// request names an empty app.
func TestAppSetupCleanupAfterAFailedRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		deleteFails bool
	}{
		{name: "the app is deleted"},
		{name: "the app cannot be deleted", deleteFails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newAppSetupWorld(t)
			var failedRead atomic.Bool
			w.Heroku.Inject(func(r *http.Request) (int, bool) {
				switch {
				case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/app-setups/") && failedRead.CompareAndSwap(false, true):
					return http.StatusForbidden, true // not retried: the wait ends
				case tt.deleteFails && r.Method == "DELETE" && strings.HasPrefix(r.URL.Path, "/apps/"):
					return http.StatusForbidden, true
				}
				return 0, false
			})
			before := len(w.Heroku.Requests())
			run := runStep(t, w, appSetupMode(Lifecycle()[0]))
			reqs := w.Heroku.Requests()[before:]
			if run.Code != 1 {
				t.Fatalf("exit %d, want 1\n%s", run.Code, run.Log)
			}
			if bad := emptyIdentityPaths(reqs); len(bad) > 0 {
				t.Errorf("requests with an empty identity: %v", bad)
			}
			errs := errorLines(run.Log)
			if len(errs) != 1 {
				t.Fatalf("::error lines %q, want one", errs)
			}
			app, exists := w.Heroku.App(prApp)
			if tt.deleteFails {
				if !exists {
					t.Fatalf("the app %s is gone although its deletion failed", prApp)
				}
				for _, want := range []string{prApp, "left behind", "heroku apps:destroy " + prApp} {
					if !strings.Contains(errs[0], want) {
						t.Errorf("::error line %q does not say %q", errs[0], want)
					}
				}
				if strings.Contains(errs[0], "was deleted") {
					t.Errorf("::error line %q reports the app deleted", errs[0])
				}
			} else {
				if exists {
					t.Fatalf("the app %s still exists (at %s) after the run said: %s", prApp, app.Stage, errs[0])
				}
				if !strings.Contains(errs[0], "was deleted") {
					t.Errorf("::error line %q does not say the app was deleted", errs[0])
				}
				if n := countRequests(reqs, "DELETE", "/apps/*"); n != 1 {
					t.Errorf("%d DELETE /apps/{app}, want 1", n)
				}
				// The next push sets the app up afresh.
				next := runStep(t, w, appSetupMode(Lifecycle()[1]))
				if next.Code != 0 || len(w.Heroku.AppSetups()) != 2 {
					t.Errorf("next push: exit %d, %d app setups, want 0 and a new setup\n%s", next.Code, len(w.Heroku.AppSetups()), next.Log)
				}
			}
			if c := conclusion(w, appSetupMode(Lifecycle()[0])); c != "failure" {
				t.Errorf("check run conclusion %q, want failure", c)
			}
			if v := w.Heroku.Violations(); len(v) > 0 {
				t.Errorf("Heroku schema violations: %v", v)
			}
		})
	}
}

// TestSweepMeasuresFromTheLastDeploy (issue 14, item 5): review_ttl counts from the review app's
// last deploy (its app's current release), not from the review app record, which later builds
// do not touch: an app created long ago but deployed minutes ago stays.
func TestSweepMeasuresFromTheLastDeploy(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64 // Heroku's clock minus the real one
	skew.Store(int64(-3 * time.Hour))
	w, err := New(Options{BuildTime: 60 * time.Millisecond, ReleaseTime: 20 * time.Millisecond, PageSize: 2,
		HerokuNow: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	w.SeedLifecycle()
	mustRun(t, w, context.Background(), Lifecycle()[0]) // the review app, three hours ago
	skew.Store(0)
	mustRun(t, w, context.Background(), Lifecycle()[1]) // a build on it now
	sweep := withInputs(Step{Event: "schedule", Payload: map[string]any{"schedule": "0 3 * * *"}, SHA: CommitMain, Ref: "refs/heads/main"}, "stage", "teardown", "review_ttl", "1h")
	run := mustRun(t, w, context.Background(), sweep)
	if live := liveReviewApps(w); len(live) != 1 || !strings.Contains(run.Log, "No review app of "+Pipeline+" is due for removal") {
		t.Fatalf("a review app deployed just now was swept by review_ttl 1h (review apps left: %+v):\n%s", live, run.Log)
	}
	// An app not deployed for longer than review_ttl is still swept: TestSweepByAge.
}

// TestAutomaticReviewApps (issue 14, item 6): a pipeline whose review app configuration creates
// review apps itself is refused before any write, with the setting to change; and a review app
// that appears meanwhile anyway (answered 409) gets this run's config vars and a build of the
// commit, so that the vars the run reports are the ones Heroku holds.
func TestAutomaticReviewApps(t *testing.T) {
	t.Parallel()
	opened := Lifecycle()[0]
	t.Run("refused before any write", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.Heroku.SetAutomaticReviewApps(Pipeline, true)
		before := len(w.Heroku.Requests())
		run := runStep(t, w, opened)
		if run.Code != 1 || run.Outputs["deployed"] == "true" {
			t.Fatalf("exit %d, outputs %v: want a refusal\n%s", run.Code, run.Outputs, run.Log)
		}
		errs := errorLines(run.Log)
		if len(errs) != 1 {
			t.Fatalf("::error lines %q, want one", errs)
		}
		for _, want := range []string{"automatic_review_apps", "Create new review apps for new pull requests automatically", "heroku reviewapps:disable --pipeline " + Pipeline + " --no-autodeploy", "nothing was changed"} {
			if !strings.Contains(errs[0], want) {
				t.Errorf("::error line %q does not say %q", errs[0], want)
			}
		}
		if got := writes(w.Heroku.Requests()[before:]); len(got) > 0 {
			t.Errorf("Heroku writes: %v, want none", got)
		}
		if c := conclusion(w, opened); c != "failure" {
			t.Errorf("check run conclusion %q, want failure", c)
		}
	})
	t.Run("a review app made meanwhile gets the config vars and the commit", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		branchHead := SHA("branch-head-built-by-heroku")
		onFirst(w, "POST", "/review-apps", "", func() {
			w.Heroku.AddReviewApp(Pipeline, PR, PRBranch, branchHead, "created", "")
		})
		run := runStep(t, w, opened)
		if run.Code != 0 || run.Outputs["deployed"] != "true" {
			t.Fatalf("exit %d, outputs %v\n%s", run.Code, run.Outputs, run.Log)
		}
		live := liveReviewApps(w)
		if len(live) != 1 {
			t.Fatalf("review apps %+v, want the one made meanwhile", live)
		}
		app := live[0].AppName
		if run.Outputs["app"] != app || !runsCommit(w, app, CommitOpened) {
			t.Errorf("outputs %v, app %s: want %s running %s", run.Outputs, app, app, CommitOpened)
		}
		if !strings.Contains(run.Log, "did not create") {
			t.Errorf("the log does not say the review app was made by someone else:\n%s", run.Log)
		}
		vars := w.Heroku.ConfigVars(app)
		var reported string
		for _, line := range strings.Split(run.Summary, "\n") {
			if strings.HasPrefix(line, "| Config vars set |") {
				reported = line
			}
		}
		names := regexp.MustCompile(`[A-Z][A-Z0-9_]+`).FindAllString(strings.TrimPrefix(reported, "| Config vars set |"), -1)
		if len(names) == 0 {
			t.Fatalf("the summary reports no config vars set:\n%s", run.Summary)
		}
		for _, name := range append(names, "PANGEO_FORGE_DEPLOYMENT", "DEPLOY_ACTION_MANAGED_VARS") {
			if _, ok := vars[name]; !ok {
				t.Errorf("the run reports %s set, but the app has only %v", name, keys(vars))
			}
		}
		if c := conclusion(w, opened); c != "success" {
			t.Errorf("check run conclusion %q, want success", c)
		}
	})
}

// TestLostBuildAnswer (issue 14, item 7): when POST /apps/{app}/builds is carried out but its
// answer lost, the build is adopted, not made twice, though Heroku stores the source URL
// normalized; a build of the same commit and source made before the request (a failed earlier
// run's) is not adopted, judged by Heroku's clock even when the runner's is an hour off.
func TestLostBuildAnswer(t *testing.T) {
	t.Parallel()
	main := Lifecycle()[2]
	for _, skew := range []time.Duration{0, time.Hour, -time.Hour} {
		for _, earlier := range []bool{false, true} {
			name := "server clock " + skew.String()
			if earlier {
				name += ", after a failed build of the same source"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				w, err := New(Options{BuildTime: 60 * time.Millisecond, ReleaseTime: 20 * time.Millisecond, PageSize: 2,
					HerokuNow: func() time.Time { return time.Now().Add(skew) }})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(w.Close)
				w.SeedLifecycle()
				if earlier {
					w.Heroku.FailBuilds(StagingApp, "ERROR: could not build")
					if run := runStep(t, w, main); run.Code != 1 {
						t.Fatalf("the failing build: exit %d\n%s", run.Code, run.Log)
					}
					w.Heroku.FailBuilds(StagingApp, "")
					time.Sleep(2100 * time.Millisecond) // Heroku stamps builds, and its Date, to the second
				}
				staging, _ := w.Heroku.App(StagingApp)
				var lost atomic.Bool
				w.Heroku.Disrupt(func(r *http.Request) (herokuapi.Disruption, bool) {
					if r.Method == "POST" && r.URL.Path == "/apps/"+staging.ID+"/builds" && lost.CompareAndSwap(false, true) {
						return herokuapi.Disruption{Reset: true, Processed: true}, true
					}
					return herokuapi.Disruption{}, false
				})
				builds := len(w.Heroku.Builds(StagingApp))
				run := runStep(t, w, main)
				if !lost.Load() {
					t.Fatal("no build request lost its answer")
				}
				if run.Code != 0 {
					t.Fatalf("exit %d\n%s", run.Code, run.Log)
				}
				got := w.Heroku.Builds(StagingApp)[builds:]
				if len(got) != 1 || got[0].ID != run.Outputs["build_id"] || got[0].Status != "succeeded" {
					t.Errorf("builds made by the run %+v, build_id %s: want the one lost build, adopted", got, run.Outputs["build_id"])
				}
				if !runsCommit(w, StagingApp, CommitMain) {
					t.Errorf("staging does not run %s", CommitMain)
				}
				if c := conclusion(w, main); c != "success" {
					t.Errorf("check run conclusion %q, want success", c)
				}
			})
		}
	}
}
