package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPrepareMatchesRun keeps Prepare honest: a container run of a step must see the environment an
// in-process Run of the same step sees, apart from where the runner's files are.
func TestPrepareMatchesRun(t *testing.T) {
	t.Parallel()
	w, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	step := withInputs(Lifecycle()[0], "dry_run", "true")

	p, err := w.Prepare(step)
	if err != nil {
		t.Fatal(err)
	}
	run, err := w.Run(context.Background(), step, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The runner's files live in different directories; each must exist and be in the world.
	files := []string{"GITHUB_EVENT_PATH", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"}
	withoutFiles := func(env map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range env {
			out[k] = v
		}
		for _, k := range files {
			if !strings.HasPrefix(out[k], w.dir) {
				t.Errorf("%s = %q, want a file in the world's directory", k, out[k])
			}
			if _, err := os.Stat(out[k]); err != nil {
				t.Errorf("%s: %v", k, err)
			}
			delete(out, k)
		}
		return out
	}
	if diff := cmp.Diff(withoutFiles(run.Env), withoutFiles(p.Env)); diff != "" {
		t.Errorf("Prepare's environment differs from Run's (-run +prepare):\n%s", diff)
	}
	if got := filepath.Dir(p.Env["GITHUB_EVENT_PATH"]); got != p.WorkflowDir {
		t.Errorf("event file in %q, want it in the workflow directory %q", got, p.WorkflowDir)
	}
	for _, k := range []string{"GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"} {
		if got := filepath.Dir(p.Env[k]); got != p.FileCommandsDir {
			t.Errorf("%s in %q, want it in the file commands directory %q", k, got, p.FileCommandsDir)
		}
	}
	payload, err := os.ReadFile(p.Env["GITHUB_EVENT_PATH"])
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(run.Env["GITHUB_EVENT_PATH"])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(payload)); diff != "" {
		t.Errorf("event payload differs (-run +prepare):\n%s", diff)
	}

	// Result reads the files a process left behind as Run does.
	if err := os.WriteFile(p.Env["GITHUB_OUTPUT"], []byte("stage<<EOF_1\nreview\nEOF_1\ndeployed<<EOF_2\nfalse\nEOF_2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Env["GITHUB_STEP_SUMMARY"], []byte("### deploy/review\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := p.Result(0, "log", "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"stage": "review", "deployed": "false"}, got.Outputs); diff != "" {
		t.Errorf("outputs (-want +got):\n%s", diff)
	}
	if got.Summary != "### deploy/review\n" || got.Log != "log" || got.Code != 0 {
		t.Errorf("Result = %+v, want the summary, log and code given", got)
	}
}
