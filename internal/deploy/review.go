package deploy

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
	"golang.org/x/sync/errgroup"
)

func (r *Runner) review(ctx context.Context, p plan.Plan, pipeline heroku.Pipeline, vars map[string]string, res *Result) error {
	if r.Config.ReviewMode == config.ReviewModeAppSetup {
		return r.reviewAppSetup(ctx, p, pipeline, vars, res)
	}
	// The review app configuration and the pipeline's review apps are read at once: both need
	// only the pipeline. The head check before the first write to the app (headBeforeBuild) goes
	// out with them.
	head := sync.OnceValue(r.headBeforeBuild(ctx, p))
	var (
		cfg      heroku.ReviewAppConfig
		existing *heroku.ReviewApp
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		cfg, err = r.Heroku.ReviewAppConfig(gctx, pipeline.ID)
		return err
	})
	g.Go(func() (err error) {
		existing, err = r.findReviewApp(gctx, pipeline.ID, p.PR)
		return err
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if cfg.Automatic {
		return automaticReviewApps(pipeline, p.PR)
	}
	if existing != nil && existing.Status == "errored" {
		if err := r.replaceErrored(ctx, *existing, res); err != nil {
			return err
		}
		existing = nil
	}
	if existing != nil {
		return r.updateReviewApp(ctx, p, *existing, vars, head, res)
	}
	return r.createReviewApp(ctx, p, pipeline, vars, head, res)
}

// automaticReviewApps is the refusal of a pipeline whose review app configuration creates review
// apps itself: Heroku and the action would race to create the pull request's app, and Heroku's
// would build the branch head (not necessarily the commit deployed) without the decrypted config
// vars. Refusing before any write is the one outcome that never reports an app the user did not
// get (README, "Review apps").
func automaticReviewApps(pipeline heroku.Pipeline, pr int) error {
	return fmt.Errorf("pipeline %s creates review apps automatically (review app setting automatic_review_apps), so Heroku would create pull request #%d's app itself, from the branch head and without the decrypted config vars, racing deploy-action: turn it off (Heroku Dashboard: pipeline %s, Settings, Review Apps, uncheck \"Create new review apps for new pull requests automatically\"; or heroku reviewapps:disable --pipeline %s --no-autodeploy) and run again; nothing was changed on Heroku", pipeline.Name, pr, pipeline.Name, pipeline.Name)
}

// replaceErrored deletes a review app that errored and waits until Heroku reports it deleted:
// until then a new review app for the pull request would be answered 409, and an errored one is
// never usable again (Heroku offers no way to retry it).
func (r *Runner) replaceErrored(ctx context.Context, ra heroku.ReviewApp, res *Result) error {
	why := ra.Message
	if why == "" {
		why = "no reason given"
	}
	note := fmt.Sprintf("the review app of pull request #%d had errored (Heroku: %s): deleted it to create a new one", ra.PRNumber, why)
	r.Log.Noticef("%s", note)
	res.Notes = append(res.Notes, note)
	return r.phase(res, "replace errored review app", func() error {
		if err := r.Heroku.DeleteReviewApp(ctx, ra.ID); err != nil {
			return fmt.Errorf("the review app of pull request #%d errored and could not be deleted; delete it in the Heroku Dashboard (pipeline, Review Apps) and run again: %w", ra.PRNumber, err)
		}
		if err := r.Heroku.WaitReviewAppDeleted(ctx, ra.ID); err != nil {
			return fmt.Errorf("the errored review app of pull request #%d is being deleted but Heroku did not report it deleted in time; run again once it is gone: %w", ra.PRNumber, err)
		}
		return nil
	})
}

// updateReviewApp brings an existing review app to the commit: config vars first, then a build
// (none when it already runs the commit).
func (r *Runner) updateReviewApp(ctx context.Context, p plan.Plan, ra heroku.ReviewApp, vars map[string]string, head func() error, res *Result) error {
	if ra.Status != "created" {
		// Another run's creation is under way: wait for it rather than make a second app.
		waited, err := r.Heroku.WaitReviewApp(ctx, ra.ID, nil)
		if err != nil {
			return nextRunReplaces(err, p.PR)
		}
		ra = waited
	}
	// Known by its ID: buildOnState names it from its current release (read at once with its config
	// vars), finish reads its URL from its domains, so the app itself is not read.
	st, err := r.readTarget(ctx, ra.AppID)
	if err != nil {
		return err
	}
	r.Log.Infof("Updating the review app of pull request #%d", p.PR)
	if err := r.buildOnState(ctx, p, heroku.App{ID: ra.AppID}, st, head, vars, res); err != nil {
		return err
	}
	res.Action = "updated review app"
	return r.finish(ctx, heroku.App{ID: ra.AppID, Name: res.App, WebURL: res.AppURL}, res, false)
}

// createReviewApp creates the pull request's review app with the config vars as its environment.
// When Heroku answers that one exists already (made meanwhile by another run or by hand), that
// one never received this run's environment: an errored one is replaced, any other is updated
// like an existing app, so that the config vars reported are the ones Heroku holds.
func (r *Runner) createReviewApp(ctx context.Context, p plan.Plan, pipeline heroku.Pipeline, vars map[string]string, head func() error, res *Result) error {
	archive, src, err := r.upload(ctx, res)
	if err != nil {
		return err
	}
	kept := false
	defer func() {
		if !kept {
			archive.Remove()
		}
	}()
	if err := head(); err != nil {
		return err
	}
	env := make(map[string]string, len(vars)+1)
	for name, value := range vars {
		env[name] = value
	}
	changes, err := DiffVars(nil, vars)
	if err != nil {
		return err
	}
	env[ManagedVar] = changes.Managed
	create := heroku.ReviewAppCreate{
		PipelineID: pipeline.ID, Branch: p.Branch, PRNumber: p.PR,
		SourceURL: src.GetURL, Checksum: archive.SHA256, Version: p.Commit, Environment: env,
		ForkRepoID: p.ForkRepoID, // a fork's pull request approved with /deploy-review
	}
	var (
		ra      heroku.ReviewApp
		adopted *heroku.ReviewApp
	)
	err = r.phase(res, "review app", func() error {
		r.Log.Infof("Creating a review app for pull request #%d (branch %s)", p.PR, p.Branch)
		created, err := r.Heroku.CreateReviewApp(ctx, create)
		if err == nil && created.Adopted && created.Status == "errored" {
			// Made and errored meanwhile: replace it, once.
			if err := r.replaceErrored(ctx, created, res); err != nil {
				return err
			}
			r.Log.Infof("Creating a new review app for pull request #%d", p.PR)
			created, err = r.Heroku.CreateReviewApp(ctx, create)
		}
		if err != nil {
			return err
		}
		if created.Adopted {
			adopted = &created
			return nil
		}
		end := r.Log.Group(fmt.Sprintf("Review app of pull request #%d: build and release", p.PR))
		ra, err = r.Heroku.WaitReviewApp(ctx, created.ID, r.output())
		end()
		res.BuildID = ra.BuildID
		return nextRunReplaces(err, p.PR)
	})
	if err != nil {
		return err
	}
	if adopted != nil {
		note := fmt.Sprintf("pull request #%d got a review app meanwhile that this run did not create (another run, or one made by hand): building %s on it with this run's config vars", p.PR, short(p.Commit))
		r.Log.Noticef("%s", note)
		res.Notes = append(res.Notes, note)
		kept = true
		r.keepUpload(archive, src) // the build on the adopted app uses the source uploaded above
		return r.updateReviewApp(ctx, p, *adopted, vars, head, res)
	}
	res.VarsSet = changes.Set
	res.Action = "created review app"
	r.settleAfter(p, ra.AppID, heroku.Release{})
	// Only the app's ID is known: finish reads the app with its release and domains.
	return r.finish(ctx, heroku.App{ID: ra.AppID}, res, true)
}

// nextRunReplaces says, on a review app that ended errored, what the next run does about it.
func nextRunReplaces(err error, pr int) error {
	var failed *heroku.FailedError
	if errors.As(err, &failed) && failed.Status == "errored" {
		return fmt.Errorf("%w\nthe next run on pull request #%d deletes the errored review app and creates a new one", err, pr)
	}
	return err
}

func (r *Runner) findReviewApp(ctx context.Context, pipelineID string, pr int) (*heroku.ReviewApp, error) {
	apps, err := r.Heroku.ReviewApps(ctx, pipelineID)
	if err != nil {
		return nil, err
	}
	for i := range apps {
		// One being deleted is gone already: a rerun of the teardown has nothing left to do.
		if apps[i].PRNumber == pr && apps[i].Status != "deleting" && apps[i].Status != "deleted" {
			return &apps[i], nil
		}
	}
	return nil, nil
}
