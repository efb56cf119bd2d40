// Package config turns the action's inputs (INPUT_*) and the runner's
// GITHUB_* variables into a typed, validated Config. It reads nothing but the
// getenv function it is given, so tests drive it with a map.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/source"
	"github.com/sethvargo/go-githubactions"
)

// Stages returns the values the stage input accepts, in the order error
// messages list them (a new slice: callers may not change the accepted set).
func Stages() []string {
	return []string{"auto", "review", "staging", "prod", "test", "teardown", "check-secrets", "rollback", "approve"}
}

// Review modes accepted by the review_mode input.
const (
	ReviewModeReviewApp = "review-app"
	ReviewModeAppSetup  = "app-setup"
)

// Maintenance modes accepted by the maintenance input: when a staging or prod deploy puts the app
// into Heroku's maintenance mode (deploy.Runner, maintenance.go).
const (
	MaintenanceNever      = "never"      // the action never reads or changes maintenance mode
	MaintenanceMigrations = "migrations" // around a release that runs a release phase
	MaintenanceAlways     = "always"     // around every build or promotion
)

// MaintenanceModes returns the values the maintenance input accepts, in the order error messages
// list them.
func MaintenanceModes() []string {
	return []string{MaintenanceNever, MaintenanceMigrations, MaintenanceAlways}
}

// Defaults of the inputs (action.yml states the same values).
const (
	DefaultHerokuAPIURL  = "https://api.heroku.com"
	DefaultStage         = "auto"
	DefaultSecretsDir    = "secrets"
	DefaultReviewName    = "pforge-pr-{pr}"
	DefaultStagingName   = "pangeo-forge-staging"
	DefaultProdName      = "pangeo-forge"
	DefaultLocalName     = "pforge-local-{user}"
	DefaultStagingBranch = "main"
	DefaultProdBranch    = "prod"
	DefaultCheckName     = "deploy/{stage}"
	DefaultDeploymentVar = "PANGEO_FORGE_DEPLOYMENT"
	DefaultAppDir        = "."
	DefaultTimeout       = 20 * time.Minute
	DefaultHealthTimeout = 2 * time.Minute
	// DefaultTimeoutReserve is kept at the end of timeout for putting production back (a rollback
	// and its release) and reporting: long waits end when only this much of timeout remains.
	DefaultTimeoutReserve = 2 * time.Minute
	// DefaultMinMaskLength is google-github-actions/get-secretmanager-secrets' default: a mask of
	// fewer characters (true, 42) would star every occurrence of them in the log.
	DefaultMinMaskLength = 4
	DefaultServerURL     = "https://github.com"
	DefaultAPIURL        = "https://api.github.com"
)

// Config is everything the action was asked to do. It holds the Heroku API
// key and the GitHub token: its String and GoString methods redact them so an
// accidental %v cannot print them.
type Config struct {
	HerokuAPIKey, GitHubToken, HerokuAPIURL, Pipeline string
	Stage                                             string // auto|review|staging|prod|test|teardown|check-secrets|rollback
	SecretsDir                                        string // relative to the workspace, cleaned
	ReviewName, StagingName, ProdName, LocalName      string // templates, e.g. "pforge-pr-{pr}"
	StagingBranch, ProdBranch                         string
	ReviewLabel, ReviewFallback                       string
	AllowPullRequestTarget                            bool
	CheckName, DeploymentVar, AppDir                  string // CheckName may hold {stage}; AppDir is relative, cleaned
	Timeout                                           time.Duration
	// TimeoutReserve is the part of Timeout kept for putting production back and reporting: waits
	// (the health check, rate-limit waits) end when only this much remains (deploy.Runner.WorkContext).
	TimeoutReserve time.Duration
	ReviewMode     string        // review-app|app-setup
	Team           string        // app-setup: Heroku team of the PR apps; "" means the pipeline owner's
	ReviewTTL      time.Duration // 0: no age-based cleanup
	HealthPath     string
	HealthTimeout  time.Duration // how long the app has to answer 2xx
	Rollback       bool
	RollbackApp    string // stage rollback: "prod" (default: every production app), "staging", or one production app's name
	RollbackTo     int    // stage rollback: the release version to go back to; 0 means the newest earlier release that ran other code
	Maintenance    string // never|migrations|always: maintenance mode around staging and prod releases
	DryRun         bool
	PRComment      bool // one sticky comment on a review app's pull request
	HerokuCI       bool // run the Heroku CI tests before a review or staging deploy, which they gate
	// IncludeUntracked: untracked files (relative to app_dir) that are uploaded too; by default only
	// the files git tracks are.
	IncludeUntracked source.Patterns
	MinMaskLength    int // decrypted values (and lines of values) shorter than this are not masked in the log
	GitHub           GitHubEnv
}

