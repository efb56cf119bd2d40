package sandbox

import (
	"context"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
)

// newApprovalWorld is the lifecycle's world with the fork pull request #81 at CommitFork.
func newApprovalWorld(t *testing.T) *World {
	t.Helper()
	w := newWorld(t)
	w.SeedForkPullRequest()
	return w
}

// prOwnMarker is a value only the pull request's own copies of the secrets files hold.
const prOwnMarker = "pr-own-secret-value-never-deployed"

// writePROwnSecrets gives the pull request's checkout its own, different, secrets files: its own
// review file and its own copy of the review_fallback file, both decrypting with the demo key.
// An approved review app must use neither.
func writePROwnSecrets(t *testing.T, w *World) {
	t.Helper()
	edit := func(doc map[string]any) { doc["pr_only"] = prOwnMarker }
	writeFile(t, filepath.Join(w.Workspace, "secrets", "config.dev-app-proxy.yaml"), string(reencrypted(t, w, "dev-app-proxy", edit)))
	writeFile(t, filepath.Join(w.Workspace, "secrets", "config.pforge-pr-81.yaml"), string(reencrypted(t, w, "pforge-pr-80", edit)))
}

// reviewAppOf is the pull request's live review app on the pipeline, nil when none.
func reviewAppOf(w *World, pr int) *herokuapi.ReviewApp {
	for _, ra := range w.Heroku.ReviewApps(Pipeline) {
		if ra.PRNumber == pr && ra.Status != "deleting" {
			return &ra
		}
	}
	return nil
}

func contentsReads(w *World) []string {
	var reads []string
	for _, r := range w.GitHub.Requests() {
		if strings.Contains(r.Path, "/contents/") {
			reads = append(reads, strings.TrimPrefix(r.Path, "/repos/"+Repository+"/contents/")+"@"+r.Query.Get("ref"))
		}
	}
	return reads
}

