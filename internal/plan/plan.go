// Package plan decides what a run does: from the validated inputs and the
// event, which stage, which deployment (secrets file), which commit. It is
// pure: no I/O, so every row of the event table is a unit test.
package plan

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/event"
)

// Stage is what the run does to Heroku.
type Stage string

// The stages. StageLocal is the `deploy-action local` command, never the
// result of Resolve.
const (
	StageReview       Stage = "review"
	StageStaging      Stage = "staging"
	StageProd         Stage = "prod"
	StageTest         Stage = "test" // a Heroku CI test run of the commit, nothing deployed
	StageTeardown     Stage = "teardown"
	StageCheckSecrets Stage = "check-secrets"
	StageRollback     Stage = "rollback" // an app of the pipeline back to an earlier release, on demand
	// StageApprove checks a /deploy-review comment (who wrote it, which commit) and deploys
	// nothing: the workflow then checks out only the commit it approved (output commit).
	StageApprove Stage = "approve"
	StageLocal   Stage = "local"
)

// Plan is the decision. When Skip is set nothing is deployed and the run
// succeeds with Skip as its notice; Stage then names the stage that was
// skipped if the event pointed at one (a draft PR: review), else it is "".
type Plan struct {
	Stage      Stage
	Skip       string // non-empty: nothing to do, this is the notice saying why
	Deployment string // secrets file name: secrets/config.<Deployment>.yaml; "" for a sweep and for check-secrets (every file)
	Fallback   string // review_fallback deployment, "" if none
	Commit     string // commit to deploy (PR head, pushed commit); "" for teardown/cleanup
	Branch     string
	PR         int  // 0 when not a PR run
	Manual     bool // workflow_dispatch
	Sweep      bool // teardown without a PR: clean up closed/expired review apps
	// Approval is set on issue_comment runs: the /deploy-review command, checked with GitHub
	// (deploy.Runner.Approve) before anything else; Commit, Branch and Deployment are known only
	// then (Approved). Its secrets are the review_fallback file from the default branch only.
	Approval *Approval
	// ForkRepoID is the fork's repository ID of an approved fork pull request (Heroku's
	// fork_repo_id when its review app is created); 0 otherwise.
	ForkRepoID int64
}

// Resolve applies the event table of the design (stage: auto) or the stage
// input given explicitly. An error means the run must fail (refused
// pull_request_target, a template that gives no valid name, a payload
// without the commit); a deliberate no-op is a Plan with Skip set.
func Resolve(cfg config.Config, t event.Trigger) (Plan, error) {
	if t.Name == "pull_request_target" && !cfg.AllowPullRequestTarget && !(resolver{cfg: cfg, t: t}).teardownOnly() {
		return Plan{}, errors.New("refusing to run on pull_request_target: it runs with the repository's secrets on the pull request's untrusted code; " +
			"trigger the workflow on pull_request instead, or set allow_pull_request_target: true if every PR is reviewed before it runs")
	}
	if cfg.Stage != "" && !slices.Contains(config.Stages(), cfg.Stage) {
		return Plan{}, fmt.Errorf("input stage: %q is not a stage: use one of %s", cfg.Stage, strings.Join(config.Stages(), ", "))
	}
	r := resolver{cfg: cfg, t: t}
	switch {
	case t.Name == "pull_request" || t.Name == "pull_request_target":
		return r.pullRequest()
	case t.Name == "issue_comment":
		return r.comment()
	case cfg.Stage == string(StageApprove):
		return Plan{}, fmt.Errorf("input stage: approve checks a %s comment and runs on issue_comment events only, not on %s", Command, t.Name)
	case cfg.Stage == "" || cfg.Stage == "auto":
		return r.auto()
	default:
		return r.explicit(Stage(cfg.Stage))
	}
}

type resolver struct {
	cfg config.Config
	t   event.Trigger
}

