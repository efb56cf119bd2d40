package secrets

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"

	"github.com/getsops/sops/v3/gcpkms"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// gcpAccess is how this run reaches GCP KMS, built from Options alone.
//
// sops's GCP KMS key source reads SOPS_GCP_KMS_ENDPOINT,
// SOPS_GCP_KMS_CLIENT_TYPE, GOOGLE_CREDENTIALS and GOOGLE_OAUTH_ACCESS_TOKEN
// from the process environment, and without credentials its Google client
// falls back to application default credentials (well-known files, the
// metadata server). None of that can be injected, so, as for AWS, the action
// calls the Cloud KMS REST API's decrypt method itself, reading the same
// variables through Getenv: a test (or a caller) decides exactly what it
// sees, and nothing is looked up that the user did not give.
type gcpAccess struct {
	client   *http.Client // authenticated; nil: no credentials
	endpoint string       // base URL, no trailing slash
	source   string       // which variable the credentials came from, for messages
	credErr  error        // credentials given but unusable: reported per key
}

// gcpScope is the narrowest scope that allows Cloud KMS decryption.
const gcpScope = "https://www.googleapis.com/auth/cloudkms"

// gcpCredentialTypes are the credential files accepted in GOOGLE_CREDENTIALS:
// what gcloud, the console and google-github-actions/auth write.
var gcpCredentialTypes = []google.CredentialsType{google.ServiceAccount, google.AuthorizedUser, google.ExternalAccount, google.ImpersonatedServiceAccount}

func newGCPAccess(ctx context.Context, opt Options, base *http.Client) *gcpAccess {
	g := &gcpAccess{endpoint: "https://cloudkms.googleapis.com"}
	if ep := opt.getenv(gcpkms.SopsGCPKMSEndpointEnv); ep != "" {
		if !strings.Contains(ep, "://") {
			ep = "https://" + ep // sops's form is host[:port], as gRPC takes it
		}
		g.endpoint = strings.TrimSuffix(ep, "/")
	} else if ud := opt.getenv(gcpkms.SopsGCPKMSUniverseDomainEnv); ud != "" {
		g.endpoint = "https://cloudkms." + ud
	}

	var ts oauth2.TokenSource
	switch {
	case opt.getenv(gcpkms.SopsGoogleCredentialsEnv) != "":
		g.source = gcpkms.SopsGoogleCredentialsEnv
		ts, g.credErr = gcpTokenSource(ctx, opt.getenv(gcpkms.SopsGoogleCredentialsEnv), base)
	case opt.getenv(gcpkms.SopsGoogleCredentialsOAuthTokenEnv) != "":
		g.source = gcpkms.SopsGoogleCredentialsOAuthTokenEnv
		ts = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: opt.getenv(gcpkms.SopsGoogleCredentialsOAuthTokenEnv), TokenType: "Bearer"})
	default:
		return g
	}
	if g.credErr == nil {
		g.client = &http.Client{Transport: &oauth2.Transport{Source: ts, Base: base.Transport}, Timeout: base.Timeout}
	}
	return g
}

// gcpTokenSource reads GOOGLE_CREDENTIALS as sops does: the path of a
// credentials file if such a file exists, else the JSON itself. The messages
// never quote the value: it holds a private key.
func gcpTokenSource(ctx context.Context, value string, base *http.Client) (oauth2.TokenSource, error) {
	data := []byte(value)
	if _, err := os.Stat(value); err == nil {
		if data, err = os.ReadFile(value); err != nil {
			return nil, fmt.Errorf("cannot read the credentials file named by %s: %w", gcpkms.SopsGoogleCredentialsEnv, err)
		}
	}
	var f struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s is neither the path of a credentials file nor credentials JSON: give the service account key JSON (or its path) from the Google Cloud console", gcpkms.SopsGoogleCredentialsEnv)
	}
	var accepted []string
	for _, t := range gcpCredentialTypes {
		accepted = append(accepted, string(t))
		if string(t) != f.Type {
			continue
		}
		// The token requests (JWT grant, refresh, STS) go through base too.
		ctx = context.WithValue(ctx, oauth2.HTTPClient, base)
		creds, err := google.CredentialsFromJSONWithTypeAndParams(ctx, data, t, google.CredentialsParams{Scopes: []string{gcpScope}})
		if err != nil {
			return nil, fmt.Errorf("the %s credentials in %s are not usable: %w", f.Type, gcpkms.SopsGoogleCredentialsEnv, err)
		}
		return creds.TokenSource, nil
	}
	return nil, fmt.Errorf("the credentials in %s have type %q; deploy-action accepts %s", gcpkms.SopsGoogleCredentialsEnv, f.Type, strings.Join(accepted, ", "))
}

var gcpKeyRe = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$`)

// decrypt asks Cloud KMS for the data key sealed under k.
func (g *gcpAccess) decrypt(ctx context.Context, k *gcpkms.MasterKey) ([]byte, error) {
	if !gcpKeyRe.MatchString(k.ResourceID) {
		return nil, fmt.Errorf("%q is not a GCP KMS key resource ID (projects/P/locations/L/keyRings/R/cryptoKeys/K)", k.ResourceID)
	}
	// sops stores the ciphertext base64-encoded; the API wants its bytes,
	// base64-encoded again by JSON.
	ct, err := base64.StdEncoding.DecodeString(k.EncryptedKey)
	if err != nil {
		return nil, errors.New("its encrypted data key is not base64: the sops metadata was changed outside sops")
	}
	body, err := json.Marshal(struct {
		Ciphertext []byte `json:"ciphertext"`
	}{ct})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.endpoint+"/v1/"+k.ResourceID+":decrypt", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("invalid GCP KMS endpoint %s: %w", g.endpoint, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, gcpTransportError(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", g.endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct {
				Status, Message string
			}
		}
		if json.Unmarshal(raw, &e) == nil && e.Error.Status != "" {
			return nil, fmt.Errorf("%s: %s", e.Error.Status, e.Error.Message)
		}
		return nil, fmt.Errorf("%s answered %s", g.endpoint, resp.Status)
	}
	var out struct {
		Plaintext []byte `json:"plaintext"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Plaintext) == 0 {
		return nil, fmt.Errorf("%s answered without a plaintext data key", g.endpoint)
	}
	return out.Plaintext, nil
}

// gcpTransportError keeps the cause of a failed request (token endpoint or
// KMS) and drops the details of oauth2's token errors, whose bodies are the
// identity provider's to word.
func gcpTransportError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		desc := re.ErrorCode
		if re.ErrorDescription != "" {
			desc += ": " + re.ErrorDescription
		}
		if desc == "" && re.Response != nil {
			desc = re.Response.Status
		}
		return fmt.Errorf("the token endpoint refused the credentials (%s)", desc)
	}
	return err
}
