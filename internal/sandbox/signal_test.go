package sandbox

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds the action's real binary once per test process.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "deploy-action-bin-")
	if err != nil {
		return "", err
	}
	root, err := FindRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "deploy-action")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/deploy-action")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New("go build ./cmd/deploy-action: " + err.Error() + "\n" + string(out))
	}
	return bin, nil
})

// TestBinaryStopsOnSignalOrTimeout runs the real binary as the runner does and stops it midway
// through a long build: with SIGINT or SIGTERM (a cancelled job) and with the timeout input. It must
// exit within 5 s, with the exit code for what happened, and leave the check run concluded
// cancelled or timed_out, saying how far the run got.
func TestBinaryStopsOnSignalOrTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(bin)) })
	tests := []struct {
		name       string
		signal     os.Signal // nil: let the timeout input stop the run
		timeout    string
		wantCode   int
		conclusion string
		wantTitle  string
	}{
		{name: "SIGINT", signal: os.Interrupt, timeout: "20m", wantCode: 130, conclusion: "cancelled", wantTitle: "Cancelled"},
		{name: "SIGTERM", signal: syscall.SIGTERM, timeout: "20m", wantCode: 130, conclusion: "cancelled", wantTitle: "Cancelled"},
		{name: "timeout input", timeout: "3s", wantCode: 1, conclusion: "timed_out", wantTitle: "Timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A build that takes a minute: only the signal or the timeout can end the run in time.
			w, err := New(Options{BuildTime: time.Minute, ReleaseTime: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(w.Close)
			w.SeedLifecycle()
			step := withInputs(Lifecycle()[2], "timeout", tt.timeout, "timeout_reserve", "1s") // main: build staging
			prep, err := w.Prepare(step)
			if err != nil {
				t.Fatal(err)
			}
			prep.Env["HOME"] = prep.HomeDir
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			for k, v := range prep.Env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			started := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() { _ = cmd.Process.Kill() })

			// Wait for the build to be under way: the run is past its secrets and upload.
			for len(w.Heroku.Builds(StagingApp)) == 0 {
				select {
				case err := <-done:
					t.Fatalf("the action ended before its build started (%v):\n%s", err, stdout.String())
				case <-time.After(10 * time.Millisecond):
				}
				if time.Since(started) > 30*time.Second {
					t.Fatalf("no build started within 30s:\n%s", stdout.String())
				}
			}
			stopAt := time.Now()
			if tt.signal != nil {
				if err := cmd.Process.Signal(tt.signal); err != nil {
					t.Fatal(err)
				}
			} else {
				stopAt = started.Add(3 * time.Second)
			}
			var exitErr *exec.ExitError
			select {
			case err = <-done:
			case <-time.After(time.Until(stopAt) + 5*time.Second):
				t.Fatalf("still running 5s after it was told to stop:\n%s", stdout.String())
			}
			if took := time.Since(stopAt); took > 5*time.Second {
				t.Errorf("exited %s after it was told to stop, want within 5s", took.Round(time.Millisecond))
			}
			code := 0
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\n%s\n%s", code, tt.wantCode, stdout.String(), stderr.String())
			}
			runs := w.GitHub.CheckRuns(Repository)
			if len(runs) != 1 {
				t.Fatalf("check runs = %+v, want one", runs)
			}
			cr := runs[0]
			if cr.Status != "completed" || cr.Conclusion != tt.conclusion || cr.Title != tt.wantTitle {
				t.Errorf("check run %q: status %q, conclusion %q, title %q; want completed, %q, %q", cr.Name, cr.Status, cr.Conclusion, cr.Title, tt.conclusion, tt.wantTitle)
			}
			// How far it got: the phases done and the one it stopped in.
			for _, phase := range []string{"secrets", "upload", "build"} {
				if !strings.Contains(cr.Summary, "| "+phase+" |") {
					t.Errorf("check run summary does not list the %s phase:\n%s", phase, cr.Summary)
				}
			}
			if !strings.Contains(stdout.String(), "during the build phase") {
				t.Errorf("the log does not say where the run stopped:\n%s", stdout.String())
			}
			if v := w.GitHub.Violations(); len(v) > 0 {
				t.Errorf("GitHub description violations: %v", v)
			}
		})
	}
}
