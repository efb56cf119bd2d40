package deploy

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"

	"github.com/pangeo-forge/deploy-action/internal/event"
	"github.com/pangeo-forge/deploy-action/internal/plan"
	"github.com/pangeo-forge/deploy-action/internal/secrets"
)

// PullRequest is a pull request as GitHub answers GET /pulls/{number}.
type PullRequest struct {
	Number             int
	State              string // open or closed
	HeadSHA, HeadRef   string
	HeadRepo, BaseRepo string // owner/name; HeadRepo is "" when the fork was deleted
	HeadRepoID         int64
	Fork               bool // the head repository is not the base repository (or is gone)
	Author             string
}

// Approvals is the part of GitHub a /deploy-review approval is checked with (gh.Client).
type Approvals interface {
	// Permission is a user's base permission on the repository: admin, write, read or none.
	Permission(ctx context.Context, login string) (string, error)
	PullRequest(ctx context.Context, number int) (PullRequest, error)
	CreateComment(ctx context.Context, number int, body string) (int64, error)
}

// Refusal is an approval the action refuses before anything is read or changed: who commented
// may not approve, or the command does not name the pull request's head. internal/cli exits 2.
type Refusal struct{ msg string }

func (e *Refusal) Error() string { return e.msg }

func refuse(format string, args ...any) error { return &Refusal{fmt.Sprintf(format, args...)} }

// mayApprove is the base permissions that may approve a deploy: write and admin. GitHub's
// collaborator-permission API reports the maintain role as write and triage as read.
func mayApprove(permission string) bool { return permission == "admin" || permission == "write" }

// Approve checks a /deploy-review comment (p.Approval) with GitHub before anything else happens,
// and returns the plan to run: the comment's author must have write permission or more on the
// repository (asked of GitHub, never read from the payload, whose author_association GitHub does
// not derive from the permission), the pull request must be open, and the commit the command
// names must be its head now (the event carries no head). A command that names no commit or a
// shorter one gets a reply with the full head commit and the exact command, and the plan skips.
// Anything else is a *Refusal; a commenter with write permission also gets the reason as a reply.
// Nothing in the comment's text is ever printed or sent: whoever commented wrote it.
func (r *Runner) Approve(ctx context.Context, p plan.Plan, t event.Trigger) (plan.Plan, error) {
	a := p.Approval
	if a == nil || p.Skip != "" {
		return p, nil
	}
	repo := r.Config.GitHub.Repository
	if r.Approvals == nil || r.Config.GitHubToken == "" {
		return p, refuse("a %s comment is checked with GitHub (the commenter's permission, the pull request's head), which needs the github_token input (the default, ${{ github.token }}) and GITHUB_REPOSITORY: nothing was deployed", plan.Command)
	}
	perm, err := r.Approvals.Permission(ctx, a.By)
	if err != nil {
		return p, fmt.Errorf("could not ask GitHub whether @%s may approve a deploy, so nothing was deployed; rerun the job once GitHub answers: %w", a.By, err)
	}
	if !mayApprove(perm) {
		// No reply: a comment anyone can write must not make the action write on the pull request.
		return p, refuse("@%s may not approve a review app: GitHub gives them %s permission on %s, and %s needs write, maintain or admin; nothing was deployed", a.By, perm, repo, plan.Command)
	}
	approval := *a
	approval.Permission = perm
	p.Approval = &approval
	pr, err := r.Approvals.PullRequest(ctx, p.PR)
	if err != nil {
		return p, fmt.Errorf("could not read pull request #%d, whose head the approval must name, so nothing was deployed: %w", p.PR, err)
	}
	command := plan.Command + " " + pr.HeadSHA
	switch {
	case pr.State != "open":
		return p, r.refuseWithReply(ctx, p, "pull request #%d is %s: nothing is deployed for it", p.PR, pr.State)
	case pr.HeadRepo == "":
		return p, r.refuseWithReply(ctx, p, "pull request #%d comes from a deleted fork: its code cannot be deployed", p.PR)
	case a.Short:
		notice := fmt.Sprintf("%s on pull request #%d names no full commit: replied to @%s with the full head commit, %s; nothing is deployed until the comment `%s`", plan.Command, p.PR, a.By, pr.HeadSHA, command)
		r.reply(ctx, p, fmt.Sprintf("@%s: to deploy pull request #%d to its review app, review its head commit and comment exactly\n\n```\n%s\n```\n\nOnly the full commit is accepted, and only while it is the head: a new push needs a new approval.", a.By, p.PR, command))
		p.Skip = notice
		return p, nil
	case a.Problem != "":
		return p, r.refuseWithReply(ctx, p, "%s; to deploy the head of pull request #%d, comment `%s`", a.Problem, p.PR, command)
	case a.Commit != pr.HeadSHA:
		return p, r.refuseWithReply(ctx, p, "%s is not the head of pull request #%d, %s: a push since the commit was reviewed needs a new approval; review %s and comment `%s`", a.Commit, p.PR, pr.HeadSHA, short(pr.HeadSHA), command)
	}
	head := plan.PullHead{SHA: pr.HeadSHA, Ref: pr.HeadRef}
	if pr.Fork {
		head.ForkRepoID = pr.HeadRepoID
	}
	p, err = plan.Approved(r.Config, t, p, head)
	if err != nil {
		return p, &Refusal{err.Error()}
	}
	if p.Stage == plan.StageReview {
		// The workflow checked out what it was told: it must be the approved commit, or the upload
		// would carry other code under the approval's name.
		if err := r.checkCheckout(p); err != nil {
			return p, &Refusal{err.Error()}
		}
	}
	from := "a branch of " + repo
	if pr.Fork {
		from = "the fork " + pr.HeadRepo
	}
	r.Log.Infof("@%s (%s permission on %s) approved %s, the head of pull request #%d from %s", a.By, perm, repo, pr.HeadSHA, p.PR, from)
	return p, nil
}

