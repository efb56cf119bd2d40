// Package secrets is the room that turns a deployment's SOPS-encrypted
// credentials file into config vars: it locates <dir>/config.<deployment>.yaml,
// refuses files that are not (or no longer fully) encrypted, decrypts the data
// key with the keys found in the injected environment, decrypts the values,
// verifies the file's MAC and flattens the document into Heroku config var
// names. It also says what to mask for each value.
//
// Nothing here reads process-wide state: keys come from Options.Getenv, HTTP
// goes through Options.HTTPClient. No error this package returns contains a
// decrypted value or a private key; they name the file, the key paths, the key
// providers and the public key identifiers (age recipients, KMS ARNs).
package secrets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	"github.com/getsops/sops/v3/config"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
)

// ErrNotFound is wrapped by Load when the deployment has no secrets file, so
// the caller can fall back (review_fallback) or tell the PR author how to add
// one.
var ErrNotFound = errors.New("secrets file not found")

// Options carries what Load needs from the outside world.
type Options struct {
	// Getenv reads the key material: SOPS_AGE_KEY, SOPS_AGE_KEY_FILE,
	// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
	// AWS_ENDPOINT_URL_KMS, ... Nil means no environment at all.
	Getenv func(string) string
	// HTTPClient is used for key services reached over HTTP (AWS KMS).
	// Nil means a client built from http.DefaultTransport.
	HTTPClient *http.Client
}

func (o Options) getenv(name string) string {
	if o.Getenv == nil {
		return ""
	}
	return o.Getenv(name)
}

// FileName is the name of a deployment's secrets file inside the secrets
// directory.
func FileName(deployment string) string {
	return "config." + deployment + ".yaml"
}

// deploymentRe keeps a deployment name from walking out of the secrets
// directory: it becomes part of a path.
var deploymentRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// Load reads <dir>/config.<deployment>.yaml, decrypts it with the keys from
// opt and returns its values flattened into config var names (see Flatten).
// A missing file is an error wrapping ErrNotFound.
func Load(ctx context.Context, dir, deployment string, opt Options) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !deploymentRe.MatchString(deployment) || strings.Contains(deployment, "..") {
		return nil, fmt.Errorf("deployment name %q cannot name a secrets file: use letters, digits, dots, dashes and underscores", deployment)
	}
	path := filepath.Join(dir, FileName(deployment))
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist; add the deployment's credentials there, encrypted with sops (sops --encrypt --in-place %s)", ErrNotFound, path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read secrets file: %w", err)
	}
	doc, err := decryptYAML(ctx, path, data, opt)
	if err != nil {
		return nil, err
	}
	vars, err := Flatten(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vars, nil
}

