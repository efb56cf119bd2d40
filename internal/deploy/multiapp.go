package deploy

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
	"github.com/pangeo-forge/deploy-action/internal/secrets"
	"golang.org/x/sync/errgroup"
)

// AppResult is what a run did to one app of a stage that holds several (production in the US and
// in the EU): the job summary, the check run, the apps output and the per-app GitHub Deployments
// are made from it.
type AppResult struct {
	App, AppURL string
	Release     int
	// SecretsFile is the file the app's config vars came from: the deployment's, or the app's own
	// config.<deployment>.<app>.yaml.
	SecretsFile string
	VarsSet     []string
	VarsUnset   []string
	Deployed    bool
	// Outcome says in a few words what happened to the app: "promoted", "already ran the
	// release", "rolled back", "failed".
	Outcome string
	// Running says, after the app failed, what it runs now (as Result.Running).
	Running string
	// Err is how the app failed, "" when it did not.
	Err string
}

// stageApp is one app of a stage with several, as a deploy to them goes along.
type stageApp struct {
	app      heroku.App
	coupled  heroku.Coupling
	previous heroku.Release // what it ran before the run (zero: never released)
	newest   int            // its newest release's version before the run
	vars     map[string]string
	file     string // the secrets file vars came from
	res      *Result
	target   *target
	out      bytes.Buffer // its release output, printed as a group of its own once it is done
	err      error
}

// appSecretsFile names the secrets file of one app of a stage with several apps: the deployment's
// name and the app's, config.<deployment>.<app>.yaml. Where it exists it replaces the deployment's
// file for that app as a whole (nothing is merged: an app never gets a value meant for another).
func appSecretsFile(deployment, app string) string { return deployment + "." + app }

// appVars gives each app its config vars (varsForApp). Every file is decrypted, and its values
// masked, before any write.
func (r *Runner) appVars(ctx context.Context, p plan.Plan, apps []*stageApp, shared map[string]string) error {
	for _, a := range apps {
		var err error
		if a.vars, a.file, err = r.varsForApp(ctx, p, a.app, shared); err != nil {
			return err
		}
	}
	return nil
}

// varsForApp is the config vars of one staging or production app: those of its own file,
// config.<deployment>.<app>.yaml, where the repository has one, else the deployment's (shared).
// file names the file they came from.
func (r *Runner) varsForApp(ctx context.Context, p plan.Plan, app heroku.App, shared map[string]string) (vars map[string]string, file string, err error) {
	own := appSecretsFile(p.Deployment, app.Name)
	loaded, err := r.Secrets(ctx, own)
	if errors.Is(err, secrets.ErrNotFound) {
		return shared, secrets.FileName(p.Deployment), nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("the secrets file of the app %s: %w", app.Name, err)
	}
	if vars, err = r.useVars(loaded, own, p.Deployment); err != nil {
		return nil, "", err
	}
	r.Log.Infof("%s gets the config vars of its own file %s, not those of %s", app.Name, secrets.FileName(own), secrets.FileName(p.Deployment))
	return vars, secrets.FileName(own), nil
}

