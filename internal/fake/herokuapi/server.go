// Package herokuapi is a stateful, in-process fake of Heroku's Platform API
// for tests and the demo: one server that behaves like Heroku (pipelines,
// apps, sources, builds with output streams, releases with release phases,
// config vars, review apps, promotions), so that any client written against
// the real API works against it unchanged.
//
// Every API request is checked the way Heroku checks it (Accept header,
// bearer token) and validated against the Platform API's own hyper-schema,
// the schema.json shipped in heroku-go's module. Requests that no schema link
// describes, or whose bodies the link's schema rejects, are answered like
// Heroku would and recorded as violations, so a test can assert that its
// client only ever spoke valid Platform API.
//
// Builds, release phases, review-app creation and promotions progress on
// their own timers, like the real thing: nothing waits for a client to poll.
package herokuapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Options configures a Server. Zero values choose Heroku-like defaults.
type Options struct {
	// Token is the API key clients must present as "Authorization: Bearer
	// <token>" (or as the password of basic auth, which Heroku also takes).
	Token string
	// Latency is added to every request, for benchmarks and timeout tests.
	Latency time.Duration
	// BuildTime is how long a build runs (default 300ms); review-app
	// creation and deletion steps take a third of it each.
	BuildTime time.Duration
	// ReleaseTime is how long a release phase runs (default 100ms);
	// promotions complete after it too.
	ReleaseTime time.Duration
	// PageSize is the default and maximum number of items in one list
	// response (Heroku: 200 by default, up to 1000 when asked); tests set it
	// small to force 206 Partial Content.
	PageSize int
	// RateLimit is the size of the account's token bucket (Heroku: 4500
	// tokens); a request finding it empty gets 429 rate_limit.
	RateLimit int
	// RefillPerSecond is how many tokens flow back into the bucket each
	// second (default RateLimit per hour: Heroku's 4500 make 75 a minute).
	// Tests scale the bucket down and the refill up to run many jobs at once.
	RefillPerSecond float64
	// RetryAfter, when set, is sent as Retry-After (whole seconds) on 429
	// answers. Heroku sends none, so the default sends none.
	RetryAfter time.Duration
	// Schema is the path of heroku-go's schema.json; empty asks the go
	// command where the heroku-go module is.
	Schema string
	// Now stamps created_at/updated_at (default time.Now). Timers for builds
	// and releases run on real time regardless.
	Now func() time.Time
}

// Request is one request the server received, in arrival order.
type Request struct {
	Method string
	Path   string // escaped path with query, as sent
	Header http.Header
	// Body is what the client sent. It may hold config var values: print
	// it only in tests that use made-up values.
	Body   []byte
	Status int // status answered; 0 while the request is in progress
	// Token says that the request took a token from the account's rate-limit bucket (every
	// authenticated API request does, except GET /account/rate-limits and those refused with 429).
	Token bool

	// Wall-clock times (time.Now, not Options.Now) for benchmarks: when the request arrived, when
	// the server handled it (after Latency and any Disruption delay), and when the handler returned
	// (for an output stream, when the stream ended).
	Received, Handled, Answered time.Time
}

// Server is the fake Platform API. Its methods are safe for concurrent use.
type Server struct {
	opt    Options
	schema *apiSchema
	ts     *httptest.Server
	base   string

	mu        sync.Mutex
	closed    bool
	done      chan struct{}
	timers    map[int]*time.Timer
	nextTimer int
	wg        sync.WaitGroup

	requests       []Request
	violations     []string
	work           []workSpan   // simulated work timers that fired (timing.go)
	settlements    []Settlement // when builds, releases, review apps and promotions settled
	maintenanceLog []MaintenanceChange
	injectors      []func(*http.Request) (int, bool)
	disrupters     []func(*http.Request) (Disruption, bool)
	tokens         float64
	refilledAt     time.Time

	pipelines  map[string]*pipelineRec
	apps       map[string]*appRec
	couplings  map[string]*couplingRec
	blobs      map[string]*blobRec
	builds     map[string]*buildRec
	slugs      map[string]*slugRec
	releases   map[string]*releaseRec
	reviewApps map[string]*reviewAppRec
	promotions map[string]*promotionRec
	targets    map[string]*targetRec
	appSetups  map[string]*appSetupRec
	teams      map[string]*teamRec
	addonFails map[string]string     // add-on (service or service:plan) -> provisioning error
	postdeploy *postdeployResult     // how app setups' postdeploy scripts end; nil: exit 0
	buildPrint []string              // what every later build's build script prints, write by write
	holds      map[string]*buildHold // builds held by commit (HoldBuilds)
	ci         ciState               // Heroku CI: test runs and their nodes (testruns.go)
	logs       []*outputLog
	routes     map[string]handler
}

