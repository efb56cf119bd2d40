package heroku

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeClock is a clock that only sleeps move.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func rateLimited(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("RateLimit-Remaining", "0")
	apiErr(http.StatusTooManyRequests, "rate_limit", "Your account reached the API rate limit\nPlease wait a few minutes before making new requests")(w, r)
}

func remaining(n int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			http.Error(w, `{"id":"unauthorized","message":"no token"}`, http.StatusUnauthorized)
			return
		}
		ok(map[string]int{"remaining": n})(w, r)
	}
}

func newClockClient(t *testing.T, f *fakeAPI, clock *fakeClock, rl RateLimit) *Client {
	t.Helper()
	return New(Options{
		BaseURL: f.srv.URL, Token: testToken, HTTPClient: f.srv.Client(),
		PollInterval: 10 * time.Millisecond, Sleep: clock.Sleep, Now: clock.Now, RateLimit: rl,
	})
}

// TestRateLimitWaits: Heroku's rate_limit refusal makes the client wait, reading the free
// GET /account/rate-limits, until a token is back, however many refusals that takes, and then send
// the request again; the wait is reported when it starts.
func TestRateLimitWaits(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	build := reply(201, map[string]string{"id": "b1", "status": "pending"})
	f.on("POST /apps/pforge/builds", rateLimited, rateLimited, rateLimited, rateLimited, rateLimited, rateLimited, rateLimited, build)
	// Seven refusals (more than MaxRetries), each followed by reads until a token is there.
	var reads []http.HandlerFunc
	for range 7 {
		reads = append(reads, remaining(0), remaining(1))
	}
	f.on("GET /account/rate-limits", reads...)
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var notices []time.Duration
	c := newClockClient(t, f, clock, RateLimit{OnWait: func(w time.Duration) { notices = append(notices, w) }})
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b, err := c.CreateBuild(ctx, "pforge", BuildCreate{SourceURL: "https://s/x"})
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != "b1" {
		t.Errorf("build %+v", b)
	}
	if len(notices) == 0 || notices[0] != 0 {
		t.Errorf("notices %v: want one when the wait starts", notices)
	}
	// Every pause waits at least for one token to flow back (75 a minute).
	if w := c.RateLimitWaited(); w < 14*(time.Minute/75) {
		t.Errorf("waited %s for 14 empty reads", w)
	}
}

// TestRateLimitGivesUp: the wait ends when only the reserve is left of the context's time; the error
// says why and is not taken for an ambiguous failure (no build list is read, nothing sent again).
func TestRateLimitGivesUp(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.on("POST /apps/pforge/builds", rateLimited)
	var mu sync.Mutex
	n := 0
	f.always["GET /account/rate-limits"] = func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		remaining(0)(w, r)
	}
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var notices []time.Time
	c := newClockClient(t, f, clock, RateLimit{Reserve: 2 * time.Minute, MaxBackoff: 10 * time.Second, OnWait: func(time.Duration) {
		notices = append(notices, clock.Now())
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err := c.CreateBuild(ctx, "pforge", BuildCreate{SourceURL: "https://s/x"})
	if !errors.Is(err, ErrRateLimited) {
		t.Fatalf("error %v, want ErrRateLimited", err)
	}
	for _, want := range []string{"reserve of 2m0s", "starting a build on app \"pforge\"", "rate limit"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// It waited about the 3 minutes the reserve leaves, by the injected clock.
	if w := c.RateLimitWaited(); w < 2*time.Minute+50*time.Second || w > 3*time.Minute+time.Second {
		t.Errorf("waited %s, want about 3m", w)
	}
	// Reported at most every 30 s, and more than once in 3 minutes.
	if len(notices) < 3 {
		t.Errorf("%d notices in 3 minutes of waiting", len(notices))
	}
	for i := 1; i < len(notices); i++ {
		if d := notices[i].Sub(notices[i-1]); d < 30*time.Second {
			t.Errorf("notices %d and %d are %s apart", i-1, i, d)
		}
	}
	if n == 0 {
		t.Error("the client never read GET /account/rate-limits")
	}
}

// TestProxy429IsAmbiguous: a 429 without Heroku's rate_limit id (a proxy's) may hide a processed
// POST: the build is looked for and adopted, not requested again.
func TestProxy429IsAmbiguous(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.on("POST /apps/pforge/builds", apiErr(http.StatusTooManyRequests, "", "Too Many Requests"))
	f.on("GET /apps/pforge/builds", reply(200, []map[string]any{{
		"id": "b7", "status": "pending", "source_blob": map[string]any{"url": "https://s/x", "version": "abc"},
		// Made by the request the proxy answered: after it was sent, by any clock.
		"created_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	}}))
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := newClockClient(t, f, clock, RateLimit{})
	b, err := c.CreateBuild(context.Background(), "pforge", BuildCreate{SourceURL: "https://s/x", Version: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("b7", b.ID); diff != "" {
		t.Errorf("adopted build (-want +got):\n%s", diff)
	}
	if w := c.RateLimitWaited(); w != 0 {
		t.Errorf("waited %s for a proxy's 429", w)
	}
}
