// Package source turns the workspace into the gzipped tarball Heroku builds from: the files git
// tracks (what a git push to Heroku would send), the untracked files the user asked for, less what
// the tree's .slugignore excludes.
//
// The tarball is written to a temporary file, never held in memory, so that its size and SHA256 are
// known before the upload (Heroku's PUT needs a Content-Length, its build takes the checksum) and the
// upload can be retried from the file. The output is reproducible: packing one tree twice gives the
// same bytes, so the checksum identifies the source.
package source

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/klauspost/pgzip"
)

// Archive is a packed source tarball on disk.
type Archive struct {
	Path   string // the .tar.gz file; Remove deletes it
	Size   int64  // bytes of the .tar.gz, the upload's Content-Length
	SHA256 string // lower-case hex SHA256 of the .tar.gz bytes, the build's source_blob checksum

	Entries int      // files, directories and symlinks packed
	Skipped []string // sockets, pipes and devices: a tarball for a build cannot carry them

	Files        int      // files and symlinks packed
	LeftOut      int      // untracked files and symlinks not packed
	Largest      string   // the largest of them (empty when none was left out)
	LargestSize  int64    // its size in bytes
	SlugIgnored  int      // files and symlinks .slugignore excluded
	SlugProblems []string // .slugignore lines that could not be used, one message each
}

// Selection says which files of a tree are packed: those git tracks and the untracked ones that
// Include matches, less what the tree's own .slugignore excludes (Heroku would remove them before
// the build anyway). Directories are packed when they hold something packed: git tracks no empty
// directory either.
type Selection struct {
	Tracked []string // slash-separated, relative to the packed directory (gitrepo.TrackedFiles)
	Include Patterns // untracked files to pack as well (the include_untracked input)
}

// Under returns the paths of files (slash-separated) that are inside the directory dir ("." for
// all), relative to it: the tracked files of an app_dir.
func Under(files []string, dir string) []string {
	dir = strings.Trim(path.Clean(filepath.ToSlash(dir)), "/")
	if dir == "." || dir == "" {
		return files
	}
	var out []string
	for _, f := range files {
		if rest, ok := strings.CutPrefix(f, dir+"/"); ok {
			out = append(out, rest)
		}
	}
	return out
}

// Open opens the tarball for reading, for example as an upload body.
func (a *Archive) Open() (*os.File, error) {
	f, err := os.Open(a.Path)
	if err != nil {
		return nil, fmt.Errorf("failed to open source archive: %w", err)
	}
	return f, nil
}

// Remove deletes the tarball; removing it twice is not an error.
func (a *Archive) Remove() error {
	if err := os.Remove(a.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("failed to remove source archive: %w", err)
	}
	return nil
}

// mtime is the modification time of every entry. A fixed time makes the output reproducible; it is
// well after 1980 so that tools that zip the sources during the build (Python wheels) accept it in
// any time zone.
var mtime = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// copyBufferSize is how much of a file is read at once, and so how often cancellation is checked.
const copyBufferSize = 256 << 10

// compressor wraps the tarball's byte stream in gzip.
type compressor func(w io.Writer) (io.WriteCloser, error)