// decryptYAML does what sops's decrypt.Data does, in the order this action
// needs: refuse plaintext before touching any key, try the key providers in
// our order with our credentials, and name the key path of a value that fails
// to authenticate instead of echoing it.
func decryptYAML(ctx context.Context, path string, data []byte, opt Options) (map[string]any, error) {
	tree, err := loadTree(path, data)
	if err != nil {
		return nil, err
	}
	if err := checkEncrypted(path, tree); err != nil {
		return nil, err
	}
	dataKey, err := dataKey(ctx, path, tree.Metadata, opt)
	if err != nil {
		return nil, err
	}

	c := &pathCipher{inner: aes.NewCipher()}
	mac, err := tree.Decrypt(dataKey, c)
	if err != nil {
		// sops's own message can quote the offending value: never pass it on.
		if c.failedPath != "" {
			return nil, fmt.Errorf("%s: the value at %s does not decrypt (%s): the file was changed outside sops; restore it from git history or set the value again with sops", path, c.failedPath, c.failure)
		}
		return nil, fmt.Errorf("%s: a value does not decrypt: the file was changed outside sops; restore it from git history or set the value again with sops", path)
	}
	if tree.Metadata.MessageAuthenticationCode == "" {
		return nil, fmt.Errorf("%s: the file has no MAC (sops.mac), so its integrity cannot be checked; re-encrypt it with sops", path)
	}
	stored, err := aes.NewCipher().Decrypt(tree.Metadata.MessageAuthenticationCode, dataKey, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil {
		return nil, fmt.Errorf("%s: its MAC (sops.mac) does not decrypt: the sops metadata was changed outside sops; restore it from git history", path)
	}
	if s, ok := stored.(string); !ok || s != mac {
		return nil, fmt.Errorf("%s: MAC mismatch: the file's content does not match what sops encrypted (a value or key was added, removed or changed outside sops); restore it from git history or edit it with sops", path)
	}

	if len(tree.Branches) != 1 {
		return nil, fmt.Errorf("%s holds %d YAML documents: put all settings in one document", path, len(tree.Branches))
	}
	return branchToMap(tree.Branches[0], nil)
}

func loadTree(path string, data []byte) (sops.Tree, error) {
	store := sopsyaml.NewStore(&config.YAMLStoreConfig{})
	tree, err := store.LoadEncryptedFile(data)
	if errors.Is(err, sops.MetadataNotFound) {
		return sops.Tree{}, fmt.Errorf("refusing %s: it is not encrypted with sops (no sops metadata); encrypt it with sops --encrypt --in-place %s and never commit the plaintext", path, path)
	}
	if err != nil {
		return sops.Tree{}, fmt.Errorf("%s is not a sops-encrypted YAML file: %s", path, safeParseError(err))
	}
	tree.FilePath = path
	return tree, nil
}

// safeParseError keeps a YAML syntax error's position and description and
// drops anything that could quote the file's content: in a file that turns
// out to be plaintext, that content is a secret.
func safeParseError(err error) string {
	msg := err.Error()
	if m := regexp.MustCompile(`line (\d+)`).FindStringSubmatch(msg); m != nil {
		if strings.ContainsAny(msg, "`\"'") {
			return "invalid YAML near line " + m[1]
		}
		return msg
	}
	return "invalid YAML or sops metadata"
}

// encRe is the shape of a sops-encrypted value.
var encRe = regexp.MustCompile(`^ENC\[AES256_GCM,data:.+,iv:.+,tag:.+,type:.+\]$`)

// checkEncrypted refuses a file in which a value that sops's rules say must be
// encrypted is not: typically a key added by hand after encryption. It runs
// before any key is used, so a plaintext file costs no KMS request.
func checkEncrypted(path string, tree sops.Tree) error {
	md := tree.Metadata
	if md.UnencryptedCommentRegex != "" || md.EncryptedCommentRegex != "" {
		// Comment-driven rules depend on sops's comment tracking; leave those
		// files to the decryption pass, which still refuses plaintext.
		return nil
	}
	rules, err := newCryptRules(md)
	if err != nil {
		return fmt.Errorf("%s: invalid sops metadata: %w", path, err)
	}
	var plain []string
	for _, b := range tree.Branches {
		walkLeaves(b, nil, func(keyPath []string, v any) {
			if !rules.encrypted(keyPath) {
				return
			}
			if s, ok := v.(string); ok && (s == "" || encRe.MatchString(s)) {
				return
			}
			if v == nil {
				return // sops leaves nulls as they are
			}
			plain = append(plain, strings.Join(keyPath, "."))
		})
	}
	if len(plain) > 0 {
		return fmt.Errorf("refusing %s: %s not encrypted although the file is a sops file (added by hand after encryption?); run sops --encrypt --in-place on a decrypted copy, or edit the file with sops %s", path, plural(plain, "the value at %s is", "the values at %s are"), path)
	}
	return nil
}

func plural(items []string, one, many string) string {
	if len(items) == 1 {
		return fmt.Sprintf(one, items[0])
	}
	return fmt.Sprintf(many, strings.Join(items, ", "))
}

// cryptRules mirrors sops's path-based rules for which values are encrypted.
type cryptRules struct {
	unencSuffix, encSuffix string
	unencRe, encRe         *regexp.Regexp
}

func newCryptRules(md sops.Metadata) (cryptRules, error) {
	r := cryptRules{unencSuffix: md.UnencryptedSuffix, encSuffix: md.EncryptedSuffix}
	var err error
	if md.UnencryptedRegex != "" {
		if r.unencRe, err = regexp.Compile(md.UnencryptedRegex); err != nil {
			return r, fmt.Errorf("unencrypted_regex: %w", err)
		}
	}
	if md.EncryptedRegex != "" {
		if r.encRe, err = regexp.Compile(md.EncryptedRegex); err != nil {
			return r, fmt.Errorf("encrypted_regex: %w", err)
		}
	}
	return r, nil
}

func (r cryptRules) encrypted(path []string) bool {
	enc := true
	anyMatch := func(f func(string) bool) bool {
		for _, p := range path {
			if f(p) {
				return true
			}
		}
		return false
	}
	if r.unencSuffix != "" && anyMatch(func(p string) bool { return strings.HasSuffix(p, r.unencSuffix) }) {
		enc = false
	}
	if r.encSuffix != "" {
		enc = anyMatch(func(p string) bool { return strings.HasSuffix(p, r.encSuffix) })
	}
	if r.unencRe != nil && anyMatch(r.unencRe.MatchString) {
		enc = false
	}
	if r.encRe != nil {
		enc = anyMatch(r.encRe.MatchString)
	}
	return enc
}

// walkLeaves calls f for every non-comment leaf, with the key path sops uses
// (list elements share their list's path).
func walkLeaves(v any, path []string, f func([]string, any)) {
	switch v := v.(type) {
	case sops.TreeBranch:
		for _, item := range v {
			k, ok := item.Key.(string)
			if !ok {
				continue // a comment
			}
			walkLeaves(item.Value, append(path[:len(path):len(path)], k), f)
		}
	case []any:
		for _, e := range v {
			walkLeaves(e, path, f)
		}
	case sops.Comment:
	default:
		f(path, v)
	}
}

// pathCipher decrypts with sops's AES-GCM cipher and remembers which key path
// failed and why, in words that cannot contain the value.
type pathCipher struct {
	inner      aes.Cipher
	failedPath string
	failure    string
}

func (c *pathCipher) Encrypt(any, []byte, string) (string, error) {
	return "", errors.New("secrets: encryption is not supported here")
}

func (c *pathCipher) Decrypt(ciphertext string, key []byte, additionalData string) (any, error) {
	v, err := c.inner.Decrypt(ciphertext, key, additionalData)
	if err == nil {
		return v, nil
	}
	// Comments that fail are tolerated by sops; a value failing ends the
	// walk right after this call, so the last failure is the one reported.
	c.failedPath = strings.ReplaceAll(strings.TrimSuffix(additionalData, ":"), ":", ".")
	if encRe.MatchString(ciphertext) {
		c.failure = "its ciphertext does not authenticate"
	} else {
		c.failure = "it is not sops ciphertext"
	}
	return nil, errors.New("value does not decrypt")
}

// branchToMap turns a decrypted sops tree into plain Go values, dropping
// comments.
func branchToMap(b sops.TreeBranch, path []string) (map[string]any, error) {
	out := make(map[string]any, len(b))
	for _, item := range b {
		k, ok := item.Key.(string)
		if !ok {
			continue
		}
		p := append(path[:len(path):len(path)], k)
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("key %s appears twice", strings.Join(p, "."))
		}
		v, err := plainValue(item.Value, p)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

func plainValue(v any, path []string) (any, error) {
	switch v := v.(type) {
	case sops.TreeBranch:
		return branchToMap(v, path)
	case []any:
		var out []any
		for _, e := range v {
			if _, ok := e.(sops.Comment); ok {
				continue
			}
			pv, err := plainValue(e, path)
			if err != nil {
				return nil, err
			}
			out = append(out, pv)
		}
		return out, nil
	case []byte:
		return string(v), nil
	default:
		return v, nil
	}
}
