package sandbox

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"
)

// TestStickyCommentIsTheActionsOwn: the review app's comment is found again by its hidden marker,
// but only among the comments the token's own identity wrote (github-actions[bot] for
// GITHUB_TOKEN). A comment with the marker planted by someone else is never edited, so the review
// app's URL never appears under their name (where they could change it later): the action
// makes its own comment, and edits that one on the next run.
func TestStickyCommentIsTheActionsOwn(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	const mallory = "ghp_mallorytoken0000"
	w.GitHub.AddToken(mallory, "mallory")
	planted := "<!-- deploy-action review-app pforge-pr-80 -->\nReview app: https://phishing.example/"
	c := github.NewClient(nil).WithAuthToken(mallory)
	c.BaseURL, _ = url.Parse(w.GitHub.URL() + "/")
	if _, _, err := c.Issues.CreateComment(ctx, "pangeo-forge", "pangeo-forge-orchestrator", PR, &github.IssueComment{Body: &planted}); err != nil {
		t.Fatal(err)
	}

	for i, step := range Lifecycle()[:2] {
		run, err := w.Run(ctx, step, nil)
		if err != nil {
			t.Fatal(err)
		}
		if run.Code != 0 {
			t.Fatalf("%s: exit code %d\n%s", step.Name, run.Code, run.Log)
		}
		comments := w.GitHub.Comments(Repository, PR)
		if len(comments) != 2 {
			t.Fatalf("after %s: %d comments, want mallory's and the action's: %+v", step.Name, len(comments), comments)
		}
		if comments[0].User != "mallory" || comments[0].Body != planted || !comments[0].UpdatedAt.Equal(comments[0].CreatedAt) {
			t.Errorf("after %s: mallory's comment was changed: %+v", step.Name, comments[0])
		}
		own := comments[1]
		if own.User != "github-actions[bot]" || !strings.Contains(own.Body, "<!-- deploy-action review-app pforge-pr-80 -->") || !strings.Contains(own.Body, short(step.Checkout)) {
			t.Errorf("after %s: the action's comment is %+v", step.Name, own)
		}
		if i == 1 && !strings.Contains(own.Body, short(CommitUpdated)) {
			t.Errorf("the second run did not edit the action's own comment: %q", own.Body)
		}
	}
	// The action's writes to comments: one creation, then edits of its own comment only.
	var writes []string
	for _, r := range w.GitHub.Requests() {
		if strings.Contains(r.Path, "/comments") && r.Method != http.MethodGet {
			writes = append(writes, r.Method+" by "+r.Login)
		}
	}
	if writes[0] != "POST by mallory" || writes[1] != "POST by github-actions[bot]" {
		t.Errorf("comment writes = %v", writes)
	}
	for _, wr := range writes[2:] {
		if wr != "PATCH by github-actions[bot]" {
			t.Errorf("comment writes = %v, want only edits of the action's own after its creation", writes)
			break
		}
	}
	if v := w.GitHub.Violations(); len(v) > 0 {
		t.Errorf("GitHub violations: %v", v)
	}
}
