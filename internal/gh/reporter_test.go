package gh_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/deploy"
	"github.com/pangeo-forge/deploy-action/internal/event"
	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
	"github.com/pangeo-forge/deploy-action/internal/gh"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	repo    = "pangeo-forge/pangeo-forge-orchestrator"
	token   = "ghs_reportertoken"
	sha     = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
	tree    = "fedcba9876543210fedcba9876543210fedcba98"
	secret  = "s3cr3t-db-password"
	started = "2024-05-01T12:00:00Z"
)

// logger records the warnings a run prints.
type logger struct {
	mu       sync.Mutex
	warnings []string
}

func (l *logger) Warningf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.warnings = append(l.warnings, fmt.Sprintf(format, args...))
}

func (l *logger) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.warnings...)
}

// world is a GitHub test server with the repository and commit of the tests.
type world struct {
	srv *githubapi.Server
	log *logger
}

func newWorld(t *testing.T, opt githubapi.Options) *world {
	t.Helper()
	opt.Token = token
	now, _ := time.Parse(time.RFC3339, started)
	opt.Now = func() time.Time { return now }
	srv, err := githubapi.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.AddRepo(repo)
	srv.AddCommit(repo, sha, tree, "Add recipe run status endpoint")
	srv.AddPullRequest(repo, githubapi.PullRequest{Number: 80, HeadSHA: sha, HeadRef: "recipe-run-status", BaseRef: "main"})
	return &world{srv: srv, log: &logger{}}
}

func (w *world) config() config.Config {
	return config.Config{
		GitHubToken: token, CheckName: config.DefaultCheckName, PRComment: true,
		GitHub: config.GitHubEnv{
			Repository: repo, ServerURL: "https://github.com", APIURL: w.srv.URL(), RunID: "4242", RunAttempt: "1",
		},
	}
}

// reporter returns a reporter on the world for the given configuration, with a scrubber that hides
// the test's secret as deploy.Runner.Scrub does.
func (w *world) reporter(t *testing.T, cfg config.Config, tr event.Trigger) *gh.Reporter {
	t.Helper()
	client, err := gh.New(cfg.GitHub.APIURL, cfg.GitHubToken, cfg.GitHub.Repository, nil)
	if err != nil {
		t.Fatal(err)
	}
	now, _ := time.Parse(time.RFC3339, started)
	return gh.NewReporter(gh.ReporterOptions{
		Client: client, Config: cfg, Trigger: tr, Log: w.log,
		Scrub:   func(s string) string { return strings.ReplaceAll(s, secret, "***") },
		Now:     func() time.Time { return now },
		Backoff: time.Millisecond,
	})
}

// run reports one run: Start, a progress update per phase of res, Finish.
func (w *world) run(t *testing.T, cfg config.Config, tr event.Trigger, p plan.Plan, res *deploy.Result, runErr error) *gh.Reporter {
	t.Helper()
	ctx := context.Background()
	r := w.reporter(t, cfg, tr)
	r.Start(ctx, p)
	if res != nil {
		for _, ph := range res.Phases {
			r.Progress(ctx, ph.Name)
		}
	}
	r.Finish(ctx, res, runErr)
	return r
}

func (w *world) noViolations(t *testing.T) {
	t.Helper()
	if v := w.srv.Violations(); len(v) > 0 {
		t.Errorf("the GitHub test server saw requests GitHub would refuse:\n%s", strings.Join(v, "\n"))
	}
}

func prTrigger(action string) event.Trigger {
	return event.Trigger{Name: "pull_request", Action: action, Repository: repo, PR: &event.PullRequest{
		Number: 80, HeadSHA: sha, HeadRef: "recipe-run-status", BaseRef: "main", HeadRepo: repo, BaseRepo: repo,
	}}
}

func pushTrigger(ref string) event.Trigger {
	return event.Trigger{Name: "push", Repository: repo, Ref: ref, After: sha}
}

func reviewPlan() plan.Plan {
	return plan.Plan{Stage: plan.StageReview, Deployment: "pforge-pr-80", Commit: sha, Branch: "recipe-run-status", PR: 80}
}

