package gh

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-github/v60/github"
)

// FileAt returns the content of the file at path (slash-separated, from the repository root) in
// the commit ref names (a branch, a tag or a SHA): GET /repos/{owner}/{repo}/contents/{path}?ref=,
// which needs `contents: read`. found is false, without an error, when GitHub answers 404: the
// ref or the path does not exist. A path that is a directory, a symlink or a submodule, or a file
// too large for the endpoint (over 1 MB: GitHub sends no content), is an error.
func (c *Client) FileAt(ctx context.Context, path, ref string) (data []byte, found bool, err error) {
	var fc *github.RepositoryContent
	err = retryTransient(ctx, c.Backoff, func(ctx context.Context) (err error) {
		var dir []*github.RepositoryContent
		fc, dir, _, err = c.api.Repositories.GetContents(ctx, c.owner, c.repo, path, &github.RepositoryContentGetOptions{Ref: ref})
		if err == nil && fc == nil && dir != nil {
			err = errors.New("it is a directory")
		}
		return err
	})
	var resp *github.ErrorResponse
	if errors.As(err, &resp) && resp.Response != nil && resp.Response.StatusCode == http.StatusNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("failed to read %s at %s from GitHub: %w", path, ref, err)
	}
	if fc.GetType() != "file" {
		return nil, false, fmt.Errorf("failed to read %s at %s from GitHub: it is a %s, not a file", path, ref, fc.GetType())
	}
	text, err := fc.GetContent()
	if err != nil {
		return nil, false, fmt.Errorf("failed to read %s at %s from GitHub: %w", path, ref, err)
	}
	return []byte(text), true, nil
}
