package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"go.yaml.in/yaml/v3"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
	"github.com/pangeo-forge/deploy-action/internal/secrets"
	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest"
)

// rotated is the file of deployment encrypted anew for the demo key: the same plaintext under a
// data key of its own, what `sops rotate -i` makes of a copy.
func rotated(t *testing.T, w *World, deployment string) []byte {
	t.Helper()
	return reencrypted(t, w, deployment, nil)
}

// reencrypted is the file of deployment decrypted, changed by edit (when not nil) and encrypted
// anew for the demo key.
func reencrypted(t *testing.T, w *World, deployment string, edit func(doc map[string]any)) []byte {
	t.Helper()
	doc, err := secrets.DecryptFile(context.Background(), filepath.Join(w.Root, "secrets", secrets.FileName(deployment)), secrets.Options{
		Getenv: func(k string) string {
			if k == "SOPS_AGE_KEY" {
				return w.AgeKey
			}
			return ""
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(doc)
	}
	plain, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(lastLine(w.AgeKey)))
	if err != nil {
		t.Fatal(err)
	}
	return sopstest.EncryptYAML(t, plain, sopstest.Options{Age: []string{id.Recipient().String()}})
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestCopiedSecretsRefused: a pull request whose review file (its own, or the review_fallback file
// it falls back to) is a copy of the staging or production file, as those are on main and prod on
// GitHub, is refused before any write to Heroku: exit 1, the check run concluded failure with the
// message naming both files and `sops rotate -i`. The same content encrypted anew passes. The
// files compared are read from GitHub, not from the checkout: a pull request that also changes
// its own copy of the production file changes nothing.
func TestCopiedSecretsRefused(t *testing.T) {
	t.Parallel()
	const review = "secrets/config.pforge-pr-80.yaml"
	tests := []struct {
		name    string
		inputs  []string
		prepare func(t *testing.T, w *World) // lays out the pull request's checkout
		refused string                       // "" when the run must deploy
	}{
		{
			name: "byte copy of the production file",
			prepare: func(t *testing.T, w *World) {
				writeFile(t, filepath.Join(w.Workspace, review), string(w.mustReadSecrets(ProdSecrets)))
			},
			refused: "refusing secrets/config.pforge-pr-80.yaml: it shares its data key with secrets/config.pangeo-forge.yaml on branch prod, the production secrets file",
		},
		{
			name: "byte copy of the staging file, and the checkout's staging file replaced",
			prepare: func(t *testing.T, w *World) {
				writeFile(t, filepath.Join(w.Workspace, review), string(w.mustReadSecrets(StagingSecrets)))
				// What the pull request has as staging's file does not matter: GitHub's main does.
				writeFile(t, filepath.Join(w.Workspace, "secrets", StagingSecrets), string(rotated(t, w, "pangeo-forge-staging")))
			},
			refused: "refusing secrets/config.pforge-pr-80.yaml: it shares its data key with secrets/config.pangeo-forge-staging.yaml on branch main, the staging secrets file",
		},
		{
			name:   "the review_fallback file overwritten by a copy of the production file",
			inputs: []string{"review_fallback", "dev-app-proxy"},
			prepare: func(t *testing.T, w *World) {
				if err := os.Remove(filepath.Join(w.Workspace, review)); err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(w.Workspace, "secrets", "config.dev-app-proxy.yaml"), string(w.mustReadSecrets(ProdSecrets)))
			},
			refused: "refusing secrets/config.dev-app-proxy.yaml: it shares its data key with secrets/config.pangeo-forge.yaml on branch prod, the production secrets file",
		},
		{
			name: "the production file rotated (sops rotate -i) passes",
			prepare: func(t *testing.T, w *World) {
				writeFile(t, filepath.Join(w.Workspace, review), string(rotated(t, w, "pangeo-forge")))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			tt.prepare(t, w)
			step := withInputs(Lifecycle()[0], tt.inputs...)
			run, err := w.Run(context.Background(), step, nil)
			if err != nil {
				t.Fatal(err)
			}
			// The two files were read from GitHub at their branches, at once.
			var reads []string
			for _, r := range w.GitHub.Requests() {
				if strings.Contains(r.Path, "/contents/") {
					reads = append(reads, r.Path+"?ref="+r.Query.Get("ref"))
				}
			}
			wantReads := []string{
				"/repos/" + Repository + "/contents/secrets/config.pangeo-forge-staging.yaml?ref=main",
				"/repos/" + Repository + "/contents/secrets/config.pangeo-forge.yaml?ref=prod",
			}
			if len(reads) != 2 || !(reads[0] == wantReads[0] && reads[1] == wantReads[1] || reads[0] == wantReads[1] && reads[1] == wantReads[0]) {
				t.Errorf("GitHub contents reads = %v, want %v", reads, wantReads)
			}
			if v := w.GitHub.Violations(); len(v) > 0 {
				t.Errorf("GitHub violations: %v", v)
			}
			if tt.refused == "" {
				if run.Code != 0 || run.Outputs["deployed"] != "true" {
					t.Fatalf("exit code %d, deployed=%q; want a deploy:\n%s", run.Code, run.Outputs["deployed"], run.Log)
				}
				return
			}
			if run.Code != 1 {
				t.Errorf("exit code %d, want 1:\n%s", run.Code, run.Log)
			}
			if !strings.Contains(run.Log, tt.refused) || !strings.Contains(run.Log, "sops rotate -i") {
				t.Errorf("the log lacks %q and sops rotate -i:\n%s", tt.refused, run.Log)
			}
			if got := writes(w.Heroku.Requests()); len(got) != 0 {
				t.Errorf("a refused run wrote to Heroku: %v", got)
			}
			cr := checkRunOf(w, step)
			if cr == nil || cr.Conclusion != "failure" || !strings.Contains(cr.Title+cr.Summary+cr.Text, tt.refused) {
				t.Errorf("check run = %+v, want failure with %q", cr, tt.refused)
			}
		})
	}
}

// TestCopiedSecretsCheckFailsClosed: when GitHub cannot say what production's file is, a review
// run is refused before any write to Heroku, saying why; a branch without the file is nothing to
// compare with, and the run deploys.
func TestCopiedSecretsCheckFailsClosed(t *testing.T) {
	t.Parallel()
	t.Run("read fails", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.GitHub.Inject(githubapi.Fault{Method: "GET", Path: "/repos/{owner}/{repo}/contents/{path}", Status: 502, Times: -1})
		run, err := w.Run(context.Background(), Lifecycle()[0], nil)
		if err != nil {
			t.Fatal(err)
		}
		want := "refusing to deploy the review app: could not read the"
		if run.Code != 1 || !strings.Contains(run.Log, want) || !strings.Contains(run.Log, "contents: read") {
			t.Errorf("exit code %d, want 1 with %q:\n%s", run.Code, want, run.Log)
		}
		if got := writes(w.Heroku.Requests()); len(got) != 0 {
			t.Errorf("a refused run wrote to Heroku: %v", got)
		}
	})
	t.Run("no production file on prod", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		bare := SHA("prod-without-secrets")
		w.GitHub.AddCommit(Repository, bare, SHA("bare-tree"), "prod without a secrets file")
		w.GitHub.SetBranch(Repository, "prod", bare)
		writeFile(t, filepath.Join(w.Workspace, "secrets", "config.pforge-pr-80.yaml"), string(w.mustReadSecrets(ProdSecrets)))
		run, err := w.Run(context.Background(), Lifecycle()[0], nil)
		if err != nil {
			t.Fatal(err)
		}
		if run.Code != 0 || !strings.Contains(run.Log, "No secrets/config.pangeo-forge.yaml on branch prod on GitHub") {
			t.Errorf("exit code %d, want 0 noting the absent file:\n%s", run.Code, run.Log)
		}
	})
}
