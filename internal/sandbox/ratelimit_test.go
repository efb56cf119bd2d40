package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
)

// manyAtOnce is the scaled-down account of TestSixteenPullRequestsAtOnce: a bucket of 20 tokens
// refilled at 8 a second (Heroku: 4500, refilled at 1.25 a second). Sixteen runs need far more
// than the bucket holds, so most of their early requests are refused and the runs must wait.
var manyAtOnce = Options{
	RateLimit: 20, RefillPerSecond: 8, BuildTime: 300 * time.Millisecond,
	HerokuOptions: func(o *heroku.Options) {
		o.PollInterval = 200 * time.Millisecond
		o.RateLimit.RefillPerMinute = 8 * 60
		o.RateLimit.MaxBackoff = time.Second
	},
}

// TestSixteenPullRequestsAtOnce opens sixteen pull requests at once on one Heroku account whose
// rate limit cannot serve them all: the runs wait for the bucket instead of failing. Every run
// exits 0 with exactly one review app of its head commit, and no build is made twice.
func TestSixteenPullRequestsAtOnce(t *testing.T) {
	t.Parallel()
	w, err := New(manyAtOnce)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	const n = 16
	type outcome struct {
		run *Run
		err error
	}
	outcomes := make([]outcome, n)
	commits := make([]string, n)
	for i := range n {
		pr := 101 + i
		commits[i] = SHA(fmt.Sprintf("pr-%d-head", pr))
		w.GitHub.AddCommit(Repository, commits[i], SHA(fmt.Sprintf("pr-%d-tree", pr)), "change")
		w.GitHub.AddPullRequest(Repository, githubapi.PullRequest{Number: pr, HeadSHA: commits[i], HeadRef: fmt.Sprintf("change-%d", pr), BaseRef: "main"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for i := range n {
		pr := 101 + i
		wg.Go(func() {
			payload := PullRequestEvent("opened", pr, commits[i])
			payload["pull_request"].(map[string]any)["head"].(map[string]any)["ref"] = fmt.Sprintf("change-%d", pr)
			run, err := w.Run(ctx, Step{
				Event: "pull_request", Payload: payload, Checkout: commits[i], OwnWorkspace: true,
				SHA: SHA(fmt.Sprintf("merge-%d", pr)), Ref: fmt.Sprintf("refs/pull/%d/merge", pr),
				// The PRs have no secrets files of their own: they use #80's.
				Inputs: map[string]string{"review_fallback": "pforge-pr-80"},
			}, nil)
			outcomes[i] = outcome{run, err}
		})
	}
	wg.Wait()

	waited := 0
	for i, o := range outcomes {
		pr := 101 + i
		if o.err != nil {
			t.Fatalf("PR #%d: %v", pr, o.err)
		}
		if o.run.Code != 0 {
			t.Errorf("PR #%d exited %d:\n%s", pr, o.run.Code, o.run.Log)
			continue
		}
		if o.run.Outputs["deployed"] != "true" || o.run.Outputs["commit"] != commits[i] {
			t.Errorf("PR #%d outputs %v", pr, o.run.Outputs)
		}
		if strings.Contains(o.run.Log, "Heroku's rate limit is exhausted on this account; waiting") {
			waited++
			if !strings.Contains(o.run.Summary, "Heroku's rate limit was exhausted on this account") {
				t.Errorf("PR #%d waited for the rate limit but its summary does not say so:\n%s", pr, o.run.Summary)
			}
		}
	}
	refused := 0
	for _, r := range w.Heroku.Requests() {
		if r.Status == 429 {
			refused++
		}
	}
	if refused == 0 || waited == 0 {
		t.Errorf("%d requests refused, %d runs waited: the bucket is not scaled down enough to test anything", refused, waited)
	}

	// Exactly one live review app per pull request, running its head commit, built once.
	live := map[int][]string{}
	for _, ra := range w.Heroku.ReviewApps(Pipeline) {
		if ra.Status != "deleting" && ra.Status != "deleted" {
			live[ra.PRNumber] = append(live[ra.PRNumber], ra.AppName)
		}
	}
	for i := range n {
		pr := 101 + i
		apps := live[pr]
		if len(apps) != 1 {
			t.Errorf("PR #%d has %d review apps %v, want 1", pr, len(apps), apps)
			continue
		}
		builds := w.Heroku.Builds(apps[0])
		if len(builds) != 1 || builds[0].Commit != commits[i] {
			t.Errorf("PR #%d: builds on %s %+v, want one of %s", pr, apps[0], builds, commits[i])
		}
		rels := w.Heroku.Releases(apps[0])
		if len(rels) == 0 || rels[len(rels)-1].Commit != commits[i] {
			t.Errorf("PR #%d: releases of %s %+v, want the last to run %s", pr, apps[0], rels, commits[i])
		}
	}
	if len(live) != n {
		t.Errorf("review apps for %d pull requests, want %d", len(live), n)
	}
	if v := w.Heroku.Violations(); len(v) > 0 {
		t.Errorf("Heroku violations: %v", v)
	}
	if v := w.GitHub.Violations(); len(v) > 0 {
		t.Errorf("GitHub violations: %v", v)
	}
	tokens := 0
	for _, r := range w.Heroku.Requests() {
		if r.Token {
			tokens++
		}
	}
	t.Logf("%d tokens spent, %d requests refused, %d of %d runs waited", tokens, refused, waited, n)
}

// TestHeadCheckedAfterRateLimitWait: a push that arrives while a run waits for the account's rate
// limit makes the run's commit stale; the run checks the pull request's head again before its next
// write and ends as superseded, creating nothing.
func TestHeadCheckedAfterRateLimitWait(t *testing.T) {
	t.Parallel()
	w, err := New(Options{HerokuOptions: func(o *heroku.Options) {
		o.PollInterval = 20 * time.Millisecond
		o.RateLimit.MaxBackoff = 50 * time.Millisecond
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	w.SeedLifecycle()
	newer := SHA("pr-80-pushed-during-the-wait")
	var once sync.Once
	w.Heroku.Inject(func(r *http.Request) (int, bool) {
		refuse := false
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/review-apps") {
			once.Do(func() {
				refuse = true
				// The push lands while the run waits.
				w.GitHub.AddPullRequest(Repository, githubapi.PullRequest{Number: PR, HeadSHA: newer, HeadRef: PRBranch, BaseRef: "main"})
			})
		}
		return http.StatusTooManyRequests, refuse
	})
	run, err := w.Run(context.Background(), Lifecycle()[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if run.Code != 0 {
		t.Fatalf("exit %d:\n%s", run.Code, run.Log)
	}
	for _, want := range []string{"Heroku's rate limit is exhausted on this account; waiting", "superseded: " + CommitOpened[:12] + " is no longer the head of pull request #80"} {
		if !strings.Contains(run.Log, want) {
			t.Errorf("log does not say %q:\n%s", want, run.Log)
		}
	}
	if got := run.Outputs["deployed"]; got != "false" {
		t.Errorf("deployed = %q, want false", got)
	}
	if n := countRequests(w.Heroku.Requests(), "POST", "/review-apps"); n != 0 {
		t.Errorf("%d review apps requested after the head moved", n)
	}
	if v := w.Heroku.Violations(); len(v) > 0 {
		t.Errorf("Heroku violations: %v", v)
	}
}
