package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
)

// current is the release app runs, as the Heroku test server has it.
func current(w *World, app string) herokuapi.Release {
	for _, rel := range w.Heroku.Releases(app) {
		if rel.Current {
			return rel
		}
	}
	return herokuapi.Release{}
}

// checkRunOn is the check run of the given name on sha, nil when there is none.
func checkRunOn(w *World, sha, name string) *githubapi.CheckRun {
	for _, c := range w.GitHub.CheckRuns(Repository) {
		if c.HeadSHA == sha && c.Name == name {
			return &c
		}
	}
	return nil
}

// awaitCurrent waits (boundedly) until app's current release runs slug: a rollback that was
// requested but not confirmed settles on Heroku after the run.
func awaitCurrent(t *testing.T, w *World, app, slug string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for current(w, app).SlugID != slug {
		if time.Now().After(deadline) {
			t.Fatalf("%s's current release runs slug %q 5s after the run, want %q: %+v", app, current(w, app).SlugID, slug, w.Heroku.Releases(app))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// awaitSettled waits (boundedly) until no release of staging or prod is pending.
func awaitSettled(t *testing.T, w *World) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, app := range []string{StagingApp, ProdApp} {
		for _, rel := range w.Heroku.Releases(app) {
			for rel.Status == "pending" {
				if time.Now().After(deadline) {
					t.Fatalf("release v%d of %s is still pending after 5s", rel.Version, app)
				}
				time.Sleep(10 * time.Millisecond)
				for _, r := range w.Heroku.Releases(app) {
					if r.ID == rel.ID {
						rel = r
					}
				}
			}
		}
	}
}

// before is what the apps ran before the step under test.
type before struct{ staging, prod herokuapi.Release }

// TestAfterFailure is the table of docs/faults.md ("After a failure: what runs where"), one row per
// failure point, through the entry point: after each, production (or staging) runs a release the
// run names, in the log, the job summary and the check run, and the check run is concluded with what
// happened. Each row also runs the next deploy, which must go through.
func TestAfterFailure(t *testing.T) {
	t.Parallel()
	steps := Lifecycle()
	main2 := SHA("second-push-to-main")
	hotfix := SHA("hotfix-pushed-to-prod")
	pushMain2 := Step{Name: "main-2", Event: "push", Payload: PushEvent("refs/heads/main", CommitMain, main2), Checkout: main2, SHA: main2, Ref: "refs/heads/main"}
	pushHotfix := Step{Name: "hotfix", Event: "push", Payload: PushEvent("refs/heads/prod", CommitProd, hotfix), Checkout: hotfix, SHA: hotfix, Ref: "refs/heads/prod"}
	// A manual promotion of staging's release (main-2's) to prod, which ran CommitMain's before.
	promote := Step{Name: "promote", Event: "workflow_dispatch", Payload: map[string]any{"ref": "refs/heads/main", "inputs": map[string]any{}},
		Checkout: main2, SHA: main2, Ref: "refs/heads/main"}
	health := func(s Step, kv ...string) Step {
		return withInputs(s, append([]string{"health_path", "/health", "health_timeout", "300ms"}, kv...)...)
	}
	prodRan := []Step{steps[2], steps[3], pushMain2} // prod runs CommitMain's code, staging main-2's
	const (
		prodCheck    = "deploy/prod"
		stagingCheck = "deploy/staging"
	)
	failRollbacks := func(t *testing.T, w *World) {
		w.Heroku.Inject(func(r *http.Request) (int, bool) {
			return http.StatusServiceUnavailable, r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/apps/") && strings.HasSuffix(r.URL.Path, "/releases")
		})
	}
	tests := []struct {
		name           string
		before         []Step
		setup          func(t *testing.T, w *World)
		step           Step
		check          string // the check run's name
		prodFails      bool   // prod answers the health check 503
		stagingFails   bool
		cancelOnHealth bool // the runner cancels the job while prod's health is checked
		code           int
		conclusion     string
		// running is what the run says the app runs afterwards (in the job summary and the check run).
		running   func(b before) string
		prodAfter func(b before) string // the slug prod must run afterwards, "" not checked
		// next is the next run, which must succeed (the apps answer again by then).
		next Step
	}{
		{
			name: "prod promoted, health check fails: rolled back", before: prodRan,
			step: health(promote, "stage", "prod"), check: prodCheck, prodFails: true, code: 1, conclusion: "failure",
			running: func(b before) string {
				return fmt.Sprintf("production (%s) runs v%d again (rolled back as v%d)", ProdApp, b.prod.Version, b.prod.Version+2)
			},
			prodAfter: func(b before) string { return b.prod.SlugID },
			next:      withInputs(promote, "stage", "prod"),
		},
		{
			// Issue item 1: a hotfix pushed to prod is built on the production app, and rolled back as a
			// promotion is.
			name: "prod built (hotfix), health check fails: rolled back", before: steps[2:4],
			setup: func(t *testing.T, w *World) {
				w.GitHub.AddCommit(Repository, hotfix, SHA("tree-of-the-hotfix"), "Hotfix", CommitProd)
				w.GitHub.SetBranch(Repository, "prod", hotfix)
			},
			step: health(pushHotfix), check: prodCheck, prodFails: true, code: 1, conclusion: "failure",
			running: func(b before) string {
				return fmt.Sprintf("production (%s) runs v%d again (rolled back as v%d)", ProdApp, b.prod.Version, b.prod.Version+2)
			},
			prodAfter: func(b before) string { return b.prod.SlugID },
			next:      pushHotfix,
		},
		{
			name: "prod's rollback fails: the failing release runs", before: prodRan, setup: failRollbacks,
			step: health(promote, "stage", "prod"), check: prodCheck, prodFails: true, code: 1, conclusion: "failure",
			running: func(b before) string {
				return fmt.Sprintf("the rollback to v%d failed (", b.prod.Version)
			},
			prodAfter: func(b before) string { return b.staging.SlugID },
			// Prod already runs staging's slug: the rerun does not promote it again, and passes once
			// the app answers.
			next: withInputs(promote, "stage", "prod"),
		},
		{
			// Issue item 2: the health wait ends when only timeout_reserve is left, and the rollback is
			// confirmed within it.
			name: "timeout runs out during prod's health check: rolled back within timeout_reserve", before: prodRan,
			step:  withInputs(promote, "stage", "prod", "health_path", "/health", "health_timeout", "10m", "timeout", "6s", "timeout_reserve", "3s"),
			check: prodCheck, prodFails: true, code: 1, conclusion: "timed_out",
			running: func(b before) string {
				return fmt.Sprintf("production (%s) runs v%d again (rolled back as v%d)", ProdApp, b.prod.Version, b.prod.Version+2)
			},
			prodAfter: func(b before) string { return b.prod.SlugID },
			next:      withInputs(promote, "stage", "prod"),
		},
		{
			// Issue item 2: cancelled, the run has seconds: the rollback is requested, not confirmed.
			name: "cancelled during prod's health check: rollback requested", before: prodRan,
			step: health(promote, "stage", "prod", "health_timeout", "10m"), check: prodCheck, prodFails: true, cancelOnHealth: true,
			code: 130, conclusion: "cancelled",
			running: func(b before) string {
				return fmt.Sprintf("production (%s): rollback to v%d requested (release v%d), not confirmed", ProdApp, b.prod.Version, b.prod.Version+2)
			},
			prodAfter: func(b before) string { return b.prod.SlugID },
			next:      withInputs(promote, "stage", "prod"),
		},
		{
			// Issue item 8: a failed rerun of a good deploy says the app still runs the good release.
			name: "failed rerun of a good staging deploy", before: steps[2:3],
			step: health(steps[2]), check: stagingCheck, stagingFails: true, code: 1, conclusion: "failure",
			running: func(b before) string {
				return fmt.Sprintf("staging (%s) still runs v%d (%s), deployed by the previous run", StagingApp, b.staging.Version, CommitMain[:12])
			},
			next: steps[2],
		},
		{
			// Issue item 10: config vars are set before the build, which then fails.
			name: "staging's build fails after its config vars were set", before: steps[2:3],
			setup: func(t *testing.T, w *World) {
				w.Heroku.SetConfigVar(StagingApp, "PANGEO_FORGE_DEPLOYMENT", "set-by-hand") // the run sets it back
				w.Heroku.FailBuilds(StagingApp, "Python version 2.7 is not available")
			},
			step: pushMain2, check: stagingCheck, code: 1, conclusion: "failure",
			running: func(b before) string {
				return fmt.Sprintf("staging (%s) runs v%d (the previous code, %s) with the new config vars set in v%d", StagingApp, b.staging.Version, CommitMain[:12], b.staging.Version+1)
			},
		},
		{
			// Issue item 10: config vars are set before the promotion, whose release then fails.
			name: "promotion fails after prod's config vars were set", before: prodRan,
			setup: func(t *testing.T, w *World) {
				w.Heroku.SetConfigVar(ProdApp, "PANGEO_FORGE_DEPLOYMENT", "set-by-hand")
				// The promotion's connection breaks before Heroku acted on it (a promotion is never
				// resent blindly), once the config vars' release has run its release phase.
				w.Heroku.Disrupt(func(r *http.Request) (herokuapi.Disruption, bool) {
					return herokuapi.Disruption{Delay: 300 * time.Millisecond, Reset: true}, r.Method == http.MethodPost && r.URL.Path == "/pipeline-promotions"
				})
			},
			step: withInputs(promote, "stage", "prod"), check: prodCheck, code: 1, conclusion: "failure",
			running: func(b before) string {
				return fmt.Sprintf("production (%s) runs v%d (the previous code) with the new config vars set in v%d", ProdApp, b.prod.Version, b.prod.Version+1)
			},
			prodAfter: func(b before) string { return b.prod.SlugID },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.GitHub.AddCommit(Repository, main2, SHA("tree-of-second-push"), "Second push", CommitMain)
			for _, s := range tt.before {
				if s.Name == "main-2" {
					w.GitHub.SetBranch(Repository, "main", main2)
				}
				mustRun(t, w, context.Background(), s)
			}
			if tt.step.Name == "main-2" {
				w.GitHub.SetBranch(Repository, "main", main2)
			}
			if tt.setup != nil {
				tt.setup(t, w)
			}
			awaitSettled(t, w) // a config var set by hand runs the release phase too
			b := before{staging: current(w, StagingApp), prod: current(w, ProdApp)}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w.SetAppStatus(func(host, path string) int {
				switch {
				case strings.HasPrefix(host, ProdApp+"-") && tt.prodFails:
					if tt.cancelOnHealth {
						cancel() // as the runner's SIGINT does
					}
					return http.StatusServiceUnavailable
				case strings.HasPrefix(host, StagingApp+"-") && tt.stagingFails:
					return http.StatusServiceUnavailable
				}
				return http.StatusOK
			})
			run, err := w.Run(ctx, tt.step, nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.Code != tt.code {
				t.Fatalf("exit code %d, want %d\n%s", run.Code, tt.code, run.Log)
			}
			want := tt.running(b)
			if !strings.Contains(run.Log, want) {
				t.Errorf("the log does not say %q:\n%s", want, run.Log)
			}
			if !strings.Contains(run.Summary, "**After this run**: "+want) {
				t.Errorf("the job summary does not say %q:\n%s", want, run.Summary)
			}
			cr := checkRunOn(w, tt.step.Checkout, tt.check)
			if cr == nil {
				t.Fatalf("no check run %s on %s", tt.check, tt.step.Checkout)
			}
			if cr.Conclusion != tt.conclusion || !strings.Contains(cr.Summary, "**After this run**: "+want) {
				t.Errorf("check run concluded %q, want %q, saying %q:\n%s", cr.Conclusion, tt.conclusion, want, cr.Summary)
			}
			if run.Outputs["deployed"] == "true" {
				t.Error("deployed=true after a failure")
			}
			if tt.prodAfter != nil {
				awaitCurrent(t, w, ProdApp, tt.prodAfter(b))
			}
			if strings.Contains(run.Log, "within health_timeout") && tt.conclusion == "timed_out" {
				t.Errorf("the run blames health_timeout for running out of time:\n%s", errorLines(run.Log))
			}
			if v := w.Heroku.Violations(); len(v) > 0 {
				t.Errorf("Heroku schema violations: %v", v)
			}
			// The next run proceeds.
			if tt.next.Event != "" {
				w.SetAppStatus(nil)
				mustRun(t, w, context.Background(), tt.next)
			}
		})
	}
}
