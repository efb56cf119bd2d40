package source

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/pgzip"
)

// node is one thing in a test tree, and one entry of an unpacked archive.
type node struct {
	Name    string // slash-separated; directories end in "/"
	Mode    int64  // permission bits
	Content string // regular files
	Link    string // symlinks: the target
}

func (n node) isDir() bool  { return strings.HasSuffix(n.Name, "/") }
func (n node) isLink() bool { return n.Link != "" }

// makeTree creates nodes under a new directory, in the order given, and returns the directory.
func makeTree(t testing.TB, nodes []node) string {
	t.Helper()
	root := t.TempDir()
	for _, n := range nodes {
		path := filepath.Join(root, filepath.FromSlash(strings.TrimSuffix(n.Name, "/")))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case n.isDir():
			err = os.MkdirAll(path, fs.FileMode(n.Mode))
		case n.isLink():
			err = os.Symlink(n.Link, path)
		default:
			if err = os.WriteFile(path, []byte(n.Content), 0o600); err == nil {
				err = os.Chmod(path, fs.FileMode(n.Mode)) // bypass the umask
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// unpack reads an archive with archive/tar and checks what every entry must have in common.
func unpack(t *testing.T, a *Archive) []node {
	t.Helper()
	f, err := a.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("archive is not gzip: %v", err)
	}
	tr := tar.NewReader(zr)
	var got []node
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("archive is not a valid tar: %v", err)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" || !hdr.ModTime.Equal(mtime) {
			t.Errorf("%s: uid %d gid %d uname %q gname %q mtime %v, want fixed values", hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname, hdr.ModTime)
		}
		n := node{Name: hdr.Name, Mode: hdr.Mode, Link: hdr.Linkname}
		switch hdr.Typeflag {
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			n.Content = string(data)
		case tar.TypeDir, tar.TypeSymlink:
		default:
			t.Errorf("%s: unexpected type %q", hdr.Name, hdr.Typeflag)
		}
		got = append(got, n)
	}
	if _, err := zr.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("data after the end of the tar stream: %v", err)
	}
	return got
}

func mustPack(t *testing.T, dir string) *Archive {
	t.Helper()
	a, err := Pack(t.Context(), dir, t.TempDir(), everything)
	if err != nil {
		t.Fatalf("Pack: %v", err)
	}
	return a
}

