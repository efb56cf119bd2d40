package sandbox

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
)

// The seed's pull request #80 and the commits of its life.
const (
	PR       = 80
	PRBranch = "recipe-run-status"
)

// Commits of the lifecycle: the PR's first head, its update, the merge into main and the merge of
// main into prod (a new commit with the same tree, so prod promotes staging's release).
var (
	CommitOpened  = SHA("pr-80-first-push")
	CommitUpdated = SHA("pr-80-second-push")
	CommitMain    = SHA("merge-pr-80-into-main")
	CommitProd    = SHA("merge-main-into-prod")
	treeUpdated   = SHA("tree-after-pr-80")
)

// The staging and production secrets files of the demo.
const (
	StagingSecrets = "config.pangeo-forge-staging.yaml"
	ProdSecrets    = "config.pangeo-forge.yaml"
)

// SetRepoFile puts a file into a commit of the repository on the GitHub test server (what the
// contents endpoint answers).
func (w *World) SetRepoFile(commit, path string, data []byte) {
	w.GitHub.AddFile(Repository, commit, path, data)
}

// mustReadSecrets reads one of the repository's demo secrets files: they are part of the
// repository, so a failure is a broken checkout.
func (w *World) mustReadSecrets(name string) []byte {
	data, err := os.ReadFile(filepath.Join(w.Root, "secrets", name))
	if err != nil {
		panic(fmt.Sprintf("sandbox: the demo secrets file is missing: %v", err))
	}
	return data
}

// SeedLifecycle registers the lifecycle's commits and pull request on the GitHub test server.
func (w *World) SeedLifecycle() {
	w.GitHub.AddCommit(Repository, CommitOpened, SHA("tree-first-push"), "Add recipe run status endpoint")
	w.GitHub.AddCommit(Repository, CommitUpdated, treeUpdated, "Address review comments", CommitOpened)
	w.GitHub.AddCommit(Repository, CommitMain, treeUpdated, "Merge pull request #80", CommitUpdated)
	w.GitHub.AddCommit(Repository, CommitProd, treeUpdated, "Merge main into prod", CommitMain)
	// The branches' heads, which the stale-deploy guard compares a push's commit with.
	w.GitHub.SetBranch(Repository, "main", CommitMain)
	w.GitHub.SetBranch(Repository, "prod", CommitProd)
	// The staging and production secrets files as the branches have them: review runs compare
	// their own file with these (a copy of one is refused).
	for _, commit := range []string{CommitMain, CommitProd} {
		for _, name := range []string{StagingSecrets, ProdSecrets} {
			w.SetRepoFile(commit, "secrets/"+name, w.mustReadSecrets(name))
		}
	}
	w.GitHub.AddPullRequest(Repository, githubapi.PullRequest{
		Number: PR, HeadSHA: CommitOpened, HeadRef: PRBranch, BaseRef: "main",
		Title: "Add recipe run status endpoint", User: "cisaacstern",
	})
}

// Lifecycle is the seed's whole deployment lifecycle as five workflow runs.
func Lifecycle() []Step {
	return []Step{
		{
			Name: "pr-opened", Title: "Pull request #80 opened: create its review app", Event: "pull_request",
			Payload: PullRequestEvent("opened", PR, CommitOpened), Checkout: CommitOpened,
			SHA: SHA("merge-ref-1"), Ref: "refs/pull/80/merge",
		},
		{
			Name: "pr-updated", Title: "Pull request #80 updated: build on its review app", Event: "pull_request",
			Payload: PullRequestEvent("synchronize", PR, CommitUpdated), Checkout: CommitUpdated, Pushed: true,
			SHA: SHA("merge-ref-2"), Ref: "refs/pull/80/merge",
		},
		{
			Name: "main", Title: "Merged to main: build staging", Event: "push",
			Payload: PushEvent("refs/heads/main", CommitUpdated, CommitMain), Checkout: CommitMain,
			SHA: CommitMain, Ref: "refs/heads/main",
		},
		{
			Name: "prod", Title: "Merged main into prod: promote staging's release", Event: "push",
			Payload: PushEvent("refs/heads/prod", SHA("previous-prod"), CommitProd), Checkout: CommitProd,
			SHA: CommitProd, Ref: "refs/heads/prod",
		},
		{
			Name: "pr-closed", Title: "Pull request #80 closed: tear its review app down", Event: "pull_request",
			Payload: PullRequestEvent("closed", PR, CommitUpdated),
			SHA:     SHA("merge-ref-2"), Ref: "refs/pull/80/merge",
		},
	}
}

// LifecycleCI is Lifecycle with the tests of app.json run on Heroku CI before each deploy from a
// branch, as the seed's pipeline had them: the pull request's review app and staging are deployed
// only once the tests passed (heroku_ci: true).
func LifecycleCI() []Step {
	steps := Lifecycle()
	titles := map[string]string{
		"pr-opened":  "Pull request #80 opened: run its tests on Heroku CI, then create its review app",
		"pr-updated": "Pull request #80 updated: run its tests on Heroku CI, then build on its review app",
		"main":       "Merged to main: run the tests on Heroku CI, then build staging",
	}
	for i := range steps {
		if title, ok := titles[steps[i].Name]; ok {
			steps[i].Title = title
			steps[i].Inputs = map[string]string{"heroku_ci": "true"}
		}
	}
	return steps
}

