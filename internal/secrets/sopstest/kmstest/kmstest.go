// Package kmstest runs AWS KMS in-process for tests: one
// github.com/nsmithuk/local-kms backend per region on a loopback
// httptest server, an HTTP client that routes kms.<region>.amazonaws.com to
// it, and a record of every request so tests can count KMS calls.
//
// It is a test-only package: production code never imports it, so local-kms
// and its dependencies never reach the action's binary.
package kmstest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nsmithuk/local-kms/src/cmk"
	"github.com/nsmithuk/local-kms/src/data"
	"github.com/nsmithuk/local-kms/src/handler"
	"github.com/sirupsen/logrus"
)

// AccountID is the AWS account of every key made here.
const AccountID = "111122223333"

// Request is one request a test server received.
type Request struct {
	Region string
	Op     string // Encrypt, Decrypt, ...
	KeyID  string // as sent, usually the key's ARN
	// AccessKeyID is the access key the request was signed with: local-kms
	// does not check signatures, so tests check which credentials were used.
	AccessKeyID string
}

// Server is a set of per-region KMS endpoints.
type Server struct {
	t       testing.TB
	mu      sync.Mutex
	regions map[string]*region
	reqs    []Request
}

type region struct {
	srv *httptest.Server
	db  *data.Database
}

// New returns a Server with no regions; CreateKey starts them on demand.
// Everything is shut down when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	return &Server{t: t, regions: map[string]*region{}}
}

// Env returns the environment a client needs: fake static credentials.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":     "AKIAKMSTEST",
		"AWS_SECRET_ACCESS_KEY": "kmstest-fake-secret",
	}
}

// URL is the endpoint of one region, for AWS_ENDPOINT_URL_KMS.
func (s *Server) URL(t testing.TB, regionName string) string {
	t.Helper()
	return s.region(t, regionName).srv.URL
}

// CreateKey makes an enabled symmetric key in the region and returns its
// ARN.
func (s *Server) CreateKey(t testing.TB, regionName string) string {
	t.Helper()
	r := s.region(t, regionName)
	id := uuid(t)
	key := cmk.NewAesKey(cmk.KeyMetadata{
		Arn:          fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", regionName, AccountID, id),
		KeyId:        id,
		AWSAccountId: AccountID,
		CreationDate: time.Now().Unix(),
		Enabled:      true,
		KeyManager:   "CUSTOMER",
		KeyState:     cmk.KeyStateEnabled,
		Origin:       cmk.KeyOriginAwsKms,
	}, "", cmk.KeyOriginAwsKms)
	if err := r.db.SaveKey(key); err != nil {
		t.Fatalf("kmstest: save key: %v", err)
	}
	return key.GetArn()
}

// DisableKey disables a key, as an operator would during an incident or a
// key rotation: KMS then answers DisabledException.
func (s *Server) DisableKey(t testing.TB, arn string) {
	t.Helper()
	r := s.region(t, regionOf(t, arn))
	key, err := r.db.LoadKey(arn)
	if err != nil {
		t.Fatalf("kmstest: load key %s: %v", arn, err)
	}
	key.GetMetadata().Enabled = false
	key.GetMetadata().KeyState = cmk.KeyStateDisabled
	if err := r.db.SaveKey(key); err != nil {
		t.Fatalf("kmstest: save key: %v", err)
	}
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Count returns how many requests of one operation were received.
func (s *Server) Count(op string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Op == op {
			n++
		}
	}
	return n
}

// Reset forgets the recorded requests (e.g. after encrypting test files).
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = nil
}

// HTTPClient sends requests for kms.<region>.amazonaws.com to that region's
// server and lets loopback requests (other test servers) through; anything
// else fails, so a test can never reach the network.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		host := req.URL.Hostname()
		if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
			return http.DefaultTransport.RoundTrip(req)
		}
		name, ok := strings.CutPrefix(host, "kms.")
		name, ok2 := strings.CutSuffix(name, ".amazonaws.com")
		if !ok || !ok2 {
			return nil, fmt.Errorf("kmstest: no KMS server for host %q", host)
		}
		s.mu.Lock()
		r := s.regions[name]
		s.mu.Unlock()
		if r == nil {
			return nil, fmt.Errorf("kmstest: no KMS server for region %q (create a key there first)", name)
		}
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host = "http", r.srv.Listener.Addr().String()
		return http.DefaultTransport.RoundTrip(out)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (s *Server) region(t testing.TB, name string) *region {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.regions[name]; r != nil {
		return r
	}
	// The server lives as long as the test that made it, not a subtest.
	db := data.NewDatabase(filepath.Join(s.t.TempDir(), "kms-"+name))
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	r := &region{db: db}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.serve(w, req, name, db, logger)
	}))
	s.regions[name] = r
	s.t.Cleanup(func() {
		r.srv.Close()
		db.Close()
	})
	return r
}

// serve dispatches the few KMS operations sops uses to local-kms's handlers.
func (s *Server) serve(w http.ResponseWriter, req *http.Request, regionName string, db *data.Database, logger *logrus.Logger) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var in struct{ KeyId string }
	_ = json.Unmarshal(body, &in)
	_, op, _ := strings.Cut(req.Header.Get("X-Amz-Target"), ".")
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{Region: regionName, Op: op, KeyID: in.KeyId, AccessKeyID: accessKeyID(req)})
	s.mu.Unlock()

	req.Body = io.NopCloser(bytes.NewReader(body))
	h := handler.NewRequestHandler(req, logger, db)
	var resp handler.Response
	switch op {
	case "Encrypt":
		resp = h.Encrypt()
	case "Decrypt":
		resp = h.Decrypt()
	case "DescribeKey":
		resp = h.DescribeKey()
	default:
		http.Error(w, "kmstest: operation not implemented: "+op, http.StatusNotImplemented)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(resp.Code)
	_, _ = io.WriteString(w, resp.Body)
}

// accessKeyID reads "Credential=<id>/<date>/..." from a SigV4 Authorization
// header.
func accessKeyID(r *http.Request) string {
	_, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(cred, "/")
	return id
}

func regionOf(t testing.TB, arn string) string {
	t.Helper()
	parts := strings.Split(arn, ":")
	if len(parts) < 6 || parts[2] != "kms" {
		t.Fatalf("kmstest: %q is not a KMS key ARN", arn)
	}
	return parts[3]
}

func uuid(t testing.TB) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