func TestPackRoundTrip(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("deeply-nested-directory-name/", 5) + "file-with-a-name-longer-than-ustar-allows.txt"
	tests := []struct {
		name string
		tree []node
		want []node // in archive order
	}{
		{
			name: "files directories and modes",
			tree: []node{
				{Name: "app.json", Mode: 0o644, Content: `{"name":"app"}`},
				{Name: "bin/release", Mode: 0o755, Content: "#!/bin/sh\necho release\n"},
				{Name: "bin/group-exec", Mode: 0o650, Content: "x"},
				{Name: "private.txt", Mode: 0o600, Content: "only me"},
				{Name: "empty/", Mode: 0o700},
				{Name: "web/static/index.html", Mode: 0o664, Content: "<html></html>"},
				{Name: "zero-bytes", Mode: 0o644},
			},
			want: []node{
				{Name: "app.json", Mode: 0o644, Content: `{"name":"app"}`},
				{Name: "bin/", Mode: 0o755},
				{Name: "bin/group-exec", Mode: 0o755, Content: "x"},
				{Name: "bin/release", Mode: 0o755, Content: "#!/bin/sh\necho release\n"},
				// empty/ is not packed: git tracks no empty directory, so a push would not have it
				{Name: "private.txt", Mode: 0o644, Content: "only me"},
				{Name: "web/", Mode: 0o755},
				{Name: "web/static/", Mode: 0o755},
				{Name: "web/static/index.html", Mode: 0o644, Content: "<html></html>"},
				{Name: "zero-bytes", Mode: 0o644},
			},
		},
		{
			name: "symlinks kept as links, never followed",
			tree: []node{
				{Name: "real/data.txt", Mode: 0o644, Content: "data"},
				{Name: "inside", Link: "real/data.txt"},
				{Name: "dirlink", Link: "real"},
				{Name: "outside", Link: "../../etc/passwd"},
				{Name: "absolute", Link: "/etc/hostname"},
				{Name: "dangling", Link: "does-not-exist"},
			},
			want: []node{
				{Name: "absolute", Mode: 0o777, Link: "/etc/hostname"},
				{Name: "dangling", Mode: 0o777, Link: "does-not-exist"},
				{Name: "dirlink", Mode: 0o777, Link: "real"},
				{Name: "inside", Mode: 0o777, Link: "real/data.txt"},
				{Name: "outside", Mode: 0o777, Link: "../../etc/passwd"},
				{Name: "real/", Mode: 0o755},
				{Name: "real/data.txt", Mode: 0o644, Content: "data"},
			},
		},
		{
			name: "long and unicode names",
			tree: []node{
				{Name: long, Mode: 0o644, Content: "long"},
				{Name: "données/été.txt", Mode: 0o644, Content: "unicode"},
			},
			want: []node{
				{Name: "deeply-nested-directory-name/", Mode: 0o755},
				{Name: strings.Repeat("deeply-nested-directory-name/", 2), Mode: 0o755},
				{Name: strings.Repeat("deeply-nested-directory-name/", 3), Mode: 0o755},
				{Name: strings.Repeat("deeply-nested-directory-name/", 4), Mode: 0o755},
				{Name: strings.Repeat("deeply-nested-directory-name/", 5), Mode: 0o755},
				{Name: long, Mode: 0o644, Content: "long"},
				{Name: "données/", Mode: 0o755},
				{Name: "données/été.txt", Mode: 0o644, Content: "unicode"},
			},
		},
		{
			name: ".git excluded at any depth, look-alikes kept",
			tree: []node{
				{Name: ".git/HEAD", Mode: 0o644, Content: "ref: refs/heads/main\n"},
				{Name: ".git/objects/ab/cdef", Mode: 0o444, Content: "object"},
				{Name: ".gitignore", Mode: 0o644, Content: "*.pyc\n"},
				{Name: ".github/workflows/deploy.yaml", Mode: 0o644, Content: "on: push\n"},
				{Name: "vendor/lib/.git", Mode: 0o644, Content: "gitdir: ../../.git/modules/lib\n"},
				{Name: "vendor/lib/lib.py", Mode: 0o644, Content: "pass\n"},
				{Name: "a/b/c/.git/config", Mode: 0o644, Content: "[core]\n"},
				{Name: "a/b/c/git", Mode: 0o644, Content: "not a repo"},
				{Name: "linked/.git", Link: "../.git"},
			},
			want: []node{
				{Name: ".github/", Mode: 0o755},
				{Name: ".github/workflows/", Mode: 0o755},
				{Name: ".github/workflows/deploy.yaml", Mode: 0o644, Content: "on: push\n"},
				{Name: ".gitignore", Mode: 0o644, Content: "*.pyc\n"},
				{Name: "a/", Mode: 0o755},
				{Name: "a/b/", Mode: 0o755},
				{Name: "a/b/c/", Mode: 0o755},
				{Name: "a/b/c/git", Mode: 0o644, Content: "not a repo"},
				// linked/ held only a .git: nothing in it is packed, so neither is it
				{Name: "vendor/", Mode: 0o755},
				{Name: "vendor/lib/", Mode: 0o755},
				{Name: "vendor/lib/lib.py", Mode: 0o644, Content: "pass\n"},
			},
		},
		{
			name: "empty tree",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := mustPack(t, makeTree(t, tt.tree))
			if diff := cmp.Diff(tt.want, unpack(t, a)); diff != "" {
				t.Errorf("archive entries (-want +got):\n%s", diff)
			}
			if a.Entries != len(tt.want) {
				t.Errorf("Entries = %d, want %d", a.Entries, len(tt.want))
			}
		})
	}
}

