package config

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pangeo-forge/deploy-action/internal/source"
)

// Fake credentials: the tests check they never reach an error or a print.
const (
	apiKey = "heroku-key-0b5e7c1d"
	token  = "ghs_tokenvalue123"
)

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// minimal is the smallest valid environment.
func minimal() map[string]string {
	return map[string]string{
		"INPUT_HEROKU_API_KEY": apiKey,
		"INPUT_PIPELINE":       "pangeo-forge-api-flow",
	}
}

func with(extra map[string]string) map[string]string {
	env := minimal()
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// defaults is what minimal() loads to.
func defaults() Config {
	return Config{
		HerokuAPIKey:   apiKey,
		HerokuAPIURL:   "https://api.heroku.com",
		Pipeline:       "pangeo-forge-api-flow",
		Stage:          "auto",
		SecretsDir:     "secrets",
		ReviewName:     "pforge-pr-{pr}",
		StagingName:    "pangeo-forge-staging",
		ProdName:       "pangeo-forge",
		LocalName:      "pforge-local-{user}",
		StagingBranch:  "main",
		ProdBranch:     "prod",
		CheckName:      "deploy/{stage}",
		DeploymentVar:  "PANGEO_FORGE_DEPLOYMENT",
		AppDir:         ".",
		Timeout:        20 * time.Minute,
		TimeoutReserve: 2 * time.Minute,
		HealthTimeout:  2 * time.Minute,
		MinMaskLength:  4,
		ReviewMode:     "review-app",
		Rollback:       true,
		RollbackApp:    "prod",
		Maintenance:    "never",
		PRComment:      true,
		GitHub: GitHubEnv{
			ServerURL: "https://github.com",
			APIURL:    "https://api.github.com",
		},
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc string
		env  map[string]string
		want func(*Config)
	}{
		{"defaults", minimal(), func(*Config) {}},
		// Stage approve checks a comment with GitHub only; a Dependabot pull request's run has no
		// Actions secrets (plan skips it with a notice).
		{"stage approve without a heroku key", with(map[string]string{"INPUT_HEROKU_API_KEY": "", "INPUT_PIPELINE": "", "INPUT_STAGE": "approve"}),
			func(c *Config) { c.HerokuAPIKey, c.Pipeline, c.Stage = "", "", "approve" }},
		{"dependabot's pull_request without a heroku key", with(map[string]string{"INPUT_HEROKU_API_KEY": "", "GITHUB_ACTOR": "dependabot[bot]", "GITHUB_EVENT_NAME": "pull_request"}),
			func(c *Config) {
				c.HerokuAPIKey, c.GitHub.Actor, c.GitHub.EventName = "", "dependabot[bot]", "pull_request"
			}},
		{
			"every input set",
			with(map[string]string{
				"INPUT_GITHUB_TOKEN":              token,
				"INPUT_HEROKU_API_URL":            "http://127.0.0.1:8080/",
				"INPUT_STAGE":                     "prod",
				"INPUT_SECRETS_DIR":               "deploy/secrets/",
				"INPUT_REVIEW_NAME":               "app-pr-{pr}",
				"INPUT_STAGING_NAME":              "app-staging",
				"INPUT_PROD_NAME":                 "app",
				"INPUT_LOCAL_NAME":                "app-{user}",
				"INPUT_STAGING_BRANCH":            "develop",
				"INPUT_PROD_BRANCH":               "release",
				"INPUT_REVIEW_LABEL":              "deploy-preview",
				"INPUT_REVIEW_FALLBACK":           "dev-app-proxy",
				"INPUT_ALLOW_PULL_REQUEST_TARGET": "TRUE",
				"INPUT_CHECK_NAME":                "heroku ({stage})",
				"INPUT_DEPLOYMENT_VAR":            "DEPLOYMENT",
				"INPUT_APP_DIR":                   "./services/api",
				"INPUT_TIMEOUT":                   "1h30m",
				"INPUT_TIMEOUT_RESERVE":           "3m",
				"INPUT_REVIEW_MODE":               "app-setup",
				"INPUT_TEAM":                      "pangeo-forge",
				"INPUT_REVIEW_TTL":                "2d",
				"INPUT_HEALTH_PATH":               "/health",
				"INPUT_ROLLBACK":                  "False",
				"INPUT_DRY_RUN":                   "true",
				"INPUT_MAINTENANCE":               "migrations",
				"INPUT_PR_COMMENT":                "false",
				"INPUT_HEALTH_TIMEOUT":            "90s",
				"INPUT_MIN_MASK_LENGTH":           "6",
				"GITHUB_WORKSPACE":                "/github/workspace",
				"GITHUB_EVENT_NAME":               "push",
				"GITHUB_EVENT_PATH":               "/github/workflow/event.json",
				"GITHUB_REPOSITORY":               "pangeo-forge/orchestrator",
				"GITHUB_SHA":                      "abc123",
				"GITHUB_REF":                      "refs/heads/release",
				"GITHUB_RUN_ID":                   "42",
				"GITHUB_RUN_ATTEMPT":              "2",
				"GITHUB_SERVER_URL":               "https://ghe.example.com",
				"GITHUB_API_URL":                  "https://ghe.example.com/api/v3",
				"GITHUB_ACTOR":                    "cisaacstern",
				"GITHUB_OUTPUT":                   "/github/file_commands/output",
				"GITHUB_STEP_SUMMARY":             "/github/file_commands/summary",
			}),
			func(c *Config) {
				*c = Config{
					HerokuAPIKey:           apiKey,
					GitHubToken:            token,
					HerokuAPIURL:           "http://127.0.0.1:8080",
					Pipeline:               "pangeo-forge-api-flow",
					Stage:                  "prod",
					SecretsDir:             "deploy/secrets",
					ReviewName:             "app-pr-{pr}",
					StagingName:            "app-staging",
					ProdName:               "app",
					LocalName:              "app-{user}",
					StagingBranch:          "develop",
					ProdBranch:             "release",
					ReviewLabel:            "deploy-preview",
					ReviewFallback:         "dev-app-proxy",
					AllowPullRequestTarget: true,
					CheckName:              "heroku ({stage})",
					DeploymentVar:          "DEPLOYMENT",
					AppDir:                 "services/api",
					Timeout:                90 * time.Minute,
					TimeoutReserve:         3 * time.Minute,
					ReviewMode:             "app-setup",
					Team:                   "pangeo-forge",
					ReviewTTL:              48 * time.Hour,
					HealthPath:             "/health",
					HealthTimeout:          90 * time.Second,
					MinMaskLength:          6,
					Rollback:               false,
					RollbackApp:            "prod",
					Maintenance:            "migrations",
					DryRun:                 true,
					GitHub: GitHubEnv{
						Workspace:   "/github/workspace",
						EventName:   "push",
						EventPath:   "/github/workflow/event.json",
						Repository:  "pangeo-forge/orchestrator",
						SHA:         "abc123",
						Ref:         "refs/heads/release",
						RunID:       "42",
						RunAttempt:  "2",
						ServerURL:   "https://ghe.example.com",
						APIURL:      "https://ghe.example.com/api/v3",
						Actor:       "cisaacstern",
						Output:      "/github/file_commands/output",
						StepSummary: "/github/file_commands/summary",
					},
				}
			},
		},
		{"token from GITHUB_TOKEN", with(map[string]string{"GITHUB_TOKEN": token}), func(c *Config) { c.GitHubToken = token }},
		{
			"token input wins over GITHUB_TOKEN",
			with(map[string]string{"GITHUB_TOKEN": "other", "INPUT_GITHUB_TOKEN": token}),
			func(c *Config) { c.GitHubToken = token },
		},
		{"inputs are trimmed", with(map[string]string{"INPUT_STAGE": " staging\n"}), func(c *Config) { c.Stage = "staging" }},
		{"blank input means default", with(map[string]string{"INPUT_TIMEOUT": "  "}), func(*Config) {}},
		{"review_ttl in hours", with(map[string]string{"INPUT_REVIEW_TTL": "36h"}), func(c *Config) { c.ReviewTTL = 36 * time.Hour }},
		{"review_ttl of one day", with(map[string]string{"INPUT_REVIEW_TTL": "1d"}), func(c *Config) { c.ReviewTTL = 24 * time.Hour }},
		{"stage check-secrets", with(map[string]string{"INPUT_STAGE": "check-secrets"}), func(c *Config) { c.Stage = "check-secrets" }},
		{"stage teardown", with(map[string]string{"INPUT_STAGE": "teardown"}), func(c *Config) { c.Stage = "teardown" }},
		{"timeout_reserve under a short timeout", with(map[string]string{"INPUT_TIMEOUT": "90s", "INPUT_TIMEOUT_RESERVE": "20s"}), func(c *Config) { c.Timeout, c.TimeoutReserve = 90*time.Second, 20*time.Second }},
		{"rollback true", with(map[string]string{"INPUT_ROLLBACK": "true"}), func(*Config) {}},
		{"stage rollback of staging to v41", with(map[string]string{"INPUT_STAGE": "rollback", "INPUT_ROLLBACK_APP": "staging", "INPUT_ROLLBACK_TO": "v41"}), func(c *Config) { c.Stage, c.RollbackApp, c.RollbackTo = "rollback", "staging", 41 }},
		{"rollback_to without v", with(map[string]string{"INPUT_ROLLBACK_TO": "7"}), func(c *Config) { c.RollbackTo = 7 }},
		{
			"include_untracked", with(map[string]string{"INPUT_INCLUDE_UNTRACKED": "static/dist/\n# built by npm\n*.map\n"}),
			func(c *Config) { c.IncludeUntracked, _ = source.ParsePatterns("static/dist/\n*.map") },
		},
		{"booleans in any case", with(map[string]string{"INPUT_DRY_RUN": "True", "INPUT_ROLLBACK": "FALSE"}), func(c *Config) { c.DryRun, c.Rollback = true, false }},
		{"pr_comment off", with(map[string]string{"INPUT_PR_COMMENT": "false"}), func(c *Config) { c.PRComment = false }},
		{"stage test with heroku_ci", with(map[string]string{"INPUT_STAGE": "test", "INPUT_HEROKU_CI": "true"}), func(c *Config) { c.Stage, c.HerokuCI = "test", true }},
		{"app_dir inside, cleaned", with(map[string]string{"INPUT_APP_DIR": "a/../b"}), func(c *Config) { c.AppDir = "b" }},
		{"https API URL kept", with(map[string]string{"INPUT_HEROKU_API_URL": "https://proxy.example.com/heroku"}), func(c *Config) { c.HerokuAPIURL = "https://proxy.example.com/heroku" }},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			got, err := Load(getenv(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := defaults()
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Load mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc string
		env  map[string]string
		want []string // each a whole line of the joined error
	}{
		{
			"nothing set",
			map[string]string{},
			[]string{
				`input "heroku_api_key" is required: pass the Heroku API key from a secret, e.g. heroku_api_key: ${{ secrets.HEROKU_API_KEY }}`,
				`input "pipeline" is required: give the Heroku pipeline's name or UUID`,
			},
		},
		{"dependabot's push without a heroku key", with(map[string]string{"INPUT_HEROKU_API_KEY": "", "GITHUB_ACTOR": "dependabot[bot]", "GITHUB_EVENT_NAME": "push"}), []string{`input "heroku_api_key" is required: pass the Heroku API key from a secret, e.g. heroku_api_key: ${{ secrets.HEROKU_API_KEY }}`}},
		{"blank key", with(map[string]string{"INPUT_HEROKU_API_KEY": "  "}), []string{`input "heroku_api_key" is required: pass the Heroku API key from a secret, e.g. heroku_api_key: ${{ secrets.HEROKU_API_KEY }}`}},
		{"stage", with(map[string]string{"INPUT_STAGE": "production"}), []string{`input "stage": "production" is not a stage: use one of auto, review, staging, prod, test, teardown, check-secrets, rollback, approve`}},
		{"stage is case-sensitive", with(map[string]string{"INPUT_STAGE": "Prod"}), []string{`input "stage": "Prod" is not a stage: use one of auto, review, staging, prod, test, teardown, check-secrets, rollback, approve`}},
		{"stage local is a command, not an input", with(map[string]string{"INPUT_STAGE": "local"}), []string{`input "stage": "local" is not a stage: use one of auto, review, staging, prod, test, teardown, check-secrets, rollback, approve`}},
		{"boolean", with(map[string]string{"INPUT_DRY_RUN": "yes"}), []string{`input "dry_run": "yes" is not a boolean: use true or false`}},
		{"boolean pr_comment", with(map[string]string{"INPUT_PR_COMMENT": "no"}), []string{`input "pr_comment": "no" is not a boolean: use true or false`}},
		{"boolean heroku_ci", with(map[string]string{"INPUT_HEROKU_CI": "yes"}), []string{`input "heroku_ci": "yes" is not a boolean: use true or false`}},
		{"boolean rollback", with(map[string]string{"INPUT_ROLLBACK": "1"}), []string{`input "rollback": "1" is not a boolean: use true or false`}},
		{"rollback_app", with(map[string]string{"INPUT_ROLLBACK_APP": "production"}), []string{`input "rollback_app": "production" is a pipeline stage, not an app the action rolls back: use prod (every production app), staging, or the name of one production app`}},
		{"rollback_app not an app name", with(map[string]string{"INPUT_ROLLBACK_APP": "Prod_EU"}), []string{`input "rollback_app": "Prod_EU" is neither prod, staging nor a Heroku app name ("Prod_EU" is not a valid Heroku app name: it must start with a lower-case letter): use prod, staging, or the name of one of the pipeline's production apps`}},
		{"maintenance", with(map[string]string{"INPUT_MAINTENANCE": "on"}), []string{`input "maintenance": "on" is not a maintenance mode: use never, migrations (maintenance mode while a release phase runs, e.g. database migrations) or always`}},
		{"maintenance is case-sensitive", with(map[string]string{"INPUT_MAINTENANCE": "Always"}), []string{`input "maintenance": "Always" is not a maintenance mode: use never, migrations (maintenance mode while a release phase runs, e.g. database migrations) or always`}},
		{"rollback_to", with(map[string]string{"INPUT_ROLLBACK_TO": "latest"}), []string{`input "rollback_to": "latest" is not a release version: use the number Heroku shows, e.g. v41 or 41, or leave it empty for the newest earlier release that ran other code`}},
		{"rollback_to zero", with(map[string]string{"INPUT_ROLLBACK_TO": "v0"}), []string{`input "rollback_to": "v0" is not a release version: use the number Heroku shows, e.g. v41 or 41, or leave it empty for the newest earlier release that ran other code`}},
		{"boolean allow_pull_request_target", with(map[string]string{"INPUT_ALLOW_PULL_REQUEST_TARGET": "on"}), []string{`input "allow_pull_request_target": "on" is not a boolean: use true or false`}},
		{"timeout unit", with(map[string]string{"INPUT_TIMEOUT": "20"}), []string{`input "timeout": "20" is not a positive duration: use Go's form, e.g. 20m or 1h30m`}},
		{"timeout zero", with(map[string]string{"INPUT_TIMEOUT": "0s"}), []string{`input "timeout": "0s" is not a positive duration: use Go's form, e.g. 20m or 1h30m`}},
		{"timeout negative", with(map[string]string{"INPUT_TIMEOUT": "-5m"}), []string{`input "timeout": "-5m" is not a positive duration: use Go's form, e.g. 20m or 1h30m`}},
		{"timeout_reserve unit", with(map[string]string{"INPUT_TIMEOUT_RESERVE": "2"}), []string{`input "timeout_reserve": "2" is not a positive duration: use Go's form, e.g. 2m or 45s`}},
		{"timeout_reserve not shorter than timeout", with(map[string]string{"INPUT_TIMEOUT": "2m"}), []string{`input "timeout_reserve" (2m0s) must be shorter than input "timeout" (2m0s): it is the part of timeout kept for a rollback and the report; lower timeout_reserve (e.g. 30s) or raise timeout`}},
		{"min_mask_length not a number", with(map[string]string{"INPUT_MIN_MASK_LENGTH": "four"}), []string{`input "min_mask_length": "four" is not a whole number of characters of 0 or more: use e.g. 4 (0 masks every value, however short)`}},
		{"min_mask_length negative", with(map[string]string{"INPUT_MIN_MASK_LENGTH": "-1"}), []string{`input "min_mask_length": "-1" is not a whole number of characters of 0 or more: use e.g. 4 (0 masks every value, however short)`}},
		{"health_timeout unit", with(map[string]string{"INPUT_HEALTH_TIMEOUT": "2"}), []string{`input "health_timeout": "2" is not a positive duration: use Go's form, e.g. 2m or 90s`}},
		{"review_ttl words", with(map[string]string{"INPUT_REVIEW_TTL": "two days"}), []string{`input "review_ttl": "two days" is not a positive duration: use days such as 2d or a Go duration such as 36h; leave it empty for no age-based cleanup`}},
		{"review_ttl zero days", with(map[string]string{"INPUT_REVIEW_TTL": "0d"}), []string{`input "review_ttl": "0d" is not a positive duration: use days such as 2d or a Go duration such as 36h; leave it empty for no age-based cleanup`}},
		{"review_ttl fractional days", with(map[string]string{"INPUT_REVIEW_TTL": "1.5d"}), []string{`input "review_ttl": "1.5d" is not a positive duration: use days such as 2d or a Go duration such as 36h; leave it empty for no age-based cleanup`}},
		{"review_ttl negative", with(map[string]string{"INPUT_REVIEW_TTL": "-1h"}), []string{`input "review_ttl": "-1h" is not a positive duration: use days such as 2d or a Go duration such as 36h; leave it empty for no age-based cleanup`}},
		{"review_mode", with(map[string]string{"INPUT_REVIEW_MODE": "review-apps"}), []string{`input "review_mode": "review-apps" is not a review mode: use review-app or app-setup`}},
		{"secrets_dir absolute", with(map[string]string{"INPUT_SECRETS_DIR": "/etc/secrets"}), []string{`input "secrets_dir": "/etc/secrets" is absolute: give a path relative to the workspace, e.g. secrets`}},
		{"secrets_dir escapes", with(map[string]string{"INPUT_SECRETS_DIR": "../other/secrets"}), []string{`input "secrets_dir": "../other/secrets" leaves the workspace: give a path inside it, without ..`}},
		{"app_dir escapes after cleaning", with(map[string]string{"INPUT_APP_DIR": "api/../../x"}), []string{`input "app_dir": "api/../../x" leaves the workspace: give a path inside it, without ..`}},
		{"app_dir parent", with(map[string]string{"INPUT_APP_DIR": ".."}), []string{`input "app_dir": ".." leaves the workspace: give a path inside it, without ..`}},
		{"heroku_api_url scheme", with(map[string]string{"INPUT_HEROKU_API_URL": "ftp://api.heroku.com"}), []string{`input "heroku_api_url": "ftp://api.heroku.com" is not an http(s) URL: use e.g. https://api.heroku.com`}},
		{"heroku_api_url no host", with(map[string]string{"INPUT_HEROKU_API_URL": "api.heroku.com"}), []string{`input "heroku_api_url": "api.heroku.com" is not an http(s) URL: use e.g. https://api.heroku.com`}},
		{"heroku_api_url query", with(map[string]string{"INPUT_HEROKU_API_URL": "https://api.heroku.com/?x=1"}), []string{`input "heroku_api_url": "https://api.heroku.com/?x=1" must be a base URL without query or fragment`}},
		{"heroku_api_url credentials hidden", with(map[string]string{"INPUT_HEROKU_API_URL": "ftp://user:hunter2@proxy"}), []string{`input "heroku_api_url": "(a URL with credentials, not shown)" is not an http(s) URL: use e.g. https://api.heroku.com`}},
		{"same branches", with(map[string]string{"INPUT_PROD_BRANCH": "main"}), []string{`inputs "staging_branch" and "prod_branch" are both "main": a push must deploy to one stage, give them different branches`}},
		{"branch as a ref", with(map[string]string{"INPUT_STAGING_BRANCH": "refs/heads/main"}), []string{`input "staging_branch": "refs/heads/main" must be a branch name without refs/heads/`}},
		{"deployment_var", with(map[string]string{"INPUT_DEPLOYMENT_VAR": "PANGEO-FORGE"}), []string{`input "deployment_var": "PANGEO-FORGE" is not a config var name: use letters, digits and underscores, not starting with a digit`}},
		{"health_path", with(map[string]string{"INPUT_HEALTH_PATH": "health"}), []string{`input "health_path": "health" must be a path on the app starting with /, e.g. /health`}},
		{"include_untracked negation", with(map[string]string{"INPUT_INCLUDE_UNTRACKED": "static/\n!static/secret.json"}), []string{`input "include_untracked": line 2 "!static/secret.json": negated patterns are not supported (Heroku's .slugignore has none either)`}},
		{
			"every problem at once",
			map[string]string{
				"INPUT_STAGE":        "deploy",
				"INPUT_TIMEOUT":      "soon",
				"INPUT_DRY_RUN":      "maybe",
				"INPUT_REVIEW_MODE":  "x",
				"INPUT_APP_DIR":      "/",
				"INPUT_GITHUB_TOKEN": token,
			},
			[]string{
				`input "heroku_api_key" is required: pass the Heroku API key from a secret, e.g. heroku_api_key: ${{ secrets.HEROKU_API_KEY }}`,
				`input "pipeline" is required: give the Heroku pipeline's name or UUID`,
				`input "stage": "deploy" is not a stage: use one of auto, review, staging, prod, test, teardown, check-secrets, rollback, approve`,
				`input "app_dir": "/" is absolute: give a path relative to the workspace, e.g. secrets`,
				`input "dry_run": "maybe" is not a boolean: use true or false`,
				`input "timeout": "soon" is not a positive duration: use Go's form, e.g. 20m or 1h30m`,
				`input "review_mode": "x" is not a review mode: use review-app or app-setup`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			_, err := Load(getenv(tt.env))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("error lines mismatch (-want +got):\n%s", diff)
			}
			for _, secret := range []string{apiKey, token, "hunter2"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error contains the secret %q: %v", secret, err)
				}
			}
		})
	}
}

func TestConfigPrintsNoSecrets(t *testing.T) {
	t.Parallel()
	c, err := Load(getenv(with(map[string]string{"INPUT_GITHUB_TOKEN": token})))
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%s", "%#v"} {
		for _, arg := range []any{c, &c} {
			out := fmt.Sprintf(verb, arg)
			if strings.Contains(out, apiKey) || strings.Contains(out, token) {
				t.Errorf("Sprintf(%q) prints a credential: %s", verb, out)
			}
			if !strings.Contains(out, "pangeo-forge-api-flow") || !strings.Contains(out, "[redacted]") {
				t.Errorf("Sprintf(%q) = %s, want the pipeline and redacted credentials", verb, out)
			}
		}
	}
}
