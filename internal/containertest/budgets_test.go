package containertest

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/sandbox"
)

// The container budgets of docs/performance.md.
const (
	budgetImageBytes   = 20 << 20               // compressed image, what a runner pulls
	budgetColdStart    = 50 * time.Millisecond  // `deploy-action --version`, process start to exit
	budgetFirstRequest = 300 * time.Millisecond // container start to the first API request
	budgetRuns         = 5                      // timings are the median of this many runs
)

// TestBudgets measures what a workflow run pays for the image: the bytes pulled, the binary's cold
// start and how soon after the container starts the action talks to an API. `make bench-container`.
// Only the image size (deterministic) can fail; the timings are printed for docs/performance.md.
func TestBudgets(t *testing.T) {
	e, ref := testImage(t)
	ctx := context.Background()

	t.Run("image size", func(t *testing.T) {
		n, err := compressedSize(ctx, e, ref)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("image: %.1f MB compressed (podman save | gzip | wc -c = %d; budget %d MB)", float64(n)/(1<<20), n, budgetImageBytes>>20)
		if n > budgetImageBytes {
			t.Errorf("compressed image is %d bytes, over the budget of %d", n, budgetImageBytes)
		}
	})

	t.Run("cold start", func(t *testing.T) {
		var d []time.Duration
		for i := range budgetRuns {
			name := fmt.Sprintf("deploy-action-budget-%d-%d", time.Now().UnixNano(), i)
			if _, err := e.run(ctx, "run", "--name", name, ref, "--version"); err != nil {
				t.Fatal(err)
			}
			state, err := inspect(ctx, e, name)
			e.run(ctx, "rm", "--force", name)
			if err != nil {
				t.Fatal(err)
			}
			d = append(d, state.FinishedAt.Sub(state.StartedAt))
		}
		med := median(d)
		t.Logf("deploy-action --version in the container: median %v, max %v of %d runs (budget %v)", med.Round(time.Millisecond/10), slices.Max(d).Round(time.Millisecond/10), len(d), budgetColdStart)
		// A measurement, not a verdict: CI machines are too noisy for a timing to fail a run.
		if med > budgetColdStart {
			t.Logf("OVER BUDGET: cold start median %v, budget %v", med, budgetColdStart)
		}
	})

	t.Run("first request", func(t *testing.T) {
		var d []time.Duration
		for i := range budgetRuns {
			got, err := firstRequest(ctx, t, e, ref, i)
			if err != nil {
				t.Fatal(err)
			}
			d = append(d, got)
		}
		med := median(d)
		t.Logf("first API request after the container started: median %v, max %v of %d runs (budget %v)", med.Round(time.Millisecond), slices.Max(d).Round(time.Millisecond), len(d), budgetFirstRequest)
		if med > budgetFirstRequest {
			t.Logf("OVER BUDGET: first request median %v, budget %v", med, budgetFirstRequest)
		}
	})
}

type containerState struct {
	StartedAt  time.Time
	FinishedAt time.Time
}

func inspect(ctx context.Context, e *engine, name string) (containerState, error) {
	out, err := e.run(ctx, "inspect", "--type", "container", name)
	if err != nil {
		return containerState{}, err
	}
	var got []struct{ State containerState }
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 {
		return containerState{}, fmt.Errorf("cannot read the state of container %s: %v", name, err)
	}
	return got[0].State, nil
}

// compressedSize is `podman save | gzip | wc -c`: about what a runner downloads.
func compressedSize(ctx context.Context, e *engine, ref string) (int64, error) {
	var n countingWriter
	zw := gzip.NewWriter(&n)
	cmd := e.command(ctx, nil, "save", ref)
	cmd.Stdout = zw
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("save %s: %w\n%s", ref, err, stderr.String())
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return int64(n), nil
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

// firstRequest runs the first lifecycle step (a review app) in a fresh world with the Heroku and
// GitHub APIs behind proxies that note when the first request arrives, and returns how long after
// the container's start that was.
func firstRequest(ctx context.Context, t *testing.T, e *engine, ref string, i int) (time.Duration, error) {
	w := newWorld(t)
	var mu sync.Mutex
	var first time.Time
	proxy := func(target string) string {
		u, err := url.Parse(target)
		if err != nil {
			t.Fatal(err)
		}
		rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u); r.Out.Host = u.Host }}
		s := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			mu.Lock()
			if first.IsZero() {
				first = time.Now()
			}
			mu.Unlock()
			rp.ServeHTTP(rw, r)
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	step := sandbox.Lifecycle()[0]
	p, err := w.Prepare(step)
	if err != nil {
		return 0, err
	}
	p.Env["INPUT_HEROKU_API_URL"] = proxy(w.Heroku.URL())
	p.Env["GITHUB_API_URL"] = proxy(w.GitHub.URL())
	name := fmt.Sprintf("deploy-action-budget-req-%d-%d", time.Now().UnixNano(), i)
	run, err := runStep(ctx, e, ref, p, "--name", name)
	defer e.run(ctx, "rm", "--force", name)
	if err != nil {
		return 0, err
	}
	if run.Code != 0 {
		return 0, fmt.Errorf("the step failed (exit %d):\n%s", run.Code, run.Log)
	}
	state, err := inspect(ctx, e, name)
	if err != nil {
		return 0, err
	}
	if first.IsZero() {
		return 0, fmt.Errorf("the action made no API request")
	}
	return first.Sub(state.StartedAt), nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
