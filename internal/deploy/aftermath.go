package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
)

// stoppedGrace bounds the Heroku requests a stopped run still makes (the rollback request, the
// read of what the app runs): the runner kills the process seconds after its SIGINT, and
// internal/cli needs the rest to conclude the check run.
const stoppedGrace = 2 * time.Second

// target is the app a deploy writes to and what it ran before the run's first write to it. After a
// failure the run says what the app runs now, measured against it (docs/faults.md, the table).
type target struct {
	app    heroku.App
	who    string         // "staging (pangeo-forge-api-staging)"
	before heroku.Release // zero when the app had never released
	commit string         // the commit before's code was built from, "" when unknown
	// rollbackFailed, when set, says how the rollback failed; what the app runs is read after it.
	rollbackFailed string
	// out, when set, takes the rollback's release output instead of the log: one of several apps
	// deployed at once keeps its output apart, printed as a group of its own once it is done.
	out io.Writer
	// rollback says what became of the rollback after a failure: "rolled back", "rollback
	// requested" (not confirmed), "" when none was made.
	rollback string
}

// aim records the app the run is about to write to and what it runs before the first write.
func (r *Runner) aim(p plan.Plan, app heroku.App, before heroku.Release, commit string) {
	r.target = newTarget(p, app, before, commit)
}

// newTarget is the target of aim, for a caller that deploys several apps at once and keeps one
// target per app.
func newTarget(p plan.Plan, app heroku.App, before heroku.Release, commit string) *target {
	label := map[plan.Stage]string{plan.StageReview: "the review app", plan.StageStaging: "staging", plan.StageProd: "production"}[p.Stage]
	if label == "" {
		label = string(p.Stage)
	}
	return &target{app: app, who: fmt.Sprintf("%s (%s)", label, app.Name), before: before, commit: commit}
}

// stoppedContext is ctx, or when ctx is done (the run was cancelled or ran past its timeout) a fresh
// context of stoppedGrace for the last requests.
func stoppedContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Err() == nil {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(context.WithoutCancel(ctx), stoppedGrace)
}

// sayWhatRuns sets res.Running after a failed deploy, unless the rollback already did: what the
// app the run wrote to runs now, read from Heroku, in words a user can act on. It is logged too.
func (r *Runner) sayWhatRuns(ctx context.Context, p plan.Plan, res *Result) {
	t := r.target
	if t == nil || res.Running != "" {
		return
	}
	res.Running = r.whatRuns(ctx, t, p, res)
	r.Log.Noticef("After this run: %s", res.Running)
}

// whatRuns reads what t's app runs now and says it, measured against what it ran before the run
// (res is the app's own result).
func (r *Runner) whatRuns(ctx context.Context, t *target, p plan.Plan, res *Result) string {
	rctx, cancel := stoppedContext(ctx)
	defer cancel()
	now, err := r.Heroku.CurrentRelease(rctx, t.app.ID)
	var s string
	switch {
	case errors.Is(err, heroku.ErrNoRelease):
		s = fmt.Sprintf("%s has no release yet", t.who)
	case err != nil:
		s = fmt.Sprintf("could not read what %s runs now (%v): see heroku releases --app %s", t.who, err, t.app.Name)
	default:
		s = describeRunning(t, now, p, res)
	}
	if t.rollbackFailed != "" {
		s = t.rollbackFailed + ": " + s
	}
	return s
}

