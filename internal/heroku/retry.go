package heroku

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	retryBase = 500 * time.Millisecond
	retryCap  = 30 * time.Second
	// maxRetryAfter bounds a server's Retry-After: a longer wait is better spent failing with a
	// message than silently eating the job's time.
	maxRetryAfter = 2 * time.Minute
	// Below lowWater tokens requests are spaced at the bucket's refill rate, so that a busy
	// account slows down before it is refused.
	lowWater = 100
	// heroku's bucket: 4500 tokens, refilled at about 75 a minute (Dev Center, Platform API
	// reference, "Rate Limits").
	defaultRefillPerMinute = 75
	// defaultMaxBackoff caps one pause of a rate-limit wait.
	defaultMaxBackoff = time.Minute
	// waitNotice is the least time between two reports of an ongoing rate-limit wait.
	waitNotice = 30 * time.Second
	// noDeadlineWait bounds a rate-limit wait whose context has no deadline: an empty bucket is
	// full again within the hour.
	noDeadlineWait = time.Hour
	rateLimitsPath = "/account/rate-limits"
)

// ErrRateLimited is wrapped by the error of a request that was refused because the account's rate
// limit stayed exhausted until the wait had to end (RateLimit.Reserve).
var ErrRateLimited = errors.New("the heroku account's rate limit stayed exhausted")

// RateLimit tunes how a client lives with the account's rate limit. Heroku's limit belongs to the
// account: every job, pipeline and tool using it spends the same bucket.
type RateLimit struct {
	// RefillPerMinute is how many tokens flow back into the bucket a minute (default 75).
	RefillPerMinute float64
	// MaxBackoff caps one pause of a wait (default 1m); tests make it short.
	MaxBackoff time.Duration
	// Reserve is the time kept at the end of the context's deadline: a wait ends, and the
	// request fails, when only this much remains. Without a deadline a wait lasts at most an hour.
	Reserve time.Duration
	// OnWait, when set, hears that requests are waiting for the bucket to refill and for how long
	// the client has waited so far in all: when a wait starts, then at most every 30 s.
	OnWait func(waited time.Duration)
}

// retryTransport retries what is safe to retry:
//   - 429 rate_limit for every method: Heroku refused the request without processing it. The
//     transport waits for the account's bucket to refill (see waitForTokens) for as long as the
//     context allows less RateLimit.Reserve, however many refusals that takes;
//   - 429 without Heroku's rate_limit id (a proxy's), 500, 502, 503, 504 and connection errors for
//     idempotent requests only (GET, HEAD, OPTIONS, PUT, DELETE, PATCH of config vars, which sets
//     absolute values, and POST /sources, whose orphans are harmless); a POST that may have been
//     processed (a build, a review app) is never sent twice from here: CreateBuild and
//     CreateReviewApp look for what it made first;
//   - dial errors for every method, since the request never left.
//
// Waits grow exponentially with jitter up to retryCap, or follow Retry-After. A body is resent
// only through req.GetBody, so a consumed body is never replayed empty.
type retryTransport struct {
	next       http.RoundTripper
	maxRetries int
	sleep      func(ctx context.Context, d time.Duration) error
	now        func() time.Time
	remaining  atomic.Int64 // last RateLimit-Remaining seen; -1 unknown

	// rateLimitsURL is where the bucket is read for free (empty: not an API transport).
	rateLimitsURL string
	limit         RateLimit

	mu         sync.Mutex
	waiting    int           // requests waiting for tokens now
	since      time.Time     // when the current stretch of waiting began
	waited     time.Duration // finished stretches of waiting
	lastNotice time.Time
}

func newRetryTransport(next http.RoundTripper, maxRetries int, sleep func(context.Context, time.Duration) error, now func() time.Time) *retryTransport {
	t := &retryTransport{next: next, maxRetries: maxRetries, sleep: sleep, now: now}
	t.remaining.Store(-1)
	return t
}

func (t *retryTransport) refillPerSecond() float64 {
	if t.limit.RefillPerMinute > 0 {
		return t.limit.RefillPerMinute / 60
	}
	return defaultRefillPerMinute / 60.0
}

