// Package local is the `deploy-action local` command: a developer's way to run
// the app (or anything) with a local deployment's config, as `sops exec-env`
// does. It decrypts secrets/config.pforge-local-<user>.yaml in memory,
// flattens it into config var names exactly as the action does for Heroku,
// adds the deployment var, and runs the command with those variables added to
// its environment. stdin, stdout and stderr are the command's; signals are
// forwarded to it; the command's exit code is returned.
//
// The plaintext never touches disk and is never printed. On a terminal a
// workflow command such as ::add-mask:: would print the very secret it is
// meant to hide, so outside GitHub Actions nothing here writes one. Inside
// Actions (GITHUB_ACTIONS=true) the command's output goes to the job log, so
// every value is masked there first, as the action masks them (see
// maskForActions).
package local

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/plan"
	"github.com/pangeo-forge/deploy-action/internal/report"
	"github.com/pangeo-forge/deploy-action/internal/secrets"
)

// Env is what the command takes from its process (cli.Env's fields, plus
// the two a child process needs).
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Environ is the environment the command inherits, before the secrets
	// are added. Nil means only PATH, HOME, USER, LOGNAME, SHELL, TERM,
	// LANG and TMPDIR, taken from Getenv.
	Environ    func() []string
	HTTPClient *http.Client // KMS; nil means a default client
	// Signals subscribes c to the signals to forward to the command and
	// returns a function that ends the subscription. Nil means the
	// process's own (see processSignals).
	Signals func(c chan<- os.Signal) (stop func())
}

// Exit codes of the command itself; otherwise the exit code is the command's.
const (
	ExitFailure  = 1   // the secrets could not be decrypted
	ExitUsage    = 2   // bad command line
	ExitNotExec  = 126 // the command is not executable (as a shell says it)
	ExitNotFound = 127 // the command is not in PATH
)

const usage = `usage: deploy-action local [--user NAME] [--secrets-dir DIR] [--name TEMPLATE] [--deployment-var NAME] -- COMMAND [ARGS...]

Decrypts the local deployment's secrets file, DIR/config.<name>.yaml, where
<name> is TEMPLATE with {user} replaced (default pforge-local-{user}; the user
is --user, else GITHUB_ACTOR, else USER), and runs COMMAND with its values as
environment variables (github_app.private_key becomes GITHUB_APP_PRIVATE_KEY)
plus NAME=<name>. The keys come from the environment: SOPS_AGE_KEY,
SOPS_AGE_KEY_FILE or ~/.config/sops/age/keys.txt, AWS or GCP credentials.
Nothing is written to disk; the exit code is COMMAND's.

flags:
`

// Run runs `deploy-action local args...` and returns the exit code.
func Run(ctx context.Context, args []string, env Env) int {
	getenv := env.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(env.Stderr, "deploy-action local: "+format+"\n", a...)
		return code
	}

	fset := flag.NewFlagSet("local", flag.ContinueOnError)
	fset.SetOutput(env.Stderr)
	user := fset.String("user", "", "the {user} of the name template (default: GITHUB_ACTOR, else USER)")
	dir := fset.String("secrets-dir", config.DefaultSecretsDir, "the directory of the config.<name>.yaml files")
	template := fset.String("name", config.DefaultLocalName, "the deployment name template (the action's local_name input)")
	depVar := fset.String("deployment-var", config.DefaultDeploymentVar, "the variable that tells the app its deployment name")
	fset.Usage = func() {
		fmt.Fprint(env.Stderr, usage)
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return ExitUsage
	}
	command := fset.Args()
	if len(command) == 0 {
		fset.Usage()
		return fail(ExitUsage, "no command to run: give it after --, e.g. deploy-action local -- uvicorn app.main:app")
	}

	who := firstNonEmpty(*user, getenv("GITHUB_ACTOR"), getenv("USER"))
	if who == "" {
		return fail(ExitUsage, "no user for the {user} of %q: pass --user NAME (neither GITHUB_ACTOR nor USER is set)", *template)
	}
	name, err := plan.Name(*template, map[string]string{"user": who})
	if err != nil {
		return fail(ExitUsage, "%v", err)
	}

	vars, err := secrets.Load(ctx, *dir, name, secrets.Options{Getenv: getenv, HTTPClient: env.HTTPClient})
	if err != nil {
		return fail(ExitFailure, "%v", err)
	}
	if _, taken := vars[*depVar]; taken {
		return fail(ExitFailure, "the secrets file of %s sets %s, which deploy-action sets to the deployment name: remove it from the file or pass another --deployment-var", name, *depVar)
	}
	path, code, err := lookPath(command[0], getenv("PATH"))
	if err != nil {
		return fail(code, "%v", err)
	}
	if getenv("GITHUB_ACTIONS") == "true" {
		if err := maskForActions(env.Stdout, env.Stderr, getenv, vars); err != nil {
			return fail(ExitFailure, "%v", err)
		}
	}
	vars[*depVar] = name

	cmd := exec.Command(path, command[1:]...)
	cmd.Args[0] = command[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = env.Stdin, env.Stdout, env.Stderr
	cmd.Env = environ(env, getenv, vars)
	return runForwarding(cmd, env, fail)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// environ is the inherited environment with the secrets appended: for a
// duplicate name the last entry wins, so the file's values override.
func environ(env Env, getenv func(string) string, vars map[string]string) []string {
	var base []string
	if env.Environ != nil {
		base = env.Environ()
	} else {
		for _, k := range []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "TMPDIR"} {
			if v := getenv(k); v != "" {
				base = append(base, k+"="+v)
			}
		}
	}
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	out := append([]string(nil), base...)
	for _, k := range names {
		out = append(out, k+"="+vars[k])
	}
	return out
}

