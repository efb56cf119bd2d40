// Package githubapi is a stateful, in-process fake of the parts of GitHub's REST API that
// deploy-action uses: repositories, commits, branches, pull requests, check runs, deployments and
// issue comments. Tests and `make demo` point go-github at it (BaseURL = URL()+"/").
//
// When GitHub's OpenAPI description is present (fetch-spec.sh puts it in .cache/octokit-openapi/
// at the module root), every request is matched to its operation and its JSON body and query
// parameters are validated against it: a body GitHub would reject is answered 422 and recorded as
// a violation, so a test can fail on requests the real API would refuse.
package githubapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures a Server.
type Options struct {
	// Token is the only credential accepted, sent as "Authorization: Bearer <t>" or
	// "token <t>"; anything else is answered 401 {"message":"Bad credentials"}. Required.
	Token string
	// Spec is the path of GitHub's OpenAPI description (api.github.com.deref.json from npm
	// @octokit/openapi). "" locates the copy fetch-spec.sh fetched, from the working directory up
	// to the module root; when there is none, validation is off and Validating reports false.
	Spec string
	// Permissions are the token's permissions, e.g. {"checks": "write", "contents": "read"}.
	// A request the token may not make is answered 403 "Resource not accessible by integration".
	// nil grants everything.
	Permissions map[string]string
	// PageSize caps the page size of every list (per_page above it is lowered) and is the default
	// when per_page is absent. 0 means GitHub's: 30 by default, at most 100. A small value makes
	// tests exercise pagination.
	PageSize int
	// Login is the user the token belongs to: author of comments, deployments and check runs.
	// Default "github-actions[bot]". A login ending in "[bot]" is a GitHub App's installation (as
	// GITHUB_TOKEN is): GET /user answers it 403, as GitHub does. AddToken adds other credentials.
	Login string
	// Now is the clock for timestamps and rate-limit headers. Default time.Now.
	Now func() time.Time
	// Getwd is where to start looking for the description when Spec is "". Default os.Getwd.
	Getwd func() (string, error)
	// Latency is added to every request before it is handled, like a distant API, for benchmarks.
	Latency time.Duration
	// PathPrefix mounts the API under a path, as GitHub Enterprise Server serves it under
	// /api/v3 of its web host (GITHUB_API_URL is then https://HOST/api/v3). A request outside it
	// reaches the web host, not the API: it is answered 404 and recorded as a violation. Requests
	// under it are recorded without it. "" serves the API at the root, as api.github.com does.
	PathPrefix string
}

// Request is one request the server received, as recorded for tests.
type Request struct {
	Method string
	Path   string // unescaped path, e.g. /repos/o/r/check-runs
	Query  url.Values
	// Header as sent, except that the credential in Authorization is replaced by "[redacted]".
	Header http.Header
	Body   []byte
	Status int // the status the server answered
	// Login is who the request's credential authenticated as ("" when it did not): the author of
	// what it wrote.
	Login string
	// Wall-clock times for benchmarks: when the request arrived (before Latency) and when the
	// handler returned. The critical path of a run is read from them (internal/sandbox).
	Received, Answered time.Time
}

// Fault makes the server answer matching requests with an error instead of handling them, for
// fault tests. The request is still recorded.
type Fault struct {
	Method string // "" matches every method
	// Path is a request path (/repos/o/r/check-runs) or a template with {parameters}
	// (/repos/{owner}/{repo}/check-runs/{check_run_id}); "" matches every path.
	Path   string
	Status int    // e.g. 403, 404, 422, 500, 502
	Body   string // raw JSON answer; default {"message": <the status text>}
	// RateLimit answers as GitHub does when the primary rate limit is spent:
	// X-RateLimit-Remaining: 0 and "API rate limit exceeded ...". Status defaults to 403.
	RateLimit bool
	// RetryAfter, when set, is sent as Retry-After (secondary rate limits).
	RetryAfter time.Duration
	// Times is how many matching requests to fail: 0 means 1, a negative number means all.
	Times int
}