// refillStep is the time one token takes to flow back.
func (t *retryTransport) refillStep() time.Duration {
	return time.Duration(float64(time.Second) / t.refillPerSecond())
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if req.Method == http.MethodGet && req.URL.Path == rateLimitsPath {
		return t.next.RoundTrip(req) // free, and the wait's own probe
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	var waitStart time.Time // when this request's rate-limit wait began; zero: none
	sent := false
	for attempt, limited := 0, 0; ; attempt++ {
		r := req
		if sent {
			r = req.Clone(ctx)
			if hasBody {
				b, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				r.Body = b
			}
		}
		if rem := t.remaining.Load(); rem >= 0 && rem < lowWater {
			if err := t.sleep(ctx, t.refillStep()); err != nil {
				return nil, err
			}
		}
		resp, err := t.next.RoundTrip(r)
		sent = true
		if resp != nil {
			if v, perr := strconv.ParseInt(resp.Header.Get("RateLimit-Remaining"), 10, 64); perr == nil {
				t.remaining.Store(v)
			}
		}
		if t.rateLimitsURL != "" && isRateLimit(resp) && (!hasBody || req.GetBody != nil) {
			if waitStart.IsZero() {
				waitStart = t.now()
			}
			wait := t.backoff(0, resp) // Retry-After, if a server sends one
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if err := t.waitForTokens(ctx, r, limited, wait, waitStart); err != nil {
				return nil, err
			}
			limited++
			attempt = -1 // a refusal is no failure: it does not count against maxRetries
			continue
		}
		if attempt >= t.maxRetries || !retryable(req, resp, err) || (hasBody && req.GetBody == nil) {
			return resp, err
		}
		wait := t.backoff(attempt, resp)
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// isRateLimit reports whether resp is Heroku's own refusal for an empty bucket: 429 with the id
// rate_limit. Only that answer says the request was not processed; a proxy's 429 says nothing of
// the kind. The body is read and put back for the caller.
func isRateLimit(resp *http.Response) bool {
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		return false
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var e struct{ ID string }
	return json.Unmarshal(body, &e) == nil && e.ID == "rate_limit"
}

// waitForTokens pauses a request Heroku refused with rate_limit until the account's bucket holds a
// token again: it sleeps (full jitter, growing up to MaxBackoff, never less than first nor than
// the time the missing token takes to flow back) and reads GET /account/rate-limits, which costs
// no token, until that says a token is there. It gives up, wrapping ErrRateLimited, when the
// context's deadline less the reserve has come.
func (t *retryTransport) waitForTokens(ctx context.Context, r *http.Request, n int, first time.Duration, start time.Time) error {
	t.startWaiting()
	defer t.stopWaiting()
	limit, reserve := t.waitLimit(ctx, start)
	remaining := max(t.remaining.Load(), 0)
	for ; ; n++ {
		wait := max(first, t.jitter(n), t.tokenTime(remaining))
		first = 0
		now := t.now()
		if !now.Before(limit) {
			return fmt.Errorf("%w for %s of waiting, until only the reserve of %s was left of the run's time; other jobs or tools are spending this account's tokens (4500, refilled at about 75 a minute): run fewer deploys at once or give them more time",
				ErrRateLimited, now.Sub(start).Round(time.Second), reserve)
		}
		if now.Add(wait).After(limit) {
			wait = limit.Sub(now)
		}
		if err := t.sleep(ctx, wait); err != nil {
			return err
		}
		t.notice()
		rem, ok := t.readRemaining(ctx, r)
		if !ok || rem >= 1 {
			return nil // a token is back, or the bucket could not be read: try the request again
		}
		remaining = rem
	}
}

// waitLimit is when a wait that started at start must end, and the reserve it keeps.
func (t *retryTransport) waitLimit(ctx context.Context, start time.Time) (time.Time, time.Duration) {
	dl, ok := ctx.Deadline()
	if !ok {
		return start.Add(noDeadlineWait), 0
	}
	// The deadline is on the wall clock; the injected clock may differ: keep the distance.
	left := time.Until(dl)
	return t.now().Add(left - t.limit.Reserve), t.limit.Reserve
}

// jitter is the n-th pause of a wait: uniformly random up to an exponentially growing cap (full
// jitter), so that the many jobs of one account refused together do not return together.
func (t *retryTransport) jitter(n int) time.Duration {
	ceiling := t.limit.MaxBackoff
	if ceiling <= 0 {
		ceiling = defaultMaxBackoff
	}
	d := min(retryBase, ceiling)
	for ; n > 0 && d < ceiling; n-- {
		d *= 2
	}
	d = min(d, ceiling)
	return rand.N(d + 1)
}

// tokenTime is how long the bucket takes to hold one token when it holds remaining.
func (t *retryTransport) tokenTime(remaining int64) time.Duration {
	if remaining >= 1 {
		return 0
	}
	return t.refillStep()
}

// readRemaining asks Heroku how many tokens the account has left. The request is free; a failure
// only means the caller retries its request without knowing.
func (t *retryTransport) readRemaining(ctx context.Context, r *http.Request) (int64, bool) {
	q, err := http.NewRequestWithContext(ctx, http.MethodGet, t.rateLimitsURL, nil)
	if err != nil {
		return 0, false
	}
	for _, h := range []string{"Accept", "Authorization", "User-Agent"} {
		if v := r.Header.Get(h); v != "" {
			q.Header.Set(h, v)
		}
	}
	resp, err := t.next.RoundTrip(q)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var body struct{ Remaining *int64 }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body) != nil || body.Remaining == nil {
		return 0, false
	}
	t.remaining.Store(*body.Remaining)
	return *body.Remaining, true
}

func (t *retryTransport) startWaiting() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.waiting == 0 {
		t.since = t.now()
	}
	t.waiting++
	if t.lastNotice.IsZero() && t.limit.OnWait != nil {
		t.lastNotice = t.now()
		t.limit.OnWait(t.waitedLocked())
	}
}

func (t *retryTransport) stopWaiting() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.waiting--
	if t.waiting == 0 {
		t.waited += t.now().Sub(t.since)
	}
}

