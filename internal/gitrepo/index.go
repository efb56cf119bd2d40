package gitrepo

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// The index is read by this package rather than by go-git's plumbing/format/index, the one
// maintained Go reader: go-git v5 (v5.19.3) refuses any index that carries the sparse-directory
// extension ("sdir", which `git sparse-checkout --sparse-index` writes) and reads SHA-256
// repositories only when the whole program is built with a build tag, while this package already
// reads SHA-256 checkouts' HEAD. The format is small and documented (gitformat-index(5)); the
// parser is fuzzed (FuzzParseIndex) and tested against index files written by git itself.

// Index entry modes (the object types git records; see gitformat-index(5)).
const (
	ModeFile       = 0o100644
	ModeExecutable = 0o100755
	ModeSymlink    = 0o120000
	ModeGitlink    = 0o160000 // a submodule's commit
	ModeSparseDir  = 0o040000 // a sparse index's directory entry, outside the sparse cone
)

// IndexEntry is one entry of a git index.
type IndexEntry struct {
	Path         string // slash-separated, relative to the work tree; a sparse directory ends in "/"
	Mode         uint32
	Stage        int  // 0, or 1 to 3 for the sides of an unresolved merge conflict
	SkipWorktree bool // sparse checkout: git does not keep this path in the work tree
	IntentToAdd  bool // `git add -N`: the path is announced, its content is in no commit yet
}

const (
	indexSignature   = "DIRC"
	indexHeaderSize  = 12
	indexStatSize    = 40 // ctime, mtime (seconds and nanoseconds), dev, ino, mode, uid, gid, size
	flagExtended     = 0x4000
	flagStageShift   = 12
	flagNameMask     = 0x0fff
	extSkipWorktree  = 0x4000
	extIntentToAdd   = 0x2000
	maxSubmoduleNest = 8 // submodules of submodules; deeper is refused rather than followed
)

// ErrNoIndex is matched with errors.Is when a checkout has no index file.
var ErrNoIndex = errors.New("the checkout has no git index")

