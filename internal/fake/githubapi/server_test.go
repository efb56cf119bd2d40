package githubapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
)

const (
	token    = "ghs_test_token"
	repoName = "pangeo-forge/app"
	owner    = "pangeo-forge"
	name     = "app"
	headSHA  = "1111111111111111111111111111111111111111"
	mainSHA  = "2222222222222222222222222222222222222222"
	prodSHA  = "3333333333333333333333333333333333333333"
	treeSHA  = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
)

var fixedNow = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// newServer starts a seeded server: main and prod share a tree, PR 7 is open from feature/x.
func newServer(t *testing.T, opt githubapi.Options) *githubapi.Server {
	t.Helper()
	if opt.Token == "" {
		opt.Token = token
	}
	if opt.Now == nil {
		opt.Now = func() time.Time { return fixedNow }
	}
	s, err := githubapi.New(opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	s.AddRepo(repoName)
	s.AddCommit(repoName, mainSHA, treeSHA, "main commit")
	s.AddCommit(repoName, prodSHA, treeSHA, "Merge main into prod", mainSHA)
	s.AddCommit(repoName, headSHA, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "feature", mainSHA)
	s.SetBranch(repoName, "main", mainSHA)
	s.SetBranch(repoName, "prod", prodSHA)
	s.SetBranch(repoName, "feature/x", headSHA)
	s.AddPullRequest(repoName, githubapi.PullRequest{Number: 7, HeadSHA: headSHA, HeadRef: "feature/x", BaseRef: "main", Title: "Add x", User: "alice", Labels: []string{"deploy"}})
	return s
}

func newClient(t *testing.T, s *githubapi.Server, tok string) *github.Client {
	t.Helper()
	c := github.NewClient(nil).WithAuthToken(tok)
	u, err := url.Parse(s.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return c
}

func requireSpec(t *testing.T, s *githubapi.Server) {
	t.Helper()
	if !s.Validating() {
		t.Skip("GitHub's OpenAPI description is absent: " + githubapi.FetchHint)
	}
}

func noViolations(t *testing.T, s *githubapi.Server) {
	t.Helper()
	if v := s.Violations(); len(v) > 0 {
		t.Errorf("violations:\n%s", strings.Join(v, "\n"))
	}
}

func statusOf(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	var rl *github.RateLimitError
	if errors.As(err, &rl) && rl.Response != nil {
		return rl.Response.StatusCode
	}
	return 0
}

func annotations(n int) []*github.CheckRunAnnotation {
	out := make([]*github.CheckRunAnnotation, n)
	for i := range out {
		out[i] = &github.CheckRunAnnotation{
			Path: github.String("app/main.py"), StartLine: github.Int(i + 1), EndLine: github.Int(i + 1),
			AnnotationLevel: github.String("warning"), Message: github.String(fmt.Sprintf("problem %d", i)),
		}
	}
	return out
}

func TestCheckRunLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newServer(t, githubapi.Options{})
	c := newClient(t, s, token)

	cr, resp, err := c.Checks.CreateCheckRun(ctx, owner, name, github.CreateCheckRunOptions{
		Name: "deploy/review", HeadSHA: headSHA, Status: github.String("in_progress"),
		ExternalID: github.String("run-1"), DetailsURL: github.String("https://example.com/run/1"),
		Output: &github.CheckRunOutput{Title: github.String("Deploying"), Summary: github.String("Building pforge-pr-7")},
	})
	if err != nil {
		t.Fatalf("CreateCheckRun: %v", err)
	}
	if resp.StatusCode != http.StatusCreated || cr.GetStatus() != "in_progress" || cr.GetCheckSuite().GetID() == 0 {
		t.Fatalf("CreateCheckRun answered %d %+v", resp.StatusCode, cr)
	}

	// 60 annotations, in two requests as GitHub requires; they add up.
	if _, _, err := c.Checks.UpdateCheckRun(ctx, owner, name, cr.GetID(), github.UpdateCheckRunOptions{
		Name:   "deploy/review",
		Output: &github.CheckRunOutput{Title: github.String("Deploying"), Summary: github.String("lint"), Annotations: annotations(50)},
	}); err != nil {
		t.Fatalf("UpdateCheckRun (annotations): %v", err)
	}
	done, _, err := c.Checks.UpdateCheckRun(ctx, owner, name, cr.GetID(), github.UpdateCheckRunOptions{
		Name: "deploy/review", Conclusion: github.String("success"),
		Output: &github.CheckRunOutput{Title: github.String("Deployed"), Summary: github.String("pforge-pr-7 is up"), Annotations: annotations(10)},
	})
	if err != nil {
		t.Fatalf("UpdateCheckRun (conclude): %v", err)
	}
	if done.GetStatus() != "completed" || done.GetConclusion() != "success" || done.GetOutput().GetAnnotationsCount() != 60 {
		t.Errorf("concluded run: status %q conclusion %q annotations %d; want completed success 60",
			done.GetStatus(), done.GetConclusion(), done.GetOutput().GetAnnotationsCount())
	}

	// go-github sends "name" on every update: an update that forgets it is refused.
	if _, _, err := c.Checks.UpdateCheckRun(ctx, owner, name, cr.GetID(), github.UpdateCheckRunOptions{Status: github.String("in_progress")}); statusOf(err) != 422 {
		t.Errorf("update without a name: %v, want 422", err)
	}
	if v := s.Violations(); len(v) != 1 {
		t.Errorf("violations = %q, want the nameless update", v)
	}

	got := s.CheckRuns(repoName)
	if len(got) != 1 {
		t.Fatalf("CheckRuns: %d runs, want 1", len(got))
	}
	g := got[0]
	want := githubapi.CheckRun{
		ID: cr.GetID(), Name: "deploy/review", HeadSHA: headSHA, Status: "completed", Conclusion: "success",
		ExternalID: "run-1", DetailsURL: "https://example.com/run/1", StartedAt: fixedNow, CompletedAt: fixedNow,
		Title: "Deployed", Summary: "pforge-pr-7 is up", Updates: 2,
	}
	g.Annotations = nil
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("stored check run (-want +got):\n%s", diff)
	}
	if n := len(got[0].Annotations); n != 60 {
		t.Errorf("stored annotations: %d, want 60", n)
	}
}

func TestListCheckRunsForRefPagesAndFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newServer(t, githubapi.Options{PageSize: 2})
	c := newClient(t, s, token)
	for _, n := range []string{"deploy/a", "deploy/b", "deploy/c", "deploy/a"} {
		if _, _, err := c.Checks.CreateCheckRun(ctx, owner, name, github.CreateCheckRunOptions{Name: n, HeadSHA: headSHA}); err != nil {
			t.Fatalf("CreateCheckRun %s: %v", n, err)
		}
	}
	tests := []struct {
		name  string
		ref   string
		opt   github.ListCheckRunsOptions
		want  []string
		total int
	}{
		{"latest of each name, newest first, by branch with a slash", "feature/x", github.ListCheckRunsOptions{}, []string{"deploy/a", "deploy/c", "deploy/b"}, 3},
		{"all runs by sha", headSHA, github.ListCheckRunsOptions{Filter: github.String("all")}, []string{"deploy/a", "deploy/c", "deploy/b", "deploy/a"}, 4},
		{"by check name", headSHA, github.ListCheckRunsOptions{CheckName: github.String("deploy/a"), Filter: github.String("all")}, []string{"deploy/a", "deploy/a"}, 2},
		{"other commit has none", "main", github.ListCheckRunsOptions{}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var names []string
			opt := tt.opt
			pages := 0
			for {
				res, resp, err := c.Checks.ListCheckRunsForRef(ctx, owner, name, tt.ref, &opt)
				if err != nil {
					t.Fatalf("ListCheckRunsForRef: %v", err)
				}
				pages++
				if res.GetTotal() != tt.total {
					t.Errorf("total_count = %d, want %d", res.GetTotal(), tt.total)
				}
				for _, r := range res.CheckRuns {
					names = append(names, r.GetName())
				}
				if resp.NextPage == 0 {
					break
				}
				opt.Page = resp.NextPage
			}
			if diff := cmp.Diff(tt.want, names); diff != "" {
				t.Errorf("names over %d pages (-want +got):\n%s", pages, diff)
			}
		})
	}
}

