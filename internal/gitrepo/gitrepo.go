// Package gitrepo reads the commit a checkout has as HEAD straight from its .git files.
//
// The action's image has no git binary, yet it must refuse to deploy a workspace that is not checked
// out at the commit it is about to label (actions/checkout puts PR runs on a merge commit unless told
// otherwise). Only what HEAD needs is implemented: the files ref backend (loose refs and packed-refs),
// .git files (worktrees and submodules) and SHA-1 or SHA-256 object names.
package gitrepo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotCheckout is matched with errors.Is when dir holds no git checkout at all.
var ErrNotCheckout = errors.New("not a git checkout")

// maxSymrefDepth bounds chains of symbolic refs (git's own limit is 5), so a loop cannot hang us.
const maxSymrefDepth = 5

// Head returns the lower-case hex object name of the commit checked out at dir, whose .git is either
// a directory or a file naming the git directory (worktrees, submodules).
func Head(dir string) (string, error) {
	gitDir, err := findGitDir(dir)
	if err != nil {
		return "", err
	}
	commonDir, err := findCommonDir(gitDir)
	if err != nil {
		return "", err
	}
	r := resolver{gitDir: gitDir, commonDir: commonDir}
	return r.resolve("HEAD")
}

// findGitDir returns the git directory of the checkout at dir.
func findGitDir(dir string) (string, error) {
	dotGit := filepath.Join(dir, ".git")
	info, err := os.Stat(dotGit)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: %s has no .git: run actions/checkout before this action", ErrNotCheckout, dir)
	}
	if err != nil {
		return "", fmt.Errorf("failed to inspect the checkout at %s: %w", dir, err)
	}
	if info.IsDir() {
		return dotGit, nil
	}
	// A .git file holds "gitdir: <path>", the path relative to the directory holding the file.
	data, err := os.ReadFile(dotGit)
	if err != nil {
		return "", fmt.Errorf("failed to read %s: %w", dotGit, err)
	}
	line := firstLine(data)
	target, ok := strings.CutPrefix(line, "gitdir:")
	if !ok || strings.TrimSpace(target) == "" {
		return "", fmt.Errorf("%w: %s is a file without a \"gitdir:\" line: run actions/checkout before this action", ErrNotCheckout, dotGit)
	}
	gitDir := filepath.FromSlash(strings.TrimSpace(target))
	if !filepath.IsAbs(gitDir) {
		gitDir = filepath.Join(dir, gitDir)
	}
	info, err = os.Stat(gitDir)
	if err != nil || !info.IsDir() {
		return "", fmt.Errorf("%w: %s points to git directory %s, which does not exist: run actions/checkout before this action", ErrNotCheckout, dotGit, gitDir)
	}
	return gitDir, nil
}

// findCommonDir returns where the shared refs live: a linked worktree's git directory names it in a
// "commondir" file (usually "../.."); every other git directory is its own common directory.
func findCommonDir(gitDir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(gitDir, "commondir"))
	if errors.Is(err, fs.ErrNotExist) {
		return gitDir, nil
	}
	if err != nil {
		return "", fmt.Errorf("failed to read %s: %w", filepath.Join(gitDir, "commondir"), err)
	}
	common := filepath.FromSlash(firstLine(data))
	if common == "" {
		return "", fmt.Errorf("%s is empty: the worktree is damaged, run actions/checkout again", filepath.Join(gitDir, "commondir"))
	}
	if !filepath.IsAbs(common) {
		common = filepath.Join(gitDir, common)
	}
	return common, nil
}

type resolver struct {
	gitDir, commonDir string
}

// resolve follows ref (HEAD or refs/...) through symbolic refs to an object name.
func (r resolver) resolve(ref string) (string, error) {
	chain := []string{ref}
	for range maxSymrefDepth {
		value, err := r.read(ref)
		if err != nil {
			return "", err
		}
		target, symbolic := strings.CutPrefix(value, "ref:")
		if !symbolic {
			if !isObjectName(value) {
				return "", fmt.Errorf("%s holds %q, which is not a commit hash: the checkout is damaged, run actions/checkout again", describe(chain), value)
			}
			return strings.ToLower(value), nil
		}
		ref = strings.TrimSpace(target)
		if err := checkRefName(ref); err != nil {
			return "", fmt.Errorf("%s points to %q: %w", describe(chain), ref, err)
		}
		chain = append(chain, ref)
	}
	return "", fmt.Errorf("%s: more than %d symbolic refs in a row, the checkout is damaged", describe(chain), maxSymrefDepth)
}

