package heroku

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func buildJSON(f *fakeAPI, status string) http.HandlerFunc {
	b := map[string]any{"id": "b1", "status": status, "output_stream_url": f.srv.URL + "/streams/b1"}
	if status == "succeeded" {
		b["release"] = map[string]string{"id": "r5"}
		b["slug"] = map[string]string{"id": "s5"}
	}
	return ok(b)
}

func TestWaitBuild(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		builds   []string // statuses answered by successive GETs
		stream   http.HandlerFunc
		log      bool
		want     Build
		wantErr  string
		wantLog  string
		wantPoll int // sleeps of PollInterval
	}{
		{
			name:   "succeeds: stream end then one confirming GET",
			builds: []string{"pending", "succeeded"},
			stream: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "-----> Building\n-----> Done\n") },
			log:    true, wantLog: "-----> Building\n-----> Done\n",
			want: Build{ID: "b1", Status: "succeeded", ReleaseID: "r5", SlugID: "s5"},
		},
		{
			name:   "failed build is a FailedError",
			builds: []string{"pending", "failed"},
			stream: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "! Push rejected\n") },
			log:    true, wantLog: "! Push rejected\n",
			want:    Build{ID: "b1", Status: "failed"},
			wantErr: "heroku: build b1 failed: the build output says why",
		},
		{
			name:     "still pending after the stream: polls",
			builds:   []string{"pending", "pending", "pending", "succeeded"},
			stream:   func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "out\n") },
			want:     Build{ID: "b1", Status: "succeeded", ReleaseID: "r5", SlugID: "s5"},
			wantPoll: 2,
		},
		{
			name:   "stream breaks for good: noted, then polls",
			builds: []string{"pending", "succeeded"},
			stream: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusGone) },
			log:    true, wantLog: "the build output stream broke off",
			want:     Build{ID: "b1", Status: "succeeded", ReleaseID: "r5", SlugID: "s5"},
			wantPoll: streamDrops,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			for _, s := range tt.builds {
				f.on("GET /apps/stg/builds/b1", buildJSON(f, s))
			}
			f.on("GET /streams/b1", tt.stream)
			if strings.Contains(tt.name, "breaks") {
				for range streamDrops {
					f.on("GET /streams/b1", tt.stream)
				}
			}
			c, s := newTestClient(t, f)
			var log bytes.Buffer
			var w io.Writer
			if tt.log {
				w = &log
			}
			got, err := c.WaitBuild(context.Background(), "stg", "b1", w)
			if tt.wantErr != "" {
				var fe *FailedError
				if !errors.As(err, &fe) || err.Error() != tt.wantErr {
					t.Fatalf("error\n got %v\nwant FailedError %s", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			got.OutputStreamURL = ""
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Build (-want +got):\n%s", diff)
			}
			if !strings.Contains(log.String(), tt.wantLog) {
				t.Errorf("log %q does not contain %q", log.String(), tt.wantLog)
			}
			if n := len(s.all()); n != tt.wantPoll {
				t.Errorf("slept %d times, want %d", n, tt.wantPoll)
			}
		})
	}
}

