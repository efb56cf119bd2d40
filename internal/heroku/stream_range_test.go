package heroku

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStreamResumeContentRange: a resumed stream is placed by its Content-Range, so output is
// neither repeated (the server resent earlier bytes) nor silently lost (it skipped some).
func TestStreamResumeContentRange(t *testing.T) {
	t.Parallel()
	full := strings.Repeat("abcdefghij", 50)
	cut := 123
	tests := []struct {
		name    string
		from    int    // first byte the resumed answer sends
		header  string // Content-Range, "" to leave it out
		want    string
		wantErr string
	}{
		{name: "from the byte asked for", from: cut, header: fmt.Sprintf("bytes %d-%d/*", cut, len(full)-1), want: full},
		{name: "without Content-Range", from: cut, want: full},
		{name: "from an earlier byte", from: 100, header: fmt.Sprintf("bytes 100-%d/%d", len(full)-1, len(full)), want: full},
		{name: "from a later byte", from: 200, header: fmt.Sprintf("bytes 200-%d/*", len(full)-1), wantErr: "output would be lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			resume := func(w http.ResponseWriter, r *http.Request) {
				if got := r.Header.Get("Range"); got != fmt.Sprintf("bytes=%d-", cut) {
					t.Errorf("resume Range = %q", got)
				}
				if tt.header != "" {
					w.Header().Set("Content-Range", tt.header)
				}
				w.WriteHeader(http.StatusPartialContent)
				io.WriteString(w, full[tt.from:])
			}
			handlers := []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, full[:cut])
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}}
			retries := 1
			if tt.wantErr != "" {
				retries = streamDrops // every resume is refused, until Stream gives up
			}
			for range retries {
				handlers = append(handlers, resume)
			}
			f.on("GET /streams/b1", handlers...)
			c, _ := newTestClient(t, f)
			var out bytes.Buffer
			err := c.Stream(context.Background(), f.srv.URL+"/streams/b1", &out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				if out.String() != full[:cut] {
					t.Errorf("output = %d bytes, want only the %d before the drop", out.Len(), cut)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("output has %d bytes, want the %d sent, each once", out.Len(), len(tt.want))
			}
		})
	}
}

func TestRangeStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"bytes 10-20/*", 10, true},
		{"bytes 0-0/1", 0, true},
		{" bytes 7-/*", 7, true},
		{"bytes */30", 0, false},
		{"items 1-2/3", 0, false},
		{"bytes -5-6/7", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := rangeStart(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("rangeStart(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestCreateBuildAfterAmbiguousFailure: after a 5xx on POST /builds the app's newest builds are
// read; the build this request made is adopted, else the build is requested again; a 4xx is final.
// The build is recognised by what Heroku keeps of the request (version, checksum) and by being
// created after the request was sent, by the server's clock as its Date headers give it; not by
// its signed source URL, which Heroku may store normalized.
func TestCreateBuildAfterAmbiguousFailure(t *testing.T) {
	t.Parallel()
	const (
		srcURL = "https://blobs.example/sources/s1?X-Amz-SignedHeaders=host&X-Amz-Signature=sig"
		stored = "https://blobs.example/sources/s1?X-Amz-Signature=sig&X-Amz-SignedHeaders=host" // re-encoded
		sum    = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	)
	build := func(id, version, checksum string, created time.Time) map[string]any {
		return map[string]any{"id": id, "status": "pending", "created_at": created.UTC().Format(time.RFC3339),
			"source_blob": map[string]any{"url": stored, "version": version, "checksum": "SHA256:" + checksum}}
	}
	// made is the server's time when the POST arrived (the request was sent before it).
	tests := []struct {
		name    string
		skew    time.Duration // server clock minus the client's
		posts   int           // answers of 5xx before a 201 (5: never a 201)
		list    func(made time.Time) []any
		wantID  string
		wantErr string
	}{
		{
			name: "the lost build is adopted, whatever its stored URL",
			list: func(made time.Time) []any {
				return []any{build("b1", "abc", sum, made), build("b0", "abc", sum, made.Add(-time.Hour))}
			},
			wantID: "b1",
		},
		{
			name:   "the server's clock an hour behind: its build still counts as made after the request",
			skew:   -time.Hour,
			list:   func(made time.Time) []any { return []any{build("b1", "abc", sum, made)} },
			wantID: "b1",
		},
		{
			name:  "a build of the same source made before the request (a rerun's) is not adopted, even with the server's clock ahead",
			skew:  time.Hour,
			posts: 1,
			list: func(made time.Time) []any {
				return []any{build("b0", "abc", sum, made.Add(-30*time.Minute))}
			},
			wantID: "b2",
		},
		{
			name:  "another source of the same commit is not adopted",
			posts: 1,
			list: func(made time.Time) []any {
				return []any{build("b0", "abc", strings.Repeat("f", 64), made)}
			},
			wantID: "b2",
		},
		{
			name:  "a 5xx every time: five requests, each after a look for the last one's build",
			posts: 5,
			list: func(made time.Time) []any {
				return []any{build("b0", "other", sum, made)}
			},
			wantErr: "still down",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			var (
				mu   sync.Mutex
				made time.Time
				rng  string
			)
			dated := func(h http.HandlerFunc) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Date", time.Now().Add(tt.skew).UTC().Format(http.TimeFormat))
					h(w, r)
				}
			}
			attempt := 0
			post := func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				attempt++
				if made.IsZero() {
					made = time.Now().Add(tt.skew)
				}
				n := attempt
				mu.Unlock()
				switch {
				case n == 1 && tt.posts == 0:
					apiErr(503, "unavailable", "down")(w, r) // the build was made, its answer lost
				case n <= tt.posts:
					apiErr(503, "unavailable", map[bool]string{true: "still down", false: "down"}[n == createAttempts])(w, r)
				default:
					reply(201, map[string]any{"id": "b2", "status": "pending", "source_blob": map[string]any{"url": stored}})(w, r)
				}
			}
			posts, lists := tt.posts+1, tt.posts // each 5xx is followed by a look, then a new request
			switch tt.posts {
			case 0: // the one request's build is found
				posts, lists = 1, 1
			case createAttempts: // the last 5xx is final, without a look
				posts, lists = createAttempts, createAttempts-1
			}
			for range posts {
				f.on("POST /apps/pforge/builds", dated(post))
			}
			for range lists {
				f.on("GET /apps/pforge/builds", dated(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					rng = r.Header.Get("Range")
					m := made
					mu.Unlock()
					ok(tt.list(m))(w, r)
				}))
			}
			c, _ := newTestClient(t, f)
			b, err := c.CreateBuild(context.Background(), "pforge", BuildCreate{SourceURL: srcURL, Checksum: sum, Version: "abc"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.ID != tt.wantID {
				t.Errorf("build = %s, want %s", b.ID, tt.wantID)
			}
			if !strings.HasPrefix(rng, "started_at ..;") {
				t.Errorf("builds listed with Range %q, want the newest first by started_at", rng)
			}
		})
	}
}

// TestCreateBuildFourXXIsFinal: a 4xx answer to POST /builds is not ambiguous: no look, no retry.
func TestCreateBuildFourXXIsFinal(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.on("POST /apps/pforge/builds", apiErr(422, "invalid_params", "bad checksum"))
	c, _ := newTestClient(t, f)
	if _, err := c.CreateBuild(context.Background(), "pforge", BuildCreate{SourceURL: "https://blobs.example/s", Version: "abc"}); err == nil || !strings.Contains(err.Error(), "bad checksum") {
		t.Fatalf("error = %v, want the 422", err)
	}
}
