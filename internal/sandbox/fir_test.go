package sandbox

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
)

// TestFirLifecycle runs the seed's lifecycle on a pipeline of Heroku's Fir generation, where builds
// make OCI images and releases carry no slug: the review app and staging are built, prod is
// promoted staging's release by its ID and runs staging's image, and every rerun (review app,
// staging, prod) finds the commit already running, by the image, and changes nothing.
func TestFirLifecycle(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Heroku.SetFir(Pipeline)
	ctx := context.Background()
	steps := Lifecycle()
	rerun := func(step Step, notice string) {
		t.Helper()
		before := w.state(t)
		run := mustRun(t, w, ctx, step)
		if diff := cmp.Diff(before, w.state(t)); diff != "" {
			t.Errorf("%s: the rerun changed the state (-first run +rerun):\n%s", step.Name, diff)
		}
		if !strings.Contains(run.Log, notice) {
			t.Errorf("%s: the rerun's log does not say %q:\n%s", step.Name, notice, run.Log)
		}
	}

	mustRun(t, w, ctx, steps[0])
	updated := mustRun(t, w, ctx, steps[1])
	rerun(steps[1], "not building it again")
	if rels := w.Heroku.Releases(updated.Outputs["app"]); rels[len(rels)-1].ImageID == "" || rels[len(rels)-1].Commit != CommitUpdated {
		t.Errorf("the review app's release = %+v, want an OCI image of %s", rels[len(rels)-1], CommitUpdated)
	}

	main := mustRun(t, w, ctx, steps[2])
	rerun(steps[2], "not building it again")
	stg := w.Heroku.Releases(StagingApp)
	built := stg[len(stg)-1]
	if built.SlugID != "" || built.ImageID == "" || built.Commit != CommitMain || main.Outputs["build_id"] == "" {
		t.Fatalf("staging's release = %+v (build %q), want an OCI image of %s and no slug", built, main.Outputs["build_id"], CommitMain)
	}

	seen := len(w.Heroku.Requests())
	prod := mustRun(t, w, ctx, steps[3])
	var promotions []map[string]any
	for _, r := range w.Heroku.Requests()[seen:] {
		if r.Method == "POST" && r.Path == "/pipeline-promotions" {
			var body map[string]any
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatal(err)
			}
			promotions = append(promotions, body)
		}
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/builds") {
			t.Errorf("prod built (%s) instead of promoting", r.Path)
		}
	}
	if len(promotions) != 1 {
		t.Fatalf("prod sent %d promotions, want 1", len(promotions))
	}
	if got := promotions[0]["source"].(map[string]any)["release"]; !cmp.Equal(got, map[string]any{"id": built.ID}) {
		t.Errorf("the promotion's source.release = %v, want staging's release %s", got, built.ID)
	}
	pr := w.Heroku.Releases(ProdApp)
	if now := pr[len(pr)-1]; now.ImageID != built.ImageID || now.Status != "succeeded" {
		t.Errorf("prod's release = %+v, want staging's OCI image %s", now, built.ImageID)
	}
	if prod.Outputs["app"] != ProdApp || prod.Outputs["deployed"] != "true" || prod.Outputs["commit"] != CommitMain {
		t.Errorf("prod outputs = %v, want %s deployed with staging's commit %s", prod.Outputs, ProdApp, CommitMain)
	}
	rerun(steps[3], "already runs the OCI image of "+StagingApp)

	mustRun(t, w, ctx, steps[4])
	for _, r := range w.Heroku.Requests() {
		if strings.Contains(r.Path, "/slugs/") {
			t.Errorf("a Fir run asked for a slug: %s %s", r.Method, r.Path)
		}
	}
	if v := w.Heroku.Violations(); len(v) > 0 {
		t.Errorf("Heroku schema violations: %v", v)
	}
}

