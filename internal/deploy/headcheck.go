package deploy

import (
	"context"
	"errors"
	"fmt"

	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
)

// staleSkip is the head check (the stale-deploy guard): a push-triggered staging or prod run whose commit is no
// longer the head of its branch must not overwrite the newer release the run for the newer push
// makes (or made already: runs of two quick pushes can finish in either order). It returns the
// notice saying why the run skips, "" when the run goes on. Manual runs deploy what they are told.
func (r *Runner) staleSkip(ctx context.Context, p plan.Plan) (string, error) {
	if (p.Stage != plan.StageStaging && p.Stage != plan.StageProd) || p.Manual || p.Branch == "" || p.Commit == "" || r.GitHub == nil {
		return "", nil
	}
	head, err := r.GitHub.BranchHead(ctx, p.Branch)
	if err != nil {
		return "", fmt.Errorf("could not check that %s is still the head of branch %s, which keeps an older push from overwriting a newer release: %w", short(p.Commit), p.Branch, err)
	}
	if head == p.Commit {
		return "", nil
	}
	return fmt.Sprintf("%s is no longer the head of %s (a newer push, %s, exists): not deploying it over the newer commit's release; the run of %s deploys that one", short(p.Commit), p.Branch, short(head), short(head)), nil
}

// skip ends a run that decided, once under way, that there is nothing to do: the notice is in the
// log, the summary and the check run (concluded neutral).
func (r *Runner) skip(res *Result, notice string) error {
	r.Log.Noticef("%s", notice)
	res.Skipped = notice
	res.Notes = append(res.Notes, notice)
	return nil
}

// currentCode reads what app runs before the run writes to it: its current release and that
// release's slug, with the commit its code was built from ("" when Heroku does not say) and its
// process types (a release process is a release phase: maintenance.go). A release of the commit being
// deployed means a rerun of the same commit (a re-run workflow, a retried job): nothing is built
// again, as a second build would make a second, identical release and restart the dynos for
// nothing. The release is also what a failed run measures the app's state against (aim). An app
// that never released yields a zero release.
func (r *Runner) currentCode(ctx context.Context, app heroku.App) (heroku.Release, heroku.Slug, error) {
	rel, err := r.Heroku.CurrentRelease(ctx, app.ID)
	if errors.Is(err, heroku.ErrNoRelease) {
		return heroku.Release{}, heroku.Slug{}, nil
	}
	if err != nil || rel.CodeID() == "" {
		return rel, heroku.Slug{}, err
	}
	// Cedar's commit is its slug's, Fir's its OCI image's.
	slug, err := r.Heroku.Code(ctx, app.ID, rel)
	if err != nil {
		return heroku.Release{}, heroku.Slug{}, err
	}
	return rel, slug, nil
}