func TestCheckRunRejectedBodies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// 40000 characters but 80000 bytes: GitHub counts bytes ("exceeds a maximum bytesize").
	long := strings.Repeat("é", 40000)
	tests := []struct {
		name   string
		opt    github.CreateCheckRunOptions
		status int
	}{
		{"51 annotations", github.CreateCheckRunOptions{Name: "x", HeadSHA: headSHA, Output: &github.CheckRunOutput{Title: github.String("t"), Summary: github.String("s"), Annotations: annotations(51)}}, 422},
		{"summary over 65535 bytes", github.CreateCheckRunOptions{Name: "x", HeadSHA: headSHA, Output: &github.CheckRunOutput{Title: github.String("t"), Summary: github.String(long)}}, 422},
		{"text over 65535 bytes", github.CreateCheckRunOptions{Name: "x", HeadSHA: headSHA, Output: &github.CheckRunOutput{Title: github.String("t"), Summary: github.String("s"), Text: github.String(long)}}, 422},
		{"completed without conclusion", github.CreateCheckRunOptions{Name: "x", HeadSHA: headSHA, Status: github.String("completed")}, 422},
		{"bogus status", github.CreateCheckRunOptions{Name: "x", HeadSHA: headSHA, Status: github.String("bogus")}, 422},
		{"unknown commit", github.CreateCheckRunOptions{Name: "x", HeadSHA: strings.Repeat("9", 40)}, 422},
		{"output without title", github.CreateCheckRunOptions{Name: "x", HeadSHA: headSHA, Output: &github.CheckRunOutput{Summary: github.String("s")}}, 422},
	}
	for _, spec := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/spec=%v", tt.name, spec), func(t *testing.T) {
				t.Parallel()
				opt := githubapi.Options{}
				if !spec {
					opt.Spec = noSpec(t)
				}
				s := newServer(t, opt)
				if spec {
					requireSpec(t, s)
				}
				c := newClient(t, s, token)
				_, _, err := c.Checks.CreateCheckRun(ctx, owner, name, tt.opt)
				if got := statusOf(err); got != tt.status {
					t.Fatalf("CreateCheckRun: status %d (%v), want %d", got, err, tt.status)
				}
				if len(s.CheckRuns(repoName)) != 0 {
					t.Errorf("a rejected check run was stored")
				}
				if len(s.Violations()) != 1 {
					t.Errorf("violations = %q, want one", s.Violations())
				}
			})
		}
	}
}

// TestCheckRunOutputAtTheByteLimit: a summary and a text of exactly 65535 bytes of multi-byte
// text are taken; one byte more is refused with GitHub's message.
func TestCheckRunOutputAtTheByteLimit(t *testing.T) {
	t.Parallel()
	s := newServer(t, githubapi.Options{})
	c := newClient(t, s, token)
	full := strings.Repeat("é", 32767) + "a" // 65535 bytes
	out := &github.CheckRunOutput{Title: github.String("t"), Summary: github.String(full), Text: github.String(full)}
	if _, _, err := c.Checks.CreateCheckRun(context.Background(), owner, name, github.CreateCheckRunOptions{Name: "x", HeadSHA: headSHA, Output: out}); err != nil {
		t.Fatalf("65535 bytes: %v", err)
	}
	out.Summary = github.String(full + "b")
	_, _, err := c.Checks.CreateCheckRun(context.Background(), owner, name, github.CreateCheckRunOptions{Name: "x", HeadSHA: headSHA, Output: out})
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != 422 || len(er.Errors) != 1 || er.Errors[0].Message != "summary exceeds a maximum bytesize of 65535" {
		t.Errorf("65536 bytes: %v, want 422 summary exceeds a maximum bytesize of 65535", err)
	}
	if v := s.Violations(); len(v) != 1 {
		t.Errorf("violations = %q, want one", v)
	}
}

// noSpec returns an OpenAPI description with no operations' bodies, which turns the schema
// validation off while keeping route checks: the tests of the fake's own rules use it.
func noSpec(t *testing.T) string {
	t.Helper()
	return writeSpec(t, `{"openapi":"3.0.3","paths":{
		"/repos/{owner}/{repo}/check-runs":{"post":{"operationId":"checks/create"}},
		"/repos/{owner}/{repo}/commits/{ref}/check-runs":{"get":{"operationId":"checks/list-for-ref"}}}}`)
}

func TestSpecValidationRejectsBadCheckRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newServer(t, githubapi.Options{})
	requireSpec(t, s)
	c := newClient(t, s, token)

	// go-github cannot send a wrongly typed field, so build the body by hand.
	req, err := c.NewRequest("POST", "repos/pangeo-forge/app/check-runs", map[string]any{
		"name": "deploy/review", "head_sha": headSHA, "status": "bogus", "external_id": 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Do(ctx, req, nil)
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("bad body: got %v, want a 422", err)
	}
	if er.Message != "Validation Failed" {
		t.Errorf("message = %q, want Validation Failed", er.Message)
	}
	var fields []string
	for _, e := range er.Errors {
		fields = append(fields, e.Field)
	}
	if diff := cmp.Diff([]string{"external_id", "status"}, sortedCopy(fields)); diff != "" {
		t.Errorf("fields reported (-want +got):\n%s", diff)
	}
	if v := s.Violations(); len(v) != 1 || !strings.Contains(v[0], "checks/create") {
		t.Errorf("violations = %q, want one naming checks/create", v)
	}
}

