// Package workspace resolves the directories that inputs name inside the workspace (app_dir,
// secrets_dir) to where they really are, and refuses any that a symlink leads out of it.
//
// The inputs are relative paths checked as text (internal/config), but a symlink in the checkout,
// committed by a pull request or made by an earlier step, can stand anywhere on the way: a
// secrets_dir or app_dir that is a symlink to the container's /github/home or
// /github/file_commands would hand other steps' files to the secrets loader or to the packed
// source. os.OpenRoot does not help here, since it follows a symlink given as its root.
package workspace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Dir is a directory inside the workspace, resolved.
type Dir struct {
	Path string // absolute, every symlink on the way resolved
	Rel  string // slash-separated, relative to the resolved workspace ("." for the workspace)
}

// Resolve returns where rel (relative to root, as the config cleaned it) really is. Every symlink
// on the way is resolved, the intermediate ones too, and the result must be the workspace or
// inside it. A path whose end does not exist yet resolves to where it would be (its existing part
// resolved), so that a missing directory is reported by whoever reads it; a symlink on the way
// that points nowhere is refused, since what it would lead to is unknown.
func Resolve(root, rel string) (Dir, error) {
	if root == "" {
		root = "."
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return Dir{}, fmt.Errorf("failed to resolve the workspace %s: %w", root, err)
	}
	if realRoot, err = filepath.Abs(realRoot); err != nil {
		return Dir{}, err
	}
	if filepath.IsAbs(rel) {
		return Dir{}, fmt.Errorf("%s is an absolute path: give a path relative to the workspace", rel)
	}
	resolved, err := resolveExisting(filepath.Join(realRoot, rel))
	if err != nil {
		return Dir{}, err
	}
	inside, err := filepath.Rel(realRoot, resolved)
	if err != nil || inside == ".." || strings.HasPrefix(inside, ".."+string(filepath.Separator)) {
		return Dir{}, fmt.Errorf("%s leads out of the workspace through a symlink (to %s): the action only reads directories inside the checkout; point the input at the real directory, or remove the symlink", filepath.ToSlash(rel), resolved)
	}
	return Dir{Path: resolved, Rel: filepath.ToSlash(inside)}, nil
}

// resolveExisting evaluates the symlinks of the longest existing part of p and appends the rest.
func resolveExisting(p string) (string, error) {
	var rest []string
	for cur := p; ; {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(append([]string{real}, rest...)...), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("failed to resolve %s: %w", p, err)
		}
		// The missing part must be missing, not a symlink whose target is.
		if info, lerr := os.Lstat(cur); lerr == nil && info.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(cur)
			return "", fmt.Errorf("%s is a symlink to %s, which does not exist: point the input at a real directory", cur, target)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return "", fmt.Errorf("failed to resolve %s: %w", p, err)
		}
		rest = append([]string{filepath.Base(cur)}, rest...)
		cur = parent
	}
}
