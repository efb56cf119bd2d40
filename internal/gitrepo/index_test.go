package gitrepo

import (
	"crypto/sha1"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// git runs the real git binary in dir, with a configuration of its own (no user or system config)
// so that the machine's settings cannot change what the index holds.
func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func needGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed: the index fixtures are written by git itself")
	}
}

func write(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// newRepo makes a repository with a commit of files, an executable, a symlink and a long path,
// plus an untracked file, and returns its directory.
func newRepo(t testing.TB, initArgs ...string) string {
	t.Helper()
	dir := t.TempDir()
	git(t, dir, append([]string{"init", "-q", "-b", "main"}, initArgs...)...)
	long := strings.Repeat(strings.Repeat("d", 200)+"/", 5) + "long.txt" // a path git stores in full
	write(t, dir, map[string]string{
		"app.json": "{}", "Procfile": "web: x\n", "web/static/app.js": "js", "web/index.html": "<p>",
		"docs/a.md": "a", "docs/b/c.md": "c", long: "long",
	})
	if err := os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("web/index.html", filepath.Join(dir, "index")); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "first")
	write(t, dir, map[string]string{"gha-creds-1234.json": "{}", ".env": "A=1"})
	return dir
}

// lsFiles is what git lists: the yardstick for TrackedFiles.
func lsFiles(t testing.TB, dir string, args ...string) []string {
	t.Helper()
	out := git(t, dir, append([]string{"-c", "core.quotePath=false", "ls-files", "-z"}, args...)...)
	var files []string
	for _, f := range strings.Split(out, "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	slices.Sort(files)
	return slices.Compact(files)
}

func TestTrackedFilesMatchesGit(t *testing.T) {
	t.Parallel()
	needGit(t)
	tests := []struct {
		name    string
		init    []string
		prepare func(t *testing.T, dir string)
		version string // the index version git wrote, checked so the case tests what it says
	}{
		{name: "v2", version: "2"},
		{name: "v3 intent-to-add", version: "3", prepare: func(t *testing.T, dir string) {
			write(t, dir, map[string]string{"new.txt": "announced"})
			git(t, dir, "add", "-N", "new.txt")
		}},
		{name: "v4 path prefix compression", version: "4", prepare: func(t *testing.T, dir string) {
			git(t, dir, "update-index", "--index-version", "4")
		}},
		{name: "sha256 repository", version: "2", init: []string{"--object-format=sha256"}},
		{name: "merge conflict", version: "2", prepare: func(t *testing.T, dir string) {
			git(t, dir, "checkout", "-q", "-b", "other")
			write(t, dir, map[string]string{"app.json": `{"side":"other"}`})
			git(t, dir, "commit", "-q", "-am", "other")
			git(t, dir, "checkout", "-q", "main")
			write(t, dir, map[string]string{"app.json": `{"side":"main"}`})
			git(t, dir, "commit", "-q", "-am", "main")
			cmd := exec.Command("git", "merge", "-q", "other")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir())
			cmd.Run() // conflicts, by design
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := newRepo(t, tt.init...)
			if tt.prepare != nil {
				tt.prepare(t, dir)
			}
			if got := indexVersion(t, dir); got != tt.version {
				t.Fatalf("git wrote index version %s, want %s", got, tt.version)
			}
			got, err := TrackedFiles(dir)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.DeleteFunc(lsFiles(t, dir), func(f string) bool { return f == "new.txt" })
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("TrackedFiles (-git ls-files +got):\n%s", diff)
			}
		})
	}
}

func indexVersion(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}
	return string('0' + data[7])
}

