package heroku_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
)

// once returns a disrupter that applies d to the first request matching method and path prefix.
func once(method, prefix string, d herokuapi.Disruption) func(*http.Request) (herokuapi.Disruption, bool) {
	var used atomic.Bool
	return func(r *http.Request) (herokuapi.Disruption, bool) {
		if r.Method != method || !strings.HasPrefix(r.URL.Path, prefix) || strings.Count(r.URL.Path, "/") != strings.Count(prefix, "/") {
			return herokuapi.Disruption{}, false
		}
		return d, used.CompareAndSwap(false, true)
	}
}

// TestFakeStreamResumesAfterDrop breaks the build's output stream midway: the client reconnects
// with Range, the server answers 206 from that byte, and the log has every byte exactly once.
func TestFakeStreamResumesAfterDrop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, c := startFake(t, herokuapi.Options{})
	srv.AddPipeline("pipe-a")
	app := srv.AddApp("app-a", "pipe-a", "staging")
	srv.Disrupt(once(http.MethodGet, "/streams/builds/", herokuapi.Disruption{DropStream: true, StreamBytes: 20}))
	src, sum := upload(t, ctx, c)
	b, err := c.CreateBuild(ctx, app.ID, heroku.BuildCreate{SourceURL: src.GetURL, Checksum: sum, Version: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if _, err := c.WaitBuild(ctx, app.ID, b.ID, &log); err != nil {
		t.Fatal(err)
	}
	// The whole log, read again in one piece now that the build is over.
	resp, err := srv.Client().Get(b.OutputStreamURL)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if log.String() != string(full) {
		t.Errorf("streamed log after a drop:\n%q\nwant every byte once:\n%q", log.String(), full)
	}
	var resumed []int
	for _, r := range srv.Requests() {
		if strings.HasPrefix(r.Path, "/streams/builds/") && r.Header.Get("Range") != "" {
			resumed = append(resumed, r.Status)
		}
	}
	if len(resumed) == 0 || resumed[0] != http.StatusPartialContent {
		t.Errorf("resumed stream requests answered %v, want 206 Partial Content", resumed)
	}
}

// TestFakeCreationsSurviveLostAnswers: a create whose connection breaks (before or after the
// server acted) or that gets a 5xx ends with exactly one build or review app.
func TestFakeCreationsSurviveLostAnswers(t *testing.T) {
	t.Parallel()
	faults := []struct {
		name  string
		apply func(srv *herokuapi.Server, method, prefix string)
	}{
		{"reset after the server acted", func(srv *herokuapi.Server, method, prefix string) {
			srv.Disrupt(once(method, prefix, herokuapi.Disruption{Reset: true, Processed: true}))
		}},
		{"reset before the server acted", func(srv *herokuapi.Server, method, prefix string) {
			srv.Disrupt(once(method, prefix, herokuapi.Disruption{Reset: true}))
		}},
		{"503", func(srv *herokuapi.Server, method, prefix string) {
			var used atomic.Bool
			srv.Inject(func(r *http.Request) (int, bool) {
				ok := r.Method == method && strings.HasPrefix(r.URL.Path, prefix) && strings.Count(r.URL.Path, "/") == strings.Count(prefix, "/")
				return http.StatusServiceUnavailable, ok && used.CompareAndSwap(false, true)
			})
		}},
	}
	for _, f := range faults {
		t.Run("build/"+f.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			srv, c := startFake(t, herokuapi.Options{})
			srv.AddPipeline("pipe-a")
			app := srv.AddApp("app-a", "pipe-a", "staging")
			src, sum := upload(t, ctx, c)
			f.apply(srv, http.MethodPost, "/apps/"+app.ID+"/builds")
			b, err := c.CreateBuild(ctx, app.ID, heroku.BuildCreate{SourceURL: src.GetURL, Checksum: sum, Version: "abc"})
			if err != nil {
				t.Fatal(err)
			}
			if builds := srv.Builds("app-a"); len(builds) != 1 || builds[0].ID != b.ID {
				t.Errorf("builds = %+v, want only %s", builds, b.ID)
			}
		})
		t.Run("review app/"+f.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			srv, c := startFake(t, herokuapi.Options{})
			pipe := srv.AddPipeline("pipe-a")
			srv.EnableReviewApps("pipe-a", "pangeo-forge/pangeo-forge-orchestrator")
			src, sum := upload(t, ctx, c)
			f.apply(srv, http.MethodPost, "/review-apps")
			ra, err := c.CreateReviewApp(ctx, heroku.ReviewAppCreate{PipelineID: pipe.ID, Branch: "feature", PRNumber: 80, SourceURL: src.GetURL, Checksum: sum, Version: "abc"})
			if err != nil {
				t.Fatal(err)
			}
			if apps := srv.ReviewApps("pipe-a"); len(apps) != 1 || apps[0].ID != ra.ID {
				t.Errorf("review apps = %+v, want only %s", apps, ra.ID)
			}
		})
	}
}

// TestFakeSourceRetried: POST /sources is retried after a broken connection or a 5xx: a source
// made by a lost request is never used, so asking again is safe.
func TestFakeSourceRetried(t *testing.T) {
	t.Parallel()
	for _, d := range []herokuapi.Disruption{{Reset: true}, {Reset: true, Processed: true}} {
		srv, c := startFake(t, herokuapi.Options{})
		srv.Disrupt(once(http.MethodPost, "/sources", d))
		src, _ := upload(t, context.Background(), c)
		if src.GetURL == "" {
			t.Errorf("after %+v: no source", d)
		}
	}
}
