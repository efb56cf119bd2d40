// Package gittest writes the git index of a tree without a git binary, for the sandbox, the demo
// and the benchmarks, whose workspaces must look checked out: the action uploads only the files
// the index tracks. What it writes is checked against git itself in its test.
package gittest

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// IndexTree writes dir/.git/index (version 2, SHA-1) listing every regular file and symlink under
// dir, except .git at any depth and the paths (slash-separated, relative to dir) for which
// untracked returns true. Entries carry the blob's real object name, so that git agrees with the
// index, and no stat data, so that git re-reads the files before trusting it.
func IndexTree(dir string, untracked func(name string) bool) error {
	type entry struct {
		name string
		mode uint32
		oid  [sha1.Size]byte
	}
	var entries []entry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".git" {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." || d.IsDir() {
			return err
		}
		name := filepath.ToSlash(rel)
		if untracked != nil && untracked(name) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := entry{name: name}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			e.mode, e.oid = 0o120000, blobID(strings.NewReader(filepath.ToSlash(target)), int64(len(target)))
		case info.Mode().IsRegular():
			e.mode = 0o100644
			if info.Mode()&0o111 != 0 {
				e.mode = 0o100755
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			e.oid = blobID(f, info.Size())
			f.Close()
		default:
			return nil
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return fmt.Errorf("failed to index %s: %w", dir, err)
	}
	// git sorts entries by the bytes of their paths.
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })

	var buf bytes.Buffer
	buf.WriteString("DIRC")
	binary.Write(&buf, binary.BigEndian, uint32(2))
	binary.Write(&buf, binary.BigEndian, uint32(len(entries)))
	for _, e := range entries {
		start := buf.Len()
		var stat [40]byte
		binary.BigEndian.PutUint32(stat[24:], e.mode)
		buf.Write(stat[:])
		buf.Write(e.oid[:])
		binary.Write(&buf, binary.BigEndian, uint16(min(len(e.name), 0xfff)))
		buf.WriteString(e.name)
		// 1 to 8 NULs: the name's terminator and the padding to a multiple of 8 bytes.
		size := buf.Len() - start
		buf.Write(make([]byte, (size+8)&^7-size))
	}
	sum := sha1.Sum(buf.Bytes())
	buf.Write(sum[:])
	gitDir := filepath.Join(dir, ".git")
	if err := os.MkdirAll(gitDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(gitDir, "index"), buf.Bytes(), 0o644)
}

// blobID is git's object name for a blob: the SHA-1 of "blob <size>\x00" and the content.
func blobID(r io.Reader, size int64) [sha1.Size]byte {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", size)
	io.Copy(h, r)
	var id [sha1.Size]byte
	copy(id[:], h.Sum(nil))
	return id
}