// New starts a server on 127.0.0.1. Close it when done (t.Cleanup(s.Close)).
func New(opt Options) (*Server, error) {
	if opt.Token == "" {
		return nil, fmt.Errorf("herokuapi: Options.Token is required: clients must authenticate like they do with Heroku")
	}
	if opt.BuildTime <= 0 {
		opt.BuildTime = 300 * time.Millisecond
	}
	if opt.ReleaseTime <= 0 {
		opt.ReleaseTime = 100 * time.Millisecond
	}
	if opt.PageSize <= 0 {
		opt.PageSize = 200
	}
	if opt.RateLimit <= 0 {
		opt.RateLimit = 4500
	}
	if opt.RefillPerSecond <= 0 {
		opt.RefillPerSecond = float64(opt.RateLimit) / time.Hour.Seconds()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	path := opt.Schema
	if path == "" {
		var err error
		if path, err = locateSchema(); err != nil {
			return nil, err
		}
	}
	sch, err := loadSchema(path)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opt:        opt,
		schema:     sch,
		done:       make(chan struct{}),
		timers:     map[int]*time.Timer{},
		tokens:     float64(opt.RateLimit),
		refilledAt: opt.Now(),
		pipelines:  map[string]*pipelineRec{},
		apps:       map[string]*appRec{},
		couplings:  map[string]*couplingRec{},
		blobs:      map[string]*blobRec{},
		builds:     map[string]*buildRec{},
		slugs:      map[string]*slugRec{},
		releases:   map[string]*releaseRec{},
		reviewApps: map[string]*reviewAppRec{},
		promotions: map[string]*promotionRec{},
		targets:    map[string]*targetRec{},
		appSetups:  map[string]*appSetupRec{},
		teams:      map[string]*teamRec{},
		addonFails: map[string]string{},
	}
	s.routes = s.handlers()
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.ts.Start()
	s.base = s.ts.URL
	return s, nil
}

// URL is the API's base URL, without a trailing slash.
func (s *Server) URL() string { return s.base }

// Client returns an HTTP client for the server (plain, no Heroku headers).
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Close stops every pending build, release and promotion timer, ends open
// output streams and shuts the server down.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	for id, t := range s.timers {
		if t.Stop() {
			s.wg.Done()
		}
		delete(s.timers, id)
	}
	for _, l := range s.logs {
		l.finish()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.ts.Close()
}

// after runs f under the server lock once d has passed, unless the server
// closes first. The caller holds the lock.
func (s *Server) after(d time.Duration, f func()) {
	if s.closed {
		return
	}
	id := s.nextTimer
	s.nextTimer++
	s.wg.Add(1)
	armed := time.Now()
	s.timers[id] = time.AfterFunc(d, func() {
		defer s.wg.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.timers, id)
		if s.closed {
			return
		}
		s.work = append(s.work, workSpan{start: armed, end: time.Now()})
		f()
	})
}