func TestSpecValidationOfQueryAndRoutes(t *testing.T) {
	t.Parallel()
	s := newServer(t, githubapi.Options{})
	requireSpec(t, s)
	tests := []struct {
		name, method, path string
		status             int
		violation          string
	}{
		{"enum query parameter", "GET", "/repos/pangeo-forge/app/pulls?state=bogus", 422, "state"},
		{"integer query parameter", "GET", "/repos/pangeo-forge/app/pulls?per_page=many", 422, "per_page"},
		{"route not in GitHub's API", "GET", "/repos/pangeo-forge/app/no-such-thing", 404, "not in GitHub's REST API"},
		{"route in GitHub's API the fake lacks", "GET", "/repos/pangeo-forge/app/releases", 404, "not implemented by the fake"},
		{"method GitHub lacks", "DELETE", "/repos/pangeo-forge/app/check-runs", 404, "has no DELETE"},
		{"valid request", "GET", "/repos/pangeo-forge/app/pulls?state=all&per_page=5", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, githubapi.Options{})
			status := do(t, s, tt.method, tt.path, "Bearer "+token)
			if status != tt.status {
				t.Errorf("status %d, want %d", status, tt.status)
			}
			v := strings.Join(s.Violations(), "\n")
			if (tt.violation == "") != (v == "") || !strings.Contains(v, tt.violation) {
				t.Errorf("violations = %q, want one containing %q", v, tt.violation)
			}
		})
	}
}

func do(t *testing.T, s *githubapi.Server, method, path, auth string) int {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestDeploymentWithStatuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newServer(t, githubapi.Options{})
	c := newClient(t, s, token)

	create := func(env string) *github.Deployment {
		t.Helper()
		d, resp, err := c.Repositories.CreateDeployment(ctx, owner, name, &github.DeploymentRequest{
			Ref: github.String(headSHA), Environment: github.String(env), AutoMerge: github.Bool(false),
			RequiredContexts: &[]string{}, Description: github.String("review app"),
			Payload: map[string]any{"app": "pforge-pr-7"}, ProductionEnvironment: github.Bool(false),
		})
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("CreateDeployment: %v", err)
		}
		return d
	}
	first := create("pforge-pr-7")
	if first.GetSHA() != headSHA || first.GetTask() != "deploy" || first.GetCreator().GetLogin() != "github-actions[bot]" {
		t.Errorf("deployment = sha %q task %q creator %q", first.GetSHA(), first.GetTask(), first.GetCreator().GetLogin())
	}
	for _, st := range []string{"in_progress", "success"} {
		if _, _, err := c.Repositories.CreateDeploymentStatus(ctx, owner, name, first.GetID(), &github.DeploymentStatusRequest{
			State: github.String(st), EnvironmentURL: github.String("https://pforge-pr-7.herokuapp.com"),
			LogURL: github.String("https://github.com/pangeo-forge/app/actions/runs/1"),
		}); err != nil {
			t.Fatalf("CreateDeploymentStatus %s: %v", st, err)
		}
	}
	// A later successful deployment to the same environment makes the first inactive.
	second := create("pforge-pr-7")
	if _, _, err := c.Repositories.CreateDeploymentStatus(ctx, owner, name, second.GetID(), &github.DeploymentStatusRequest{State: github.String("success")}); err != nil {
		t.Fatalf("CreateDeploymentStatus: %v", err)
	}

	list, _, err := c.Repositories.ListDeployments(ctx, owner, name, &github.DeploymentsListOptions{Environment: "pforge-pr-7", SHA: headSHA})
	if err != nil {
		t.Fatalf("ListDeployments: %v", err)
	}
	if len(list) != 2 || list[0].GetID() != second.GetID() {
		t.Errorf("ListDeployments: %d deployments, first %d; want 2, newest (%d) first", len(list), list[0].GetID(), second.GetID())
	}
	if other, _, _ := c.Repositories.ListDeployments(ctx, owner, name, &github.DeploymentsListOptions{Environment: "staging"}); len(other) != 0 {
		t.Errorf("environment filter: got %d deployments, want 0", len(other))
	}
	sts, _, err := c.Repositories.ListDeploymentStatuses(ctx, owner, name, first.GetID(), nil)
	if err != nil {
		t.Fatalf("ListDeploymentStatuses: %v", err)
	}
	var states []string
	for _, st := range sts {
		states = append(states, st.GetState())
	}
	if diff := cmp.Diff([]string{"inactive", "success", "in_progress"}, states); diff != "" {
		t.Errorf("statuses, newest first (-want +got):\n%s", diff)
	}
	got := s.Deployments(repoName)
	if len(got) != 2 || got[0].Environment != "pforge-pr-7" || got[0].Statuses[1].EnvironmentURL != "https://pforge-pr-7.herokuapp.com" {
		t.Errorf("Deployments() = %+v", got)
	}
	noViolations(t, s)
}

