package heroku

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
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
// read; a build of this run's source is adopted, else the build is requested again; a 4xx is final.
func TestCreateBuildAfterAmbiguousFailure(t *testing.T) {
	t.Parallel()
	const srcURL = "https://blobs.example/sources/s1?X-Amz-Signature=sig"
	mine := map[string]any{"id": "b1", "status": "pending", "source_blob": map[string]any{"url": srcURL, "version": "abc"}}
	other := map[string]any{"id": "b0", "status": "succeeded", "source_blob": map[string]any{"url": "https://blobs.example/sources/s0", "version": "abc"}}
	tests := []struct {
		name    string
		posts   []http.HandlerFunc
		lists   []http.HandlerFunc
		wantID  string
		wantErr string
	}{
		{
			name:   "the lost build is adopted",
			posts:  []http.HandlerFunc{apiErr(503, "unavailable", "down")},
			lists:  []http.HandlerFunc{ok([]any{mine, other})},
			wantID: "b1",
		},
		{
			name:   "no build of this source: asked again",
			posts:  []http.HandlerFunc{apiErr(500, "internal_server_error", "oops"), reply(201, mine)},
			lists:  []http.HandlerFunc{ok([]any{other})},
			wantID: "b1",
		},
		{
			name: "a 5xx every time: five requests, each after a look for the last one's build",
			posts: []http.HandlerFunc{
				apiErr(500, "internal_server_error", "oops"), apiErr(502, "bad_gateway", "oops"), apiErr(503, "unavailable", "oops"),
				apiErr(504, "gateway_timeout", "oops"), apiErr(503, "unavailable", "still down"),
			},
			lists:   []http.HandlerFunc{ok([]any{other}), ok([]any{other}), ok([]any{other}), ok([]any{other})},
			wantErr: "still down",
		},
		{
			name:    "a 4xx is not ambiguous",
			posts:   []http.HandlerFunc{apiErr(422, "invalid_params", "bad checksum")},
			wantErr: "bad checksum",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			f.on("POST /apps/pforge/builds", tt.posts...)
			var rng string
			for _, h := range tt.lists {
				f.on("GET /apps/pforge/builds", capture(nil, nil, func(w http.ResponseWriter, r *http.Request) {
					rng = r.Header.Get("Range")
					h(w, r)
				}))
			}
			c, _ := newTestClient(t, f)
			b, err := c.CreateBuild(context.Background(), "pforge", BuildCreate{SourceURL: srcURL, Version: "abc"})
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
			if len(tt.lists) > 0 && !strings.HasPrefix(rng, "started_at ..;") {
				t.Errorf("builds listed with Range %q, want the newest first by started_at", rng)
			}
		})
	}
}
