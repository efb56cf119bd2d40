package sandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkColdStart: from exec of the built binary (as the Dockerfile builds it) to its first
// request reaching a loopback server, for a pull request's teardown (no secrets to decrypt: the
// figure is the binary's own start, config, event and plan). The container's own start is measured
// by `make bench-container`.
func BenchmarkColdStart(b *testing.B) {
	root, err := FindRoot()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "deploy-action")
	build := exec.CommandContext(b.Context(), "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/deploy-action")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}

	var mu sync.Mutex
	var first time.Time
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if first.IsZero() {
			first = time.Now()
			arrived <- struct{}{}
		}
		mu.Unlock()
		http.Error(w, `{"id":"unavailable","message":"benchmark"}`, http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	payload, err := json.Marshal(PullRequestEvent("closed", PR, CommitUpdated))
	if err != nil {
		b.Fatal(err)
	}
	eventPath := filepath.Join(dir, "event.json")
	if err := os.WriteFile(eventPath, payload, 0o644); err != nil {
		b.Fatal(err)
	}
	env := []string{
		"GITHUB_ACTIONS=true", "GITHUB_WORKSPACE=" + dir, "GITHUB_EVENT_NAME=pull_request", "GITHUB_EVENT_PATH=" + eventPath,
		"GITHUB_REPOSITORY=" + Repository, "GITHUB_SHA=" + SHA("merge-ref-2"), "GITHUB_REF=refs/pull/80/merge",
		"GITHUB_RUN_ID=4242", "GITHUB_RUN_ATTEMPT=1", "GITHUB_API_URL=" + srv.URL, "GITHUB_SERVER_URL=https://github.com",
		"GITHUB_OUTPUT=" + filepath.Join(dir, "output"), "GITHUB_STEP_SUMMARY=" + filepath.Join(dir, "summary"),
		"INPUT_HEROKU_API_KEY=" + herokuToken, "INPUT_HEROKU_API_URL=" + srv.URL, "INPUT_GITHUB_TOKEN=" + githubToken,
		"INPUT_PIPELINE=" + Pipeline, "INPUT_TIMEOUT=10s",
	}
	var samples []time.Duration
	for b.Loop() {
		for range 5 {
			mu.Lock()
			first = time.Time{}
			mu.Unlock()
			cmd := exec.Command(bin)
			cmd.Env = env
			start := time.Now()
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			select {
			case <-arrived:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				cmd.Wait()
				b.Fatal("the binary sent no request within 10s")
			}
			mu.Lock()
			samples = append(samples, first.Sub(start))
			mu.Unlock()
			cmd.Process.Kill() // only its start was measured; the rest would retry against a 503
			cmd.Wait()
		}
	}
	b.ReportMetric(float64(median(samples))/float64(time.Millisecond), "first-request-median-ms")
	b.Logf("exec to first request: median %s, max %s over %d runs (target <= 50ms)", ms(median(samples)), ms(slices.Max(samples)), len(samples))
}
