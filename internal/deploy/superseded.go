package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
)

// supersededError ends a run whose commit is no longer the head of its pull request or branch: a
// newer push has its own run, which deploys the newer commit. Run reports it as a skip.
type supersededError struct{ notice string }

func (e *supersededError) Error() string { return e.notice }

// headNow checks that the plan's commit is still the head of its pull request (review) or branch
// (a push to staging or prod; manual runs deploy what they are told), and returns a
// *supersededError when it is not.
func (r *Runner) headNow(ctx context.Context, p plan.Plan) error {
	if r.GitHub == nil || p.Commit == "" || p.Manual {
		return nil
	}
	var head, of string
	var err error
	switch {
	case p.Stage == plan.StageReview && p.PR != 0:
		of = fmt.Sprintf("pull request #%d", p.PR)
		head, err = r.GitHub.PullRequestHead(ctx, p.PR)
	case (p.Stage == plan.StageStaging || p.Stage == plan.StageProd) && p.Branch != "":
		of = "branch " + p.Branch
		head, err = r.GitHub.BranchHead(ctx, p.Branch)
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("could not check that %s is still the head of %s, which keeps an older push from overwriting a newer one: %w", short(p.Commit), of, err)
	}
	if head == p.Commit {
		return nil
	}
	return &supersededError{fmt.Sprintf("superseded: %s is no longer the head of %s (a newer push, %s, exists); the run of %s deploys that one", short(p.Commit), of, short(head), short(head))}
}

// headGuard checks the head again before each write to Heroku when requests have waited for the
// account's rate limit since the last check: a wait can last minutes, long enough for a newer
// push to arrive.
type headGuard struct {
	Heroku
	r       *Runner
	p       plan.Plan
	checked time.Duration // RateLimitWaited at the last check
}

func (g *headGuard) before(ctx context.Context) error {
	waited := g.r.RateLimitWaited()
	if waited == g.checked {
		return nil
	}
	g.checked = waited
	return g.r.headNow(ctx, g.p)
}

func (g *headGuard) UpdateConfigVars(ctx context.Context, app string, changes map[string]*string) error {
	if err := g.before(ctx); err != nil {
		return err
	}
	return g.Heroku.UpdateConfigVars(ctx, app, changes)
}

func (g *headGuard) CreateBuild(ctx context.Context, app string, b heroku.BuildCreate) (heroku.Build, error) {
	if err := g.before(ctx); err != nil {
		return heroku.Build{}, err
	}
	return g.Heroku.CreateBuild(ctx, app, b)
}

func (g *headGuard) CreateReviewApp(ctx context.Context, ra heroku.ReviewAppCreate) (heroku.ReviewApp, error) {
	if err := g.before(ctx); err != nil {
		return heroku.ReviewApp{}, err
	}
	return g.Heroku.CreateReviewApp(ctx, ra)
}

func (g *headGuard) Promote(ctx context.Context, pipelineID, sourceAppID, sourceReleaseID string, targetAppIDs []string) (heroku.Promotion, error) {
	if err := g.before(ctx); err != nil {
		return heroku.Promotion{}, err
	}
	return g.Heroku.Promote(ctx, pipelineID, sourceAppID, sourceReleaseID, targetAppIDs)
}

func (g *headGuard) CreateAppSetup(ctx context.Context, s heroku.AppSetupCreate) (heroku.AppSetup, error) {
	if err := g.before(ctx); err != nil {
		return heroku.AppSetup{}, err
	}
	return g.Heroku.CreateAppSetup(ctx, s)
}

// guarded runs a deploy with the head guard around the Heroku client, and reports a superseded
// run as a skip (neutral check run, exit 0).
func (r *Runner) guarded(ctx context.Context, p plan.Plan, res *Result, deploy func() error) error {
	if r.RateLimitWaited != nil {
		orig := r.Heroku
		g := &headGuard{Heroku: orig, r: r, p: p, checked: r.RateLimitWaited()}
		r.Heroku = g
		if ci, ok := orig.(HerokuCI); ok {
			// Keep what the client can do beyond Heroku: a test run starts no deploy write.
			r.Heroku = struct {
				*headGuard
				HerokuCI
			}{g, ci}
		}
		defer func() { r.Heroku = orig }()
	}
	err := deploy()
	if s := (*supersededError)(nil); errors.As(err, &s) {
		return r.skip(res, s.notice)
	}
	return err
}
