package secrets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/getsops/sops/v3"
	sopsage "github.com/getsops/sops/v3/age"
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

// awsAccess says how to reach AWS KMS, from the injected environment.
type awsAccess struct {
	// creds is nil when the SDK's default chain should find credentials
	// (web identity, profiles, container credentials).
	creds  *kms.CredentialsProvider
	usable bool
	client *http.Client
}

func newAWSAccess(opt Options) awsAccess {
	a := awsAccess{client: opt.HTTPClient}
	if a.client == nil {
		a.client = &http.Client{}
	}
	if ep := opt.getenv("AWS_ENDPOINT_URL_KMS"); ep != "" {
		a.client = redirectClient(a.client, ep)
	} else if ep := opt.getenv("AWS_ENDPOINT_URL"); ep != "" {
		a.client = redirectClient(a.client, ep)
	}
	id, secret := opt.getenv("AWS_ACCESS_KEY_ID"), opt.getenv("AWS_SECRET_ACCESS_KEY")
	switch {
	case id != "" && secret != "":
		a.creds = kms.NewCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, opt.getenv("AWS_SESSION_TOKEN")))
		a.usable = true
	case opt.getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != "" && opt.getenv("AWS_ROLE_ARN") != "",
		opt.getenv("AWS_PROFILE") != "",
		opt.getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI") != "",
		opt.getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != "":
		// These are resolved by the SDK's default chain. Without any of them
		// we do not let the SDK probe the EC2 metadata endpoint: on a GitHub
		// runner that only burns the timeout before failing.
		a.usable = true
	}
	return a
}

// redirectClient honours AWS_ENDPOINT_URL_KMS as read through Getenv: sops's
// KMS key builds its own AWS config from the process environment and has no
// endpoint option, so the injected value is applied at the transport. When
// the process environment holds the same value (production), the SDK already
// sends requests there and this changes nothing.
func redirectClient(c *http.Client, endpoint string) *http.Client {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return c
	}
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	cc := *c
	cc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host, r.Host = u.Scheme, u.Host, u.Host
		return next.RoundTrip(r)
	})
	return &cc
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// dataKey recovers the file's data key. Within each key group it tries age
// first when an age identity is present (no network, no cost), then AWS KMS
// keys in file order, stopping at the first that answers: pangeo-forge's
// files name two KMS keys in two regions, and one request is enough.
func dataKey(ctx context.Context, path string, md sops.Metadata, opt Options) ([]byte, error) {
	if len(md.KeyGroups) == 0 {
		return nil, fmt.Errorf("%s: its sops metadata names no keys; re-encrypt it with sops", path)
	}
	ageK, err := loadAgeKeys(opt)
	if err != nil {
		return nil, err
	}
	aws := newAWSAccess(opt)

	var parts [][]byte
	var tried []string
	for _, group := range md.KeyGroups {
		part, attempts, err := decryptGroup(ctx, group, ageK, aws)
		if err != nil {
			return nil, err // context ended
		}
		tried = append(tried, attempts...)
		if part != nil {
			parts = append(parts, part)
		}
	}

	if len(md.KeyGroups) == 1 {
		if len(parts) == 1 {
			return parts[0], nil
		}
		return nil, noKeyError(path, md, tried, ageK, aws)
	}
	need := md.ShamirThreshold
	if need == 0 {
		need = len(md.KeyGroups)
	}
	if len(parts) < need {
		return nil, fmt.Errorf("%s: only %d of the %d key groups it needs could be decrypted: %w", path, len(parts), need, noKeyError(path, md, tried, ageK, aws))
	}
	key, err := shamir.Combine(parts)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot combine its key groups' shares of the data key: %w", path, err)
	}
	return key, nil
}

func decryptGroup(ctx context.Context, group sops.KeyGroup, ageK ageKeys, aws awsAccess) (part []byte, tried []string, err error) {
	var ordered []keys.MasterKey
	if len(ageK.ids) > 0 {
		ordered = append(ordered, ofType(group, sopsage.KeyTypeIdentifier)...)
	}
	ordered = append(ordered, ofType(group, kms.KeyTypeIdentifier)...)
	for _, k := range group {
		if t := k.TypeToIdentifier(); t != kms.KeyTypeIdentifier && (t != sopsage.KeyTypeIdentifier || len(ageK.ids) == 0) {
			ordered = append(ordered, k)
		}
	}

	for _, k := range ordered {
		if err := ctx.Err(); err != nil {
			return nil, tried, err
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
				return p, tried, nil
			}
			var nomatch *age.NoIdentityMatchError
			if errors.As(err, &nomatch) {
				tried = append(tried, fmt.Sprintf("age recipient %s: the identities from %s do not match it (they are for %s)", k.Recipient, strings.Join(ageK.sources, ", "), strings.Join(ageK.pubs, ", ")))
			} else {
				tried = append(tried, fmt.Sprintf("age recipient %s: %v", k.Recipient, err))
			}
		case *kms.MasterKey:
			if !aws.usable {
				tried = append(tried, fmt.Sprintf("AWS KMS key %s: no AWS credentials given", k.Arn))
				continue
			}
			if aws.creds != nil {
				aws.creds.ApplyToMasterKey(k)
			}
			kms.NewHTTPClient(aws.client).ApplyToMasterKey(k)
			p, err := k.DecryptContext(ctx)
			if err == nil {
				return p, tried, nil
			}
			if ctx.Err() != nil {
				return nil, tried, fmt.Errorf("decrypting the data key with AWS KMS key %s: %w", k.Arn, ctx.Err())
			}
			tried = append(tried, fmt.Sprintf("AWS KMS key %s: %v", k.Arn, err))
		default:
			tried = append(tried, fmt.Sprintf("%s key %s: this key provider is not supported by deploy-action (use age or AWS KMS)", k.TypeToIdentifier(), k.ToString()))
		}
	}
	return nil, tried, nil
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
func noKeyError(path string, md sops.Metadata, tried []string, ageK ageKeys, aws awsAccess) error {
	var hasAge, hasKMS bool
	for _, g := range md.KeyGroups {
		hasAge = hasAge || len(ofType(g, sopsage.KeyTypeIdentifier)) > 0
		hasKMS = hasKMS || len(ofType(g, kms.KeyTypeIdentifier)) > 0
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
		if !aws.usable {
			todo = append(todo, "give AWS credentials allowed to use one of its KMS keys (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE)")
		} else {
			todo = append(todo, "check that the AWS credentials may call kms:Decrypt on one of its KMS keys and that the key is enabled")
		}
	}
	if len(todo) == 0 {
		todo = append(todo, "add an age recipient or an AWS KMS key to the file with sops updatekeys")
	}
	return fmt.Errorf("cannot decrypt %s: no key could decrypt its data key; tried %s; to fix: %s", path, strings.Join(tried, "; "), strings.Join(todo, "; or "))
}