// auto handles every event but pull requests when stage is auto.
func (r resolver) auto() (Plan, error) {
	t := r.t
	switch t.Name {
	case "push":
		if t.Deleted {
			return Plan{Skip: fmt.Sprintf("push deleted %s: nothing to deploy", t.Ref), Branch: branchOf(t.Ref)}, nil
		}
		switch t.Ref {
		case "refs/heads/" + r.cfg.StagingBranch:
			return r.deploy(StageStaging)
		case "refs/heads/" + r.cfg.ProdBranch:
			return r.deploy(StageProd)
		}
		return Plan{
			Skip: fmt.Sprintf("push to %s does not deploy: only pushes to %s (staging) and %s (prod) do",
				t.Ref, r.cfg.StagingBranch, r.cfg.ProdBranch),
			Branch: branchOf(t.Ref),
		}, nil
	case "workflow_dispatch":
		return Plan{
			Skip:   "workflow_dispatch with stage auto does nothing: set the stage input (review, staging, prod, teardown, check-secrets or rollback), e.g. stage: ${{ inputs.stage }}",
			Branch: r.branch(),
			Manual: true,
		}, nil
	}
	return Plan{Skip: fmt.Sprintf("event %s does not deploy with stage auto: set the stage input to choose what it does", t.Name), Branch: r.branch()}, nil
}

// explicit handles a stage given as input on an event that is not a pull
// request.
func (r resolver) explicit(s Stage) (Plan, error) {
	t := r.t
	if t.Name == "push" && t.Deleted && s != StageTeardown {
		return Plan{Stage: s, Skip: fmt.Sprintf("push deleted %s: nothing to deploy", t.Ref), Branch: branchOf(t.Ref)}, nil
	}
	switch s {
	case StageReview:
		// A workflow on both push and pull_request may pass stage: review.
		return Plan{Stage: StageReview, Skip: fmt.Sprintf("stage review needs a pull request and %s events have none: nothing to deploy", t.Name), Branch: r.branch(), Manual: r.manual()}, nil
	case StageTeardown:
		pr, err := r.dispatchPR()
		if err != nil {
			return Plan{}, err
		}
		if pr == 0 {
			return Plan{Stage: StageTeardown, Sweep: true, Branch: r.branch(), Manual: r.manual()}, nil
		}
		name, err := r.name(r.cfg.ReviewName, pr, "")
		if err != nil {
			return Plan{}, err
		}
		return Plan{Stage: StageTeardown, Deployment: name, PR: pr, Manual: true}, nil
	case StageTest:
		// Heroku CI runs the tests with the pipeline's own test config: no deployment, no secrets.
		commit, err := r.commit()
		if err != nil {
			return Plan{}, err
		}
		return Plan{Stage: StageTest, Commit: commit, Branch: r.branch(), Manual: r.manual()}, nil
	case StageRollback:
		// What runs afterwards is an earlier release's code, found on Heroku: the event's commit
		// names nothing that is deployed, and no secrets file is read.
		template, branch := r.cfg.ProdName, r.cfg.ProdBranch
		if r.cfg.RollbackApp == "staging" {
			template, branch = r.cfg.StagingName, r.cfg.StagingBranch
		}
		name, err := r.name(template, 0, branch)
		if err != nil {
			return Plan{}, err
		}
		return Plan{Stage: StageRollback, Deployment: name, Branch: r.branch(), Manual: r.manual()}, nil
	case StageCheckSecrets:
		// Checking the files needs no commit; report it when known.
		commit, _ := r.commit()
		return Plan{Stage: StageCheckSecrets, Commit: commit, Branch: r.branch(), Manual: r.manual()}, nil
	}
	return r.deploy(s)
}

// deploy plans a staging or prod deployment of the event's commit.
func (r resolver) deploy(s Stage) (Plan, error) {
	template := r.cfg.StagingName
	if s == StageProd {
		template = r.cfg.ProdName
	}
	commit, err := r.commit()
	if err != nil {
		return Plan{}, err
	}
	branch := r.branch()
	name, err := r.name(template, 0, branch)
	if err != nil {
		return Plan{}, err
	}
	return Plan{Stage: s, Deployment: name, Commit: commit, Branch: branch, Manual: r.manual()}, nil
}