// TestFirRefusals: what Heroku does not offer on a Fir pipeline (Heroku CI; the Cedar app an app
// setup makes) fails the run before any write to Heroku, with a message naming the Fir limitation.
func TestFirRefusals(t *testing.T) {
	t.Parallel()
	steps := Lifecycle()
	for _, tt := range []struct {
		name string
		step Step
		want string
	}{
		{name: "heroku_ci before staging", step: withInputs(steps[2], "heroku_ci", "true"),
			want: "Heroku CI is not available for Fir-generation pipelines"},
		{name: "heroku_ci before a review app", step: withInputs(steps[0], "heroku_ci", "true"),
			want: "Heroku CI is not available for Fir-generation pipelines"},
		{name: "stage test", step: withInputs(steps[0], "stage", "test"),
			want: "drop stage: test"},
		{name: "app-setup review apps", step: withInputs(steps[0], "review_mode", "app-setup"),
			want: "review_mode app-setup: pipeline " + Pipeline + " is of Heroku's Fir generation"},
		{name: "dry run", step: withInputs(steps[2], "heroku_ci", "true", "dry_run", "true"),
			want: "Heroku CI is not available for Fir-generation pipelines"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.Heroku.SetFir(Pipeline)
			ctx := context.Background()
			run, err := w.Run(ctx, tt.step, nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.Code != 1 {
				t.Errorf("exit code %d, want 1", run.Code)
			}
			if got := writes(w.Heroku.Requests()); len(got) != 0 {
				t.Errorf("the refused run wrote to Heroku: %v", got)
			}
			if lines := errorLines(run.Log); len(lines) != 1 || !strings.Contains(lines[0], tt.want) || !strings.Contains(lines[0], "Fir") {
				t.Errorf("error lines = %q, want one naming the Fir limitation (%q)", lines, tt.want)
			}
			if !strings.Contains(run.Summary, tt.want) {
				t.Errorf("the summary does not say %q:\n%s", tt.want, run.Summary)
			}
			if v := w.Heroku.Violations(); len(v) > 0 {
				t.Errorf("Heroku schema violations: %v", v)
			}
		})
	}
}

// TestFirRollback: `stage: rollback` on a Fir pipeline finds the release that ran other code by
// its OCI image, reads the release phase from the image, and puts prod back on the older image.
func TestFirRollback(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.Heroku.SetFir(Pipeline)
	ctx := context.Background()
	steps := Lifecycle()
	main2 := SHA("second-push-to-main")
	w.GitHub.AddCommit(Repository, main2, SHA("tree-of-second-push"), "Second push", CommitMain)
	mustRun(t, w, ctx, steps[2])
	mustRun(t, w, ctx, steps[3])
	first := currentRelease(t, w, ProdApp)
	w.GitHub.SetBranch(Repository, "main", main2)
	dispatch := func(kv ...string) Step {
		return withInputs(Step{Event: "workflow_dispatch", Payload: map[string]any{"ref": "refs/heads/main", "inputs": map[string]any{}},
			Checkout: main2, SHA: main2, Ref: "refs/heads/main"}, kv...)
	}
	mustRun(t, w, ctx, Step{Name: "main-2", Event: "push", Payload: PushEvent("refs/heads/main", CommitMain, main2), Checkout: main2, SHA: main2, Ref: "refs/heads/main"})
	mustRun(t, w, ctx, dispatch("stage", "prod"))
	if second := currentRelease(t, w, ProdApp); second.ImageID == first.ImageID || second.Commit != main2 {
		t.Fatalf("prod after the second promotion runs %+v, want main2's image", second)
	}

	run := mustRun(t, w, ctx, dispatch("stage", "rollback"))
	now := currentRelease(t, w, ProdApp)
	if now.ImageID != first.ImageID || now.Commit != CommitMain || now.Version <= first.Version {
		t.Errorf("prod after the rollback runs %+v, want a new release of the first image %s (%s)", now, first.ImageID, CommitMain)
	}
	if run.Outputs["commit"] != CommitMain || run.Outputs["deployed"] != "true" {
		t.Errorf("rollback outputs = %v, want commit %s deployed", run.Outputs, CommitMain)
	}
	if !strings.Contains(run.Log, herokuapi.ReleaseCommand) {
		t.Errorf("the rollback does not name the release phase its image runs again (%q):\n%s", herokuapi.ReleaseCommand, run.Log)
	}
	if v := w.Heroku.Violations(); len(v) > 0 {
		t.Errorf("Heroku schema violations: %v", v)
	}
}