func TestWaitBuildHonoursContext(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.on("GET /apps/stg/builds/b1", ok(map[string]any{"id": "b1", "status": "pending"}))
	ctx, cancel := context.WithCancel(context.Background())
	c := New(Options{BaseURL: f.srv.URL, Token: testToken, PollInterval: time.Hour, Sleep: func(ctx context.Context, d time.Duration) error {
		cancel()
		return ctx.Err()
	}})
	_, err := c.WaitBuild(ctx, "stg", "b1", nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestWaitRelease(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		releases []map[string]any
		wantErr  string
		wantLog  string
	}{
		{
			name: "release phase succeeds",
			releases: []map[string]any{
				{"id": "r5", "version": 5, "status": "pending", "output_stream_url": "STREAM"},
				{"id": "r5", "version": 5, "status": "succeeded", "current": true},
			},
			wantLog: "Running release command...\n",
		},
		{
			name: "release phase fails after a good build",
			releases: []map[string]any{
				{"id": "r5", "version": 5, "status": "pending", "output_stream_url": "STREAM"},
				{"id": "r5", "version": 5, "status": "failed"},
			},
			wantLog: "Running release command...\n",
			wantErr: "heroku: release r5 failed: the release phase of v5 failed; its output says why, and the app keeps running the previous release",
		},
		{
			// Heroku's newest schema adds "expired" to a release's statuses (docs/heroku.md).
			name:     "release expired",
			releases: []map[string]any{{"id": "r5", "version": 5, "status": "expired"}},
			wantErr:  "heroku: release r5 expired: Heroku no longer keeps release v5 (it expired), so the app does not run it; deploy again",
		},
		{
			// The stream is read for the log only: a finished release never changes again.
			name:     "release phase over by the first read",
			releases: []map[string]any{{"id": "r5", "version": 5, "status": "succeeded", "current": true, "output_stream_url": "STREAM"}},
			wantLog:  "Running release command...\n",
		},
		{
			name:     "no release phase",
			releases: []map[string]any{{"id": "r5", "version": 5, "status": "succeeded", "current": true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			for _, r := range tt.releases {
				if r["output_stream_url"] == "STREAM" {
					r["output_stream_url"] = f.srv.URL + "/streams/r5"
					f.on("GET /streams/r5", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "Running release command...\n") })
				}
				f.on("GET /apps/stg/releases/r5", ok(r))
			}
			c, _ := newTestClient(t, f)
			var log bytes.Buffer
			_, err := c.WaitRelease(context.Background(), "stg", "r5", &log)
			if tt.wantErr != "" {
				var fe *FailedError
				if !errors.As(err, &fe) || err.Error() != tt.wantErr {
					t.Fatalf("error\n got %v\nwant FailedError %s", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if log.String() != tt.wantLog {
				t.Errorf("log = %q, want %q", log.String(), tt.wantLog)
			}
		})
	}
}

func TestStreamResume(t *testing.T) {
	t.Parallel()
	full := strings.Repeat("0123456789", 100)
	cut := 437
	tests := []struct {
		name   string
		resume http.HandlerFunc
	}{
		{
			name: "server honours Range",
			resume: func(w http.ResponseWriter, r *http.Request) {
				var from int
				if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &from); err != nil || from != cut {
					t.Errorf("resume Range = %q, want bytes=%d-", r.Header.Get("Range"), cut)
				}
				w.WriteHeader(http.StatusPartialContent)
				io.WriteString(w, full[from:])
			},
		},
		{
			name:   "server ignores Range",
			resume: func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, full) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			f.on("GET /streams/b1",
				func(w http.ResponseWriter, r *http.Request) {
					if r.Header.Get("Range") != "" || r.Header.Get("Authorization") != "" {
						t.Errorf("first request headers: Range %q, Authorization set %v", r.Header.Get("Range"), r.Header.Get("Authorization") != "")
					}
					w.Header().Set("Content-Length", fmt.Sprint(len(full)))
					io.WriteString(w, full[:cut])
					w.(http.Flusher).Flush()
					panic(http.ErrAbortHandler) // the connection drops mid-stream
				},
				tt.resume,
			)
			c, _ := newTestClient(t, f)
			var out bytes.Buffer
			if err := c.Stream(context.Background(), f.srv.URL+"/streams/b1", &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != full {
				t.Errorf("stream output has %d bytes, want the %d sent, each once", out.Len(), len(full))
			}
		})
	}
}

func TestStreamNotReadyYet(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	notYet := func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
	f.on("GET /streams/b1", notYet, notYet, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello\n") })
	c, _ := newTestClient(t, f)
	var out bytes.Buffer
	if err := c.Stream(context.Background(), f.srv.URL+"/streams/b1", &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello\n" {
		t.Errorf("stream output = %q", out.String())
	}
}

type failingWriter struct{}

func (w *failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestStreamWriterErrorStops(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.on("GET /streams/b1", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "x") })
	c, _ := newTestClient(t, f)
	err := c.Stream(context.Background(), f.srv.URL+"/streams/b1", &failingWriter{})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("error %v, want the writer's", err)
	}
}

