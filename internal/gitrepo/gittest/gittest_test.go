package gittest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pangeo-forge/deploy-action/internal/gitrepo"
)

// TestIndexTreeAgreesWithGit: git reads the index IndexTree writes, lists the same files with the
// same modes and object names as `git add` would record, and gitrepo reads it back.
func TestIndexTreeAgreesWithGit(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	for name, content := range map[string]string{"app.json": "{}", "web/index.html": "<p>", "secrets/config.x.yaml": "a: 1", "left-out.env": "A=1"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\n"), 0o755)
	os.Symlink("web/index.html", filepath.Join(dir, "index"))
	run := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("init", "-q")
	if err := IndexTree(dir, func(name string) bool { return name == "left-out.env" }); err != nil {
		t.Fatal(err)
	}
	ours := run("ls-files", "-s")
	os.Remove(filepath.Join(dir, ".git", "index"))
	run("add", "-A")
	run("rm", "-q", "--cached", "left-out.env")
	if diff := cmp.Diff(run("ls-files", "-s"), ours); diff != "" {
		t.Errorf("git ls-files -s (-git add +IndexTree):\n%s", diff)
	}
	if !strings.Contains(ours, "100755") || !strings.Contains(ours, "120000") {
		t.Errorf("modes not recorded:\n%s", ours)
	}
	IndexTree(dir, func(name string) bool { return name == "left-out.env" })
	files, err := gitrepo.TrackedFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"app.json", "index", "run.sh", "secrets/config.x.yaml", "web/index.html"}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("TrackedFiles (-want +got):\n%s", diff)
	}
}
