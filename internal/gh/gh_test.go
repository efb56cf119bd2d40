package gh

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
)

// TestReadsRetryTransientErrors: a 5xx answered to a read is tried again; a 404 is not.
func TestReadsRetryTransientErrors(t *testing.T) {
	t.Parallel()
	const repo, sha = "pangeo-forge/pangeo-forge-orchestrator", "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name    string
		fault   githubapi.Fault
		wantErr string
		calls   int
	}{
		{name: "one 502 is retried", fault: githubapi.Fault{Method: "GET", Path: "/repos/{owner}/{repo}/branches/{branch}", Status: http.StatusBadGateway}, calls: 2},
		{name: "three 503s fail", fault: githubapi.Fault{Method: "GET", Path: "/repos/{owner}/{repo}/branches/{branch}", Status: http.StatusServiceUnavailable, Times: 3}, wantErr: "503", calls: 3},
		{name: "a 404 is not retried", fault: githubapi.Fault{Method: "GET", Path: "/repos/{owner}/{repo}/branches/{branch}", Status: http.StatusNotFound}, wantErr: "404", calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, err := githubapi.New(githubapi.Options{Token: "t"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Close)
			srv.AddRepo(repo)
			srv.AddCommit(repo, sha, strings.Repeat("a", 40), "a commit")
			srv.SetBranch(repo, "main", sha)
			srv.Inject(tt.fault)
			c, err := New(srv.URL(), "t", repo, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.Backoff = time.Millisecond
			head, err := c.BranchHead(context.Background(), "main")
			if tt.wantErr == "" && (err != nil || head != sha) {
				t.Fatalf("BranchHead = %q, %v; want %s", head, err, sha)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("BranchHead error = %v, want one mentioning %s", err, tt.wantErr)
			}
			calls := 0
			for _, r := range srv.Requests() {
				if strings.HasSuffix(r.Path, "/branches/main") {
					calls++
				}
			}
			if calls != tt.calls {
				t.Errorf("%d requests for the branch, want %d", calls, tt.calls)
			}
		})
	}
}

// TestAPIURLKeptAsGiven: GITHUB_API_URL is used as given, path included: on GitHub Enterprise
// Server it is https://HOST/api/v3, and every request must go under it.
func TestAPIURLKeptAsGiven(t *testing.T) {
	t.Parallel()
	const repo, sha = "pangeo-forge/pangeo-forge-orchestrator", "0123456789abcdef0123456789abcdef01234567"
	for _, prefix := range []string{"", "/api/v3"} {
		for _, slash := range []string{"", "/"} {
			t.Run(prefix+slash, func(t *testing.T) {
				t.Parallel()
				srv, err := githubapi.New(githubapi.Options{Token: "t", PathPrefix: prefix})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(srv.Close)
				srv.AddRepo(repo)
				srv.AddCommit(repo, sha, strings.Repeat("a", 40), "a commit")
				srv.SetBranch(repo, "main", sha)
				c, err := New(srv.URL()+slash, "t", repo, nil)
				if err != nil {
					t.Fatal(err)
				}
				if head, err := c.BranchHead(context.Background(), "main"); err != nil || head != sha {
					t.Errorf("BranchHead = %q, %v; want %s", head, err, sha)
				}
				if tree, err := c.CommitTree(context.Background(), sha); err != nil || tree != strings.Repeat("a", 40) {
					t.Errorf("CommitTree = %q, %v", tree, err)
				}
				if v := srv.Violations(); len(v) != 0 {
					t.Errorf("violations: %v", v)
				}
			})
		}
	}
	if _, err := New("api.example.com/api/v3", "t", repo, nil); err == nil || !strings.Contains(err.Error(), "GITHUB_API_URL") {
		t.Errorf("a URL without a scheme: error %v, want one naming GITHUB_API_URL", err)
	}
}
