package local_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/local"
	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest"
)

const helperEnv = "DEPLOY_ACTION_LOCAL_SIGNAL_HELPER"

// TestSignalHelperProcess is not a test: it is the command. "trap" waits for
// SIGTERM and exits 42; "wait" does not handle it and dies of it.
func TestSignalHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process for TestRunForwardsSignals")
	}
	if mode == "trap" {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		fmt.Println("ready")
		<-c
		os.Exit(42)
	}
	fmt.Println("ready")
	time.Sleep(time.Minute)
	os.Exit(0)
}

// TestRunForwardsSignals sends a signal to `deploy-action local` (through
// the injected subscription) once the command is up, and checks that the
// command got it and that its exit code is returned.
func TestRunForwardsSignals(t *testing.T) {
	t.Parallel()
	identity, recipient := sopstest.NewAgeKey(t)
	dir := t.TempDir()
	enc := sopstest.EncryptYAML(t, []byte("token: fake-signal-token\n"), sopstest.Options{Age: []string{recipient}})
	if err := os.WriteFile(filepath.Join(dir, "config.pforge-local-jane.yaml"), enc, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode string
		want int
	}{
		{"trap", 42},                         // the command handled it
		{"wait", 128 + int(syscall.SIGTERM)}, // the command died of it: 143, as a shell says
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			pr, pw := io.Pipe()
			subscribed := make(chan chan<- os.Signal, 1)
			done := make(chan int, 1)
			go func() {
				done <- local.Run(context.Background(), []string{"--user", "jane", "--secrets-dir", dir, "--", os.Args[0], "-test.run=^TestSignalHelperProcess$"}, local.Env{
					Stdin: strings.NewReader(""), Stdout: pw, Stderr: io.Discard,
					Getenv:  envMap{"SOPS_AGE_KEY": identity}.get,
					Environ: func() []string { return []string{helperEnv + "=" + tc.mode} },
					Signals: func(c chan<- os.Signal) func() { subscribed <- c; return func() {} },
				})
				pw.Close()
			}()
			line, err := bufio.NewReader(pr).ReadString('\n')
			if err != nil || line != "ready\n" {
				t.Fatalf("the command said %q, %v; want ready", line, err)
			}
			go io.Copy(io.Discard, pr)
			(<-subscribed) <- syscall.SIGTERM
			select {
			case code := <-done:
				if code != tc.want {
					t.Errorf("exit code %d, want %d", code, tc.want)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the command did not exit after SIGTERM: the signal was not forwarded")
			}
		})
	}
}

type envMap map[string]string

func (m envMap) get(k string) string { return m[k] }