// Server is the fake API. All methods are safe for concurrent use.
type Server struct {
	opt   Options
	spec  *spec
	ts    *httptest.Server
	login string

	mu         sync.Mutex
	tokens     map[string]string // credential -> login (Options.Token, AddToken)
	requests   []Request
	violations []string
	faults     []*Fault
	used       int // requests counted against the rate limit
	repos      map[string]*repo
	nextID     int64
}

const rateLimit = 5000

// New starts a server on 127.0.0.1. Close it when done.
func New(opt Options) (*Server, error) {
	if opt.Token == "" {
		return nil, errors.New("githubapi: Options.Token is required: set the token the client under test sends")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Getwd == nil {
		opt.Getwd = os.Getwd
	}
	if p := opt.PathPrefix; p != "" && (!strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/")) {
		return nil, fmt.Errorf("githubapi: Options.PathPrefix %q must start with / and not end with one, e.g. /api/v3", p)
	}
	if opt.PageSize < 0 || opt.PageSize > 100 {
		return nil, fmt.Errorf("githubapi: Options.PageSize %d is out of range: use 0 (GitHub's default) to 100", opt.PageSize)
	}
	for k, v := range opt.Permissions {
		if v != "read" && v != "write" && v != "none" {
			return nil, fmt.Errorf("githubapi: permission %q has level %q: use read, write or none", k, v)
		}
	}
	s := &Server{opt: opt, login: opt.Login, repos: map[string]*repo{}, nextID: 1000}
	if s.login == "" {
		s.login = "github-actions[bot]"
	}
	s.tokens = map[string]string{opt.Token: s.login}
	path := opt.Spec
	if path == "" {
		wd, err := opt.Getwd()
		if err != nil {
			return nil, fmt.Errorf("githubapi: failed to get the working directory to locate GitHub's OpenAPI description: %w", err)
		}
		if path, err = LocateSpec(wd); err != nil {
			return nil, fmt.Errorf("githubapi: %w", err)
		}
	}
	if path != "" {
		sp, err := loadSpec(path)
		if err != nil {
			return nil, fmt.Errorf("githubapi: %w", err)
		}
		s.spec = sp
	}
	// Listen on IPv4 loopback explicitly: httptest's default may pick [::1], absent in some sandboxes.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("githubapi: failed to listen on 127.0.0.1: %w", err)
	}
	s.ts = &httptest.Server{Listener: l, Config: &http.Server{Handler: s}}
	s.ts.Start()
	return s, nil
}

// URL is the API's base URL without a trailing slash, e.g. http://127.0.0.1:40123, or
// http://127.0.0.1:40123/api/v3 with a PathPrefix. go-github wants it with one:
// client.BaseURL, _ = url.Parse(s.URL() + "/").
func (s *Server) URL() string { return s.ts.URL + s.opt.PathPrefix }

// Close stops the server.
func (s *Server) Close() { s.ts.Close() }

// Validating reports whether requests are validated against GitHub's OpenAPI description.
func (s *Server) Validating() bool { return s.spec != nil }

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// Violations returns what the server saw that GitHub would refuse or that the fake does not
// implement: unknown routes, bodies that fail the schema, missing permissions. A test that
// expects none should assert it is empty.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