// Inject installs a fault: for every later request f returns (status, true)
// on, the server answers that status instead (429 with the rate_limit error
// and Retry-After, 5xx with a server error), before authentication and
// routing. Faults apply to blob and stream URLs too.
func (s *Server) Inject(f func(r *http.Request) (status int, ok bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.injectors = append(s.injectors, f)
}

// FailNext makes the next n API requests (not blob or stream requests)
// answer status, e.g. FailNext(2, 429) or FailNext(1, 503).
func (s *Server) FailNext(n, status int) {
	var mu sync.Mutex
	s.Inject(func(r *http.Request) (int, bool) {
		if isSideChannel(r.URL.Path) {
			return 0, false
		}
		mu.Lock()
		defer mu.Unlock()
		if n <= 0 {
			return 0, false
		}
		n--
		return status, true
	})
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Header = r.Header.Clone()
		r.Body = bytes.Clone(r.Body)
		out[i] = r
	}
	return out
}

// Violations returns what clients did that the real API would not accept:
// unknown routes, invalid bodies, malformed uploads. Tests assert it is empty.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

func (s *Server) violation(r *http.Request, format string, args ...any) {
	s.violations = append(s.violations, r.Method+" "+r.URL.Path+": "+fmt.Sprintf(format, args...))
}

// apiError is a Platform API error response: {"id": ..., "message": ...}.
type apiError struct {
	status  int
	id      string
	message string
}

func (e *apiError) Error() string { return e.id + ": " + e.message }

func errorf(status int, id, format string, args ...any) *apiError {
	return &apiError{status: status, id: id, message: fmt.Sprintf(format, args...)}
}

func notFound(what, ident string) *apiError {
	return errorf(http.StatusNotFound, "not_found", "Couldn't find that %s (%q).", what, ident)
}

// reply is a successful API response.
type reply struct {
	status int
	body   any
	header http.Header
}

type handler func(r *http.Request, params []string, body []byte) (reply, *apiError)

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "failed to read the request body", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))

	s.mu.Lock()
	idx := len(s.requests)
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body, Received: time.Now()})
	injectors := append([]func(*http.Request) (int, bool)(nil), s.injectors...)
	disrupters := append([]func(*http.Request) (Disruption, bool)(nil), s.disrupters...)
	s.mu.Unlock()

	sw := &statusWriter{ResponseWriter: w}
	// Date by the server's own clock (Options.Now), as Heroku's answers carry Heroku's: clients
	// judge the server's created_at stamps by it, whatever the client's clock says.
	w.Header().Set("Date", s.opt.Now().UTC().Format(http.TimeFormat))
	defer func() {
		s.mu.Lock()
		s.requests[idx].Status = sw.status
		s.requests[idx].Answered = time.Now()
		s.mu.Unlock()
	}()

	if s.opt.Latency > 0 {
		t := time.NewTimer(s.opt.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.done:
			t.Stop()
		}
	}
	for _, f := range injectors {
		if status, ok := f(r); ok {
			s.writeError(sw, s.injected(status))
			return
		}
	}
	var d Disruption
	dropAt := -1
	for _, f := range disrupters {
		var ok bool
		if d, ok = f(r); ok {
			break
		}
		d = Disruption{}
	}
	if d.Delay > 0 {
		t := time.NewTimer(d.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.done:
			t.Stop()
		}
	}
	if d.Reset && !d.Processed {
		panic(http.ErrAbortHandler) // net/http closes the connection without answering
	}
	s.mu.Lock()
	s.requests[idx].Handled = time.Now()
	s.mu.Unlock()
	out := http.ResponseWriter(sw)
	if d.Reset {
		out = httptest.NewRecorder() // the request is handled, its answer never leaves
	}
	if d.DropStream {
		dropAt = d.StreamBytes
	}
	switch {
	case strings.HasPrefix(r.URL.Path, blobPrefix):
		s.serveBlob(out, r, body)
	case strings.HasPrefix(r.URL.Path, streamPrefix):
		s.serveStream(out, r, dropAt)
	default:
		s.serveAPI(out, r, body, idx)
	}
	if d.Reset {
		panic(http.ErrAbortHandler)
	}
}

// Disruption is a network fault for Disrupt to apply to a request.
type Disruption struct {
	// Delay holds the request back this long before it is handled: a slow response.
	Delay time.Duration
	// Reset closes the connection without an answer. With Processed the request is handled first
	// (a build is started, a review app created) and only the answer is lost: the ambiguous failure
	// a client must survive without doing the work twice.
	Reset, Processed bool
	// DropStream breaks an output stream's connection after StreamBytes bytes of its body.
	DropStream  bool
	StreamBytes int
}

