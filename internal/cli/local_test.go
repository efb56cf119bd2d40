package cli_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pangeo-forge/deploy-action/internal/cli"
	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest"
)

// helperEnv marks the test binary re-executed as the command of
// `deploy-action local`.
const helperEnv = "DEPLOY_ACTION_LOCAL_HELPER"

// TestLocalHelperProcess is not a test: it is the child process. It prints,
// for each variable named in its arguments, the SHA-256 of its value (so the
// test can check the values without any being printed), echoes stdin's
// length, and exits with the code given after "exit".
func TestLocalHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for TestLocal")
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	code := 0
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "exit":
			code, _ = strconv.Atoi(args[i+1])
			i++
		case "stdin":
			b, _ := io.ReadAll(os.Stdin)
			fmt.Printf("stdin %d bytes\n", len(b))
		default:
			v, ok := os.LookupEnv(args[i])
			fmt.Printf("%s set=%v sha256=%x\n", args[i], ok, sha256.Sum256([]byte(v)))
		}
	}
	os.Exit(code)
}

func TestLocal(t *testing.T) {
	t.Parallel()
	identity, recipient := sopstest.NewAgeKey(t)
	root := t.TempDir()
	dir := filepath.Join(root, "secrets")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	plain := "fastapi:\n  PANGEO_FORGE_API_KEY: fake-local-key-0d1e\ngithub_app:\n  private_key: |\n    -----BEGIN FAKE KEY-----\n    fakelocalline2\n    -----END FAKE KEY-----\n"
	for _, user := range []string{"jane", "octocat"} {
		enc := sopstest.EncryptYAML(t, []byte(plain), sopstest.Options{Age: []string{recipient}})
		if err := os.WriteFile(filepath.Join(dir, "config.pforge-local-"+user+".yaml"), enc, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	values := map[string]string{
		"FASTAPI_PANGEO_FORGE_API_KEY": "fake-local-key-0d1e",
		"GITHUB_APP_PRIVATE_KEY":       "-----BEGIN FAKE KEY-----\nfakelocalline2\n-----END FAKE KEY-----\n",
	}
	hash := func(name, v string) string {
		return fmt.Sprintf("%s set=true sha256=%x", name, sha256.Sum256([]byte(v)))
	}
	self := []string{os.Args[0], "-test.run=^TestLocalHelperProcess$", "--"}

	tests := []struct {
		name       string
		args       []string // after "local"; "CMD" expands to the helper process
		env        map[string]string
		stdin      string
		wantCode   int
		wantStdout []string
		wantStderr []string // substrings
	}{
		{
			name:     "the command sees every var and the deployment var; nothing is printed",
			args:     []string{"--secrets-dir", dir, "--", "CMD", "FASTAPI_PANGEO_FORGE_API_KEY", "GITHUB_APP_PRIVATE_KEY", "PANGEO_FORGE_DEPLOYMENT", "INHERITED"},
			env:      map[string]string{"USER": "jane"},
			wantCode: 0,
			wantStdout: []string{
				hash("FASTAPI_PANGEO_FORGE_API_KEY", values["FASTAPI_PANGEO_FORGE_API_KEY"]),
				hash("GITHUB_APP_PRIVATE_KEY", values["GITHUB_APP_PRIVATE_KEY"]),
				hash("PANGEO_FORGE_DEPLOYMENT", "pforge-local-jane"),
				hash("INHERITED", "from-parent"),
			},
		},
		{
			name:       "GITHUB_ACTOR comes before USER, and --deployment-var renames the var",
			args:       []string{"--secrets-dir", dir, "--deployment-var", "APP_DEPLOYMENT", "--", "CMD", "APP_DEPLOYMENT"},
			env:        map[string]string{"USER": "jane", "GITHUB_ACTOR": "OctoCat"},
			wantStdout: []string{hash("APP_DEPLOYMENT", "pforge-local-octocat")},
		},
		{
			name:       "--user comes first",
			args:       []string{"--user", "jane", "--secrets-dir", dir, "--", "CMD", "PANGEO_FORGE_DEPLOYMENT"},
			env:        map[string]string{"USER": "octocat", "GITHUB_ACTOR": "octocat"},
			wantStdout: []string{hash("PANGEO_FORGE_DEPLOYMENT", "pforge-local-jane")},
		},
		{
			name:       "stdin is the command's and its exit code is returned",
			args:       []string{"--secrets-dir", dir, "--", "CMD", "stdin", "exit", "7"},
			env:        map[string]string{"USER": "jane"},
			stdin:      "hello from the terminal\n",
			wantCode:   7,
			wantStdout: []string{"stdin 24 bytes"},
		},
		{
			name:       "no secrets file for the user",
			args:       []string{"--secrets-dir", dir, "--", "CMD"},
			env:        map[string]string{"USER": "nobody"},
			wantCode:   1,
			wantStderr: []string{"deploy-action local: ", "config.pforge-local-nobody.yaml does not exist", "sops --encrypt"},
		},
		{
			name:       "the wrong key names the recipient",
			args:       []string{"--secrets-dir", dir, "--", "CMD"},
			env:        map[string]string{"USER": "jane", "SOPS_AGE_KEY": "-"},
			wantCode:   1,
			wantStderr: []string{"SOPS_AGE_KEY line 1 is not an age identity"},
		},
		{
			name:       "no command",
			args:       []string{"--secrets-dir", dir},
			env:        map[string]string{"USER": "jane"},
			wantCode:   2,
			wantStderr: []string{"usage: deploy-action local", "no command to run"},
		},
		{
			name:       "a command that is not in PATH",
			args:       []string{"--secrets-dir", dir, "--", "no-such-command-deploy-action"},
			env:        map[string]string{"USER": "jane", "PATH": t.TempDir()},
			wantCode:   127,
			wantStderr: []string{"no-such-command-deploy-action: command not found in PATH"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Outside Actions (a terminal): no workflow command is ever printed.
			getenv := map[string]string{"SOPS_AGE_KEY": identity}
			for k, v := range tc.env {
				getenv[k] = v
			}
			var args []string
			for _, a := range tc.args {
				if a == "CMD" {
					args = append(args, self...)
				} else {
					args = append(args, a)
				}
			}
			var stdout, stderr bytes.Buffer
			code := cli.Main(context.Background(), cli.Env{
				Args:    append([]string{"local"}, args...),
				Stdin:   strings.NewReader(tc.stdin),
				Stdout:  &stdout,
				Stderr:  &stderr,
				Getenv:  func(k string) string { return getenv[k] },
				Environ: func() []string { return []string{helperEnv + "=1", "INHERITED=from-parent"} },
			})
			t.Logf("stderr: %s", stderr.String())
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			if tc.wantStdout != nil {
				got := strings.Split(strings.TrimSpace(stdout.String()), "\n")
				sort.Strings(got)
				want := append([]string(nil), tc.wantStdout...)
				sort.Strings(want)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("what the command saw (-want +got):\n%s", diff)
				}
			}
			for _, s := range tc.wantStderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr %q does not contain %q", stderr.String(), s)
				}
			}
			out := stdout.String() + stderr.String()
			for _, v := range []string{"fake-local-key-0d1e", "fakelocalline2", identity} {
				if strings.Contains(out, v) {
					t.Errorf("the output holds the secret %q", v)
				}
			}
			if strings.Contains(out, "::") {
				t.Errorf("the output holds a workflow command:\n%s", out)
			}
		})
	}
}

