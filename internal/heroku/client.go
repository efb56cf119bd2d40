// Package heroku is the room that talks to the Heroku Platform API: pipelines and their couplings,
// source upload, builds, releases, review apps, app setups, promotions, rollbacks, domains and output streams.
//
// It wraps github.com/heroku/heroku-go/v5 (its Service builds requests and its types decode
// responses) but puts its own transports underneath, because heroku-go on its own:
//   - reads list responses only up to the first page (Heroku pages with Range / Next-Range);
//   - hides response headers (Next-Range, RateLimit-Remaining);
//   - resends consumed request bodies from its retry transport;
//   - can dump request bodies, config vars included, from Transport.Debug, and logs warnings through
//     the process-wide logger.
//
// A staging deployment, for example:
//
//	c := heroku.New(heroku.Options{BaseURL: cfg.HerokuAPIURL, Token: cfg.HerokuAPIKey})
//	pl, err := c.Pipeline(ctx, cfg.Pipeline)
//	app, err := c.AppAtStage(ctx, pl.ID, "staging") // errors.Is(err, heroku.ErrNoApp)
//	src, err := c.UploadSource(ctx, archiveFile, archive.Size)
//	err = c.UpdateConfigVars(ctx, app.ID, changes) // only the changed vars; nil unsets
//	b, err := c.CreateBuild(ctx, app.ID, heroku.BuildCreate{SourceURL: src.GetURL, Checksum: archive.SHA256, Version: commit})
//	b, err = c.WaitBuild(ctx, app.ID, b.ID, log) // *heroku.FailedError when the build failed
//	r, err := c.WaitRelease(ctx, app.ID, b.ReleaseID, log) // the release phase can still fail
//
// Errors: a non-2xx answer is an *APIError (Heroku's id and message, the method and path); a
// build, release, review app or promotion that ended badly is a *FailedError; ErrNoApp and
// ErrNoRelease are sentinels for errors.Is.
//
// Every wait polls with Options.PollInterval through the injectable Options.Sleep and honours its
// context. Nothing here prints a config var value or the API token, not even inside an error, and
// signed upload and stream URLs appear in errors without their query.
package heroku

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	heroku "github.com/heroku/heroku-go/v5"
)

// DefaultBaseURL is the public Platform API.
const DefaultBaseURL = heroku.DefaultURL

// maxPageSize is the largest page a list may ask for: Heroku serves 200 items by default and up to
// 1000 when the Range header's max asks (Dev Center, Platform API Reference, "Ranges"). Asking for
// the most saves round trips on pipelines with many review apps.
const maxPageSize = 1000

// Options configure a Client. Only Token is required.
type Options struct {
	BaseURL    string       // default https://api.heroku.com
	Token      string       // API key or OAuth token, sent as a bearer token to BaseURL's host only
	HTTPClient *http.Client // its Transport (default http.DefaultTransport) and Timeout are used
	UserAgent  string       // default "deploy-action"

	// PollInterval is how long a wait sleeps between two status checks (default 1s; tests use
	// ~10ms). A wait that streams output checks as soon as the stream ends instead.
	PollInterval time.Duration

	// MaxRetries bounds the retries of one request (default 5; negative: none). See retry.go for
	// which requests are retried.
	MaxRetries int

	// Sleep waits d or until ctx is done (default: a timer). Tests replace it to run backoffs and
	// polls instantly and to record them.
	Sleep func(ctx context.Context, d time.Duration) error

	// Now is the clock used to read Retry-After dates and to time rate-limit waits (default
	// time.Now).
	Now func() time.Time

	// RateLimit says how to wait when the account's rate limit is exhausted (retry.go).
	RateLimit RateLimit
}

// Client performs the Platform API steps of a deployment. It is safe for concurrent use.
type Client struct {
	svc   *heroku.Service
	api   *http.Client // authenticated, maps non-2xx responses to *APIError, retries
	raw   *http.Client // no credentials: stream URLs and the source upload URL, retries
	poll  time.Duration
	sleep func(ctx context.Context, d time.Duration) error
	retry *retryTransport // the API's: it knows how long requests waited for the rate limit

	// Round trips are most of what the action adds to Heroku's own build and release time
	// (docs/performance.md), so a client remembers two answers for the rest of its run.
	mu sync.Mutex
	// couplings is the last coupling list read, reused by AppAtStage (a prod run looks up the
	// production and the staging app one after the other). Every write this client makes drops it,
	// since creating a review app or an app setup, or deleting an app, changes the couplings.
	couplings *couplingList
	// builds holds the builds CreateBuild started, so that WaitBuild follows the output stream
	// the creation answer named instead of reading the build again first.
	builds map[string]Build
	// clock is the API server's clock as its Date headers tell it (see serverClock).
	clock *serverClock
}

type couplingList struct {
	pipelineID string
	raw        []heroku.PipelineCoupling
}

