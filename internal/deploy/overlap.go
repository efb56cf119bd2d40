package deploy

import (
	"context"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
	"github.com/pangeo-forge/deploy-action/internal/source"
)

// What the user waits for is the longest chain of round trips in a row (docs/performance.md,
// section 1). Work that needs nothing from the chain starts at once, beside it: the stale-deploy
// guard's GitHub read beside the Heroku reads, the upload beside the pipeline's, the domains the
// summary reports while Heroku builds. Each check still stops the run before the write it guards:
// every write to Heroku waits for the guard's answer (writeGate), and a build takes the upload only
// once it is complete.

// pending is the answer of something started beside the run's chain.
type pending struct {
	done chan struct{}
	err  error
}

// start runs f beside the caller; wait and result give its answer.
func start(f func() error) *pending {
	p := &pending{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = f()
	}()
	return p
}

// wait is f's answer, or ctx's error when ctx ends first.
func (p *pending) wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// result is f's answer once f has returned (f itself ends when the run's context does).
func (p *pending) result() error {
	<-p.done
	return p.err
}

// startGuard starts the stale-deploy guard (staleSkip) beside the run: its answer is an error, a
// *supersededError when the commit is no longer its branch's head (Run reports it as a skip), or
// nil when the run may write.
func (r *Runner) startGuard(ctx context.Context, p plan.Plan) *pending {
	return start(func() error {
		notice, err := r.staleSkip(ctx, p)
		if err != nil {
			return err
		}
		if notice != "" {
			return &supersededError{notice: notice}
		}
		return nil
	})
}

// writeGate holds every write to Heroku that changes an app until the guard has answered, and
// refuses it when the guard said no. Reads and the source upload (which changes no app) pass at
// once: that is what overlaps the guard.
type writeGate struct {
	Heroku
	guard *pending
}

// gateWrites puts the gate in front of r.Heroku until the returned function is called.
func (r *Runner) gateWrites(guard *pending) (restore func()) {
	orig := r.Heroku
	g := &writeGate{Heroku: orig, guard: guard}
	r.Heroku = g
	if ci, ok := orig.(HerokuCI); ok {
		// Keep what the client can do beyond Heroku; deploy waits for the guard before a test run.
		r.Heroku = struct {
			*writeGate
			HerokuCI
		}{g, ci}
	}
	return func() { r.Heroku = orig }
}

func (g *writeGate) UpdateConfigVars(ctx context.Context, app string, changes map[string]*string) error {
	if err := g.guard.wait(ctx); err != nil {
		return err
	}
	return g.Heroku.UpdateConfigVars(ctx, app, changes)
}

func (g *writeGate) SetMaintenance(ctx context.Context, app string, on bool) (heroku.App, error) {
	if err := g.guard.wait(ctx); err != nil {
		return heroku.App{}, err
	}
	return g.Heroku.SetMaintenance(ctx, app, on)
}

func (g *writeGate) CreateBuild(ctx context.Context, app string, b heroku.BuildCreate) (heroku.Build, error) {
	if err := g.guard.wait(ctx); err != nil {
		return heroku.Build{}, err
	}
	return g.Heroku.CreateBuild(ctx, app, b)
}

func (g *writeGate) CreateReviewApp(ctx context.Context, ra heroku.ReviewAppCreate) (heroku.ReviewApp, error) {
	if err := g.guard.wait(ctx); err != nil {
		return heroku.ReviewApp{}, err
	}
	return g.Heroku.CreateReviewApp(ctx, ra)
}

func (g *writeGate) DeleteReviewApp(ctx context.Context, id string) error {
	if err := g.guard.wait(ctx); err != nil {
		return err
	}
	return g.Heroku.DeleteReviewApp(ctx, id)
}

func (g *writeGate) Promote(ctx context.Context, pipelineID, sourceAppID, sourceReleaseID string, targetAppIDs []string) (heroku.Promotion, error) {
	if err := g.guard.wait(ctx); err != nil {
		return heroku.Promotion{}, err
	}
	return g.Heroku.Promote(ctx, pipelineID, sourceAppID, sourceReleaseID, targetAppIDs)
}

func (g *writeGate) Rollback(ctx context.Context, app, releaseID string) (heroku.Release, error) {
	if err := g.guard.wait(ctx); err != nil {
		return heroku.Release{}, err
	}
	return g.Heroku.Rollback(ctx, app, releaseID)
}

func (g *writeGate) CreateAppSetup(ctx context.Context, s heroku.AppSetupCreate) (heroku.AppSetup, error) {
	if err := g.guard.wait(ctx); err != nil {
		return heroku.AppSetup{}, err
	}
	return g.Heroku.CreateAppSetup(ctx, s)
}

func (g *writeGate) CreateCoupling(ctx context.Context, pipelineID, app, stage string) (heroku.Coupling, error) {
	if err := g.guard.wait(ctx); err != nil {
		return heroku.Coupling{}, err
	}
	return g.Heroku.CreateCoupling(ctx, pipelineID, app, stage)
}

func (g *writeGate) DeleteApp(ctx context.Context, nameOrID string) error {
	if err := g.guard.wait(ctx); err != nil {
		return err
	}
	return g.Heroku.DeleteApp(ctx, nameOrID)
}

// earlyUpload is the source packed and uploaded beside the run's first reads; upload takes it.
type earlyUpload struct {
	*pending
	cancel   context.CancelFunc
	archive  *source.Archive
	src      heroku.Source
	duration time.Duration
}

// startUpload packs and uploads the source beside the run (POST /sources and the PUT need nothing
// from the pipeline). Nothing is logged or timed as a phase here: upload does both when the build
// takes the source, in the run's order.
func (r *Runner) startUpload(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	u := &earlyUpload{cancel: cancel}
	hk := r.Heroku // the client as it is now: the run swaps its wrappers on its own goroutine
	u.pending = start(func() error {
		began := r.now()
		var err error
		u.archive, u.src, err = r.packAndUpload(ctx, hk)
		u.duration = r.now().Sub(began)
		return err
	})
	r.early = u
}

// dropEarly stops an early upload nobody took (the run stopped before its build, or built nothing)
// and removes its archive.
func (r *Runner) dropEarly() {
	u := r.early
	if u == nil {
		return
	}
	r.early = nil
	u.cancel()
	if u.result() == nil {
		u.archive.Remove()
	}
}

// aheadDomains is the read of an app's domains made while Heroku works, for the summary.
type aheadDomains struct {
	*pending
	appID   string
	domains []heroku.Domain
}

// readDomainsAhead reads the app's domains beside the run (while Heroku builds or promotes);
// finish uses them instead of reading them after Heroku's work.
func (r *Runner) readDomainsAhead(ctx context.Context, appID string) {
	a := &aheadDomains{appID: appID}
	hk := r.Heroku
	a.pending = start(func() (err error) {
		a.domains, err = hk.Domains(ctx, appID)
		return err
	})
	r.ahead.Store(a)
}

// takeDomains gives the domains read ahead for appID, if any (ok is false when none were).
func (r *Runner) takeDomains(ctx context.Context, appID string) (domains []heroku.Domain, err error, ok bool) {
	a := r.ahead.Swap(nil)
	if a == nil || a.appID != appID {
		return nil, nil, false
	}
	err = a.wait(ctx)
	return a.domains, err, true
}
