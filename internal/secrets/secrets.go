// Package secrets is the room that turns a deployment's SOPS-encrypted
// credentials file into config vars: it locates <dir>/config.<deployment>.yaml,
// refuses files that are not (or no longer fully) encrypted, decrypts the data
// key with the keys found in the injected environment, decrypts the values,
// verifies the file's MAC and flattens the document into Heroku config var
// names. It also says what to mask for each value.
//
// Nothing here reads process-wide state: keys come from Options.Getenv, HTTP
// goes through Options.HTTPClient. Key providers: age (SOPS_AGE_KEY,
// SOPS_AGE_KEY_FILE, the user's sops/age/keys.txt), AWS KMS (static
// credentials, or GitHub OIDC through AWS_ROLE_ARN and
// AWS_WEB_IDENTITY_TOKEN_FILE; AWS_ENDPOINT_URL_KMS is honoured) and GCP KMS
// (GOOGLE_CREDENTIALS or GOOGLE_OAUTH_ACCESS_TOKEN; SOPS_GCP_KMS_ENDPOINT is
// honoured). Both KMS providers are called directly, not through sops's key
// sources, which read the process environment (see awskms.go, gcpkms.go).
// Age is tried first when an age key is given, so such runs make no KMS
// request. Other sops key providers (PGP, Azure Key Vault, Vault) are
// reported as unsupported. No error this package returns contains a
// decrypted value or a private key; they name the file, the key paths, the key
// providers and the public key identifiers (age recipients, KMS ARNs, GCP key
// resource IDs).
//
// Inspect is the keyless half: the encryption check behind check-secrets.
package secrets

import (
	"context"
	cryptoaes "crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
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
	// HTTPClient is used for key services reached over HTTP (AWS KMS, and
	// STS for web identity credentials). Nil means a client built from
	// http.DefaultTransport with HTTP(S)_PROXY, NO_PROXY and AWS_CA_BUNDLE
	// taken from Getenv.
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
	vars, err := LoadVars(ctx, dir, deployment, opt)
	return vars.Values, err
}

// Vars is a deployment's secrets file as config vars.
type Vars struct {
	Values map[string]string
	// Plain holds the names of the vars whose value the file stores
	// unencrypted (sops's unencrypted_suffix, encrypted_regex and the other
	// rules): they are in the repository as they are, so they are no secret.
	Plain map[string]bool
}

// LoadVars is Load, also saying which values the file keeps unencrypted.
func LoadVars(ctx context.Context, dir, deployment string, opt Options) (Vars, error) {
	if err := ctx.Err(); err != nil {
		return Vars{}, err
	}
	if !deploymentRe.MatchString(deployment) || strings.Contains(deployment, "..") {
		return Vars{}, fmt.Errorf("deployment name %q cannot name a secrets file: use letters, digits, dots, dashes and underscores", deployment)
	}
	path := filepath.Join(dir, FileName(deployment))
	data, err := readRegularFile(dir, FileName(deployment))
	if errors.Is(err, fs.ErrNotExist) {
		return Vars{}, fmt.Errorf("%w: %s does not exist; add the deployment's credentials there, encrypted with sops (sops --encrypt --in-place %s)", ErrNotFound, path, path)
	} else if err != nil {
		return Vars{}, err
	}
	return DecryptVars(ctx, path, data, opt)
}

// DecryptVars is LoadVars for a file already read (from GitHub, by an approved review run); path
// names it in messages.
func DecryptVars(ctx context.Context, path string, data []byte, opt Options) (Vars, error) {
	if err := ctx.Err(); err != nil {
		return Vars{}, err
	}
	doc, plain, err := decryptData(ctx, path, data, opt)
	if err != nil {
		return Vars{}, err
	}
	values, err := Flatten(doc)
	if err != nil {
		return Vars{}, fmt.Errorf("%s: %w", path, err)
	}
	// The same walk over a copy whose leaves say whether they were stored
	// in plaintext gives each var name its answer.
	kinds, err := Flatten(leafKinds(doc, nil, plain))
	if err != nil {
		return Vars{}, fmt.Errorf("%s: %w", path, err)
	}
	vars := Vars{Values: values, Plain: map[string]bool{}}
	for name, kind := range kinds {
		if kind == "plain" {
			vars.Plain[name] = true
		}
	}
	return vars, nil
}

// leafKinds is doc with every leaf replaced by "plain" when its key path is
// in plain, else "encrypted".
func leafKinds(doc map[string]any, path []string, plain map[string]bool) map[string]any {
	out := make(map[string]any, len(doc))
	for k, v := range doc {
		p := append(path[:len(path):len(path)], k)
		switch v := v.(type) {
		case map[string]any:
			out[k] = leafKinds(v, p, plain)
		case []any:
			out[k] = v // a list is an error of Flatten's, already reported
		default:
			if plain[pathKey(p)] {
				out[k] = "plain"
			} else {
				out[k] = "encrypted"
			}
		}
	}
	return out
}