// pullRequest handles pull_request (and an allowed pull_request_target) for
// every stage input.
func (r resolver) pullRequest() (Plan, error) {
	t, cfg := r.t, r.cfg
	pr := t.PR
	if pr == nil {
		return Plan{}, fmt.Errorf("%s event without a pull request in its payload: GITHUB_EVENT_PATH must point at the webhook payload", t.Name)
	}
	stage := Stage(cfg.Stage)
	if cfg.Stage == "" || cfg.Stage == "auto" {
		stage = r.autoPRStage()
	}
	if stage == StageRollback {
		// A pull request's workflow runs what its author wrote: production is not theirs to move.
		return Plan{}, fmt.Errorf("stage rollback does not run on %s events: run it from workflow_dispatch (docs/workflows/rollback.yml)", t.Name)
	}
	if stage == StageApprove {
		return Plan{}, fmt.Errorf("input stage: approve checks a %s comment and runs on issue_comment events only, not on %s", Command, t.Name)
	}
	base := Plan{Stage: stage, Branch: pr.HeadRef, PR: pr.Number}
	if skip := r.forkSkip(stage); skip != "" {
		base.Skip = skip
		return base, nil
	}
	if base.Skip = r.dependabotSkip(stage); base.Skip != "" {
		return base, nil
	}
	if base.Skip = r.prSkip(stage); base.Skip != "" {
		return base, nil
	}
	switch stage {
	case StageTeardown:
		name, err := r.name(cfg.ReviewName, pr.Number, pr.HeadRef)
		if err != nil {
			return Plan{}, err
		}
		base.Deployment = name
		return base, nil
	case StageCheckSecrets:
		base.Commit = pr.HeadSHA
		return base, nil
	}
	if pr.HeadSHA == "" {
		return Plan{}, fmt.Errorf("%s payload of pull request #%d has no pull_request.head.sha: cannot tell which commit to deploy", t.Name, pr.Number)
	}
	base.Commit = pr.HeadSHA
	if stage == StageTest {
		return base, nil
	}
	template := cfg.ReviewName
	switch stage {
	case StageStaging:
		template = cfg.StagingName
	case StageProd:
		template = cfg.ProdName
	}
	name, err := r.name(template, pr.Number, pr.HeadRef)
	if err != nil {
		return Plan{}, err
	}
	base.Deployment = name
	if stage == StageReview && cfg.ReviewFallback != "" {
		fb, err := r.name(cfg.ReviewFallback, pr.Number, pr.HeadRef)
		if err != nil {
			return Plan{}, fmt.Errorf("input review_fallback: %w", err)
		}
		base.Fallback = fb
	}
	if stage == StageReview {
		if err := r.notProtected(base.Deployment, "review_name"); err != nil {
			return Plan{}, err
		}
		if err := r.notProtected(base.Fallback, "review_fallback"); err != nil {
			return Plan{}, err
		}
	}
	return base, nil
}

// teardownOnly reports whether a pull request event only tears the pull request's review app down
// (closed, or unlabeled with review_label, or stage teardown): that runs none of the pull
// request's code and reads nothing from its checkout, so pull_request_target may do it without
// allow_pull_request_target. It is how a fork's review app, approved with /deploy-review, is
// deleted when its pull request closes (a fork's pull_request run has no secrets).
func (r resolver) teardownOnly() bool {
	if r.t.PR == nil {
		return false
	}
	stage := Stage(r.cfg.Stage)
	if r.cfg.Stage == "" || r.cfg.Stage == "auto" {
		stage = r.autoPRStage()
	}
	return stage == StageTeardown
}

// dependabotSkip says why a run Dependabot started on its pull request does nothing, or "": GitHub
// gives such runs Dependabot's secrets only, never the repository's Actions secrets ("Automating
// Dependabot with GitHub Actions"), so heroku_api_key arrives empty unless it was added as a
// Dependabot secret. Failing would mark every Dependabot pull request red for a key it cannot have.
func (r resolver) dependabotSkip(stage Stage) string {
	if r.cfg.GitHub.Actor != config.DependabotActor || r.cfg.HerokuAPIKey != "" || stage == StageCheckSecrets {
		return ""
	}
	return fmt.Sprintf("pull request #%d runs as %s, which GitHub gives Dependabot's secrets only, and heroku_api_key is empty: nothing is deployed; a maintainer deploys it with the comment %s <full head commit> (docs/workflows/approve-review.yml), or add the keys as Dependabot secrets", r.t.PR.Number, config.DependabotActor, Command)
}

