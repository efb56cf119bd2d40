// Command deploy-action is the GitHub Action that deploys a Heroku pipeline; see README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pangeo-forge/deploy-action/internal/cli"
)

func main() {
	// The runner sends SIGINT when a job is cancelled, then SIGTERM.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.Env{
		Args: os.Args[1:], Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv,
		Environ: os.Environ,
	})
	stop()
	os.Exit(code)
}