// notice reports an ongoing wait, at most every waitNotice.
func (t *retryTransport) notice() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.limit.OnWait != nil && t.now().Sub(t.lastNotice) >= waitNotice {
		t.lastNotice = t.now()
		t.limit.OnWait(t.waitedLocked())
	}
}

// Waited is how long requests have waited for the account's bucket so far (stretches during which
// several waited at once count once).
func (t *retryTransport) Waited() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.waitedLocked()
}

func (t *retryTransport) waitedLocked() time.Duration {
	w := t.waited
	if t.waiting > 0 {
		w += t.now().Sub(t.since)
	}
	return w
}

func retryable(req *http.Request, resp *http.Response, err error) bool {
	if err != nil {
		if req.Context().Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return false
		}
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return true
		}
		return idempotent(req)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		// Heroku's own rate_limit answer is waited out above; any other 429 (a proxy's) may have
		// been processed.
		return idempotent(req)
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return idempotent(req)
	}
	return false
}

func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	case http.MethodPatch:
		// Config vars and, on /apps/{app}, the maintenance flag (the only app field the action
		// changes: SetMaintenance) are set to a value: sending the same again changes nothing.
		return strings.HasSuffix(req.URL.Path, "/config-vars") || isAppPath(req.URL.Path)
	case http.MethodPost:
		// A source is only a place to upload to: one made by a request whose answer was lost is
		// never used, and costs nothing.
		return req.URL.Path == "/sources"
	}
	return false
}

// isAppPath reports whether path is /apps/{app} itself (with any base path before it).
func isAppPath(path string) bool {
	i := strings.LastIndex(path, "/apps/")
	return i >= 0 && len(path) > i+len("/apps/") && !strings.Contains(path[i+len("/apps/"):], "/")
}

func (t *retryTransport) backoff(attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), t.now()); ok {
			return min(d, maxRetryAfter)
		}
	}
	d := retryBase << attempt
	if d <= 0 || d > retryCap {
		d = retryCap
	}
	// Half fixed, half random: many runners retrying together spread out, and none retries at once.
	return d/2 + rand.N(d/2+1)
}

func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}
