// Package gcpkmstest is a small Google Cloud KMS for tests: the REST API's
// cryptoKeys encrypt and decrypt methods and an OAuth 2.0 token endpoint for
// service account keys, on one loopback httptest server. It speaks the wire
// format of the official REST client (sops's SOPS_GCP_KMS_CLIENT_TYPE=rest):
// protojson bodies with base64 bytes, google.rpc.Status errors, and bearer
// tokens obtained with a signed JWT (grant type jwt-bearer).
//
// Keys are AES-256-GCM keys held in memory; a ciphertext only decrypts under
// the key that made it, and a disabled key answers FAILED_PRECONDITION as
// Cloud KMS does. Every request is recorded so that tests can count KMS calls.
package gcpkmstest

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// ClientEmail is the service account of the credentials made by Credentials.
const ClientEmail = "deployer@deploy-action-test.iam.gserviceaccount.com"

// Request is one KMS request the server received.
type Request struct {
	Op  string // encrypt, decrypt
	Key string // the crypto key's resource ID
	// Authorized reports whether the request carried a token this server issued.
	Authorized bool
}

// Server is an in-memory Cloud KMS.
type Server struct {
	srv *httptest.Server
	sa  *rsa.PrivateKey

	mu     sync.Mutex
	keys   map[string]*cryptoKey
	tokens map[string]bool
	reqs   []Request
	grants int
}

type cryptoKey struct {
	aead     cipher.AEAD
	disabled bool
}

// New starts a server that lives as long as the test.
func New(t testing.TB) *Server {
	t.Helper()
	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("gcpkmstest: generate service account key: %v", err)
	}
	s := &Server{sa: sa, keys: map[string]*cryptoKey{}, tokens: map[string]bool{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the endpoint, for SOPS_GCP_KMS_ENDPOINT.
func (s *Server) URL() string { return s.srv.URL }

// Env is what a client needs to reach this server as sops would: the
// service account credentials, the endpoint and the REST client type.
func (s *Server) Env(t testing.TB) map[string]string {
	t.Helper()
	return map[string]string{
		"GOOGLE_CREDENTIALS":       s.Credentials(t),
		"SOPS_GCP_KMS_ENDPOINT":    s.URL(),
		"SOPS_GCP_KMS_CLIENT_TYPE": "rest",
	}
}

// Credentials returns a service account key file (JSON) whose token_uri is
// this server: the content of GOOGLE_CREDENTIALS.
func (s *Server) Credentials(t testing.TB) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(s.sa)
	if err != nil {
		t.Fatalf("gcpkmstest: %v", err)
	}
	b, err := json.MarshalIndent(map[string]string{
		"type":           "service_account",
		"project_id":     "deploy-action-test",
		"private_key_id": "gcpkmstest",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   ClientEmail,
		"client_id":      "100000000000000000001",
		"token_uri":      s.URL() + "/token",
	}, "", "  ")
	if err != nil {
		t.Fatalf("gcpkmstest: %v", err)
	}
	return string(b)
}

// Token issues an access token directly, for clients that bring their own
// (GOOGLE_OAUTH_ACCESS_TOKEN, or an HTTP client that adds it).
func (s *Server) Token() string {
	tok := "ya29.gcpkmstest-" + randomHex(8)
	s.mu.Lock()
	s.tokens[tok] = true
	s.mu.Unlock()
	return tok
}

// HTTPClient is a client that authenticates with a token from Token, for
// clients configured with option.WithHTTPClient (which adds no credentials).
func (s *Server) HTTPClient() *http.Client {
	tok := s.Token()
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+tok)
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// CreateKey makes an enabled symmetric key and returns its resource ID,
// projects/<project>/locations/<location>/keyRings/<ring>/cryptoKeys/<name>.
func (s *Server) CreateKey(t testing.TB, project, location, ring, name string) string {
	t.Helper()
	id := fmt.Sprintf("projects/%s/locations/%s/keyRings/%s/cryptoKeys/%s", project, location, ring, name)
	material := make([]byte, 32)
	if _, err := rand.Read(material); err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(material)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys[id] != nil {
		t.Fatalf("gcpkmstest: key %s exists", id)
	}
	s.keys[id] = &cryptoKey{aead: aead}
	return id
}

// DisableKey disables the key's (only) version, as an operator would.
func (s *Server) DisableKey(t testing.TB, id string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[id]
	if k == nil {
		t.Fatalf("gcpkmstest: no key %s", id)
	}
	k.disabled = true
}

// Requests returns the KMS requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Count returns how many KMS requests of one operation were received.
func (s *Server) Count(op string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Op == op {
			n++
		}
	}
	return n
}

