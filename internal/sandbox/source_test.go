package sandbox

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// entry is one entry of an uploaded source tarball.
type entry struct {
	Content string // regular files
	Link    string // symlinks: the target
	Dir     bool
}

// uploaded reads every source tarball the Heroku test server received (the S3 PUTs), by entry name.
func uploaded(t *testing.T, w *World) map[string]entry {
	t.Helper()
	got := map[string]entry{}
	for _, r := range w.Heroku.Requests() {
		if r.Method != "PUT" {
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(r.Body))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			got[h.Name] = entry{Content: string(data), Link: h.Linkname, Dir: h.Typeflag == tar.TypeDir}
		}
	}
	return got
}

// A service-account credentials file as google-github-actions/auth writes it into the workspace
// (gha-creds-<random>.json), and a .env that a setup step wrote: neither is in any commit.
const (
	ghaCredsName    = "gha-creds-1f2e3d4c5b6a7988.json"
	ghaCredsContent = `{"type":"external_account","audience":"//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/github/providers/my-repo","credential_source":{"url":"https://pipelines.actions.githubusercontent.com/token?audience=x","headers":{"Authorization":"Bearer gha-oidc-request-token-7c1d"}}}`
	dotEnvContent   = "DATABASE_URL=postgres://ci:ci-password-91a7@localhost/ci\n"
)

// TestUntrackedFilesNotUploaded: the source Heroku receives holds the files git tracks, as a git
// push would, and none that earlier steps of the job left in the workspace, unless the
// include_untracked input asks for them; the log counts what was left out and names the largest.
func TestUntrackedFilesNotUploaded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		appDir   string // "" for the workspace
		include  string
		extra    map[string]string // more untracked files
		wantIn   []string          // entries the tarball must have
		wantLog  string
		included map[string]string // untracked files that must be uploaded, with their content
	}{
		{
			name:    "workspace",
			wantIn:  []string{"app.json", "Procfile", "pangeo_forge_orchestrator/"},
			wantLog: `Left out 2 untracked files (the largest: "` + ghaCredsName + `", ` + strconv.Itoa(len(ghaCredsContent)) + ` B)`,
		},
		{
			name:     "assets built in the job, asked for",
			include:  "static/dist/\n",
			extra:    map[string]string{"static/dist/app.min.js": "console.log(1)", "static/dist/app.min.js.map": "{}"},
			wantIn:   []string{"app.json", "Procfile"},
			wantLog:  `Left out 2 untracked files`,
			included: map[string]string{"static/dist/app.min.js": "console.log(1)", "static/dist/app.min.js.map": "{}"},
		},
		{
			name:    "app_dir",
			appDir:  "services/api",
			wantIn:  []string{"app.json", "Procfile"},
			wantLog: `Left out 2 untracked files`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			step := Lifecycle()[2] // the staging build
			if tt.appDir != "" {
				moveIntoAppDir(t, w, tt.appDir)
				step = withInputs(step, "app_dir", tt.appDir)
			}
			if tt.include != "" {
				step = withInputs(step, "include_untracked", tt.include)
			}
			untracked := map[string]string{ghaCredsName: ghaCredsContent, ".env": dotEnvContent}
			for name, content := range tt.extra {
				untracked[name] = content
			}
			for name, content := range untracked {
				if tt.appDir != "" {
					name = tt.appDir + "/" + name
				}
				if err := w.WriteUntracked(name, []byte(content)); err != nil {
					t.Fatal(err)
				}
			}
			run := mustRun(t, w, context.Background(), step)
			if run.Code != 0 || run.Outputs["deployed"] != "true" {
				t.Fatalf("exit code %d, outputs %v:\n%s", run.Code, run.Outputs, run.Log)
			}
			got := uploaded(t, w)
			for _, name := range tt.wantIn {
				if _, ok := got[name]; !ok {
					t.Errorf("the source lacks the tracked %s; it has %v", name, names(got))
				}
			}
			for _, name := range []string{ghaCredsName, ".env"} {
				if _, ok := got[name]; ok {
					t.Errorf("the source holds the untracked %s", name)
				}
			}
			for name, content := range tt.included {
				if e, ok := got[name]; !ok || e.Content != content {
					t.Errorf("the source holds %s = %+v (present %v), want the untracked file include_untracked asked for", name, e, ok)
				}
			}
			// Nothing of the two files reached Heroku in any request, in any form.
			for _, r := range w.Heroku.Requests() {
				body := string(r.Body)
				if r.Method == "PUT" {
					body = string(gunzip(t, r.Body))
				}
				for _, secret := range []string{"gha-oidc-request-token-7c1d", "ci-password-91a7"} {
					if strings.Contains(body, secret) {
						t.Errorf("%s %s carries %q from an untracked file", r.Method, r.Path, secret)
					}
				}
			}
			if !strings.Contains(run.Log, tt.wantLog) {
				t.Errorf("the log does not say %q:\n%s", tt.wantLog, run.Log)
			}
		})
	}
}

// TestTrackedSymlinkIsPackedAsLink: a committed symlink that points out of the workspace (at the
// container's /github/home) is uploaded as a link, as git stores it and a git push would send it:
// what it points to is never read.
func TestTrackedSymlinkIsPackedAsLink(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	home := filepath.Join(w.dir, "home") // beside the workspace, as /github/home is
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "credentials.json"), []byte("home-secret-5e0f"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"home": home, "creds.json": filepath.Join(home, "credentials.json")} {
		if err := os.Symlink(target, filepath.Join(w.Workspace, name)); err != nil {
			t.Skipf("cannot make symlinks here: %v", err)
		}
	}
	run := mustRun(t, w, context.Background(), Lifecycle()[2])
	if run.Code != 0 {
		t.Fatalf("exit code %d:\n%s", run.Code, run.Log)
	}
	got := uploaded(t, w)
	if e := got["home"]; e.Link != home {
		t.Errorf("home = %+v, want the link to %s", e, home)
	}
	if e := got["creds.json"]; e.Link != filepath.Join(home, "credentials.json") || e.Content != "" {
		t.Errorf("creds.json = %+v, want a link", e)
	}
	for name, e := range got {
		if strings.HasPrefix(name, "home/") || strings.Contains(e.Content, "home-secret-5e0f") {
			t.Errorf("the source holds %s from outside the workspace", name)
		}
	}
}

// moveIntoAppDir moves the sample app's files into dir, a monorepo's subdirectory.
func moveIntoAppDir(t *testing.T, w *World, dir string) {
	t.Helper()
	sub := filepath.Join(w.Workspace, filepath.FromSlash(dir))
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Procfile", "app.json", "requirements.txt", "runtime.txt"} {
		if err := os.Rename(filepath.Join(w.Workspace, name), filepath.Join(sub, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func names(m map[string]entry) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func gunzip(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
