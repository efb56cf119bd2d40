package encryptcheck_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest"
)

// TestPreCommitHook runs the shipped hook (.pre-commit-hooks.yaml) under the
// real pre-commit, in a scratch git repository. pre-commit's golang language
// would `go install` the hook's repository at a published rev, so the hook
// runs here as a local `language: system` hook with the same id, entry,
// files filter and arguments, pointing at the binary built from this
// checkout. Skipped when pre-commit or git is missing (.ci/run installs
// pre-commit).
func TestPreCommitHook(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"pre-commit", "git", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	var hooks []map[string]any
	manifest, err := os.ReadFile(filepath.Join(root, ".pre-commit-hooks.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(manifest, &hooks); err != nil {
		t.Fatalf(".pre-commit-hooks.yaml: %v", err)
	}
	if len(hooks) != 1 || hooks[0]["id"] != "deploy-action-check-secrets" || hooks[0]["language"] != "golang" ||
		hooks[0]["entry"] != "deploy-action check-secrets" || hooks[0]["files"] != "^secrets/" {
		t.Fatalf(".pre-commit-hooks.yaml does not declare the hook as documented: %v", hooks)
	}

	bin := filepath.Join(t.TempDir(), "deploy-action")
	build := exec.Command("go", "build", "-o", bin, "./cmd/deploy-action")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	repo := t.TempDir()
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "PRE_COMMIT_HOME="+filepath.Join(home, "pre-commit"), "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.test", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.test")
	sh := func(args ...string) (string, error) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir, cmd.Env = repo, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	hook := hooks[0]
	hook["language"] = "system"
	hook["entry"] = strings.Replace(hook["entry"].(string), "deploy-action", bin, 1)
	cfg, err := yaml.Marshal(map[string]any{"repos": []any{map[string]any{"repo": "local", "hooks": []any{hook}}}})
	if err != nil {
		t.Fatal(err)
	}
	_, recipient := sopstest.NewAgeKey(t)
	files := map[string][]byte{
		".pre-commit-config.yaml":          cfg,
		"secrets/config.pangeo-forge.yaml": sopstest.EncryptYAML(t, []byte("token: fake-hook-token\nport_unencrypted: 5432\n"), sopstest.Options{Age: []string{recipient}}),
		"secrets/config.pforge-pr-80.yml":  sopstest.EncryptYAML(t, []byte("token: fake-hook-token\n"), sopstest.Options{Age: []string{recipient}}),
		"secrets/config.leak.yaml":         []byte("token: hunter2-fake\n"),
		"app/settings.yaml":                []byte("not: a secret\n"), // outside secrets/: not the hook's business
	}
	for name, data := range files {
		write(t, repo, name, data)
	}
	if out, err := sh("git", "init", "-q"); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	if out, err := sh("git", "add", "."); err != nil {
		t.Fatalf("git add: %v\n%s", err, out)
	}

	out, err := sh("pre-commit", "run", "--all-files")
	t.Logf("pre-commit with a plaintext file:\n%s", out)
	if err == nil {
		t.Errorf("pre-commit passed with a plaintext secrets file")
	}
	for _, want := range []string{"secrets are SOPS-encrypted", "Failed", "secrets/config.leak.yaml: it is not encrypted with sops (no sops metadata) — encrypt it with sops --encrypt --in-place secrets/config.leak.yaml"} {
		if !strings.Contains(out, want) {
			t.Errorf("pre-commit output lacks %q", want)
		}
	}
	for _, not := range []string{"hunter2-fake", "app/settings.yaml", "config.pangeo-forge.yaml:"} {
		if strings.Contains(out, not) {
			t.Errorf("pre-commit output contains %q", not)
		}
	}

	if out, err := sh("git", "rm", "-q", "--cached", "secrets/config.leak.yaml"); err != nil {
		t.Fatalf("git rm: %v\n%s", err, out)
	}
	if err := os.Remove(filepath.Join(repo, "secrets", "config.leak.yaml")); err != nil {
		t.Fatal(err)
	}
	out, err = sh("pre-commit", "run", "--all-files")
	t.Logf("pre-commit with sound files:\n%s", out)
	if err != nil || !strings.Contains(out, "Passed") {
		t.Errorf("pre-commit failed on sound files: %v", err)
	}
}

// TestPreCommitHookGolang installs the hook the way its users get it,
// `language: golang`: pre-commit clones the hook repository (here a snapshot
// of this working tree, through try-repo) and runs `go install ./...` in it.
// The network is never needed: the module cache and build cache are this
// machine's, and GOPROXY=off. Skipped with -short (it compiles the module).
func TestPreCommitHookGolang(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("compiles the whole module under pre-commit")
	}
	for _, tool := range []string{"pre-commit", "git", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	goenv := func(name string) string {
		out, err := exec.Command("go", "env", name).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", name, err)
		}
		return strings.TrimSpace(string(out))
	}
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "PRE_COMMIT_HOME="+filepath.Join(home, "pre-commit"), "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.test", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.test",
		"GOMODCACHE="+goenv("GOMODCACHE"), "GOCACHE="+goenv("GOCACHE"), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	sh := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	// A snapshot of the working tree as a repository of its own: what a
	// release of this commit would hold, uncommitted changes included.
	snapshot := t.TempDir()
	for _, name := range strings.Split(strings.TrimSpace(sh(root, "git", "ls-files", "--cached", "--others", "--exclude-standard")), "\n") {
		data, err := os.ReadFile(filepath.Join(root, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		write(t, snapshot, name, data)
	}
	sh(snapshot, "git", "init", "-q")
	sh(snapshot, "git", "add", ".")
	sh(snapshot, "git", "commit", "-q", "-m", "snapshot")

	repo := t.TempDir()
	_, recipient := sopstest.NewAgeKey(t)
	write(t, repo, "secrets/config.pangeo-forge.yaml", sopstest.EncryptYAML(t, []byte("token: fake-hook-token\n"), sopstest.Options{Age: []string{recipient}}))
	write(t, repo, "secrets/config.leak.yml", []byte("token: hunter2-fake\n"))
	sh(repo, "git", "init", "-q")
	sh(repo, "git", "add", ".")

	cmd := exec.Command("pre-commit", "try-repo", snapshot, "deploy-action-check-secrets", "--all-files")
	cmd.Dir, cmd.Env = repo, env
	out, err := cmd.CombinedOutput()
	t.Logf("pre-commit try-repo:\n%s", out)
	if err == nil {
		t.Errorf("the hook passed with a plaintext secrets file")
	}
	for _, want := range []string{"secrets are SOPS-encrypted", "Failed", "secrets/config.leak.yml: it is not encrypted with sops (no sops metadata)", "check-secrets: 1 problem in 1 file of 2 files checked"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("pre-commit output lacks %q", want)
		}
	}
}