// read returns the trimmed content of one ref, looking where git would: the loose ref file first
// (per-worktree refs in the git directory, shared ones in the common directory), then packed-refs.
func (r resolver) read(ref string) (string, error) {
	dir := r.commonDir
	if perWorktree(ref) {
		dir = r.gitDir
	}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(ref)))
	if err == nil {
		return firstLine(data), nil
	}
	if !errors.Is(err, fs.ErrNotExist) && !isDirErr(dir, ref) {
		return "", fmt.Errorf("failed to read ref %s: %w", ref, err)
	}
	if ref == "HEAD" {
		return "", fmt.Errorf("%w: %s has no HEAD: run actions/checkout before this action", ErrNotCheckout, r.gitDir)
	}
	value, found, err := packedRef(r.commonDir, ref)
	if err != nil {
		return "", err
	}
	if !found {
		if r.usesReftable() {
			return "", fmt.Errorf("cannot resolve HEAD (%s): the repository keeps its refs in a reftable, which this action cannot read; check out without extensions.refStorage=reftable", ref)
		}
		return "", fmt.Errorf("cannot resolve HEAD: ref %s has no commit (neither %s nor packed-refs has it); check out a branch or commit that exists", ref, filepath.Join(dir, filepath.FromSlash(ref)))
	}
	return value, nil
}

// isDirErr reports whether ref names a directory, as refs/heads/feature is when refs/heads/feature/x
// exists; git then looks in packed-refs, and so do we.
func isDirErr(dir, ref string) bool {
	info, err := os.Stat(filepath.Join(dir, filepath.FromSlash(ref)))
	return err == nil && info.IsDir()
}

// packedRef looks ref up in packed-refs: "<hash> <ref>" lines, a "# pack-refs" header, and "^<hash>"
// lines giving the commit an annotated tag on the line above peels to. HEAD reports the ref's own
// value, as git rev-parse HEAD does, so peeled lines are skipped.
func packedRef(commonDir, ref string) (string, bool, error) {
	path := filepath.Join(commonDir, "packed-refs")
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("failed to open %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" || line[0] == '#' || line[0] == '^' {
			continue
		}
		hash, name, ok := strings.Cut(line, " ")
		if ok && name == ref {
			return hash, true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", false, fmt.Errorf("failed to read %s: %w", path, err)
	}
	return "", false, nil
}

// usesReftable reports whether the repository uses the reftable ref backend (git 2.45+), whose
// HEAD is a placeholder pointing to refs/heads/.invalid.
func (r resolver) usesReftable() bool {
	info, err := os.Stat(filepath.Join(r.commonDir, "reftable"))
	return err == nil && info.IsDir()
}

// perWorktree reports whether a ref lives in a worktree's own git directory rather than the common
// one (see gitrepository-layout(5)).
func perWorktree(ref string) bool {
	if !strings.HasPrefix(ref, "refs/") {
		return true // HEAD and other pseudo-refs
	}
	for _, p := range []string{"refs/worktree/", "refs/bisect/", "refs/rewritten/"} {
		if strings.HasPrefix(ref, p) {
			return true
		}
	}
	return false
}

// checkRefName rejects symbolic ref targets that would make us read files outside the git directory.
func checkRefName(ref string) error {
	if !strings.HasPrefix(ref, "refs/") {
		return errors.New("a symbolic ref must point into refs/")
	}
	for _, part := range strings.Split(ref, "/") {
		if part == "" || part == "." || part == ".." || strings.ContainsRune(part, '\\') {
			return errors.New("not a valid ref name")
		}
	}
	return nil
}

func isObjectName(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func firstLine(data []byte) string {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	return strings.TrimSpace(string(line))
}

func describe(chain []string) string {
	return strings.Join(chain, " -> ")
}
