package gitrepo

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	sha1A   = "1111111111111111111111111111111111111111"
	sha1B   = "2222222222222222222222222222222222222222"
	sha1Tag = "3333333333333333333333333333333333333333"
	sha256A = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)

// writeTree writes files (slash-separated paths relative to root) and returns root.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		content = strings.ReplaceAll(content, "$ROOT", filepath.ToSlash(root))
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestHead(t *testing.T) {
	t.Parallel()
	const packed = "# pack-refs with: peeled fully-peeled sorted \n" +
		sha1Tag + " refs/tags/v1\n" +
		"^" + sha1B + "\n" +
		sha1A + " refs/heads/main\n" +
		sha1B + " refs/remotes/origin/main\n"
	tests := []struct {
		name  string
		files map[string]string
		dir   string // checkout inside the tree, "" for the root
		want  string
	}{
		{
			name:  "detached sha1",
			files: map[string]string{".git/HEAD": sha1A + "\n"},
			want:  sha1A,
		},
		{
			name:  "detached sha256",
			files: map[string]string{".git/HEAD": sha256A + "\n"},
			want:  sha256A,
		},
		{
			name:  "detached upper case and CRLF",
			files: map[string]string{".git/HEAD": strings.ToUpper(sha1A) + "\r\n"},
			want:  sha1A,
		},
		{
			name: "branch as loose ref",
			files: map[string]string{
				".git/HEAD":            "ref: refs/heads/main\n",
				".git/refs/heads/main": sha1B + "\n",
				".git/packed-refs":     packed,
			},
			want: sha1B,
		},
		{
			name: "branch in packed-refs with peeled tags",
			files: map[string]string{
				".git/HEAD":        "ref: refs/heads/main\n",
				".git/packed-refs": packed,
			},
			want: sha1A,
		},
		{
			name: "nested branch name in packed-refs beside a loose ref directory",
			files: map[string]string{
				".git/HEAD":                  "ref: refs/heads/feature\n",
				".git/refs/heads/feature/x":  sha1B + "\n",
				".git/packed-refs":           sha1A + " refs/heads/feature\n",
				".git/refs/heads/unrelated":  sha1B + "\n",
				".git/refs/remotes/origin/x": sha1B + "\n",
			},
			want: sha1A,
		},
		{
			name: "branch with slashes",
			files: map[string]string{
				".git/HEAD":                     "ref: refs/heads/user/topic\n",
				".git/refs/heads/user/topic":    sha1B + "\n",
				".git/refs/heads/user/topic2":   sha1A + "\n",
				".git/refs/remotes/origin/HEAD": "ref: refs/remotes/origin/main\n",
			},
			want: sha1B,
		},
		{
			name: "symbolic ref chain",
			files: map[string]string{
				".git/HEAD":             "ref: refs/heads/alias\n",
				".git/refs/heads/alias": "ref: refs/heads/main\n",
				".git/refs/heads/main":  sha1A + "\n",
			},
			want: sha1A,
		},
		{
			name: "submodule with relative gitdir",
			files: map[string]string{
				".git/HEAD":                           sha1B + "\n",
				"sub/.git":                            "gitdir: ../.git/modules/sub\n",
				".git/modules/sub/HEAD":               "ref: refs/heads/main\n",
				".git/modules/sub/refs/heads/main":    sha1A + "\n",
				".git/modules/sub/refs/heads/.keep/x": "",
			},
			dir:  "sub",
			want: sha1A,
		},
		{
			name: "absolute gitdir",
			files: map[string]string{
				"repo/.git":             "gitdir: $ROOT/elsewhere\n",
				"elsewhere/HEAD":        "ref: refs/heads/main\n",
				"elsewhere/refs/.tmp":   "",
				"elsewhere/packed-refs": sha1B + " refs/heads/main\n",
			},
			dir:  "repo",
			want: sha1B,
		},
		{
			name: "linked worktree on a branch",
			files: map[string]string{
				"main/.git/HEAD":                   "ref: refs/heads/main\n",
				"main/.git/refs/heads/main":        sha1A + "\n",
				"main/.git/refs/heads/wt":          sha1B + "\n",
				"main/.git/worktrees/wt/HEAD":      "ref: refs/heads/wt\n",
				"main/.git/worktrees/wt/commondir": "../..\n",
				"main/.git/worktrees/wt/gitdir":    "$ROOT/wt/.git\n",
				"wt/.git":                          "gitdir: $ROOT/main/.git/worktrees/wt\n",
			},
			dir:  "wt",
			want: sha1B,
		},
		{
			name: "linked worktree detached, packed branch in the common dir",
			files: map[string]string{
				"main/.git/HEAD":                   "ref: refs/heads/main\n",
				"main/.git/packed-refs":            sha1A + " refs/heads/main\n",
				"main/.git/worktrees/wt/HEAD":      sha1Tag + "\n",
				"main/.git/worktrees/wt/commondir": "../..\n",
				"wt/.git":                          "gitdir: ../main/.git/worktrees/wt\n",
			},
			dir:  "wt",
			want: sha1Tag,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := writeTree(t, tt.files)
			got, err := Head(filepath.Join(root, filepath.FromSlash(tt.dir)))
			if err != nil {
				t.Fatalf("Head: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Head (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHeadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		files       map[string]string
		notCheckout bool     // errors.Is(err, ErrNotCheckout)
		wantInError []string // what the user must read in the message
	}{
		{
			name:        "no .git",
			files:       map[string]string{"app.json": "{}"},
			notCheckout: true,
			wantInError: []string{"has no .git", "run actions/checkout"},
		},
		{
			name:        ".git file without gitdir",
			files:       map[string]string{".git": "nonsense\n"},
			notCheckout: true,
			wantInError: []string{`without a "gitdir:" line`, "actions/checkout"},
		},
		{
			name:        ".git file pointing nowhere",
			files:       map[string]string{".git": "gitdir: ../gone\n"},
			notCheckout: true,
			wantInError: []string{"does not exist", "actions/checkout"},
		},
		{
			name:        "git directory without HEAD",
			files:       map[string]string{".git/config": ""},
			notCheckout: true,
			wantInError: []string{"has no HEAD", "actions/checkout"},
		},
		{
			name:        "unborn branch",
			files:       map[string]string{".git/HEAD": "ref: refs/heads/main\n", ".git/refs/heads/.keep": ""},
			wantInError: []string{"cannot resolve HEAD", "refs/heads/main has no commit"},
		},
		{
			name: "branch missing from packed-refs",
			files: map[string]string{
				".git/HEAD":        "ref: refs/heads/topic\n",
				".git/packed-refs": sha1A + " refs/heads/main\n",
			},
			wantInError: []string{"refs/heads/topic has no commit"},
		},
		{
			name:        "garbage HEAD",
			files:       map[string]string{".git/HEAD": "not a hash\n"},
			wantInError: []string{`HEAD holds "not a hash", which is not a commit hash`},
		},
		{
			name:        "short hash",
			files:       map[string]string{".git/HEAD": sha1A[:12] + "\n"},
			wantInError: []string{"not a commit hash"},
		},
		{
			name:        "ref escaping the git directory",
			files:       map[string]string{".git/HEAD": "ref: refs/../../../etc/passwd\n"},
			wantInError: []string{"not a valid ref name"},
		},
		{
			name:        "ref outside refs/",
			files:       map[string]string{".git/HEAD": "ref: config\n"},
			wantInError: []string{"must point into refs/"},
		},
		{
			name: "symbolic ref loop",
			files: map[string]string{
				".git/HEAD":         "ref: refs/heads/a\n",
				".git/refs/heads/a": "ref: refs/heads/b\n",
				".git/refs/heads/b": "ref: refs/heads/a\n",
			},
			wantInError: []string{"more than 5 symbolic refs"},
		},
		{
			name: "reftable backend",
			files: map[string]string{
				".git/HEAD":                 "ref: refs/heads/.invalid\n",
				".git/reftable/tables.list": "",
			},
			wantInError: []string{"reftable"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := writeTree(t, tt.files)
			got, err := Head(root)
			if err == nil {
				t.Fatalf("Head = %q, want an error", got)
			}
			if errors.Is(err, ErrNotCheckout) != tt.notCheckout {
				t.Errorf("errors.Is(err, ErrNotCheckout) = %v, want %v (err: %v)", !tt.notCheckout, tt.notCheckout, err)
			}
			for _, want := range tt.wantInError {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

func TestHeadMissingDir(t *testing.T) {
	t.Parallel()
	_, err := Head(filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, ErrNotCheckout) {
		t.Errorf("Head of a missing directory: %v, want ErrNotCheckout", err)
	}
}

// TestHeadAgainstGit compares Head with git rev-parse HEAD on repositories made by git itself.
func TestHeadAgainstGit(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	tests := []struct {
		name  string
		setup func(g gitRunner) string // returns the checkout directory to read
	}{
		{
			name: "branch",
			setup: func(g gitRunner) string {
				repo := g.newRepo("repo")
				return repo
			},
		},
		{
			name: "packed branch",
			setup: func(g gitRunner) string {
				repo := g.newRepo("repo")
				g.run(repo, "tag", "-a", "-m", "release", "v1")
				g.run(repo, "pack-refs", "--all", "--prune")
				return repo
			},
		},
		{
			name: "detached",
			setup: func(g gitRunner) string {
				repo := g.newRepo("repo")
				g.commit(repo, "second")
				g.run(repo, "checkout", "--detach", "HEAD~1")
				return repo
			},
		},
		{
			name: "worktree",
			setup: func(g gitRunner) string {
				repo := g.newRepo("repo")
				g.run(repo, "worktree", "add", "-b", "other", filepath.Join(g.root, "wt"))
				g.commit(filepath.Join(g.root, "wt"), "on other")
				g.run(repo, "pack-refs", "--all")
				return filepath.Join(g.root, "wt")
			},
		},
		{
			name: "submodule",
			setup: func(g gitRunner) string {
				lib := g.newRepo("lib")
				g.commit(lib, "lib second")
				repo := g.newRepo("repo")
				g.run(repo, "-c", "protocol.file.allow=always", "submodule", "add", lib, "vendor/lib")
				return filepath.Join(repo, "vendor", "lib")
			},
		},
		{
			name: "sha256",
			setup: func(g gitRunner) string {
				return g.newRepo("repo", "--object-format=sha256")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := gitRunner{t: t, root: t.TempDir()}
			dir := tt.setup(g)
			want := strings.TrimSpace(g.run(dir, "rev-parse", "HEAD"))
			got, err := Head(dir)
			if err != nil {
				t.Fatalf("Head: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Head differs from git rev-parse HEAD (-git +Head):\n%s", diff)
			}
		})
	}
}

// gitRunner runs git isolated from the user's and the system's configuration.
type gitRunner struct {
	t    *testing.T
	root string
}

func (g gitRunner) run(dir string, args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	home := filepath.Join(g.root, "home")
	cmd.Env = []string{
		"HOME=" + home, "XDG_CONFIG_HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "PATH=" + os.Getenv("PATH"),
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (g gitRunner) newRepo(name string, initArgs ...string) string {
	g.t.Helper()
	dir := filepath.Join(g.root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		g.t.Fatal(err)
	}
	g.run(dir, append([]string{"init", "-q", "-b", "main"}, initArgs...)...)
	g.commit(dir, "first")
	return dir
}

func (g gitRunner) commit(dir, msg string) {
	g.t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "file.txt"), []byte(msg), 0o644); err != nil {
		g.t.Fatal(err)
	}
	g.run(dir, "add", "file.txt")
	g.run(dir, "commit", "-q", "-m", msg)
}
