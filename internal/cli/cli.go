// Package cli is the deploy-action command: it parses the command line, wires the rooms together and
// is the one place where an error is printed and becomes an exit code.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/deploy"
	"github.com/pangeo-forge/deploy-action/internal/event"
	"github.com/pangeo-forge/deploy-action/internal/gh"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
	"github.com/pangeo-forge/deploy-action/internal/report"
	"github.com/pangeo-forge/deploy-action/internal/secrets"
)

// Exit codes.
const (
	ExitOK       = 0 // deployed, or deliberately skipped
	ExitFailure  = 1 // the deploy failed
	ExitBadInput = 2 // inputs, event or command line are wrong: nothing was changed
)

// Version is stamped at build time (-ldflags "-X .../internal/cli.Version=v1.2.3").
var Version = "dev"

// Env is everything the command takes from its process, injected so that tests drive it in-process.
type Env struct {
	Args       []string // without the program name
	Stdin      io.Reader
	Stdout     io.Writer
	Stderr     io.Writer
	Getenv     func(string) string
	HTTPClient *http.Client // for Heroku, GitHub and health checks; nil means a default client
}

// Main runs the command and returns its exit code.
func Main(ctx context.Context, env Env) int {
	if len(env.Args) > 0 {
		switch env.Args[0] {
		case "--version", "version":
			fmt.Fprintf(env.Stdout, "deploy-action %s\n", Version)
			return ExitOK
		case "-h", "--help", "help":
			fmt.Fprint(env.Stdout, usage)
			return ExitOK
		default:
			fmt.Fprintf(env.Stderr, "deploy-action: unknown command %q\n%s", env.Args[0], usage)
			return ExitBadInput
		}
	}
	return runAction(ctx, env)
}

const usage = `usage:
  deploy-action              run as the GitHub Action (inputs from INPUT_*, event from GITHUB_EVENT_PATH)
  deploy-action --version    print the version
`

// badInput marks errors found before anything was changed.
type badInput struct{ error }

func (e badInput) Unwrap() error { return e.error }

func runAction(ctx context.Context, env Env) int {
	log := report.New(env.Stdout, env.Getenv)
	cfg, err := config.Load(env.Getenv)
	if err != nil {
		log.Errorf("invalid inputs: %v", err)
		return ExitBadInput
	}
	// The credentials are masked before anything else can print them.
	log.Mask(cfg.HerokuAPIKey, cfg.GitHubToken)

	res, runErr := run(ctx, env, cfg, log)
	if res != nil {
		title := strings.ReplaceAll(cfg.CheckName, "{stage}", string(res.Stage))
		if err := log.SetOutputs(outputs(res)); err != nil {
			runErr = errors.Join(runErr, err)
		}
		if err := log.AddSummary(res.Markdown(title, runErr)); err != nil {
			log.Warningf("%v", err)
		}
	}
	if runErr != nil {
		log.Errorf("%v", runErr)
		var bad badInput
		if errors.As(runErr, &bad) {
			return ExitBadInput
		}
		return ExitFailure
	}
	return ExitOK
}

func run(ctx context.Context, env Env, cfg config.Config, log *report.Workflow) (*deploy.Result, error) {
	trigger, err := event.Load(cfg.GitHub.EventName, cfg.GitHub.EventPath)
	if err != nil {
		return nil, badInput{err}
	}
	p, err := plan.Resolve(cfg, trigger)
	if err != nil {
		return nil, badInput{err}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	httpClient := env.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	hk := heroku.New(heroku.Options{BaseURL: cfg.HerokuAPIURL, Token: cfg.HerokuAPIKey, HTTPClient: httpClient, UserAgent: "deploy-action/" + Version})
	runner := &deploy.Runner{
		Config: cfg,
		Heroku: hk,
		Log:    log,
		HTTP:   httpClient,
		Secrets: func(ctx context.Context, deployment string) (map[string]string, error) {
			dir := filepath.Join(cfg.GitHub.Workspace, cfg.SecretsDir)
			return secrets.Load(ctx, dir, deployment, secrets.Options{Getenv: env.Getenv})
		},
	}
	if cfg.GitHub.Repository != "" {
		client, err := gh.New(cfg.GitHub.APIURL, cfg.GitHubToken, cfg.GitHub.Repository, httpClient)
		if err != nil {
			return nil, badInput{err}
		}
		runner.GitHub = client
	}
	log.Infof("deploy-action %s: %s", Version, describe(p))
	return runner.Run(ctx, p)
}

func describe(p plan.Plan) string {
	switch {
	case p.Skip != "":
		return fmt.Sprintf("nothing to deploy (%s)", string(p.Stage))
	case p.PR != 0:
		return fmt.Sprintf("stage %s, deployment %s, pull request #%d at %s", p.Stage, p.Deployment, p.PR, p.Commit)
	case p.Commit != "":
		return fmt.Sprintf("stage %s, deployment %s, commit %s", p.Stage, p.Deployment, p.Commit)
	}
	return fmt.Sprintf("stage %s", p.Stage)
}

func outputs(res *deploy.Result) []report.Output {
	var out []report.Output
	for _, kv := range res.Outputs() {
		out = append(out, report.Output{Name: kv[0], Value: kv[1]})
	}
	return out
}
