// Package encryptcheck checks that every secrets file is encrypted. It is
// behind `deploy-action check-secrets`, the pre-commit hook and the action's
// check-secrets stage: every file in the secrets directory must be a
// SOPS-encrypted YAML or JSON file (metadata with a version, a MAC and keys;
// every value encrypted unless the file's own sops rules say otherwise), and,
// when keys are at hand, its MAC must verify.
//
// It never prints or returns a value of a file: findings name files and key
// paths. Decryption for --verify-mac happens in memory only.
package encryptcheck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/pangeo-forge/deploy-action/internal/secrets"
)

// Options says how far to check.
type Options struct {
	// VerifyMAC decrypts each sound file in memory with the keys in Secrets
	// and verifies its MAC (which also proves the keys can decrypt it).
	VerifyMAC bool
	Secrets   secrets.Options
}

// Finding is one problem with one file.
type Finding struct {
	Path string // as given, relative to the root when it is under it, with forward slashes
	What string // what is wrong
	Fix  string // what to do; empty when What already says it
}

// String is the finding's one line: "path: what is wrong — what to do".
func (f Finding) String() string {
	if f.Fix == "" {
		return f.Path + ": " + f.What
	}
	return f.Path + ": " + f.What + " — " + f.Fix
}

// Report is the outcome of a check.
type Report struct {
	Files    []string // the files checked, in order
	Findings []Finding
	Verified bool // MACs were verified (Options.VerifyMAC)
}

// OK reports whether no file has a problem.
func (r Report) OK() bool { return len(r.Findings) == 0 }

// Summary is the one line that closes a check.
func (r Report) Summary() string {
	what := "are SOPS-encrypted"
	if r.Verified {
		what = "are SOPS-encrypted and their MACs verify"
	}
	if len(r.Files) == 1 {
		what = "is SOPS-encrypted"
		if r.Verified {
			what = "is SOPS-encrypted and its MAC verifies"
		}
	}
	switch {
	case !r.OK():
		files := map[string]bool{}
		for _, f := range r.Findings {
			files[f.Path] = true
		}
		return fmt.Sprintf("check-secrets: %s in %s of %s checked", count(len(r.Findings), "problem"), count(len(files), "file"), count(len(r.Files), "file"))
	case len(r.Files) == 0:
		return "check-secrets: OK, no secrets files to check"
	}
	return fmt.Sprintf("check-secrets: OK, %s %s", count(len(r.Files), "file"), what)
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// ignored are files a secrets directory may hold that are not secrets: sops's
// own configuration (plaintext by design), git's placeholders, and a README.
var ignored = []string{".sops.yaml", ".sops.yml", ".gitkeep", ".gitignore", ".gitattributes", "README", "README.md"}

// Check checks each of paths (files, or directories whose files are all
// checked), resolved against root unless absolute. The returned error is for
// a canceled context only: everything about the files is a Finding.
func Check(ctx context.Context, root string, paths []string, opt Options) (Report, error) {
	rep := Report{Verified: opt.VerifyMAC}
	for _, p := range paths {
		files, finding := expand(root, p)
		if finding != nil {
			rep.Findings = append(rep.Findings, *finding)
			continue
		}
		for _, f := range files {
			if slices.Contains(rep.Files, f) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			rep.Files = append(rep.Files, f)
			found, err := checkFile(ctx, root, f, opt)
			if err != nil {
				return rep, err
			}
			rep.Findings = append(rep.Findings, found...)
		}
	}
	return rep, nil
}

// expand turns one argument into the files to check.
func expand(root, p string) ([]string, *Finding) {
	full := resolve(root, p)
	info, err := os.Stat(full)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &Finding{Path: display(p), What: "does not exist", Fix: "give an existing file, or set the secrets directory (--secrets-dir, input secrets_dir) to where the config.<name>.yaml files are"}
	}
	if err != nil {
		return nil, &Finding{Path: display(p), What: fmt.Sprintf("cannot be read: %v", err), Fix: "check its permissions"}
	}
	if !info.IsDir() {
		if slices.Contains(ignored, filepath.Base(p)) {
			return nil, nil
		}
		return []string{display(p)}, nil
	}
	var files []string
	err = filepath.WalkDir(full, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if slices.Contains(ignored, d.Name()) {
			return nil
		}
		rel, err := filepath.Rel(full, path)
		if err != nil {
			return err
		}
		files = append(files, display(filepath.Join(p, rel)))
		return nil
	})
	if err != nil {
		return nil, &Finding{Path: display(p), What: fmt.Sprintf("cannot be listed: %v", err), Fix: "check its permissions"}
	}
	sort.Strings(files)
	return files, nil
}

func resolve(root, p string) string {
	if filepath.IsAbs(p) || root == "" {
		return p
	}
	return filepath.Join(root, p)
}

func display(p string) string { return filepath.ToSlash(filepath.Clean(p)) }

// checkFile inspects one file and, when asked and the file is sound,
// verifies its MAC.
func checkFile(ctx context.Context, root, p string, opt Options) ([]Finding, error) {
	full := resolve(root, filepath.FromSlash(p))
	data, err := os.ReadFile(full)
	if err != nil {
		return []Finding{{Path: p, What: fmt.Sprintf("cannot be read: %v", errors.Unwrap(err)), Fix: "check its permissions"}}, nil
	}
	var out []Finding
	for _, problem := range secrets.Inspect(p, data) {
		out = append(out, Finding{Path: p, What: problem.What, Fix: problem.Fix})
	}
	if len(out) > 0 || !opt.VerifyMAC {
		return out, nil
	}
	if _, err := secrets.DecryptFile(ctx, full, opt.Secrets); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// The secrets package names the file by the path it read; say it once,
		// the way the user gave it.
		msg := strings.ReplaceAll(err.Error(), full, p)
		msg = strings.TrimPrefix(msg, p+": ")
		return []Finding{{Path: p, What: msg}}, nil
	}
	return nil, nil
}