func phases(names ...string) []deploy.Phase {
	var out []deploy.Phase
	for i, n := range names {
		out = append(out, deploy.Phase{Name: n, Duration: time.Duration(i+1) * 1500 * time.Millisecond})
	}
	return out
}

const buildLog = `-----> Building on the Heroku-22 stack
-----> Using buildpack: heroku/python
-----> Python app detected
-----> Installing requirements with pip
       Collecting fastapi==0.95.0
       DATABASE_PASSWORD=` + secret + `
       Successfully installed fastapi-0.95.0
-----> Discovering process types
       Procfile declares types -> release, web
-----> Compressing...
       Done: 61.2M
-----> Launching...
       Released v3
Running release command...
INFO  [alembic.runtime.migration] Running upgrade -> 9e3d8b1c2a7f, add recipe run status
`

const failedBuildLog = `-----> Building on the Heroku-22 stack
-----> Using buildpack: heroku/python
-----> Installing requirements with pip
       ERROR: Could not find a version that satisfies the requirement pangeo-forge-runner==9.9.9
       ERROR: No matching distribution found for pangeo-forge-runner==9.9.9
 !     Push rejected, failed to compile Python app.
 !     Push failed
`

// TestCheckRunGolden holds the concluded check run of a success, a failure and a skip.
func TestCheckRunGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tr     event.Trigger
		plan   plan.Plan
		res    *deploy.Result
		runErr error
	}{
		{
			name: "success",
			tr:   pushTrigger("refs/heads/prod"),
			plan: plan.Plan{Stage: plan.StageProd, Deployment: "pangeo-forge", Commit: sha, Branch: "prod"},
			res: &deploy.Result{
				Stage: plan.StageProd, Deployment: "pangeo-forge", App: "pangeo-forge-api-prod",
				AppURL: "https://pangeo-forge-api-prod-8c2b1c4f3a1d.herokuapp.com/", Commit: sha, Release: 12,
				Deployed: true, Action: "promoted release v7 of pangeo-forge-api-staging", VarsSet: []string{"GITHUB_APP_PRIVATE_KEY"},
				Phases:  phases("secrets", "config vars", "promotion"),
				Notes:   []string{"staging runs 0a1b2c3d4e5f, the commit being deployed"},
				LogTail: buildLog,
				Domains: []heroku.Domain{
					{Hostname: "api.pangeo-forge.org", CNAME: "powerful-harbor-5b6a.herokudns.com", Kind: "custom", ACMStatus: "cert issued"},
					{Hostname: "www.pangeo-forge.org", CNAME: "shy-river-1234.herokudns.com", Kind: "custom", ACMStatus: "failing", ACMStatusReason: "CNAME record points elsewhere"},
				},
			},
		},
		{
			name: "failure",
			tr:   pushTrigger("refs/heads/main"),
			plan: plan.Plan{Stage: plan.StageStaging, Deployment: "pangeo-forge-staging", Commit: sha, Branch: "main"},
			res: &deploy.Result{
				Stage: plan.StageStaging, Deployment: "pangeo-forge-staging", App: "pangeo-forge-api-staging",
				AppURL: "https://pangeo-forge-api-staging-0f1e2d3c4b5a.herokuapp.com/", Commit: sha,
				BuildID: "01234567-89ab-cdef-0123-456789abcdef", Phases: phases("secrets", "config vars", "upload", "build"),
				LogTail: failedBuildLog,
			},
			runErr: errors.New("build 01234567-89a failed: see the build output above\nthe build log says: Push rejected"),
		},
		{
			name: "skip",
			tr:   prTrigger("opened"),
			plan: plan.Plan{Stage: plan.StageReview, Skip: "pull request #80 is a draft: its review app is deployed once it is marked ready for review", Branch: "recipe-run-status", PR: 80},
			res:  &deploy.Result{Stage: plan.StageReview},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, githubapi.Options{})
			r := w.run(t, w.config(), tt.tr, tt.plan, tt.res, tt.runErr)
			runs := w.srv.CheckRuns(repo)
			if len(runs) != 1 {
				t.Fatalf("%d check runs, want 1", len(runs))
			}
			cr := runs[0]
			if r.CheckRunID() != cr.ID {
				t.Errorf("CheckRunID() = %d, want %d", r.CheckRunID(), cr.ID)
			}
			golden(t, filepath.Join("testdata", "checkrun-"+tt.name+".golden"), renderCheckRun(cr))
			w.noViolations(t)
		})
	}
}

