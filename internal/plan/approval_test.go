package plan

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/event"
)

func TestParseApproval(t *testing.T) {
	t.Parallel()
	full := strings.Repeat("ab", 20)
	tests := []struct {
		body string
		ok   bool
		want Approval
	}{
		{body: "/deploy-review " + full, ok: true, want: Approval{Commit: full}},
		{body: "/deploy-review " + strings.ToUpper(full) + "  \r\nlooks good", ok: true, want: Approval{Commit: full}},
		{body: "  /deploy-review\t" + full, ok: true, want: Approval{Commit: full}},
		{body: "/deploy-review", ok: true, want: Approval{Short: true}},
		{body: "/deploy-review abc1234", ok: true, want: Approval{Short: true}},
		{body: "/deploy-review abc1234\n/deploy-review " + full, ok: true, want: Approval{Short: true}}, // only the first line counts
		{body: "/deploy-review " + full + "0", ok: true, want: Approval{Problem: "the argument of /deploy-review is not a commit: give the pull request's full head commit (40 hexadecimal characters)"}},
		{body: "/deploy-review main", ok: true, want: Approval{Problem: "the argument of /deploy-review is not a commit: give the pull request's full head commit (40 hexadecimal characters)"}},
		{body: "/deploy-review " + full + " ::error::x", ok: true, want: Approval{Problem: "/deploy-review takes one argument, the pull request's full head commit, and was given 2"}},
		{body: "/deploy-reviewer " + full},
		{body: "please /deploy-review " + full},
		{body: "\n/deploy-review " + full},
		{body: ""},
	}
	for _, tt := range tests {
		got, ok := ParseApproval(tt.body)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseApproval(%q) = %+v, %v; want %+v, %v", tt.body, got, ok, tt.want, tt.ok)
		}
	}
}

// comment builds an issue_comment trigger on pull request #80.
func comment(action, body string, opts ...func(*event.Comment)) event.Trigger {
	c := &event.Comment{Issue: prNumber, OnPullRequest: true, Body: body, Author: "maintainer"}
	for _, o := range opts {
		o(c)
	}
	return event.Trigger{Name: "issue_comment", Action: action, Repository: repo, Sender: "maintainer", Comment: c}
}

