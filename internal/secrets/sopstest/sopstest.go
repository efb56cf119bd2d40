// Package sopstest makes real SOPS-encrypted YAML in-process, with the sops
// library rather than the sops binary, so that any package's tests can build
// the files the action decrypts: for age recipients and AWS KMS keys (see
// package kmstest for an in-process KMS).
package sopstest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	"github.com/getsops/sops/v3/config"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/kms"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
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
	// UnencryptedSuffix leaves values whose key ends with it in plaintext.
	// Empty means sops's default, "_unencrypted", as with the sops CLI.
	UnencryptedSuffix string
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
	if len(opts.Age) == 0 && len(opts.KMS) == 0 {
		return nil, errors.New("no recipients: give at least one age recipient or KMS ARN")
	}
	store := sopsyaml.NewStore(&config.YAMLStoreConfig{})
	branches, err := store.LoadPlainFile(plain)
	if err != nil {
		return nil, fmt.Errorf("parse plaintext YAML: %w", err)
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
		k := kms.NewMasterKeyFromArn(arn, nil, "")
		kms.NewCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIASOPSTEST", "sopstest-secret", "")).ApplyToMasterKey(k)
		if opts.KMSClient != nil {
			kms.NewHTTPClient(opts.KMSClient).ApplyToMasterKey(k)
		}
		group = append(group, k)
	}

	suffix := opts.UnencryptedSuffix
	if suffix == "" {
		suffix = sops.DefaultUnencryptedSuffix
	}
	tree := sops.Tree{
		Branches: branches,
		Metadata: sops.Metadata{
			KeyGroups:         []sops.KeyGroup{group},
			UnencryptedSuffix: suffix,
			Version:           sopsVersion,
		},
	}

	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		return nil, fmt.Errorf("generate data key: %w", err)
	}
	for _, k := range group {
		var err error
		if kk, ok := k.(*kms.MasterKey); ok {
			err = kk.EncryptContext(ctx, dataKey)
		} else {
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
		return nil, fmt.Errorf("emit encrypted YAML: %w", err)
	}
	return out, nil
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