// parallelGzip compresses 512 KiB blocks on up to maxBlocks CPUs with klauspost's flate. In BenchmarkPack it is
// about ten times faster than compress/gzip (and than tar | gzip) for output 2% larger. Blocks
// are cut at fixed offsets of the stream, so the bytes do not depend on the number of CPUs.
//
// At most maxBlocks blocks are in flight: pgzip's default is one per CPU, and each costs a few MB
// (input, output and compressor state), which on a 64-CPU runner would take the packer's memory
// far past the 64 MB budget of docs/performance.md for no gain, since the disk and the upload are
// the limit long before that.
func parallelGzip(w io.Writer) (io.WriteCloser, error) {
	zw, err := pgzip.NewWriterLevel(w, pgzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if err := zw.SetConcurrency(blockSize, min(runtime.GOMAXPROCS(0), maxBlocks)); err != nil {
		return nil, err
	}
	return zw, nil
}

// maxBlocks bounds the gzip blocks compressed at once (see parallelGzip).
const maxBlocks = 8

// blockSize is the size of one gzip block. Half of pgzip's default: the output grows by well
// under 1%, and the memory of the blocks in flight halves.
const blockSize = 512 << 10

// Pack writes a gzipped tar of the files of the tree at dir that sel selects to a new temporary
// file in tmpDir (os.TempDir() when empty). Entries are relative to dir ("app.json",
// "web/index.html"), in sorted order, with fixed times and owners; .git, directory or file, is left
// out at any depth. Regular files keep their executable bit (modes are normalised to 0644 or 0755,
// as git records them). Symlinks are stored as links, as git stores them, and never followed:
// neither a symlink that is packed nor a symlinked directory on the way to a tracked path, whose
// files are then not packed. On error or cancellation no file is left behind.
func Pack(ctx context.Context, dir, tmpDir string, sel Selection) (*Archive, error) {
	return pack(ctx, dir, tmpDir, sel, parallelGzip)
}

func pack(ctx context.Context, dir, tmpDir string, sel Selection, compress compressor) (_ *Archive, err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("failed to pack %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to open the source directory %s: %w", dir, err)
	}
	defer root.Close()

	out, err := os.CreateTemp(tmpDir, "deploy-source-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("failed to create the source archive in %q (set a writable temporary directory): %w", tmpDir, err)
	}
	defer func() {
		if cerr := out.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("failed to write the source archive: %w", cerr)
		}
		if err != nil {
			os.Remove(out.Name())
		}
	}()
	self, err := out.Stat()
	if err != nil {
		return nil, fmt.Errorf("failed to inspect the source archive: %w", err)
	}

	sum := sha256.New()
	counted := &countingWriter{w: io.MultiWriter(out, sum)}
	buffered := bufio.NewWriterSize(counted, 1<<20)
	zw, err := compress(buffered)
	if err != nil {
		return nil, fmt.Errorf("failed to start compressing: %w", err)
	}
	p := &packer{ctx: ctx, root: root, tw: tar.NewWriter(zw), self: self, buf: make([]byte, copyBufferSize),
		tracked: make(map[string]bool, len(sel.Tracked)), include: sel.Include, written: map[string]bool{}}
	for _, f := range sel.Tracked {
		p.tracked[f] = true
	}
	if err := p.readSlugignore(); err != nil {
		zw.Close()
		return nil, err
	}
	if err := fs.WalkDir(root.FS(), ".", p.visit); err != nil {
		zw.Close()
		return nil, fmt.Errorf("failed to pack %s: %w", dir, err)
	}
	if err := p.tw.Close(); err != nil {
		zw.Close()
		return nil, fmt.Errorf("failed to finish the tar stream: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("failed to finish compressing: %w", err)
	}
	if err := buffered.Flush(); err != nil {
		return nil, fmt.Errorf("failed to write the source archive: %w", err)
	}
	return &Archive{
		Path:         out.Name(),
		Size:         counted.n,
		SHA256:       hex.EncodeToString(sum.Sum(nil)),
		Entries:      p.entries,
		Skipped:      p.skipped,
		Files:        p.files,
		LeftOut:      p.leftOut,
		Largest:      p.largest,
		LargestSize:  p.largestSize,
		SlugIgnored:  p.slugIgnored,
		SlugProblems: p.slugProblems,
	}, nil
}

// slugignoreName is the file whose patterns Heroku's slug compiler removes before the build
// (Dev Center, Slug Compiler: only the one at the top of the app).
const slugignoreName = ".slugignore"

// readSlugignore reads the tree's .slugignore when it is packed (Heroku reads the one it receives),
// a regular file: a symlink is never followed.
func (p *packer) readSlugignore() error {
	if !p.selected(slugignoreName) {
		return nil
	}
	info, err := p.root.Lstat(slugignoreName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", slugignoreName, err)
	}
	if !info.Mode().IsRegular() || info.Size() > 1<<20 {
		p.slugProblems = append(p.slugProblems, "it is not a regular file under 1 MiB: not applied")
		return nil
	}
	data, err := p.root.ReadFile(slugignoreName)
	if err != nil {
		return fmt.Errorf("failed to read %s: %w", slugignoreName, err)
	}
	p.slug, p.slugProblems = ParsePatterns(string(data))
	return nil
}

