package deploy

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
	"golang.org/x/sync/errgroup"
)

// rollbackHistory is how many of the app's newest releases a rollback looks through for the
// default target and for the release phases that ran since it. Heroku lists up to 1000 a page.
const rollbackHistory = 200

// rollbackPlan is what `stage: rollback` found out before it changes anything.
type rollbackPlan struct {
	app                        heroku.App
	current, target            heroku.Release
	targetSlug                 heroku.Slug
	added, removed, changed    []string // config var names a rollback to target changes
	releasePhases              []string // "v43: python -m alembic upgrade head", newest first: what ran since and is not undone
	targetReleasePhase         string   // the release command the rollback runs again, "" when none
	historyLimit, historyCount int
}

// rollbackStage rolls the pipeline's staging or production app back to an earlier release: the one
// given as rollback_to, or the newest earlier release that ran other code. A Heroku rollback is a new
// release with that release's slug and config vars; it runs the slug's release phase again.
func (r *Runner) rollbackStage(ctx context.Context, p plan.Plan, res *Result) error {
	apps, err := r.rollbackApps(ctx)
	if err != nil {
		return err
	}
	if len(apps) > 1 {
		return r.rollbackMany(ctx, p, apps, res)
	}
	rp, err := r.planRollback(ctx, apps[0])
	if err != nil {
		return err
	}
	res.App, res.Commit = rp.app.Name, rp.targetSlug.Commit
	r.describeRollback(rp, res)
	if rp.target.ID == rp.current.ID {
		res.Release = rp.current.Version
		res.Action = fmt.Sprintf("%s already runs v%d", rp.app.Name, rp.current.Version)
		res.AppURL = rp.app.WebURL
		return nil
	}
	if err := r.rollBack(ctx, rp, res, nil); err != nil {
		return err
	}
	r.Log.Noticef("Rolled %s back to v%d: it now runs %s as release v%d. The next push to %s deploys again.",
		rp.app.Name, rp.target.Version, orNone(short(rp.targetSlug.Commit)), res.Release, p.Branch)
	return r.finish(ctx, rp.app, res, false)
}

// rollBack makes the rollback rp plans and waits for its release, whose output goes to out (nil:
// the log, in a group).
func (r *Runner) rollBack(ctx context.Context, rp rollbackPlan, res *Result, out io.Writer) error {
	err := r.phase(res, "rollback", func() error {
		rel, err := r.Heroku.Rollback(ctx, rp.app.ID, rp.target.ID)
		if err != nil {
			return err
		}
		end := func() {}
		if out == nil {
			out, end = r.output(), r.Log.Group(fmt.Sprintf("Release on %s", rp.app.Name))
		}
		rel, err = r.Heroku.WaitRelease(ctx, rp.app.ID, rel.ID, out)
		end()
		res.Release = rel.Version
		if err != nil {
			return fmt.Errorf("the rollback of %s to v%d made v%d, which failed: %w; %s runs v%d as before", rp.app.Name, rp.target.Version, rel.Version, err, rp.app.Name, rp.current.Version)
		}
		return nil
	})
	if err != nil {
		return err
	}
	res.Action = fmt.Sprintf("rolled %s back to v%d (new release v%d)", rp.app.Name, rp.target.Version, res.Release)
	return nil
}

