package plan

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/event"
)

const (
	headSHA  = "1111111111111111111111111111111111111111"
	pushSHA  = "2222222222222222222222222222222222222222"
	runSHA   = "3333333333333333333333333333333333333333"
	repo     = "pangeo-forge/pangeo-forge-orchestrator"
	zeroSHA  = "0000000000000000000000000000000000000000"
	prNumber = 80
)

// cfg loads a Config the way the action does, from inputs on top of the
// defaults, so the tests exercise the real default templates.
func cfg(t *testing.T, inputs map[string]string) config.Config {
	t.Helper()
	env := map[string]string{
		"INPUT_HEROKU_API_KEY": "key",
		"INPUT_PIPELINE":       "pangeo-forge-api-flow",
		"GITHUB_SHA":           runSHA,
		"GITHUB_REF":           "refs/heads/main",
		"GITHUB_ACTOR":         "CIsaacStern",
	}
	for k, v := range inputs {
		env["INPUT_"+strings.ToUpper(k)] = v
	}
	c, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	return c
}

// pr builds a pull_request trigger from this repository; opts edit it.
func pr(action string, opts ...func(*event.Trigger)) event.Trigger {
	tr := event.Trigger{
		Name: "pull_request", Action: action, Repository: repo, Sender: "CIsaacStern",
		PR: &event.PullRequest{
			Number: prNumber, HeadSHA: headSHA, HeadRef: "feature/New_UI", BaseRef: "main",
			HeadRepo: repo, BaseRepo: repo, Author: "cisaacstern", Title: "New UI",
		},
	}
	for _, o := range opts {
		o(&tr)
	}
	return tr
}

func labels(l ...string) func(*event.Trigger) {
	return func(t *event.Trigger) { t.PR.Labels = l }
}

func label(l string) func(*event.Trigger) { return func(t *event.Trigger) { t.Label = l } }

func draft(t *event.Trigger) { t.PR.Draft = true }

func target(t *event.Trigger) { t.Name = "pull_request_target" }

func fork(t *event.Trigger) { t.PR.HeadRepo = "outsider/pangeo-forge-orchestrator" }

func deletedFork(t *event.Trigger) { t.PR.HeadRepo = "" }

func push(ref, after string, deleted bool) event.Trigger {
	return event.Trigger{Name: "push", Repository: repo, Sender: "cisaacstern", Ref: ref, After: after, Deleted: deleted}
}

func dispatch(ref string, inputs map[string]string) event.Trigger {
	return event.Trigger{Name: "workflow_dispatch", Repository: repo, Sender: "cisaacstern", Ref: ref, Inputs: inputs}
}

func review() Plan {
	return Plan{Stage: StageReview, Deployment: "pforge-pr-80", Commit: headSHA, Branch: "feature/New_UI", PR: prNumber}
}

func teardown() Plan {
	return Plan{Stage: StageTeardown, Deployment: "pforge-pr-80", Branch: "feature/New_UI", PR: prNumber}
}

func skip(p Plan, notice string) Plan {
	p.Skip = notice
	p.Deployment, p.Commit, p.Fallback = "", "", ""
	return p
}

