package heroku

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		call    func(*Client) error
		want    APIError
		wantMsg string
	}{
		{
			name:    "heroku error body",
			handler: apiErr(http.StatusForbidden, "forbidden", "You do not have access to the app pforge."),
			call:    func(c *Client) error { _, err := c.App(context.Background(), "pforge"); return err },
			want:    APIError{Status: 403, ID: "forbidden", Message: "You do not have access to the app pforge.", Method: "GET", Path: "/apps/pforge"},
			wantMsg: `looking up app "pforge": heroku: You do not have access to the app pforge. (forbidden, HTTP 403) on GET /apps/pforge`,
		},
		{
			name: "not json",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
				io.WriteString(w, "<html>bad gateway</html>")
			},
			call: func(c *Client) error {
				_, err := c.Rollback(context.Background(), "pforge", "r1")
				return err
			},
			want:    APIError{Status: 502, Message: "bad gateway", Method: "POST", Path: "/apps/pforge/releases"},
			wantMsg: `rolling app "pforge" back to release r1: heroku: bad gateway (HTTP 502) on POST /apps/pforge/releases`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			key := tt.want.Method + " " + tt.want.Path
			f.on(key, tt.handler)
			c, _ := newTestClient(t, f)
			err := tt.call(c)
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *APIError", err)
			}
			if diff := cmp.Diff(tt.want, *ae); diff != "" {
				t.Errorf("APIError (-want +got):\n%s", diff)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("message\n got %s\nwant %s", err, tt.wantMsg)
			}
		})
	}
}

