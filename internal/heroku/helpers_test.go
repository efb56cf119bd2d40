package heroku

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

const testToken = "test-token-0000"

// fakeAPI serves queued handlers by "METHOD /path", in order. A request nobody queued fails the
// test, and so does a queued handler nobody called.
type fakeAPI struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	queued map[string][]http.HandlerFunc
	always map[string]http.HandlerFunc // answers its key once the queue is empty, any number of times
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{t: t, queued: map[string][]http.HandlerFunc{}, always: map[string]http.HandlerFunc{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.srv.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for k, hs := range f.queued {
			if len(hs) > 0 {
				t.Errorf("%d expected request(s) %s never came", len(hs), k)
			}
		}
	})
	return f
}

func (f *fakeAPI) on(key string, hs ...http.HandlerFunc) *fakeAPI {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queued[key] = append(f.queued[key], hs...)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.Path
	f.mu.Lock()
	hs := f.queued[key]
	var h http.HandlerFunc
	if len(hs) > 0 {
		h, f.queued[key] = hs[0], hs[1:]
	} else {
		h = f.always[key]
	}
	f.mu.Unlock()
	if h == nil {
		f.t.Errorf("unexpected request %s", key)
		http.Error(w, `{"id":"unexpected","message":"unexpected request"}`, http.StatusTeapot)
		return
	}
	h(w, r)
}

// sleeps records the waits a client asked for, returning at once.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func newTestClient(t *testing.T, f *fakeAPI) (*Client, *sleeps) {
	t.Helper()
	s := &sleeps{}
	return New(Options{
		BaseURL: f.srv.URL, Token: testToken, HTTPClient: f.srv.Client(),
		PollInterval: 10 * time.Millisecond, Sleep: s.sleep,
	}), s
}

// reply answers status with v as JSON.
func reply(status int, v any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
}

func ok(v any) http.HandlerFunc { return reply(http.StatusOK, v) }

func apiErr(status int, id, msg string) http.HandlerFunc {
	return reply(status, map[string]string{"id": id, "message": msg})
}

// capture records a request's body and headers, then answers with next.
func capture(body *[]byte, hdr *http.Header, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if body != nil {
			*body = b
		}
		if hdr != nil {
			*hdr = r.Header.Clone()
		}
		next(w, r)
	}
}

func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("request body %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("request body\n got %s\nwant %s", gb, wb)
	}
}