func repository() map[string]any {
	return map[string]any{
		"id": 403512375, "name": "pangeo-forge-orchestrator", "full_name": Repository,
		"private": false, "owner": map[string]any{"login": "pangeo-forge", "type": "Organization"},
		"default_branch": "main",
	}
}

// PullRequestEvent is a pull_request webhook payload shaped as GitHub sends it.
func PullRequestEvent(action string, number int, head string) map[string]any {
	author := map[string]any{"login": "cisaacstern", "type": "User"}
	return map[string]any{
		"action": action,
		"number": number,
		"pull_request": map[string]any{
			"number": number, "state": map[bool]string{true: "closed", false: "open"}[action == "closed"],
			"title": "Add recipe run status endpoint", "user": author, "draft": false,
			"merged": action == "closed", "labels": []any{},
			"head": map[string]any{"ref": PRBranch, "sha": head, "label": "pangeo-forge:" + PRBranch, "repo": repository(), "user": author},
			"base": map[string]any{"ref": "main", "sha": SHA("main-before-80"), "label": "pangeo-forge:main", "repo": repository()},
		},
		"repository": repository(),
		"sender":     author,
	}
}

// PushEvent is a push webhook payload.
func PushEvent(ref, before, after string) map[string]any {
	return map[string]any{
		"ref": ref, "before": before, "after": after, "created": false, "deleted": false, "forced": false,
		"head_commit": map[string]any{"id": after, "message": "Merge", "tree_id": treeUpdated},
		"repository":  repository(),
		"pusher":      map[string]any{"name": "cisaacstern"},
		"sender":      map[string]any{"login": "cisaacstern", "type": "User"},
	}
}

// A pull request from a fork, deployed only when a maintainer approves its head with a
// /deploy-review comment (docs/workflows/approve-review.yml).
const (
	ForkPR     = 81
	ForkRepo   = "someone/pangeo-forge-orchestrator"
	ForkBranch = "patch-1"
	// Maintainer has write permission on the repository; Triager has triage, which GitHub reports
	// as read.
	Maintainer = "maintainer"
	Triager    = "triager"
)

// The fork pull request's first head and a later push.
var (
	CommitFork      = SHA("fork-pr-81-first-push")
	CommitForkAgain = SHA("fork-pr-81-second-push")
)

// SeedForkPullRequest registers the fork, its pull request #81 at CommitFork, the maintainers'
// roles, and the review_fallback file (dev-app-proxy) on main, where an approved review app reads it.
func (w *World) SeedForkPullRequest() {
	w.GitHub.AddRepo(ForkRepo)
	w.GitHub.AddCommit(Repository, CommitFork, SHA("tree-fork-first-push"), "Fix a typo")
	w.GitHub.AddPullRequest(Repository, githubapi.PullRequest{
		Number: ForkPR, HeadSHA: CommitFork, HeadRef: ForkBranch, BaseRef: "main",
		Title: "Fix a typo", User: "someone", HeadRepo: ForkRepo,
	})
	w.GitHub.SetRole(Repository, Maintainer, "write")
	w.GitHub.SetRole(Repository, Triager, "triage")
	w.SetRepoFile(CommitMain, "secrets/config.dev-app-proxy.yaml", w.mustReadSecrets("config.dev-app-proxy.yaml"))
}

// CommentEvent is an issue_comment webhook payload for a new comment on pull request number,
// shaped as @octokit/openapi's issue-comment-created describes it: the pull_request holds
// URLs, no head commit. Its author_association says OWNER, which the action must not believe.
func CommentEvent(number int, author, body string) map[string]any {
	user := map[string]any{"login": author, "type": "User"}
	return map[string]any{
		"action": "created",
		"issue": map[string]any{
			"number": number, "title": "Fix a typo", "state": "open", "user": map[string]any{"login": "someone", "type": "User"},
			"pull_request": map[string]any{
				"url":      fmt.Sprintf("https://api.github.com/repos/%s/pulls/%d", Repository, number),
				"html_url": fmt.Sprintf("https://github.com/%s/pull/%d", Repository, number), "merged_at": nil,
			},
		},
		"comment": map[string]any{
			"id": 1, "body": body, "user": user, "author_association": "OWNER",
			"created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
		},
		"repository": repository(),
		"sender":     user,
	}
}

// ApprovalStep is a /deploy-review comment's run: the workflow on issue_comment, at the default
// branch (GITHUB_SHA is main's head), with the workspace checked out at checkout ("" for none).
func ApprovalStep(author, body, checkout string) Step {
	return Step{
		Name: "approve", Title: "A comment on pull request #81", Event: "issue_comment",
		Payload: CommentEvent(ForkPR, author, body), Checkout: checkout,
		SHA: CommitMain, Ref: "refs/heads/main",
		Inputs: map[string]string{"review_fallback": "dev-app-proxy"},
	}
}