func TestDeploymentDefaultsThatBite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name       string
		req        github.DeploymentRequest
		status     int
		deployment bool
	}{
		{"required_contexts omitted: the in-progress check blocks it", github.DeploymentRequest{Ref: github.String(headSHA), AutoMerge: github.Bool(false)}, 409, false},
		{"auto_merge omitted: main is merged into the branch instead", github.DeploymentRequest{Ref: github.String("feature/x"), RequiredContexts: &[]string{}}, 202, false},
		{"both set: deployed", github.DeploymentRequest{Ref: github.String("feature/x"), AutoMerge: github.Bool(false), RequiredContexts: &[]string{}}, 201, true},
		{"unknown ref", github.DeploymentRequest{Ref: github.String("nope"), AutoMerge: github.Bool(false), RequiredContexts: &[]string{}}, 422, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, githubapi.Options{})
			// main moves on, so feature/x lacks it.
			s.AddCommit(repoName, "4444444444444444444444444444444444444444", treeSHA, "newer", mainSHA)
			s.SetBranch(repoName, "main", "4444444444444444444444444444444444444444")
			c := newClient(t, s, token)
			if _, _, err := c.Checks.CreateCheckRun(ctx, owner, name, github.CreateCheckRunOptions{Name: "deploy/review", HeadSHA: headSHA, Status: github.String("in_progress")}); err != nil {
				t.Fatal(err)
			}
			req := tt.req
			_, resp, err := c.Repositories.CreateDeployment(ctx, owner, name, &req)
			if resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("CreateDeployment: %v, want status %d", err, tt.status)
			}
			if got := len(s.Deployments(repoName)) == 1; got != tt.deployment {
				t.Errorf("deployment created = %v, want %v", got, tt.deployment)
			}
		})
	}
}

func TestComments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newServer(t, githubapi.Options{})
	c := newClient(t, s, token)

	cm, _, err := c.Issues.CreateComment(ctx, owner, name, 7, &github.IssueComment{Body: github.String("Review app: https://pforge-pr-7.herokuapp.com")})
	if err != nil {
		t.Fatalf("CreateComment: %v", err)
	}
	if _, _, err := c.Issues.EditComment(ctx, owner, name, cm.GetID(), &github.IssueComment{Body: github.String("Review app torn down")}); err != nil {
		t.Fatalf("EditComment: %v", err)
	}
	list, _, err := c.Issues.ListComments(ctx, owner, name, 7, nil)
	if err != nil {
		t.Fatalf("ListComments: %v", err)
	}
	if len(list) != 1 || list[0].GetBody() != "Review app torn down" || list[0].GetUser().GetLogin() != "github-actions[bot]" {
		t.Errorf("ListComments = %+v", list)
	}
	want := []githubapi.Comment{{ID: cm.GetID(), Issue: 7, Body: "Review app torn down", User: "github-actions[bot]", CreatedAt: fixedNow, UpdatedAt: fixedNow}}
	if diff := cmp.Diff(want, s.Comments(repoName, 7)); diff != "" {
		t.Errorf("Comments (-want +got):\n%s", diff)
	}
	if _, _, err := c.Issues.CreateComment(ctx, owner, name, 99, &github.IssueComment{Body: github.String("x")}); statusOf(err) != 404 {
		t.Errorf("comment on a missing issue: %v, want 404", err)
	}
	if _, _, err := c.Issues.CreateComment(ctx, owner, name, 7, &github.IssueComment{Body: github.String("")}); statusOf(err) != 422 {
		t.Errorf("empty comment: %v, want 422", err)
	}
}

