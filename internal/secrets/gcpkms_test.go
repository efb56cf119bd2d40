package secrets_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pangeo-forge/deploy-action/internal/secrets"
	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest"
	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest/gcpkmstest"
)

// TestLoadGCPKMS decrypts files sealed by sops's own GCP KMS key source
// (REST client) against gcpkmstest, with credentials as sops reads them:
// GOOGLE_CREDENTIALS (service account JSON, or its path) or
// GOOGLE_OAUTH_ACCESS_TOKEN, and SOPS_GCP_KMS_ENDPOINT.
func TestLoadGCPKMS(t *testing.T) {
	t.Parallel()
	identity, recipient := sopstest.NewAgeKey(t)

	tests := []struct {
		name    string
		disable []int // indexes of the keys to disable after encrypting
		age     bool  // the file also has an age recipient
		// env builds the environment from the server; nil means srv.Env.
		env        func(t *testing.T, srv *gcpkmstest.Server) map[string]string
		want       map[string]string
		wantErr    []string
		wantReqs   []string // "op key-index", in order
		wantGrants int      // access tokens issued by the token endpoint
	}{
		{
			name:       "service account JSON in GOOGLE_CREDENTIALS: one token, one request",
			want:       kmsWant,
			wantReqs:   []string{"decrypt 0"},
			wantGrants: 1,
		},
		{
			name: "GOOGLE_CREDENTIALS names a file",
			env: func(t *testing.T, srv *gcpkmstest.Server) map[string]string {
				p := filepath.Join(t.TempDir(), "sa.json")
				if err := os.WriteFile(p, []byte(srv.Credentials(t)), 0o600); err != nil {
					t.Fatal(err)
				}
				return map[string]string{"GOOGLE_CREDENTIALS": p, "SOPS_GCP_KMS_ENDPOINT": srv.URL()}
			},
			want:       kmsWant,
			wantReqs:   []string{"decrypt 0"},
			wantGrants: 1,
		},
		{
			name: "GOOGLE_OAUTH_ACCESS_TOKEN (google-github-actions/auth with token_format: access_token)",
			env: func(t *testing.T, srv *gcpkmstest.Server) map[string]string {
				return map[string]string{"GOOGLE_OAUTH_ACCESS_TOKEN": srv.Token(), "SOPS_GCP_KMS_ENDPOINT": srv.URL()}
			},
			want:     kmsWant,
			wantReqs: []string{"decrypt 0"},
		},
		{
			name:       "the first key is disabled: the second decrypts",
			disable:    []int{0},
			want:       kmsWant,
			wantReqs:   []string{"decrypt 0", "decrypt 1"},
			wantGrants: 1,
		},
		{
			name: "an age key is present and the file has its recipient: no KMS request",
			age:  true,
			env: func(t *testing.T, srv *gcpkmstest.Server) map[string]string {
				return merge(srv.Env(t), map[string]string{"SOPS_AGE_KEY": identity})
			},
			want:     kmsWant,
			wantReqs: nil,
		},
		{
			name:       "every key disabled: both keys and the reason are named",
			disable:    []int{0, 1},
			wantErr:    []string{"cannot decrypt", "config.pangeo-forge.yaml", "GCP KMS key projects/pangeo-forge/locations/us-central1/keyRings/deploy/cryptoKeys/sops (credentials from GOOGLE_CREDENTIALS): FAILED_PRECONDITION", "GCP KMS key projects/pangeo-forge/locations/europe-west1/", "is not enabled", "roles/cloudkms.cryptoKeyDecrypter", "the key is enabled"},
			wantReqs:   []string{"decrypt 0", "decrypt 1"},
			wantGrants: 1,
		},
		{
			name: "no credentials: no request, and the message says what to set",
			env: func(t *testing.T, srv *gcpkmstest.Server) map[string]string {
				return map[string]string{"SOPS_GCP_KMS_ENDPOINT": srv.URL()}
			},
			wantErr:  []string{"cannot decrypt", "config.pangeo-forge.yaml", "GCP KMS key projects/pangeo-forge/locations/us-central1/keyRings/deploy/cryptoKeys/sops: no GCP credentials given", "GOOGLE_CREDENTIALS", "GOOGLE_OAUTH_ACCESS_TOKEN"},
			wantReqs: nil,
		},
		{
			name: "GOOGLE_CREDENTIALS is neither a file nor JSON: not quoted",
			env: func(t *testing.T, srv *gcpkmstest.Server) map[string]string {
				return map[string]string{"GOOGLE_CREDENTIALS": "hunter2-fake-not-json", "SOPS_GCP_KMS_ENDPOINT": srv.URL()}
			},
			wantErr:  []string{"cannot decrypt", "GCP KMS key projects/pangeo-forge/", "GOOGLE_CREDENTIALS is neither the path of a credentials file nor credentials JSON", "fix GOOGLE_CREDENTIALS"},
			wantReqs: nil,
		},
		{
			name: "credentials of another type",
			env: func(t *testing.T, srv *gcpkmstest.Server) map[string]string {
				return map[string]string{"GOOGLE_CREDENTIALS": `{"type": "gdch_service_account"}`, "SOPS_GCP_KMS_ENDPOINT": srv.URL()}
			},
			wantErr:  []string{`have type "gdch_service_account"`, "service_account, authorized_user, external_account"},
			wantReqs: nil,
		},
		{
			name: "a token the server does not know",
			env: func(t *testing.T, srv *gcpkmstest.Server) map[string]string {
				return map[string]string{"GOOGLE_OAUTH_ACCESS_TOKEN": "ya29.hunter2-fake-expired", "SOPS_GCP_KMS_ENDPOINT": srv.URL()}
			},
			wantErr:  []string{"(credentials from GOOGLE_OAUTH_ACCESS_TOKEN): UNAUTHENTICATED", "roles/cloudkms.cryptoKeyDecrypter"},
			wantReqs: []string{"decrypt 0", "decrypt 1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := gcpkmstest.New(t)
			ids := []string{
				srv.CreateKey(t, "pangeo-forge", "us-central1", "deploy", "sops"),
				srv.CreateKey(t, "pangeo-forge", "europe-west1", "deploy", "sops"),
			}
			opts := sopstest.Options{GCPKMS: ids, GCPKMSEndpoint: srv.URL(), GCPKMSClient: srv.HTTPClient()}
			if tc.age {
				opts.Age = []string{recipient}
			}
			enc := sopstest.EncryptYAML(t, []byte(kmsDoc), opts)
			for _, i := range tc.disable {
				srv.DisableKey(t, ids[i])
			}
			srv.Reset()

			dir := t.TempDir()
			writeSecrets(t, dir, "pangeo-forge", enc)
			e := srv.Env(t)
			if tc.env != nil {
				e = tc.env(t, srv)
			}
			got, err := secrets.Load(context.Background(), dir, "pangeo-forge", secrets.Options{Getenv: env(e)})

			var reqs []string
			for _, r := range srv.Requests() {
				i := 0
				if r.Key == ids[1] {
					i = 1
				}
				reqs = append(reqs, r.Op+" "+string(rune('0'+i)))
			}
			if diff := cmp.Diff(tc.wantReqs, reqs); diff != "" {
				t.Errorf("GCP KMS requests mismatch (-want +got):\n%s", diff)
			}
			if g := srv.Grants(); g != tc.wantGrants {
				t.Errorf("%d access tokens issued, want %d", g, tc.wantGrants)
			}
			if !checkLoad(t, got, err, tc.want, tc.wantErr) {
				return
			}
			assertNoSecrets(t, err, []string{"fake-kms-api-key", identity, "hunter2-fake", "PRIVATE KEY"})
		})
	}
}