// ParseIndex decodes an index file (versions 2, 3 and 4) whose object names are hashSize bytes
// long (20 for SHA-1 repositories, 32 for SHA-256 ones). The trailing checksum is verified unless
// it is all zeros (index.skipHash). Extensions are checked, not decoded: optional ones (an upper
// case first letter) are skipped, the sparse-directory one is understood, and any other required
// one is an error, since it would change what the entries mean (a split index keeps most of its
// entries in another file).
func ParseIndex(data []byte, hashSize int) ([]IndexEntry, error) {
	var newHash func() hash.Hash
	switch hashSize {
	case sha1.Size:
		newHash = sha1.New
	case sha256.Size:
		newHash = sha256.New
	default:
		return nil, fmt.Errorf("unsupported object name size %d", hashSize)
	}
	if len(data) < indexHeaderSize+hashSize {
		return nil, errors.New("the index is truncated")
	}
	if string(data[:4]) != indexSignature {
		return nil, errors.New("not a git index (no DIRC signature)")
	}
	body, trailer := data[:len(data)-hashSize], data[len(data)-hashSize:]
	if !allZero(trailer) {
		h := newHash()
		h.Write(body)
		if !bytes.Equal(h.Sum(nil), trailer) {
			return nil, errors.New("the index's checksum does not match its content: the index is damaged")
		}
	}
	version := binary.BigEndian.Uint32(body[4:])
	if version < 2 || version > 4 {
		return nil, fmt.Errorf("index version %d is not supported (git writes 2 to 4)", version)
	}
	count := binary.BigEndian.Uint32(body[8:])
	fixed := indexStatSize + hashSize + 2 // stat data, object name, flags
	if uint64(count) > uint64(len(body)/fixed) {
		return nil, fmt.Errorf("the index announces %d entries but is too short to hold them", count)
	}
	entries := make([]IndexEntry, 0, count)
	off := indexHeaderSize
	prev := ""
	// A bad path is reported after the extensions are read: a split index's entries have empty
	// names (the shared index holds them), and its own message says more.
	var pathErr error
	for i := uint32(0); i < count; i++ {
		start := off
		if off+fixed > len(body) {
			return nil, errors.New("the index is truncated inside an entry")
		}
		e := IndexEntry{Mode: binary.BigEndian.Uint32(body[off+24:])}
		flags := binary.BigEndian.Uint16(body[off+indexStatSize+hashSize:])
		off += fixed
		e.Stage = int(flags>>flagStageShift) & 3
		if flags&flagExtended != 0 {
			if version < 3 {
				return nil, errors.New("a version 2 index entry has extended flags")
			}
			if off+2 > len(body) {
				return nil, errors.New("the index is truncated inside an entry")
			}
			ext := binary.BigEndian.Uint16(body[off:])
			off += 2
			e.SkipWorktree = ext&extSkipWorktree != 0
			e.IntentToAdd = ext&extIntentToAdd != 0
		}
		var name []byte
		if version == 4 {
			// The name is the previous one less its last strip bytes, then a NUL-terminated suffix;
			// entries are not padded.
			strip, n := uvarint(body[off:])
			if n == 0 {
				return nil, errors.New("bad path prefix length in a version 4 index entry")
			}
			off += n
			if strip > uint64(len(prev)) {
				return nil, errors.New("a version 4 index entry strips more of the previous path than it has")
			}
			end := bytes.IndexByte(body[off:], 0)
			if end < 0 {
				return nil, errors.New("the index is truncated inside a path")
			}
			name = append([]byte(prev[:len(prev)-int(strip)]), body[off:off+end]...)
			off += end + 1
		} else {
			// The name's length is in the flags unless it is 0xFFF or more; then the NUL ends it.
			// 1 to 8 NULs pad the entry to a multiple of 8 bytes.
			n := int(flags & flagNameMask)
			if n == flagNameMask {
				n = bytes.IndexByte(body[off:], 0)
				if n < 0 {
					return nil, errors.New("the index is truncated inside a path")
				}
			} else if off+n >= len(body) || body[off+n] != 0 {
				return nil, errors.New("an index entry's path is not NUL-terminated where its length says")
			}
			name = body[off : off+n]
			off = start + (off-start+n+8)&^7
			if off > len(body) {
				return nil, errors.New("the index is truncated inside an entry's padding")
			}
		}
		e.Path = string(name)
		if err := checkIndexPath(e); err != nil && pathErr == nil {
			pathErr = err
		}
		prev = e.Path
		entries = append(entries, e)
	}
	for off < len(body) {
		if off+8 > len(body) {
			return nil, errors.New("the index has stray bytes after its entries")
		}
		sig := string(body[off : off+4])
		size := uint64(binary.BigEndian.Uint32(body[off+4:]))
		off += 8
		if uint64(off)+size > uint64(len(body)) {
			return nil, fmt.Errorf("index extension %q runs past the end of the index", sig)
		}
		off += int(size)
		switch {
		case sig[0] >= 'A' && sig[0] <= 'Z': // optional: a cache of something git can recompute
		case sig == "sdir": // sparse directory entries may be present: they are entries like any other
		case sig == "link":
			return nil, errors.New("the index is split (core.splitIndex): its entries are partly in another file, which this action does not read; check out without core.splitIndex")
		default:
			return nil, fmt.Errorf("the index has a required extension %q that this action does not understand", sig)
		}
	}
	if pathErr != nil {
		return nil, pathErr
	}
	return entries, nil
}

// uvarint decodes git's offset varint (varint.c): unlike encoding/binary's, each continuation
// adds one before shifting. It returns the value and the bytes read, 0 on error or overflow.
func uvarint(b []byte) (uint64, int) {
	if len(b) == 0 {
		return 0, 0
	}
	c := b[0]
	val := uint64(c & 0x7f)
	n := 1
	for c&0x80 != 0 {
		if n >= len(b) || val >= 1<<50 {
			return 0, 0
		}
		val++
		c = b[n]
		n++
		val = val<<7 | uint64(c&0x7f)
	}
	return val, n
}