// GitHubEnv holds the runner's GITHUB_* variables.
type GitHubEnv struct {
	Workspace, EventName, EventPath, Repository, SHA, Ref, RunID, RunAttempt,
	ServerURL, APIURL, Actor, Output, StepSummary string
}

// String redacts the credentials; everything else is safe to log.
func (c Config) String() string {
	c.HerokuAPIKey = redact(c.HerokuAPIKey)
	c.GitHubToken = redact(c.GitHubToken)
	type plain Config // drops the methods, so fmt does not recurse
	return fmt.Sprintf("%+v", plain(c))
}

// GoString keeps %#v from bypassing String.
func (c Config) GoString() string { return "config.Config" + c.String() }

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// Load reads the inputs through go-githubactions (INPUT_ + upper-cased name,
// trimmed) and the GITHUB_* variables, applies the defaults, and validates.
// Every problem is reported at once, joined with errors.Join. No error ever
// contains the API key or the token.
func Load(getenv func(string) string) (Config, error) {
	action := githubactions.New(githubactions.WithGetenv(getenv))
	in := func(name, def string) string {
		if v := action.GetInput(name); v != "" {
			return v
		}
		return def
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	c := Config{
		HerokuAPIKey:   action.GetInput("heroku_api_key"),
		GitHubToken:    in("github_token", strings.TrimSpace(getenv("GITHUB_TOKEN"))),
		HerokuAPIURL:   in("heroku_api_url", DefaultHerokuAPIURL),
		Pipeline:       action.GetInput("pipeline"),
		Stage:          in("stage", DefaultStage),
		SecretsDir:     in("secrets_dir", DefaultSecretsDir),
		ReviewName:     in("review_name", DefaultReviewName),
		StagingName:    in("staging_name", DefaultStagingName),
		ProdName:       in("prod_name", DefaultProdName),
		LocalName:      in("local_name", DefaultLocalName),
		StagingBranch:  in("staging_branch", DefaultStagingBranch),
		ProdBranch:     in("prod_branch", DefaultProdBranch),
		ReviewLabel:    action.GetInput("review_label"),
		ReviewFallback: action.GetInput("review_fallback"),
		CheckName:      in("check_name", DefaultCheckName),
		DeploymentVar:  in("deployment_var", DefaultDeploymentVar),
		AppDir:         in("app_dir", DefaultAppDir),
		ReviewMode:     in("review_mode", ReviewModeReviewApp),
		Team:           action.GetInput("team"),
		HealthPath:     action.GetInput("health_path"),
		RollbackApp:    in("rollback_app", "prod"),
		Maintenance:    in("maintenance", MaintenanceNever),
		GitHub: GitHubEnv{
			Workspace:   getenv("GITHUB_WORKSPACE"),
			EventName:   getenv("GITHUB_EVENT_NAME"),
			EventPath:   getenv("GITHUB_EVENT_PATH"),
			Repository:  getenv("GITHUB_REPOSITORY"),
			SHA:         getenv("GITHUB_SHA"),
			Ref:         getenv("GITHUB_REF"),
			RunID:       getenv("GITHUB_RUN_ID"),
			RunAttempt:  getenv("GITHUB_RUN_ATTEMPT"),
			ServerURL:   orDefault(getenv("GITHUB_SERVER_URL"), DefaultServerURL),
			APIURL:      orDefault(getenv("GITHUB_API_URL"), DefaultAPIURL),
			Actor:       getenv("GITHUB_ACTOR"),
			Output:      getenv("GITHUB_OUTPUT"),
			StepSummary: getenv("GITHUB_STEP_SUMMARY"),
		},
	}

	// The key's value is never formatted: only whether it is present.
	// check-secrets reads the checkout only: it runs on any pull request, forks included, which
	// get no Heroku key.
	// approve only checks a /deploy-review comment with GitHub. A run that Dependabot started on
	// its pull request gets no Actions secrets (Dependabot's only): the plan skips it with a
	// notice instead (plan.dependabotSkip), so the missing key is no error there.
	needsHeroku := c.Stage != "check-secrets" && c.Stage != "approve"
	if c.HerokuAPIKey == "" && needsHeroku && !dependabotPullRequest(getenv) {
		fail("input %q is required: pass the Heroku API key from a secret, e.g. heroku_api_key: ${{ secrets.HEROKU_API_KEY }}", "heroku_api_key")
	}
	if c.Pipeline == "" && needsHeroku {
		fail("input %q is required: give the Heroku pipeline's name or UUID", "pipeline")
	}
	if !slices.Contains(Stages(), c.Stage) {
		fail("input %q: %q is not a stage: use one of %s", "stage", c.Stage, strings.Join(Stages(), ", "))
	}
	if u, err := httpURL(c.HerokuAPIURL); err != nil {
		errs = append(errs, fmt.Errorf("input %q: %w", "heroku_api_url", err))
	} else {
		c.HerokuAPIURL = u
	}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"secrets_dir", &c.SecretsDir}, {"app_dir", &c.AppDir}} {
		clean, err := workspacePath(*p.dst)
		if err != nil {
			errs = append(errs, fmt.Errorf("input %q: %w", p.name, err))
			continue
		}
		*p.dst = clean
	}
	for _, b := range []struct {
		name string
		def  bool
		dst  *bool
	}{
		{"allow_pull_request_target", false, &c.AllowPullRequestTarget},
		{"rollback", true, &c.Rollback},
		{"dry_run", false, &c.DryRun},
		{"pr_comment", true, &c.PRComment},
		{"heroku_ci", false, &c.HerokuCI},
	} {
		v, err := parseBool(action.GetInput(b.name), b.def)
		if err != nil {
			errs = append(errs, fmt.Errorf("input %q: %w", b.name, err))
		}
		*b.dst = v
	}
	if raw := action.GetInput("timeout"); raw == "" {
		c.Timeout = DefaultTimeout
	} else if d, err := time.ParseDuration(raw); err != nil || d <= 0 {
		fail("input %q: %q is not a positive duration: use Go's form, e.g. 20m or 1h30m", "timeout", raw)
	} else {
		c.Timeout = d
	}
	if raw := action.GetInput("timeout_reserve"); raw == "" {
		c.TimeoutReserve = DefaultTimeoutReserve
	} else if d, err := time.ParseDuration(raw); err != nil || d <= 0 {
		fail("input %q: %q is not a positive duration: use Go's form, e.g. 2m or 45s", "timeout_reserve", raw)
	} else {
		c.TimeoutReserve = d
	}
	if c.Timeout > 0 && c.TimeoutReserve > 0 && c.TimeoutReserve >= c.Timeout {
		fail("input %q (%s) must be shorter than input %q (%s): it is the part of timeout kept for a rollback and the report; lower timeout_reserve (e.g. %s) or raise timeout", "timeout_reserve", c.TimeoutReserve, "timeout", c.Timeout, (c.Timeout / 4).Round(time.Second))
	}
	if raw := action.GetInput("health_timeout"); raw == "" {
		c.HealthTimeout = DefaultHealthTimeout
	} else if d, err := time.ParseDuration(raw); err != nil || d <= 0 {
		fail("input %q: %q is not a positive duration: use Go's form, e.g. 2m or 90s", "health_timeout", raw)
	} else {
		c.HealthTimeout = d
	}
	if raw := action.GetInput("min_mask_length"); raw == "" {
		c.MinMaskLength = DefaultMinMaskLength
	} else if n, err := strconv.Atoi(raw); err != nil || n < 0 {
		fail("input %q: %q is not a whole number of characters of 0 or more: use e.g. 4 (0 masks every value, however short)", "min_mask_length", raw)
	} else {
		c.MinMaskLength = n
	}
	if raw := action.GetInput("review_ttl"); raw != "" {
		d, err := parseTTL(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("input %q: %w", "review_ttl", err))
		}
		c.ReviewTTL = d
	}
	if c.ReviewMode != ReviewModeReviewApp && c.ReviewMode != ReviewModeAppSetup {
		fail("input %q: %q is not a review mode: use %s or %s", "review_mode", c.ReviewMode, ReviewModeReviewApp, ReviewModeAppSetup)
	}
	if c.StagingBranch == c.ProdBranch {
		fail("inputs %q and %q are both %q: a push must deploy to one stage, give them different branches", "staging_branch", "prod_branch", c.StagingBranch)
	}
	for _, b := range []struct{ name, value string }{{"staging_branch", c.StagingBranch}, {"prod_branch", c.ProdBranch}} {
		if strings.HasPrefix(b.value, "refs/") {
			fail("input %q: %q must be a branch name without refs/heads/", b.name, b.value)
		}
	}
	if !configVarName.MatchString(c.DeploymentVar) {
		fail("input %q: %q is not a config var name: use letters, digits and underscores, not starting with a digit", "deployment_var", c.DeploymentVar)
	}
	if c.RollbackApp != "prod" && c.RollbackApp != "staging" {
		// The name of one production app, where production holds several (checked on Heroku).
		if slices.Contains(heroku.Stages, c.RollbackApp) {
			fail("input %q: %q is a pipeline stage, not an app the action rolls back: use prod (every production app), staging, or the name of one production app", "rollback_app", c.RollbackApp)
		} else if err := heroku.CheckAppName(c.RollbackApp); err != nil {
			fail("input %q: %q is neither prod, staging nor a Heroku app name (%v): use prod, staging, or the name of one of the pipeline's production apps", "rollback_app", c.RollbackApp, err)
		}
	}
	if !slices.Contains(MaintenanceModes(), c.Maintenance) {
		fail("input %q: %q is not a maintenance mode: use never, migrations (maintenance mode while a release phase runs, e.g. database migrations) or always", "maintenance", c.Maintenance)
	}
	if raw := action.GetInput("rollback_to"); raw != "" {
		v, err := strconv.Atoi(strings.TrimPrefix(strings.TrimPrefix(raw, "v"), "V"))
		if err != nil || v <= 0 {
			fail("input %q: %q is not a release version: use the number Heroku shows, e.g. v41 or 41, or leave it empty for the newest earlier release that ran other code", "rollback_to", raw)
		}
		c.RollbackTo = v
	}
	if raw := action.GetInput("include_untracked"); raw != "" {
		p, problems := source.ParsePatterns(raw)
		for _, pr := range problems {
			fail("input %q: %s", "include_untracked", pr)
		}
		c.IncludeUntracked = p
	}
	if c.HealthPath != "" && !strings.HasPrefix(c.HealthPath, "/") {
		fail("input %q: %q must be a path on the app starting with /, e.g. /health", "health_path", c.HealthPath)
	}
	return c, errors.Join(errs...)
}

