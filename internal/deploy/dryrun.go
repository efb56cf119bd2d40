package deploy

import (
	"context"

	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/plan"
)

// dryRun prints the plan and what it would do, reading but never writing, and decrypting nothing.
func (r *Runner) dryRun(ctx context.Context, p plan.Plan, res *Result) error {
	r.Log.Infof("Dry run: stage %s, deployment %s, commit %s", p.Stage, p.Deployment, orNone(p.Commit))
	if p.Stage == plan.StageRollback {
		apps, err := r.rollbackApps(ctx)
		if err != nil {
			return err
		}
		for i, app := range apps {
			rp, err := r.planRollback(ctx, app)
			if err != nil {
				return err
			}
			if i == 0 {
				res.App, res.AppURL = rp.app.Name, rp.app.WebURL
			}
			r.describeRollback(rp, res)
			if rp.target.ID != rp.current.ID {
				r.Log.Infof("Dry run: would roll %s back to v%d", rp.app.Name, rp.target.Version)
			}
		}
		return nil
	}
	pipeline, err := r.Heroku.Pipeline(ctx, r.Config.Pipeline)
	if err != nil {
		return err
	}
	// A dry run says what the run would refuse, as the run would.
	if err := r.refuseOnFir(p, pipeline); err != nil {
		return err
	}
	if p.Stage == plan.StageTest || r.gatedByTests(p) {
		r.Log.Infof("Dry run: would run the Heroku CI tests of %s on %s", short(p.Commit), pipeline.Name)
	}
	switch p.Stage {
	case plan.StageStaging, plan.StageProd:
		stage := map[plan.Stage]string{plan.StageStaging: "staging", plan.StageProd: "production"}[p.Stage]
		couplings, err := r.Heroku.AppIDsAtStage(ctx, pipeline.ID, stage)
		if err != nil {
			return err
		}
		for i, c := range couplings {
			app, err := r.Heroku.App(ctx, c.App.ID)
			if err != nil {
				return err
			}
			if i == 0 {
				res.App, res.AppURL = app.Name, app.WebURL
			}
			r.Log.Infof("Dry run: would deploy %s to %s (%s)", short(p.Commit), app.Name, app.WebURL)
			if r.usesMaintenance(p) {
				r.dryRunMaintenance(app)
			}
		}
	case plan.StageReview, plan.StageTeardown:
		if r.Config.ReviewMode == config.ReviewModeAppSetup {
			return r.dryRunAppSetup(ctx, p, pipeline, res)
		}
		if p.Sweep {
			r.Log.Infof("Dry run: would remove review apps of closed pull requests on %s", pipeline.Name)
			break
		}
		ra, err := r.findReviewApp(ctx, pipeline.ID, p.PR)
		if err != nil {
			return err
		}
		if ra != nil {
			if app, err := r.Heroku.App(ctx, ra.AppID); err == nil {
				res.App, res.AppURL = app.Name, app.WebURL
			}
		}
		verb := map[bool]string{true: "update", false: "create"}[ra != nil]
		if p.Stage == plan.StageTeardown {
			verb = "delete"
		}
		r.Log.Infof("Dry run: would %s the review app of pull request #%d", verb, p.PR)
	}
	return nil
}