// New returns a Client for o.
func New(o Options) *Client {
	base := strings.TrimRight(o.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	sleep := o.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	retries := o.MaxRetries
	switch {
	case retries == 0:
		retries = 5
	case retries < 0:
		retries = 0
	}
	poll := o.PollInterval
	if poll <= 0 {
		poll = time.Second
	}
	ua := o.UserAgent
	if ua == "" {
		ua = "deploy-action"
	}
	host, prefix := "", ""
	if u, err := url.Parse(base); err == nil {
		host, prefix = u.Host, u.Path
	}
	clock := &serverClock{now: now}
	retry := newRetryTransport(next, retries, sleep, now)
	retry.rateLimitsURL = base + rateLimitsPath
	retry.limit = o.RateLimit
	api := &http.Client{
		Transport:     &apiTransport{next: retry, token: o.Token, host: host, prefix: prefix, userAgent: ua, clock: clock},
		Timeout:       hc.Timeout,
		CheckRedirect: hc.CheckRedirect,
	}
	svc := heroku.NewService(api)
	svc.URL = base
	return &Client{
		svc: svc,
		api: api,
		// No Timeout: an output stream lasts as long as the build; the context bounds it.
		// Its own retry transport: the API's rate limit does not apply to stream and upload hosts.
		raw:   &http.Client{Transport: &userAgentTransport{next: newRetryTransport(next, retries, sleep, now), userAgent: ua}},
		poll:  poll,
		sleep: sleep,
		clock: clock,
		retry: retry,
	}
}

// RateLimitWaited is how long this client's requests have waited so far for the account's rate
// limit (Heroku refused them with rate_limit): zero when it never ran out.
func (c *Client) RateLimitWaited() time.Duration { return c.retry.Waited() }

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// apiTransport does what heroku.Transport does, minus its debug dump and its process-wide logging,
// plus two things it lacks: the error keeps the request's method and path, and the token is only
// ever sent to the API's own host (a redirect elsewhere must not carry it).
type apiTransport struct {
	next      http.RoundTripper
	token     string
	host      string
	prefix    string // the base URL's path, before the API's own paths
	userAgent string
	clock     *serverClock
}

// ErrEmptyIdentity is the error of a request whose path would name an app, build or other
// resource by an empty identity: "DELETE /apps/" is not "delete that app", and Heroku's 404 for
// it must never be read as "already gone".
var ErrEmptyIdentity = errors.New("a resource identity in the request path is empty")

// checkPath refuses a path built from an empty identity: p leaves "//" or a trailing "/" where
// one was empty.
func checkPath(method, escapedPath string) error {
	if strings.Contains(escapedPath, "//") || (len(escapedPath) > 1 && strings.HasSuffix(escapedPath, "/")) {
		return fmt.Errorf("heroku: refusing to send %s %s: %w (a deploy-action bug: please report it)", method, escapedPath, ErrEmptyIdentity)
	}
	return nil
}

func (t *apiTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkPath(req.Method, req.URL.EscapedPath()); err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Accept", acceptFor(strings.TrimPrefix(r.URL.Path, t.prefix)))
	r.Header.Set("User-Agent", t.userAgent)
	r.Header.Del("Authorization")
	if t.token != "" && r.URL.Host == t.host {
		r.Header.Set("Authorization", "Bearer "+t.token)
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	t.clock.observe(resp.Header.Get("Date"))
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, newAPIError(resp, req.Method, req.URL.Path)
}

// acceptFor is the Accept header of a request to path. Heroku serves variants of version 3, and
// its own clients ask for one on some endpoints (docs/heroku.md): the Heroku CLI sends
// 3.review-apps for the review-app config and 3.ci for test runs and their nodes. The action asks
// what they ask, so that it reads what they read; every other endpoint gets plain version 3, as
// heroku-go sends.
func acceptFor(path string) string {
	const v3 = "application/vnd.heroku+json; version=3"
	switch {
	case strings.HasPrefix(path, "/review-apps"),
		strings.HasPrefix(path, "/pipelines/") && (strings.HasSuffix(path, "/review-app-config") || strings.HasSuffix(path, "/review-apps")):
		return v3 + ".review-apps"
	case strings.HasPrefix(path, "/test-runs"):
		return v3 + ".ci"
	case strings.HasPrefix(path, "/apps/") && strings.Contains(path, "/oci-images/"):
		// The Heroku CLI reads a Fir release's OCI image with the SDK variant (pipelines:diff).
		return v3 + ".sdk"
	}
	return v3
}

// serverClock estimates the API server's clock from the Date header of its answers, for what
// must be judged by the server's clock rather than the runner's (which may be off by minutes):
// whether a resource the server stamped was created after a request was sent.
//
// The offset is the server's Date minus the local time the answer arrived. Date is truncated to
// the second and stamped before the answer travels, so local time plus the offset never runs
// ahead of the server's clock: "created at or after the estimate, to the second" holds for
// everything the server made after the estimate was taken.
type serverClock struct {
	now    func() time.Time
	mu     sync.Mutex
	offset time.Duration
	known  bool
}

func (c *serverClock) observe(date string) {
	if date == "" {
		return
	}
	at, err := http.ParseTime(date)
	if err != nil {
		return
	}
	local := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	// Every offset seen is at most the true one; the largest is the least delayed answer's,
	// the tightest estimate. Clocks drift little within a run.
	if off := at.Sub(local); !c.known || off > c.offset {
		c.offset, c.known = off, true
	}
}

// Local is the local clock, for a moment to be converted with At later.
func (c *serverClock) Local() time.Time { return c.now() }

// At is the server's time at local moment t as far as its answers tell (any answer: the offset
// holds before and after it was seen), never ahead of it; with no answer seen yet, t itself.
func (c *serverClock) At(t time.Time) time.Time {
	c.mu.Lock()
	off := c.offset
	c.mu.Unlock()
	return t.Add(off)
}

type userAgentTransport struct {
	next      http.RoundTripper
	userAgent string
}

func (t *userAgentTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("User-Agent", t.userAgent)
	return t.next.RoundTrip(r)
}

// clean turns an error from the API client into the error callers see: the *APIError itself when
// there is one (rather than url.Error's "Get \"https://...\": ..." around it).
func clean(err error) error {
	if err == nil {
		return nil
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("heroku: %s %s: %w", strings.ToUpper(ue.Op), redactURL(ue.URL), ue.Err)
	}
	return err
}

// redactURL drops the query and user info: signed upload and stream URLs carry their credentials
// there.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

func (c *Client) get(ctx context.Context, v any, path string) error {
	return clean(c.svc.Get(ctx, v, path, nil, nil))
}

func (c *Client) post(ctx context.Context, v any, path string, body any) error {
	c.forgetCouplings()
	return clean(c.svc.Post(ctx, v, path, body))
}

func (c *Client) patch(ctx context.Context, v any, path string, body any) error {
	c.forgetCouplings()
	return clean(c.svc.Patch(ctx, v, path, body))
}

func (c *Client) del(ctx context.Context, path string) error {
	c.forgetCouplings()
	return clean(c.svc.Delete(ctx, nil, path))
}

func (c *Client) forgetCouplings() {
	c.mu.Lock()
	c.couplings = nil
	c.mu.Unlock()
}

// p joins path segments, escaping each: names and IDs come from user input.
func p(parts ...string) string {
	var b strings.Builder
	for i, s := range parts {
		if i%2 == 1 {
			s = url.PathEscape(s)
		}
		b.WriteString(s)
	}
	return b.String()
}

// list reads every page of a list endpoint, following Next-Range, until the server stops
// paging or stop (if non-nil) says the items so far are enough.
func list[T any](ctx context.Context, c *Client, path, rng string, stop func([]T) bool) ([]T, error) {
	var all []T
	seen := map[string]bool{}
	for {
		if seen[rng] {
			return nil, fmt.Errorf("heroku: GET %s: the server sent the same Next-Range %q twice; stopping rather than looping", path, rng)
		}
		seen[rng] = true
		req, err := c.svc.NewRequest(ctx, http.MethodGet, path, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("heroku: building GET %s: %w", path, err)
		}
		req.Header.Set("Range", rng)
		resp, err := c.api.Do(req)
		if err != nil {
			return nil, clean(err)
		}
		var page []T
		err = json.NewDecoder(resp.Body).Decode(&page)
		next := resp.Header.Get("Next-Range")
		status := resp.StatusCode
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("heroku: decoding GET %s: %w", path, err)
		}
		all = append(all, page...)
		if status != http.StatusPartialContent || next == "" || (stop != nil && stop(all)) {
			return all, nil
		}
		rng = next
	}
}

func idRange() string { return fmt.Sprintf("id ..; max=%d", maxPageSize) }

// firstPoll is the first pause of a wait. Pauses then double up to PollInterval: most waits that
// poll at all (a promotion, a review app before its build starts) end within a few seconds, and a
// fixed 1s interval added half a second on average to each; the doubling keeps a long wait at one
// request per PollInterval, far inside Heroku's rate limit.
const firstPoll = 100 * time.Millisecond

// pollDelay is the pause before check number n+1 of a wait (n from 0).
func (c *Client) pollDelay(n int) time.Duration {
	d := min(firstPoll, c.poll)
	for ; n > 0 && d < c.poll; n-- {
		d *= 2
	}
	return min(d, c.poll)
}

// wait calls check until it reports done or fails, pausing as pollDelay says between calls.
func (c *Client) wait(ctx context.Context, check func() (bool, error)) error {
	for n := 0; ; n++ {
		done, err := check()
		if err != nil || done {
			return err
		}
		if err := c.sleep(ctx, c.pollDelay(n)); err != nil {
			return err
		}
	}
}