func renderCheckRun(cr githubapi.CheckRun) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nhead_sha: %s\nexternal_id: %s\ndetails_url: %s\nstatus: %s\nconclusion: %s\ntitle: %s\n",
		cr.Name, cr.HeadSHA, cr.ExternalID, cr.DetailsURL, cr.Status, cr.Conclusion, cr.Title)
	fmt.Fprintf(&b, "\n--- summary\n%s\n--- text\n%s\n--- annotations\n", cr.Summary, cr.Text)
	for _, a := range cr.Annotations {
		fmt.Fprintf(&b, "%s %s:%d-%d %s: %s\n", a.AnnotationLevel, a.Path, a.StartLine, a.EndLine, a.Title, a.Message)
	}
	return b.String()
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}

// TestReviewLifecycle follows a review app through two runs of a rerun and its teardown: one check
// run per stage and commit, one deployment per environment and commit, one comment.
func TestReviewLifecycle(t *testing.T) {
	t.Parallel()
	w := newWorld(t, githubapi.Options{})
	cfg := w.config()
	res := &deploy.Result{
		Stage: plan.StageReview, Deployment: "pforge-pr-80", App: "pforge-pr-80-x1y2",
		AppURL: "https://pforge-pr-80-x1y2-3f4e5d6c.herokuapp.com/", Commit: sha, Release: 3, Deployed: true,
		Action: "created review app", Phases: phases("secrets", "upload", "review app"), LogTail: buildLog,
	}
	first := w.run(t, cfg, prTrigger("opened"), reviewPlan(), res, nil)

	// A rerun of the same workflow run (attempt 2) updates what the first attempt made.
	cfg.GitHub.RunAttempt = "2"
	again := w.run(t, cfg, prTrigger("opened"), reviewPlan(), res, nil)
	if first.CheckRunID() == 0 || again.CheckRunID() != first.CheckRunID() {
		t.Errorf("the rerun reported to check run %d, the first attempt to %d: want the same one", again.CheckRunID(), first.CheckRunID())
	}

	teardown := plan.Plan{Stage: plan.StageTeardown, Deployment: "pforge-pr-80", Branch: "recipe-run-status", PR: 80}
	w.run(t, cfg, prTrigger("closed"), teardown, &deploy.Result{
		Stage: plan.StageTeardown, Deployment: "pforge-pr-80", App: "pforge-pr-80-x1y2", Action: "deleted review app",
		Removed: []string{"pforge-pr-80-x1y2"},
	}, nil)

	type check struct{ Name, Status, Conclusion, Title, ExternalID, DetailsURL string }
	var checks []check
	for _, cr := range w.srv.CheckRuns(repo) {
		checks = append(checks, check{cr.Name, cr.Status, cr.Conclusion, cr.Title, cr.ExternalID, cr.DetailsURL})
	}
	wantChecks := []check{
		{"deploy/review", "completed", "success", "Deployed pforge-pr-80 to pforge-pr-80-x1y2 (v3)", "review/pforge-pr-80/" + sha,
			"https://github.com/" + repo + "/actions/runs/4242/attempts/2"},
		{"deploy/teardown", "completed", "success", "Deleted review app", "teardown/pforge-pr-80/" + sha,
			"https://github.com/" + repo + "/actions/runs/4242/attempts/2"},
	}
	if diff := cmp.Diff(wantChecks, checks); diff != "" {
		t.Errorf("check runs (-want +got):\n%s", diff)
	}

	deps := w.srv.Deployments(repo)
	if len(deps) != 1 {
		t.Fatalf("%d deployments, want 1 (the rerun reuses the first)", len(deps))
	}
	d := deps[0]
	if d.Environment != "pforge-pr-80" || !d.TransientEnvironment || d.ProductionEnvironment || d.SHA != sha {
		t.Errorf("deployment = environment %q, transient %v, production %v, sha %s; want pforge-pr-80, transient, not production, %s",
			d.Environment, d.TransientEnvironment, d.ProductionEnvironment, d.SHA, sha)
	}
	var states []string
	for _, st := range d.Statuses {
		states = append(states, st.State+" "+st.EnvironmentURL)
	}
	wantStates := []string{"in_progress ", "success " + res.AppURL, "in_progress ", "success " + res.AppURL, "inactive "}
	if diff := cmp.Diff(wantStates, states); diff != "" {
		t.Errorf("deployment statuses (-want +got):\n%s", diff)
	}

	comments := w.srv.Comments(repo, 80)
	if len(comments) != 1 {
		t.Fatalf("%d comments on the pull request, want 1 sticky comment", len(comments))
	}
	wantComment := "<!-- deploy-action review-app pforge-pr-80 -->\n### Review app `pforge-pr-80`\n\n| | |\n|---|---|\n" +
		"| Status | 🗑️ torn down: the review app was deleted |\n" +
		"| Commit | [`0a1b2c3d4e5f`](https://github.com/" + repo + "/commit/" + sha + ") |\n" +
		"| Workflow run | [logs](https://github.com/" + repo + "/actions/runs/4242/attempts/2) |\n"
	if diff := cmp.Diff(wantComment, comments[0].Body); diff != "" {
		t.Errorf("comment (-want +got):\n%s", diff)
	}
	if warnings := w.log.all(); len(warnings) > 0 {
		t.Errorf("unexpected warnings: %q", warnings)
	}
	w.noViolations(t)
}