// Disrupt installs a network fault: for every later request f returns (d, true) on, the server
// applies d (see Disruption). The first matching disrupter wins; status faults of Inject and
// FailNext come first. Like Inject, f sees API, blob and stream requests.
func (s *Server) Disrupt(f func(r *http.Request) (Disruption, bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disrupters = append(s.disrupters, f)
}

// isSideChannel tells the URLs Heroku serves outside the Platform API (the
// source blob store, build and release output streams).
func isSideChannel(path string) bool {
	return strings.HasPrefix(path, blobPrefix) || strings.HasPrefix(path, streamPrefix)
}

func (s *Server) injected(status int) *apiError {
	switch {
	case status == http.StatusTooManyRequests:
		return errorf(status, "rate_limit", "Your account reached the API rate limit\nPlease wait a few minutes before making new requests")
	case status == http.StatusServiceUnavailable:
		return errorf(status, "service_unavailable", "The API is temporarily unavailable. Please try again.")
	case status >= 500:
		return errorf(status, "internal_server_error", "Internal server error.")
	default:
		return errorf(status, strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_"), "%s.", http.StatusText(status))
	}
}

// serveAPI answers a Platform API request; idx is its place in s.requests.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, body []byte, idx int) {
	if !acceptsV3(r.Header.Values("Accept")) {
		s.writeError(w, errorf(http.StatusNotAcceptable, "not_acceptable",
			"Please specify a version along with Heroku's API MIME type. For example, `Accept: application/vnd.heroku+json; version=3`."))
		return
	}
	if e := s.authenticate(r); e != nil {
		s.writeError(w, e)
		return
	}
	// Heroku's schema: "Requests to this endpoint do not count towards the rate limit."
	free := r.Method == http.MethodGet && r.URL.EscapedPath() == "/account/rate-limits"
	s.mu.Lock()
	var remaining int
	limited := false
	if free {
		remaining = s.refill()
	} else if remaining, limited = s.takeToken(); !limited {
		s.requests[idx].Token = true
	}
	s.mu.Unlock()
	w.Header().Set("RateLimit-Remaining", strconv.Itoa(remaining))
	if limited {
		s.writeError(w, s.injected(http.StatusTooManyRequests))
		return
	}

	rt, params, err := s.schema.match(r.Method, r.URL.EscapedPath())
	if err != nil {
		s.mu.Lock()
		s.violation(r, "%v", err)
		s.mu.Unlock()
		s.writeError(w, errorf(http.StatusNotFound, "not_found", "The requested API endpoint was not found. Are you using the right HTTP verb (i.e. `GET` vs. `POST`), and did you specify your intended version with the `Accept` header?"))
		return
	}
	if len(rt.bodies) > 0 {
		if e := s.validateBody(r, rt, body); e != nil {
			s.writeError(w, e)
			return
		}
	}
	s.mu.Lock()
	twoFactor := s.needsSecondFactor(r, rt, params, body)
	s.mu.Unlock()
	if twoFactor {
		s.writeError(w, errorf(http.StatusForbidden, "two_factor", "A second authentication factor or pre-authorization is required for this request. Your account has either two-factor or a Heroku Enterprise team requirement."))
		return
	}
	h := s.routes[rt.key]
	if h == nil {
		s.mu.Lock()
		s.violation(r, "the fake does not implement %s (%s)", rt.key, strings.Join(rt.titles, ", "))
		s.mu.Unlock()
		s.writeError(w, errorf(http.StatusNotImplemented, "not_implemented", "The test server does not implement %s.", rt.key))
		return
	}
	s.mu.Lock()
	rep, e := h(r, params, body)
	s.mu.Unlock()
	if e != nil {
		s.writeError(w, e)
		return
	}
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	writeJSON(w, rep.status, rep.body)
}

func (s *Server) validateBody(r *http.Request, rt *route, body []byte) *apiError {
	var fail string
	if len(bytes.TrimSpace(body)) == 0 {
		fail = "a JSON body is required"
	} else if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		fail = fmt.Sprintf("Content-Type %q is not application/json", ct)
	} else {
		doc, err := decodeJSON(body)
		if err != nil {
			fail = "the body is not valid JSON"
		} else {
			var first error
			for _, b := range rt.bodies {
				if err := b.Validate(doc); err == nil {
					return nil
				} else if first == nil {
					first = err
				}
			}
			fail = describe(first)
		}
	}
	s.mu.Lock()
	s.violation(r, "invalid body: %s", fail)
	s.mu.Unlock()
	return errorf(http.StatusUnprocessableEntity, "invalid_params", "Invalid params: %s.", fail)
}

