package deploy

import (
	"context"
	"errors"
	"fmt"

	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
	"golang.org/x/sync/errgroup"
)

func (r *Runner) prod(ctx context.Context, p plan.Plan, pipeline heroku.Pipeline, vars map[string]string, res *Result) error {
	// Only the apps' IDs are needed: each app's name comes with its releases, and prod's URL with
	// its domains, read at the end (docs/performance.md counts the requests).
	prodApps, err := r.Heroku.AppIDsAtStage(ctx, pipeline.ID, "production")
	if err != nil {
		return err
	}
	// With several staging apps (which run one build: stagingMany), the first coupled is promoted.
	stagingApps, err := r.Heroku.AppIDsAtStage(ctx, pipeline.ID, "staging")
	if err != nil {
		return err
	}
	stagingID := stagingApps[0].App.ID
	if len(prodApps) > 1 {
		return r.prodMany(ctx, p, pipeline, stagingID, prodApps, vars, res)
	}
	prodID := prodApps[0].App.ID
	// Staging's release is what gets promoted. Prod's, read at the same time, is what it runs before
	// anything changes: the release a failed health check rolls back to, and the newest version
	// there, above which the promotion's release will appear.
	// Staging's app, read beside them, tells its stack: Heroku cannot promote a container-stack
	// (heroku.yml) app, so prod builds such an app itself.
	// Prod's config vars are read with them, and the pushed commit's tree (compared with staging's
	// when staging runs another commit) is asked of GitHub meanwhile.
	var release, previous heroku.Release
	var stagingApp heroku.App
	var prodNewest int
	var prodVars map[string]string
	var releaseErr error // staging without a release is an error only when its release is promoted
	pushedTree := r.readTreeAhead(ctx, p)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		prodVars, err = r.Heroku.ConfigVars(gctx, prodID)
		if err == nil && prodVars == nil {
			prodVars = map[string]string{}
		}
		return err
	})
	r.readStagingSource(gctx, g, stagingID, &stagingApp, &release, &releaseErr)
	g.Go(func() (err error) {
		previous, prodNewest, err = r.Heroku.CurrentAndNewestRelease(gctx, prodID)
		if errors.Is(err, heroku.ErrNoRelease) {
			return nil
		}
		return err
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if stagingApp.OnContainerStack() {
		// Checked before the slug: a container release may carry none.
		why := fmt.Sprintf("the staging app %s is on the container stack (heroku.yml), which Heroku cannot promote in a pipeline (Dev Center, Container Registry & Runtime: known issues and limitations)", stagingApp.Name)
		if p.Manual {
			why = fmt.Sprintf("manual promotion builds the dispatched commit %s: %s", short(p.Commit), why)
		}
		return r.buildProd(ctx, p, prodID, previous, vars, res, why)
	}
	if releaseErr != nil {
		return releaseErr
	}
	if release.CodeID() == "" {
		return fmt.Errorf("the staging app %s has no built release to promote: deploy to staging first", stagingApp.Name)
	}
	prodApp := heroku.App{ID: prodID, Name: previous.App}
	if prodApp.Name == "" {
		// Prod has never released: only the app itself can name it.
		if prodApp, err = r.Heroku.App(ctx, prodID); err != nil {
			return err
		}
	}
	slug, err := r.Heroku.Code(ctx, stagingApp.ID, release)
	if err != nil {
		return err
	}
	why, same, err := r.sameContent(ctx, p, slug.Commit, pushedTree)
	if err != nil {
		return err
	}
	if !same {
		return r.buildProd(ctx, p, prodID, previous, vars, res, why)
	}
	if vars, _, err = r.varsForApp(ctx, p, prodApp, vars); err != nil {
		return err
	}
	r.Log.Infof("Promoting release v%d of %s to %s: %s", release.Version, stagingApp.Name, prodApp.Name, why)
	res.App, res.Commit = prodApp.Name, slug.Commit
	r.aim(p, prodApp, previous, "")
	if err := r.checkMaintenance(ctx, p, prodApp, res); err != nil {
		return err
	}
	if err := r.applyVarsTo(ctx, prodApp, prodVars, vars, res); err != nil {
		return err
	}
	if previous.CodeID() != "" && previous.CodeID() == release.CodeID() {
		// A rerun: prod already runs this very slug (OCI image on Fir). Promoting it again would
		// only restart prod.
		res.Release = previous.Version
		res.Action = fmt.Sprintf("already promoted release v%d of %s", release.Version, stagingApp.Name)
		note := fmt.Sprintf("%s already runs the %s of %s's release v%d (as v%d): not promoting it again", prodApp.Name, codeNoun(release), stagingApp.Name, release.Version, previous.Version)
		r.Log.Noticef("%s", note)
		res.Notes = append(res.Notes, note)
		return r.finish(ctx, prodApp, res, false)
	}
	if r.usesMaintenance(p) {
		if err := r.enterMaintenance(ctx, p, prodApp, releasePhaseOfPromotion(release, slug), res); err != nil {
			return err
		}
	}
	err = r.phase(res, "promotion", func() error {
		promotion, err := r.Heroku.Promote(ctx, pipeline.ID, stagingApp.ID, release.ID, []string{prodApp.ID})
		if err != nil {
			return err
		}
		r.windowPromotion(prodApp.ID, promotion.ID)
		r.readDomainsAhead(ctx, prodApp.ID) // for the summary (and prod's URL), while Heroku promotes
		end := r.Log.Group(fmt.Sprintf("Release on %s", prodApp.Name))
		promoted, err := r.Heroku.WaitPromotion(ctx, promotion.ID, heroku.PromotedRelease{App: prodApp.ID, CodeID: release.CodeID(), After: prodNewest}, r.output())
		end()
		if err != nil {
			return err
		}
		res.Release = promoted.Version
		return nil
	})
	if err != nil {
		return err
	}
	res.Action = fmt.Sprintf("promoted release v%d of %s", release.Version, stagingApp.Name)
	// The release phase has ended: prod leaves maintenance before its health check.
	if err := r.leaveMaintenance(ctx, prodApp, res); err != nil {
		return err
	}
	if err := r.finish(ctx, prodApp, res, false); err != nil {
		return r.rollbackAfter(ctx, prodApp, previous, res, err)
	}
	return nil
}

// buildProd builds the pushed commit on the production app instead of promoting staging's release
// (why says for which reason), and rolls prod back to previous when the build's release fails its
// health check.
func (r *Runner) buildProd(ctx context.Context, p plan.Plan, prodID string, previous heroku.Release, vars map[string]string, res *Result, why string) error {
	prodApp, err := r.Heroku.App(ctx, prodID)
	if err != nil {
		return err
	}
	if vars, _, err = r.varsForApp(ctx, p, prodApp, vars); err != nil {
		return err
	}
	r.Log.Noticef("Building on the production app %s: %s", prodApp.Name, why)
	res.Notes = append(res.Notes, why)
	if err := r.buildOn(ctx, p, prodApp, vars, res); err != nil {
		return err
	}
	if err := r.finish(ctx, prodApp, res, false); err != nil {
		if res.BuildID == "" {
			return err // a rerun: the release that failed its check is the one prod ran before
		}
		// A hotfix built on prod is rolled back as a promotion is.
		return r.rollbackAfter(ctx, prodApp, previous, res, err)
	}
	return nil
}

// sameContent decides whether staging's release (built from stagingCommit) is what this prod run
// deploys: the same commit, a commit with the same tree (a merge of main into prod), or a manual
// promotion.
func (r *Runner) sameContent(ctx context.Context, p plan.Plan, stagingCommit string, pushedTree *treeAhead) (string, bool, error) {
	switch {
	case p.Manual:
		return "manual promotion of the release staging runs", true, nil
	case stagingCommit == p.Commit:
		return fmt.Sprintf("staging runs %s, the commit being deployed", short(p.Commit)), true, nil
	case stagingCommit == "" || r.GitHub == nil:
		return fmt.Sprintf("staging's release does not name a commit that can be compared with %s", short(p.Commit)), false, nil
	}
	if pushedTree == nil {
		if pushedTree = r.readTreeAhead(ctx, p); pushedTree == nil {
			return fmt.Sprintf("staging's release cannot be compared with %s", orNone(short(p.Commit))), false, nil
		}
	}
	if err := pushedTree.wait(ctx); err != nil {
		return "", false, err
	}
	want := pushedTree.tree
	have, err := r.GitHub.CommitTree(ctx, stagingCommit)
	if err != nil {
		return "", false, err
	}
	if want == have {
		return fmt.Sprintf("staging runs %s, whose tree is identical to %s", short(stagingCommit), short(p.Commit)), true, nil
	}
	return fmt.Sprintf("staging runs %s, whose content differs from %s (prod is ahead of staging)", short(stagingCommit), short(p.Commit)), false, nil
}

// treeAhead is the pushed commit's tree, asked of GitHub while prod's Heroku reads go out.
type treeAhead struct {
	*pending
	tree string
}

// readTreeAhead starts the read of the pushed commit's tree, which sameContent compares with
// staging's; nil when the run compares no trees (a manual promotion, no GitHub client).
func (r *Runner) readTreeAhead(ctx context.Context, p plan.Plan) *treeAhead {
	if p.Manual || r.GitHub == nil || p.Commit == "" {
		return nil
	}
	t := &treeAhead{}
	t.pending = start(func() (err error) {
		t.tree, err = r.GitHub.CommitTree(ctx, p.Commit)
		return err
	})
	return t
}

// readStagingSource reads in g what a promotion takes from staging: its app (the stack and the
// generation decide whether it can be promoted at all) and its current release. A staging app
// without a release sets *noRelease instead of failing g: that matters only when its release is
// promoted, not when prod builds the commit itself.
func (r *Runner) readStagingSource(ctx context.Context, g *errgroup.Group, stagingID string, app *heroku.App, release *heroku.Release, noRelease *error) {
	g.Go(func() (err error) {
		*app, err = r.Heroku.App(ctx, stagingID)
		return err
	})
	g.Go(func() (err error) {
		*release, err = r.Heroku.CurrentRelease(ctx, stagingID)
		if errors.Is(err, heroku.ErrNoRelease) {
			*noRelease = err
			return nil
		}
		return err
	})
}