func TestRequestHeaders(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	var hdr http.Header
	f.on("GET /apps/pforge", capture(nil, &hdr, ok(map[string]any{"id": "a1", "name": "pforge", "web_url": "https://pforge-1a2b.herokuapp.com/"})))
	c, _ := newTestClient(t, f)
	app, err := c.App(context.Background(), "pforge")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(App{ID: "a1", Name: "pforge", WebURL: "https://pforge-1a2b.herokuapp.com/"}, app); diff != "" {
		t.Errorf("App (-want +got):\n%s", diff)
	}
	want := map[string]string{
		"Accept":        "application/vnd.heroku+json; version=3",
		"Authorization": "Bearer " + testToken,
		"User-Agent":    "deploy-action",
	}
	for k, v := range want {
		if got := hdr.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

func TestPagingFollowsNextRange(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	var ranges []string
	page := func(next string, ids ...int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			ranges = append(ranges, r.Header.Get("Range"))
			var items []map[string]any
			for _, n := range ids {
				items = append(items, map[string]any{"id": fmt.Sprintf("ra%d", n), "pr_number": n, "status": "created", "branch": fmt.Sprintf("b%d", n), "app": map[string]any{"id": fmt.Sprintf("app%d", n)}})
			}
			status := http.StatusOK
			if next != "" {
				w.Header().Set("Next-Range", next)
				status = http.StatusPartialContent
			}
			reply(status, items)(w, r)
		}
	}
	f.on("GET /pipelines/pl/review-apps",
		page("id ]ra2..; max=200", 1, 2),
		page("id ]ra4..; max=200", 3, 4),
		page("", 5),
	)
	c, _ := newTestClient(t, f)
	apps, err := c.ReviewApps(context.Background(), "pl")
	if err != nil {
		t.Fatal(err)
	}
	var prs []int
	for _, a := range apps {
		prs = append(prs, a.PRNumber)
	}
	if diff := cmp.Diff([]int{1, 2, 3, 4, 5}, prs); diff != "" {
		t.Errorf("PR numbers across pages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"id ..; max=1000", "id ]ra2..; max=200", "id ]ra4..; max=200"}, ranges); diff != "" {
		t.Errorf("Range headers (-want +got):\n%s", diff)
	}
	if apps[4].AppID != "app5" || apps[4].Branch != "b5" {
		t.Errorf("last review app = %+v", apps[4])
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	// dropConn closes the connection without an answer, as a reset would.
	dropConn := func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) }
	value := "s3cr3t-value"
	tests := []struct {
		name      string
		key       string
		handlers  []http.HandlerFunc
		call      func(*Client) error
		wantErr   string // "" for success
		wantCalls int
		wantSleep []time.Duration // exact when set
		// rateLimits answer GET /account/rate-limits, which a rate_limit refusal makes the client read
		rateLimits []http.HandlerFunc
	}{
		{
			name: "429 on config vars patch honours Retry-After and replays the body",
			key:  "PATCH /apps/pforge/config-vars",
			handlers: []http.HandlerFunc{
				func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Retry-After", "3")
					apiErr(http.StatusTooManyRequests, "rate_limit", "Your account reached the API rate limit")(w, r)
				},
				ok(map[string]string{"A": value}),
			},
			call: func(c *Client) error {
				return c.UpdateConfigVars(context.Background(), "pforge", map[string]*string{"A": &value, "OLD": nil})
			},
			rateLimits: []http.HandlerFunc{ok(map[string]int{"remaining": 4000})},
			wantCalls:  2,
			wantSleep:  []time.Duration{3 * time.Second},
		},
		{
			name:      "503 on GET is retried",
			key:       "GET /apps/pforge",
			handlers:  []http.HandlerFunc{apiErr(503, "unavailable", "down"), apiErr(503, "unavailable", "down"), ok(map[string]string{"id": "a1", "name": "pforge"})},
			call:      func(c *Client) error { _, err := c.App(context.Background(), "pforge"); return err },
			wantCalls: 3,
		},
		{
			name:      "connection reset on GET is retried",
			key:       "GET /apps/pforge",
			handlers:  []http.HandlerFunc{dropConn, ok(map[string]string{"id": "a1", "name": "pforge"})},
			call:      func(c *Client) error { _, err := c.App(context.Background(), "pforge"); return err },
			wantCalls: 2,
		},
		{
			// A build POST after a 5xx is not resent blindly either: see TestCreateBuildAfterAmbiguousFailure.
			name:     "500 on a rollback POST is not retried",
			key:      "POST /apps/pforge/releases",
			handlers: []http.HandlerFunc{apiErr(500, "internal_server_error", "Internal server error.")},
			call: func(c *Client) error {
				_, err := c.Rollback(context.Background(), "pforge", "r1")
				return err
			},
			wantErr:   `rolling app "pforge" back to release r1: heroku: Internal server error. (internal_server_error, HTTP 500) on POST /apps/pforge/releases`,
			wantCalls: 1,
		},
		{
			name:     "429 on build POST is retried: heroku did not process it",
			key:      "POST /apps/pforge/builds",
			handlers: []http.HandlerFunc{apiErr(429, "rate_limit", "slow down"), reply(201, map[string]string{"id": "b1", "status": "pending"})},
			call: func(c *Client) error {
				_, err := c.CreateBuild(context.Background(), "pforge", BuildCreate{SourceURL: "https://s/x"})
				return err
			},
			rateLimits: []http.HandlerFunc{ok(map[string]int{"remaining": 1})},
			wantCalls:  2,
		},
		{
			name:      "a proxy's 429 on GET is retried like a 503, without reading the rate limit",
			key:       "GET /apps/pforge",
			handlers:  []http.HandlerFunc{apiErr(429, "", "Too Many Requests"), ok(map[string]string{"id": "a1", "name": "pforge"})},
			call:      func(c *Client) error { _, err := c.App(context.Background(), "pforge"); return err },
			wantCalls: 2,
		},
		{
			name: "gives up after MaxRetries",
			key:  "GET /apps/pforge",
			handlers: []http.HandlerFunc{
				apiErr(503, "unavailable", "down"), apiErr(503, "unavailable", "down"), apiErr(503, "unavailable", "down"),
				apiErr(503, "unavailable", "down"), apiErr(503, "unavailable", "down"), apiErr(503, "unavailable", "down"),
			},
			call:      func(c *Client) error { _, err := c.App(context.Background(), "pforge"); return err },
			wantErr:   `looking up app "pforge": heroku: down (unavailable, HTTP 503) on GET /apps/pforge`,
			wantCalls: 6,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			var bodies []string
			calls := 0
			var mu sync.Mutex // each request is served on a goroutine of its own
			for _, h := range tt.handlers {
				f.on(tt.key, func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					mu.Lock()
					bodies = append(bodies, string(b))
					calls++
					mu.Unlock()
					h(w, r)
				})
			}
			f.on("GET /account/rate-limits", tt.rateLimits...)
			c, s := newTestClient(t, f)
			err := tt.call(c)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Fatalf("error\n got %v\nwant %s", err, tt.wantErr)
			}
			if calls != tt.wantCalls {
				t.Errorf("server saw %d requests, want %d", calls, tt.wantCalls)
			}
			for i, b := range bodies[1:] {
				if b != bodies[0] {
					t.Errorf("retry %d sent body %q, first attempt sent %q", i+1, b, bodies[0])
				}
			}
			if tt.wantSleep != nil {
				if diff := cmp.Diff(tt.wantSleep, s.all()); diff != "" {
					t.Errorf("sleeps (-want +got):\n%s", diff)
				}
			}
			if err != nil && strings.Contains(err.Error(), value) {
				t.Errorf("error %q shows a config var value", err)
			}
		})
	}
}