// checkIndexPath refuses paths that git would never write into an index: they could make a reader
// look outside the work tree or into a .git directory.
func checkIndexPath(e IndexEntry) error {
	p := e.Path
	if e.Mode == ModeSparseDir {
		p = strings.TrimSuffix(p, "/")
	}
	if p == "" || strings.HasPrefix(p, "/") {
		return fmt.Errorf("the index names the path %q, which git would refuse: the index is damaged", e.Path)
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." || strings.EqualFold(part, ".git") || strings.ContainsRune(part, 0) {
			return fmt.Errorf("the index names the path %q, which git would refuse: the index is damaged", e.Path)
		}
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// ReadIndex reads the index of the checkout at dir (its .git directory, or the git directory a
// .git file names).
func ReadIndex(dir string) ([]IndexEntry, error) {
	gitDir, err := findGitDir(dir)
	if err != nil {
		return nil, err
	}
	return readIndexAt(gitDir)
}

func readIndexAt(gitDir string) ([]IndexEntry, error) {
	commonDir, err := findCommonDir(gitDir)
	if err != nil {
		return nil, err
	}
	hashSize, err := objectNameSize(commonDir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(gitDir, "index")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist: check out the repository with actions/checkout before this action", ErrNoIndex, path)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read the git index %s: %w", path, err)
	}
	entries, err := ParseIndex(data, hashSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return entries, nil
}

// objectNameSize reads the repository's object format (extensions.objectFormat in its config):
// 32-byte SHA-256 names, or git's default 20-byte SHA-1 ones.
func objectNameSize(commonDir string) (int, error) {
	data, err := os.ReadFile(filepath.Join(commonDir, "config"))
	if errors.Is(err, fs.ErrNotExist) {
		return sha1.Size, nil
	}
	if err != nil {
		return 0, fmt.Errorf("failed to read the git config: %w", err)
	}
	section := ""
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			section = strings.ToLower(strings.Trim(line, "[] \t"))
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section != "extensions" || !strings.EqualFold(strings.TrimSpace(key), "objectformat") {
			continue
		}
		switch v := strings.ToLower(strings.Trim(strings.TrimSpace(value), `"`)); v {
		case "sha1":
			return sha1.Size, nil
		case "sha256":
			return sha256.Size, nil
		default:
			return 0, fmt.Errorf("the repository's object format %q is not supported", v)
		}
	}
	return sha1.Size, nil
}

// TrackedFiles lists the files git tracks in the checkout at dir, as `git ls-files
// --recurse-submodules` does, relative to dir, slash-separated, sorted and each once (the sides of
// a merge conflict are one path). It leaves out:
//   - intent-to-add entries (`git add -N`): no commit has their content, so no git push sends it;
//   - a sparse index's directory entries: outside the sparse cone, not in the work tree.
//
// A submodule (a gitlink entry) is replaced by the files its own index tracks, when it is checked
// out (its directory has a .git); an uninitialised submodule contributes nothing, as in git.
// Skip-worktree entries are listed: whether such a file is in the work tree is for the caller to
// see (in a sparse checkout it is not).
func TrackedFiles(dir string) ([]string, error) {
	var out []string
	if err := trackedFiles(dir, "", 0, &out); err != nil {
		return nil, err
	}
	sort.Strings(out)
	return compactStrings(out), nil
}

func trackedFiles(dir, prefix string, depth int, out *[]string) error {
	entries, err := ReadIndex(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		switch {
		case e.IntentToAdd, e.Mode == ModeSparseDir:
			continue
		case e.Mode == ModeGitlink:
			sub := filepath.Join(dir, filepath.FromSlash(e.Path))
			if _, err := os.Lstat(filepath.Join(sub, ".git")); err != nil {
				continue // not checked out
			}
			if depth >= maxSubmoduleNest {
				return fmt.Errorf("submodule %s is nested more than %d deep", path.Join(prefix, e.Path), maxSubmoduleNest)
			}
			if err := trackedFiles(sub, path.Join(prefix, e.Path), depth+1, out); err != nil {
				return fmt.Errorf("submodule %s: %w", path.Join(prefix, e.Path), err)
			}
		default:
			*out = append(*out, path.Join(prefix, e.Path))
		}
	}
	return nil
}

func compactStrings(s []string) []string {
	if len(s) == 0 {
		return s
	}
	out := s[:1]
	for _, v := range s[1:] {
		if v != out[len(out)-1] {
			out = append(out, v)
		}
	}
	return out
}