func run(t *testing.T, w *World, step Step) *Run {
	t.Helper()
	r, err := w.Run(context.Background(), step, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestApprovalDeploysTheApprovedCommit: a /deploy-review comment with the full head commit, by a
// user with write permission, deploys exactly that commit of the fork's pull request: its review
// app is created with fork_repo_id (the fork's repository ID) and the config vars of the
// review_fallback file as main has it on GitHub at GITHUB_SHA, not the pull request's own files
// (present, and different); the check run on the commit names the approver.
func TestApprovalDeploysTheApprovedCommit(t *testing.T) {
	t.Parallel()
	w := newApprovalWorld(t)
	writePROwnSecrets(t, w)
	r := run(t, w, ApprovalStep(Maintainer, "/deploy-review "+CommitFork+"\nLooks good to me.", CommitFork))
	if r.Code != 0 || r.Outputs["deployed"] != "true" || r.Outputs["commit"] != CommitFork || r.Outputs["deployment"] != "pforge-pr-81" {
		t.Fatalf("exit %d, outputs %v; want the review app of #81 deployed at %s:\n%s", r.Code, r.Outputs, CommitFork, r.Log)
	}
	ra := reviewAppOf(w, ForkPR)
	if ra == nil {
		t.Fatalf("no review app for #%d: %+v", ForkPR, w.Heroku.ReviewApps(Pipeline))
	}
	if want := w.GitHub.RepoID(ForkRepo); ra.ForkRepoID != want || want == 0 || ra.Branch != ForkBranch {
		t.Errorf("review app fork_repo_id %d, branch %q; want the fork's ID %d and %q", ra.ForkRepoID, ra.Branch, want, ForkBranch)
	}
	if builds := w.Heroku.Builds(ra.AppName); len(builds) != 1 || builds[0].Commit != CommitFork {
		t.Errorf("builds of %s = %+v, want one of %s", ra.AppName, builds, CommitFork)
	}
	// The config vars are main's fallback file's, exactly: nothing of the pull request's files.
	got := w.Heroku.ConfigVars(ra.AppName)
	want := deploymentValues(t, w, "dev-app-proxy")
	for name, value := range want {
		if got[name] != value {
			t.Errorf("config var %s of the review app is not the fallback file's value from main", name)
		}
	}
	for name, value := range got {
		if strings.Contains(value, prOwnMarker) {
			t.Errorf("config var %s holds the pull request's own secrets file's value", name)
		}
		if _, ok := want[name]; !ok && name != "PANGEO_FORGE_DEPLOYMENT" && name != "DEPLOY_ACTION_MANAGED_VARS" {
			t.Errorf("config var %s is not in the fallback file from main", name)
		}
	}
	if got["PANGEO_FORGE_DEPLOYMENT"] != "pforge-pr-81" {
		t.Errorf("PANGEO_FORGE_DEPLOYMENT = %q, want pforge-pr-81", got["PANGEO_FORGE_DEPLOYMENT"])
	}
	// Read from GitHub at GITHUB_SHA (main's head); the staging and production files for the
	// copied-secrets check; nothing at the pull request's commit or base.
	reads := contentsReads(w)
	wantRead := "secrets/config.dev-app-proxy.yaml@" + CommitMain
	if !strings.Contains(strings.Join(reads, " "), wantRead) || len(reads) != 3 {
		t.Errorf("GitHub contents reads = %v, want %s and the staging and production files", reads, wantRead)
	}
	cr := checkRunOn(w, CommitFork, "deploy/review")
	if cr == nil || cr.Conclusion != "success" || !strings.Contains(cr.Summary, "approved by @"+Maintainer+" (write permission) with /deploy-review "+CommitFork) || !strings.Contains(cr.Title, "approved by @"+Maintainer) {
		t.Errorf("check run on %s = %+v; want success naming the approver", CommitFork, cr)
	}
	if !strings.Contains(r.Summary, "@"+Maintainer) {
		t.Errorf("the job summary does not name the approver:\n%s", r.Summary)
	}
	for _, v := range append(w.GitHub.Violations(), w.Heroku.Violations()...) {
		t.Errorf("violation: %s", v)
	}
}

// TestApprovalRefused: a comment that may not approve, or does not name the pull request's head as
// the checkout has it, deploys nothing: no Heroku request at all (or, for a checkout at another
// commit, no write), and the reason in the log. Only a commenter with write permission gets a reply.
func TestApprovalRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		step     Step
		prepare  func(w *World)
		code     int
		reason   string
		reply    string // "" when no reply may be written
		noHeroku bool   // not even a read
	}{
		{name: "a reader, whom the payload calls OWNER", step: ApprovalStep("stranger", "/deploy-review "+CommitFork, CommitFork), code: 2,
			reason: "@stranger may not approve a review app: GitHub gives them read permission on " + Repository, noHeroku: true},
		{name: "a triager", step: ApprovalStep(Triager, "/deploy-review "+CommitFork, CommitFork), code: 2,
			reason: "@triager may not approve a review app: GitHub gives them read permission", noHeroku: true},
		{name: "a stale commit", prepare: func(w *World) {
			w.GitHub.AddCommit(Repository, CommitForkAgain, SHA("tree-fork-second-push"), "Another push", CommitFork)
			pr := forkPR()
			pr.HeadSHA = CommitForkAgain
			w.GitHub.AddPullRequest(Repository, pr)
		}, step: ApprovalStep(Maintainer, "/deploy-review "+CommitFork, CommitFork), code: 2,
			reason: CommitFork + " is not the head of pull request #81, " + CommitForkAgain + ": a push since the commit was reviewed needs a new approval",
			reply:  "/deploy-review " + CommitForkAgain, noHeroku: true},
		{name: "not a commit", step: ApprovalStep(Maintainer, "/deploy-review main", CommitFork), code: 2,
			reason: "the argument of /deploy-review is not a commit", reply: "/deploy-review " + CommitFork, noHeroku: true},
		{name: "a closed pull request", prepare: func(w *World) { w.GitHub.ClosePullRequest(Repository, ForkPR) },
			step: ApprovalStep(Maintainer, "/deploy-review "+CommitFork, CommitFork), code: 2,
			reason: "pull request #81 is closed", reply: "not deployed", noHeroku: true},
		{name: "the checkout at another commit", step: ApprovalStep(Maintainer, "/deploy-review "+CommitFork, CommitOpened), code: 2,
			reason: "the workspace is checked out at " + CommitOpened[:12] + " but /deploy-review approved " + CommitFork, noHeroku: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newApprovalWorld(t)
			if tt.prepare != nil {
				tt.prepare(w)
			}
			r := run(t, w, tt.step)
			if r.Code != tt.code || r.Outputs["deployed"] == "true" {
				t.Fatalf("exit %d, outputs %v; want %d:\n%s", r.Code, r.Outputs, tt.code, r.Log)
			}
			if !strings.Contains(r.Log, "::error::") || !strings.Contains(r.Log, tt.reason) {
				t.Errorf("the log lacks the error %q:\n%s", tt.reason, r.Log)
			}
			if got := writes(w.Heroku.Requests()); len(got) > 0 {
				t.Errorf("Heroku writes: %v", got)
			}
			if n := len(w.Heroku.Requests()); tt.noHeroku && n > 0 {
				t.Errorf("%d Heroku requests, want none", n)
			}
			comments := w.GitHub.Comments(Repository, ForkPR)
			switch {
			case tt.reply == "" && len(comments) > 0:
				t.Errorf("comments written: %+v, want none", comments)
			case tt.reply != "" && (len(comments) != 1 || !strings.Contains(comments[0].Body, tt.reply) || !strings.HasPrefix(comments[0].Body, "@"+Maintainer+": not deployed")):
				t.Errorf("comments %+v, want one reply to @%s with %q", comments, Maintainer, tt.reply)
			}
			if cr := checkRunOn(w, CommitFork, "deploy/review"); tt.code == 2 && cr != nil {
				t.Errorf("a refused approval made a check run: %+v", cr)
			}
			for _, v := range w.GitHub.Violations() {
				t.Errorf("GitHub violation: %s", v)
			}
		})
	}
}

