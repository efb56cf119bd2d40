package deploy

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/pangeo-forge/deploy-action/internal/plan"
	"github.com/pangeo-forge/deploy-action/internal/secrets"
)

// protectedFile is the staging or production secrets file as it is on its branch on GitHub.
type protectedFile struct {
	role   string // "staging", "production"
	input  string // the input that names the deployment: staging_name, prod_name
	branch string
	path   string // repository path, e.g. secrets/config.pangeo-forge.yaml
	keys   secrets.DataKeys
	absent bool // no such file (or branch) on GitHub: nothing to compare
	err    error
}

// readProtected starts reading the staging and production secrets files from their branches
// (staging_branch, prod_branch) through the GitHub API, concurrently with each other and with what
// the review run does meanwhile (decryption, the pipeline lookup); the answer arrives on the
// returned channel. The files are read from GitHub, never from the checkout, which the pull
// request's author wrote, nor from the pull request's base, which its author chooses.
func (r *Runner) readProtected(ctx context.Context) <-chan []protectedFile {
	cfg := r.Config
	dir := filepath.ToSlash(filepath.Clean(cfg.SecretsDir))
	files := []protectedFile{
		{role: "staging", input: "staging_name", branch: cfg.StagingBranch},
		{role: "production", input: "prod_name", branch: cfg.ProdBranch},
	}
	templates := []string{cfg.StagingName, cfg.ProdName}
	out := make(chan []protectedFile, 1)
	done := make(chan int, len(files))
	for i := range files {
		f := &files[i]
		name, err := plan.Name(templates[i], map[string]string{"branch": f.branch})
		if err != nil {
			f.err = fmt.Errorf("input %s does not name one file (%w), so a review file cannot be compared with it", f.input, err)
			done <- i
			continue
		}
		f.path = path.Join(dir, secrets.FileName(name))
		if r.GitHub == nil {
			f.err = errors.New("GITHUB_REPOSITORY is not set, so the action cannot read it from GitHub")
			done <- i
			continue
		}
		go func() {
			data, found, err := r.GitHub.FileAt(ctx, f.path, f.branch)
			switch {
			case err != nil:
				f.err = err
			case !found:
				f.absent = true
			default:
				f.keys, f.err = secrets.ParseDataKeys(f.path, data)
			}
			done <- i
		}()
	}
	go func() {
		for range files {
			<-done
		}
		out <- files
	}()
	return out
}

// refuseCopiedSecrets refuses a review run whose secrets file (its own or the review fallback's,
// whichever was decrypted: deployment) shares a data key with the staging or production file as
// it is on its branch. A pull request that adds a byte copy of the production file under the
// review name (or writes it over the fallback) would otherwise get production's credentials
// decrypted into a review app running its own code: sops's MAC does not cover the file's name.
// Any doubt (a read that failed, a file that cannot be parsed) refuses too: the check runs before
// the first write to Heroku.
func (r *Runner) refuseCopiedSecrets(ctx context.Context, deployment string, protected <-chan []protectedFile) error {
	dir := r.SecretsDir.Path
	if dir == "" {
		dir = filepath.Join(r.workspace(), r.Config.SecretsDir)
	}
	shown := path.Join(filepath.ToSlash(filepath.Clean(r.Config.SecretsDir)), secrets.FileName(deployment))
	var review secrets.DataKeys
	var err error
	if r.approvedFile != nil {
		review, err = secrets.ParseDataKeys(shown, r.approvedFile) // read from GitHub, not the checkout
	} else {
		review, err = secrets.ReadDataKeys(dir, deployment)
	}
	if err != nil {
		return fmt.Errorf("refusing to deploy the review app: cannot read the data keys of %s to compare them with the staging and production files: %w", shown, err)
	}
	var files []protectedFile
	select {
	case files = <-protected:
	case <-ctx.Done():
		return ctx.Err()
	}
	var compared, absent []string
	for _, f := range files {
		where := fmt.Sprintf("%s on branch %s", f.path, f.branch)
		if f.path == "" {
			where = fmt.Sprintf("of input %s on branch %s", f.input, f.branch)
		}
		switch {
		case f.err != nil:
			return fmt.Errorf("refusing to deploy the review app: could not read the %s secrets file %s from GitHub, which every review run compares %s with so that a copy of it is never decrypted into a review app: %w; the github_token needs contents: read (see docs/github.md); rerun the job once GitHub answers",
				f.role, where, shown, f.err)
		case f.absent:
			absent = append(absent, where)
			continue
		}
		if shared := review.Shared(f.keys); len(shared) > 0 {
			return fmt.Errorf("refusing %s: it shares its data key with %s, the %s secrets file (the same encrypted data key for %s), so a review app would get %s's credentials; "+
				"a review file made by copying another deployment's file and editing it keeps that file's data key: run `sops rotate -i %s` to give it its own (and encrypt it for the review key only, see the README's per-environment keys)",
				shown, where, f.role, strings.Join(shared, ", "), f.role, shown)
		}
		compared = append(compared, where)
	}
	if len(compared) > 0 {
		r.Log.Infof("Checked that %s shares no data key with %s", shown, strings.Join(compared, " or "))
	}
	for _, a := range absent {
		r.Log.Infof("No %s on GitHub: nothing to compare %s with there", a, shown)
	}
	return nil
}
