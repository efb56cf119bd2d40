package gh

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
)

// TestFindCommentOnlyOwn: the marker is looked for only in the comments of the token's own
// identity: github-actions[bot] for an installation token (GET /user answers 403), the token's
// user for a personal access token; another user's or another app's comment with the marker is
// not the action's. When GitHub cannot say whom the token acts as, no comment is the action's.
func TestFindCommentOnlyOwn(t *testing.T) {
	t.Parallel()
	const repo, marker = "pangeo-forge/pangeo-forge-orchestrator", "<!-- deploy-action review-app pforge-pr-80 -->"
	tests := []struct {
		name    string
		login   string   // the login of the token under test
		authors []string // who wrote a comment with the marker, in order
		want    int      // index into authors of the comment found, -1 for none
		fault   *githubapi.Fault
		wantErr string
	}{
		{name: "GITHUB_TOKEN finds its own after another user's", login: "github-actions[bot]", authors: []string{"mallory", "github-actions[bot]"}, want: 1},
		{name: "GITHUB_TOKEN ignores another user's", login: "github-actions[bot]", authors: []string{"mallory"}, want: -1},
		{name: "GITHUB_TOKEN ignores another app's bot", login: "github-actions[bot]", authors: []string{"renovate[bot]"}, want: -1},
		{name: "a PAT finds its user's", login: "maintainer", authors: []string{"github-actions[bot]", "mallory", "maintainer"}, want: 2},
		{name: "a PAT ignores the Actions bot's", login: "maintainer", authors: []string{"github-actions[bot]"}, want: -1},
		{name: "GET /user failing: nothing is edited", login: "maintainer", authors: []string{"maintainer"},
			fault: &githubapi.Fault{Method: "GET", Path: "/user", Status: http.StatusBadGateway, Times: 3}, wantErr: "GET /user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, err := githubapi.New(githubapi.Options{Token: "under-test", Login: tt.login})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Close)
			srv.AddRepo(repo)
			srv.AddPullRequest(repo, githubapi.PullRequest{Number: 80, HeadSHA: strings.Repeat("1", 40), HeadRef: "x", BaseRef: "main"})
			ctx := context.Background()
			var ids []int64
			for i, a := range tt.authors {
				tok := "under-test"
				if a != tt.login {
					tok = "other-" + a
					srv.AddToken(tok, a)
				}
				c, err := New(srv.URL(), tok, repo, nil)
				if err != nil {
					t.Fatal(err)
				}
				id, err := c.CreateComment(ctx, 80, marker+"\ncomment "+string(rune('A'+i)))
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			if tt.fault != nil {
				srv.Inject(*tt.fault)
			}
			c, err := New(srv.URL(), "under-test", repo, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.Backoff = time.Millisecond
			got, err := c.FindComment(ctx, 80, marker)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || got != 0 {
					t.Fatalf("FindComment = %d, %v; want an error mentioning %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := int64(0)
			if tt.want >= 0 {
				want = ids[tt.want]
			}
			if got != want {
				t.Errorf("FindComment = %d, want %d (comments %v by %v)", got, want, ids, tt.authors)
			}
			if v := srv.Violations(); len(v) > 0 {
				t.Errorf("violations: %v", v)
			}
		})
	}
}