// TestReadIndexFlags: the flags git sets are read: intent-to-add, skip-worktree in a sparse
// checkout, and a sparse index's directory entries.
func TestReadIndexFlags(t *testing.T) {
	t.Parallel()
	needGit(t)
	t.Run("intent to add", func(t *testing.T) {
		t.Parallel()
		dir := newRepo(t)
		write(t, dir, map[string]string{"new.txt": "announced"})
		git(t, dir, "add", "-N", "new.txt")
		entries, err := ReadIndex(dir)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(entries, func(e IndexEntry) bool { return e.Path == "new.txt" })
		if i < 0 || !entries[i].IntentToAdd {
			t.Errorf("new.txt: %+v, want an intent-to-add entry", entries)
		}
		files, err := TrackedFiles(dir)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(files, "new.txt") {
			t.Errorf("TrackedFiles lists the intent-to-add new.txt, whose content no commit has")
		}
	})
	for _, sparseIndex := range []bool{false, true} {
		name := "sparse checkout"
		if sparseIndex {
			name = "sparse index"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := newRepo(t)
			args := []string{"sparse-checkout", "set", "--cone", "web"}
			if sparseIndex {
				args = append(args, "--sparse-index")
			}
			git(t, dir, args...)
			entries, err := ReadIndex(dir)
			if err != nil {
				t.Fatal(err)
			}
			var skipped, dirs []string
			for _, e := range entries {
				if e.SkipWorktree {
					skipped = append(skipped, e.Path)
				}
				if e.Mode == ModeSparseDir {
					dirs = append(dirs, e.Path)
				}
			}
			if !slices.Contains(skipped, "docs/a.md") && !slices.Contains(skipped, "docs/") {
				t.Errorf("skip-worktree entries = %v, want docs outside the cone", skipped)
			}
			if sparseIndex != (len(dirs) > 0) {
				t.Errorf("sparse directory entries = %v with sparse index %v", dirs, sparseIndex)
			}
			if _, err := os.Stat(filepath.Join(dir, "docs", "a.md")); err == nil {
				t.Fatal("docs/a.md is in the work tree: the fixture is not sparse")
			}
			files, err := TrackedFiles(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				if strings.HasSuffix(f, "/") {
					t.Errorf("TrackedFiles lists the sparse directory %q", f)
				}
			}
			if !slices.Contains(files, "web/index.html") || !slices.Contains(files, "app.json") {
				t.Errorf("TrackedFiles = %v, want the files in the cone", files)
			}
		})
	}
}

// TestTrackedFilesSubmodule: a checked-out submodule's files are listed under its path, from its
// own index (found through its .git file), as git ls-files --recurse-submodules lists them; an
// uninitialised one contributes nothing.
func TestTrackedFilesSubmodule(t *testing.T) {
	t.Parallel()
	needGit(t)
	lib := t.TempDir()
	git(t, lib, "init", "-q", "-b", "main")
	write(t, lib, map[string]string{"lib.py": "pass", "pkg/mod.py": "x = 1"})
	git(t, lib, "add", "-A")
	git(t, lib, "commit", "-q", "-m", "lib")

	dir := newRepo(t)
	git(t, dir, "-c", "protocol.file.allow=always", "submodule", "add", "-q", lib, "vendor/lib")
	git(t, dir, "commit", "-q", "-m", "submodule")
	write(t, dir, map[string]string{"vendor/lib/untracked.txt": "x"})
	if info, err := os.Lstat(filepath.Join(dir, "vendor", "lib", ".git")); err != nil || info.IsDir() {
		t.Fatalf("the submodule's .git is not a file (%v): the fixture does not test the gitdir link", err)
	}
	got, err := TrackedFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(lsFiles(t, dir, "--recurse-submodules"), got); diff != "" {
		t.Errorf("TrackedFiles (-git ls-files --recurse-submodules +got):\n%s", diff)
	}
	if !slices.Contains(got, "vendor/lib/pkg/mod.py") || slices.Contains(got, "vendor/lib") {
		t.Errorf("TrackedFiles = %v, want the submodule's files instead of its gitlink", got)
	}

	// The same repository cloned without --recurse-submodules: the gitlink is there, the
	// submodule is not checked out.
	clone := filepath.Join(t.TempDir(), "clone")
	git(t, dir, "clone", "-q", dir, clone)
	got, err = TrackedFiles(clone)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(got, func(f string) bool { return strings.HasPrefix(f, "vendor/") }) {
		t.Errorf("TrackedFiles = %v, want nothing of the uninitialised submodule", got)
	}
}