// acceptedVersions are the values of the Accept header's version parameter the Platform API
// serves: plain 3, and the variants Heroku's own clients ask for (docs/heroku.md): 3.review-apps
// (the Heroku CLI's review-app config, other review-app tooling), 3.ci (the CLI's test runs and
// test nodes), 3.sdk (the CLI and the TypeScript SDK, e.g. to see an app's generation). Anything
// else, or no version at all, is answered 406 as Heroku does.
var acceptedVersions = map[string]bool{"3": true, "3.review-apps": true, "3.ci": true, "3.sdk": true}

func acceptsV3(values []string) bool {
	for _, v := range values {
		for _, mr := range strings.Split(v, ",") {
			parts := strings.Split(mr, ";")
			if strings.TrimSpace(strings.ToLower(parts[0])) != "application/vnd.heroku+json" {
				continue
			}
			for _, p := range parts[1:] {
				k, val, _ := strings.Cut(p, "=")
				if strings.TrimSpace(k) == "version" && acceptedVersions[strings.Trim(strings.TrimSpace(val), `"`)] {
					return true
				}
			}
		}
	}
	return false
}

func (s *Server) authenticate(r *http.Request) *apiError {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return errorf(http.StatusUnauthorized, "unauthorized", "There were no credentials in your `Authorization` header. Try `Authorization: Bearer <OAuth access token>` or `Authorization: Basic <base64-encoded email + \":\" + password>`.")
	}
	if tok, ok := strings.CutPrefix(auth, "Bearer "); ok && tok == s.opt.Token {
		return nil
	}
	if _, pw, ok := r.BasicAuth(); ok && pw == s.opt.Token {
		return nil
	}
	return errorf(http.StatusUnauthorized, "unauthorized", "Invalid credentials provided.")
}

// refill adds the tokens that flowed back since the last request (RefillPerSecond, up to
// RateLimit) and returns the whole tokens in the bucket. The caller holds the lock.
func (s *Server) refill() int {
	now := s.opt.Now()
	if el := now.Sub(s.refilledAt); el > 0 {
		s.tokens = math.Min(float64(s.opt.RateLimit), s.tokens+el.Seconds()*s.opt.RefillPerSecond)
	}
	s.refilledAt = now
	return int(s.tokens)
}

// takeToken spends one token of the bucket, or reports that it is empty. The caller holds the
// lock.
func (s *Server) takeToken() (remaining int, limited bool) {
	s.refill()
	if s.tokens < 1 {
		return 0, true
	}
	s.tokens--
	return int(s.tokens), false
}

// RateLimitRemaining is what GET /account/rate-limits would answer now.
func (s *Server) RateLimitRemaining() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refill()
}

func (s *Server) writeError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusTooManyRequests && s.opt.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(s.opt.RetryAfter.Seconds()))))
	}
	body := map[string]string{"id": e.id, "message": e.message}
	if e.id == "rate_limit" {
		// Heroku's own example of the answer (Platform API reference, "Error Response").
		body["url"] = "https://devcenter.heroku.com/articles/platform-api-reference#rate-limits"
	}
	writeJSON(w, e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"id":"internal_server_error","message":"the test server failed to encode its response"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Request-Id", newID())
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// decodeJSON decodes b the way the validator expects (numbers as json.Number).
func decodeJSON(b []byte) (any, error) {
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}
