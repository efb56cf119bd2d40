package secrets

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/gcpkms"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/kms"
)

// DataKeys are the encrypted data keys of one SOPS file, read from its metadata without any key:
// for every master key of every key group (age recipients, AWS KMS, GCP KMS, ...), its `enc`
// decoded to the ciphertext bytes.
//
// Two files that hold the same ciphertext of a data key share that data key: whoever can decrypt
// one can decrypt the other. That is how a copied file is told: `cp` (and `sops edit` of the copy,
// which keeps the data key and re-encrypts it for no one) leaves every enc as it was, and sops
// encrypts a fresh data key with fresh randomness (age: a new ephemeral share; KMS: a new
// ciphertext blob) for every new file and every `sops rotate`. The comparison is of the decoded
// bytes, not of the text: an enc re-indented, re-wrapped or moved into another key group is the
// same ciphertext.
type DataKeys struct {
	Path string
	enc  map[string]string // decoded ciphertext -> the master key it belongs to, for messages
}

// ReadDataKeys reads the data keys of the deployment's file in dir, refusing what Load refuses (a
// name that leaves dir, a symlink or other non-regular file). A missing file wraps ErrNotFound.
func ReadDataKeys(dir, deployment string) (DataKeys, error) {
	if !deploymentRe.MatchString(deployment) || strings.Contains(deployment, "..") {
		return DataKeys{}, fmt.Errorf("deployment name %q cannot name a secrets file: use letters, digits, dots, dashes and underscores", deployment)
	}
	path := filepath.Join(dir, FileName(deployment))
	data, err := readRegularFile(dir, FileName(deployment))
	if errors.Is(err, fs.ErrNotExist) {
		return DataKeys{}, fmt.Errorf("%w: %s does not exist", ErrNotFound, path)
	} else if err != nil {
		return DataKeys{}, err
	}
	return ParseDataKeys(path, data)
}

// ParseDataKeys reads the data keys from the sops metadata of data, the content of path (its
// extension picks YAML or JSON). Nothing is decrypted.
func ParseDataKeys(path string, data []byte) (DataKeys, error) {
	st, _ := storeFor(path)
	if st == nil {
		return DataKeys{}, fmt.Errorf("%s: the file type %q is not supported", path, filepath.Ext(path))
	}
	tree, err := st.LoadEncryptedFile(data)
	if err != nil {
		return DataKeys{}, fmt.Errorf("%s: cannot read its sops metadata: %s", path, safeParseError(err))
	}
	dk := DataKeys{Path: path, enc: map[string]string{}}
	for _, group := range tree.Metadata.KeyGroups {
		for _, mk := range group {
			ct := decodeEnc(mk)
			if len(ct) == 0 {
				continue
			}
			if _, seen := dk.enc[string(ct)]; !seen {
				dk.enc[string(ct)] = describeKey(mk)
			}
		}
	}
	if len(dk.enc) == 0 {
		return DataKeys{}, fmt.Errorf("%s: its sops metadata holds no encrypted data key", path)
	}
	return dk, nil
}

// Shared names the master keys (of d) whose encrypted data key other holds too; empty when the
// two files share no data key.
func (d DataKeys) Shared(other DataKeys) []string {
	var out []string
	for ct, key := range d.enc {
		if _, ok := other.enc[ct]; ok {
			out = append(out, key)
		}
	}
	sort.Strings(out)
	return out
}

// decodeEnc is the ciphertext a master key's enc holds: age's is an ASCII-armored age file (the
// base64 between the BEGIN and END lines), AWS and GCP KMS's are standard base64. Other providers'
// (PGP, Azure Key Vault, Vault), which the action cannot decrypt anyway, are compared as their text
// without whitespace.
func decodeEnc(mk keys.MasterKey) []byte {
	enc := string(mk.EncryptedDataKey())
	switch mk.(type) {
	case *sopsage.MasterKey:
		body := strings.NewReplacer("-----BEGIN AGE ENCRYPTED FILE-----", "", "-----END AGE ENCRYPTED FILE-----", "").Replace(enc)
		if b, err := base64.StdEncoding.DecodeString(stripSpace(body)); err == nil {
			return b
		}
	case *kms.MasterKey, *gcpkms.MasterKey:
		if b, err := base64.StdEncoding.DecodeString(stripSpace(enc)); err == nil {
			return b
		}
	}
	return []byte(stripSpace(enc))
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r':
			return -1
		}
		return r
	}, s)
}
