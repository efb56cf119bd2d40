package sandbox

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestContainerStackLifecycle: on a pipeline whose apps are on the container stack (a heroku.yml
// app), Heroku cannot promote (Dev Center, Container Registry & Runtime: known issues and
// limitations), so the prod step builds the pushed commit on the production app, and a manual
// promotion builds the dispatched commit. Neither sends a promotion; outputs and summary say why.
func TestContainerStackLifecycle(t *testing.T) {
	t.Parallel()
	steps := Lifecycle()
	dispatch := withInputs(Step{Name: "dispatch-prod", Event: "workflow_dispatch",
		Payload:  map[string]any{"ref": "refs/heads/main", "inputs": map[string]any{}},
		Checkout: CommitMain, SHA: CommitMain, Ref: "refs/heads/main"}, "stage", "prod")
	for _, tc := range []struct {
		name   string
		step   Step
		commit string
		want   []string // in the log and the summary
	}{
		{name: "push to prod", step: steps[3], commit: CommitProd,
			want: []string{"is on the container stack (heroku.yml), which Heroku cannot promote in a pipeline"}},
		{name: "manual promotion", step: dispatch, commit: CommitMain,
			want: []string{"manual promotion builds the dispatched commit " + CommitMain[:7], "is on the container stack"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			ctx := context.Background()
			if err := copyTree(filepath.Join(w.Root, "testdata", "container-app"), w.Workspace); err != nil {
				t.Fatal(err)
			}
			w.Heroku.SetContainerStack(StagingApp)
			w.Heroku.SetContainerStack(ProdApp)

			main := mustRun(t, w, ctx, steps[2])
			if main.Outputs["app"] != StagingApp || main.Outputs["build_id"] == "" {
				t.Fatalf("main outputs = %v, want a build on %s", main.Outputs, StagingApp)
			}
			seen := len(w.Heroku.Requests())
			run := mustRun(t, w, ctx, tc.step)

			var builds, promotions int
			for _, r := range w.Heroku.Requests()[seen:] {
				switch {
				case r.Method == "POST" && strings.HasPrefix(r.Path, "/pipeline-promotions"):
					promotions++
				case r.Method == "POST" && strings.HasSuffix(r.Path, "/builds"):
					if a, ok := w.Heroku.App(ProdApp); !ok || (r.Path != "/apps/"+a.ID+"/builds" && r.Path != "/apps/"+ProdApp+"/builds") {
						t.Errorf("build requested at %s, want it on %s", r.Path, ProdApp)
					}
					builds++
				}
			}
			if builds != 1 || promotions != 0 {
				t.Errorf("prod step sent %d builds and %d promotions, want 1 build on %s and no promotion", builds, promotions, ProdApp)
			}
			if run.Outputs["app"] != ProdApp || run.Outputs["build_id"] == "" || run.Outputs["commit"] != tc.commit {
				t.Errorf("prod outputs = %v, want a build of %s on %s", run.Outputs, tc.commit, ProdApp)
			}
			if b := w.Heroku.Builds(ProdApp); len(b) != 1 || b[0].ID != run.Outputs["build_id"] {
				t.Errorf("builds on %s = %+v, want the one named in build_id %s", ProdApp, b, run.Outputs["build_id"])
			}
			for _, want := range tc.want {
				if !strings.Contains(run.Log, want) {
					t.Errorf("log lacks %q:\n%s", want, run.Log)
				}
				if !strings.Contains(run.Summary, want) {
					t.Errorf("summary lacks %q:\n%s", want, run.Summary)
				}
			}
		})
	}
}
