// Package gh is the action's GitHub client: the few REST calls the deploy flows need, on go-github,
// pointed at GITHUB_API_URL so that tests use the project's GitHub test server.
package gh

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
)

// Client talks to one repository.
type Client struct {
	api   *github.Client
	owner string
	repo  string
	// Backoff is the pause before the first retry of a read that failed with a 5xx or a network
	// error; the second waits twice as long (default 1s).
	Backoff time.Duration

	selfMu sync.Mutex
	me     *author // whom the token acts as, once learnt (self)
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
		// The URL as given, with the trailing slash go-github's BaseURL needs: on GitHub Enterprise
		// Server the runner sets https://HOST/api/v3, and the API lives under that path.
		// (WithEnterpriseURLs is not used: it rewrites URLs, appending api/v3/ to some.)
		base, err := url.Parse(strings.TrimSuffix(apiURL, "/") + "/")
		if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
			return nil, fmt.Errorf("invalid GITHUB_API_URL %q: want an http(s) URL such as https://api.github.com or https://HOST/api/v3", apiURL)
		}
		api.BaseURL = base // UploadURL is left alone: the action uploads nothing
	}
	return &Client{api: api, owner: owner, repo: name, Backoff: time.Second}, nil
}

// retryTransient runs step, and again up to twice after a 5xx or a network error, pausing backoff
// and then twice that. GitHub answers the occasional 502 under load: a deploy must not fail on one.
func retryTransient(ctx context.Context, backoff time.Duration, step func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		err := step(ctx)
		if err == nil || attempt == 2 || !transient(err) || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(backoff << attempt)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// CommitTree returns the tree SHA of a commit: two commits with the same tree have the same content.
func (c *Client) CommitTree(ctx context.Context, sha string) (string, error) {
	var commit *github.Commit
	err := retryTransient(ctx, c.Backoff, func(ctx context.Context) (err error) {
		commit, _, err = c.api.Git.GetCommit(ctx, c.owner, c.repo, sha)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("failed to read commit %s: %w", sha, err)
	}
	return commit.GetTree().GetSHA(), nil
}

// PullRequestState returns "open" or "closed".
func (c *Client) PullRequestState(ctx context.Context, number int) (string, error) {
	pr, err := c.pullRequest(ctx, number)
	return pr.GetState(), err
}

// PullRequestHead returns the commit at the head of a pull request (head.sha).
func (c *Client) PullRequestHead(ctx context.Context, number int) (string, error) {
	pr, err := c.pullRequest(ctx, number)
	return pr.GetHead().GetSHA(), err
}

func (c *Client) pullRequest(ctx context.Context, number int) (*github.PullRequest, error) {
	var pr *github.PullRequest
	err := retryTransient(ctx, c.Backoff, func(ctx context.Context) (err error) {
		pr, _, err = c.api.PullRequests.Get(ctx, c.owner, c.repo, number)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("failed to read pull request #%d: %w", number, err)
	}
	return pr, nil
}

// BranchHead returns the commit at the head of a branch.
func (c *Client) BranchHead(ctx context.Context, branch string) (string, error) {
	var b *github.Branch
	err := retryTransient(ctx, c.Backoff, func(ctx context.Context) (err error) {
		var resp *github.Response
		b, resp, err = c.api.Repositories.GetBranch(ctx, c.owner, c.repo, branch, 1)
		if err != nil && resp != nil {
			// GetBranch reports an HTTP status as a plain error: give it the usual shape, so that a
			// 404 is not mistaken for a network error.
			err = &github.ErrorResponse{Response: resp.Response, Message: err.Error()}
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("failed to read branch %q: %w", branch, err)
	}
	return b.GetCommit().GetSHA(), nil
}
