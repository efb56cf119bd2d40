package sopstest_test

import (
	"strings"
	"testing"

	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/gcpkms"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"

	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest"
	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest/gcpkmstest"
)

// TestEncryptGCPKMS seals a data key with sops's own GCP KMS key source and
// REST client against gcpkmstest, then unseals it with the same official
// client: the test server speaks the wire format sops speaks.
func TestEncryptGCPKMS(t *testing.T) {
	t.Parallel()
	srv := gcpkmstest.New(t)
	id := srv.CreateKey(t, "pangeo-forge", "global", "deploy", "sops")
	enc := sopstest.EncryptYAML(t, []byte("token: fake-gcp-token\n"), sopstest.Options{
		GCPKMS: []string{id}, GCPKMSEndpoint: srv.URL(), GCPKMSClient: srv.HTTPClient(),
	})
	if strings.Contains(string(enc), "fake-gcp-token") {
		t.Fatalf("plaintext left in the encrypted file:\n%s", enc)
	}
	tree, err := sopsyaml.NewStore(&config.YAMLStoreConfig{}).LoadEncryptedFile(enc)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var sealed *gcpkms.MasterKey
	for _, k := range tree.Metadata.KeyGroups[0] {
		keys = append(keys, k.TypeToIdentifier()+" "+k.ToString())
		if g, ok := k.(*gcpkms.MasterKey); ok {
			sealed = g
		}
	}
	if diff := cmp.Diff([]string{"gcp_kms " + id}, keys); diff != "" {
		t.Fatalf("key groups mismatch (-want +got):\n%s", diff)
	}
	gcpkms.UseRESTClient{}.ApplyToMasterKey(sealed)
	gcpkms.ClientOptions{option.WithEndpoint(srv.URL()), option.WithHTTPClient(srv.HTTPClient())}.ApplyToMasterKey(sealed)
	dataKey, err := sealed.DecryptContext(t.Context())
	if err != nil {
		t.Fatalf("sops's GCP KMS client cannot decrypt what it encrypted through gcpkmstest: %v", err)
	}
	if len(dataKey) != 32 {
		t.Errorf("data key has %d bytes, want 32", len(dataKey))
	}
	var ops []string
	for _, r := range srv.Requests() {
		ops = append(ops, r.Op+" "+r.Key)
		if !r.Authorized {
			t.Errorf("request %s carried no token", r.Op)
		}
	}
	if diff := cmp.Diff([]string{"encrypt " + id, "decrypt " + id}, ops); diff != "" {
		t.Errorf("requests mismatch (-want +got):\n%s", diff)
	}
}