// lookPath finds the command in the given PATH (not the process's: the
// environment is injected), with a shell's exit codes for failures.
func lookPath(file, pathEnv string) (string, int, error) {
	check := func(p string) error {
		info, err := os.Stat(p)
		if err != nil {
			return err
		}
		if info.IsDir() || info.Mode()&0o111 == 0 {
			return fs.ErrPermission
		}
		return nil
	}
	if strings.Contains(file, "/") {
		switch err := check(file); {
		case err == nil:
			return file, 0, nil
		case errors.Is(err, fs.ErrNotExist):
			return "", ExitNotFound, fmt.Errorf("%s: no such file", file)
		default:
			return "", ExitNotExec, fmt.Errorf("%s: not an executable file", file)
		}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "." // as a shell reads an empty PATH entry
		}
		p := filepath.Join(dir, file)
		if check(p) == nil {
			if !filepath.IsAbs(p) {
				p = "." + string(filepath.Separator) + p
			}
			return p, 0, nil
		}
	}
	return "", ExitNotFound, fmt.Errorf("%s: command not found in PATH", file)
}

// runForwarding starts cmd, forwards signals to it until it exits, and
// returns its exit code (128 + the signal's number when a signal ended it,
// as shells report it).
func runForwarding(cmd *exec.Cmd, env Env, fail func(int, string, ...any) int) int {
	subscribe := env.Signals
	if subscribe == nil {
		subscribe = processSignals
	}
	sigs := make(chan os.Signal, 8)
	stop := subscribe(sigs)
	defer stop()
	if err := cmd.Start(); err != nil {
		return fail(ExitNotExec, "cannot run %s: %v", cmd.Args[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			// The command decides what a signal means; this process only
			// exits when it does, with its code.
			_ = cmd.Process.Signal(s)
		case err := <-done:
			return exitCode(cmd, err, fail)
		}
	}
}

func exitCode(cmd *exec.Cmd, err error, fail func(int, string, ...any) int) int {
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return fail(ExitFailure, "running %s: %v", cmd.Args[0], err)
		}
	}
	return cmd.ProcessState.ExitCode()
}

// maskForActions tells the runner to mask every value (each line of a
// multi-line one, as the action does: secrets.MaskLines through
// report.Workflow.Mask) before the command starts, so that nothing the
// command prints shows a value in the job log.
//
// The runner reads workflow commands from both stdout and stderr of a step.
// A stream redirected into a file is not the log: an ::add-mask:: line
// written there would put the value itself into the file and mask nothing.
// So the masks go to stdout when it is the log, else to stderr when that is;
// when both go to files (or the null device) there is no log to mask in and
// the command is not started.
func maskForActions(stdout, stderr io.Writer, getenv func(string) string, vars map[string]string) error {
	out := stdout
	if !isLog(out) {
		out = stderr
	}
	if !isLog(out) {
		return errors.New("inside GitHub Actions the values must be masked in the job log before the command runs, but stdout and stderr both go to files: leave stderr to the job log (drop the 2> redirection)")
	}
	log := report.New(out, getenv)
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		log.Mask(secrets.MaskLines(vars[k])...)
	}
	return nil
}

// isLog reports whether w can be the job log: not a regular file nor the null
// device (the runner gives a step pipes). A writer that is not a file (a test's
// buffer) counts as the log.
func isLog(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return w != nil
	}
	info, err := f.Stat()
	if err != nil {
		return false
	}
	if info.Mode().IsRegular() {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(info, null) {
		return false
	}
	return true
}