// describeRunning says what t's app runs, now its current release, compared with what it ran
// before the run.
func describeRunning(t *target, now heroku.Release, p plan.Plan, res *Result) string {
	before := t.before
	of := func(commit string) string {
		if commit == "" {
			return ""
		}
		return ", " + short(commit)
	}
	varsChanged := len(res.VarsSet)+len(res.VarsUnset) > 0
	switch {
	case before.ID == "":
		if now.Version == res.Release {
			return fmt.Sprintf("%s runs v%d (%s), made by this run", t.who, now.Version, short(p.Commit))
		}
		return fmt.Sprintf("%s runs v%d", t.who, now.Version)
	case now.ID == before.ID:
		if t.commit != "" && t.commit == p.Commit {
			return fmt.Sprintf("%s still runs v%d (%s), deployed by the previous run", t.who, now.Version, short(t.commit))
		}
		return fmt.Sprintf("%s still runs v%d%s, the release it ran before this run", t.who, now.Version, of(t.commit))
	case now.CodeID() == before.CodeID() && varsChanged:
		return fmt.Sprintf("%s runs v%d (the previous code%s) with the new config vars set in v%d", t.who, before.Version, of(t.commit), now.Version)
	case now.CodeID() == before.CodeID():
		return fmt.Sprintf("%s runs v%d, with the code of v%d (the release it ran before this run%s)", t.who, now.Version, before.Version, of(t.commit))
	case now.Version == res.Release:
		return fmt.Sprintf("%s runs v%d (%s), made by this run", t.who, now.Version, short(res.Commit))
	}
	return fmt.Sprintf("%s runs v%d, a release made after this run started (not by it)", t.who, now.Version)
}

// rollbackAfter rolls production back to the release it ran before the run (previous), when the
// rollback input is on, after the new release failed (cause), and says what production runs now.
// A run that was stopped (cancelled, or past timeout) has seconds left: the rollback is requested
// and reported as requested, not confirmed. Otherwise the run waits for the rollback's release:
// timeout_reserve keeps the time for it (WorkContext).
func (r *Runner) rollbackAfter(ctx context.Context, app heroku.App, previous heroku.Release, res *Result, cause error) error {
	return r.rollbackTargetAfter(ctx, r.target, app, previous, res, cause)
}

// rollbackTargetAfter is rollbackAfter for the app of t (nil: the app by its name), one of several
// apps of a stage being deployed at once.
func (r *Runner) rollbackTargetAfter(ctx context.Context, t *target, app heroku.App, previous heroku.Release, res *Result, cause error) error {
	who := app.Name
	if t != nil {
		who = t.who
	}
	switch {
	case !r.Config.Rollback:
		return cause
	case previous.ID == "" || previous.CodeID() == "":
		return fmt.Errorf("%w; not rolled back: %s ran no code before this release", cause, app.Name)
	}
	stopped := ctx.Err() != nil
	rctx, cancel := stoppedContext(ctx)
	defer cancel()
	rel, err := r.Heroku.Rollback(rctx, app.ID, previous.ID)
	if err == nil && !stopped {
		// The rollback is a release like any other: it counts once it has run.
		title := fmt.Sprintf("Rollback of %s to v%d", app.Name, previous.Version)
		out, end := io.Writer(nil), func() {}
		if t != nil && t.out != nil {
			out = t.out
			fmt.Fprintf(out, "%s\n", title)
		} else {
			out, end = r.output(), r.Log.Group(title)
		}
		var done heroku.Release
		done, err = r.Heroku.WaitRelease(ctx, app.ID, rel.ID, out)
		end()
		if err == nil {
			rel = done
		} else if ctx.Err() != nil {
			stopped, err = true, nil // requested, and the run ran out of time confirming it
		}
	}
	switch {
	case err != nil:
		failed := fmt.Sprintf("the rollback to v%d failed (%v)", previous.Version, err)
		if t != nil {
			t.rollbackFailed = failed
		}
		r.Log.Warningf("%s", failed)
		return fmt.Errorf("%w; %s", cause, failed)
	case stopped:
		if t != nil {
			t.rollback = "rollback requested"
		}
		res.Running = fmt.Sprintf("%s: rollback to v%d requested (release v%d), not confirmed: the run was stopped before Heroku finished it; check with heroku releases --app %s", who, previous.Version, rel.Version, app.Name)
		r.Log.Warningf("%s", res.Running)
		return fmt.Errorf("%w; rollback to v%d requested (release v%d), not confirmed", cause, previous.Version, rel.Version)
	}
	if t != nil {
		t.rollback = "rolled back"
	}
	res.Running = fmt.Sprintf("%s runs v%d again (rolled back as v%d)", who, previous.Version, rel.Version)
	r.Log.Warningf("Rolled back: %s", res.Running)
	return fmt.Errorf("%w; rolled back: %s", cause, res.Running)
}
