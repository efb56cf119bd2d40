package heroku_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
)

// These tests run the client against the stateful fake Heroku, which validates every request
// against the Platform API's schema: they show the client speaks the real API, not just what the
// unit tests' handlers expect.

const fakeToken = "fake-heroku-token"

func startFake(t *testing.T, opt herokuapi.Options) (*herokuapi.Server, *heroku.Client) {
	t.Helper()
	opt.Token = fakeToken
	if opt.BuildTime == 0 {
		opt.BuildTime = 60 * time.Millisecond
	}
	if opt.ReleaseTime == 0 {
		opt.ReleaseTime = 30 * time.Millisecond
	}
	srv, err := herokuapi.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		for _, v := range srv.Violations() {
			t.Errorf("the fake Heroku saw a request the real API would refuse: %s", v)
		}
	})
	c := heroku.New(heroku.Options{
		BaseURL: srv.URL(), Token: fakeToken, HTTPClient: srv.Client(),
		PollInterval: 10 * time.Millisecond,
		// Backoffs run instantly; polls still wait so the fake's timers can move on.
		Sleep: func(ctx context.Context, d time.Duration) error {
			d = min(d, 10*time.Millisecond)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
				return nil
			}
		},
	})
	return srv, c
}

// upload uploads a tarball holding a Procfile and returns the source and the tarball's SHA256.
func upload(t *testing.T, ctx context.Context, c *heroku.Client) (heroku.Source, string) {
	t.Helper()
	return sourceWith(t, ctx, c, map[string]string{"Procfile": "web: uvicorn app:app\n"})
}

