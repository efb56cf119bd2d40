package secrets_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pangeo-forge/deploy-action/internal/secrets"
	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest"
	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest/kmstest"
)

const kmsDoc = "fastapi:\n  PANGEO_FORGE_API_KEY: fake-kms-api-key\ndebug: false\n"

var kmsWant = map[string]string{"FASTAPI_PANGEO_FORGE_API_KEY": "fake-kms-api-key", "DEBUG": "false"}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

// TestLoadKMS runs against local-kms in-process, one server per region, as
// pangeo-forge's files name two KMS keys in two regions.
func TestLoadKMS(t *testing.T) {
	t.Parallel()
	identity, recipient := sopstest.NewAgeKey(t)
	wrongIdentity, _ := sopstest.NewAgeKey(t)

	tests := []struct {
		name     string
		disable  []int // indexes of the KMS keys to disable after encrypting
		age      bool  // the file also has an age recipient
		env      map[string]string
		noCreds  bool
		want     map[string]string
		wantErr  []string
		wantReqs []string // "region Op", in order
	}{
		{
			name:     "the first key answers: one request",
			want:     kmsWant,
			wantReqs: []string{"us-east-1 Decrypt"},
		},
		{
			name:     "the first key is disabled: the second region decrypts",
			disable:  []int{0},
			want:     kmsWant,
			wantReqs: []string{"us-east-1 Decrypt", "us-west-2 Decrypt"},
		},
		{
			name:     "an age key is present and the file has its recipient: no KMS request",
			age:      true,
			env:      map[string]string{"SOPS_AGE_KEY": identity},
			want:     kmsWant,
			wantReqs: nil,
		},
		{
			name:     "no age key: KMS decrypts a file that also has an age recipient",
			age:      true,
			want:     kmsWant,
			wantReqs: []string{"us-east-1 Decrypt"},
		},
		{
			name:     "a wrong age key falls back to KMS",
			age:      true,
			env:      map[string]string{"SOPS_AGE_KEY": wrongIdentity},
			want:     kmsWant,
			wantReqs: []string{"us-east-1 Decrypt"},
		},
		{
			name:     "no AWS credentials: no request, and the message says what to set",
			noCreds:  true,
			wantErr:  []string{"cannot decrypt", "AWS KMS key arn:aws:kms:us-east-1:", "AWS KMS key arn:aws:kms:us-west-2:", "no AWS credentials given", "AWS_ACCESS_KEY_ID"},
			wantReqs: nil,
		},
		{
			name:     "every key disabled: both ARNs and the reason are named",
			disable:  []int{0, 1},
			wantErr:  []string{"cannot decrypt", "AWS KMS key arn:aws:kms:us-east-1:", "AWS KMS key arn:aws:kms:us-west-2:", "DisabledException", "kms:Decrypt"},
			wantReqs: []string{"us-east-1 Decrypt", "us-west-2 Decrypt"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			kms := kmstest.New(t)
			arns := []string{kms.CreateKey(t, "us-east-1"), kms.CreateKey(t, "us-west-2")}
			opts := sopstest.Options{KMS: arns, KMSClient: kms.HTTPClient()}
			if tc.age {
				opts.Age = []string{recipient}
			}
			enc := sopstest.EncryptYAML(t, []byte(kmsDoc), opts)
			for _, i := range tc.disable {
				kms.DisableKey(t, arns[i])
			}
			kms.Reset()

			dir := t.TempDir()
			writeSecrets(t, dir, "pangeo-forge", enc)
			e := merge(kms.Env(), tc.env)
			if tc.noCreds {
				e = tc.env
			}
			got, err := secrets.Load(context.Background(), dir, "pangeo-forge", secrets.Options{Getenv: env(e), HTTPClient: kms.HTTPClient()})

			var reqs []string
			for _, r := range kms.Requests() {
				reqs = append(reqs, r.Region+" "+r.Op)
			}
			if diff := cmp.Diff(tc.wantReqs, reqs); diff != "" {
				t.Errorf("KMS requests mismatch (-want +got):\n%s", diff)
			}
			if !checkLoad(t, got, err, tc.want, tc.wantErr) {
				return
			}
			assertNoSecrets(t, err, []string{"fake-kms-api-key", identity, wrongIdentity, kms.Env()["AWS_SECRET_ACCESS_KEY"]})
		})
	}
}