// notProtected refuses a review deployment (or review fallback) named like the staging or prod
// deployment: a review run builds a pull request's code, which must never get those secrets. It is
// checked before anything is read.
func (r resolver) notProtected(name, input string) error {
	if name == "" {
		return nil
	}
	for _, d := range []struct{ input, template, branch string }{
		{"staging_name", r.cfg.StagingName, r.cfg.StagingBranch},
		{"prod_name", r.cfg.ProdName, r.cfg.ProdBranch},
	} {
		protected, err := Name(d.template, map[string]string{"branch": d.branch})
		if err == nil && protected == name {
			return fmt.Errorf("input %s: the review deployment %q is also the %s deployment (input %s): a pull request's review app would get its secrets (config.%s.yaml); give review apps their own name, e.g. pforge-pr-{pr}", input, name, strings.TrimSuffix(d.input, "_name"), d.input, name)
		}
	}
	return nil
}

// forkSkip says why a fork's pull request is not deployed, or "".
//
// On pull_request a fork's run has no secrets and a read-only token: always
// skip. On pull_request_target (opted into) the run has secrets, which is the
// only reason to opt in, so a fork gets a review app, but only behind
// review_label: a label only a maintainer can add is the human review of the
// untrusted code, so only the labeled event deploys; commits pushed later are
// unreviewed and wait for the label to be added again. Its app is torn down
// even when the fork was deleted since; staging and prod never run fork code.
//
// check-secrets runs on every fork, on either event: it reads the checkout's
// files only (no secret, no key, no write), and a fork is exactly where a
// plaintext secrets file arrives. Reporting to GitHub stays off for a fork's
// pull_request run (gh.Reporter): its token cannot write checks.
func (r resolver) forkSkip(stage Stage) string {
	pr := r.t.PR
	if !pr.Fork() || stage == StageCheckSecrets {
		return ""
	}
	from := "a deleted fork"
	if pr.HeadRepo != "" {
		from = "the fork " + pr.HeadRepo
	}
	if r.t.Name != "pull_request_target" {
		return fmt.Sprintf("pull request #%d comes from %s: forks get no secrets and a read-only token, so nothing is deployed for it", pr.Number, from)
	}
	switch {
	case stage == StageTeardown:
		return "" // deleting its app runs none of its code: with or without review_label
	case r.cfg.ReviewLabel == "":
		return fmt.Sprintf("pull request #%d comes from %s: on pull_request_target a fork is deployed only behind review_label, so that a maintainer reviews its code first; set review_label to allow it", pr.Number, from)
	case stage == "" || stage == StageTeardown:
		return "" // prSkip explains an action that does nothing
	case stage == StageReview && pr.HeadRepo == "":
		return fmt.Sprintf("pull request #%d comes from a deleted fork: its code cannot be deployed", pr.Number)
	case stage == StageReview && r.t.Action != "labeled":
		return fmt.Sprintf("pull request #%d comes from %s: its new code is deployed only when a maintainer adds the label %q again after reviewing it", pr.Number, from, r.cfg.ReviewLabel)
	case stage == StageReview:
		return ""
	}
	return fmt.Sprintf("pull request #%d comes from %s: only review apps are deployed from forks, never %s", pr.Number, from, stage)
}

// autoPRStage maps a pull request action to a stage; "" when the action
// does nothing (the caller's prSkip then says so).
func (r resolver) autoPRStage() Stage {
	t, label := r.t, r.cfg.ReviewLabel
	switch t.Action {
	case "closed":
		return StageTeardown
	case "unlabeled":
		if label != "" && t.Label == label {
			return StageTeardown
		}
		return ""
	case "opened", "reopened", "synchronize", "ready_for_review", "labeled":
		return StageReview
	}
	return ""
}

