// Package gh is the action's GitHub client: the few REST calls the deploy flows need, on go-github,
// pointed at GITHUB_API_URL so that tests use the project's GitHub test server.
package gh

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v60/github"
)

// Client talks to one repository.
type Client struct {
	api   *github.Client
	owner string
	repo  string
}

// New returns a client for repository "owner/name" at apiURL (e.g. https://api.github.com).
func New(apiURL, token, repository string, httpClient *http.Client) (*Client, error) {
	owner, name, ok := strings.Cut(repository, "/")
	if !ok || owner == "" || name == "" {
		return nil, fmt.Errorf("GITHUB_REPOSITORY %q is not of the form owner/name", repository)
	}
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	api := github.NewClient(httpClient)
	if token != "" {
		api = api.WithAuthToken(token)
	}
	if apiURL != "" {
		base := strings.TrimSuffix(apiURL, "/") + "/"
		var err error
		api, err = api.WithEnterpriseURLs(base, base)
		if err != nil {
			return nil, fmt.Errorf("invalid GITHUB_API_URL %q: %w", apiURL, err)
		}
		// WithEnterpriseURLs appends api/v3/ to hosts it does not know; the API URL is used as given.
		api.BaseURL.Path = strings.TrimSuffix(strings.TrimSuffix(api.BaseURL.Path, "api/v3/"), "/") + "/"
	}
	return &Client{api: api, owner: owner, repo: name}, nil
}

// CommitTree returns the tree SHA of a commit: two commits with the same tree have the same content.
func (c *Client) CommitTree(ctx context.Context, sha string) (string, error) {
	commit, _, err := c.api.Git.GetCommit(ctx, c.owner, c.repo, sha)
	if err != nil {
		return "", fmt.Errorf("failed to read commit %s: %w", sha, err)
	}
	return commit.GetTree().GetSHA(), nil
}

// PullRequestState returns "open" or "closed".
func (c *Client) PullRequestState(ctx context.Context, number int) (string, error) {
	pr, _, err := c.api.PullRequests.Get(ctx, c.owner, c.repo, number)
	if err != nil {
		return "", fmt.Errorf("failed to read pull request #%d: %w", number, err)
	}
	return pr.GetState(), nil
}

// BranchHead returns the commit at the head of a branch.
func (c *Client) BranchHead(ctx context.Context, branch string) (string, error) {
	b, _, err := c.api.Repositories.GetBranch(ctx, c.owner, c.repo, branch, 1)
	if err != nil {
		return "", fmt.Errorf("failed to read branch %q: %w", branch, err)
	}
	return b.GetCommit().GetSHA(), nil
}
