package gh

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-github/v60/github"
)

// FindComment returns the ID of the first comment on issue (or pull request) number whose body holds
// marker, or 0.
func (c *Client) FindComment(ctx context.Context, number int, marker string) (int64, error) {
	opt := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for {
		list, resp, err := c.api.Issues.ListComments(ctx, c.owner, c.repo, number, opt)
		if err != nil {
			return 0, fmt.Errorf("failed to list the comments of pull request #%d: %w", number, err)
		}
		for _, cm := range list {
			if strings.Contains(cm.GetBody(), marker) {
				return cm.GetID(), nil
			}
		}
		if resp.NextPage == 0 {
			return 0, nil
		}
		opt.Page = resp.NextPage
	}
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
