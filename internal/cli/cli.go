// Package cli is the deploy-action command: it parses the command line, wires the rooms together and
// is the one place where an error is printed and becomes an exit code.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/deploy"
	"github.com/pangeo-forge/deploy-action/internal/encryptcheck"
	"github.com/pangeo-forge/deploy-action/internal/event"
	"github.com/pangeo-forge/deploy-action/internal/gh"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/local"
	"github.com/pangeo-forge/deploy-action/internal/plan"
	"github.com/pangeo-forge/deploy-action/internal/report"
	"github.com/pangeo-forge/deploy-action/internal/secrets"
	"github.com/pangeo-forge/deploy-action/internal/workspace"
)

// Exit codes.
const (
	ExitOK       = 0 // deployed, or deliberately skipped
	ExitFailure  = 1 // the deploy failed
	ExitBadInput = 2 // inputs, event or command line are wrong: nothing was changed
	// ExitCancelled: the runner cancelled the job (SIGINT, then SIGTERM); 128 + SIGINT, as a shell
	// reports it.
	ExitCancelled = 130
)

// reportGrace bounds the reporting to GitHub once the run was cancelled or timed out: the runner
// kills the process a few seconds after its SIGINT, and the check run must be concluded by then.
const reportGrace = 3 * time.Second

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
	// Environ is the environment `deploy-action local` hands on to its command (os.Environ in main);
	// nil means only PATH, HOME, USER, LOGNAME, SHELL, TERM, LANG and TMPDIR from Getenv.
	Environ func() []string
	// HerokuOptions, when set, adjusts the Heroku client's options once the action has set them:
	// tests shorten its polls and rate-limit backoffs to match their test server. nil in main.
	HerokuOptions func(*heroku.Options)
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
		case "local":
			return local.Run(ctx, env.Args[1:], local.Env{
				Stdin: env.Stdin, Stdout: env.Stdout, Stderr: env.Stderr,
				Getenv: env.Getenv, Environ: env.Environ, HTTPClient: env.HTTPClient,
			})
		case "check-secrets":
			return encryptcheck.Command(ctx, env.Args[1:], encryptcheck.Env{
				Stdout: env.Stdout, Stderr: env.Stderr, Getenv: env.Getenv, HTTPClient: env.HTTPClient,
			})
		default:
			fmt.Fprintf(env.Stderr, "deploy-action: unknown command %q\n%s", env.Args[0], usage)
			return ExitBadInput
		}
	}
	return runAction(ctx, env)
}