func reviewAppJSON(id string, pr int, status string, extra map[string]any) map[string]any {
	m := map[string]any{"id": id, "pr_number": pr, "branch": fmt.Sprintf("feature-%d", pr), "status": status, "pipeline": map[string]string{"id": "pl"}}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestCreateReviewApp(t *testing.T) {
	t.Parallel()
	in := ReviewAppCreate{PipelineID: "pl", Branch: "feature-7", PRNumber: 7, SourceURL: "https://get/src", Checksum: "beef", Version: "abc", Environment: map[string]string{"PANGEO_FORGE_DEPLOYMENT": "pforge-pr-7"}}
	t.Run("created", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t)
		var body []byte
		f.on("POST /review-apps", capture(&body, nil, reply(201, reviewAppJSON("ra7", 7, "pending", nil))))
		c, _ := newTestClient(t, f)
		got, err := c.CreateReviewApp(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		jsonEqual(t, body, `{"pipeline":"pl","branch":"feature-7","pr_number":7,"source_blob":{"url":"https://get/src","version":"abc"},"environment":{"PANGEO_FORGE_DEPLOYMENT":"pforge-pr-7"}}`)
		if diff := cmp.Diff(ReviewApp{ID: "ra7", PRNumber: 7, Branch: "feature-7", Status: "pending"}, got); diff != "" {
			t.Errorf("ReviewApp (-want +got):\n%s", diff)
		}
	})
	t.Run("409 returns the existing one", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t)
		f.on("POST /review-apps", apiErr(409, "conflict", "A review app already exists for this pull request"))
		f.on("GET /pipelines/pl/review-apps", ok([]any{
			reviewAppJSON("old", 7, "deleted", nil),
			reviewAppJSON("ra3", 3, "created", nil),
			reviewAppJSON("ra7", 7, "created", map[string]any{"app": map[string]string{"id": "app7"}}),
		}))
		c, _ := newTestClient(t, f)
		got, err := c.CreateReviewApp(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != "ra7" || got.AppID != "app7" {
			t.Errorf("ReviewApp = %+v, want ra7 on app7", got)
		}
	})
}

func TestWaitReviewApp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		states  []map[string]any
		wantErr string
	}{
		{name: "created", states: []map[string]any{reviewAppJSON("ra7", 7, "pending", nil), reviewAppJSON("ra7", 7, "creating", nil), reviewAppJSON("ra7", 7, "created", map[string]any{"app": map[string]string{"id": "app7"}})}},
		{name: "errored", states: []map[string]any{reviewAppJSON("ra7", 7, "creating", nil), reviewAppJSON("ra7", 7, "errored", map[string]any{"message": "Postdeploy script failed"})},
			wantErr: "heroku: review app ra7 errored: Postdeploy script failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			for _, s := range tt.states {
				f.on("GET /review-apps/ra7", ok(s))
			}
			if tt.wantErr == "" {
				// Created before the wait could follow its build: the build is looked up to name it.
				f.on("GET /apps/app7/builds", ok([]map[string]any{{"id": "b7", "status": "succeeded"}}))
			}
			c, sl := newTestClient(t, f)
			got, err := c.WaitReviewApp(context.Background(), "ra7", nil)
			if tt.wantErr != "" {
				var fe *FailedError
				if !errors.As(err, &fe) || err.Error() != tt.wantErr {
					t.Fatalf("error\n got %v\nwant FailedError %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.AppID != "app7" || got.BuildID != "b7" {
				t.Errorf("ReviewApp = %+v, want app7 built by b7", got)
			}
			// A pause before each of the three reads: the caller has just seen the app pending, so
			// no read is spent at once.
			if diff := cmp.Diff([]time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}, sl.all()); diff != "" {
				t.Errorf("polls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeleteReviewApp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr bool
	}{
		{"deleted", ok(reviewAppJSON("ra7", 7, "deleting", nil)), false},
		{"already gone", apiErr(404, "not_found", "Couldn't find that review app."), false},
		{"forbidden", apiErr(403, "forbidden", "No access."), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			f.on("DELETE /review-apps/ra7", tt.handler)
			c, _ := newTestClient(t, f)
			if err := c.DeleteReviewApp(context.Background(), "ra7"); (err != nil) != tt.wantErr {
				t.Errorf("error = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestReviewAppConfig(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.on("GET /pipelines/pl/review-app-config", ok(map[string]any{"pipeline_id": "pl", "automatic_review_apps": false, "repo": map[string]any{"id": 123456}}))
	c, _ := newTestClient(t, f)
	got, err := c.ReviewAppConfig(context.Background(), "pl")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ReviewAppConfig{Repo: "123456"}, got); diff != "" {
		t.Errorf("ReviewAppConfig (-want +got):\n%s", diff)
	}
}
