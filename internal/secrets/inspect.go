package secrets

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/config"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
)

// Problem is one reason a file is not a sound SOPS file: what is wrong and
// what to do about it. Neither ever quotes a value of the file; they name
// key paths.
type Problem struct {
	What, Fix string
}

type store interface {
	LoadEncryptedFile([]byte) (sops.Tree, error)
}

// storeFor picks sops's store by extension. sops itself treats an unknown
// extension as a binary file, which would turn a plaintext .toml into one
// opaque "data" value: here it is a problem instead.
func storeFor(path string) (store, string) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return sopsyaml.NewStore(&config.YAMLStoreConfig{}), "YAML"
	case ".json":
		return sopsjson.NewStore(&config.JSONStoreConfig{}), "JSON"
	}
	return nil, ""
}

// Inspect checks, without any key, that data (the content of path) is a
// SOPS-encrypted file: a supported extension, not empty, sops metadata with a
// version, a MAC and at least one key, and every value that the file's own
// rules (unencrypted_suffix, encrypted_suffix, unencrypted_regex,
// encrypted_regex) say must be encrypted in ENC[...] form. Numbers, booleans
// and nulls follow the same rules: sops encrypts them too, except nulls. It
// returns every problem found, nil for a sound file. It does not verify the
// MAC: that needs the data key (see DecryptFile).
func Inspect(path string, data []byte) []Problem {
	_, p := inspect(path, data)
	return p
}

func inspect(path string, data []byte) (sops.Tree, []Problem) {
	st, format := storeFor(path)
	if st == nil {
		return sops.Tree{}, []Problem{{
			What: fmt.Sprintf("the file type %q is not supported", filepath.Ext(path)),
			Fix:  "keep secrets in sops-encrypted YAML (.yaml, .yml) or JSON (.json) files",
		}}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return sops.Tree{}, []Problem{{
			What: "the file is empty",
			Fix:  fmt.Sprintf("write the deployment's settings into it with sops (sops edit %s), or delete it", path),
		}}
	}
	tree, err := st.LoadEncryptedFile(data)
	if errors.Is(err, sops.MetadataNotFound) {
		return tree, []Problem{{
			What: "it is not encrypted with sops (no sops metadata)",
			Fix:  fmt.Sprintf("encrypt it with sops --encrypt --in-place %s and never commit the plaintext (if plaintext was pushed, rotate those secrets)", path),
		}}
	}
	if err != nil && err.Error() == "No keys found in file" {
		// sops's loader refuses metadata without keys, and says so only in
		// words (no sentinel to match).
		return tree, []Problem{noKeysProblem}
	}
	if err != nil {
		return tree, []Problem{{
			What: fmt.Sprintf("it is not a sops-encrypted %s file: %s", format, safeParseError(err)),
			Fix:  "restore it from git history, or fix it in a decrypted copy and encrypt that with sops",
		}}
	}
	tree.FilePath = path
	var problems []Problem
	md := tree.Metadata
	if md.Version == "" {
		problems = append(problems, Problem{What: "its sops metadata has no version (sops.version)", Fix: "restore the metadata from git history, or re-encrypt the file with sops"})
	}
	if md.MessageAuthenticationCode == "" {
		problems = append(problems, Problem{What: "it has no MAC (sops.mac), so its integrity cannot be checked", Fix: "restore the metadata from git history, or re-encrypt the file with sops"})
	}
	if noKeys(md) {
		problems = append(problems, noKeysProblem)
	}
	if p := plaintextValues(tree); p != nil {
		problems = append(problems, *p)
	}
	return tree, problems
}

var noKeysProblem = Problem{
	What: "its sops metadata names no keys (age, kms, gcp_kms), so nothing can decrypt it",
	Fix:  "restore the file from git history, or re-create it with sops for your keys",
}

func noKeys(md sops.Metadata) bool {
	for _, g := range md.KeyGroups {
		if len(g) > 0 {
			return false
		}
	}
	return true
}

// plaintextValues finds values that sops's rules say must be encrypted but
// are not: typically a key added by hand after encryption. It runs before any
// key is used, so a plaintext file costs no KMS request.
func plaintextValues(tree sops.Tree) *Problem {
	md := tree.Metadata
	if md.UnencryptedCommentRegex != "" || md.EncryptedCommentRegex != "" {
		// Comment-driven rules depend on sops's comment tracking; leave those
		// files to the decryption pass (MAC), which still refuses plaintext.
		return nil
	}
	rules, err := newCryptRules(md)
	if err != nil {
		return &Problem{What: fmt.Sprintf("its sops metadata is invalid: %v", err), Fix: "restore the metadata from git history"}
	}
	var plain []string
	for _, b := range tree.Branches {
		walkLeaves(b, nil, func(keyPath []string, v any) {
			if !rules.encrypted(keyPath) {
				return
			}
			if s, ok := v.(string); ok && (s == "" || isEncrypted(s)) {
				return // sops leaves empty strings as they are
			}
			if v == nil {
				return // and nulls
			}
			p := strings.Join(keyPath, ".")
			if !contains(plain, p) {
				plain = append(plain, p)
			}
		})
	}
	if len(plain) == 0 {
		return nil
	}
	return &Problem{
		What: plural(plain, "the value at %s is", "the values at %s are") + " not encrypted although the file is a sops file (added by hand after encryption?)",
		Fix:  fmt.Sprintf("edit the file with sops %s (or name such keys with the file's unencrypted suffix, e.g. _unencrypted, if they are not secret)", tree.FilePath),
	}
}

func plural(items []string, one, many string) string {
	if len(items) == 1 {
		return fmt.Sprintf(one, items[0])
	}
	return fmt.Sprintf(many, strings.Join(items, ", "))
}

var lineRe = regexp.MustCompile(`line (\d+)`)

// safeParseError keeps a syntax error's position and description and drops
// anything that could quote the file's content: in a file that turns out to
// be plaintext, that content is a secret.
func safeParseError(err error) string {
	msg := err.Error()
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		if strings.ContainsAny(msg, "`\"'") {
			return "invalid syntax near line " + m[1]
		}
		return msg
	}
	return "invalid syntax or sops metadata"
}

// isEncrypted reports whether s has the shape of a sops-encrypted value,
// ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]. It is written out rather
// than a regular expression: it runs on every value of every file, and a
// backtracking pattern over long values was most of a 500-key file's load
// time.
func isEncrypted(s string) bool {
	rest, ok := strings.CutPrefix(s, "ENC[AES256_GCM,data:")
	if !ok || !strings.HasSuffix(rest, "]") {
		return false
	}
	for _, field := range []string{",iv:", ",tag:", ",type:"} {
		i := strings.Index(rest, field)
		if i < 1 {
			return false
		}
		rest = rest[i+len(field):]
	}
	return len(rest) > 1
}
