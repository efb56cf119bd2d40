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
	// The runner sends SIGINT when a job is cancelled, then SIGTERM. The first cancels the run, which
	// still concludes its check run; after it, signals have their default effect again, so a second
	// one ends the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	code := cli.Main(ctx, cli.Env{
		Args: os.Args[1:], Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv,
		Environ: os.Environ,
	})
	stop()
	os.Exit(code)
}