// TestDeployedComment is the comment a PR author reads after a deploy.
func TestDeployedComment(t *testing.T) {
	t.Parallel()
	w := newWorld(t, githubapi.Options{})
	w.run(t, w.config(), prTrigger("opened"), reviewPlan(), &deploy.Result{
		Stage: plan.StageReview, Deployment: "pforge-pr-80", App: "pforge-pr-80-x1y2",
		AppURL: "https://pforge-pr-80-x1y2-3f4e5d6c.herokuapp.com/", Commit: sha, Release: 3, Deployed: true,
	}, nil)
	comments := w.srv.Comments(repo, 80)
	if len(comments) != 1 {
		t.Fatalf("%d comments, want 1", len(comments))
	}
	want := "<!-- deploy-action review-app pforge-pr-80 -->\n### Review app `pforge-pr-80`\n\n| | |\n|---|---|\n" +
		"| Status | ✅ deployed |\n" +
		"| URL | https://pforge-pr-80-x1y2-3f4e5d6c.herokuapp.com/ |\n" +
		"| App | `pforge-pr-80-x1y2` |\n" +
		"| Commit | [`0a1b2c3d4e5f`](https://github.com/" + repo + "/commit/" + sha + ") |\n" +
		"| Workflow run | [logs](https://github.com/" + repo + "/actions/runs/4242) |\n"
	if diff := cmp.Diff(want, comments[0].Body); diff != "" {
		t.Errorf("comment (-want +got):\n%s", diff)
	}
}

