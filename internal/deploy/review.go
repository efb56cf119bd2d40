package deploy

import (
	"context"
	"fmt"

	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
)

func (r *Runner) review(ctx context.Context, p plan.Plan, pipeline heroku.Pipeline, vars map[string]string, res *Result) error {
	if r.Config.ReviewMode == config.ReviewModeAppSetup {
		return r.reviewAppSetup(ctx, p, pipeline, vars, res)
	}
	if _, err := r.Heroku.ReviewAppConfig(ctx, pipeline.ID); err != nil {
		return err
	}
	existing, err := r.findReviewApp(ctx, pipeline.ID, p.PR)
	if err != nil {
		return err
	}
	if existing != nil {
		if existing.Status != "created" {
			// Another run's creation is under way: wait for it rather than make a second app.
			ra, err := r.Heroku.WaitReviewApp(ctx, existing.ID, nil)
			if err != nil {
				return err
			}
			existing = &ra
		}
		app, err := r.Heroku.App(ctx, existing.AppID)
		if err != nil {
			return err
		}
		r.Log.Infof("Updating the review app %s of pull request #%d", app.Name, p.PR)
		if err := r.buildOn(ctx, p, app, vars, res); err != nil {
			return err
		}
		res.Action = "updated review app"
		return r.finish(ctx, app, res, false)
	}

	archive, src, err := r.upload(ctx, res)
	if err != nil {
		return err
	}
	defer archive.Remove()
	env := make(map[string]string, len(vars)+1)
	for name, value := range vars {
		env[name] = value
	}
	changes, err := DiffVars(nil, vars)
	if err != nil {
		return err
	}
	env[ManagedVar] = changes.Managed
	var ra heroku.ReviewApp
	err = r.phase(res, "review app", func() error {
		r.Log.Infof("Creating a review app for pull request #%d (branch %s)", p.PR, p.Branch)
		created, err := r.Heroku.CreateReviewApp(ctx, heroku.ReviewAppCreate{
			PipelineID: pipeline.ID, Branch: p.Branch, PRNumber: p.PR,
			SourceURL: src.GetURL, Checksum: archive.SHA256, Version: p.Commit, Environment: env,
		})
		if err != nil {
			return err
		}
		end := r.Log.Group(fmt.Sprintf("Review app of pull request #%d: build and release", p.PR))
		ra, err = r.Heroku.WaitReviewApp(ctx, created.ID, r.output())
		end()
		res.BuildID = ra.BuildID
		return err
	})
	if err != nil {
		return err
	}
	res.VarsSet = changes.Set
	res.Action = "created review app"
	// Only the app's ID is known: finish reads the app with its release and domains.
	return r.finish(ctx, heroku.App{ID: ra.AppID}, res, true)
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