// TestLoadKMSEndpointFromGetenv checks that AWS_ENDPOINT_URL_KMS is taken
// from the injected environment, not the process's.
func TestLoadKMSEndpointFromGetenv(t *testing.T) {
	t.Parallel()
	kms := kmstest.New(t)
	arn := kms.CreateKey(t, "eu-west-2")
	enc := sopstest.EncryptYAML(t, []byte(kmsDoc), sopstest.Options{KMS: []string{arn}, KMSClient: kms.HTTPClient()})
	kms.Reset()
	dir := t.TempDir()
	writeSecrets(t, dir, "pangeo-forge-staging", enc)

	e := merge(kms.Env(), map[string]string{"AWS_ENDPOINT_URL_KMS": kms.URL(t, "eu-west-2")})
	got, err := secrets.Load(context.Background(), dir, "pangeo-forge-staging", secrets.Options{Getenv: env(e)})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if diff := cmp.Diff(kmsWant, got); diff != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", diff)
	}
	if n := kms.Count("Decrypt"); n != 1 {
		t.Errorf("%d Decrypt requests, want 1", n)
	}
}

// TestLoadKMSWebIdentity covers GitHub OIDC: AWS_ROLE_ARN and
// AWS_WEB_IDENTITY_TOKEN_FILE are exchanged at STS for temporary credentials,
// which then call KMS.
func TestLoadKMSWebIdentity(t *testing.T) {
	t.Parallel()
	kms := kmstest.New(t)
	arn := kms.CreateKey(t, "us-east-1")
	enc := sopstest.EncryptYAML(t, []byte(kmsDoc), sopstest.Options{KMS: []string{arn}, KMSClient: kms.HTTPClient()})
	kms.Reset()
	dir := t.TempDir()
	writeSecrets(t, dir, "pangeo-forge", enc)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("fake-oidc-token"), 0o600); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var stsForms []url.Values
	stsSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		stsForms = append(stsForms, r.PostForm)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>ASIAFAKEOIDC</AccessKeyId>
      <SecretAccessKey>fake-oidc-secret</SecretAccessKey>
      <SessionToken>fake-oidc-session</SessionToken>
      <Expiration>2099-01-01T00:00:00Z</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::111122223333:assumed-role/deploy/deploy-action</Arn>
      <AssumedRoleId>AROAFAKE:deploy-action</AssumedRoleId>
    </AssumedRoleUser>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`)
	}))
	t.Cleanup(stsSrv.Close)

	e := map[string]string{
		"AWS_ROLE_ARN":                "arn:aws:iam::111122223333:role/deploy",
		"AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile,
		"AWS_ENDPOINT_URL_STS":        stsSrv.URL,
	}
	got, err := secrets.Load(context.Background(), dir, "pangeo-forge", secrets.Options{Getenv: env(e), HTTPClient: kms.HTTPClient()})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if diff := cmp.Diff(kmsWant, got); diff != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(stsForms) != 1 {
		t.Fatalf("%d STS requests, want 1", len(stsForms))
	}
	f := stsForms[0]
	wantForm := map[string]string{
		"Action":           "AssumeRoleWithWebIdentity",
		"RoleArn":          "arn:aws:iam::111122223333:role/deploy",
		"WebIdentityToken": "fake-oidc-token",
		"RoleSessionName":  "deploy-action",
	}
	gotForm := map[string]string{}
	for k := range wantForm {
		gotForm[k] = f.Get(k)
	}
	if diff := cmp.Diff(wantForm, gotForm); diff != "" {
		t.Errorf("STS request mismatch (-want +got):\n%s", diff)
	}
	var keys []string
	for _, r := range kms.Requests() {
		keys = append(keys, r.Op+" "+r.AccessKeyID)
	}
	if diff := cmp.Diff([]string{"Decrypt ASIAFAKEOIDC"}, keys); diff != "" {
		t.Errorf("KMS requests mismatch (-want +got):\n%s", diff)
	}
}