// TestConclusions maps how a run ended to the check run's conclusion and the deployment's state.
func TestConclusions(t *testing.T) {
	t.Parallel()
	staging := plan.Plan{Stage: plan.StageStaging, Deployment: "pangeo-forge-staging", Commit: sha, Branch: "main"}
	tests := []struct {
		name           string
		runErr         error
		wantConclusion string
		wantState      string
	}{
		{"success", nil, "success", "success"},
		{"failure", errors.New("release v4 failed: the release phase exited 1"), "failure", "failure"},
		{"cancelled", fmt.Errorf("waiting for build: %w", context.Canceled), "cancelled", "failure"},
		{"timeout", fmt.Errorf("waiting for build: %w", context.DeadlineExceeded), "timed_out", "failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, githubapi.Options{})
			// A cancelled run's context is cancelled too: the reporter must still conclude.
			ctx, cancel := context.WithCancel(context.Background())
			r := w.reporter(t, w.config(), pushTrigger("refs/heads/main"))
			r.Start(ctx, staging)
			cancel()
			r.Finish(ctx, &deploy.Result{Stage: plan.StageStaging, Deployment: "pangeo-forge-staging", App: "pangeo-forge-api-staging", Deployed: tt.runErr == nil}, tt.runErr)
			runs := w.srv.CheckRuns(repo)
			if len(runs) != 1 || runs[0].Conclusion != tt.wantConclusion {
				t.Fatalf("check runs %+v: want one concluded %s", runs, tt.wantConclusion)
			}
			deps := w.srv.Deployments(repo)
			if len(deps) != 1 {
				t.Fatalf("%d deployments, want 1", len(deps))
			}
			st := deps[0].Statuses
			if got := st[len(st)-1].State; got != tt.wantState {
				t.Errorf("last deployment status %s, want %s", got, tt.wantState)
			}
			if deps[0].TransientEnvironment || deps[0].ProductionEnvironment {
				t.Errorf("staging deployment is transient %v / production %v: want neither", deps[0].TransientEnvironment, deps[0].ProductionEnvironment)
			}
			w.noViolations(t)
		})
	}
}

// TestRequests checks what goes over the wire: GitHub's required deployment fields, annotations in
// batches of 50, the text within GitHub's limit, and no secret anywhere.
func TestRequests(t *testing.T) {
	t.Parallel()
	w := newWorld(t, githubapi.Options{})
	var tail strings.Builder
	for i := range 120 {
		fmt.Fprintf(&tail, "ERROR: step %d failed with password %s\n", i, secret)
		tail.WriteString(strings.Repeat("x", 900) + "\n")
	}
	tail.WriteString("the last line\n")
	p := plan.Plan{Stage: plan.StageProd, Deployment: "pangeo-forge", Commit: sha, Branch: "prod"}
	w.run(t, w.config(), pushTrigger("refs/heads/prod"), p, &deploy.Result{
		Stage: plan.StageProd, Deployment: "pangeo-forge", LogTail: tail.String(), Notes: []string{"vars: " + secret},
	}, fmt.Errorf("release failed: DATABASE_URL=%s", secret))

	var batches []int
	for _, req := range w.srv.Requests() {
		if strings.Contains(string(req.Body), secret) {
			t.Errorf("%s %s sent a secret value to GitHub", req.Method, req.Path)
		}
		if req.Method == http.MethodPost && strings.HasSuffix(req.Path, "/deployments") {
			body := string(req.Body)
			for _, want := range []string{`"auto_merge":false`, `"required_contexts":[]`, `"production_environment":true`, `"environment":"pangeo-forge"`} {
				if !strings.Contains(body, want) {
					t.Errorf("deployment request %s lacks %s", body, want)
				}
			}
		}
		if n := strings.Count(string(req.Body), `"annotation_level"`); n > 0 {
			batches = append(batches, n)
		}
	}
	if diff := cmp.Diff([]int{50, 50, 20}, batches); diff != "" {
		t.Errorf("annotations per request (-want +got):\n%s", diff)
	}
	cr := w.srv.CheckRuns(repo)[0]
	if n := len(cr.Text); n > gh.MaxOutputBytes {
		t.Errorf("check run text is %d bytes: GitHub takes at most %d", n, gh.MaxOutputBytes)
	}
	if !strings.Contains(cr.Text, "the last line") || !strings.Contains(cr.Text, "[earlier output cut]") {
		t.Errorf("check run text does not end with the log's last line after a cut marker:\n...%s", cr.Text[len(cr.Text)-200:])
	}
	if len(cr.Annotations) != 120 || cr.Annotations[0].AnnotationLevel != "failure" {
		t.Errorf("%d annotations (first %+v), want 120 failures", len(cr.Annotations), cr.Annotations[0])
	}
	w.noViolations(t)
}