// TestPackSystemTar checks that GNU tar, as a Heroku build uses, unpacks the archive into the same
// tree, relative to the directory it is run in.
func TestPackSystemTar(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("tar is not installed")
	}
	tree := []node{
		{Name: "app.json", Mode: 0o644, Content: "{}"},
		{Name: "Procfile", Mode: 0o644, Content: "web: uvicorn app:app\n"},
		{Name: "bin/post_compile", Mode: 0o755, Content: "#!/bin/sh\n"},
		{Name: "link", Link: "bin/post_compile"},
		{Name: strings.Repeat("x", 150), Mode: 0o644, Content: "long name"},
	}
	a := mustPack(t, makeTree(t, tree))
	dest := t.TempDir()
	out, err := exec.Command("tar", "-xzf", a.Path, "-C", dest).CombinedOutput()
	if err != nil {
		t.Fatalf("tar -xzf: %v\n%s", err, out)
	}
	if len(out) != 0 {
		t.Errorf("tar warned:\n%s", out)
	}
	var got []node
	err = filepath.WalkDir(dest, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dest {
			return err
		}
		rel, _ := filepath.Rel(dest, path)
		n := node{Name: filepath.ToSlash(rel)}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			n.Name += "/"
			n.Mode = 0o755
		case d.Type()&fs.ModeSymlink != 0:
			n.Link, err = os.Readlink(path)
		default:
			n.Mode = int64(info.Mode().Perm() & 0o111) // the umask decides the rest
			var data []byte
			data, err = os.ReadFile(path)
			n.Content = string(data)
		}
		got = append(got, n)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []node{
		{Name: "Procfile", Content: "web: uvicorn app:app\n"},
		{Name: "app.json", Content: "{}"},
		{Name: "bin/", Mode: 0o755},
		{Name: "bin/post_compile", Mode: 0o111, Content: "#!/bin/sh\n"},
		{Name: "link", Link: "bin/post_compile"},
		{Name: strings.Repeat("x", 150), Content: "long name"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tree unpacked by tar (-want +got):\n%s", diff)
	}
}

// TestPackDeterministic packs trees with the same content but different histories: creation
// order, times, permission bits git does not record. All must give one checksum.
func TestPackDeterministic(t *testing.T) {
	t.Parallel()
	tree := []node{
		{Name: "b/two.txt", Mode: 0o644, Content: strings.Repeat("two ", 10000)},
		{Name: "a/one.txt", Mode: 0o644, Content: "one"},
		{Name: "run.sh", Mode: 0o755, Content: "#!/bin/sh\n"},
		{Name: "link", Link: "a/one.txt"},
		{Name: "big.bin", Mode: 0o644, Content: string(pseudoRandom(3<<20 + 12345))},
	}
	reversed := make([]node, len(tree))
	for i, n := range tree {
		reversed[len(tree)-1-i] = n
	}
	reversed[0].Mode = 0o600       // big.bin: not executable either way
	reversed[2].Mode = 0o700       // run.sh: still executable
	other := makeTree(t, reversed) // created in the opposite order
	old := time.Date(2015, 3, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(other, "a", "one.txt"), old, old); err != nil {
		t.Fatal(err)
	}

	dir0 := makeTree(t, tree)
	first := mustPack(t, dir0)
	for name, dir := range map[string]string{"same tree": makeTree(t, tree), "other history": other} {
		a := mustPack(t, dir)
		if a.SHA256 != first.SHA256 || a.Size != first.Size {
			t.Errorf("%s: packed to %s (%d bytes), first pack %s (%d bytes)", name, a.SHA256, a.Size, first.SHA256, first.Size)
		}
	}
	// The checksum must not depend on the machine's CPU count, which sets pgzip's parallelism.
	for _, blocks := range []int{1, 3, 16} {
		a, err := pack(t.Context(), dir0, t.TempDir(), everything, func(w io.Writer) (io.WriteCloser, error) {
			zw, err := parallelGzip(w)
			if err != nil {
				return nil, err
			}
			return zw, zw.(*pgzip.Writer).SetConcurrency(blockSize, blocks)
		})
		if err != nil {
			t.Fatal(err)
		}
		if a.SHA256 != first.SHA256 {
			t.Errorf("with %d blocks in parallel: packed to %s, first pack %s", blocks, a.SHA256, first.SHA256)
		}
	}
	// Packing one directory twice, too.
	dir := makeTree(t, tree)
	if a, b := mustPack(t, dir), mustPack(t, dir); a.SHA256 != b.SHA256 {
		t.Errorf("two packs of one directory differ: %s and %s", a.SHA256, b.SHA256)
	}
}

func TestPackChecksumAndSize(t *testing.T) {
	t.Parallel()
	a := mustPack(t, makeTree(t, []node{
		{Name: "app.json", Mode: 0o644, Content: "{}"},
		{Name: "data.bin", Mode: 0o644, Content: string(pseudoRandom(2 << 20))},
	}))
	data, err := os.ReadFile(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	got := struct {
		SHA256 string
		Size   int64
	}{a.SHA256, a.Size}
	want := struct {
		SHA256 string
		Size   int64
	}{hex.EncodeToString(sum[:]), int64(len(data))}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archive checksum and size (-file +Archive):\n%s", diff)
	}
	if !strings.HasSuffix(a.Path, ".tar.gz") {
		t.Errorf("Path = %q, want a .tar.gz name", a.Path)
	}

	f, err := a.Open()
	if err != nil {
		t.Fatal(err)
	}
	opened, err := io.ReadAll(f)
	f.Close()
	if err != nil || !bytes.Equal(opened, data) {
		t.Errorf("Open reads %d bytes (err %v), want the %d bytes of the file", len(opened), err, len(data))
	}

	for range 2 {
		if err := a.Remove(); err != nil {
			t.Errorf("Remove: %v", err)
		}
	}
	if _, err := os.Stat(a.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("archive still exists after Remove: %v", err)
	}
	if _, err := a.Open(); err == nil {
		t.Error("Open after Remove succeeded")
	}
}