// refuseWithReply refuses the approval and tells the commenter (who has write permission) why on
// the pull request. The reason holds only what GitHub answered, never the comment's text.
func (r *Runner) refuseWithReply(ctx context.Context, p plan.Plan, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	r.reply(ctx, p, fmt.Sprintf("@%s: not deployed: %s.", p.Approval.By, msg))
	return &Refusal{"refusing the approval: " + msg}
}

// reply comments on the pull request; a failure is a warning (the log says the same).
func (r *Runner) reply(ctx context.Context, p plan.Plan, body string) {
	if r.Config.DryRun || !r.Config.PRComment {
		return
	}
	if _, err := r.Approvals.CreateComment(ctx, p.PR, body); err != nil {
		r.Log.Warningf("could not reply on pull request #%d (the github_token needs pull-requests: write): %v", p.PR, err)
	}
}

// approvedSecretsFile is where an approved review app's secrets come from: the review_fallback
// deployment's file as the default branch has it at GITHUB_SHA (on issue_comment, "the last
// commit on the default branch"), read through GitHub's contents API. Never the checkout, which
// is the pull request's code, nor the pull request's base branch, which its author chooses.
func (r *Runner) approvedSecretsFile(ctx context.Context, p plan.Plan) (repoPath string, data []byte, err error) {
	repoPath = path.Join(filepath.ToSlash(filepath.Clean(r.Config.SecretsDir)), secrets.FileName(p.Fallback))
	sha := r.Config.GitHub.SHA
	if r.GitHub == nil || sha == "" {
		return repoPath, nil, errors.New("an approved review app reads the review_fallback file from the default branch at GITHUB_SHA through GitHub, and GITHUB_SHA or GITHUB_REPOSITORY is not set")
	}
	data, found, err := r.GitHub.FileAt(ctx, repoPath, sha)
	if err != nil {
		return repoPath, nil, fmt.Errorf("could not read %s at %s (the default branch) from GitHub, the only secrets file an approved review app uses: %w; the github_token needs contents: read", repoPath, short(sha), err)
	}
	if !found {
		return repoPath, nil, fmt.Errorf("%w: %s does not exist on the default branch at %s: an approved review app uses only the review_fallback deployment's file from the default branch; add it there (encrypted with sops) or correct review_fallback", secrets.ErrNotFound, repoPath, short(sha))
	}
	return repoPath, data, nil
}