func TestReadIndexRefuses(t *testing.T) {
	t.Parallel()
	needGit(t)
	t.Run("damaged", func(t *testing.T) {
		t.Parallel()
		dir := newRepo(t)
		path := filepath.Join(dir, ".git", "index")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0xff
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := TrackedFiles(dir); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("TrackedFiles of a damaged index: %v, want an error saying so", err)
		}
	})
	t.Run("split index", func(t *testing.T) {
		t.Parallel()
		dir := newRepo(t)
		git(t, dir, "update-index", "--split-index")
		if _, err := TrackedFiles(dir); err == nil || !strings.Contains(err.Error(), "core.splitIndex") {
			t.Errorf("TrackedFiles of a split index: %v, want an error naming core.splitIndex", err)
		}
	})
	t.Run("no index", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		git(t, dir, "init", "-q")
		if _, err := TrackedFiles(dir); !errors.Is(err, ErrNoIndex) || !strings.Contains(err.Error(), "actions/checkout") {
			t.Errorf("TrackedFiles without an index: %v, want ErrNoIndex and what to do", err)
		}
	})
}

// TestParseIndexPaths: an index naming a path git never writes (one that climbs out, or into a
// .git directory) is refused, whatever wrote it.
func TestParseIndexPaths(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"../outside", "a/../../b", "/etc/passwd", ".git/config", "sub/.GIT/hooks/x", "a//b", "./a"} {
		_, err := ParseIndex(indexBytes(2, p), sha1.Size)
		if err == nil || !strings.Contains(err.Error(), "git would refuse") {
			t.Errorf("ParseIndex(%q): %v, want it refused", p, err)
		}
	}
	// A path of 0xFFF bytes or more does not fit the length field: its NUL ends it. (Longer than
	// PATH_MAX, so git cannot make one in a work tree for the tests above.)
	long := strings.Repeat(strings.Repeat("d", 250)+"/", 20) + "long.txt"
	if got, err := ParseIndex(indexBytes(2, "a/b.txt", long, "c"), sha1.Size); err != nil || len(got) != 3 || got[0].Path != "a/b.txt" || got[1].Path != long || got[2].Path != "c" {
		t.Errorf("ParseIndex of plain paths and one of %d bytes = %+v, %v", len(long), got, err)
	}
}

// indexBytes builds a minimal index with regular-file entries.
func indexBytes(version uint32, paths ...string) []byte {
	var b []byte
	b = append(b, "DIRC"...)
	b = appendUint32(b, version)
	b = appendUint32(b, uint32(len(paths)))
	for _, p := range paths {
		start := len(b)
		stat := make([]byte, 40)
		stat[24], stat[25], stat[26], stat[27] = 0, 0, 0x81, 0xa4 // 0100644
		b = append(b, stat...)
		b = append(b, make([]byte, sha1.Size)...)
		n := min(len(p), 0xfff) // longer names are found by their NUL
		b = append(b, byte(n>>8), byte(n))
		b = append(b, p...)
		size := len(b) - start
		b = append(b, make([]byte, (size+8)&^7-size)...)
	}
	sum := sha1.Sum(b)
	return append(b, sum[:]...)
}

func appendUint32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// FuzzParseIndex: no input makes the parser panic or hang, and every path it accepts is one git
// could have written (relative, without . or .. or .git components). The seed corpus in
// testdata/fuzz holds index files git 2.39 wrote: v2, v3 with an intent-to-add entry, v4, and a
// sparse index.
func FuzzParseIndex(f *testing.F) {
	f.Add(indexBytes(2, "a", "b/c"), sha1.Size)
	f.Add(indexBytes(3, "app.json"), sha1.Size)
	f.Fuzz(func(t *testing.T, data []byte, hashSize int) {
		if hashSize != 20 && hashSize != 32 {
			hashSize = 20
		}
		// Zero the checksum so that mutations reach the entries instead of failing it.
		if len(data) >= hashSize {
			clear(data[len(data)-hashSize:])
		}
		entries, err := ParseIndex(data, hashSize)
		if err != nil {
			return
		}
		for _, e := range entries {
			if err := checkIndexPath(e); err != nil {
				t.Errorf("accepted %q: %v", e.Path, err)
			}
		}
	})
}