func TestPackTempDirInsideTree(t *testing.T) {
	t.Parallel()
	dir := makeTree(t, []node{{Name: "app.json", Mode: 0o644, Content: "{}"}, {Name: "tmp/", Mode: 0o755}})
	a, err := Pack(t.Context(), dir, filepath.Join(dir, "tmp"), everything)
	if err != nil {
		t.Fatal(err)
	}
	want := []node{
		{Name: "app.json", Mode: 0o644, Content: "{}"},
		{Name: "tmp/", Mode: 0o755},
	}
	if diff := cmp.Diff(want, unpack(t, a)); diff != "" {
		t.Errorf("the archive packed itself (-want +got):\n%s", diff)
	}
}

func TestPackCancel(t *testing.T) {
	t.Parallel()
	dir := makeTree(t, []node{
		{Name: "a.bin", Mode: 0o644, Content: string(pseudoRandom(4 << 20))},
		{Name: "b.bin", Mode: 0o644, Content: string(pseudoRandom(4 << 20))},
	})
	tests := []struct {
		name        string
		cancelAfter int64 // compressed bytes written before cancelling; -1: cancelled before Pack
	}{
		{name: "before", cancelAfter: -1},
		{name: "at the start", cancelAfter: 0},
		{name: "mid-stream", cancelAfter: 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancelAfter < 0 {
				cancel()
			}
			// Cancel from inside the stream, so the test does not depend on timing.
			cancelling := func(w io.Writer) (io.WriteCloser, error) {
				return gzip.NewWriter(&cancelWriter{w: w, after: tt.cancelAfter, cancel: cancel}), nil
			}
			tmp := t.TempDir()
			a, err := pack(ctx, dir, tmp, everything, cancelling)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("pack = %+v, %v; want context.Canceled", a, err)
			}
			left, _ := os.ReadDir(tmp)
			if len(left) != 0 {
				t.Errorf("files left in the temporary directory: %v", left)
			}
		})
	}
}

type cancelWriter struct {
	w      io.Writer
	after  int64
	n      atomic.Int64
	cancel context.CancelFunc
}

func (c *cancelWriter) Write(b []byte) (int, error) {
	if c.n.Add(int64(len(b))) > c.after {
		c.cancel()
	}
	return c.w.Write(b)
}

func TestPackErrors(t *testing.T) {
	t.Parallel()
	dir := makeTree(t, []node{{Name: "app.json", Mode: 0o644, Content: "{}"}})
	tests := []struct {
		name, dir, tmp string
		wantInError    string
	}{
		{name: "missing source directory", dir: filepath.Join(dir, "nope"), tmp: t.TempDir(), wantInError: "failed to open the source directory"},
		{name: "source is a file", dir: filepath.Join(dir, "app.json"), tmp: t.TempDir(), wantInError: "failed to open the source directory"},
		{name: "missing temporary directory", dir: dir, tmp: filepath.Join(dir, "no-tmp"), wantInError: "failed to create the source archive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := Pack(t.Context(), tt.dir, tt.tmp, everything)
			if err == nil {
				t.Fatalf("Pack = %+v, want an error", a)
			}
			if !strings.Contains(err.Error(), tt.wantInError) {
				t.Errorf("error %q does not say %q", err, tt.wantInError)
			}
		})
	}
}

// pseudoRandom returns n bytes that compress about as badly as real binaries, the same on each call.
func pseudoRandom(n int) []byte {
	b := make([]byte, n)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

func mustPackIn(t *testing.T, dir, tmpDir string) *Archive {
	t.Helper()
	a, err := Pack(t.Context(), dir, tmpDir, everything)
	if err != nil {
		t.Fatalf("Pack: %v", err)
	}
	return a
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// everything selects every file of a tree, tracked or not: the tests of packing proper.
var everything = Selection{Include: func() Patterns { p, _ := ParsePatterns("*"); return p }()}
