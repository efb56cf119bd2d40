// Package sopstest makes real SOPS-encrypted YAML in-process, with the sops
// library rather than the sops binary, so that any package's tests can build
// the files the action decrypts: for age recipients, AWS KMS keys (see
// package kmstest for an in-process KMS) and GCP KMS keys (see package
// gcpkmstest), as YAML or JSON.
package sopstest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/gcpkms"
	"github.com/getsops/sops/v3/kms"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"google.golang.org/api/option"
)

// sopsVersion is written into the files' metadata, as the sops CLI does. It
// is the sops library version this module requires; importing sops's version
// package for it would drag in its CLI dependencies.
const sopsVersion = "3.13.3"

// Options says whom to encrypt for and how.
type Options struct {
	// Age recipients (age1...) that can decrypt the file.
	Age []string
	// KMS are AWS KMS key ARNs that can decrypt the file, in the order they
	// are written (and tried).
	KMS []string
	// KMSClient reaches KMS for encryption, e.g. kmstest.Server.HTTPClient.
	// The requests carry fixed fake credentials.
	KMSClient *http.Client
	// GCPKMS are GCP KMS key resource IDs
	// (projects/*/locations/*/keyRings/*/cryptoKeys/*) that can decrypt the
	// file. They are sealed with sops's own GCP KMS key source and its REST
	// client, at GCPKMSEndpoint (e.g. gcpkmstest.Server.URL) through
	// GCPKMSClient, which must authenticate itself (gcpkmstest's HTTPClient).
	GCPKMS         []string
	GCPKMSEndpoint string
	GCPKMSClient   *http.Client
	// UnencryptedSuffix leaves values whose key ends with it in plaintext.
	// Empty means sops's default, "_unencrypted", as with the sops CLI,
	// unless one of the other rules below is set.
	UnencryptedSuffix string
	// EncryptedSuffix, UnencryptedRegex, EncryptedRegex and MACOnlyEncrypted
	// are sops's other encryption rules (at most one rule is set, as with
	// the sops CLI).
	EncryptedSuffix  string
	UnencryptedRegex string
	EncryptedRegex   string
	MACOnlyEncrypted bool
	// JSON makes a JSON file from a JSON document instead of YAML.
	JSON bool
	// Now stamps sops.lastmodified; zero means the current time.
	Now time.Time
}

// EncryptYAML encrypts a plaintext YAML document and returns the bytes of the
// encrypted file, failing the test on any error.
func EncryptYAML(t testing.TB, plain []byte, opts Options) []byte {
	t.Helper()
	out, err := Encrypt(context.Background(), plain, opts)
	if err != nil {
		t.Fatalf("sopstest: %v", err)
	}
	return out
}

