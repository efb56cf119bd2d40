package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSymlinkedDirsRefused: app_dir or secrets_dir that a symlink in the checkout leads out of the
// workspace (to the container's /github/home, or /github/file_commands where other steps' outputs
// are) is refused as bad input, naming the input: exit 2, nothing decrypted, no request to Heroku.
func TestSymlinkedDirsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		input string
		value string
		link  string // the symlink made in the workspace, pointing at the outside directory
	}{
		{"app_dir is a symlink", "app_dir", "app", "app"},
		{"app_dir under a symlinked directory", "app_dir", "services/api", "services"},
		{"secrets_dir is a symlink", "secrets_dir", "secrets", "secrets"},
		{"secrets_dir under a symlinked directory", "secrets_dir", "config/secrets", "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			// The outside directory is a complete app with the secrets beside it: without the
			// check, the run would deploy it, or decrypt the secrets found there.
			outside := filepath.Join(w.dir, "home")
			if err := copyTree(w.Workspace, filepath.Join(outside, "api")); err != nil {
				t.Fatal(err)
			}
			if err := copyTree(filepath.Join(w.Workspace, "secrets"), filepath.Join(outside, "secrets")); err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(outside, "api")
			if strings.HasSuffix(tt.value, "secrets") && tt.link == tt.value {
				target = filepath.Join(outside, "secrets")
			}
			if tt.link != tt.value { // services -> outside, with api (or secrets) inside it
				target = outside
			}
			if tt.link == "secrets" {
				if err := os.RemoveAll(filepath.Join(w.Workspace, "secrets")); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(target, filepath.Join(w.Workspace, tt.link)); err != nil {
				t.Skipf("cannot make symlinks here: %v", err)
			}
			run, err := w.Run(context.Background(), withInputs(Lifecycle()[2], tt.input, tt.value), nil)
			if err != nil {
				t.Fatal(err)
			}
			want := `input "` + tt.input + `": ` + tt.value + ` leads out of the workspace through a symlink`
			if run.Code != 2 || !strings.Contains(run.Log, want) {
				t.Errorf("exit code %d, want 2 with %q:\n%s", run.Code, want, run.Log)
			}
			if n := len(w.Heroku.Requests()); n != 0 {
				t.Errorf("%d requests to Heroku, want none", n)
			}
			if masks(run.Log) != 2 {
				t.Errorf("something was decrypted:\n%s", run.Log)
			}
		})
	}
}
