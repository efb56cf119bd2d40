package deploy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
)

// supersededError ends a run whose commit is no longer the head of its pull request or branch: a
// newer push has its own run, which deploys the newer commit. Run reports it as a skip.
type supersededError struct {
	notice string
	head   string // the newer commit
}

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
	if p.Approval != nil {
		// Nothing deploys the newer commit by itself: it has not been reviewed.
		return &supersededError{notice: fmt.Sprintf("superseded: %s is no longer the head of %s (a newer push, %s, exists), and a new push needs a new approval: review %s and comment %s %s", short(p.Commit), of, short(head), short(head), plan.Command, head), head: head}
	}
	return &supersededError{notice: fmt.Sprintf("superseded: %s is no longer the head of %s (a newer push, %s, exists); the run of %s deploys that one", short(p.Commit), of, short(head), short(head)), head: head}
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

func (g *headGuard) ReleaseSlug(ctx context.Context, app, slugID, description string) (heroku.Release, error) {
	if err := g.before(ctx); err != nil {
		return heroku.Release{}, err
	}
	return g.Heroku.ReleaseSlug(ctx, app, slugID, description)
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

// headBeforeBuild starts the check that a review run's commit is still the head of its pull
// request, for the moment before the run's first write to the app (config vars, the build, the
// review app or app setup): without a concurrency group, a push while a run is under way starts a
// second run, and the older one must not build over it. The GitHub read goes out at once, beside
// the Heroku requests that precede the write; the returned func waits for it and returns a
// *supersededError when the run is superseded. Staging and prod have their own check before the
// first write (staleSkip).
func (r *Runner) headBeforeBuild(ctx context.Context, p plan.Plan) func() error {
	if p.Stage != plan.StageReview {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	go func() { done <- r.headNow(ctx, p) }()
	return func() error { return <-done }
}

// settleCheck is what finish checks once the run's release has passed: that the commit is still
// the head (else the run ends superseded), and, when the run knows the release its build made
// (ours), that the app still runs that release's code.
type settleCheck struct {
	p     plan.Plan
	appID string
	ours  heroku.Release // zero when the run does not know it (a review app's creation): head check only
	early *settleReads   // the reads, when they went out beside the release's confirming read
}

// settleReads are the reads of a settleCheck made while the release is awaited.
type settleReads struct {
	done       chan struct{}
	headErr    error
	current    heroku.Release
	currentErr error
}

func (s *settleReads) wait() (headErr error, current heroku.Release, currentErr error) {
	<-s.done
	return s.headErr, s.current, s.currentErr
}

// newSettle is the check after the release of a build on appID, made before the release is
// awaited so that its reads can go out with the read that finds the release done; nil where no
// check follows (prod).
func (r *Runner) newSettle(p plan.Plan, appID string) *settleCheck {
	if p.Stage != plan.StageReview && p.Stage != plan.StageStaging {
		return nil
	}
	return &settleCheck{p: p, appID: appID}
}

// start returns the hook for heroku's WaitReleaseSettling: each call sends the head and current
// release reads again, and the last call's are kept (the earlier ones may predate the release's
// end). Nil for a nil check.
func (c *settleCheck) start(ctx context.Context, r *Runner) func() {
	if c == nil {
		return nil
	}
	return func() {
		reads := &settleReads{done: make(chan struct{})}
		c.early = reads
		go func() {
			defer close(reads.done)
			var wg sync.WaitGroup
			wg.Go(func() { reads.headErr = r.headNow(ctx, c.p) })
			wg.Go(func() { reads.current, reads.currentErr = r.Heroku.CurrentRelease(ctx, c.appID) })
			wg.Wait()
		}()
	}
}

// settleWith hands finish check, now that the release it follows (ours) is known.
func (r *Runner) settleWith(c *settleCheck, ours heroku.Release) {
	if c == nil {
		return
	}
	c.ours = ours
	r.settleMu.Lock()
	defer r.settleMu.Unlock()
	r.settle = c
}

// settleAfter asks finish for the checks after the release of a review or staging run on appID.
// Prod is left out: a promotion's release is the staging slug, and a failed prod check rolls back.
func (r *Runner) settleAfter(p plan.Plan, appID string, ours heroku.Release) {
	if p.Stage != plan.StageReview && p.Stage != plan.StageStaging {
		return
	}
	r.settleMu.Lock()
	defer r.settleMu.Unlock()
	r.settle = &settleCheck{p: p, appID: appID, ours: ours}
}

// takeSettle hands finish the check pending for appID, if any.
// Several apps of a stage finish at once (multiapp.go): another app's finish leaves it alone.
func (r *Runner) takeSettle(appID string) *settleCheck {
	r.settleMu.Lock()
	defer r.settleMu.Unlock()
	c := r.settle
	if c == nil || c.appID != appID {
		return nil
	}
	r.settle = nil
	return c
}

// settled acts on the checks after the release. The head (headErr) and the app's current release
// (current, currentErr) were read at once, beside finish's own reads.
//
// A run whose commit is no longer the head ends superseded: its release stays (it is not rolled
// back: the newer run's release follows it, or has already been made and is put back below, by the
// newer run). A run that is still the head makes sure the app runs its release: when another
// release of other code became current after it (an older run's build that finished later), it
// releases its slug again and says so.
func (r *Runner) settled(ctx context.Context, app heroku.App, c *settleCheck, headErr error, current heroku.Release, currentErr error, res *Result) error {
	if s := (*supersededError)(nil); errors.As(headErr, &s) {
		return &supersededError{notice: fmt.Sprintf("%s; this run's release v%d of %s stays on %s until then (an older commit's release is not rolled back)", s.notice, res.Release, short(c.p.Commit), app.Name), head: s.head}
	} else if headErr != nil {
		// The release is made and passed; a failed read cannot undo it.
		r.Log.Warningf("%v; the release v%d of %s on %s stands", headErr, res.Release, short(c.p.Commit), app.Name)
	}
	if c.ours.CodeID() == "" {
		return nil
	}
	if currentErr != nil {
		r.Log.Warningf("could not check that %s still runs this run's release v%d: %v", app.Name, res.Release, currentErr)
		return nil
	}
	if current.CodeID() == c.ours.CodeID() || current.Version < res.Release {
		return nil // ours, or a config change on top of it
	}
	note := fmt.Sprintf("%s ran v%d, a release of other code made after this run's v%d (an older push whose build finished later): released %s again", app.Name, current.Version, res.Release, short(c.p.Commit))
	r.Log.Noticef("%s", note)
	return r.phase(res, "release again", func() error {
		rel, err := r.releaseAgain(ctx, app, c.ours, fmt.Sprintf("Deploy %s again (deploy-action: an older run's v%d landed after v%d)", short(c.p.Commit), current.Version, res.Release))
		if err != nil {
			return fmt.Errorf("%s: %w", note, err)
		}
		if _, err := r.waitRelease(ctx, app, rel.ID, res); err != nil {
			return err
		}
		res.Notes = append(res.Notes, fmt.Sprintf("%s as v%d", note, res.Release))
		return nil
	})
}

// releaseAgain makes a new release of ours's code on app. A slug (Cedar) is released with the
// app's current config vars (the "Create" link of POST /apps/{app}/releases). A Fir release has no
// slug, and that link requires one (heroku-go v6.1.0's schema.json: "required": ["slug"], with
// oci_image beside it optional), so a Fir release is made again by the "Rollback" link to ours,
// which brings back ours's config vars too: those this run set before its build.
func (r *Runner) releaseAgain(ctx context.Context, app heroku.App, ours heroku.Release, description string) (heroku.Release, error) {
	if ours.SlugID != "" {
		return r.Heroku.ReleaseSlug(ctx, app.ID, ours.SlugID, description)
	}
	return r.Heroku.Rollback(ctx, app.ID, ours.ID)
}
