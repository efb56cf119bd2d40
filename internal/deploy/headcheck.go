package deploy

import (
	"context"
	"fmt"

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