// appFilesPossible says whether the secrets directory may hold a file of one app of deployment,
// config.<deployment>.<something>.yaml: only then is an app read for its name before its file is
// looked for (the one-app staging path otherwise never reads its app). An unreadable directory
// says yes: the loader then decides.
func (r *Runner) appFilesPossible(deployment string) bool {
	dir := r.SecretsDir.Path
	if dir == "" {
		dir = filepath.Join(r.workspace(), r.Config.SecretsDir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return true
	}
	prefix := strings.TrimSuffix(secrets.FileName(deployment), ".yaml") + "."
	for _, e := range entries {
		if name := e.Name(); strings.HasPrefix(name, prefix) && strings.HasSuffix(name, ".yaml") && name != secrets.FileName(deployment) {
			return true
		}
	}
	return false
}

// orderApps puts the apps of a stage in the order the run reports them: the first coupled first
// (the primary app, whose name and URL the app and app_url outputs give), then by name.
func orderApps(apps []*stageApp) {
	slices.SortStableFunc(apps, func(a, b *stageApp) int {
		if c := a.coupled.Created.Compare(b.coupled.Created); c != 0 {
			return c
		}
		return cmp.Compare(a.app.Name, b.app.Name)
	})
}

func appNames(apps []*stageApp) string {
	names := make([]string, len(apps))
	for i, a := range apps {
		names[i] = a.app.Name
	}
	return strings.Join(names, ", ")
}

// flush prints an app's kept release output as a log group of its own, and keeps it for the check
// run's tail. Several apps finish at once: one group at a time.
func (r *Runner) flush(title string, a *stageApp) {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	if a.out.Len() == 0 {
		return
	}
	end := r.Log.Group(title)
	_, _ = r.output().Write(a.out.Bytes())
	end()
	a.out.Reset()
}

// prodMany promotes staging's release to every production app in one promotion, as `heroku
// pipelines:promote` does: each app's config vars first (its own file or the deployment's), then
// the promotion, then for each app apart its release, its health check and, when that fails, its
// rollback. The apps' work runs at once; the run fails when any app fails, and says for each what it
// runs afterwards.
func (r *Runner) prodMany(ctx context.Context, p plan.Plan, pipeline heroku.Pipeline, stagingID string, couplings []heroku.Coupling, vars map[string]string, res *Result) error {
	apps := make([]*stageApp, len(couplings))
	var release heroku.Release
	var stagingApp heroku.App
	var releaseErr error
	g, gctx := errgroup.WithContext(ctx)
	r.readStagingSource(gctx, g, stagingID, &stagingApp, &release, &releaseErr)
	for i, c := range couplings {
		a := &stageApp{app: heroku.App{ID: c.App.ID}, coupled: c}
		apps[i] = a
		g.Go(func() (err error) {
			a.previous, a.newest, err = r.Heroku.CurrentAndNewestRelease(gctx, c.App.ID)
			if errors.Is(err, heroku.ErrNoRelease) {
				return nil
			}
			if err == nil {
				a.app.Name = a.previous.App
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// An app that never released: only the app itself can name it.
	if err := r.readUnnamedApps(ctx, apps); err != nil {
		return err
	}
	if stagingApp.OnContainerStack() {
		return fmt.Errorf("the staging app %s is on the container stack (heroku.yml), which Heroku cannot promote in a pipeline, and the production stage has %d apps (%s): the action builds container-stack apps on one production app only; keep one app at production, or deploy the others with heroku container:release",
			stagingApp.Name, len(apps), appNames(apps))
	}
	if releaseErr != nil {
		return releaseErr
	}
	if release.CodeID() == "" {
		return fmt.Errorf("the staging app %s has no built release to promote: deploy to staging first", stagingApp.Name)
	}
	slug, err := r.Heroku.Code(ctx, stagingApp.ID, release)
	if err != nil {
		return err
	}
	why, same, err := r.sameContent(ctx, p, slug.Commit, nil)
	if err != nil {
		return err
	}
	if !same {
		// A build on each production app would give each its own slug of the commit; building once
		// and releasing that slug on the others is staging's way (issue: one build per stage).
		return fmt.Errorf("%s, and the production stage has %d apps (%s): the action promotes to several production apps but does not build on them; deploy the commit to staging (push it to %s) and push to %s again, or dispatch stage: prod to promote what staging runs",
			why, len(apps), appNames(apps), r.Config.StagingBranch, r.Config.ProdBranch)
	}
	// Every app's secrets are decrypted before the first write.
	if err := r.appVars(ctx, p, apps, vars); err != nil {
		return err
	}
	r.Log.Infof("Promoting release v%d of %s to the %d production apps %s: %s", release.Version, stagingApp.Name, len(apps), appNames(apps), why)
	res.Commit = slug.Commit
	for _, a := range apps {
		a.res = &Result{Stage: res.Stage, Deployment: res.Deployment, Commit: slug.Commit, App: a.app.Name}
		a.target = newTarget(p, a.app, a.previous, "")
		a.target.out = &a.out
	}
	defer r.mergeApps(res, apps)
	for _, a := range apps {
		if err := r.checkMaintenance(ctx, p, a.app, a.res); err != nil {
			return err
		}
	}

	// Config vars, each app's at once.
	var wg sync.WaitGroup
	for _, a := range apps {
		wg.Go(func() { a.err = r.applyVars(ctx, a.app, a.vars, a.res) })
	}
	wg.Wait()
	takePhases(res, apps)
	if failed := failedApps(apps); len(failed) > 0 {
		// Nothing is promoted to any app: production would otherwise run two releases.
		r.sayWhatRunsOn(ctx, p, apps)
		return fmt.Errorf("setting the config vars of %s failed, so nothing was promoted: %w", appNames(failed), joinAppErrs(failed))
	}

	var targets []*stageApp
	for _, a := range apps {
		if a.previous.CodeID() != "" && a.previous.CodeID() == release.CodeID() {
			// A rerun: this app already runs the very slug (OCI image on Fir); promoting it again
			// would only restart it.
			a.res.Release = a.previous.Version
			a.res.Action = fmt.Sprintf("already ran release v%d of %s", release.Version, stagingApp.Name)
			note := fmt.Sprintf("%s already runs the %s of %s's release v%d (as v%d): not promoting it again", a.app.Name, codeNoun(release), stagingApp.Name, release.Version, a.previous.Version)
			r.Log.Noticef("%s", note)
			res.Notes = append(res.Notes, note)
			continue
		}
		targets = append(targets, a)
	}
	var promotion heroku.Promotion
	if len(targets) > 0 {
		ids := make([]string, len(targets))
		for i, a := range targets {
			ids[i] = a.app.ID
			if r.usesMaintenance(p) {
				if err := r.enterMaintenance(ctx, p, a.app, releasePhaseOfPromotion(release, slug), a.res); err != nil {
					return fmt.Errorf("%s: %w", a.app.Name, err)
				}
			}
		}
		err := r.phase(res, "promotion", func() (err error) {
			promotion, err = r.Heroku.Promote(ctx, pipeline.ID, stagingApp.ID, release.ID, ids)
			if err == nil {
				for _, a := range targets {
					r.windowPromotion(a.app.ID, promotion.ID)
				}
			}
			return err
		})
		if err != nil {
			for _, a := range targets {
				a.err = err
			}
			r.sayWhatRunsOn(ctx, p, apps)
			return err
		}
		res.Action = fmt.Sprintf("promoted release v%d of %s to %d apps", release.Version, stagingApp.Name, len(targets))
	} else {
		res.Action = fmt.Sprintf("already promoted release v%d of %s", release.Version, stagingApp.Name)
	}

	// Each app's release, health check and, after a failure, rollback, at once: one app's failure
	// does not hold the others back, nor roll them back.
	for _, a := range apps {
		promoted := slices.Contains(targets, a)
		wg.Go(func() {
			if promoted {
				a.err = r.phase(a.res, "release", func() error {
					rel, err := r.Heroku.WaitPromotion(ctx, promotion.ID, heroku.PromotedRelease{App: a.app.ID, CodeID: release.CodeID(), After: a.newest}, &a.out)
					a.res.Release = rel.Version
					return err
				})
				a.res.Action = fmt.Sprintf("promoted release v%d of %s", release.Version, stagingApp.Name)
				if a.err == nil {
					// Its release phase has ended: the app leaves maintenance before its health check.
					a.err = r.leaveMaintenance(ctx, a.app, a.res)
				}
			}
			if a.err == nil {
				if a.err = r.finish(ctx, a.app, a.res, false); a.err != nil && promoted {
					a.err = r.rollbackTargetAfter(ctx, a.target, a.app, a.previous, a.res, a.err)
				}
			}
			r.flush(fmt.Sprintf("Release on %s", a.app.Name), a)
		})
	}
	wg.Wait()
	failed := failedApps(apps)
	if len(failed) == 0 {
		return nil
	}
	r.sayWhatRunsOn(ctx, p, apps)
	return fmt.Errorf("%d of the %d production apps failed: %w", len(failed), len(apps), joinAppErrs(failed))
}

// sayWhatRunsOn says, for every app of a failed run, what it runs now (the rollback already said
// so where one was made), in the log and in the app's result.
func (r *Runner) sayWhatRunsOn(ctx context.Context, p plan.Plan, apps []*stageApp) {
	var wg sync.WaitGroup
	for _, a := range apps {
		if a.res.Running != "" || a.target == nil {
			continue // said by its rollback; or never written to
		}
		wg.Go(func() { a.res.Running = r.whatRuns(ctx, a.target, p, a.res) })
	}
	wg.Wait()
	for _, a := range apps {
		if a.res.Running != "" {
			r.Log.Noticef("After this run: %s", a.res.Running)
		}
	}
}

func failedApps(apps []*stageApp) []*stageApp {
	var out []*stageApp
	for _, a := range apps {
		if a.err != nil {
			out = append(out, a)
		}
	}
	return out
}

// joinAppErrs joins the apps' errors, each named with its app.
func joinAppErrs(apps []*stageApp) error {
	errs := make([]error, len(apps))
	for i, a := range apps {
		errs[i] = fmt.Errorf("%s: %w", a.app.Name, a.err)
	}
	return errors.Join(errs...)
}

// mergeApps makes the run's result from its apps': one AppResult per app, the primary (first)
// app's name, URL and release as the run's, each app's phases under its name, and what each runs
// after a failure.
func (r *Runner) mergeApps(res *Result, apps []*stageApp) {
	var running []string
	deployed := len(apps) > 0
	for i, a := range apps {
		sub := a.res
		if sub == nil {
			continue
		}
		ar := AppResult{
			App: a.app.Name, AppURL: sub.AppURL, Release: sub.Release, SecretsFile: a.file,
			VarsSet: sub.VarsSet, VarsUnset: sub.VarsUnset, Deployed: sub.Deployed && a.err == nil, Running: sub.Running,
		}
		switch {
		case a.err != nil && a.target != nil && a.target.rollback != "":
			ar.Outcome = a.target.rollback
		case a.err != nil:
			ar.Outcome = "failed"
		default:
			ar.Outcome = orNone(sub.Action)
		}
		if a.err != nil {
			ar.Err = a.err.Error()
		}
		deployed = deployed && ar.Deployed
		if sub.Running != "" {
			running = append(running, sub.Running)
		}
		res.Apps = append(res.Apps, ar)
		if i == 0 {
			res.App, res.AppURL, res.Release = ar.App, ar.AppURL, ar.Release
		}
		res.Domains = append(res.Domains, sub.Domains...)
		res.Maintenance = append(res.Maintenance, sub.Maintenance...)
		res.Notes = append(res.Notes, sub.Notes...)
	}
	takePhases(res, apps)
	res.Deployed = deployed
	if len(running) > 0 {
		res.Running = strings.Join(running, "; ")
	}
}

// takePhases moves the phases the apps have timed so far into the run's, each under its app's
// name, so that the run's phases keep their order (config vars, promotion, then each release).
func takePhases(res *Result, apps []*stageApp) {
	for _, a := range apps {
		if a.res == nil {
			continue
		}
		for _, ph := range a.res.Phases {
			ph.Name += " (" + a.app.Name + ")"
			res.Phases = append(res.Phases, ph)
		}
		a.res.Phases = nil
	}
}

// stagingMany deploys the pushed commit to every app of a staging stage that holds several: it
// builds once, on the first-coupled app, and releases that build's slug on the others (a release
// made from a slug, POST /apps/{app}/releases, which Heroku allows for Cedar-generation apps built
// by buildpacks: Dev Center, "Copying Slugs with the Platform API"). Each app gets its own config
// vars first (its own file or the deployment's), and its own health check. Container-stack apps
// have no slug to copy and are refused before any write. Staging apps are not rolled back (only
// production is).
//
// Fir-generation apps build OCI images, not slugs, and heroku-go v6.1.0's release "Create" link
// requires a slug (oci_image beside it is optional, unproven alone): they are refused here, where
// the generation is known, rather than sent a release Heroku's schema does not describe.
func (r *Runner) stagingMany(ctx context.Context, p plan.Plan, couplings []heroku.Coupling, shared map[string]string, res *Result) error {
	apps := make([]*stageApp, len(couplings))
	for i, c := range couplings {
		apps[i] = &stageApp{app: heroku.App{ID: c.App.ID}, coupled: c}
	}
	if err := r.readUnnamedApps(ctx, apps); err != nil {
		return err
	}
	for _, a := range apps {
		if a.app.Generation == heroku.Fir {
			// A Fir build leaves an OCI image, and a release of it by oci_image alone is not what
			// the schema's Create link describes (it requires slug).
			return fmt.Errorf("the staging stage has %d apps (%s) and %s is of Heroku's Fir generation, whose builds make an OCI image, not a slug: the action releases one build on several staging apps by its slug only; keep one app at staging", len(apps), appNames(apps), a.app.Name)
		}
		if a.app.OnContainerStack() {
			return fmt.Errorf("the staging stage has %d apps (%s) and %s is on the container stack (heroku.yml), whose builds leave no slug that another app could run: keep one app at staging, or deploy the others yourself (heroku container:release)", len(apps), appNames(apps), a.app.Name)
		}
	}
	if err := r.appVars(ctx, p, apps, shared); err != nil {
		return err
	}
	// What each app runs before the first write.
	g, gctx := errgroup.WithContext(ctx)
	commits := make([]string, len(apps))
	for i, a := range apps {
		a.res = &Result{Stage: res.Stage, Deployment: res.Deployment, Commit: p.Commit, App: a.app.Name, AppURL: a.app.WebURL}
		if i == 0 {
			continue // buildOn reads it
		}
		g.Go(func() error {
			rel, err := r.Heroku.CurrentRelease(gctx, a.app.ID)
			if errors.Is(err, heroku.ErrNoRelease) || (err == nil && rel.CodeID() == "") {
				a.previous = rel
				return nil
			}
			if err != nil {
				return err
			}
			code, err := r.Heroku.Code(gctx, a.app.ID, rel)
			a.previous, commits[i] = rel, code.Commit
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	first, others := apps[0], apps[1:]
	r.Log.Infof("The staging stage has %d apps (%s): building %s once, on %s, and releasing its slug on the others", len(apps), appNames(apps), short(p.Commit), first.app.Name)
	defer r.mergeApps(res, apps)

	// The others' config vars go in while the first app builds: each app gets its vars before its
	// new code, as a single app does.
	for _, a := range others {
		if err := r.checkMaintenance(ctx, p, a.app, a.res); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	for i, a := range others {
		a.target = newTarget(p, a.app, a.previous, commits[i+1])
		a.target.out = &a.out
		wg.Go(func() { a.err = r.applyVars(ctx, a.app, a.vars, a.res) })
	}
	first.err = r.buildOn(ctx, p, first.app, first.vars, first.res)
	first.target = r.target
	wg.Wait()
	res.BuildID = first.res.BuildID
	takePhases(res, apps)
	if first.err != nil || len(failedApps(others)) > 0 {
		for _, a := range others {
			if a.err == nil {
				a.err = fmt.Errorf("not deployed: the build on %s failed", first.app.Name)
			}
		}
		r.sayWhatRunsOn(ctx, p, apps)
		return fmt.Errorf("staging: %w", joinAppErrs(failedApps(apps)))
	}
	built, err := r.Heroku.CurrentRelease(ctx, first.app.ID)
	if err != nil {
		return err
	}
	if built.SlugID == "" {
		return fmt.Errorf("%s's release v%d has no slug to release on the other staging apps", first.app.Name, built.Version)
	}
	builtSlug, err := r.Heroku.Code(ctx, first.app.ID, built)
	if err != nil {
		return err
	}
	res.Action = fmt.Sprintf("%s on %s, its slug released on %d other %s", first.res.Action, first.app.Name, len(others), plural(len(others), "app", "apps"))

	wg.Go(func() { first.err = r.finish(ctx, first.app, first.res, false) })
	for _, a := range others {
		wg.Go(func() {
			if a.previous.SlugID == built.SlugID {
				a.res.Release = a.previous.Version
				a.res.Action = fmt.Sprintf("already ran the slug of %s's v%d", first.app.Name, built.Version)
			} else {
				if r.usesMaintenance(p) {
					a.err = r.enterMaintenance(ctx, p, a.app, releasePhaseOfPromotion(built, builtSlug), a.res)
				}
				a.err = r.phase(a.res, "release", func() error {
					if a.err != nil {
						return a.err
					}
					rel, err := r.Heroku.ReleaseSlug(ctx, a.app.ID, built.SlugID, fmt.Sprintf("Deploy %s (the slug of %s v%d)", short(p.Commit), first.app.Name, built.Version))
					if err != nil {
						return err
					}
					rel, err = r.Heroku.WaitRelease(ctx, a.app.ID, rel.ID, &a.out)
					a.res.Release = rel.Version
					return err
				})
				a.res.Action = fmt.Sprintf("released the slug of %s's v%d", first.app.Name, built.Version)
				if a.err == nil {
					a.err = r.leaveMaintenance(ctx, a.app, a.res)
				}
			}
			if a.err == nil {
				a.err = r.finish(ctx, a.app, a.res, false)
			}
			r.flush(fmt.Sprintf("Release on %s", a.app.Name), a)
		})
	}
	wg.Wait()
	failed := failedApps(apps)
	if len(failed) == 0 {
		return nil
	}
	r.sayWhatRunsOn(ctx, p, apps)
	return fmt.Errorf("%d of the %d staging apps failed: %w", len(failed), len(apps), joinAppErrs(failed))
}

// readUnnamedApps reads, at once, each app of apps known by its ID alone, then orders apps
// (orderApps): the order every report and output follows.
func (r *Runner) readUnnamedApps(ctx context.Context, apps []*stageApp) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, a := range apps {
		if a.app.Name == "" {
			g.Go(func() (err error) {
				a.app, err = r.Heroku.App(gctx, a.app.ID)
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	orderApps(apps)
	return nil
}