// Grants returns how many access tokens the token endpoint issued.
func (s *Server) Grants() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.grants
}

// Reset forgets the recorded requests (e.g. after encrypting test files).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = nil
	s.grants = 0
}

var methodRe = regexp.MustCompile(`^/v1/(projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/:]+):(encrypt|decrypt)$`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		s.token(w, r)
		return
	}
	m := methodRe.FindStringSubmatch(r.URL.Path)
	if m == nil || r.Method != http.MethodPost {
		status(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("gcpkmstest: no method %s %s", r.Method, r.URL.Path))
		return
	}
	id, op := m[1], m[2]
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	authorized := ok && s.tokens[auth]
	s.reqs = append(s.reqs, Request{Op: op, Key: id, Authorized: authorized})
	k := s.keys[id]
	s.mu.Unlock()
	if !authorized {
		status(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	if k == nil {
		status(w, http.StatusForbidden, "PERMISSION_DENIED", fmt.Sprintf("Permission 'cloudkms.cryptoKeyVersions.useTo%s' denied on resource '%s' (or it may not exist).", map[string]string{"encrypt": "Encrypt", "decrypt": "Decrypt"}[op], id))
		return
	}
	version := id + "/cryptoKeyVersions/1"
	if k.disabled {
		status(w, http.StatusBadRequest, "FAILED_PRECONDITION", version+" is not enabled, current state is: DISABLED.")
		return
	}
	var in struct{ Plaintext, Ciphertext []byte } // protojson bytes are standard base64, as encoding/json's
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		status(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	switch op {
	case "encrypt":
		nonce := make([]byte, k.aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			status(w, http.StatusInternalServerError, "INTERNAL", err.Error())
			return
		}
		ct := k.aead.Seal(nonce, nonce, in.Plaintext, []byte(id))
		reply(w, map[string]any{"name": version, "ciphertext": ct, "protectionLevel": "SOFTWARE"})
	case "decrypt":
		n := k.aead.NonceSize()
		if len(in.Ciphertext) < n {
			status(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid.")
			return
		}
		pt, err := k.aead.Open(nil, in.Ciphertext[:n], in.Ciphertext[n:], []byte(id))
		if err != nil {
			status(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid.")
			return
		}
		reply(w, map[string]any{"plaintext": pt, "usedPrimary": true, "protectionLevel": "SOFTWARE"})
	}
}

// token implements the JWT bearer grant of a service account key: the
// assertion must be signed with the key Credentials handed out and name this
// token endpoint as its audience.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		oauthError(w, "unsupported_grant_type", "expected the jwt-bearer grant")
		return
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		oauthError(w, "invalid_grant", "malformed assertion")
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		oauthError(w, "invalid_grant", "malformed signature")
		return
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&s.sa.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		oauthError(w, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		Iss, Aud, Scope string
		Exp             int64
	}
	if err != nil || json.Unmarshal(raw, &claims) != nil {
		oauthError(w, "invalid_grant", "malformed claims")
		return
	}
	switch {
	case claims.Iss != ClientEmail:
		oauthError(w, "invalid_grant", "unknown issuer")
		return
	case claims.Aud != "http://"+r.Host+"/token":
		oauthError(w, "invalid_grant", "Invalid JWT: audience is not this token endpoint")
		return
	case !strings.Contains(claims.Scope, "https://www.googleapis.com/auth/cloudkms") && !strings.Contains(claims.Scope, "https://www.googleapis.com/auth/cloud-platform"):
		oauthError(w, "invalid_scope", "the token would not be allowed to use Cloud KMS")
		return
	case time.Unix(claims.Exp, 0).Before(time.Now()):
		oauthError(w, "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe")
		return
	}
	tok := s.Token()
	s.mu.Lock()
	s.grants++
	s.mu.Unlock()
	reply(w, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3599})
}

// status writes a google.rpc.Status error as the REST API does.
func status(w http.ResponseWriter, code int, name, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "status": name}})
}

func oauthError(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}