func TestPullRequests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newServer(t, githubapi.Options{PageSize: 2})
	for n := 8; n <= 11; n++ {
		s.AddPullRequest(repoName, githubapi.PullRequest{Number: n, HeadSHA: headSHA, HeadRef: fmt.Sprintf("b%d", n), BaseRef: "main"})
	}
	s.ClosePullRequest(repoName, 9)
	s.AddPullRequest(repoName, githubapi.PullRequest{Number: 12, HeadSHA: headSHA, HeadRef: "patch-1", BaseRef: "main", HeadRepo: "someone/app"})
	c := newClient(t, s, token)

	pr, _, err := c.PullRequests.Get(ctx, owner, name, 7)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	got := []string{pr.GetState(), pr.GetHead().GetSHA(), pr.GetHead().GetRef(), pr.GetBase().GetRef(), pr.GetUser().GetLogin(), pr.GetTitle(), pr.GetHead().GetRepo().GetFullName(), pr.Labels[0].GetName()}
	if diff := cmp.Diff([]string{"open", headSHA, "feature/x", "main", "alice", "Add x", repoName, "deploy"}, got); diff != "" {
		t.Errorf("pull 7 (-want +got):\n%s", diff)
	}
	fork, _, err := c.PullRequests.Get(ctx, owner, name, 12)
	if err != nil || fork.GetHead().GetRepo().GetFullName() != "someone/app" {
		t.Errorf("fork PR head repo = %q (%v), want someone/app", fork.GetHead().GetRepo().GetFullName(), err)
	}
	if _, _, err := c.PullRequests.Get(ctx, owner, name, 404); statusOf(err) != 404 {
		t.Errorf("missing PR: %v, want 404", err)
	}

	tests := []struct {
		state string
		want  []int
	}{
		{"", []int{12, 11, 10, 8, 7}},
		{"closed", []int{9}},
		{"all", []int{12, 11, 10, 9, 8, 7}},
	}
	for _, tt := range tests {
		opt := &github.PullRequestListOptions{State: tt.state}
		var nums []int
		for {
			list, resp, err := c.PullRequests.List(ctx, owner, name, opt)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if len(list) > 2 {
				t.Errorf("page of %d, want at most 2", len(list))
			}
			for _, p := range list {
				nums = append(nums, p.GetNumber())
			}
			if resp.NextPage == 0 {
				break
			}
			opt.Page = resp.NextPage
		}
		if diff := cmp.Diff(tt.want, nums); diff != "" {
			t.Errorf("List state=%q (-want +got):\n%s", tt.state, diff)
		}
	}
	noViolations(t, s)
}

