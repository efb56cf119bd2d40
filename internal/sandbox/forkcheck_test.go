package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckSecretsRunsOnForks: a fork's pull request is where a plaintext secrets file arrives, and
// the encryption check needs no secret, so `stage: check-secrets` runs on it. The run has what
// GitHub gives a fork's pull_request run (no secrets: no Heroku key, no age key) and fails with the
// finding on the file; nothing is written to GitHub (a fork's token cannot write checks) and Heroku
// is never called.
func TestCheckSecretsRunsOnForks(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const plaintext = "fastapi:\n  PANGEO_FORGE_API_KEY: fork-plaintext-value-7c1\n"
	if err := os.WriteFile(filepath.Join(w.Workspace, "secrets", "config.pforge-pr-81.yaml"), []byte(plaintext), 0o644); err != nil {
		t.Fatal(err)
	}
	step := withInputs(Step{
		Event: "pull_request", Payload: fork("synchronize"), Checkout: CommitOpened,
		SHA: SHA("merge"), Ref: "refs/pull/80/merge",
	}, "stage", "check-secrets", "heroku_api_key", "", "pipeline", "")
	step.Env = map[string]string{"SOPS_AGE_KEY": ""}
	run, err := w.Run(context.Background(), step, nil)
	if err != nil {
		t.Fatal(err)
	}
	if run.Code != 1 {
		t.Fatalf("exit code %d, want 1 (a plaintext file):\n%s", run.Code, run.Log)
	}
	finding := "::error file=secrets/config.pforge-pr-81.yaml,title=check-secrets::it is not encrypted with sops (no sops metadata)"
	if !strings.Contains(run.Log, finding) {
		t.Errorf("the log lacks the finding %q:\n%s", finding, run.Log)
	}
	if strings.Contains(run.Log, "fork-plaintext-value-7c1") || strings.Contains(run.Summary, "fork-plaintext-value-7c1") {
		t.Errorf("the plaintext value was printed:\n%s", run.Log)
	}
	if got := run.Outputs["stage"]; got != "check-secrets" {
		t.Errorf("stage output = %q, want check-secrets", got)
	}
	for _, r := range w.GitHub.Requests() {
		if r.Method != "GET" && r.Method != "HEAD" {
			t.Errorf("a fork's run wrote to GitHub: %s %s", r.Method, r.Path)
		}
	}
	if n := len(w.Heroku.Requests()); n != 0 {
		t.Errorf("%d requests to Heroku, want none", n)
	}
}
