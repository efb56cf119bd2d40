package gh

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v60/github"

	"github.com/pangeo-forge/deploy-action/internal/deploy"
)

// Permission returns a user's base permission on the repository: admin, write, read or none
// (GET /repos/{owner}/{repo}/collaborators/{username}/permission). GitHub maps the maintain role
// to write and triage to read in this field, and a custom role to its base role; role_name, which
// names the role itself, is not needed to tell write from less. A user GitHub does not know (404)
// has none. The token needs no permission beyond the repository's metadata.
func (c *Client) Permission(ctx context.Context, login string) (string, error) {
	var level *github.RepositoryPermissionLevel
	err := retryTransient(ctx, c.Backoff, func(ctx context.Context) (err error) {
		level, _, err = c.api.Repositories.GetPermissionLevel(ctx, c.owner, c.repo, login)
		return err
	})
	var resp *github.ErrorResponse
	if errors.As(err, &resp) && resp.Response != nil && resp.Response.StatusCode == http.StatusNotFound {
		return "none", nil
	}
	if err != nil {
		return "", fmt.Errorf("failed to read the permission of %s on %s/%s: %w", login, c.owner, c.repo, err)
	}
	return level.GetPermission(), nil
}

// PullRequest reads a pull request's state and head (GET /repos/{owner}/{repo}/pulls/{number}):
// an issue_comment event carries no head commit.
func (c *Client) PullRequest(ctx context.Context, number int) (deploy.PullRequest, error) {
	pr, err := c.pullRequest(ctx, number)
	if err != nil {
		return deploy.PullRequest{}, err
	}
	head, base := pr.GetHead(), pr.GetBase()
	out := deploy.PullRequest{
		Number: number, State: pr.GetState(), HeadSHA: head.GetSHA(), HeadRef: head.GetRef(),
		BaseRepo: base.GetRepo().GetFullName(), Author: pr.GetUser().GetLogin(),
	}
	if head.Repo != nil { // null when the fork was deleted
		out.HeadRepo, out.HeadRepoID = head.Repo.GetFullName(), head.Repo.GetID()
	}
	if out.BaseRepo == "" {
		out.BaseRepo = c.owner + "/" + c.repo
	}
	out.Fork = out.HeadRepo == "" || !strings.EqualFold(out.HeadRepo, out.BaseRepo)
	return out, nil
}