func pathKey(path []string) string { return strings.Join(path, "\x00") }

// DecryptFile decrypts one SOPS file (.yaml, .yml or .json) in memory, with
// the keys from opt, verifies its MAC and returns the document. Nothing is
// written anywhere. It does what sops's decrypt.Data does, in the order this
// action needs: refuse plaintext before touching any key, try the key
// providers in our order with our credentials, and name the key path of a
// value that fails to authenticate instead of echoing it.
func DecryptFile(ctx context.Context, path string, opt Options) (map[string]any, error) {
	doc, _, err := decryptFile(ctx, path, opt)
	return doc, err
}

// decryptFile is DecryptFile, also returning the key paths (pathKey) of the
// values the file stores in plaintext.
func decryptFile(ctx context.Context, path string, opt Options) (map[string]any, map[string]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to read secrets file: %w", err)
	}
	return decryptData(ctx, path, data, opt)
}

// decryptData is DecryptFile for a file already read; path names it in messages. It also returns
// the key paths (pathKey) of the values the file stores in plaintext.
func decryptData(ctx context.Context, path string, data []byte, opt Options) (map[string]any, map[string]bool, error) {
	tree, problems := inspect(path, data)
	if len(problems) > 0 {
		p := problems[0]
		return nil, nil, fmt.Errorf("refusing %s: %s; %s", path, p.What, p.Fix)
	}
	plain := map[string]bool{}
	for _, b := range tree.Branches {
		walkLeaves(b, nil, func(p []string, v any) {
			if s, ok := v.(string); !ok || !strings.HasPrefix(s, "ENC[") {
				plain[pathKey(p)] = true
			}
		})
	}
	dataKey, usedKey, err := dataKey(ctx, path, tree.Metadata, opt)
	if err != nil {
		return nil, nil, err
	}
	doc, err := decryptTree(path, tree, dataKey, usedKey)
	return doc, plain, err
}