// rollbackApps is what rollback_app names: the app at the pipeline's staging stage; every app at
// its production stage (Heroku lets a stage hold several); or one production app by its name.
func (r *Runner) rollbackApps(ctx context.Context) ([]heroku.App, error) {
	pipeline, err := r.Heroku.Pipeline(ctx, r.Config.Pipeline)
	if err != nil {
		return nil, err
	}
	stage := map[string]string{"prod": "production", "staging": "staging"}[r.Config.RollbackApp]
	if stage == "" {
		stage = "production"
	}
	couplings, err := r.Heroku.AppIDsAtStage(ctx, pipeline.ID, stage)
	if err != nil {
		return nil, err
	}
	if named := r.Config.RollbackApp; named != "prod" && named != "staging" {
		app, err := r.Heroku.App(ctx, named)
		if err != nil {
			if isNotFound(err) {
				return nil, fmt.Errorf("input rollback_app: there is no app %q (or the Heroku API key cannot see it): name one of the pipeline's production apps, or use prod or staging", named)
			}
			return nil, err
		}
		if !slices.ContainsFunc(couplings, func(c heroku.Coupling) bool { return c.App.ID == app.ID }) {
			return nil, fmt.Errorf("input rollback_app: %s is not an app at the production stage of pipeline %s: name one of its production apps, or use prod or staging", app.Name, pipeline.Name)
		}
		return []heroku.App{app}, nil
	}
	if len(couplings) == 1 {
		app, err := r.Heroku.AppAtStage(ctx, pipeline.ID, stage)
		return []heroku.App{app}, err
	}
	if r.Config.RollbackTo != 0 {
		return nil, fmt.Errorf("input rollback_to: the %s stage of pipeline %s has %d apps, whose release numbers differ: leave rollback_to empty to roll each back to its newest earlier release that ran other code, or name one app in rollback_app", stage, pipeline.Name, len(couplings))
	}
	apps := make([]*stageApp, len(couplings))
	g, gctx := errgroup.WithContext(ctx)
	for i, c := range couplings {
		apps[i] = &stageApp{coupled: c}
		g.Go(func() (err error) {
			apps[i].app, err = r.Heroku.App(gctx, c.App.ID)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	orderApps(apps)
	out := make([]heroku.App, len(apps))
	for i, a := range apps {
		out[i] = a.app
	}
	return out, nil
}

// rollbackMany rolls every app of the production stage back at once, each to its own target
// (planRollback), and reports one row per app. Every app is planned before any is rolled back: an
// app that cannot be rolled back stops the run before any write.
func (r *Runner) rollbackMany(ctx context.Context, p plan.Plan, apps []heroku.App, res *Result) error {
	plans := make([]rollbackPlan, len(apps))
	g, gctx := errgroup.WithContext(ctx)
	for i, app := range apps {
		g.Go(func() (err error) {
			plans[i], err = r.planRollback(gctx, app)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	states := make([]*stageApp, len(apps))
	for i, rp := range plans {
		a := &stageApp{app: rp.app, res: &Result{Stage: res.Stage, Deployment: res.Deployment, App: rp.app.Name, Commit: rp.targetSlug.Commit}}
		states[i] = a
		r.describeRollback(rp, res)
	}
	res.Commit = plans[0].targetSlug.Commit
	defer r.mergeApps(res, states)
	var wg sync.WaitGroup
	for i, a := range states {
		rp := plans[i]
		wg.Go(func() {
			if rp.target.ID == rp.current.ID {
				a.res.Release, a.res.AppURL = rp.current.Version, rp.app.WebURL
				a.res.Action = fmt.Sprintf("already runs v%d", rp.current.Version)
				return
			}
			if a.err = r.rollBack(ctx, rp, a.res, &a.out); a.err == nil {
				a.err = r.finish(ctx, rp.app, a.res, false)
			}
			r.flush(fmt.Sprintf("Release on %s", rp.app.Name), a)
		})
	}
	wg.Wait()
	res.Action = fmt.Sprintf("rolled back %d production apps", len(apps))
	if failed := failedApps(states); len(failed) > 0 {
		return fmt.Errorf("%d of the %d production apps failed: %w", len(failed), len(states), joinAppErrs(failed))
	}
	r.Log.Noticef("Rolled back %s. The next push to %s deploys again.", appNames(states), p.Branch)
	return nil
}

// planRollback reads what a rollback of app needs, changing nothing: its releases, the target, the
// config vars that change and the release phases that ran since the target.
func (r *Runner) planRollback(ctx context.Context, app heroku.App) (rollbackPlan, error) {
	var rp rollbackPlan
	rp.app = app
	releases, err := r.Heroku.Releases(ctx, rp.app.ID, rollbackHistory)
	if err != nil {
		return rp, err
	}
	rp.historyLimit, rp.historyCount = rollbackHistory, len(releases)
	i := slices.IndexFunc(releases, func(rel heroku.Release) bool { return rel.Current && rel.Status == "succeeded" })
	if i < 0 {
		return rp, fmt.Errorf("%s has no current release to roll back from: %w", rp.app.Name, heroku.ErrNoRelease)
	}
	rp.current = releases[i]
	if rp.target, err = r.rollbackTarget(ctx, rp.app, releases, rp.current); err != nil {
		return rp, err
	}

	// The reads below are independent: the two releases' config vars and the slugs that say which
	// releases ran a release phase.
	var current, target map[string]string
	since := releasesSince(releases, rp.target, rp.current)
	// One read per build: the releases that run the same slug (or OCI image on Fir) share it.
	reads := []heroku.Release{rp.target}
	for _, rel := range since {
		if !slices.ContainsFunc(reads, func(r heroku.Release) bool { return r.CodeID() == rel.CodeID() }) {
			reads = append(reads, rel)
		}
	}
	var mu sync.Mutex
	slugs := make(map[string]heroku.Slug, len(reads))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	g.Go(func() (err error) {
		current, err = r.Heroku.ReleaseConfigVars(gctx, rp.app.ID, rp.current.ID)
		return err
	})
	g.Go(func() (err error) {
		target, err = r.Heroku.ReleaseConfigVars(gctx, rp.app.ID, rp.target.ID)
		return err
	})
	for _, rel := range reads {
		g.Go(func() error {
			s, err := r.Heroku.Code(gctx, rp.app.ID, rel)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			slugs[rel.CodeID()] = s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return rp, err
	}
	rp.targetSlug = slugs[rp.target.CodeID()]
	rp.targetReleasePhase = slugs[rp.target.CodeID()].ProcessTypes["release"]
	rp.added, rp.removed, rp.changed = varChanges(current, target)
	for _, rel := range since {
		if cmd := slugs[rel.CodeID()].ProcessTypes["release"]; cmd != "" && rel.Status == "succeeded" {
			rp.releasePhases = append(rp.releasePhases, fmt.Sprintf("v%d: %s", rel.Version, cmd))
		}
	}
	return rp, nil
}

// rollbackTarget is the release given as rollback_to, or the newest release before current that
// ran other code (a different slug: a config-var release runs the same code).
func (r *Runner) rollbackTarget(ctx context.Context, app heroku.App, releases []heroku.Release, current heroku.Release) (heroku.Release, error) {
	if v := r.Config.RollbackTo; v != 0 {
		i := slices.IndexFunc(releases, func(rel heroku.Release) bool { return rel.Version == v })
		var target heroku.Release
		if i >= 0 {
			target = releases[i]
		} else {
			// Older than the releases listed: read it by its version number.
			var err error
			if target, err = r.Heroku.Release(ctx, app.ID, fmt.Sprint(v)); err != nil {
				if isNotFound(err) {
					return target, fmt.Errorf("input rollback_to: %s has no release v%d: its newest is v%d (heroku releases -a %s lists them)", app.Name, v, releases[0].Version, app.Name)
				}
				return target, err
			}
		}
		return target, rollbackable(app, target)
	}
	for _, rel := range releases {
		if rel.Version < current.Version && rel.Status == "succeeded" && rel.CodeID() != "" && rel.CodeID() != current.CodeID() {
			return rel, nil
		}
	}
	return heroku.Release{}, fmt.Errorf("none of the %d newest releases of %s before v%d ran other code than v%d: nothing to roll back to; name a release with rollback_to", len(releases), app.Name, current.Version, current.Version)
}

// rollbackable says why Heroku cannot roll back to a release, nil when it can.
func rollbackable(app heroku.App, rel heroku.Release) error {
	switch {
	case rel.Status == "expired":
		return fmt.Errorf("release v%d of %s has expired: Heroku no longer keeps what it ran and cannot roll back to it; choose a newer release with rollback_to", rel.Version, app.Name)
	case rel.Status == "failed":
		return fmt.Errorf("release v%d of %s failed: its code never ran; choose a release that succeeded with rollback_to", rel.Version, app.Name)
	case rel.Status != "succeeded":
		return fmt.Errorf("release v%d of %s is %s: only a release that succeeded can be rolled back to", rel.Version, app.Name, rel.Status)
	case rel.CodeID() == "":
		return fmt.Errorf("release v%d of %s ran no code (it set config vars before the first build): choose a later release with rollback_to", rel.Version, app.Name)
	}
	return nil
}

// releasesSince are the releases made after target up to and including current, newest first.
func releasesSince(releases []heroku.Release, target, current heroku.Release) []heroku.Release {
	var out []heroku.Release
	for _, rel := range releases {
		if rel.Version > target.Version && rel.Version <= current.Version && rel.CodeID() != "" {
			out = append(out, rel)
		}
	}
	return out
}

// varChanges names the config vars that a move from the config now to the config then adds,
// removes and changes. Values are compared in memory and never leave this function.
func varChanges(now, then map[string]string) (added, removed, changed []string) {
	for _, k := range slices.Sorted(maps.Keys(then)) {
		old, had := now[k]
		switch {
		case !had:
			added = append(added, k)
		case old != then[k]:
			changed = append(changed, k)
		}
	}
	for k := range now {
		if _, ok := then[k]; !ok {
			removed = append(removed, k)
		}
	}
	sort.Strings(removed)
	return added, removed, changed
}

// describeRollback says in the log and the summary what the rollback changes and what it cannot undo.
func (r *Runner) describeRollback(rp rollbackPlan, res *Result) {
	if rp.target.ID == rp.current.ID {
		note := fmt.Sprintf("%s already runs v%d: nothing to roll back", rp.app.Name, rp.current.Version)
		r.Log.Noticef("%s", note)
		res.Notes = append(res.Notes, note)
		return
	}
	notes := []string{fmt.Sprintf("%s goes from v%d back to the code and config vars of v%d (commit %s)", rp.app.Name, rp.current.Version, rp.target.Version, orNone(short(rp.targetSlug.Commit)))}
	if len(rp.added)+len(rp.removed)+len(rp.changed) == 0 {
		notes = append(notes, "config vars: none change")
	} else {
		var parts []string
		for _, c := range []struct {
			what  string
			names []string
		}{{"set again", rp.added}, {"unset", rp.removed}, {"changed back", rp.changed}} {
			if len(c.names) > 0 {
				parts = append(parts, c.what+": "+strings.Join(c.names, ", "))
			}
		}
		notes = append(notes, "config vars the rollback restores ("+strings.Join(parts, "; ")+")")
	}
	if len(rp.releasePhases) > 0 {
		notes = append(notes, "release phases that ran since v"+fmt.Sprint(rp.target.Version)+" and are not undone (a migration stays applied): "+strings.Join(rp.releasePhases, "; "))
	}
	if rp.targetReleasePhase != "" {
		notes = append(notes, fmt.Sprintf("the rollback runs v%d's release phase again: %s", rp.target.Version, rp.targetReleasePhase))
	}
	if rp.historyCount == rp.historyLimit && rp.target.Version < rp.current.Version-rp.historyLimit {
		notes = append(notes, fmt.Sprintf("only the %d newest releases were searched for release phases", rp.historyLimit))
	}
	for _, n := range notes {
		r.Log.Infof("%s", n)
	}
	res.Notes = append(res.Notes, notes...)
}
