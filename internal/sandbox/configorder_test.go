package sandbox

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pangeo-forge/deploy-action/internal/deploy"
	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
)

// TestConfigVarsLeaveAfterTheRelease: a var that left the secrets file is unset only once the new
// code has passed its release phase (and health check), in a second release: the old code, which
// runs until then, may still read it. Added and changed vars are set before the build. A run that
// fails in between leaves the var set and still managed, and the next run unsets it.
func TestConfigVarsLeaveAfterTheRelease(t *testing.T) {
	t.Parallel()
	const removed = "ORCHESTRATOR_MAX_WORKERS"
	main2 := SHA("push-without-max-workers")
	push2 := Step{Name: "main-2", Event: "push", Payload: PushEvent("refs/heads/main", CommitMain, main2), Checkout: main2, SHA: main2, Ref: "refs/heads/main"}
	for _, failFirst := range []bool{false, true} {
		name := map[bool]string{false: "deploy passes", true: "build fails, next run passes"}[failFirst]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			ctx := context.Background()
			mustRun(t, w, ctx, Lifecycle()[2])
			if _, ok := w.Heroku.ConfigVars(StagingApp)[removed]; !ok {
				t.Fatalf("staging's first deploy did not set %s", removed)
			}
			w.GitHub.AddCommit(Repository, main2, SHA("tree-without-max-workers"), "Drop max_workers", CommitMain)
			w.GitHub.SetBranch(Repository, "main", main2)
			writeFile(t, filepath.Join(w.Workspace, "secrets", StagingSecrets), string(reencrypted(t, w, "pangeo-forge-staging", func(doc map[string]any) {
				delete(doc["orchestrator"].(map[string]any), "max_workers")
				doc["orchestrator"].(map[string]any)["log_level"] = "info" // and one var is added
			})))

			if failFirst {
				w.Heroku.FailBuilds(StagingApp, "the build broke")
				run, err := w.Run(ctx, push2, nil)
				if err != nil {
					t.Fatal(err)
				}
				if run.Code != 1 {
					t.Fatalf("exit code %d, want 1\n%s", run.Code, run.Log)
				}
				vars := w.Heroku.ConfigVars(StagingApp)
				if _, ok := vars[removed]; !ok || !slices.Contains(strings.Split(vars[deploy.ManagedVar], ","), removed) {
					t.Fatalf("after a failed build %s is unset or no longer managed (%s): the old code lost it", removed, vars[deploy.ManagedVar])
				}
				if _, ok := vars["ORCHESTRATOR_LOG_LEVEL"]; !ok {
					t.Errorf("the added var was not set before the build")
				}
				w.Heroku.FailBuilds(StagingApp, "")
			}

			before := len(w.Heroku.Requests())
			run := mustRun(t, w, ctx, push2)
			reqs := w.Heroku.Requests()[before:]
			vars := w.Heroku.ConfigVars(StagingApp)
			if _, ok := vars[removed]; ok {
				t.Errorf("%s is still set after the deploy", removed)
			}
			if slices.Contains(strings.Split(vars[deploy.ManagedVar], ","), removed) {
				t.Errorf("%s is still in %s", removed, deploy.ManagedVar)
			}
			// The unset is the last write, after the build's release succeeded.
			var order []string
			for _, r := range reqs {
				switch {
				case r.Method == "PATCH" && strings.HasSuffix(r.Path, "/config-vars"):
					if strings.Contains(string(r.Body), `"`+removed+`":null`) {
						order = append(order, "unset")
					} else {
						order = append(order, "set")
					}
				case r.Method == "POST" && strings.Contains(r.Path, "/builds"):
					order = append(order, "build")
				}
			}
			want := []string{"set", "build", "unset"}
			if failFirst {
				want = []string{"build", "unset"} // the added var was set by the failed run
			}
			if !slices.Equal(order, want) {
				t.Errorf("config writes and builds in order %v, want %v", order, want)
			}
			if last := lastWrite(reqs); last.Method != "PATCH" {
				t.Errorf("last write %s %s, want the unset", last.Method, last.Path)
			}
			if !strings.Contains(run.Summary, "unset "+removed) || !strings.Contains(run.Summary, "release of its own") {
				t.Errorf("the summary does not say that %s was unset in a release of its own:\n%s", removed, run.Summary)
			}
		})
	}
}

func lastWrite(reqs []herokuapi.Request) herokuapi.Request {
	var last herokuapi.Request
	for _, r := range reqs {
		if r.Method != "GET" && r.Method != "HEAD" {
			last = r
		}
	}
	return last
}