// TestLocalMasksInActions: inside GitHub Actions, `deploy-action local` masks every value (each
// line of a multi-line one) in the job log before the command starts: on stdout when stdout is the
// log, on stderr when stdout was redirected into a file (an ::add-mask:: line in the file would
// write the value into it), and not at all, refusing to start the command, when both go to files.
func TestLocalMasksInActions(t *testing.T) {
	t.Parallel()
	identity, recipient := sopstest.NewAgeKey(t)
	dir := filepath.Join(t.TempDir(), "secrets")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	plain := "api_key: fake-actions-key-5e2\ngithub_app:\n  private_key: |\n    -----BEGIN FAKE KEY-----\n    fakeactionsline2\n    -----END FAKE KEY-----\n"
	if err := os.WriteFile(filepath.Join(dir, "config.pforge-local-jane.yaml"), sopstest.EncryptYAML(t, []byte(plain), sopstest.Options{Age: []string{recipient}}), 0o600); err != nil {
		t.Fatal(err)
	}
	masks := []string{
		"::add-mask::-----BEGIN FAKE KEY-----", "::add-mask::-----END FAKE KEY-----",
		"::add-mask::fake-actions-key-5e2", "::add-mask::fakeactionsline2",
	}
	values := []string{"fake-actions-key-5e2", "fakeactionsline2", "BEGIN FAKE KEY"}
	args := []string{"local", "--user", "jane", "--secrets-dir", dir, "--", os.Args[0], "-test.run=^TestLocalHelperProcess$", "--", "API_KEY"}
	file := func(t *testing.T) *os.File {
		f, err := os.Create(filepath.Join(t.TempDir(), "redirected"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	read := func(w io.Writer) string {
		switch w := w.(type) {
		case *bytes.Buffer:
			return w.String()
		case *os.File:
			b, err := os.ReadFile(w.Name())
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		return ""
	}
	commandSaw := "API_KEY set=true"

	tests := []struct {
		name           string
		actions        bool
		stdoutToFile   bool
		stderrToFile   bool
		wantCode       int
		masksOn        string // "stdout", "stderr" or "" (none anywhere)
		wantCommandRan bool
		wantStderr     string
	}{
		{name: "stdout is the log", actions: true, masksOn: "stdout", wantCommandRan: true},
		{name: "stdout redirected into a file: masks on stderr", actions: true, stdoutToFile: true, masksOn: "stderr", wantCommandRan: true},
		{name: "both redirected: refused", actions: true, stdoutToFile: true, stderrToFile: true, wantCode: 1, wantStderr: "stdout and stderr both go to files"},
		{name: "outside Actions: no workflow command", actions: false, wantCommandRan: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			getenv := map[string]string{"SOPS_AGE_KEY": identity}
			if tc.actions {
				getenv["GITHUB_ACTIONS"] = "true"
			}
			var stdout, stderr io.Writer = &bytes.Buffer{}, &bytes.Buffer{}
			if tc.stdoutToFile {
				stdout = file(t)
			}
			if tc.stderrToFile {
				stderr = file(t)
			}
			code := cli.Main(context.Background(), cli.Env{
				Args: args, Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr,
				Getenv:  func(k string) string { return getenv[k] },
				Environ: func() []string { return []string{helperEnv + "=1"} },
			})
			out, errOut := read(stdout), read(stderr)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, out, errOut)
			}
			if ran := strings.Contains(out, commandSaw); ran != tc.wantCommandRan {
				t.Errorf("the command ran: %v, want %v\nstdout: %s", ran, tc.wantCommandRan, out)
			}
			if tc.wantStderr != "" && !strings.Contains(errOut, tc.wantStderr) {
				t.Errorf("stderr %q lacks %q", errOut, tc.wantStderr)
			}
			streams := map[string]string{"stdout": out, "stderr": errOut}
			for name, text := range streams {
				if name == tc.masksOn {
					lines := strings.Split(text, "\n")
					if len(lines) <= len(masks) {
						t.Fatalf("%s has %d lines, want the %d masks and then the command's output:\n%s", name, len(lines), len(masks), text)
					}
					got := append([]string(nil), lines[:len(masks)]...)
					sort.Strings(got)
					if diff := cmp.Diff(masks, got); diff != "" {
						t.Errorf("%s does not start with the masks (-want +got):\n%s\n%s", name, diff, text)
					}
					if name == "stdout" && !strings.HasPrefix(lines[len(masks)], commandSaw) {
						t.Errorf("the command printed before the masks were all out:\n%s", text)
					}
					if strings.Contains(text, "::add-mask::pforge-local-jane") {
						t.Errorf("the deployment name was masked:\n%s", text)
					}
					continue
				}
				if strings.Contains(text, "::") {
					t.Errorf("%s holds a workflow command:\n%s", name, text)
				}
				for _, v := range values {
					if strings.Contains(text, v) {
						t.Errorf("%s holds the value %q:\n%s", name, v, text)
					}
				}
			}
		})
	}
}