func TestResolveComment(t *testing.T) {
	t.Parallel()
	fb := map[string]string{"review_fallback": "dev-app-proxy"}
	tests := []struct {
		desc   string
		inputs map[string]string
		t      event.Trigger
		want   Plan
	}{
		{desc: "approval", inputs: fb, t: comment("created", "/deploy-review "+headSHA),
			want: Plan{Stage: StageReview, PR: prNumber, Approval: &Approval{By: "maintainer", Commit: headSHA}}},
		{desc: "approve stage", inputs: map[string]string{"review_fallback": "dev-app-proxy", "stage": "approve"}, t: comment("created", "/deploy-review "+headSHA),
			want: Plan{Stage: StageApprove, PR: prNumber, Approval: &Approval{By: "maintainer", Commit: headSHA}}},
		{desc: "short commit", inputs: fb, t: comment("created", "/deploy-review 1111111"),
			want: Plan{Stage: StageReview, PR: prNumber, Approval: &Approval{By: "maintainer", Short: true}}},
		{desc: "edited comment", inputs: fb, t: comment("edited", "/deploy-review "+headSHA),
			want: Plan{Stage: StageReview, Skip: `issue_comment action "edited" does nothing: only a new comment /deploy-review <commit> on a pull request approves a review app`}},
		{desc: "comment on an issue", inputs: fb, t: comment("created", "/deploy-review "+headSHA, func(c *event.Comment) { c.OnPullRequest = false }),
			want: Plan{Stage: StageReview, Skip: "the comment is on issue #80, not on a pull request: nothing to deploy"}},
		{desc: "not the command", inputs: fb, t: comment("created", "LGTM"),
			want: Plan{Stage: StageReview, PR: prNumber, Skip: "the comment on pull request #80 is not a /deploy-review command: nothing to do"}},
		{desc: "not the command, without review_fallback", t: comment("created", "LGTM"),
			want: Plan{Stage: StageReview, PR: prNumber, Skip: "the comment on pull request #80 is not a /deploy-review command: nothing to do"}},
		// Dependabot's runs on its pull requests get no Actions secrets.
		{desc: "dependabot without a heroku key", t: pr("opened"),
			want: Plan{Stage: StageReview, Branch: "feature/New_UI", PR: prNumber, Skip: "pull request #80 runs as dependabot[bot], which GitHub gives Dependabot's secrets only, and heroku_api_key is empty: nothing is deployed; a maintainer deploys it with the comment /deploy-review <full head commit> (docs/workflows/approve-review.yml), or add the keys as Dependabot secrets"}},
		{desc: "dependabot with a heroku key (a Dependabot secret)", t: pr("opened"), want: review()},
		// pull_request_target may tear a fork's review app down without allow_pull_request_target.
		{desc: "fork closed on pull_request_target", t: pr("closed", target, fork), want: teardown()},
		{desc: "fork closed on pull_request_target with review_label", inputs: map[string]string{"review_label": "deploy"}, t: pr("closed", target, fork), want: teardown()},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			c := cfg(t, tt.inputs)
			if strings.HasPrefix(tt.desc, "dependabot") {
				c.GitHub.Actor = config.DependabotActor
				if strings.Contains(tt.desc, "without a heroku key") {
					c.HerokuAPIKey = ""
				}
			}
			got, err := Resolve(c, tt.t)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveCommentErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc   string
		inputs map[string]string
		t      event.Trigger
		want   string
	}{
		{desc: "no review_fallback", t: comment("created", "/deploy-review "+headSHA),
			want: "input review_fallback is empty: a review app approved with /deploy-review uses only the review_fallback deployment's secrets file from the default branch"},
		{desc: "stage teardown on a comment", inputs: map[string]string{"review_fallback": "dev-app-proxy", "stage": "teardown"}, t: comment("created", "/deploy-review "+headSHA),
			want: "input stage: teardown does not run on issue_comment events"},
		{desc: "stage approve on a push", inputs: map[string]string{"stage": "approve"}, t: push("refs/heads/main", pushSHA, false),
			want: "input stage: approve checks a /deploy-review comment and runs on issue_comment events only, not on push"},
		{desc: "stage approve on a pull request", inputs: map[string]string{"stage": "approve"}, t: pr("opened"),
			want: "input stage: approve checks a /deploy-review comment and runs on issue_comment events only, not on pull_request"},
		{desc: "no comment author", inputs: map[string]string{"review_fallback": "dev-app-proxy"}, t: comment("created", "/deploy-review "+headSHA, func(c *event.Comment) { c.Author = "" }),
			want: "the issue_comment payload names no valid comment author"},
		{desc: "a comment author that is no login", inputs: map[string]string{"review_fallback": "dev-app-proxy"}, t: comment("created", "/deploy-review "+headSHA, func(c *event.Comment) { c.Author = "x\n::error::y" }),
			want: "the issue_comment payload names no valid comment author"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			p, err := Resolve(cfg(t, tt.inputs), tt.t)
			if err == nil {
				t.Fatalf("Resolve = %+v, want an error", p)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error\n%q\ndoes not start with\n%q", err, tt.want)
			}
		})
	}
}

// TestApproved: a confirmed approval takes the pull request's head as GitHub answers it, and its
// secrets are the review_fallback file only.
func TestApproved(t *testing.T) {
	t.Parallel()
	c := cfg(t, map[string]string{"review_fallback": "dev-app-proxy", "review_name": "pr-{pr}-{branch}"})
	p, err := Resolve(c, comment("created", "/deploy-review "+headSHA))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Approved(c, comment("created", "/deploy-review "+headSHA), p, PullHead{SHA: headSHA, Ref: "Fix/x", ForkRepoID: 42})
	if err != nil {
		t.Fatal(err)
	}
	want := Plan{Stage: StageReview, PR: prNumber, Approval: p.Approval, Commit: headSHA, Branch: "Fix/x", Deployment: "pr-80-fix-x", Fallback: "dev-app-proxy", ForkRepoID: 42}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Approved mismatch (-want +got):\n%s", diff)
	}
	c.ReviewFallback = "pangeo-forge"
	if _, err := Approved(c, comment("created", ""), p, PullHead{SHA: headSHA, Ref: "x"}); err == nil || !strings.Contains(err.Error(), "input review_fallback") {
		t.Errorf("a fallback named like production: err = %v, want the refusal", err)
	}
}
