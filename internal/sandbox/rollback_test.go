package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
)

// TestRollbackStage: `stage: rollback` from workflow_dispatch puts an app back on an earlier
// release (by default the newest that ran other code), waits for it, names the config vars that
// change and the release phases it does not undo, and reports the commit that runs again. What it
// cannot do (an expired release, a pull request's run) it refuses before any write.
func TestRollbackStage(t *testing.T) {
	t.Parallel()
	steps := Lifecycle()
	main2 := SHA("second-push-to-main")
	dispatch := func(kv ...string) Step {
		return withInputs(Step{Event: "workflow_dispatch", Payload: map[string]any{"ref": "refs/heads/main", "inputs": map[string]any{}},
			Checkout: main2, SHA: main2, Ref: "refs/heads/main"}, append([]string{"stage", "rollback"}, kv...)...)
	}
	// The history every case starts from: prod promoted from the first push to main (commit
	// CommitMain), then from a second push (main2), then given a setting by hand.
	history := func(t *testing.T, w *World) (first herokuapi.Release) {
		ctx := context.Background()
		w.GitHub.AddCommit(Repository, main2, SHA("tree-of-second-push"), "Second push", CommitMain)
		mustRun(t, w, ctx, steps[2])
		mustRun(t, w, ctx, steps[3])
		first = currentRelease(t, w, ProdApp)
		w.GitHub.SetBranch(Repository, "main", main2)
		mustRun(t, w, ctx, Step{Name: "main-2", Event: "push", Payload: PushEvent("refs/heads/main", CommitMain, main2), Checkout: main2, SHA: main2, Ref: "refs/heads/main"})
		mustRun(t, w, ctx, withInputs(Step{Event: "workflow_dispatch", Payload: map[string]any{"ref": "refs/heads/main", "inputs": map[string]any{}}, Checkout: main2, SHA: main2, Ref: "refs/heads/main"}, "stage", "prod"))
		w.Heroku.SetConfigVar(ProdApp, "NEW_SETTING", "rollback-test-value-7f3a")
		// That release runs prod's release phase: let it settle, so that prod's current release is
		// the same before and after a run that changes nothing.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			rels := w.Heroku.Releases(ProdApp)
			if rels[len(rels)-1].Status != "pending" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("prod's config var release is still pending")
			}
		}
		return first
	}
	tests := []struct {
		name       string
		step       func(first herokuapi.Release) Step
		prepare    func(w *World, first herokuapi.Release)
		code       int
		want       []string // in the log
		wantTarget bool     // prod runs the first promotion's slug afterwards, through one rollback request
	}{
		{
			name: "default: the newest earlier release that ran other code",
			step: func(herokuapi.Release) Step { return dispatch() },
			want: []string{"config vars the rollback restores (unset: NEW_SETTING)", "are not undone", herokuapi.ReleaseCommand, "The next push to main deploys again"},
			code: 0, wantTarget: true,
		},
		{
			name: "a version given as rollback_to",
			step: func(first herokuapi.Release) Step { return dispatch("rollback_to", fmt.Sprintf("v%d", first.Version)) },
			code: 0, wantTarget: true,
		},
		{
			name:    "an expired release is refused",
			prepare: func(w *World, first herokuapi.Release) { w.Heroku.ExpireRelease(ProdApp, first.Version) },
			step:    func(first herokuapi.Release) Step { return dispatch("rollback_to", fmt.Sprint(first.Version)) },
			code:    1, want: []string{"has expired"},
		},
		{
			name: "an unknown version is refused",
			step: func(herokuapi.Release) Step { return dispatch("rollback_to", "v999") },
			code: 1, want: []string{"has no release v999"},
		},
		{
			name: "the current release: nothing to do",
			step: func(herokuapi.Release) Step {
				return dispatch("rollback_to", "current") // replaced below by the current version
			},
			code: 0, want: []string{"nothing to roll back"},
		},
		{
			name: "not on a pull request",
			step: func(herokuapi.Release) Step { return withInputs(steps[0], "stage", "rollback") },
			code: 2, want: []string{"stage rollback does not run on pull_request events"},
		},
		{
			name: "dry run reads and changes nothing",
			step: func(herokuapi.Release) Step { return dispatch("dry_run", "true") },
			code: 0, want: []string{"Dry run: would roll " + ProdApp + " back to v"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			first := history(t, w)
			if tt.prepare != nil {
				tt.prepare(w, first)
			}
			before := currentRelease(t, w, ProdApp)
			step := tt.step(first)
			if step.Inputs["rollback_to"] == "current" {
				step.Inputs["rollback_to"] = fmt.Sprint(before.Version)
			}
			reqs := len(w.Heroku.Requests())
			run, err := w.Run(context.Background(), step, nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.Code != tt.code {
				t.Fatalf("exit code %d, want %d\n%s", run.Code, tt.code, run.Log)
			}
			for _, want := range tt.want {
				if !strings.Contains(run.Log, want) {
					t.Errorf("the log does not say %q:\n%s", want, run.Log)
				}
			}
			if strings.Contains(run.Log+run.Summary, "rollback-test-value-7f3a") {
				t.Errorf("a config var's value reached the log or the summary")
			}
			posts := writes(w.Heroku.Requests()[reqs:])
			after := currentRelease(t, w, ProdApp)
			if !tt.wantTarget {
				if len(posts) != 0 || after.ID != before.ID {
					t.Errorf("wrote %v and prod went from v%d to v%d; want no write", posts, before.Version, after.Version)
				}
				return
			}
			// One rollback request, naming the target release; prod then runs its slug and config.
			var bodies []string
			for _, r := range w.Heroku.Requests()[reqs:] {
				if r.Method == "POST" {
					bodies = append(bodies, r.Path+" "+string(r.Body))
				}
			}
			if len(posts) != 1 || len(bodies) != 1 {
				t.Fatalf("writes %v, want one POST of a rollback", posts)
			}
			var body struct{ Release string }
			if err := json.Unmarshal([]byte(strings.SplitN(bodies[0], " ", 2)[1]), &body); err != nil || body.Release != first.ID {
				t.Errorf("rollback request %s, want release %s (v%d)", bodies[0], first.ID, first.Version)
			}
			if after.SlugID != first.SlugID || after.Version <= before.Version {
				t.Errorf("prod runs v%d (slug %s), want a new release of the slug of v%d (%s)", after.Version, after.SlugID, first.Version, first.SlugID)
			}
			if _, set := w.Heroku.ConfigVars(ProdApp)["NEW_SETTING"]; set {
				t.Errorf("NEW_SETTING is still set after the rollback")
			}
			if got := run.Outputs; got["stage"] != "rollback" || got["deployed"] != "true" || got["app"] != ProdApp ||
				got["commit"] != CommitMain || got["release"] != fmt.Sprint(after.Version) {
				t.Errorf("outputs = %v", got)
			}
			// GitHub: the check run succeeded; the deployment of the commit that runs again is live.
			runs := w.GitHub.CheckRuns(Repository)
			if last := runs[len(runs)-1]; last.Name != "deploy/rollback" || last.Conclusion != "success" {
				t.Errorf("last check run %s: %s, want deploy/rollback: success", last.Name, last.Conclusion)
			}
			var live bool
			for _, d := range w.GitHub.Deployments(Repository) {
				if d.SHA == CommitMain && d.Environment == "pangeo-forge" && len(d.Statuses) > 0 &&
					d.Statuses[len(d.Statuses)-1].State == "success" && strings.Contains(d.Statuses[len(d.Statuses)-1].Description, "Rolled") {
					live = true
				}
			}
			if !live {
				t.Errorf("no deployment of %s to pangeo-forge says it was rolled back to: %+v", CommitMain, w.GitHub.Deployments(Repository))
			}
		})
	}
}

func currentRelease(t *testing.T, w *World, app string) herokuapi.Release {
	t.Helper()
	for _, rel := range w.Heroku.Releases(app) {
		if rel.Current {
			return rel
		}
	}
	t.Fatalf("%s has no current release", app)
	return herokuapi.Release{}
}
