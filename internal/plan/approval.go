package plan

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/event"
)

// Command is what a maintainer comments on a pull request to deploy its head commit to a review
// app: `/deploy-review <full 40-hex commit>`.
const Command = "/deploy-review"

// Approval is a /deploy-review comment, as the payload has it: nothing in it is checked yet.
// deploy.Runner.Approve asks GitHub whether its author may approve (write or more on the
// repository) and which commit heads the pull request, before anything else happens.
type Approval struct {
	By string // the comment's author (comment.user.login)
	// Commit is the full commit the command names, lower case; "" when it names none.
	Commit string
	// Short is set when the command names no commit or a shorter one: the run replies with the
	// full head commit and the exact command, and deploys nothing.
	Short bool
	// Problem says why the command's argument is no commit at all ("" when it is one, or none):
	// the run is refused.
	Problem string
	// Permission is the author's permission on the repository once GitHub has answered (admin or
	// write): the check run and the summary name it with the approver.
	Permission string
}

// Who names the approver, with their permission once GitHub has answered: "@login (write
// permission)"; "" without an approval.
func (a *Approval) Who() string {
	if a == nil {
		return ""
	}
	if a.Permission == "" {
		return "@" + a.By
	}
	return fmt.Sprintf("@%s (%s permission)", a.By, a.Permission)
}

// Summary is one line naming who approved the deploy and how, for the check run and the job
// summary; "" without an approval.
func (a *Approval) Summary() string {
	if a == nil {
		return ""
	}
	return fmt.Sprintf("approved by %s with %s %s", a.Who(), Command, a.Commit)
}

var (
	// loginRe is a GitHub login (letters, digits, single dashes inside) or an app's bot login.
	loginRe  = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$`)
	fullSHA  = regexp.MustCompile(`^[0-9a-fA-F]{40}$`)
	shortSHA = regexp.MustCompile(`^[0-9a-fA-F]{4,39}$`)
)

// ParseApproval reads a comment's body. ok is false when the comment is not the command: its
// first line must start with /deploy-review, alone or followed by blanks. Only the first line is
// read; what follows it (a note for the reviewers) is ignored and never printed.
func ParseApproval(body string) (a Approval, ok bool) {
	first, _, _ := strings.Cut(body, "\n")
	fields := strings.Fields(first)
	if len(fields) == 0 || fields[0] != Command {
		return Approval{}, false
	}
	switch args := fields[1:]; {
	case len(args) == 0:
		a.Short = true
	case len(args) > 1:
		a.Problem = fmt.Sprintf("%s takes one argument, the pull request's full head commit, and was given %d", Command, len(args))
	case fullSHA.MatchString(args[0]):
		a.Commit = strings.ToLower(args[0])
	case shortSHA.MatchString(args[0]):
		a.Short = true
	default:
		a.Problem = fmt.Sprintf("the argument of %s is not a commit: give the pull request's full head commit (40 hexadecimal characters)", Command)
	}
	return a, true
}

// comment plans an issue_comment run: a /deploy-review comment on a pull request approves a
// review app of exactly the commit it names (stage review), or, with stage approve, only checks
// it (so that the workflow checks out nothing but a checked commit). Everything else is skipped.
func (r resolver) comment() (Plan, error) {
	t, cfg := r.t, r.cfg
	stage := Stage(cfg.Stage)
	if cfg.Stage == "" || cfg.Stage == "auto" {
		stage = StageReview
	}
	if stage != StageReview && stage != StageApprove {
		return Plan{}, fmt.Errorf("input stage: %s does not run on issue_comment events: a %s comment deploys a review app (stage auto or review) or is checked (stage approve)", stage, Command)
	}
	c := t.Comment
	switch {
	case c == nil:
		return Plan{Stage: stage, Skip: "the issue_comment payload names no issue: nothing to do"}, nil
	case t.Action != "created":
		return Plan{Stage: stage, Skip: fmt.Sprintf("issue_comment action %q does nothing: only a new comment %s <commit> on a pull request approves a review app", t.Action, Command)}, nil
	case !c.OnPullRequest:
		return Plan{Stage: stage, Skip: fmt.Sprintf("the comment is on issue #%d, not on a pull request: nothing to deploy", c.Issue)}, nil
	}
	a, ok := ParseApproval(c.Body)
	if !ok {
		return Plan{Stage: stage, PR: c.Issue, Skip: fmt.Sprintf("the comment on pull request #%d is not a %s command: nothing to do", c.Issue, Command)}, nil
	}
	if cfg.ReviewFallback == "" && stage == StageReview {
		return Plan{}, fmt.Errorf("input review_fallback is empty: a review app approved with %s uses only the review_fallback deployment's secrets file from the default branch, never one from the pull request; set review_fallback (e.g. dev-app-proxy)", Command)
	}
	if !loginRe.MatchString(c.Author) {
		// GitHub never sends such a login; it is refused, not printed, since it would reach the log.
		return Plan{}, fmt.Errorf("the issue_comment payload names no valid comment author (comment.user.login): cannot ask GitHub whether they may approve a deploy")
	}
	a.By = c.Author
	return Plan{Stage: stage, PR: c.Issue, Approval: &a}, nil
}

// PullHead is the pull request as GitHub answers GET /pulls/{number} when an approval is checked.
type PullHead struct {
	SHA, Ref string
	// ForkRepoID is the head repository's ID when it is not the base repository (a fork), else 0.
	ForkRepoID int64
}

// Approved completes the plan of an approval GitHub has confirmed: the pull request's head (which
// the approved commit equals) gives the branch and the names; the deployment's secrets are only
// ever the review_fallback file.
func Approved(cfg config.Config, t event.Trigger, p Plan, head PullHead) (Plan, error) {
	r := resolver{cfg: cfg, t: t}
	p.Commit, p.Branch, p.ForkRepoID = head.SHA, head.Ref, head.ForkRepoID
	if p.Stage == StageApprove {
		return p, nil
	}
	name, err := r.name(cfg.ReviewName, p.PR, head.Ref)
	if err != nil {
		return Plan{}, err
	}
	fb, err := r.name(cfg.ReviewFallback, p.PR, head.Ref)
	if err != nil {
		return Plan{}, fmt.Errorf("input review_fallback: %w", err)
	}
	p.Deployment, p.Fallback = name, fb
	if err := r.notProtected(p.Deployment, "review_name"); err != nil {
		return Plan{}, err
	}
	if err := r.notProtected(p.Fallback, "review_fallback"); err != nil {
		return Plan{}, err
	}
	return p, nil
}