func TestCommitsAndBranches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newServer(t, githubapi.Options{})
	c := newClient(t, s, token)

	// prod's merge commit has main's tree: how the action tells that staging already runs it.
	for _, ref := range []string{"prod", prodSHA, prodSHA[:7]} {
		rc, _, err := c.Repositories.GetCommit(ctx, owner, name, ref, nil)
		if err != nil {
			t.Fatalf("GetCommit %s: %v", ref, err)
		}
		if rc.GetSHA() != prodSHA || rc.GetCommit().GetTree().GetSHA() != treeSHA || rc.Parents[0].GetSHA() != mainSHA {
			t.Errorf("GetCommit %s = sha %q tree %q", ref, rc.GetSHA(), rc.GetCommit().GetTree().GetSHA())
		}
	}
	gc, _, err := c.Git.GetCommit(ctx, owner, name, mainSHA)
	if err != nil || gc.GetTree().GetSHA() != treeSHA || gc.GetMessage() != "main commit" {
		t.Errorf("Git.GetCommit = %+v, %v", gc, err)
	}
	sha, _, err := c.Repositories.GetCommitSHA1(ctx, owner, name, "feature/x", "")
	if err != nil || sha != headSHA {
		t.Errorf("GetCommitSHA1(feature/x) = %q, %v; want %s", sha, err, headSHA)
	}
	br, _, err := c.Repositories.GetBranch(ctx, owner, name, "feature/x", 0)
	if err != nil || br.GetCommit().GetSHA() != headSHA || br.GetName() != "feature/x" {
		t.Errorf("GetBranch = %+v, %v", br, err)
	}
	// GetBranch answers a plain error (it follows redirects itself): the status is on the response.
	if _, resp, err := c.Repositories.GetBranch(ctx, owner, name, "gone", 0); err == nil || resp.StatusCode != 404 {
		t.Errorf("missing branch: %v, want 404", err)
	}
	if _, _, err := c.Repositories.GetCommit(ctx, owner, name, "gone", nil); statusOf(err) != 422 {
		t.Errorf("missing commit: %v, want 422", err)
	}
	rp, _, err := c.Repositories.Get(ctx, owner, name)
	if err != nil || rp.GetFullName() != repoName || rp.GetDefaultBranch() != "main" {
		t.Errorf("Repositories.Get = %+v, %v", rp, err)
	}
	if _, _, err := c.Repositories.Get(ctx, owner, "other"); statusOf(err) != 404 {
		t.Errorf("missing repository: %v, want 404", err)
	}
	noViolations(t, s)
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	s := newServer(t, githubapi.Options{})
	s.AddRepo("pangeo-forge/secret-app")
	s.SetPrivate("pangeo-forge/secret-app", true)
	tests := []struct {
		method, path, auth string
		status             int
	}{
		{"GET", "/repos/pangeo-forge/app", "Bearer " + token, 200},
		{"GET", "/repos/pangeo-forge/app", "token " + token, 200},
		{"GET", "/repos/pangeo-forge/app", "Bearer wrong", 401},
		{"GET", "/repos/pangeo-forge/app", "Basic " + token, 401},
		// Without a credential: a public repository can be read, a private one looks missing, and
		// nothing can be written.
		{"GET", "/repos/pangeo-forge/app", "", 200},
		{"GET", "/repos/pangeo-forge/secret-app", "", 404},
		{"GET", "/repos/pangeo-forge/secret-app", "Bearer " + token, 200},
		{"GET", "/repos/pangeo-forge/missing", "", 404},
		{"GET", "/user", "", 404},
		{"POST", "/repos/pangeo-forge/app/check-runs", "", 401},
	}
	for _, tt := range tests {
		if got := do(t, s, tt.method, tt.path, tt.auth); got != tt.status {
			t.Errorf("%s %s, Authorization %q: status %d, want %d", tt.method, tt.path, tt.auth, got, tt.status)
		}
	}
	_, _, err := newClient(t, s, "wrong").Repositories.Get(context.Background(), owner, name)
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response.StatusCode != 401 || er.Message != "Bad credentials" {
		t.Errorf("bad token: %v, want 401 Bad credentials", err)
	}
	for _, r := range s.Requests() {
		if strings.Contains(r.Header.Get("Authorization"), token) {
			t.Errorf("recorded request keeps the token: %q", r.Header.Get("Authorization"))
		}
	}
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	perms := map[string]string{"checks": "read", "contents": "read", "pull_requests": "write"}
	s := newServer(t, githubapi.Options{Permissions: perms})
	c := newClient(t, s, token)

	tests := []struct {
		name   string
		call   func() error
		status int
	}{
		{"create check run with checks: read", func() error {
			_, _, err := c.Checks.CreateCheckRun(ctx, owner, name, github.CreateCheckRunOptions{Name: "x", HeadSHA: headSHA})
			return err
		}, 403},
		{"list check runs with checks: read", func() error {
			_, _, err := c.Checks.ListCheckRunsForRef(ctx, owner, name, headSHA, nil)
			return err
		}, 0},
		{"deployment without deployments", func() error {
			_, _, err := c.Repositories.CreateDeployment(ctx, owner, name, &github.DeploymentRequest{Ref: github.String(headSHA)})
			return err
		}, 403},
		{"PR comment with pull_requests: write", func() error {
			_, _, err := c.Issues.CreateComment(ctx, owner, name, 7, &github.IssueComment{Body: github.String("hi")})
			return err
		}, 0},
		{"read a commit with contents: read", func() error {
			_, _, err := c.Repositories.GetCommit(ctx, owner, name, "main", nil)
			return err
		}, 0},
	}
	for _, tt := range tests {
		err := tt.call()
		if got := statusOf(err); got != tt.status || (tt.status == 0 && err != nil) {
			t.Errorf("%s: %v, want status %d", tt.name, err, tt.status)
		}
		var er *github.ErrorResponse
		if tt.status == 403 && errors.As(err, &er) && er.Message != "Resource not accessible by integration" {
			t.Errorf("%s: message %q", tt.name, er.Message)
		}
	}
	if n := len(s.Violations()); n != 2 {
		t.Errorf("violations = %q, want the two refusals", s.Violations())
	}
}

func TestFaultsAndRateLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newServer(t, githubapi.Options{})
	c := newClient(t, s, token)

	_, resp, err := c.Repositories.Get(ctx, owner, name)
	if err != nil || resp.Rate.Limit != 5000 || resp.Rate.Remaining != 4999 || resp.Rate.Reset.Time.IsZero() {
		t.Fatalf("rate headers: %+v, %v", resp.Rate, err)
	}

	s.Inject(githubapi.Fault{Method: "POST", Path: "/repos/{owner}/{repo}/check-runs", Status: 502})
	create := func() error {
		_, _, err := c.Checks.CreateCheckRun(ctx, owner, name, github.CreateCheckRunOptions{Name: "x", HeadSHA: headSHA})
		return err
	}
	if err := create(); statusOf(err) != 502 {
		t.Errorf("first create: %v, want 502", err)
	}
	if err := create(); err != nil {
		t.Errorf("second create (fault used up): %v", err)
	}

	s.Inject(githubapi.Fault{Path: "/repos/pangeo-forge/app/pulls/7", Status: 404, Times: -1})
	for range 2 {
		if _, _, err := c.PullRequests.Get(ctx, owner, name, 7); statusOf(err) != 404 {
			t.Errorf("injected 404: %v", err)
		}
	}

	s.Inject(githubapi.Fault{Method: "GET", Path: "/repos/{owner}/{repo}", RateLimit: true})
	_, _, err = c.Repositories.Get(ctx, owner, name)
	var rl *github.RateLimitError
	if !errors.As(err, &rl) {
		t.Errorf("rate limit fault: %v, want *github.RateLimitError", err)
	}
	noViolations(t, s)
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opt  githubapi.Options
		want string
	}{
		{"no token", githubapi.Options{}, "Token is required"},
		{"bad permission level", githubapi.Options{Token: "t", Permissions: map[string]string{"checks": "admin"}}, `"admin"`},
		{"page size", githubapi.Options{Token: "t", PageSize: 101}, "PageSize"},
		{"missing spec", githubapi.Options{Token: "t", Spec: "/nonexistent/api.json"}, "fetch-spec.sh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := githubapi.New(tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func sortedCopy(xs []string) []string {
	out := append([]string(nil), xs...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestPathPrefix: mounted under /api/v3 as on GitHub Enterprise Server, the API answers there (and
// records paths without the prefix), while the same path on the web host's root is a 404 and a
// violation.
func TestPathPrefix(t *testing.T) {
	t.Parallel()
	s := newServer(t, githubapi.Options{PathPrefix: "/api/v3"})
	if !strings.HasSuffix(s.URL(), "/api/v3") {
		t.Fatalf("URL() = %s, want it to end in /api/v3", s.URL())
	}
	repo, _, err := newClient(t, s, token).Repositories.Get(context.Background(), owner, name)
	if err != nil || repo.GetFullName() != repoName {
		t.Fatalf("under the prefix: %v, %v", repo, err)
	}
	if reqs := s.Requests(); reqs[len(reqs)-1].Path != "/repos/pangeo-forge/app" {
		t.Errorf("recorded path %q, want it without the prefix", reqs[len(reqs)-1].Path)
	}
	if len(s.Violations()) != 0 {
		t.Fatalf("violations under the prefix: %v", s.Violations())
	}
	root := strings.TrimSuffix(s.URL(), "/api/v3")
	req, _ := http.NewRequest("GET", root+"/repos/pangeo-forge/app", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || len(s.Violations()) != 1 {
		t.Errorf("outside the prefix: status %d, violations %v; want 404 and one violation", resp.StatusCode, s.Violations())
	}
	if _, err := githubapi.New(githubapi.Options{Token: token, PathPrefix: "api/v3/"}); err == nil {
		t.Error("New accepted PathPrefix api/v3/")
	}
}

// TestCollaboratorPermission: GET .../collaborators/{username}/permission answers each role's base
// permission (maintain is write, triage is read) with role_name the role; anyone else reads a
// public repository and has none on a private one. A fork's pull request names the fork's ID.
func TestCollaboratorPermission(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newServer(t, githubapi.Options{})
	requireSpec(t, s)
	for _, role := range []string{"admin", "maintain", "write", "triage", "read"} {
		s.SetRole(repoName, "user-"+role, role)
	}
	c := newClient(t, s, token)
	want := map[string]string{"user-admin": "admin", "user-maintain": "write", "user-write": "write", "user-triage": "read", "user-read": "read", "stranger": "read"}
	for login, perm := range want {
		got, _, err := c.Repositories.GetPermissionLevel(ctx, owner, name, login)
		if err != nil {
			t.Fatalf("%s: %v", login, err)
		}
		if got.GetPermission() != perm || got.GetUser().GetLogin() != login {
			t.Errorf("%s: permission %q of %q, want %q", login, got.GetPermission(), got.GetUser().GetLogin(), perm)
		}
	}
	s.SetPrivate(repoName, true)
	if got, _, err := c.Repositories.GetPermissionLevel(ctx, owner, name, "stranger"); err != nil || got.GetPermission() != "none" {
		t.Errorf("stranger on a private repository: %q, %v; want none", got.GetPermission(), err)
	}
	s.AddRepo("someone/app")
	s.AddPullRequest(repoName, githubapi.PullRequest{Number: 12, HeadSHA: headSHA, HeadRef: "patch-1", BaseRef: "main", HeadRepo: "someone/app"})
	pr, _, err := c.PullRequests.Get(ctx, owner, name, 12)
	if err != nil || pr.GetHead().GetRepo().GetID() != s.RepoID("someone/app") || pr.GetHead().GetRepo().GetID() == 0 || !pr.GetHead().GetRepo().GetFork() {
		t.Errorf("fork head repo %+v (%v): want the fork's ID %d", pr.GetHead().GetRepo(), err, s.RepoID("someone/app"))
	}
	noViolations(t, s)
}