func forkPR() githubapi.PullRequest {
	return githubapi.PullRequest{Number: ForkPR, HeadSHA: CommitFork, HeadRef: ForkBranch, BaseRef: "main", Title: "Fix a typo", User: "someone", HeadRepo: ForkRepo}
}

// TestApprovalShortCommit: a command without the full commit gets a reply with the full head
// commit and the exact command to comment; nothing is deployed and the run succeeds.
func TestApprovalShortCommit(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"/deploy-review " + CommitFork[:7], "/deploy-review"} {
		t.Run(body, func(t *testing.T) {
			t.Parallel()
			w := newApprovalWorld(t)
			r := run(t, w, ApprovalStep(Maintainer, body, CommitFork))
			if r.Code != 0 || r.Outputs["deployed"] != "false" || r.Outputs["commit"] != "" {
				t.Fatalf("exit %d, outputs %v; want 0, nothing deployed:\n%s", r.Code, r.Outputs, r.Log)
			}
			if !strings.Contains(r.Log, "::notice::") || !strings.Contains(r.Log, "/deploy-review "+CommitFork) {
				t.Errorf("the notice lacks the exact command:\n%s", r.Log)
			}
			comments := w.GitHub.Comments(Repository, ForkPR)
			if len(comments) != 1 || !strings.Contains(comments[0].Body, "```\n/deploy-review "+CommitFork+"\n```") || !strings.HasPrefix(comments[0].Body, "@"+Maintainer) {
				t.Errorf("replies %+v, want one to @%s with the exact command", comments, Maintainer)
			}
			if n := len(w.Heroku.Requests()); n > 0 {
				t.Errorf("%d Heroku requests, want none", n)
			}
		})
	}
}

