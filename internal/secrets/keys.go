package secrets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/gcpkms"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/kms"
	"github.com/getsops/sops/v3/shamir"
)

// ageKeys are the age identities found in the environment, with where they
// came from (for messages: never the keys themselves).
type ageKeys struct {
	ids     []age.Identity
	sources []string // "SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE (path)", ...
	pubs    []string // recipients of the identities, to say which keys were offered
}

// loadAgeKeys reads SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and, as sops does, the
// user's sops/age/keys.txt (located through Getenv, so tests stay hermetic).
// A malformed key is an error: silently skipping it would turn a typo into a
// confusing "no key matches" later.
func loadAgeKeys(opt Options) (ageKeys, error) {
	var k ageKeys
	if v := opt.getenv(sopsage.SopsAgeKeyEnv); strings.TrimSpace(v) != "" {
		if err := k.add(v, sopsage.SopsAgeKeyEnv); err != nil {
			return k, err
		}
	}
	if p := opt.getenv(sopsage.SopsAgeKeyFileEnv); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return k, fmt.Errorf("cannot read the age key file named by %s: %w", sopsage.SopsAgeKeyFileEnv, err)
		}
		if err := k.add(string(b), fmt.Sprintf("%s (%s)", sopsage.SopsAgeKeyFileEnv, p)); err != nil {
			return k, err
		}
	}
	if p := userAgeKeysFile(opt); p != "" {
		b, err := os.ReadFile(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return k, fmt.Errorf("cannot read the age key file %s: %w", p, err)
		default:
			if err := k.add(string(b), p); err != nil {
				return k, err
			}
		}
	}
	return k, nil
}

func userAgeKeysFile(opt Options) string {
	if d := opt.getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, sopsage.SopsAgeKeyUserConfigPath)
	}
	if h := opt.getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", sopsage.SopsAgeKeyUserConfigPath)
	}
	return ""
}

// add parses identities line by line so that an error can point at a line
// without quoting it: the line is a private key.
func (k *ageKeys) add(text, source string) error {
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ids, err := age.ParseIdentities(strings.NewReader(line))
		if err != nil || len(ids) != 1 {
			return fmt.Errorf("%s line %d is not an age identity: it should look like AGE-SECRET-KEY-1... (the private key from age-keygen, not the age1... public key)", source, i+1)
		}
		k.ids = append(k.ids, ids[0])
		switch id := ids[0].(type) {
		case *age.X25519Identity:
			k.pubs = append(k.pubs, id.Recipient().String())
		case *age.HybridIdentity:
			k.pubs = append(k.pubs, id.Recipient().String())
		}
	}
	if !contains(k.sources, source) {
		k.sources = append(k.sources, source)
	}
	return nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// access is every key provider's credentials for one run.
type access struct {
	age ageKeys
	aws *awsAccess
	gcp *gcpAccess
}

// dataKey recovers the file's data key and says which key unlocked it (for
// messages). Within each key group it tries age first when an age identity is
// present (no network, no cost), then AWS KMS and GCP KMS keys in file order,
// stopping at the first that answers: pangeo-forge's files name two KMS keys
// in two regions, and one request is enough.
func dataKey(ctx context.Context, path string, md sops.Metadata, opt Options) ([]byte, string, error) {
	if len(md.KeyGroups) == 0 || len(md.KeyGroups) == 1 && len(md.KeyGroups[0]) == 0 {
		return nil, "", fmt.Errorf("%s: its sops metadata names no keys (age, kms, gcp_kms), so nothing can decrypt it; restore the file from git history, or re-create it with sops for your keys", path)
	}
	var acc access
	var err error
	if acc.age, err = loadAgeKeys(opt); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	hc, err := httpClient(opt)
	if err != nil {
		return nil, "", err
	}
	acc.aws = newAWSAccess(opt, hc)
	acc.gcp = newGCPAccess(ctx, opt, hc)

	var parts [][]byte
	var tried, used []string
	for _, group := range md.KeyGroups {
		part, by, attempts, err := decryptGroup(ctx, group, acc)
		if err != nil {
			return nil, "", err // context ended
		}
		tried = append(tried, attempts...)
		if part != nil {
			parts = append(parts, part)
			used = append(used, by)
		}
	}

	if len(md.KeyGroups) == 1 {
		if len(parts) == 1 {
			return parts[0], used[0], nil
		}
		return nil, "", noKeyError(path, md, tried, acc)
	}
	need := md.ShamirThreshold
	if need == 0 {
		need = len(md.KeyGroups)
	}
	if len(parts) < need {
		return nil, "", fmt.Errorf("%s: only %d of the %d key groups it needs could be decrypted: %w", path, len(parts), need, noKeyError(path, md, tried, acc))
	}
	key, err := shamir.Combine(parts)
	if err != nil {
		return nil, "", fmt.Errorf("%s: cannot combine its key groups' shares of the data key: %w", path, err)
	}
	return key, strings.Join(used, " and "), nil
}

// describeKey names a key for messages: provider and public identifier.
func describeKey(k keys.MasterKey) string {
	switch k := k.(type) {
	case *sopsage.MasterKey:
		return "age recipient " + k.Recipient
	case *kms.MasterKey:
		return "AWS KMS key " + k.Arn
	case *gcpkms.MasterKey:
		return "GCP KMS key " + k.ResourceID
	}
	return k.TypeToIdentifier() + " key " + k.ToString()
}