// Encrypt is EncryptYAML for callers without a testing.TB, such as the demo
// secrets generator.
func Encrypt(ctx context.Context, plain []byte, opts Options) ([]byte, error) {
	if len(opts.Age) == 0 && len(opts.KMS) == 0 && len(opts.GCPKMS) == 0 {
		return nil, errors.New("no recipients: give at least one age recipient, AWS KMS ARN or GCP KMS key")
	}
	var store interface {
		LoadPlainFile([]byte) (sops.TreeBranches, error)
		HasSopsTopLevelKey(sops.TreeBranch) bool
		EmitEncryptedFile(sops.Tree) ([]byte, error)
	}
	if opts.JSON {
		store = sopsjson.NewStore(&config.JSONStoreConfig{})
	} else {
		store = sopsyaml.NewStore(&config.YAMLStoreConfig{})
	}
	branches, err := store.LoadPlainFile(plain)
	if err != nil {
		return nil, fmt.Errorf("parse the plaintext document: %w", err)
	}
	if len(branches) > 0 && store.HasSopsTopLevelKey(branches[0]) {
		return nil, errors.New("the document already has a sops key: it is encrypted")
	}

	var group sops.KeyGroup
	for _, r := range opts.Age {
		k, err := sopsage.MasterKeyFromRecipient(r)
		if err != nil {
			return nil, fmt.Errorf("age recipient %q: %w", r, err)
		}
		group = append(group, k)
	}
	for _, arn := range opts.KMS {
		group = append(group, kms.NewMasterKeyFromArn(arn, nil, ""))
	}
	for _, id := range opts.GCPKMS {
		k := gcpkms.NewMasterKeyFromResourceID(id)
		gcpkms.UseRESTClient{}.ApplyToMasterKey(k)
		var co []option.ClientOption
		if opts.GCPKMSEndpoint != "" {
			co = append(co, option.WithEndpoint(opts.GCPKMSEndpoint))
		}
		if opts.GCPKMSClient != nil {
			co = append(co, option.WithHTTPClient(opts.GCPKMSClient))
		}
		gcpkms.ClientOptions(co).ApplyToMasterKey(k)
		group = append(group, k)
	}

	suffix := opts.UnencryptedSuffix
	if suffix == "" && opts.EncryptedSuffix == "" && opts.UnencryptedRegex == "" && opts.EncryptedRegex == "" {
		suffix = sops.DefaultUnencryptedSuffix
	}
	tree := sops.Tree{
		Branches: branches,
		Metadata: sops.Metadata{
			KeyGroups:         []sops.KeyGroup{group},
			UnencryptedSuffix: suffix,
			EncryptedSuffix:   opts.EncryptedSuffix,
			UnencryptedRegex:  opts.UnencryptedRegex,
			EncryptedRegex:    opts.EncryptedRegex,
			MACOnlyEncrypted:  opts.MACOnlyEncrypted,
			Version:           sopsVersion,
		},
	}

	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		return nil, fmt.Errorf("generate data key: %w", err)
	}
	for _, k := range group {
		var err error
		switch kk := k.(type) {
		case *kms.MasterKey:
			err = encryptKMS(ctx, kk, dataKey, opts.KMSClient)
		case *gcpkms.MasterKey:
			err = kk.EncryptContext(ctx, dataKey)
		default:
			err = k.Encrypt(dataKey)
		}
		if err != nil {
			return nil, fmt.Errorf("encrypt data key for %s: %w", k.ToString(), err)
		}
	}

	cipher := aes.NewCipher()
	mac, err := tree.Encrypt(dataKey, cipher)
	if err != nil {
		return nil, fmt.Errorf("encrypt values: %w", err)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	// The MAC's additional data is the RFC 3339 time, which has whole seconds.
	tree.Metadata.LastModified = now.UTC().Truncate(time.Second)
	tree.Metadata.MessageAuthenticationCode, err = cipher.Encrypt(mac, dataKey, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil {
		return nil, fmt.Errorf("encrypt MAC: %w", err)
	}
	out, err := store.EmitEncryptedFile(tree)
	if err != nil {
		return nil, fmt.Errorf("emit encrypted file: %w", err)
	}
	return out, nil
}

var kmsARNRe = regexp.MustCompile(`^arn:aws[\w-]*:kms:([^:]+):`)

// encryptKMS seals the data key with KMS through a client built here rather
// than sops's KMS key, whose AWS config comes from the process environment
// (and refuses an injected HTTP client when AWS_CA_BUNDLE is set).
func encryptKMS(ctx context.Context, k *kms.MasterKey, dataKey []byte, hc *http.Client) error {
	m := kmsARNRe.FindStringSubmatch(k.Arn)
	if m == nil {
		return fmt.Errorf("%q is not a KMS key ARN", k.Arn)
	}
	if hc == nil {
		hc = &http.Client{}
	}
	client := awskms.New(awskms.Options{
		Region:      m[1],
		Credentials: credentials.NewStaticCredentialsProvider("AKIASOPSTEST", "sopstest-fake-secret", ""),
		HTTPClient:  hc,
	})
	out, err := client.Encrypt(ctx, &awskms.EncryptInput{KeyId: &k.Arn, Plaintext: dataKey})
	if err != nil {
		return err
	}
	k.EncryptedKey = base64.StdEncoding.EncodeToString(out.CiphertextBlob)
	return nil
}

// NewAgeKey returns a fresh age identity (AGE-SECRET-KEY-1...) and its
// recipient (age1...).
func NewAgeKey(t testing.TB) (identity, recipient string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatalf("sopstest: generate age key: %v", err)
	}
	return id.String(), id.Recipient().String()
}