// prSkip says why a pull request run does nothing, or "".
func (r resolver) prSkip(stage Stage) string {
	t, label := r.t, r.cfg.ReviewLabel
	pr := t.PR
	auto := r.cfg.Stage == "" || r.cfg.Stage == "auto"
	switch {
	case stage == "" && t.Action == "unlabeled":
		return fmt.Sprintf("pull request #%d: removing the label %q changes nothing", pr.Number, t.Label)
	case stage == "":
		return fmt.Sprintf("pull_request action %q does not deploy: review apps follow opened, reopened, synchronize, ready_for_review, labeled and closed", t.Action)
	case stage == StageTeardown || stage == StageCheckSecrets:
		return ""
	case t.Action == "closed":
		// An explicit deploy stage on a closed PR: its code is gone or merged.
		return fmt.Sprintf("pull request #%d is closed: nothing to deploy for it", pr.Number)
	case stage != StageReview:
		return ""
	case auto && t.Action == "labeled" && label != "" && t.Label != label:
		return fmt.Sprintf("pull request #%d: the label %q is not the review label %q, nothing to do", pr.Number, t.Label, label)
	case label != "" && !slices.Contains(pr.Labels, label):
		return fmt.Sprintf("pull request #%d has no %q label: add it to deploy a review app", pr.Number, label)
	case pr.Draft:
		return fmt.Sprintf("pull request #%d is a draft: its review app is deployed once it is marked ready for review", pr.Number)
	}
	return ""
}

// commit is what a non-PR run deploys: the pushed commit, else GITHUB_SHA.
func (r resolver) commit() (string, error) {
	if r.t.Name == "push" && r.t.After != "" {
		return r.t.After, nil
	}
	if r.cfg.GitHub.SHA == "" {
		return "", fmt.Errorf("GITHUB_SHA is not set: cannot tell which commit the %s run deploys", r.t.Name)
	}
	return r.cfg.GitHub.SHA, nil
}

// branch is the run's branch: the event's ref, else GITHUB_REF.
func (r resolver) branch() string {
	if r.t.PR != nil {
		return r.t.PR.HeadRef
	}
	if r.t.Ref != "" {
		return branchOf(r.t.Ref)
	}
	return branchOf(r.cfg.GitHub.Ref)
}

func (r resolver) manual() bool { return r.t.Name == "workflow_dispatch" }

// dispatchPR reads the optional "pr" input of a workflow_dispatch, so a
// maintainer can tear down one PR's app by hand; 0 when absent.
func (r resolver) dispatchPR() (int, error) {
	if r.t.Name != "workflow_dispatch" {
		return 0, nil
	}
	raw := strings.TrimPrefix(strings.TrimSpace(r.t.Inputs["pr"]), "#")
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("workflow_dispatch input pr: %q is not a pull request number", r.t.Inputs["pr"])
	}
	return n, nil
}

// name expands a template with this run's values; branch is passed in
// because a PR's branch is its head, not the run's ref.
func (r resolver) name(template string, pr int, branch string) (string, error) {
	vars := map[string]string{}
	if pr > 0 {
		vars["pr"] = strconv.Itoa(pr)
	}
	user := r.t.Sender
	if user == "" {
		user = r.cfg.GitHub.Actor
	}
	if user != "" {
		vars["user"] = strings.ToLower(user)
	}
	if branch != "" {
		vars["branch"] = branch
	}
	name, err := Name(template, vars)
	if err != nil {
		if input := r.inputOf(template); input != "review_fallback" {
			return "", fmt.Errorf("input %s: %w", input, err)
		}
	}
	return name, err
}

// inputOf names the input a template came from, so that the error says what to change.
func (r resolver) inputOf(template string) string {
	for _, in := range []struct{ name, value string }{
		{"review_name", r.cfg.ReviewName}, {"staging_name", r.cfg.StagingName}, {"prod_name", r.cfg.ProdName},
		{"local_name", r.cfg.LocalName}, {"review_fallback", r.cfg.ReviewFallback},
	} {
		if in.value == template {
			return in.name
		}
	}
	return "deployment name"
}

// branchOf returns the branch of a ref, "" for tags and other refs.
func branchOf(ref string) string {
	b, ok := strings.CutPrefix(ref, "refs/heads/")
	if !ok {
		return ""
	}
	return b
}
