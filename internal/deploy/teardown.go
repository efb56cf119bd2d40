package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
)

func (r *Runner) teardown(ctx context.Context, p plan.Plan, res *Result) error {
	pipeline, err := r.Heroku.Pipeline(ctx, r.Config.Pipeline)
	if err != nil {
		return err
	}
	if r.Config.ReviewMode == config.ReviewModeAppSetup {
		return r.teardownAppSetup(ctx, p, pipeline, res)
	}
	if p.Sweep {
		return r.sweep(ctx, pipeline, res)
	}
	ra, err := r.findReviewApp(ctx, pipeline.ID, p.PR)
	if err != nil {
		return err
	}
	if ra == nil {
		r.Log.Noticef("Pull request #%d has no review app on %s: nothing to tear down", p.PR, pipeline.Name)
		return nil
	}
	return r.removeReviewApp(ctx, *ra, fmt.Sprintf("pull request #%d closed", p.PR), res)
}

func (r *Runner) removeReviewApp(ctx context.Context, ra heroku.ReviewApp, why string, res *Result) error {
	name := ra.AppID
	if ra.AppID != "" {
		if app, err := r.Heroku.App(ctx, ra.AppID); err == nil {
			name = app.Name
		}
	}
	if err := r.Heroku.DeleteReviewApp(ctx, ra.ID); err != nil {
		return err
	}
	r.Log.Infof("Deleted the review app %s of pull request #%d (%s)", name, ra.PRNumber, why)
	res.Removed = append(res.Removed, name)
	res.App = name
	res.Action = "deleted review app"
	return nil
}

// sweep removes review apps whose pull request is closed or, with review_ttl, that were not deployed
// for longer than that.
func (r *Runner) sweep(ctx context.Context, pipeline heroku.Pipeline, res *Result) error {
	apps, err := r.Heroku.ReviewApps(ctx, pipeline.ID)
	if err != nil {
		return err
	}
	var errs []error
	for _, ra := range apps {
		why := ""
		if ttl := r.Config.ReviewTTL; ttl > 0 && r.now().Sub(r.lastDeployed(ctx, ra)) > ttl {
			why = fmt.Sprintf("not deployed for more than %s", ttl)
		} else if r.GitHub != nil && ra.PRNumber != 0 {
			state, err := r.GitHub.PullRequestState(ctx, ra.PRNumber)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if state == "closed" {
				why = fmt.Sprintf("pull request #%d is closed", ra.PRNumber)
			}
		}
		if why == "" {
			continue
		}
		if err := r.removeReviewApp(ctx, ra, why, res); err != nil {
			errs = append(errs, err)
		}
	}
	if len(res.Removed) == 0 && len(errs) == 0 {
		r.Log.Noticef("No review app of %s is due for removal", pipeline.Name)
	}
	res.Action = fmt.Sprintf("removed %d review apps", len(res.Removed))
	return errors.Join(errs...)
}

// lastDeployed is when the review app was last deployed: its app's current release, which every
// build and config change makes anew (the review app record's updated_at changes only with its
// status, not with the builds the action makes on it later), as app-setup sweeps measure it. A
// review app without an app (it errored before Heroku made one) counts from its record's
// updated_at. When the release cannot be read, the app counts as just deployed: a sweep never
// deletes an app on a guess.
func (r *Runner) lastDeployed(ctx context.Context, ra heroku.ReviewApp) time.Time {
	if ra.AppID == "" {
		if ra.UpdatedAt.IsZero() {
			return r.now()
		}
		return ra.UpdatedAt
	}
	rel, err := r.Heroku.CurrentRelease(ctx, ra.AppID)
	if err != nil || rel.CreatedAt.IsZero() {
		return r.now()
	}
	return rel.CreatedAt
}
