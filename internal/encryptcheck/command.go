package encryptcheck

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"

	"github.com/pangeo-forge/deploy-action/internal/secrets"
)

// Env is what the check-secrets command takes from its process (the fields
// of cli.Env it uses).
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string // the key material, for --verify-mac
	HTTPClient     *http.Client        // KMS; nil means a default client
}

// Exit codes of the command.
const (
	ExitOK       = 0
	ExitProblems = 1 // some file is not (soundly) encrypted
	ExitUsage    = 2
)

const usage = `usage: deploy-action check-secrets [--verify-mac] [--secrets-dir DIR] [PATHS...]

Checks that every file under the secrets directory (or each file or directory
given, as pre-commit passes them) is a SOPS-encrypted .yaml, .yml or .json
file: sops metadata with a version, a MAC and keys, and every value encrypted
except where the file's own sops rules say otherwise. With --verify-mac each
file is also decrypted in memory with the keys in the environment
(SOPS_AGE_KEY, AWS or GCP credentials) and its MAC verified.
One line per problem, "path: what is wrong — what to do"; exit 1 if any.

flags:
`

// Command runs `deploy-action check-secrets args...` and returns its exit
// code. Nothing it prints is a workflow command: it runs in pre-commit and on
// developers' terminals.
func Command(ctx context.Context, args []string, env Env) int {
	fs := flag.NewFlagSet("check-secrets", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	verify := fs.Bool("verify-mac", false, "decrypt each file in memory and verify its MAC (needs the keys)")
	dir := fs.String("secrets-dir", "secrets", "the directory to check when no PATHS are given")
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{*dir}
	}
	getenv := env.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	rep, err := Check(ctx, "", paths, Options{VerifyMAC: *verify, Secrets: secrets.Options{Getenv: getenv, HTTPClient: env.HTTPClient}})
	if err != nil {
		fmt.Fprintf(env.Stderr, "check-secrets: %v\n", err)
		return ExitProblems
	}
	for _, f := range rep.Findings {
		fmt.Fprintln(env.Stdout, f.String())
	}
	fmt.Fprintln(env.Stdout, rep.Summary())
	if !rep.OK() {
		return ExitProblems
	}
	return ExitOK
}
