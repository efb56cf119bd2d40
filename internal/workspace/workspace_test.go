package workspace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	ws := filepath.Join(base, "workspace")
	home := filepath.Join(base, "home") // the container's /github/home, beside the workspace
	for _, d := range []string{ws, home, filepath.Join(ws, "services", "api"), filepath.Join(ws, "secrets")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"home":         home,           // absolute, out
		"up":           "..",           // relative, out
		"api":          "services/api", // inside: allowed
		"services/out": "../../home",   // an intermediate component, out
		"dangling":     filepath.Join(base, "nowhere"),
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(ws, filepath.FromSlash(name))); err != nil {
			t.Skipf("cannot make symlinks here: %v", err)
		}
	}
	realWS, _ := filepath.EvalSymlinks(ws)
	tests := []struct {
		rel     string
		wantRel string // "" when refused
		wantErr string
	}{
		{rel: ".", wantRel: "."},
		{rel: "secrets", wantRel: "secrets"},
		{rel: "api", wantRel: "services/api"},
		{rel: "not/yet", wantRel: "not/yet"},
		{rel: "home", wantErr: "leads out of the workspace"},
		{rel: "home/sub", wantErr: "leads out of the workspace"},
		{rel: "up", wantErr: "leads out of the workspace"},
		{rel: "services/out/x", wantErr: "leads out of the workspace"},
		{rel: "dangling", wantErr: "which does not exist"},
		{rel: "dangling/x", wantErr: "which does not exist"},
	}
	for _, tt := range tests {
		got, err := Resolve(ws, tt.rel)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Resolve(%q) = %+v, %v; want an error with %q", tt.rel, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Resolve(%q): %v", tt.rel, err)
			continue
		}
		if got.Rel != tt.wantRel || got.Path != filepath.Join(realWS, filepath.FromSlash(tt.wantRel)) {
			t.Errorf("Resolve(%q) = %+v, want %s inside %s", tt.rel, got, tt.wantRel, realWS)
		}
	}
	// The workspace itself behind a symlink (the runner's own layout) is fine.
	linkedWS := filepath.Join(base, "ws-link")
	if err := os.Symlink(ws, linkedWS); err != nil {
		t.Fatal(err)
	}
	if got, err := Resolve(linkedWS, "api"); err != nil || got.Rel != "services/api" {
		t.Errorf("Resolve through a symlinked workspace = %+v, %v", got, err)
	}
}