func decryptGroup(ctx context.Context, group sops.KeyGroup, acc access) (part []byte, by string, tried []string, err error) {
	ageK, aws, gcp := acc.age, acc.aws, acc.gcp
	var ordered []keys.MasterKey
	if len(ageK.ids) > 0 {
		ordered = append(ordered, ofType(group, sopsage.KeyTypeIdentifier)...)
	}
	for _, k := range group {
		if t := k.TypeToIdentifier(); t == kms.KeyTypeIdentifier || t == gcpkms.KeyTypeIdentifier {
			ordered = append(ordered, k)
		}
	}
	for _, k := range group {
		if t := k.TypeToIdentifier(); t != kms.KeyTypeIdentifier && t != gcpkms.KeyTypeIdentifier && (t != sopsage.KeyTypeIdentifier || len(ageK.ids) == 0) {
			ordered = append(ordered, k)
		}
	}

	for _, k := range ordered {
		if err := ctx.Err(); err != nil {
			return nil, "", tried, err
		}
		switch k := k.(type) {
		case *sopsage.MasterKey:
			if len(ageK.ids) == 0 {
				tried = append(tried, fmt.Sprintf("age recipient %s: no age identity given", k.Recipient))
				continue
			}
			sopsage.ParsedIdentities(ageK.ids).ApplyToMasterKey(k)
			p, err := k.Decrypt()
			if err == nil {
				return p, describeKey(k), tried, nil
			}
			var nomatch *age.NoIdentityMatchError
			if errors.As(err, &nomatch) {
				tried = append(tried, fmt.Sprintf("age recipient %s: the identities from %s do not match it (they are for %s)", k.Recipient, strings.Join(ageK.sources, ", "), strings.Join(ageK.pubs, ", ")))
			} else {
				tried = append(tried, fmt.Sprintf("age recipient %s: %v", k.Recipient, err))
			}
		case *kms.MasterKey:
			if aws.creds == nil {
				tried = append(tried, fmt.Sprintf("AWS KMS key %s: no AWS credentials given", k.Arn))
				continue
			}
			p, err := aws.decrypt(ctx, k)
			if err == nil {
				return p, describeKey(k), tried, nil
			}
			if ctx.Err() != nil {
				return nil, "", tried, fmt.Errorf("decrypting the data key with AWS KMS key %s: %w", k.Arn, ctx.Err())
			}
			tried = append(tried, fmt.Sprintf("AWS KMS key %s: %v", k.Arn, err))
		case *gcpkms.MasterKey:
			switch {
			case gcp.credErr != nil:
				tried = append(tried, fmt.Sprintf("GCP KMS key %s: %v", k.ResourceID, gcp.credErr))
				continue
			case gcp.client == nil:
				tried = append(tried, fmt.Sprintf("GCP KMS key %s: no GCP credentials given", k.ResourceID))
				continue
			}
			p, err := gcp.decrypt(ctx, k)
			if err == nil {
				return p, describeKey(k), tried, nil
			}
			if ctx.Err() != nil {
				return nil, "", tried, fmt.Errorf("decrypting the data key with GCP KMS key %s: %w", k.ResourceID, ctx.Err())
			}
			tried = append(tried, fmt.Sprintf("GCP KMS key %s (credentials from %s): %v", k.ResourceID, gcp.source, err))
		default:
			tried = append(tried, fmt.Sprintf("%s: this key provider is not supported by deploy-action (use age, AWS KMS or GCP KMS)", describeKey(k)))
		}
	}
	return nil, "", tried, nil
}

func ofType(group sops.KeyGroup, t string) []keys.MasterKey {
	var out []keys.MasterKey
	for _, k := range group {
		if k.TypeToIdentifier() == t {
			out = append(out, k)
		}
	}
	return out
}

// noKeyError says which keys were tried and what the user can do about it.
func noKeyError(path string, md sops.Metadata, tried []string, acc access) error {
	ageK, aws, gcp := acc.age, acc.aws, acc.gcp
	var hasAge, hasKMS, hasGCP bool
	for _, g := range md.KeyGroups {
		hasAge = hasAge || len(ofType(g, sopsage.KeyTypeIdentifier)) > 0
		hasKMS = hasKMS || len(ofType(g, kms.KeyTypeIdentifier)) > 0
		hasGCP = hasGCP || len(ofType(g, gcpkms.KeyTypeIdentifier)) > 0
	}
	var todo []string
	if hasAge {
		if len(ageK.ids) == 0 {
			todo = append(todo, "set SOPS_AGE_KEY (or SOPS_AGE_KEY_FILE) to the private age key of one of the file's age recipients")
		} else {
			todo = append(todo, "give the private age key of one of the file's age recipients in SOPS_AGE_KEY, or add your key's recipient to the file with sops updatekeys")
		}
	}
	if hasKMS {
		if aws.creds == nil {
			todo = append(todo, "give AWS credentials allowed to use one of its KMS keys (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE)")
		} else {
			todo = append(todo, "check that the AWS credentials may call kms:Decrypt on one of its KMS keys and that the key is enabled")
		}
	}
	if hasGCP {
		switch {
		case gcp.credErr != nil:
			todo = append(todo, "fix "+gcp.source+" (a service account key JSON, or its path)")
		case gcp.client == nil:
			todo = append(todo, "give GCP credentials allowed to use one of its GCP KMS keys (GOOGLE_CREDENTIALS: a service account key JSON or its path; or GOOGLE_OAUTH_ACCESS_TOKEN)")
		default:
			todo = append(todo, "check that the GCP credentials may decrypt with one of its GCP KMS keys (role roles/cloudkms.cryptoKeyDecrypter) and that the key is enabled")
		}
	}
	if len(todo) == 0 {
		todo = append(todo, "add an age recipient, an AWS KMS key or a GCP KMS key to the file with sops updatekeys")
	}
	return fmt.Errorf("cannot decrypt %s: no key could decrypt its data key; tried %s; to fix: %s", path, strings.Join(tried, "; "), strings.Join(todo, "; or "))
}
