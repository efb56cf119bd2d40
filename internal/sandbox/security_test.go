package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsFileMustBeRegular: a pull request that replaces its review secrets file by a symlink,
// to a file outside the secrets directory or to the prod file beside it, gets its run refused before
// anything is decrypted or written.
func TestSecretsFileMustBeRegular(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target func(w *World) string
	}{
		{"symlink out of the secrets directory", func(w *World) string {
			outside := filepath.Join(w.dir, "outside.yaml")
			data, err := os.ReadFile(filepath.Join(w.Workspace, "secrets", "config.pangeo-forge.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(outside, data, 0o644); err != nil {
				t.Fatal(err)
			}
			return outside
		}},
		{"symlink to the prod file beside it", func(*World) string { return "config.pangeo-forge.yaml" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			file := filepath.Join(w.Workspace, "secrets", "config.pforge-pr-80.yaml")
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(tt.target(w), file); err != nil {
				t.Skipf("cannot make symlinks here: %v", err)
			}
			run, err := w.Run(context.Background(), Lifecycle()[0], nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.Code != 1 || !strings.Contains(run.Log, "is a symlink, not a regular file") {
				t.Errorf("exit code %d, want 1 with an error naming the symlink:\n%s", run.Code, run.Log)
			}
			if strings.Contains(run.Log, "Decrypted") || masks(run.Log) != 2 {
				t.Errorf("the refused file was decrypted:\n%s", run.Log)
			}
			if got := writes(w.Heroku.Requests()); len(got) != 0 {
				t.Errorf("a refused run wrote to Heroku: %v", got)
			}
		})
	}
}

// TestReviewNamedLikeProdIsRefused: review_name or review_fallback equal to a protected
// deployment's name is bad input: exit 2 before any request or decryption.
func TestReviewNamedLikeProdIsRefused(t *testing.T) {
	t.Parallel()
	for _, input := range []string{"review_name", "review_fallback"} {
		t.Run(input, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			run, err := w.Run(context.Background(), withInputs(Lifecycle()[0], input, "pangeo-forge"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.Code != 2 || !strings.Contains(run.Log, "input "+input+": the review deployment \"pangeo-forge\" is also the prod deployment") {
				t.Errorf("exit code %d, want 2 naming the input:\n%s", run.Code, run.Log)
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

// masks counts the ::add-mask:: commands of a log: the action masks its two credentials (the Heroku
// key and the GitHub token) first, and each decrypted value after them.
func masks(log string) int {
	return strings.Count(log, "::add-mask::")
}