// TestReportingFailures: whatever GitHub answers, the reporter warns once, naming the cause and what
// to do, and keeps reporting what still works.
func TestReportingFailures(t *testing.T) {
	t.Parallel()
	allBut := func(missing string) map[string]string {
		perms := map[string]string{"checks": "write", "deployments": "write", "pull_requests": "write", "contents": "read", "metadata": "read"}
		delete(perms, missing)
		return perms
	}
	tests := []struct {
		name         string
		opt          githubapi.Options
		faults       []githubapi.Fault
		cfg          func(*config.Config)
		wantWarnings []string // substrings, one warning each
		wantChecks   int
		wantDeploys  int
		wantComments int
	}{
		{
			name:         "no checks permission",
			opt:          githubapi.Options{Permissions: allBut("checks")},
			wantWarnings: []string{"add `checks: write` to the job's permissions"},
			wantDeploys:  1, wantComments: 1,
		},
		{
			name:         "no deployments permission",
			opt:          githubapi.Options{Permissions: allBut("deployments")},
			wantWarnings: []string{"add `deployments: write` to the job's permissions"},
			wantChecks:   1, wantComments: 1,
		},
		{
			name:         "no pull-requests permission",
			opt:          githubapi.Options{Permissions: allBut("pull_requests")},
			wantWarnings: []string{"add `pull-requests: write` to the job's permissions"},
			wantChecks:   1, wantDeploys: 1,
		},
		{
			name:         "bad token",
			cfg:          func(c *config.Config) { c.GitHubToken = "ghs_expired" },
			wantWarnings: []string{"GitHub refused the github_token (401 Bad credentials)"},
		},
		{
			name:         "unknown repository",
			cfg:          func(c *config.Config) { c.GitHub.Repository = "pangeo-forge/renamed" },
			wantWarnings: []string{`the repository "pangeo-forge/renamed" does not exist or the github_token cannot see it`},
		},
		{
			name: "validation failed",
			faults: []githubapi.Fault{{Method: "POST", Path: "/repos/{owner}/{repo}/check-runs", Status: 422,
				Body: `{"message":"Validation Failed","errors":[{"resource":"CheckRun","field":"head_sha","code":"invalid"}]}`}},
			// The create is refused; the conclusion then makes the check run.
			wantWarnings: []string{"GitHub refused to create the check run (422 Validation Failed: head_sha invalid)"},
			wantChecks:   1, wantDeploys: 1, wantComments: 1,
		},
		{
			name:         "comments not found",
			faults:       []githubapi.Fault{{Path: "/repos/{owner}/{repo}/issues/{issue_number}/comments", Status: 404, Times: -1}},
			wantWarnings: []string{"GitHub answered 404 while trying to update the pull request comment"},
			wantChecks:   1, wantDeploys: 1,
		},
		{
			name:        "server errors are retried",
			faults:      []githubapi.Fault{{Method: "POST", Path: "/repos/{owner}/{repo}/deployments", Status: 502, Times: 2}},
			wantChecks:  1,
			wantDeploys: 1, wantComments: 1,
		},
		{
			name:         "pr_comment off",
			cfg:          func(c *config.Config) { c.PRComment = false },
			wantChecks:   1,
			wantDeploys:  1,
			wantComments: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tt.opt)
			for _, f := range tt.faults {
				w.srv.Inject(f)
			}
			cfg := w.config()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			w.run(t, cfg, prTrigger("opened"), reviewPlan(), &deploy.Result{
				Stage: plan.StageReview, Deployment: "pforge-pr-80", App: "pforge-pr-80-x1y2", Deployed: true,
				Phases: phases("secrets", "upload", "review app"),
			}, nil)
			warnings := w.log.all()
			if len(warnings) != len(tt.wantWarnings) {
				t.Fatalf("warnings %q, want %d", warnings, len(tt.wantWarnings))
			}
			for i, want := range tt.wantWarnings {
				if !strings.Contains(warnings[i], want) {
					t.Errorf("warning %q does not say %q", warnings[i], want)
				}
				if !strings.Contains(warnings[i], "the deployment is not affected") {
					t.Errorf("warning %q does not say the deployment is not affected", warnings[i])
				}
			}
			for _, cr := range w.srv.CheckRuns(repo) {
				if cr.Conclusion != "success" {
					t.Errorf("check run %s is %s %s: a reporting problem must not leave it unconcluded or change its conclusion", cr.Name, cr.Status, cr.Conclusion)
				}
			}
			got := []int{len(w.srv.CheckRuns(repo)), len(w.srv.Deployments(repo)), len(w.srv.Comments(repo, 80))}
			if diff := cmp.Diff([]int{tt.wantChecks, tt.wantDeploys, tt.wantComments}, got); diff != "" {
				t.Errorf("check runs, deployments, comments (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNotReported lists the runs that write nothing to GitHub, and the one warning the user sees.
func TestNotReported(t *testing.T) {
	t.Parallel()
	fork := prTrigger("opened")
	fork.PR.HeadRepo = "someone/pangeo-forge-orchestrator"
	tests := []struct {
		name        string
		tr          event.Trigger
		plan        plan.Plan
		cfg         func(*config.Config)
		noClient    string
		wantWarning string
	}{
		{name: "dry run", tr: prTrigger("opened"), plan: reviewPlan(), cfg: func(c *config.Config) { c.DryRun = true }},
		{name: "fork", tr: fork, plan: plan.Plan{Stage: plan.StageReview, Skip: "fork", PR: 80}},
		{name: "no stage", tr: pushTrigger("refs/heads/feature"), plan: plan.Plan{Skip: "push to refs/heads/feature does not deploy"}},
		{name: "no token", tr: prTrigger("opened"), plan: reviewPlan(), noClient: "the github_token input is empty", wantWarning: "the github_token input is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, githubapi.Options{})
			cfg := w.config()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			opt := gh.ReporterOptions{Config: cfg, Trigger: tt.tr, Log: w.log, Off: tt.noClient}
			if tt.noClient == "" {
				client, err := gh.New(cfg.GitHub.APIURL, token, repo, nil)
				if err != nil {
					t.Fatal(err)
				}
				opt.Client = client
			}
			r := gh.NewReporter(opt)
			r.Start(context.Background(), tt.plan)
			r.Progress(context.Background(), "secrets")
			r.Finish(context.Background(), &deploy.Result{Stage: tt.plan.Stage}, nil)
			if n := len(w.srv.Requests()); n != 0 {
				t.Errorf("%d requests to GitHub, want none", n)
			}
			warnings := w.log.all()
			if tt.wantWarning == "" && len(warnings) > 0 || tt.wantWarning != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], tt.wantWarning)) {
				t.Errorf("warnings %q, want %q", warnings, tt.wantWarning)
			}
		})
	}
}