// TestApprovalNewPushNeedsNewApproval: after an approved deploy, a push to the fork's pull request
// deploys nothing by itself (its pull_request run is a fork's), the old approval is refused for
// the new head, and a new approval of the new head deploys it, its check run naming the new approver.
func TestApprovalNewPushNeedsNewApproval(t *testing.T) {
	t.Parallel()
	w := newApprovalWorld(t)
	w.GitHub.SetRole(Repository, "admin-user", "admin")
	if r := run(t, w, ApprovalStep(Maintainer, "/deploy-review "+CommitFork, CommitFork)); r.Code != 0 || r.Outputs["deployed"] != "true" {
		t.Fatalf("first approval: exit %d:\n%s", r.Code, r.Log)
	}
	w.GitHub.AddCommit(Repository, CommitForkAgain, SHA("tree-fork-second-push"), "Another push", CommitFork)
	pr := forkPR()
	pr.HeadSHA = CommitForkAgain
	w.GitHub.AddPullRequest(Repository, pr)
	before := len(w.Heroku.Requests())

	push := fork("synchronize")
	push["number"] = ForkPR
	prj := push["pull_request"].(map[string]any)
	prj["number"] = ForkPR
	prj["head"].(map[string]any)["sha"] = CommitForkAgain
	if r := run(t, w, Step{Event: "pull_request", Payload: push, Checkout: CommitForkAgain, SHA: SHA("merge-81"), Ref: "refs/pull/81/merge"}); r.Code != 0 || r.Outputs["deployed"] != "false" {
		t.Fatalf("the fork's push: exit %d, deployed %q:\n%s", r.Code, r.Outputs["deployed"], r.Log)
	}
	if r := run(t, w, ApprovalStep(Maintainer, "/deploy-review "+CommitFork, CommitForkAgain)); r.Code != 2 || !strings.Contains(r.Log, "needs a new approval") {
		t.Fatalf("the old approval after a push: exit %d:\n%s", r.Code, r.Log)
	}
	if got := writes(w.Heroku.Requests()[before:]); len(got) > 0 {
		t.Errorf("Heroku writes before the new approval: %v", got)
	}
	r := run(t, w, ApprovalStep("admin-user", "/deploy-review "+CommitForkAgain, CommitForkAgain))
	if r.Code != 0 || r.Outputs["deployed"] != "true" || r.Outputs["commit"] != CommitForkAgain {
		t.Fatalf("the new approval: exit %d, outputs %v:\n%s", r.Code, r.Outputs, r.Log)
	}
	ra := reviewAppOf(w, ForkPR)
	if builds := w.Heroku.Builds(ra.AppName); len(builds) != 2 || builds[1].Commit != CommitForkAgain {
		t.Errorf("builds %+v, want the second of %s", builds, CommitForkAgain)
	}
	if cr := checkRunOn(w, CommitForkAgain, "deploy/review"); cr == nil || cr.Conclusion != "success" || !strings.Contains(cr.Summary, "approved by @admin-user (admin permission)") {
		t.Errorf("check run on the new head = %+v, want success naming @admin-user", cr)
	}
}

// TestApprovedAppTornDown: a fork's approved review app is deleted on pull_request_target closed,
// without allow_pull_request_target and without the pull request's code checked out, and by the
// sweep.
func TestApprovedAppTornDown(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"pull_request_target closed", "sweep"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			w := newApprovalWorld(t)
			if r := run(t, w, ApprovalStep(Maintainer, "/deploy-review "+CommitFork, CommitFork)); r.Code != 0 || r.Outputs["deployed"] != "true" {
				t.Fatalf("approval: exit %d:\n%s", r.Code, r.Log)
			}
			w.GitHub.ClosePullRequest(Repository, ForkPR)
			step := Step{Event: "schedule", Payload: map[string]any{"schedule": "0 3 * * *", "repository": repository()}, SHA: CommitMain, Ref: "refs/heads/main",
				Inputs: map[string]string{"stage": "teardown"}}
			if how != "sweep" {
				closed := fork("closed")
				closed["number"] = ForkPR
				closed["pull_request"].(map[string]any)["number"] = ForkPR
				step = Step{Event: "pull_request_target", Payload: closed, SHA: CommitMain, Ref: "refs/heads/main"}
			}
			r := run(t, w, step)
			if r.Code != 0 || r.Outputs["stage"] != "teardown" {
				t.Fatalf("teardown: exit %d, outputs %v:\n%s", r.Code, r.Outputs, r.Log)
			}
			if ra := reviewAppOf(w, ForkPR); ra != nil {
				t.Errorf("the review app of #%d is still there: %+v", ForkPR, ra)
			}
		})
	}
}