func TestRetryBodyOnConfigVars(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	var first, second []byte
	f.on("PATCH /apps/pforge/config-vars",
		capture(&first, nil, apiErr(503, "unavailable", "down")),
		capture(&second, nil, ok(map[string]string{})),
	)
	c, _ := newTestClient(t, f)
	v := "x"
	if err := c.UpdateConfigVars(context.Background(), "pforge", map[string]*string{"A": &v, "GONE": nil}); err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, first, `{"A":"x","GONE":null}`)
	jsonEqual(t, second, `{"A":"x","GONE":null}`)
}

func TestRateLimitSlowsDown(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	low := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("RateLimit-Remaining", "12")
		ok(map[string]string{"id": "a1", "name": "pforge"})(w, r)
	}
	f.on("GET /apps/pforge", low, low)
	c, s := newTestClient(t, f)
	for range 2 {
		if _, err := c.App(context.Background(), "pforge"); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]time.Duration{time.Minute / 75}, s.all()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
}

func TestNotFoundMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, key string
		call      func(*Client) error
		wantIn    string
	}{
		{"pipeline", "GET /pipelines/nope", func(c *Client) error { _, err := c.Pipeline(context.Background(), "nope"); return err },
			`pipeline "nope" does not exist or the Heroku API key cannot see it`},
		{"review app config", "GET /pipelines/pl/review-app-config", func(c *Client) error { _, err := c.ReviewAppConfig(context.Background(), "pl"); return err },
			"connect the pipeline to the GitHub repository and enable review apps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			f.on(tt.key, apiErr(404, "not_found", "Couldn't find that."))
			c, _ := newTestClient(t, f)
			err := tt.call(c)
			if err == nil || !strings.Contains(err.Error(), tt.wantIn) {
				t.Fatalf("error %v does not say %q", err, tt.wantIn)
			}
			if statusOf(err) != 404 {
				t.Errorf("error %v does not wrap the 404 APIError", err)
			}
		})
	}
}

func TestPipelineLookup(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.on("GET /pipelines/pangeo-forge-api-flow", ok(map[string]string{"id": "pl-1", "name": "pangeo-forge-api-flow"}))
	c, _ := newTestClient(t, f)
	pl, err := c.Pipeline(context.Background(), "pangeo-forge-api-flow")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Pipeline{ID: "pl-1", Name: "pangeo-forge-api-flow"}, pl); diff != "" {
		t.Errorf("Pipeline (-want +got):\n%s", diff)
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	// The API never redirects; following one could hand the token to another host.
	other := newFakeAPI(t)
	f := newFakeAPI(t)
	f.on("GET /apps/pforge", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.srv.URL+"/apps/pforge", http.StatusFound)
	})
	c, _ := newTestClient(t, f)
	_, err := c.App(context.Background(), "pforge")
	if statusOf(err) != http.StatusFound {
		t.Fatalf("error %v, want the 302 as an APIError", err)
	}
}

func TestErrorsDoNotLeakSignedURLs(t *testing.T) {
	t.Parallel()
	s := &sleeps{}
	c := New(Options{MaxRetries: -1, Sleep: s.sleep})
	// Port 1 on loopback refuses connections: the error must not show the URL's signature.
	err := c.Stream(context.Background(), "http://127.0.0.1:1/streams/b1?X-Amz-Signature=s3cr3t", io.Discard)
	if err == nil {
		t.Fatal("streaming from a closed port succeeded")
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error %q shows the URL's signature", err)
	}
}

// TestEmptyIdentityIsRefused: no request path is ever built from an empty app, build or other
// identity. "DELETE /apps/" is answered 404 by Heroku, which a delete takes as "already gone":
// the client refuses such a request before it leaves, whatever the caller.
func TestEmptyIdentityIsRefused(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t) // any request reaching it fails the test
	c, _ := newTestClient(t, f)
	ctx := context.Background()
	calls := map[string]func() error{
		"DeleteApp":       func() error { return c.DeleteApp(ctx, "") },
		"App":             func() error { _, err := c.App(ctx, ""); return err },
		"Build":           func() error { _, err := c.Build(ctx, "pforge", ""); return err },
		"RecentBuilds":    func() error { _, err := c.RecentBuilds(ctx, "", 5); return err },
		"ConfigVars":      func() error { _, err := c.ConfigVars(ctx, ""); return err },
		"AppSetup":        func() error { _, err := c.AppSetup(ctx, ""); return err },
		"DeleteReviewApp": func() error { return c.DeleteReviewApp(ctx, "") },
		"UpdateConfigVars": func() error {
			v := "x"
			return c.UpdateConfigVars(ctx, "", map[string]*string{"A": &v})
		},
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, ErrEmptyIdentity) {
			t.Errorf("%s with an empty identity: error %v, want ErrEmptyIdentity", name, err)
		}
	}
}