// decryptTree decrypts the values of a parsed file with its data key (which usedKey recovered) and
// checks its MAC, in place: tree is spent.
func decryptTree(path string, tree sops.Tree, dataKey []byte, usedKey string) (map[string]any, error) {
	c, err := newPathCipher(dataKey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (from %s): the sops metadata was changed outside sops; restore it from git history", path, err, usedKey)
	}
	mac, err := tree.Decrypt(dataKey, c)
	if err != nil {
		// sops's own message can quote the offending value: never pass it on.
		if c.failedPath != "" {
			return nil, fmt.Errorf("%s: the value at %s does not decrypt with the data key from %s (%s): the file was changed outside sops; restore it from git history or set the value again with sops", path, c.failedPath, usedKey, c.failure)
		}
		return nil, fmt.Errorf("%s: a value does not decrypt with the data key from %s: the file was changed outside sops; restore it from git history or set the value again with sops", path, usedKey)
	}
	stored, err := aes.NewCipher().Decrypt(tree.Metadata.MessageAuthenticationCode, dataKey, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil {
		// The MAC is sealed with sops.lastmodified as additional data, so
		// either being edited lands here.
		return nil, fmt.Errorf("%s: its MAC (sops.mac) does not decrypt with the data key from %s and the file's sops.lastmodified: sops.mac or sops.lastmodified was changed outside sops; restore them from git history, or re-encrypt the file with sops", path, usedKey)
	}
	if s, ok := stored.(string); !ok || s != mac {
		return nil, fmt.Errorf("%s: MAC mismatch (data key from %s): the file's content does not match what sops encrypted (a value or key was added, removed or changed outside sops); restore it from git history or edit it with sops %s", path, usedKey, path)
	}

	if len(tree.Branches) != 1 {
		return nil, fmt.Errorf("%s holds %d documents: put all settings in one document", path, len(tree.Branches))
	}
	return branchToMap(tree.Branches[0], nil)
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

// pathCipher decrypts sops values (ENC[AES256_GCM,data:...,iv:...,tag:...,
// type:...]: AES-256-GCM under the data key, the value's key path as
// additional data) and remembers which key path failed and why, in words
// that cannot contain the value. It parses the value itself rather than with
// sops's aes.Cipher, whose backtracking regular expression per value was a
// third of a 500-key file's load time, and keeps one AEAD for the file.
type pathCipher struct {
	aead       cipher.AEAD // for the data key, with sops's 32-byte IVs
	failedPath string
	failure    string
}

func newPathCipher(dataKey []byte) (*pathCipher, error) {
	block, err := cryptoaes.NewCipher(dataKey)
	if err != nil {
		return nil, fmt.Errorf("the data key is not an AES key (%d bytes): %w", len(dataKey), err)
	}
	aead, err := cipher.NewGCMWithNonceSize(block, 32)
	if err != nil {
		return nil, err
	}
	return &pathCipher{aead: aead}, nil
}

func (c *pathCipher) Encrypt(any, []byte, string) (string, error) {
	return "", errors.New("secrets: encryption is not supported here")
}

func (c *pathCipher) Decrypt(ciphertext string, _ []byte, additionalData string) (any, error) {
	if ciphertext == "" {
		return "", nil // sops leaves empty values as they are
	}
	v, why := c.open(ciphertext, additionalData)
	if why == "" {
		return v, nil
	}
	// Comments that fail are tolerated by sops; a value failing ends the
	// walk right after this call, so the last failure is the one reported.
	c.failedPath = strings.ReplaceAll(strings.TrimSuffix(additionalData, ":"), ":", ".")
	c.failure = why
	return nil, errors.New("value does not decrypt")
}

// open decrypts one value and converts it to its sops type; on failure it
// says why, never quoting the value.
func (c *pathCipher) open(value, additionalData string) (any, string) {
	inner, ok := strings.CutPrefix(value, "ENC[AES256_GCM,")
	if inner, ok2 := strings.CutSuffix(inner, "]"); ok && ok2 {
		// base64 has no commas, so the four fields split cleanly.
		fields := strings.Split(inner, ",")
		var parts [4][]byte
		var typ string
		if len(fields) != 4 {
			return nil, "it is not sops ciphertext"
		}
		for i, name := range []string{"data:", "iv:", "tag:", "type:"} {
			f, ok := strings.CutPrefix(fields[i], name)
			if !ok {
				return nil, "it is not sops ciphertext"
			}
			if i == 3 {
				typ = f
				break
			}
			b, err := base64.StdEncoding.DecodeString(f)
			if err != nil {
				return nil, "its " + strings.TrimSuffix(name, ":") + " is not base64"
			}
			parts[i] = b
		}
		if len(parts[1]) != 32 {
			return nil, "its iv is not 32 bytes long"
		}
		plain, err := c.aead.Open(nil, parts[1], append(parts[0], parts[2]...), []byte(additionalData))
		if err != nil {
			return nil, "its ciphertext does not authenticate"
		}
		v, err := typed(plain, typ)
		if err != nil {
			return nil, fmt.Sprintf("it does not hold a valid %s", typ)
		}
		return v, ""
	}
	return nil, "it is not sops ciphertext"
}

// typed converts a decrypted value to the Go type sops gives it: the MAC is
// computed over these values, so they must match sops's exactly.
func typed(plain []byte, typ string) (any, error) {
	s := string(plain)
	switch typ {
	case "str":
		return s, nil
	case "int":
		return strconv.Atoi(s)
	case "float":
		return strconv.ParseFloat(s, 64)
	case "bytes":
		return plain, nil
	case "bool":
		return strconv.ParseBool(s)
	case "time":
		var t time.Time
		err := t.UnmarshalText(plain)
		return t, err
	case "comment":
		return sops.Comment{Value: s}, nil
	}
	return nil, fmt.Errorf("unknown sops type %q", typ)
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

// readRegularFile reads a secrets file that must be a regular file inside dir. A symlink would let a
// pull request point its review run at any file the runner can read: one leading out of the
// secrets directory, or config.<review name>.yaml -> config.<prod name>.yaml beside it, which would
// hand the production secrets to a review app. The file is opened through a Root and checked to be
// the very file that was inspected, so that swapping in a symlink between the two is caught too.
// A missing file (or directory) is fs.ErrNotExist. (dir itself is resolved and kept inside the
// workspace by the caller: a Root follows a symlink given as its root.)
func readRegularFile(dir, name string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("failed to open the secrets directory %s: %w", dir, err)
	}
	defer root.Close()
	path := filepath.Join(dir, name)
	info, err := root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("refusing %s: %w; secrets files must be regular files inside secrets_dir", path, err)
	case !info.Mode().IsRegular():
		return nil, fmt.Errorf("refusing %s: it is a %s, not a regular file; secrets files must be regular files inside secrets_dir, so that no run can be pointed at another deployment's file", path, fileKind(info.Mode()))
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("refusing %s: %w; secrets files must be regular files inside secrets_dir", path, err)
	}
	defer f.Close()
	if opened, err := f.Stat(); err != nil || !os.SameFile(info, opened) {
		return nil, fmt.Errorf("refusing %s: it was replaced while it was read; run again on a checkout nothing else is changing", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSecretsFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read secrets file: %w", err)
	}
	if len(data) > maxSecretsFileSize {
		return nil, fmt.Errorf("refusing %s: it is larger than %d MiB, far more than a secrets file holds (Heroku limits an app's config vars to 32 KB in all)", path, maxSecretsFileSize>>20)
	}
	return data, nil
}

// maxSecretsFileSize bounds what is read into memory: Heroku allows 32 KiB of config vars per app,
// and encryption makes a file a few times larger than its values.
const maxSecretsFileSize = 16 << 20

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsDir():
		return "directory"
	}
	return "special file"
}