func TestResolve(t *testing.T) {
	t.Parallel()
	const (
		forkNotice    = "pull request #80 comes from the fork outsider/pangeo-forge-orchestrator: forks get no secrets and a read-only token, so nothing is deployed for it"
		draftNotice   = "pull request #80 is a draft: its review app is deployed once it is marked ready for review"
		noLabelNotice = `pull request #80 has no "deploy" label: add it to deploy a review app`
	)
	tests := []struct {
		desc   string
		inputs map[string]string
		t      event.Trigger
		want   Plan
	}{
		// pull_request: review create or update.
		{desc: "opened", t: pr("opened"), want: review()},
		{desc: "reopened", t: pr("reopened"), want: review()},
		{desc: "synchronize", t: pr("synchronize"), want: review()},
		{desc: "ready_for_review", t: pr("ready_for_review"), want: review()},
		{desc: "labeled without review_label", t: pr("labeled", labels("bug"), label("bug")), want: review()},
		{desc: "review fallback", inputs: map[string]string{"review_fallback": "dev-app-proxy"}, t: pr("opened"),
			want: func() Plan { p := review(); p.Fallback = "dev-app-proxy"; return p }()},
		{desc: "review name with branch and user", inputs: map[string]string{"review_name": "pr-{pr}-{branch}-{user}"}, t: pr("synchronize"),
			want: func() Plan { p := review(); p.Deployment = "pr-80-feature-new-ui-cisaacstern"; return p }()},
		{desc: "user from GITHUB_ACTOR without sender", inputs: map[string]string{"review_name": "pr-{user}"}, t: pr("opened", func(t *event.Trigger) { t.Sender = "" }),
			want: func() Plan { p := review(); p.Deployment = "pr-cisaacstern"; return p }()},
		{desc: "opened draft", t: pr("opened", draft), want: skip(review(), draftNotice)},
		{desc: "synchronize draft", t: pr("synchronize", draft), want: skip(review(), draftNotice)},

		// review_label gating.
		{desc: "labeled with the review label", inputs: map[string]string{"review_label": "deploy"},
			t: pr("labeled", labels("bug", "deploy"), label("deploy")), want: review()},
		{desc: "labeled with another label", inputs: map[string]string{"review_label": "deploy"},
			t:    pr("labeled", labels("bug", "deploy"), label("bug")),
			want: skip(review(), `pull request #80: the label "bug" is not the review label "deploy", nothing to do`)},
		{desc: "opened without the review label", inputs: map[string]string{"review_label": "deploy"},
			t: pr("opened", labels("bug")), want: skip(review(), noLabelNotice)},
		{desc: "opened with the review label", inputs: map[string]string{"review_label": "deploy"},
			t: pr("opened", labels("deploy")), want: review()},
		{desc: "synchronize without the review label", inputs: map[string]string{"review_label": "deploy"},
			t: pr("synchronize"), want: skip(review(), noLabelNotice)},
		{desc: "labeled draft", inputs: map[string]string{"review_label": "deploy"},
			t: pr("labeled", labels("deploy"), label("deploy"), draft), want: skip(review(), draftNotice)},
		{desc: "unlabeled the review label", inputs: map[string]string{"review_label": "deploy"},
			t: pr("unlabeled", label("deploy")), want: teardown()},
		{desc: "unlabeled another label", inputs: map[string]string{"review_label": "deploy"},
			t:    pr("unlabeled", labels("deploy"), label("bug")),
			want: Plan{Skip: `pull request #80: removing the label "bug" changes nothing`, Branch: "feature/New_UI", PR: prNumber}},
		{desc: "unlabeled without review_label", t: pr("unlabeled", label("bug")),
			want: Plan{Skip: `pull request #80: removing the label "bug" changes nothing`, Branch: "feature/New_UI", PR: prNumber}},

		// closed: teardown, no commit.
		{desc: "closed", t: pr("closed"), want: teardown()},
		{desc: "closed merged", t: pr("closed", func(t *event.Trigger) { t.PR.Merged = true }), want: teardown()},
		{desc: "closed without the review label", inputs: map[string]string{"review_label": "deploy"}, t: pr("closed"), want: teardown()},
		{desc: "closed draft", t: pr("closed", draft), want: teardown()},

		// pull_request actions that do nothing.
		{desc: "assigned", t: pr("assigned"),
			want: Plan{Skip: `pull_request action "assigned" does not deploy: review apps follow opened, reopened, synchronize, ready_for_review, labeled and closed`, Branch: "feature/New_UI", PR: prNumber}},
		{desc: "converted_to_draft", t: pr("converted_to_draft", draft),
			want: Plan{Skip: `pull_request action "converted_to_draft" does not deploy: review apps follow opened, reopened, synchronize, ready_for_review, labeled and closed`, Branch: "feature/New_UI", PR: prNumber}},

		// Forks.
		{desc: "fork opened", t: pr("opened", fork), want: skip(review(), forkNotice)},
		{desc: "fork closed", t: pr("closed", fork), want: skip(teardown(), forkNotice)},
		{desc: "deleted fork", t: pr("synchronize", deletedFork),
			want: skip(review(), "pull request #80 comes from a deleted fork: forks get no secrets and a read-only token, so nothing is deployed for it")},
		{desc: "fork with explicit prod", inputs: map[string]string{"stage": "prod"}, t: pr("opened", fork),
			want: Plan{Stage: StageProd, Skip: forkNotice, Branch: "feature/New_UI", PR: prNumber}},
		{desc: "fork repository names differ only in case", t: pr("opened", func(t *event.Trigger) { t.PR.HeadRepo = strings.ToUpper(repo) }), want: review()},

		// pull_request_target, opted into.
		{desc: "target same repository", inputs: map[string]string{"allow_pull_request_target": "true"}, t: pr("opened", target), want: review()},
		{desc: "target fork without review_label", inputs: map[string]string{"allow_pull_request_target": "true"}, t: pr("opened", target, fork),
			want: skip(review(), "pull request #80 comes from the fork outsider/pangeo-forge-orchestrator: on pull_request_target a fork is deployed only behind review_label, so that a maintainer reviews its code first; set review_label to allow it")},
		{desc: "target fork labeled", inputs: map[string]string{"allow_pull_request_target": "true", "review_label": "deploy"},
			t: pr("labeled", target, fork, labels("deploy"), label("deploy")), want: review()},
		{desc: "target fork synchronize", inputs: map[string]string{"allow_pull_request_target": "true", "review_label": "deploy"},
			t:    pr("synchronize", target, fork, labels("deploy")),
			want: skip(review(), `pull request #80 comes from the fork outsider/pangeo-forge-orchestrator: its new code is deployed only when a maintainer adds the label "deploy" again after reviewing it`)},
		{desc: "target fork labeled with another label", inputs: map[string]string{"allow_pull_request_target": "true", "review_label": "deploy"},
			t:    pr("labeled", target, fork, labels("deploy", "bug"), label("bug")),
			want: skip(review(), `pull request #80: the label "bug" is not the review label "deploy", nothing to do`)},
		{desc: "target fork closed", inputs: map[string]string{"allow_pull_request_target": "true", "review_label": "deploy"},
			t: pr("closed", target, fork), want: teardown()},
		{desc: "target deleted fork closed", inputs: map[string]string{"allow_pull_request_target": "true", "review_label": "deploy"},
			t: pr("closed", target, deletedFork), want: teardown()},
		{desc: "target deleted fork synchronize", inputs: map[string]string{"allow_pull_request_target": "true", "review_label": "deploy"},
			t:    pr("synchronize", target, deletedFork, labels("deploy")),
			want: skip(review(), "pull request #80 comes from a deleted fork: its code cannot be deployed")},
		{desc: "target fork explicit staging", inputs: map[string]string{"allow_pull_request_target": "true", "review_label": "deploy", "stage": "staging"},
			t:    pr("opened", target, fork, labels("deploy")),
			want: Plan{Stage: StageStaging, Skip: "pull request #80 comes from the fork outsider/pangeo-forge-orchestrator: only review apps are deployed from forks, never staging", Branch: "feature/New_UI", PR: prNumber}},
		{desc: "target fork other action", inputs: map[string]string{"allow_pull_request_target": "true", "review_label": "deploy"},
			t:    pr("edited", target, fork),
			want: Plan{Skip: `pull_request action "edited" does not deploy: review apps follow opened, reopened, synchronize, ready_for_review, labeled and closed`, Branch: "feature/New_UI", PR: prNumber}},

		// Explicit stages on pull requests.
		{desc: "explicit review on assigned", inputs: map[string]string{"stage": "review"}, t: pr("assigned"), want: review()},
		{desc: "explicit review on closed", inputs: map[string]string{"stage": "review"}, t: pr("closed"),
			want: skip(review(), "pull request #80 is closed: nothing to deploy for it")},
		{desc: "explicit review honours the label", inputs: map[string]string{"stage": "review", "review_label": "deploy"}, t: pr("synchronize"),
			want: skip(review(), noLabelNotice)},
		{desc: "explicit teardown on synchronize", inputs: map[string]string{"stage": "teardown"}, t: pr("synchronize"), want: teardown()},
		{desc: "explicit staging on a PR", inputs: map[string]string{"stage": "staging"}, t: pr("synchronize"),
			want: Plan{Stage: StageStaging, Deployment: "pangeo-forge-staging", Commit: headSHA, Branch: "feature/New_UI", PR: prNumber}},
		{desc: "explicit check-secrets on a PR", inputs: map[string]string{"stage": "check-secrets"}, t: pr("opened", draft),
			want: Plan{Stage: StageCheckSecrets, Commit: headSHA, Branch: "feature/New_UI", PR: prNumber}},
		{desc: "explicit test on a PR tests its head", inputs: map[string]string{"stage": "test"}, t: pr("synchronize"),
			want: Plan{Stage: StageTest, Commit: headSHA, Branch: "feature/New_UI", PR: prNumber}},
		{desc: "explicit check-secrets on a fork's PR: it reads files only", inputs: map[string]string{"stage": "check-secrets"}, t: pr("opened", fork),
			want: Plan{Stage: StageCheckSecrets, Commit: headSHA, Branch: "feature/New_UI", PR: prNumber}},
		{desc: "explicit check-secrets on a deleted fork's PR", inputs: map[string]string{"stage": "check-secrets"}, t: pr("synchronize", deletedFork),
			want: Plan{Stage: StageCheckSecrets, Commit: headSHA, Branch: "feature/New_UI", PR: prNumber}},
		{desc: "explicit check-secrets on a fork's PR under pull_request_target", inputs: map[string]string{"stage": "check-secrets", "allow_pull_request_target": "true"}, t: pr("opened", target, fork),
			want: Plan{Stage: StageCheckSecrets, Commit: headSHA, Branch: "feature/New_UI", PR: prNumber}},
		{desc: "explicit test on a fork's PR", inputs: map[string]string{"stage": "test"}, t: pr("synchronize", fork),
			want: Plan{Stage: StageTest, Skip: "pull request #80 comes from the fork outsider/pangeo-forge-orchestrator: forks get no secrets and a read-only token, so nothing is deployed for it", Branch: "feature/New_UI", PR: prNumber}},
		{desc: "explicit test on a closed PR", inputs: map[string]string{"stage": "test"}, t: pr("closed"),
			want: Plan{Stage: StageTest, Skip: "pull request #80 is closed: nothing to deploy for it", Branch: "feature/New_UI", PR: prNumber}},

		// push.
		{desc: "push to staging branch", t: push("refs/heads/main", pushSHA, false),
			want: Plan{Stage: StageStaging, Deployment: "pangeo-forge-staging", Commit: pushSHA, Branch: "main"}},
		{desc: "push to prod branch", t: push("refs/heads/prod", pushSHA, false),
			want: Plan{Stage: StageProd, Deployment: "pangeo-forge", Commit: pushSHA, Branch: "prod"}},
		{desc: "push to custom branches", inputs: map[string]string{"staging_branch": "develop", "prod_branch": "main"}, t: push("refs/heads/main", pushSHA, false),
			want: Plan{Stage: StageProd, Deployment: "pangeo-forge", Commit: pushSHA, Branch: "main"}},
		{desc: "push staging name with branch", inputs: map[string]string{"staging_name": "app-{branch}"}, t: push("refs/heads/main", pushSHA, false),
			want: Plan{Stage: StageStaging, Deployment: "app-main", Commit: pushSHA, Branch: "main"}},
		{desc: "push without after uses GITHUB_SHA", t: push("refs/heads/main", "", false),
			want: Plan{Stage: StageStaging, Deployment: "pangeo-forge-staging", Commit: runSHA, Branch: "main"}},
		{desc: "push deleting the staging branch", t: push("refs/heads/main", zeroSHA, true),
			want: Plan{Skip: "push deleted refs/heads/main: nothing to deploy", Branch: "main"}},
		{desc: "push deleting the prod branch", t: push("refs/heads/prod", zeroSHA, true),
			want: Plan{Skip: "push deleted refs/heads/prod: nothing to deploy", Branch: "prod"}},
		{desc: "push to another branch", t: push("refs/heads/feature", pushSHA, false),
			want: Plan{Skip: "push to refs/heads/feature does not deploy: only pushes to main (staging) and prod (prod) do", Branch: "feature"}},
		{desc: "push of a tag", t: push("refs/tags/v1.0.0", pushSHA, false),
			want: Plan{Skip: "push to refs/tags/v1.0.0 does not deploy: only pushes to main (staging) and prod (prod) do"}},
		{desc: "push to a branch named like the staging branch's prefix", t: push("refs/heads/main-old", pushSHA, false),
			want: Plan{Skip: "push to refs/heads/main-old does not deploy: only pushes to main (staging) and prod (prod) do", Branch: "main-old"}},
		{desc: "explicit prod on push elsewhere", inputs: map[string]string{"stage": "prod"}, t: push("refs/heads/hotfix", pushSHA, false),
			want: Plan{Stage: StageProd, Deployment: "pangeo-forge", Commit: pushSHA, Branch: "hotfix"}},
		{desc: "explicit staging on a deleted branch", inputs: map[string]string{"stage": "staging"}, t: push("refs/heads/main", zeroSHA, true),
			want: Plan{Stage: StageStaging, Skip: "push deleted refs/heads/main: nothing to deploy", Branch: "main"}},
		{desc: "explicit review on push", inputs: map[string]string{"stage": "review"}, t: push("refs/heads/main", pushSHA, false),
			want: Plan{Stage: StageReview, Skip: "stage review needs a pull request and push events have none: nothing to deploy", Branch: "main"}},
		{desc: "explicit teardown on push sweeps", inputs: map[string]string{"stage": "teardown"}, t: push("refs/heads/main", pushSHA, false),
			want: Plan{Stage: StageTeardown, Sweep: true, Branch: "main"}},
		{desc: "explicit test on push", inputs: map[string]string{"stage": "test"}, t: push("refs/heads/feature", pushSHA, false),
			want: Plan{Stage: StageTest, Commit: pushSHA, Branch: "feature"}},
		{desc: "explicit test on a deleted branch", inputs: map[string]string{"stage": "test"}, t: push("refs/heads/feature", zeroSHA, true),
			want: Plan{Stage: StageTest, Skip: "push deleted refs/heads/feature: nothing to deploy", Branch: "feature"}},

		// workflow_dispatch.
		{desc: "dispatch prod", inputs: map[string]string{"stage": "prod"}, t: dispatch("refs/heads/prod", nil),
			want: Plan{Stage: StageProd, Deployment: "pangeo-forge", Commit: runSHA, Branch: "prod", Manual: true}},
		{desc: "dispatch staging", inputs: map[string]string{"stage": "staging"}, t: dispatch("refs/heads/main", map[string]string{"stage": "staging"}),
			want: Plan{Stage: StageStaging, Deployment: "pangeo-forge-staging", Commit: runSHA, Branch: "main", Manual: true}},
		{desc: "dispatch auto", t: dispatch("refs/heads/main", nil),
			want: Plan{Skip: "workflow_dispatch with stage auto does nothing: set the stage input (review, staging, prod, teardown, check-secrets or rollback), e.g. stage: ${{ inputs.stage }}", Branch: "main", Manual: true}},
		{desc: "dispatch teardown sweeps", inputs: map[string]string{"stage": "teardown"}, t: dispatch("refs/heads/main", nil),
			want: Plan{Stage: StageTeardown, Sweep: true, Branch: "main", Manual: true}},
		{desc: "dispatch teardown of one PR", inputs: map[string]string{"stage": "teardown"}, t: dispatch("refs/heads/main", map[string]string{"pr": "#80"}),
			want: Plan{Stage: StageTeardown, Deployment: "pforge-pr-80", PR: prNumber, Manual: true}},
		{desc: "dispatch check-secrets", inputs: map[string]string{"stage": "check-secrets"}, t: dispatch("refs/heads/main", nil),
			want: Plan{Stage: StageCheckSecrets, Commit: runSHA, Branch: "main", Manual: true}},
		{desc: "dispatch rollback of prod", inputs: map[string]string{"stage": "rollback"}, t: dispatch("refs/heads/main", nil),
			want: Plan{Stage: StageRollback, Deployment: "pangeo-forge", Branch: "main", Manual: true}},
		{desc: "dispatch rollback of staging", inputs: map[string]string{"stage": "rollback", "rollback_app": "staging"}, t: dispatch("refs/heads/main", nil),
			want: Plan{Stage: StageRollback, Deployment: "pangeo-forge-staging", Branch: "main", Manual: true}},
		{desc: "dispatch review", inputs: map[string]string{"stage": "review"}, t: dispatch("refs/heads/main", nil),
			want: Plan{Stage: StageReview, Skip: "stage review needs a pull request and workflow_dispatch events have none: nothing to deploy", Branch: "main", Manual: true}},

		// schedule and everything else.
		{desc: "schedule auto", t: event.Trigger{Name: "schedule"},
			want: Plan{Skip: "event schedule does not deploy with stage auto: set the stage input to choose what it does", Branch: "main"}},
		{desc: "schedule teardown sweeps", inputs: map[string]string{"stage": "teardown"}, t: event.Trigger{Name: "schedule"},
			want: Plan{Stage: StageTeardown, Sweep: true, Branch: "main"}},
		{desc: "issue_comment without an issue", t: event.Trigger{Name: "issue_comment"},
			want: Plan{Stage: StageReview, Skip: "the issue_comment payload names no issue: nothing to do"}},
		{desc: "release with explicit prod", inputs: map[string]string{"stage": "prod"}, t: event.Trigger{Name: "release"},
			want: Plan{Stage: StageProd, Deployment: "pangeo-forge", Commit: runSHA, Branch: "main"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			got, err := Resolve(cfg(t, tt.inputs), tt.t)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc   string
		inputs map[string]string
		env    func(*config.Config)
		t      event.Trigger
		want   string
	}{
		{desc: "pull_request_target refused", t: pr("opened", target),
			want: "refusing to run on pull_request_target: it runs with the repository's secrets on the pull request's untrusted code; trigger the workflow on pull_request instead, or set allow_pull_request_target: true if every PR is reviewed before it runs"},
		{desc: "pull_request_target refused for a fork's push", t: pr("synchronize", target, fork),
			want: "refusing to run on pull_request_target"},
		{desc: "pull request without PR", t: event.Trigger{Name: "pull_request", Action: "opened"},
			want: "pull_request event without a pull request in its payload: GITHUB_EVENT_PATH must point at the webhook payload"},
		{desc: "pull request without head sha", t: pr("opened", func(t *event.Trigger) { t.PR.HeadSHA = "" }),
			want: "pull_request payload of pull request #80 has no pull_request.head.sha: cannot tell which commit to deploy"},
		{desc: "review name too long", inputs: map[string]string{"review_name": "{branch}"},
			t:    pr("opened", func(t *event.Trigger) { t.PR.HeadRef = strings.Repeat("x", 64) }),
			want: `input review_name: deployment name template "{branch}" gives "` + strings.Repeat("x", 64) + `": a deployment name must be 1 to 63 lower-case letters, digits and dashes, not starting or ending with a dash`},
		{desc: "staging name uses {pr}", inputs: map[string]string{"staging_name": "staging-{pr}"}, t: push("refs/heads/main", pushSHA, false),
			want: `input staging_name: deployment name template "staging-{pr}" uses {pr}, which this run has no value for (only pull request runs have a PR number)`},
		{desc: "unknown placeholder", inputs: map[string]string{"prod_name": "app-{sha}"}, t: push("refs/heads/prod", pushSHA, false),
			want: `input prod_name: deployment name template "app-{sha}" uses the unknown placeholder {sha}: use {pr}, {user} or {branch}`},
		{desc: "invalid fallback", inputs: map[string]string{"review_fallback": "Dev_App"}, t: pr("opened"),
			want: `input review_fallback: deployment name template "Dev_App" gives "Dev_App": a deployment name must be 1 to 63 lower-case letters, digits and dashes, not starting or ending with a dash`},
		{desc: "dispatch without GITHUB_SHA", inputs: map[string]string{"stage": "prod"}, env: func(c *config.Config) { c.GitHub.SHA = "" },
			t: dispatch("refs/heads/prod", nil), want: "GITHUB_SHA is not set: cannot tell which commit the workflow_dispatch run deploys"},
		{desc: "dispatch teardown with a bad pr", inputs: map[string]string{"stage": "teardown"}, t: dispatch("refs/heads/main", map[string]string{"pr": "eighty"}),
			want: `workflow_dispatch input pr: "eighty" is not a pull request number`},
		{desc: "dispatch teardown needs branch", inputs: map[string]string{"stage": "teardown", "review_name": "pr-{branch}"}, t: dispatch("refs/heads/main", map[string]string{"pr": "80"}),
			want: `input review_name: deployment name template "pr-{branch}" uses {branch}, which this run has no value for (no branch in the event and no GITHUB_REF branch)`},
		{desc: "rollback on a pull request", inputs: map[string]string{"stage": "rollback"}, t: pr("opened"),
			want: "stage rollback does not run on pull_request events: run it from workflow_dispatch (docs/workflows/rollback.yml)"},
		{desc: "stage not validated by config", env: func(c *config.Config) { c.Stage = "local" }, t: push("refs/heads/main", pushSHA, false),
			want: `input stage: "local" is not a stage: use one of auto, review, staging, prod, test, teardown, check-secrets, rollback, approve`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			c := cfg(t, tt.inputs)
			if tt.env != nil {
				tt.env(&c)
			}
			p, err := Resolve(c, tt.t)
			if err == nil {
				t.Fatalf("Resolve = %+v, want an error", p)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n%q\ndoes not start with\n%q", err, tt.want)
			}
		})
	}
}

// TestResolveExamples runs GitHub's real webhook examples through the event
// parser and the planner, as the action does.
func TestResolveExamples(t *testing.T) {
	t.Parallel()
	const sha = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
	reviewPlan := Plan{Stage: StageReview, Deployment: "pforge-pr-2", Commit: sha, Branch: "changes", PR: 2}
	tests := []struct {
		file, name string
		inputs     map[string]string
		want       Plan
	}{
		{"pull_request.opened.json", "pull_request", nil, reviewPlan},
		{"pull_request.synchronize.json", "pull_request", nil, reviewPlan},
		{"pull_request.ready_for_review.json", "pull_request", nil, reviewPlan},
		{"pull_request.labeled.json", "pull_request", map[string]string{"review_label": "bug"}, reviewPlan},
		{"pull_request.unlabeled.json", "pull_request", map[string]string{"review_label": "bug"},
			Plan{Stage: StageTeardown, Deployment: "pforge-pr-2", Branch: "changes", PR: 2}},
		{"pull_request.closed.json", "pull_request", nil, Plan{Stage: StageTeardown, Deployment: "pforge-pr-2", Branch: "changes", PR: 2}},
		{"pull_request.opened.json", "pull_request", map[string]string{"review_label": "deploy"},
			Plan{Stage: StageReview, Skip: `pull request #2 has no "deploy" label: add it to deploy a review app`, Branch: "changes", PR: 2}},
		{"push.json", "push", map[string]string{"staging_branch": "master"},
			Plan{Stage: StageStaging, Deployment: "pangeo-forge-staging", Commit: "6113728f27ae82c7b1a177c8d03f9e96e0adf246", Branch: "master"}},
		{"push.json", "push", nil,
			Plan{Skip: "push to refs/heads/master does not deploy: only pushes to main (staging) and prod (prod) do", Branch: "master"}},
		{"push.tag-deleted.json", "push", nil, Plan{Skip: "push deleted refs/tags/simple-tag: nothing to deploy"}},
		{"workflow_dispatch.json", "workflow_dispatch", map[string]string{"stage": "prod"},
			Plan{Stage: StageProd, Deployment: "pangeo-forge", Commit: runSHA, Branch: "master", Manual: true}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			tr, err := event.Load(tt.name, filepath.Join("..", "event", "testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Resolve(cfg(t, tt.inputs), tr)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzResolve feeds arbitrary payloads through the parser and the planner:
// no panic, and a plan that deploys always names a valid deployment and a
// commit.
func FuzzResolve(f *testing.F) {
	for _, s := range []struct{ event, stage, label, payload string }{
		{"pull_request", "auto", "", `{"action":"opened","pull_request":{"number":1,"head":{"sha":"a","ref":"x","repo":{"full_name":"o/r"}},"base":{"repo":{"full_name":"o/r"}}}}`},
		{"pull_request_target", "review", "deploy", `{"action":"labeled","label":{"name":"deploy"},"pull_request":{"number":2,"labels":[{"name":"deploy"}],"head":{"sha":"a","repo":{"full_name":"f/r"}},"base":{"repo":{"full_name":"o/r"}}}}`},
		{"push", "auto", "", `{"ref":"refs/heads/main","after":"abc"}`},
		{"workflow_dispatch", "teardown", "", `{"ref":"refs/heads/main","inputs":{"pr":"3"}}`},
		{"schedule", "teardown", "", `{}`},
	} {
		f.Add(s.event, s.stage, s.label, []byte(s.payload))
	}
	f.Fuzz(func(t *testing.T, name, stage, label string, payload []byte) {
		tr, err := event.Parse(name, payload)
		if err != nil {
			return
		}
		c := config.Config{
			Stage: stage, ReviewLabel: label, AllowPullRequestTarget: true,
			ReviewName: config.DefaultReviewName, StagingName: config.DefaultStagingName, ProdName: config.DefaultProdName,
			StagingBranch: config.DefaultStagingBranch, ProdBranch: config.DefaultProdBranch,
			GitHub: config.GitHubEnv{SHA: runSHA, Ref: "refs/heads/main", Actor: "octocat"},
		}
		p, err := Resolve(c, tr)
		if err != nil || p.Skip != "" {
			return
		}
		switch p.Stage {
		case StageReview, StageStaging, StageProd:
			if p.Commit == "" || !validName.MatchString(p.Deployment) {
				t.Errorf("deploying plan without commit or valid deployment: %+v", p)
			}
		case StageTeardown:
			if p.Commit != "" || (!p.Sweep && !validName.MatchString(p.Deployment)) {
				t.Errorf("teardown plan with a commit or an invalid deployment: %+v", p)
			}
		case StageCheckSecrets:
		default:
			t.Errorf("plan with unexpected stage %q: %+v", p.Stage, p)
		}
	})
}
