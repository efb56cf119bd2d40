package heroku

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

const (
	retryBase = 500 * time.Millisecond
	retryCap  = 30 * time.Second
	// maxRetryAfter bounds a server's Retry-After: a longer wait is better spent failing with a
	// message than silently eating the job's time.
	maxRetryAfter = 2 * time.Minute
	// Heroku's rate limit is a token bucket of 4500 refilled at 4500/hour. Below lowWater tokens
	// requests are spaced at the refill rate, so a busy account slows down instead of hitting 429.
	lowWater   = 100
	refillStep = time.Hour / 4500
)

// retryTransport retries what is safe to retry:
//   - 429 for every method: Heroku rejected the request without processing it;
//   - 500, 502, 503, 504 and connection errors for idempotent requests only (GET, HEAD, OPTIONS,
//     PUT, DELETE, PATCH of config vars, which sets absolute values, and POST /sources, whose
//     orphans are harmless); a POST that may have been processed (a build, a review app) is never
//     sent twice from here: CreateBuild and CreateReviewApp look for what it made first;
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
}

func newRetryTransport(next http.RoundTripper, maxRetries int, sleep func(context.Context, time.Duration) error, now func() time.Time) *retryTransport {
	t := &retryTransport{next: next, maxRetries: maxRetries, sleep: sleep, now: now}
	t.remaining.Store(-1)
	return t
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	hasBody := req.Body != nil && req.Body != http.NoBody
	for attempt := 0; ; attempt++ {
		r := req
		if attempt > 0 {
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
			if err := t.sleep(ctx, refillStep); err != nil {
				return nil, err
			}
		}
		resp, err := t.next.RoundTrip(r)
		if resp != nil {
			if v, perr := strconv.ParseInt(resp.Header.Get("RateLimit-Remaining"), 10, 64); perr == nil {
				t.remaining.Store(v)
			}
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
		return true
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
		return strings.HasSuffix(req.URL.Path, "/config-vars")
	case http.MethodPost:
		// A source is only a place to upload to: one made by a request whose answer was lost is
		// never used, and costs nothing.
		return req.URL.Path == "/sources"
	}
	return false
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