const usage = `usage:
  deploy-action              run as the GitHub Action (inputs from INPUT_*, event from GITHUB_EVENT_PATH)
  deploy-action local [--user NAME] -- COMMAND [ARGS...]
                             run COMMAND with a local deployment's decrypted config in its environment
  deploy-action check-secrets [--verify-mac] [PATHS...]
                             check that every secrets file is SOPS-encrypted (the pre-commit hook)
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

	res, checkRunID, scrub, runErr := run(ctx, env, cfg, log)
	log.EndStream() // commands are processed again, whatever the run streamed last
	if res != nil {
		title := strings.Trim(strings.ReplaceAll(cfg.CheckName, "{stage}", string(res.Stage)), "/-_ ")
		if err := log.SetOutputs(outputs(res, checkRunID)); err != nil {
			runErr = errors.Join(runErr, err)
		}
		// The job summary is not masked by the runner: it is scrubbed like all text for GitHub.
		if err := log.AddSummary(scrub(res.Markdown(title, runErr))); err != nil {
			log.Warningf("%v", err)
		}
	}
	if runErr != nil {
		log.Errorf("%v", runErr)
		var bad badInput
		if errors.As(runErr, &bad) {
			return ExitBadInput
		}
		if errors.Is(runErr, context.Canceled) && ctx.Err() != nil {
			return ExitCancelled
		}
		return ExitFailure
	}
	return ExitOK
}

// run performs the plan; it also returns the ID of the check run reporting it (0 when none) and the
// scrubber of text bound for GitHub (deploy.Runner.Scrub).
func run(ctx context.Context, env Env, cfg config.Config, log *report.Workflow) (*deploy.Result, int64, func(string) string, error) {
	noScrub := func(s string) string { return s } // nothing is decrypted before the runner exists
	trigger, err := event.Load(cfg.GitHub.EventName, cfg.GitHub.EventPath)
	if err != nil {
		return nil, 0, noScrub, badInput{err}
	}
	p, err := plan.Resolve(cfg, trigger)
	if err != nil {
		return nil, 0, noScrub, badInput{err}
	}
	// app_dir and secrets_dir were checked as text; a symlink on the way must not lead out of
	// the workspace either. Refused here, before anything is read or sent.
	appDir, err := workspace.Resolve(cfg.GitHub.Workspace, cfg.AppDir)
	if err != nil {
		return nil, 0, noScrub, badInput{fmt.Errorf("input %q: %w", "app_dir", err)}
	}
	secretsDir, err := workspace.Resolve(cfg.GitHub.Workspace, cfg.SecretsDir)
	if err != nil {
		return nil, 0, noScrub, badInput{fmt.Errorf("input %q: %w", "secrets_dir", err)}
	}
	signalled := ctx // done when the runner cancels the job
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	httpClient := env.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	hopt := heroku.Options{
		BaseURL: cfg.HerokuAPIURL, Token: cfg.HerokuAPIKey, HTTPClient: httpClient, UserAgent: "deploy-action/" + Version,
		// The account's rate limit slows a run down, never fails it while time is left: requests
		// wait for tokens until only timeout_reserve is left of timeout.
		RateLimit: heroku.RateLimit{Reserve: cfg.TimeoutReserve, OnWait: func(waited time.Duration) {
			if waited < time.Second {
				log.Infof("Heroku's rate limit is exhausted on this account; waiting for it to refill (at most until only timeout_reserve, %s, is left of timeout)", cfg.TimeoutReserve)
				return
			}
			log.Infof("Heroku's rate limit is exhausted on this account; waiting, %d s so far", int(waited.Seconds()))
		}},
	}
	if env.HerokuOptions != nil {
		env.HerokuOptions(&hopt)
	}
	hk := heroku.New(hopt)
	runner := &deploy.Runner{
		Config:          cfg,
		Heroku:          hk,
		Log:             log,
		HTTP:            httpClient,
		AppDir:          appDir,
		SecretsDir:      secretsDir,
		RateLimitWaited: hk.RateLimitWaited,
		Secrets: func(ctx context.Context, deployment string) (secrets.Vars, error) {
			return secrets.LoadVars(ctx, secretsDir.Path, deployment, secrets.Options{Getenv: env.Getenv})
		},
		SecretsFrom: func(ctx context.Context, path string, data []byte) (secrets.Vars, error) {
			return secrets.DecryptVars(ctx, path, data, secrets.Options{Getenv: env.Getenv})
		},
	}
	var client *gh.Client
	if cfg.GitHub.Repository != "" {
		if client, err = gh.New(cfg.GitHub.APIURL, cfg.GitHubToken, cfg.GitHub.Repository, httpClient); err != nil {
			return nil, 0, noScrub, badInput{err}
		}
		runner.GitHub = client
		if cfg.GitHubToken != "" {
			runner.MaintenanceRecords = client // records need a token: GitHub refuses writes without one
		}
		runner.Approvals = client
	}
	log.Infof("deploy-action %s: %s", Version, describe(p))
	// A /deploy-review comment is checked with GitHub before anything is reported or read: who wrote
	// it, and whether it names the pull request's head. A refusal changes nothing (exit 2).
	if p, err = runner.Approve(ctx, p, trigger); err != nil {
		var refused *deploy.Refusal
		if errors.As(err, &refused) {
			return nil, 0, noScrub, badInput{err}
		}
		return nil, 0, noScrub, err
	}
	if cfg.GitHubToken == "" && cfg.GitHub.Repository != "" {
		// Said first: what works without a token, and on a private repository nothing is changed.
		msg, refuse := noToken(deploy.GitHubReads(p, cfg), trigger.Private)
		if refuse {
			return nil, 0, noScrub, badInput{errors.New(msg)}
		}
		log.Warningf("%s", msg)
	}

	// Reporting to GitHub (check run, deployment, PR comment): it warns, and never changes the result.
	reporter := gh.NewReporter(gh.ReporterOptions{
		Client: reportingClient(cfg, client), Off: reportingOff(cfg),
		Config: cfg, Trigger: trigger, Log: log, Scrub: runner.Scrub,
	})
	reporter.Start(ctx, p)
	runner.OnPhase = reporter.Progress
	if cfg.HerokuCI {
		// The Heroku CI test run before a deploy gets its own check run (check_name with {stage} =
		// test), as Heroku CI's own had. Off is left empty: the main reporter already warns.
		runner.TestReport = gh.NewReporter(gh.ReporterOptions{
			Client: reportingClient(cfg, client), Config: cfg, Trigger: trigger, Log: log, Scrub: runner.Scrub,
		})
	}
	res, err := runner.Run(ctx, p)
	if waited := hk.RateLimitWaited(); waited > 0 && res != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("Heroku's rate limit was exhausted on this account: requests waited %s in all for it to refill (other jobs or tools share its 4500 tokens an hour)", waited.Round(time.Second)))
	}
	err = stopped(signalled, ctx, cfg.Timeout, res, err)
	// A cancelled or expired context would fail every request: the check run is concluded with a
	// fresh, short one instead.
	reportCtx := ctx
	if ctx.Err() != nil {
		var cancelReport context.CancelFunc
		reportCtx, cancelReport = context.WithTimeout(context.WithoutCancel(ctx), reportGrace)
		defer cancelReport()
	}
	reporter.Finish(reportCtx, res, err)
	return res, reporter.CheckRunID(), runner.Scrub, err
}

// stopped turns the error of a run that was cut short into one that says so: cancelled by the
// runner (wrapping context.Canceled) or past the timeout input (wrapping context.DeadlineExceeded),
// and how far it got. The GitHub check run is concluded "cancelled" or "timed_out" from it.
func stopped(signalled, ctx context.Context, timeout time.Duration, res *deploy.Result, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	where := ""
	if res != nil && len(res.Phases) > 0 {
		// A phase is recorded when it ends, so the last one is the phase the run stopped in.
		last := len(res.Phases) - 1
		where = " during the " + res.Phases[last].Name + " phase"
		if last > 0 {
			var done []string
			for _, ph := range res.Phases[:last] {
				done = append(done, ph.Name)
			}
			where += " (done: " + strings.Join(done, ", ") + ")"
		}
	}
	after := ""
	if res != nil && res.Running != "" {
		after = "; " + res.Running // what the app runs now: a rollback requested, the previous release
	}
	if signalled.Err() != nil {
		return fmt.Errorf("the run was cancelled%s: the runner stopped the job (SIGINT or SIGTERM)%s: %w", where, after, context.Canceled)
	}
	return fmt.Errorf("the run took longer than the timeout input (%s) and was stopped%s; raise timeout or look into the slow phase%s: %w", timeout, where, after, context.DeadlineExceeded)
}

// reportingClient is the client for check runs, deployments and comments: none without a token.
func reportingClient(cfg config.Config, client *gh.Client) *gh.Client {
	if cfg.GitHubToken == "" {
		return nil
	}
	return client
}

// reportingOff says why nothing is reported to GitHub, "" when it is or when run has said it
// already (an empty github_token: noToken).
func reportingOff(cfg config.Config) string {
	if cfg.GitHub.Repository == "" {
		return "GITHUB_REPOSITORY is not set: no check run, deployment or comment is reported to GitHub"
	}
	return ""
}

// noToken is what an empty github_token means for this run: nothing is reported to GitHub, and the
// GitHub reads the run makes (reads) go out without a token, which GitHub answers for a public
// repository only (404 for a private one: REST API docs, Troubleshooting). refuse is set when the
// repository is private and the run needs a read: it must then stop before changing anything.
func noToken(reads []string, private bool) (msg string, refuse bool) {
	const fix = "pass github_token: ${{ github.token }} (the default) or another token with the permissions of docs/github.md"
	msg = "the github_token input is empty: no check run, deployment or comment is reported to GitHub"
	switch {
	case len(reads) == 0:
		return msg + ", and this run reads nothing from GitHub; " + fix, false
	case private:
		return msg + ", and this run needs GitHub reads that a private repository refuses without a token (GitHub answers 404): " +
			strings.Join(reads, "; ") + ". Nothing was changed: " + fix, true
	}
	return msg + "; this run's GitHub reads go out without a token, which works on a public repository only: " +
		strings.Join(reads, "; ") + "; " + fix, false
}

func describe(p plan.Plan) string {
	switch {
	case p.Skip != "":
		return fmt.Sprintf("nothing to deploy (%s)", string(p.Stage))
	case p.Approval != nil:
		return fmt.Sprintf("stage %s, pull request #%d: checking the %s comment of @%s", p.Stage, p.PR, plan.Command, p.Approval.By)
	case p.Deployment == "" && p.Commit != "": // check-secrets, test: no deployment
		return fmt.Sprintf("stage %s, commit %s", p.Stage, p.Commit)
	case p.PR != 0 && p.Commit != "":
		return fmt.Sprintf("stage %s, deployment %s, pull request #%d at %s", p.Stage, p.Deployment, p.PR, p.Commit)
	case p.PR != 0:
		return fmt.Sprintf("stage %s, deployment %s, pull request #%d", p.Stage, p.Deployment, p.PR)
	case p.Commit != "":
		return fmt.Sprintf("stage %s, deployment %s, commit %s", p.Stage, p.Deployment, p.Commit)
	}
	return fmt.Sprintf("stage %s", p.Stage)
}

func outputs(res *deploy.Result, checkRunID int64) []report.Output {
	var out []report.Output
	for _, kv := range res.Outputs() {
		if kv[0] == "deployed" { // check_run_id goes before deployed, as action.yml lists them
			id := ""
			if checkRunID != 0 {
				id = strconv.FormatInt(checkRunID, 10)
			}
			out = append(out, report.Output{Name: "check_run_id", Value: id})
		}
		out = append(out, report.Output{Name: kv[0], Value: kv[1]})
	}
	return out
}
