package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pangeo-forge/deploy-action/internal/cli"
	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest"
)

// TestCheckSecretsStage runs the action with stage: check-secrets as the
// runner would (no Heroku key: forks run it too) and checks the annotations.
func TestCheckSecretsStage(t *testing.T) {
	t.Parallel()
	_, recipient := sopstest.NewAgeKey(t)
	good := sopstest.EncryptYAML(t, []byte("token: fake-stage-token\n"), sopstest.Options{Age: []string{recipient}})

	tests := []struct {
		name     string
		files    map[string][]byte
		wantCode int
		want     []string // lines of stdout, in order, among others
		wantNot  []string
	}{
		{
			name:     "sound files",
			files:    map[string][]byte{"config.pangeo-forge.yaml": good, "config.pforge-pr-1.yaml": good},
			wantCode: cli.ExitOK,
			want:     []string{"check-secrets: OK, 2 files are SOPS-encrypted"},
			wantNot:  []string{"::error"},
		},
		{
			name:     "one annotation per problem, on its file",
			files:    map[string][]byte{"config.pangeo-forge.yaml": good, "config.leak.yaml": []byte("token: hunter2-fake\n"), "config.x.toml": []byte("a = 1\n")},
			wantCode: cli.ExitFailure,
			want: []string{
				"::error file=secrets/config.leak.yaml,title=check-secrets::it is not encrypted with sops (no sops metadata) — encrypt it with sops --encrypt --in-place secrets/config.leak.yaml and never commit the plaintext (if plaintext was pushed, rotate those secrets)",
				`::error file=secrets/config.x.toml,title=check-secrets::the file type ".toml" is not supported — keep secrets in sops-encrypted YAML (.yaml, .yml) or JSON (.json) files`,
				"::error::check-secrets: 2 problems in 2 files of 3 files checked: every file in secrets must be SOPS-encrypted (see the annotations above)",
			},
			wantNot: []string{"hunter2-fake"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ws := t.TempDir()
			for name, data := range tc.files {
				p := filepath.Join(ws, "secrets", name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			eventPath := filepath.Join(t.TempDir(), "event.json")
			if err := os.WriteFile(eventPath, []byte(`{"ref": "refs/heads/main", "inputs": {"stage": "check-secrets"}, "sender": {"login": "octocat"}}`), 0o600); err != nil {
				t.Fatal(err)
			}
			files := t.TempDir()
			for _, f := range []string{"output", "summary"} {
				if err := os.WriteFile(filepath.Join(files, f), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			env := map[string]string{
				"GITHUB_ACTIONS":      "true",
				"GITHUB_WORKSPACE":    ws,
				"GITHUB_EVENT_NAME":   "workflow_dispatch",
				"GITHUB_EVENT_PATH":   eventPath,
				"GITHUB_SHA":          "0123456789abcdef0123456789abcdef01234567",
				"GITHUB_REF":          "refs/heads/main",
				"GITHUB_OUTPUT":       filepath.Join(files, "output"),
				"GITHUB_STEP_SUMMARY": filepath.Join(files, "summary"),
				"INPUT_STAGE":         "check-secrets",
			}
			var stdout, stderr bytes.Buffer
			code := cli.Main(context.Background(), cli.Env{
				Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] },
			})
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			lines := strings.Split(stdout.String(), "\n")
			i := 0
			for _, l := range lines {
				if i < len(tc.want) && l == tc.want[i] {
					i++
				}
			}
			if i < len(tc.want) {
				t.Errorf("stdout lacks the line %q (in order)", tc.want[i])
			}
			for _, s := range tc.wantNot {
				if strings.Contains(stdout.String()+stderr.String(), s) {
					t.Errorf("output contains %q", s)
				}
			}
		})
	}
}