// selected reports whether the file or symlink at name is tracked or asked for.
func (p *packer) selected(name string) bool {
	return p.tracked[name] || p.include.Match(name, false)
}

type packer struct {
	ctx     context.Context // scoped to one Pack call
	root    *os.Root
	tw      *tar.Writer
	self    fs.FileInfo // the archive being written, in case tmpDir is inside the tree
	buf     []byte
	entries int
	skipped []string

	tracked      map[string]bool
	include      Patterns
	slug         Patterns
	slugProblems []string
	written      map[string]bool // directories already in the tar
	files        int
	leftOut      int
	largest      string
	largestSize  int64
	slugIgnored  int
}

// visit is the fs.WalkDirFunc: WalkDir reads directories in sorted order and does not follow
// symlinks, which together make the entry order reproducible and links stay links.
func (p *packer) visit(name string, d fs.DirEntry, err error) error {
	if err != nil {
		return err
	}
	if err := p.ctx.Err(); err != nil {
		return err
	}
	if name == "." {
		return nil
	}
	if d.Name() == ".git" {
		if d.IsDir() {
			return fs.SkipDir
		}
		return nil
	}
	if d.IsDir() {
		return nil // packed when something in it is (writeParents)
	}
	info, err := d.Info()
	if err != nil {
		return err
	}
	if !p.selected(name) {
		if info.Mode().IsRegular() || info.Mode()&fs.ModeSymlink != 0 {
			p.leftOut++
			if p.largest == "" || info.Size() > p.largestSize {
				p.largest, p.largestSize = name, info.Size()
			}
		}
		return nil
	}
	if p.slug.Match(name, false) {
		p.slugIgnored++
		return nil
	}
	if info.Mode().IsRegular() || info.Mode()&fs.ModeSymlink != 0 {
		if err := p.writeParents(name); err != nil {
			return err
		}
	}
	return p.write(name, info)
}

// writeParents puts the directories above name into the tar, those not there yet. The walk is in
// sorted order, so each one lands where a walk of the whole tree would have put it.
func (p *packer) writeParents(name string) error {
	for i := 0; i < len(name); i++ {
		if name[i] != '/' || p.written[name[:i]] {
			continue
		}
		dir := name[:i]
		hdr := &tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime, Format: tar.FormatUnknown}
		if err := p.tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		p.written[dir] = true
		p.entries++
	}
	return nil
}

// write puts one file or symlink into the tar.
func (p *packer) write(name string, info fs.FileInfo) error {
	hdr := &tar.Header{
		Name:    name,
		ModTime: mtime,
		Format:  tar.FormatUnknown, // let the writer pick USTAR, or PAX for long names
	}
	switch mode := info.Mode(); {
	case mode&fs.ModeSymlink != 0:
		target, err := p.root.Readlink(name)
		if err != nil {
			return err
		}
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = target
		hdr.Mode = 0o777
	case mode.IsRegular():
		if os.SameFile(info, p.self) {
			return nil
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Size = info.Size()
		hdr.Mode = 0o644
		if mode&0o111 != 0 {
			hdr.Mode = 0o755
		}
	default:
		p.skipped = append(p.skipped, name)
		return nil
	}
	if err := p.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	p.entries++
	p.files++
	if hdr.Typeflag == tar.TypeReg {
		return p.copyFile(name, info)
	}
	return nil
}

// copyFile streams one regular file into the tar, exactly the size its header announced.
func (p *packer) copyFile(name string, info fs.FileInfo) error {
	size := info.Size()
	f, err := p.root.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	// The file opened must be the one the walk saw: had it been replaced by a symlink since, Open
	// would have followed it.
	if opened, err := f.Stat(); err != nil || !os.SameFile(opened, info) {
		return fmt.Errorf("%s was replaced while it was packed: pack a tree nothing else is writing to", name)
	}
	n, err := io.CopyBuffer(p.tw, &ctxReader{ctx: p.ctx, r: io.LimitReader(f, size)}, p.buf)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("%s shrank from %d to %d bytes while it was packed: pack a tree nothing else is writing to", name, size, n)
	}
	return nil
}

// ctxReader stops a long copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r *ctxReader) Read(b []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(b)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
