package deploy

import (
	"fmt"

	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/plan"
)

// GitHubReads names the reads of the GitHub API that running p makes, each with why, in the order
// the run makes them; nil when it makes none. Without github_token they go out unauthenticated:
// GitHub answers them for a public repository and with 404 for a private one, which internal/cli
// checks before anything is written. Keep it in step with the callers of Runner.GitHub.
func GitHubReads(p plan.Plan, cfg config.Config) []string {
	if p.Skip != "" || cfg.DryRun {
		return nil // a dry run reads Heroku only
	}
	var reads []string
	if p.Approval != nil {
		reads = append(reads, "the /deploy-review approval reads the commenter's permission and the pull request's head")
		if p.Stage == plan.StageReview {
			reads = append(reads, "an approved review app reads the review_fallback secrets file on the default branch at GITHUB_SHA")
		}
	}
	switch p.Stage {
	case plan.StageReview:
		reads = append(reads, fmt.Sprintf("the copied-secrets check reads the staging and production secrets files on branches %s and %s", cfg.StagingBranch, cfg.ProdBranch))
		if p.PR != 0 && p.Commit != "" {
			reads = append(reads, fmt.Sprintf("the superseded check reads the head of pull request #%d before the build and after the release", p.PR))
		}
	case plan.StageTeardown:
		if p.Sweep {
			reads = append(reads, "the sweep reads whether each review app's pull request is closed")
		}
	}
	if (p.Stage == plan.StageStaging || p.Stage == plan.StageProd) && !p.Manual && p.Branch != "" && p.Commit != "" {
		reads = append(reads, fmt.Sprintf("the stale-deploy guard reads the head of branch %s (before the first write; staging: after the release too)", p.Branch))
	}
	if p.Stage == plan.StageProd && !p.Manual {
		reads = append(reads, "prod compares the pushed commit's tree with staging's when staging runs another commit")
	}
	return reads
}