// TestDependabotWithoutSecrets: a Dependabot pull request's run, which GitHub gives no Actions
// secrets (heroku_api_key and the SOPS key arrive empty), is skipped with a notice, not failed.
func TestDependabotWithoutSecrets(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	step := Lifecycle()[0]
	step.Env = map[string]string{"GITHUB_ACTOR": "dependabot[bot]", "INPUT_HEROKU_API_KEY": "", "SOPS_AGE_KEY": ""}
	r := run(t, w, step)
	if r.Code != 0 || r.Outputs["deployed"] != "false" {
		t.Fatalf("exit %d, deployed %q; want 0 and a skip:\n%s", r.Code, r.Outputs["deployed"], r.Log)
	}
	if !strings.Contains(r.Log, "::notice::pull request #80 runs as dependabot[bot]") {
		t.Errorf("the log lacks the notice:\n%s", r.Log)
	}
	if n := len(w.Heroku.Requests()); n > 0 {
		t.Errorf("%d Heroku requests, want none", n)
	}
}

// TestApprovalStage: stage approve checks the comment without a checkout and outputs the approved
// commit, for the workflow to check out; it asks nothing of Heroku and reports no check run. A
// reader's comment fails it (exit 2), so the checkout after it never runs.
func TestApprovalStage(t *testing.T) {
	t.Parallel()
	w := newApprovalWorld(t)
	step := ApprovalStep(Maintainer, "/deploy-review "+CommitFork, "")
	step.Inputs = map[string]string{"stage": "approve", "review_fallback": "dev-app-proxy"}
	step.Env = map[string]string{"INPUT_HEROKU_API_KEY": ""}
	r := run(t, w, step)
	if r.Code != 0 || r.Outputs["commit"] != CommitFork || r.Outputs["deployed"] != "false" || r.Outputs["stage"] != "approve" {
		t.Fatalf("exit %d, outputs %v:\n%s", r.Code, r.Outputs, r.Log)
	}
	if n := len(w.Heroku.Requests()); n > 0 || len(w.GitHub.CheckRuns(Repository)) > 0 {
		t.Errorf("%d Heroku requests, check runs %+v; want none", n, w.GitHub.CheckRuns(Repository))
	}
	step.Payload = CommentEvent(ForkPR, Triager, "/deploy-review "+CommitFork)
	if r := run(t, w, step); r.Code != 2 || r.Outputs["commit"] != "" {
		t.Errorf("a triager's approval: exit %d, outputs %v; want 2 and no commit:\n%s", r.Code, r.Outputs, r.Log)
	}
}

// TestApprovalCommentInjection: the comment's text is written by whoever commented; none of it
// reaches the log, the summary, a reply or a check run, whether the command is valid, refused or
// short: newlines, workflow commands and their escapes stay out.
func TestApprovalCommentInjection(t *testing.T) {
	t.Parallel()
	const marker = "INJECTED-b7e1f0"
	tests := []struct {
		body     string
		code     int
		deployed string
	}{
		{body: "/deploy-review " + CommitFork + "\n::add-mask::" + marker + "\n::error::" + marker + "\n::stop-commands::" + marker, code: 0, deployed: "true"},
		{body: "/deploy-review ::set-env name=X::" + marker, code: 2, deployed: ""},
		{body: "/deploy-review " + CommitFork + "%0A::error::" + marker, code: 2, deployed: ""},
		{body: "/deploy-review\r::error::" + marker, code: 2, deployed: ""},
		{body: "/deploy-review " + CommitFork[:8] + "\r\n::warning::" + marker, code: 0, deployed: "false"},
	}
	for i, tt := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			w := newApprovalWorld(t)
			r := run(t, w, ApprovalStep(Maintainer, tt.body, CommitFork))
			if r.Code != tt.code || r.Outputs["deployed"] != tt.deployed {
				t.Fatalf("exit %d, deployed %q; want %d, %q:\n%s", r.Code, r.Outputs["deployed"], tt.code, tt.deployed, r.Log)
			}
			texts := map[string]string{"log": r.Log, "stderr": r.Stderr, "summary": r.Summary}
			for _, c := range w.GitHub.Comments(Repository, ForkPR) {
				texts["comment "+strconv.FormatInt(c.ID, 10)] = c.Body
			}
			for _, cr := range w.GitHub.CheckRuns(Repository) {
				texts["check run "+cr.Name] = cr.Title + cr.Summary + cr.Text
			}
			maps.DeleteFunc(texts, func(_, v string) bool { return !strings.Contains(v, marker) })
			for where := range texts {
				t.Errorf("the comment's text reached the %s", where)
			}
		})
	}
}
