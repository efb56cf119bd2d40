package deploy

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/sethvargo/go-githubactions"

	"github.com/pangeo-forge/deploy-action/internal/encryptcheck"
)

// checkSecrets is the check-secrets stage: the pre-commit hook's check over
// secrets_dir in the workspace, one error annotation per problem on the file
// it concerns. It reads files only (no key, no Heroku), so dry_run changes
// nothing about it; MACs are not verified, as a workflow rarely holds every
// deployment's keys (developers' local files are encrypted for their own).
func (r *Runner) checkSecrets(ctx context.Context, res *Result) error {
	var rep encryptcheck.Report
	err := r.phase(res, "check-secrets", func() error {
		var err error
		rep, err = encryptcheck.Check(ctx, r.workspace(), []string{filepath.Clean(r.Config.SecretsDir)}, encryptcheck.Options{})
		return err
	})
	if err != nil {
		return err
	}
	res.Action = fmt.Sprintf("checked %d secrets files in %s", len(rep.Files), r.Config.SecretsDir)
	for _, f := range rep.Findings {
		msg := f.What
		if f.Fix != "" {
			msg += " — " + f.Fix
		}
		if r.Log.InActions() {
			// Annotations on the file, shown in the PR's diff.
			githubactions.New(githubactions.WithWriter(r.Log.Writer())).
				WithFieldsMap(map[string]string{"file": f.Path, "title": "check-secrets"}).
				Errorf("%s", msg)
		} else {
			r.Log.Errorf("%s", f.String())
		}
	}
	if !rep.OK() {
		return fmt.Errorf("%s: every file in %s must be SOPS-encrypted (see the annotations above)", rep.Summary(), r.Config.SecretsDir)
	}
	r.Log.Infof("%s", rep.Summary())
	return nil
}
