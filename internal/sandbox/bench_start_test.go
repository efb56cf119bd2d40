package sandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkColdStart: from exec of the built binary (as the Dockerfile builds it) to its first
// request reaching a loopback server, for a pull request's teardown (no secrets to decrypt: the
// figure is the binary's own start, config, event and plan). The baseline, measured in the same
// run, is a Go program built the same way that sends one request as soon as it starts: the ratio is
// what the action's start costs against the least any Go binary pays. The container's own start is
// measured by `make bench-container`.
func BenchmarkColdStart(b *testing.B) {
	root, err := FindRoot()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "deploy-action")
	buildStatic(b, root, bin, "./cmd/deploy-action")
	minimal := filepath.Join(dir, "minimal.go")
	if err := os.WriteFile(minimal, []byte(minimalClient), 0o644); err != nil {
		b.Fatal(err)
	}
	baselineBin := filepath.Join(dir, "minimal")
	buildStatic(b, dir, baselineBin, minimal)

	payload, err := json.Marshal(PullRequestEvent("closed", PR, CommitUpdated))
	if err != nil {
		b.Fatal(err)
	}
	eventPath := filepath.Join(dir, "event.json")
	if err := os.WriteFile(eventPath, payload, 0o644); err != nil {
		b.Fatal(err)
	}
	env := func(apiURL string) []string {
		return []string{
			"GITHUB_ACTIONS=true", "GITHUB_WORKSPACE=" + dir, "GITHUB_EVENT_NAME=pull_request", "GITHUB_EVENT_PATH=" + eventPath,
			"GITHUB_REPOSITORY=" + Repository, "GITHUB_SHA=" + SHA("merge-ref-2"), "GITHUB_REF=refs/pull/80/merge",
			"GITHUB_RUN_ID=4242", "GITHUB_RUN_ATTEMPT=1", "GITHUB_API_URL=" + apiURL, "GITHUB_SERVER_URL=https://github.com",
			"GITHUB_OUTPUT=" + filepath.Join(dir, "output"), "GITHUB_STEP_SUMMARY=" + filepath.Join(dir, "summary"),
			"INPUT_HEROKU_API_KEY=" + herokuToken, "INPUT_HEROKU_API_URL=" + apiURL, "INPUT_GITHUB_TOKEN=" + githubToken,
			"INPUT_PIPELINE=" + Pipeline, "INPUT_TIMEOUT=10s", "INPUT_TIMEOUT_RESERVE=2s",
		}
	}
	// firstRequest execs bin and returns how long its first request took to arrive. Each exec gets
	// a server of its own, so that a late request of the previous one cannot count.
	firstRequest := func(bin string) time.Duration {
		arrived := make(chan time.Time, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case arrived <- time.Now():
			default:
			}
			http.Error(w, `{"id":"unavailable","message":"benchmark"}`, http.StatusServiceUnavailable)
		}))
		defer srv.Close()
		cmd := exec.Command(bin)
		cmd.Env = env(srv.URL)
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() {
			cmd.Process.Kill() // only its start was measured; the rest would retry against a 503
			cmd.Wait()
		}()
		select {
		case at := <-arrived:
			return at.Sub(start)
		case <-time.After(10 * time.Second):
			b.Fatalf("%s sent no request within 10s", filepath.Base(bin))
			return 0
		}
	}
	var samples, baseline []time.Duration
	for b.Loop() {
		for range 5 {
			baseline = append(baseline, firstRequest(baselineBin))
			samples = append(samples, firstRequest(bin))
		}
	}
	ratio := float64(median(samples)) / float64(median(baseline))
	b.ReportMetric(float64(median(samples))/float64(time.Millisecond), "first-request-median-ms")
	b.ReportMetric(ratio, "x-minimal-go-client")
	b.Logf("exec to first request: median %s, max %s over %d runs (target <= 50ms); %.1f x a minimal Go client's %s in the same run",
		ms(median(samples)), ms(slices.Max(samples)), len(samples), ratio, ms(median(baseline)))
}

// minimalClient is the cold-start baseline: a Go program that only sends one request.
const minimalClient = `package main

import (
	"net/http"
	"os"
)

func main() {
	if resp, err := http.Get(os.Getenv("INPUT_HEROKU_API_URL")); err == nil {
		resp.Body.Close()
	}
}
`

// buildStatic builds pkg (a package path or a file) in dir as the Dockerfile builds the action.
func buildStatic(b *testing.B, dir, out, pkg string) {
	b.Helper()
	build := exec.CommandContext(b.Context(), "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
}