func TestFakeStagingThenPromotion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, c := startFake(t, herokuapi.Options{PageSize: 2})
	srv.AddPipeline("pangeo-forge-api-flow")
	srv.AddApp("pangeo-forge-staging", "pangeo-forge-api-flow", "staging")
	srv.AddApp("pangeo-forge", "pangeo-forge-api-flow", "production")
	srv.SetReleasePhase("pangeo-forge-staging", true)
	// Enough review-stage apps that couplings take several pages.
	for _, n := range []string{"pforge-pr-1", "pforge-pr-2", "pforge-pr-3"} {
		srv.AddApp(n, "pangeo-forge-api-flow", "review")
	}

	pl, err := c.Pipeline(ctx, "pangeo-forge-api-flow")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := c.Couplings(ctx, pl.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 5 {
		t.Errorf("got %d couplings across pages, want 5", len(cs))
	}
	stg, err := c.AppAtStage(ctx, pl.ID, "staging")
	if err != nil {
		t.Fatal(err)
	}
	if stg.Name != "pangeo-forge-staging" || !strings.HasPrefix(stg.WebURL, "https://pangeo-forge-staging-") {
		t.Errorf("staging app = %+v", stg)
	}
	if _, err := c.AppAtStage(ctx, pl.ID, "development"); !errors.Is(err, heroku.ErrNoApp) {
		t.Errorf("development stage: error %v, want ErrNoApp", err)
	}

	val := "postgres://made-up"
	if err := c.UpdateConfigVars(ctx, stg.ID, map[string]*string{"PANGEO_FORGE_DEPLOYMENT": new("pangeo-forge-staging"), "DB": &val}); err != nil {
		t.Fatal(err)
	}
	vars, err := c.ConfigVars(ctx, stg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if vars["DB"] != val || vars["PANGEO_FORGE_DEPLOYMENT"] != "pangeo-forge-staging" {
		t.Errorf("config vars after update: names %v", keys(vars))
	}

	src, sum := upload(t, ctx, c)
	commit := "0123456789abcdef0123456789abcdef01234567"
	b, err := c.CreateBuild(ctx, stg.ID, heroku.BuildCreate{SourceURL: src.GetURL, Checksum: sum, Version: commit})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	b, err = c.WaitBuild(ctx, stg.ID, b.ID, &log)
	if err != nil {
		t.Fatalf("%v\nbuild output:\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "Launching") {
		t.Errorf("build output was not streamed: %q", log.String())
	}
	log.Reset()
	rel, err := c.WaitRelease(ctx, stg.ID, b.ReleaseID, &log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "Running release command") {
		t.Errorf("release phase output was not streamed: %q", log.String())
	}
	cur, err := c.CurrentRelease(ctx, stg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cur.ID != rel.ID {
		t.Errorf("current release %s (v%d), want the build's %s (v%d)", cur.ID, cur.Version, rel.ID, rel.Version)
	}
	slug, err := c.Slug(ctx, stg.ID, cur.SlugID)
	if err != nil {
		t.Fatal(err)
	}
	if slug.Commit != commit {
		t.Errorf("slug commit %q, want %q", slug.Commit, commit)
	}

	prod, err := c.AppAtStage(ctx, pl.ID, "production")
	if err != nil {
		t.Fatal(err)
	}
	_, before, err := c.CurrentAndNewestRelease(ctx, prod.ID)
	if err != nil && !errors.Is(err, heroku.ErrNoRelease) {
		t.Fatal(err)
	}
	pr, err := c.Promote(ctx, pl.ID, stg.ID, cur.ID, []string{prod.ID})
	if err != nil {
		t.Fatal(err)
	}
	promoted, err := c.WaitPromotion(ctx, pr.ID, heroku.PromotedRelease{App: prod.ID, CodeID: cur.SlugID, After: before}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if promoted.Version <= before || promoted.SlugID != cur.SlugID || promoted.Status != "succeeded" {
		t.Fatalf("promoted release = %+v, want a succeeded release above v%d of slug %s", promoted, before, cur.SlugID)
	}
	prodCur, err := c.CurrentRelease(ctx, prod.ID)
	if err != nil {
		t.Fatal(err)
	}
	if prodCur.SlugID != cur.SlugID {
		t.Errorf("production runs slug %s, want staging's %s", prodCur.SlugID, cur.SlugID)
	}

	rs, err := c.Releases(ctx, stg.ID, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || rs[0].Version <= rs[1].Version {
		t.Errorf("Releases not newest first: %+v", rs)
	}
	// Only releases with code can be rolled back to: the newest is the build's.
	back, err := c.Rollback(ctx, stg.ID, rs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if back.Version <= rs[0].Version {
		t.Errorf("rollback made v%d, want a new version above v%d", back.Version, rs[0].Version)
	}
}

func TestFakeFailedBuild(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, c := startFake(t, herokuapi.Options{})
	srv.AddPipeline("pipe-a")
	app := srv.AddApp("pangeo-forge-staging", "pipe-a", "staging")
	srv.FailBuilds("pangeo-forge-staging", "Could not find a version that satisfies the requirement fastapi==99")
	src, sum := upload(t, ctx, c)
	b, err := c.CreateBuild(ctx, app.ID, heroku.BuildCreate{SourceURL: src.GetURL, Checksum: sum, Version: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	_, err = c.WaitBuild(ctx, app.ID, b.ID, &log)
	var fe *heroku.FailedError
	if !errors.As(err, &fe) || fe.What != "build" || fe.Status != "failed" {
		t.Fatalf("error %v, want a failed-build FailedError", err)
	}
	if !strings.Contains(log.String(), "fastapi==99") {
		t.Errorf("the build output with the reason was not streamed: %q", log.String())
	}
}

func TestFakeReviewApp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, c := startFake(t, herokuapi.Options{})
	pipe := srv.AddPipeline("pipe-a")
	if _, err := c.ReviewAppConfig(ctx, pipe.ID); err == nil || !strings.Contains(err.Error(), "enable review apps") {
		t.Fatalf("review apps not enabled: error %v", err)
	}
	srv.EnableReviewApps("pipe-a", "pangeo-forge/pangeo-forge-orchestrator")
	if _, err := c.ReviewAppConfig(ctx, pipe.ID); err != nil {
		t.Fatal(err)
	}
	src, sum := upload(t, ctx, c)
	in := heroku.ReviewAppCreate{PipelineID: pipe.ID, Branch: "feature", PRNumber: 80, SourceURL: src.GetURL, Checksum: sum, Version: "abc",
		Environment: map[string]string{"PANGEO_FORGE_DEPLOYMENT": "pforge-pr-80"}}
	ra, err := c.CreateReviewApp(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	ra, err = c.WaitReviewApp(ctx, ra.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ra.AppID == "" || ra.PRNumber != 80 {
		t.Errorf("review app = %+v", ra)
	}
	vars, err := c.ConfigVars(ctx, ra.AppID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("pforge-pr-80", vars["PANGEO_FORGE_DEPLOYMENT"]); diff != "" {
		t.Errorf("review app environment (-want +got):\n%s", diff)
	}
	// A second run for the same PR gets the same review app back.
	again, err := c.CreateReviewApp(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != ra.ID {
		t.Errorf("second create returned %s, want the existing %s", again.ID, ra.ID)
	}
	list, err := c.ReviewApps(ctx, pipe.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Errorf("review apps = %+v", list)
	}
	if err := c.DeleteReviewApp(ctx, ra.ID); err != nil {
		t.Fatal(err)
	}
}

func TestFakeRateLimitRetried(t *testing.T) {
	t.Parallel()
	srv, c := startFake(t, herokuapi.Options{})
	srv.AddPipeline("pipe-a")
	srv.FailNext(2, 429)
	if _, err := c.Pipeline(context.Background(), "pipe-a"); err != nil {
		t.Fatalf("after two 429s: %v", err)
	}
	srv.FailNext(1, 503)
	if _, err := c.Pipeline(context.Background(), "pipe-a"); err != nil {
		t.Fatalf("after a 503: %v", err)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestAcceptVariants checks the Accept header of every request of a review app's and a test run's
// life: the variants the Heroku CLI sends on those endpoints, plain version 3 elsewhere.
func TestAcceptVariants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, c := startFake(t, herokuapi.Options{})
	pipe := srv.AddPipeline("pipe-a")
	srv.EnableReviewApps("pipe-a", "o/r")
	srv.EnableCI("pipe-a")
	if _, err := c.ReviewAppConfig(ctx, pipe.ID); err != nil {
		t.Fatal(err)
	}
	src, sum := upload(t, ctx, c)
	ra, err := c.CreateReviewApp(ctx, heroku.ReviewAppCreate{PipelineID: pipe.ID, Branch: "feature", PRNumber: 7, SourceURL: src.GetURL, Checksum: sum, Version: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitReviewApp(ctx, ra.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReviewApps(ctx, pipe.ID); err != nil {
		t.Fatal(err)
	}
	ci := ciSource(t, ctx, c)
	run, err := c.CreateTestRun(ctx, heroku.TestRunCreate{PipelineID: pipe.ID, Branch: "main", CommitSHA: "abc", CommitMessage: "m", SourceURL: ci.GetURL})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.WaitTestRun(ctx, run.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteReviewApp(ctx, ra.ID); err != nil {
		t.Fatal(err)
	}

	const v3 = "application/vnd.heroku+json; version=3"
	want := func(path string) string {
		switch {
		case strings.HasPrefix(path, "/review-apps"), strings.Contains(path, "/review-app"):
			return v3 + ".review-apps"
		case strings.HasPrefix(path, "/test-runs"):
			return v3 + ".ci"
		}
		return v3
	}
	seen := map[string]bool{}
	for _, r := range srv.Requests() {
		if strings.HasPrefix(r.Path, "/blobs/") || strings.HasPrefix(r.Path, "/streams/") {
			continue
		}
		path, _, _ := strings.Cut(r.Path, "?")
		if got := r.Header.Get("Accept"); got != want(path) {
			t.Errorf("%s %s: Accept %q, want %q", r.Method, path, got, want(path))
		}
		seen[want(path)] = true
	}
	if len(seen) != 3 {
		t.Errorf("the requests used the Accept values %v, want all three", seen)
	}
}

// TestListsAskForAThousand: a list asks Heroku for its largest page (max=1000; 200 is only the
// default), so 250 couplings take one request, not two.
func TestListsAskForAThousand(t *testing.T) {
	t.Parallel()
	srv, c := startFake(t, herokuapi.Options{})
	pl := srv.AddPipeline("big")
	srv.AddApp("big-staging", "big", "staging")
	for i := range 249 {
		srv.AddApp(fmt.Sprintf("big-pr-%d", i), "big", "review")
	}
	if _, err := c.AppIDAtStage(context.Background(), pl.ID, "staging"); err != nil {
		t.Fatal(err)
	}
	var ranges []string
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Path, "/pipeline-couplings") {
			ranges = append(ranges, r.Header.Get("Range"))
		}
	}
	if diff := cmp.Diff([]string{"id ..; max=1000"}, ranges); diff != "" {
		t.Errorf("couplings requests' Range (-want +got):\n%s", diff)
	}
}

// TestSecondFactorRequired: when Heroku asks a second factor (403 two_factor), the error says so
// and names what to use instead, rather than a bare 403.
func TestSecondFactorRequired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, c := startFake(t, herokuapi.Options{})
	srv.AddPipeline("flow")
	stg := srv.AddApp("stg", "flow", "staging")
	srv.RequireSecondFactor("stg")
	if _, err := c.ConfigVars(ctx, stg.ID); err != nil {
		t.Fatalf("a read needs no second factor: %v", err)
	}
	err := c.UpdateConfigVars(ctx, stg.ID, map[string]*string{"A": nil})
	var ae *heroku.APIError
	if !errors.As(err, &ae) || ae.Status != 403 || ae.ID != "two_factor" {
		t.Fatalf("UpdateConfigVars error = %v, want a 403 two_factor *APIError", err)
	}
	for _, want := range []string{"second authentication factor", "heroku authorizations:create", "heroku_api_key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