// TestFailingCertificateWarns: a custom domain whose certificate fails is a warning in the log, even
// when nothing is reported to GitHub.
func TestFailingCertificateWarns(t *testing.T) {
	t.Parallel()
	log := &logger{}
	r := gh.NewReporter(gh.ReporterOptions{Config: config.Config{CheckName: "deploy/{stage}"}, Log: log})
	r.Start(context.Background(), plan.Plan{Stage: plan.StageProd, Deployment: "pangeo-forge", Commit: sha})
	r.Finish(context.Background(), &deploy.Result{Stage: plan.StageProd, Deployed: true, Domains: []heroku.Domain{
		{Hostname: "api.pangeo-forge.org", CNAME: "a.herokudns.com", ACMStatus: "cert issued"},
		{Hostname: "www.pangeo-forge.org", CNAME: "b.herokudns.com", ACMStatus: "failed", ACMStatusReason: "CAA record forbids Let's Encrypt"},
	}}, nil)
	want := []string{"the ACM certificate of www.pangeo-forge.org is failed (CAA record forbids Let's Encrypt): point its CNAME record at b.herokudns.com, then wait for Heroku to retry"}
	if diff := cmp.Diff(want, log.all()); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// TestManualPromotion: a dispatched promotion reports on the dispatched commit from the start, and
// on the commit of the release it promoted once that is known.
func TestManualPromotion(t *testing.T) {
	t.Parallel()
	w := newWorld(t, githubapi.Options{})
	const promoted = "1111111111111111111111111111111111111111"
	w.srv.AddCommit(repo, promoted, tree, "Merge pull request #80")
	tr := event.Trigger{Name: "workflow_dispatch", Repository: repo, Ref: "refs/heads/main", Inputs: map[string]string{"stage": "prod"}}
	p := plan.Plan{Stage: plan.StageProd, Deployment: "pangeo-forge", Commit: sha, Branch: "main", Manual: true}
	r := w.run(t, w.config(), tr, p, &deploy.Result{
		Stage: plan.StageProd, Deployment: "pangeo-forge", App: "pangeo-forge-api-prod", Commit: promoted, Release: 13, Deployed: true,
	}, nil)
	type check struct {
		SHA, Conclusion, ExternalID string
		Reported                    bool
	}
	var got []check
	for _, cr := range w.srv.CheckRuns(repo) {
		got = append(got, check{cr.HeadSHA, cr.Conclusion, cr.ExternalID, cr.ID == r.CheckRunID()})
	}
	want := []check{
		{sha, "success", "prod/pangeo-forge/" + sha, true},
		{promoted, "success", "prod/pangeo-forge/" + promoted, false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("check runs (-want +got):\n%s", diff)
	}
	w.noViolations(t)
}

// TestMultiByteOutputWithinByteLimit: GitHub counts a check run's summary and text in bytes.
// Multi-byte build output (and notes) under 65535 characters but over 65535 bytes must still be
// sent in a form GitHub takes, cut on a character boundary, so that the run is concluded.
func TestMultiByteOutputWithinByteLimit(t *testing.T) {
	t.Parallel()
	w := newWorld(t, githubapi.Options{})
	var tail strings.Builder
	for i := range 1200 {
		fmt.Fprintf(&tail, "ビルド %d: パッケージを取得しています %s %s\n", i, secret, strings.Repeat("é", 10))
	}
	tail.WriteString("最後の行\n")
	if n := utf8.RuneCountInString(tail.String()); n >= gh.MaxOutputBytes || len(tail.String()) <= gh.MaxOutputBytes {
		t.Fatalf("the log is %d characters, %d bytes: want fewer characters and more bytes than the limit", n, len(tail.String()))
	}
	note := "注意: " + strings.Repeat("設定", 12000) // 24000+ characters, 72000+ bytes
	p := plan.Plan{Stage: plan.StageStaging, Deployment: "pangeo-forge-staging", Commit: sha, Branch: "main"}
	w.run(t, w.config(), pushTrigger("refs/heads/main"), p, &deploy.Result{
		Stage: plan.StageStaging, Deployment: "pangeo-forge-staging", App: "pangeo-forge-api-staging", Deployed: true,
		LogTail: tail.String(), Notes: []string{note},
	}, nil)

	w.noViolations(t)
	runs := w.srv.CheckRuns(repo)
	if len(runs) != 1 || runs[0].Status != "completed" || runs[0].Conclusion != "success" {
		t.Fatalf("check runs %+v, want one completed with success", runs)
	}
	cr := runs[0]
	for name, s := range map[string]string{"summary": cr.Summary, "text": cr.Text} {
		if len(s) > gh.MaxOutputBytes || !utf8.ValidString(s) {
			t.Errorf("check run %s: %d bytes, valid UTF-8 %v; want at most %d bytes of valid UTF-8", name, len(s), utf8.ValidString(s), gh.MaxOutputBytes)
		}
	}
	if !strings.HasSuffix(cr.Summary, "…") || !strings.Contains(cr.Summary, "注意: 設定") {
		t.Errorf("summary does not hold the note cut with a mark: ...%s", cr.Summary[max(len(cr.Summary)-60, 0):])
	}
	if !strings.Contains(cr.Text, "最後の行") || !strings.Contains(cr.Text, "[earlier output cut]") || strings.Contains(cr.Text, secret) {
		t.Errorf("text does not end with the log's last line after a cut marker, secret scrubbed")
	}
	if w.log.all() != nil {
		t.Errorf("warnings: %v", w.log.all())
	}
}
