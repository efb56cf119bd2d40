package deploy

import (
	"fmt"

	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
)

// Heroku's Fir generation builds OCI images instead of slugs, which the flows follow through
// Release.CodeID and Heroku.Code. What Fir does not offer is refused here, right after the
// pipeline is read and before any write to Heroku (docs/heroku.md, "Fir", has the sources).

// refuseOnFir says why the run cannot do what it is asked on the pipeline's generation, nil when
// it can: Heroku CI (heroku_ci, stage test) and review_mode app-setup are not available on a Fir
// pipeline.
func (r *Runner) refuseOnFir(p plan.Plan, pipeline heroku.Pipeline) error {
	if pipeline.Generation != heroku.Fir {
		return nil
	}
	if p.Stage == plan.StageTest || r.gatedByTests(p) {
		input := "heroku_ci: true"
		if p.Stage == plan.StageTest {
			input = "stage: test"
		}
		return fmt.Errorf("heroku ci: pipeline %s is of Heroku's Fir generation, and Heroku CI is not available for Fir-generation pipelines (Dev Center, Heroku CI: \"currently unavailable for Fir-generation pipelines\"): nothing was changed; drop %s and run the tests in the workflow itself", pipeline.Name, input)
	}
	if p.Stage == plan.StageReview && r.Config.ReviewMode == config.ReviewModeAppSetup {
		return fmt.Errorf("review_mode app-setup: pipeline %s is of Heroku's Fir generation, and the app setup the action makes creates a Cedar-generation app (Fir apps exist only in Fir private spaces, which an app setup without a space does not use), which Heroku does not couple to a Fir pipeline: a pipeline's apps are all of its generation; nothing was changed: use review_mode: review-app, Heroku's review apps, which Fir pipelines support (Dev Center, Review Apps)", pipeline.Name)
	}
	return nil
}

// codeNoun names what a release runs: a slug on Cedar, an OCI image on Fir.
func codeNoun(rel heroku.Release) string {
	if rel.SlugID == "" && rel.ImageID != "" {
		return "OCI image"
	}
	return "slug"
}
