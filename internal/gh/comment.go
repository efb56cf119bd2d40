package gh

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v60/github"
)

// actionsBot is the login GITHUB_TOKEN acts as: the GitHub Actions app's installation bot. No
// user can own a login ending in "[bot]".
const actionsBot = "github-actions[bot]"

// author is who the client's token acts as, so that only the action's own comments are edited.
type author struct {
	login string
	id    int64 // 0 for an installation token (GET /user refuses it)
	app   bool  // an app installation's token: comments show as actionsBot, type "Bot"
}

// owns reports whether a comment was written by this identity.
func (a author) owns(cm *github.IssueComment) bool {
	u := cm.GetUser()
	if a.app {
		return u.GetType() == "Bot" && u.GetLogin() == actionsBot
	}
	return u.GetID() == a.id && strings.EqualFold(u.GetLogin(), a.login)
}

// self learns whom the token acts as, once per client: GET /user names the user of a personal
// access token (classic or fine-grained) or an OAuth token; an installation token, as
// GITHUB_TOKEN is, gets 403 "Resource not accessible by integration" there, and its comments are
// written by the GitHub Actions app's bot. Any other failure is an error: without knowing whose a
// comment is, the action edits none.
func (c *Client) self(ctx context.Context) (author, error) {
	c.selfMu.Lock()
	defer c.selfMu.Unlock()
	if c.me != nil {
		return *c.me, nil
	}
	var u *github.User
	err := retryTransient(ctx, c.Backoff, func(ctx context.Context) (err error) {
		u, _, err = c.api.Users.Get(ctx, "")
		return err
	})
	var resp *github.ErrorResponse
	switch {
	case errors.As(err, &resp) && resp.Response != nil && resp.Response.StatusCode == http.StatusForbidden:
		c.me = &author{login: actionsBot, app: true}
	case err != nil:
		return author{}, fmt.Errorf("failed to learn whom the github_token acts as (GET /user), which tells the action's own pull request comment from others: %w", err)
	default:
		c.me = &author{login: u.GetLogin(), id: u.GetID()}
	}
	return *c.me, nil
}

// FindComment returns the ID of the first comment on issue (or pull request) number whose body holds
// marker and that the token's own identity wrote, or 0. A comment with the marker by anyone else
// (a user quoting it, or planting it so that the action would write the review app's URL under
// their name, where they could later change it) is never edited: the caller makes its own. The
// identity (GET /user) is asked while the comments are listed.
func (c *Client) FindComment(ctx context.Context, number int, marker string) (int64, error) {
	type selfAnswer struct {
		me  author
		err error
	}
	who := make(chan selfAnswer, 1)
	go func() {
		me, err := c.self(ctx)
		who <- selfAnswer{me, err}
	}()
	var candidates []*github.IssueComment
	opt := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for {
		list, resp, err := c.api.Issues.ListComments(ctx, c.owner, c.repo, number, opt)
		if err != nil {
			<-who
			return 0, fmt.Errorf("failed to list the comments of pull request #%d: %w", number, err)
		}
		for _, cm := range list {
			if strings.Contains(cm.GetBody(), marker) {
				candidates = append(candidates, cm)
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opt.Page = resp.NextPage
	}
	ans := <-who
	if ans.err != nil {
		return 0, ans.err
	}
	for _, cm := range candidates {
		if ans.me.owns(cm) {
			return cm.GetID(), nil
		}
	}
	return 0, nil
}

// CreateComment comments on an issue or pull request and returns the comment's ID.
func (c *Client) CreateComment(ctx context.Context, number int, body string) (int64, error) {
	cm, _, err := c.api.Issues.CreateComment(ctx, c.owner, c.repo, number, &github.IssueComment{Body: &body})
	if err != nil {
		return 0, fmt.Errorf("failed to comment on pull request #%d: %w", number, err)
	}
	return cm.GetID(), nil
}

// EditComment replaces the body of a comment.
func (c *Client) EditComment(ctx context.Context, id int64, body string) error {
	if _, _, err := c.api.Issues.EditComment(ctx, c.owner, c.repo, id, &github.IssueComment{Body: &body}); err != nil {
		return fmt.Errorf("failed to edit comment %d: %w", id, err)
	}
	return nil
}