// Inject adds a fault: matching requests are answered with its error until it is used up.
func (s *Server) Inject(f Fault) {
	if f.RateLimit && f.Status == 0 {
		f.Status = http.StatusForbidden
	}
	if f.Times == 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

func (s *Server) violate(format string, args ...any) {
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

const docsURL = "https://docs.github.com/rest"

// ServeHTTP answers one request: it records it, checks the credential, applies faults, matches
// the route, checks permissions, validates against the description, and runs the handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "failed to read the request body", http.StatusBadRequest)
		return
	}
	rw := &recorder{ResponseWriter: w, status: http.StatusOK}
	if s.opt.Latency > 0 {
		t := time.NewTimer(s.opt.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	outside := false
	if p := s.opt.PathPrefix; p != "" {
		rest, ok := strings.CutPrefix(r.URL.Path, p)
		if ok && strings.HasPrefix(rest, "/") {
			u := *r.URL
			u.Path, u.RawPath = rest, strings.TrimPrefix(u.RawPath, p)
			r = r.Clone(r.Context())
			r.URL = &u
		} else {
			outside = true
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	idx := len(s.requests)
	s.requests = append(s.requests, Request{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: redact(r.Header), Body: body,
		Received: received,
	})
	defer func() { s.requests[idx].Status, s.requests[idx].Answered = rw.status, time.Now() }()

	if outside {
		// What GitHub Enterprise Server's web host answers for an API path: not the API.
		s.violate("%s %s is outside the API's path %s: the client sent it to the web host", r.Method, r.URL.Path, s.opt.PathPrefix)
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		rw.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(rw, "<!DOCTYPE html><title>Page not found</title>\n")
		return
	}
	now := s.opt.Now()
	login, authed := s.authorized(r.Header.Get("Authorization"))
	if authed {
		s.used++
		s.requests[idx].Login = login
	}
	h := rw.Header()
	h.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	h.Set("X-GitHub-Request-Id", fmt.Sprintf("FAKE:%d", idx+1))
	h.Set("X-RateLimit-Limit", strconv.Itoa(rateLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(rateLimit-s.used, 0)))
	h.Set("X-RateLimit-Used", strconv.Itoa(s.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(now.Truncate(time.Hour).Add(time.Hour).Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")

	switch {
	case authed:
	case r.Header.Get("Authorization") != "":
		writeJSON(rw, http.StatusUnauthorized, map[string]any{"message": "Bad credentials", "documentation_url": docsURL, "status": "401"})
		return
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		writeJSON(rw, http.StatusUnauthorized, map[string]any{"message": "Requires authentication", "documentation_url": docsURL, "status": "401"})
		return
	case !s.publicRepoPath(r.URL.EscapedPath()):
		// GitHub does not tell a private repository from a missing one without a credential.
		writeJSON(rw, http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": docsURL, "status": "404"})
		return
	}

	segs, ok := splitPath(r.URL.EscapedPath())
	if !ok {
		s.notFound(rw, r, "the path %q is not a valid URL path", r.URL.EscapedPath())
		return
	}
	if s.fault(rw, r.Method, segs) {
		return
	}

	rt, params := matchRoute(r.Method, segs)
	var op *operation
	if s.spec != nil {
		var tmpl string
		var inSpec bool
		op, tmpl, inSpec = s.spec.match(r.Method, segs)
		switch {
		case !inSpec:
			s.notFound(rw, r, "%s %s is not in GitHub's REST API", r.Method, r.URL.Path)
			return
		case op == nil:
			s.violate("%s %s: GitHub's REST API has no %s on %s", r.Method, r.URL.Path, r.Method, tmpl)
			writeJSON(rw, http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": docsURL, "status": "404"})
			return
		}
	}
	if rt == nil {
		s.notFound(rw, r, "%s %s is not implemented by the fake GitHub API", r.Method, r.URL.Path)
		return
	}
	if rt.perm != "" && !s.allowed(rt.perm, r.Method) {
		s.violate("%s %s needs the %q permission at %q level: the token has %q", r.Method, r.URL.Path, rt.perm, level(r.Method), s.opt.Permissions[rt.perm])
		writeJSON(rw, http.StatusForbidden, map[string]any{"message": "Resource not accessible by integration", "documentation_url": docsURL, "status": "403"})
		return
	}
	if op != nil {
		problems := op.validateQuery(r.URL.Query())
		if r.Method != http.MethodGet && r.Method != http.MethodDelete {
			if !json.Valid(body) && len(bytes.TrimSpace(body)) > 0 {
				s.violate("%s %s (%s): the body is not valid JSON", r.Method, r.URL.Path, op.ID)
				writeJSON(rw, http.StatusBadRequest, map[string]any{"message": "Problems parsing JSON", "documentation_url": docsURL, "status": "400"})
				return
			}
			bp, err := op.validateBody(body)
			if err != nil {
				s.violate("%s %s (%s): %v", r.Method, r.URL.Path, op.ID, err)
			}
			problems = append(problems, bp...)
		}
		if len(problems) > 0 {
			s.invalid(rw, r, op.ID, problems)
			return
		}
	}
	c := &call{s: s, w: rw, r: r, body: body, params: params, now: now, login: login}
	rt.handle(c)
}

// publicRepoPath reports whether path is under /repos/{owner}/{repo} of a public repository: what
// a request without a credential may read. The caller holds the lock.
func (s *Server) publicRepoPath(path string) bool {
	segs, ok := splitPath(path)
	if !ok || len(segs) < 3 || segs[0] != "repos" {
		return false
	}
	r, ok := s.repos[strings.ToLower(segs[1]+"/"+segs[2])]
	return ok && !r.private
}

// AddToken adds a credential that authenticates as login (another user, another app's bot): what
// it writes (comments, deployments) is that login's. A login ending in "[bot]" is an app
// installation. Permissions apply to every token alike.
func (s *Server) AddToken(token, login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = login
}

// authorized says whom the Authorization header's credential belongs to, in either scheme GitHub
// accepts; ok is false for an unknown one.
func (s *Server) authorized(h string) (login string, ok bool) {
	scheme, tok, found := strings.Cut(h, " ")
	if !found {
		return "", false
	}
	scheme = strings.ToLower(scheme)
	if scheme != "bearer" && scheme != "token" {
		return "", false
	}
	login, ok = s.tokens[tok]
	return login, ok
}

func level(method string) string {
	if method == http.MethodGet || method == http.MethodHead {
		return "read"
	}
	return "write"
}

func (s *Server) allowed(perm, method string) bool {
	if s.opt.Permissions == nil {
		return true
	}
	// Comments on pull requests go through the issues API, and GitHub lets either permission in.
	perms := []string{perm}
	if perm == "issues" {
		perms = append(perms, "pull_requests")
	}
	for _, p := range perms {
		switch s.opt.Permissions[p] {
		case "write":
			return true
		case "read":
			if level(method) == "read" {
				return true
			}
		}
	}
	return false
}

func (s *Server) fault(w *recorder, method string, segs []string) bool {
	for i, f := range s.faults {
		if f.Method != "" && !strings.EqualFold(f.Method, method) {
			continue
		}
		if f.Path != "" {
			fs, ok := splitPath(f.Path)
			if !ok {
				continue
			}
			if _, match := matchTemplate("/"+strings.Join(fs, "/"), segs); !match {
				continue
			}
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		body := f.Body
		if f.RateLimit {
			w.Header().Set("X-RateLimit-Remaining", "0")
			if body == "" {
				body = `{"message":"API rate limit exceeded for installation. If you reach out to GitHub Support for help, please include the request ID FAKE.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}`
			}
		}
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
		}
		if body == "" {
			b, _ := json.Marshal(map[string]any{"message": http.StatusText(f.Status), "documentation_url": docsURL})
			body = string(b)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(f.Status)
		_, _ = io.WriteString(w, body)
		return true
	}
	return false
}

func (s *Server) notFound(w *recorder, r *http.Request, format string, args ...any) {
	s.violate(format, args...)
	writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": docsURL, "status": "404"})
}

func (s *Server) invalid(w *recorder, r *http.Request, opID string, problems []fieldError) {
	var msgs []string
	for _, p := range problems {
		m := p.Message
		if p.Field != "" {
			m = p.Field + ": " + m
		}
		msgs = append(msgs, m)
	}
	s.violate("%s %s (%s): %s", r.Method, r.URL.Path, opID, strings.Join(msgs, "; "))
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
		"message": "Validation Failed", "errors": problems, "documentation_url": docsURL, "status": "422",
	})
}

// splitPath splits an escaped URL path into unescaped segments, so that an escaped slash inside
// a branch name stays in its segment.
func splitPath(escaped string) ([]string, bool) {
	parts := strings.Split(strings.Trim(escaped, "/"), "/")
	for i, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil {
			return nil, false
		}
		parts[i] = u
	}
	return parts, true
}

func redact(h http.Header) http.Header {
	out := h.Clone()
	if a := out.Get("Authorization"); a != "" {
		scheme, _, _ := strings.Cut(a, " ")
		out.Set("Authorization", scheme+" [redacted]")
	}
	return out
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "failed to encode the answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