var configVarName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// DependabotActor is the login of Dependabot's runs (github.actor), as GitHub's "Automating
// Dependabot with GitHub Actions" names it.
const DependabotActor = "dependabot[bot]"

// dependabotPullRequest reports whether the run is one Dependabot started on a pull request, which
// GitHub runs without the repository's Actions secrets.
func dependabotPullRequest(getenv func(string) string) bool {
	ev := getenv("GITHUB_EVENT_NAME")
	return getenv("GITHUB_ACTOR") == DependabotActor && (ev == "pull_request" || ev == "pull_request_target")
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// parseBool accepts what YAML and the Actions expression language write for
// booleans, in any letter case; "" means the default.
func parseBool(raw string, def bool) (bool, error) {
	switch {
	case raw == "":
		return def, nil
	case strings.EqualFold(raw, "true"):
		return true, nil
	case strings.EqualFold(raw, "false"):
		return false, nil
	}
	return def, fmt.Errorf("%q is not a boolean: use true or false", raw)
}

// parseTTL reads a Go duration (48h) or a number of days (2d), the unit
// Heroku's own review app settings use.
func parseTTL(raw string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a positive duration: use days such as 2d or a Go duration such as 36h; leave it empty for no age-based cleanup", raw)
	if days, ok := strings.CutSuffix(raw, "d"); ok {
		n, err := strconv.Atoi(days)
		// Bound the days so the multiplication cannot overflow.
		if err != nil || n <= 0 || n > 100000 {
			return 0, bad
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d <= 0 {
		return 0, bad
	}
	return d, nil
}

// httpURL checks an API base URL and drops a trailing slash, so callers can
// append paths. A URL with credentials is never echoed back.
func httpURL(raw string) (string, error) {
	shown := raw
	if strings.Contains(raw, "@") {
		shown = "(a URL with credentials, not shown)"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) URL: use e.g. %s", shown, DefaultHerokuAPIURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q must be a base URL without query or fragment", shown)
	}
	return strings.TrimRight(raw, "/"), nil
}

// workspacePath checks that a directory input stays inside the workspace:
// relative, and no .. that climbs out. Symbolic links are the checkout's
// business and are resolved by the rooms that open the files.
func workspacePath(raw string) (string, error) {
	if filepath.IsAbs(raw) || strings.HasPrefix(raw, "/") {
		return "", fmt.Errorf("%q is absolute: give a path relative to the workspace, e.g. secrets", raw)
	}
	clean := filepath.Clean(raw)
	if !filepath.IsLocal(clean) {
		return "", fmt.Errorf("%q leaves the workspace: give a path inside it, without ..", raw)
	}
	return clean, nil
}
