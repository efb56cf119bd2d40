// Command naiveclient is the baseline of the critical-path benchmark (docs/performance.md, section 1):
// a client that performs the same steps as the action for each stage of the lifecycle, one request
// at a time, in the obvious order, following a build's output stream and polling a release (a review
// app, a promotion's release) every 150 ms. It reads the environment the Actions runner gives the
// action (inputs, event, workspace) and decrypts the same secrets file, so that its start costs what
// the action's does. It is a test tool, never part of the action's image.
//
// It reports nothing beyond its exit code (0: the stage's deploy succeeded) and a line on standard
// error when it failed.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/deploy"
	"github.com/pangeo-forge/deploy-action/internal/event"
	"github.com/pangeo-forge/deploy-action/internal/gh"
	"github.com/pangeo-forge/deploy-action/internal/gitrepo"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
	"github.com/pangeo-forge/deploy-action/internal/sandbox"
	"github.com/pangeo-forge/deploy-action/internal/secrets"
	"github.com/pangeo-forge/deploy-action/internal/source"
)

// pollEvery is the naive client's poll interval for anything without an output stream to follow.
const pollEvery = 150 * time.Millisecond

func main() {
	if err := run(context.Background(), os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "naiveclient:", err)
		os.Exit(1)
	}
}

type client struct {
	cfg  config.Config
	p    plan.Plan
	hk   *heroku.Client
	gh   *gh.Client
	vars map[string]string
}

func run(ctx context.Context, getenv func(string) string) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	t, err := event.Load(cfg.GitHub.EventName, cfg.GitHub.EventPath)
	if err != nil {
		return err
	}
	p, err := plan.Resolve(cfg, t)
	if err != nil {
		return err
	}
	c := &client{cfg: cfg, p: p}
	// Retries and the rate limit as the action has them; polls are the naive client's own.
	c.hk = heroku.New(heroku.Options{BaseURL: cfg.HerokuAPIURL, Token: cfg.HerokuAPIKey, HTTPClient: &http.Client{}, UserAgent: "naiveclient"})
	if c.gh, err = gh.New(cfg.GitHub.APIURL, cfg.GitHubToken, cfg.GitHub.Repository, &http.Client{}); err != nil {
		return err
	}
	if p.Stage != plan.StageTeardown {
		loaded, err := secrets.LoadVars(ctx, filepath.Join(cfg.GitHub.Workspace, cfg.SecretsDir), p.Deployment, secrets.Options{Getenv: getenv})
		if err != nil {
			return err
		}
		c.vars = loaded.Values
		c.vars[cfg.DeploymentVar] = p.Deployment
	}
	sha := p.Commit
	if sha == "" && t.PR != nil {
		sha = t.PR.HeadSHA
	}
	checkName := "deploy-action/" + string(p.Stage)
	checkID, err := c.gh.CreateCheckRun(ctx, gh.CheckRun{Name: checkName, HeadSHA: sha, Status: "in_progress"})
	if err != nil {
		return err
	}
	var deploymentID int64
	if p.Stage != plan.StageTeardown {
		if deploymentID, err = c.gh.EnsureDeployment(ctx, gh.Deployment{SHA: sha, Environment: p.Deployment, Transient: p.Stage == plan.StageReview, Production: p.Stage == plan.StageProd}); err != nil {
			return err
		}
	}
	var url string
	switch p.Stage {
	case plan.StageReview:
		url, err = c.review(ctx)
	case plan.StageStaging:
		url, err = c.staging(ctx)
	case plan.StageProd:
		url, err = c.prod(ctx)
	case plan.StageTeardown:
		err = c.teardown(ctx)
	default:
		err = fmt.Errorf("stage %s is not in the benchmark", p.Stage)
	}
	if err != nil {
		return err
	}
	out := &gh.CheckOutput{Title: "Deployed", Summary: "Deployed " + p.Deployment}
	if err := c.gh.UpdateCheckRun(ctx, checkID, gh.CheckRun{Name: checkName, Conclusion: "success", Output: out}); err != nil {
		return err
	}
	if deploymentID != 0 {
		if err := c.gh.SetDeploymentStatus(ctx, deploymentID, gh.DeploymentStatus{State: "success", EnvironmentURL: url}); err != nil {
			return err
		}
	}
	if p.PR != 0 {
		return c.comment(ctx, url)
	}
	return nil
}

// comment writes the pull request's comment: found among the comments, edited or created.
func (c *client) comment(ctx context.Context, url string) error {
	const marker = "<!-- naiveclient -->"
	body := marker + "\nReview app: " + url
	id, err := c.gh.FindComment(ctx, c.p.PR, marker)
	if err != nil {
		return err
	}
	if id != 0 {
		return c.gh.EditComment(ctx, id, body)
	}
	if c.p.Stage == plan.StageTeardown {
		return nil
	}
	_, err = c.gh.CreateComment(ctx, c.p.PR, body)
	return err
}

// copyCheck reads the staging and production secrets files, as a review run compares its own with them.
func (c *client) copyCheck(ctx context.Context) error {
	for _, f := range []struct{ name, ref string }{{sandbox.StagingSecrets, c.cfg.StagingBranch}, {sandbox.ProdSecrets, c.cfg.ProdBranch}} {
		if _, _, err := c.gh.FileAt(ctx, path.Join(c.cfg.SecretsDir, f.name), f.ref); err != nil {
			return err
		}
	}
	return nil
}

// guard is the stale-deploy guard: the pushed commit must still be its branch's head.
func (c *client) guard(ctx context.Context) error {
	head, err := c.gh.BranchHead(ctx, c.p.Branch)
	if err != nil {
		return err
	}
	if head != c.p.Commit {
		return fmt.Errorf("%s is no longer the head of %s", c.p.Commit, c.p.Branch)
	}
	return nil
}

func (c *client) upload(ctx context.Context) (*source.Archive, heroku.Source, error) {
	tracked, err := gitrepo.TrackedFiles(c.cfg.GitHub.Workspace)
	if err != nil {
		return nil, heroku.Source{}, err
	}
	a, err := source.Pack(ctx, c.cfg.GitHub.Workspace, "", source.Selection{Tracked: tracked})
	if err != nil {
		return nil, heroku.Source{}, err
	}
	f, err := a.Open()
	if err != nil {
		return nil, heroku.Source{}, err
	}
	defer f.Close()
	src, err := c.hk.UploadSource(ctx, f, a.Size)
	return a, src, err
}

// applyVars reads the app's config vars and sends what changed.
func (c *client) applyVars(ctx context.Context, appID string) error {
	current, err := c.hk.ConfigVars(ctx, appID)
	if err != nil {
		return err
	}
	changes, err := deploy.DiffVars(current, c.vars)
	if err != nil {
		return err
	}
	if len(changes.Patch) == 0 {
		return nil
	}
	return c.hk.UpdateConfigVars(ctx, appID, changes.Patch)
}

// runsCommit is the rerun check: the app's current release and the commit its slug was built from.
func (c *client) runsCommit(ctx context.Context, appID string) (bool, error) {
	rel, err := c.hk.CurrentRelease(ctx, appID)
	if errors.Is(err, heroku.ErrNoRelease) {
		return false, nil
	}
	if err != nil || rel.SlugID == "" {
		return false, err
	}
	slug, err := c.hk.Slug(ctx, appID, rel.SlugID)
	return err == nil && slug.Commit == c.p.Commit, err
}

// build uploads the source, builds it on the app, follows the build's output stream, and polls
// the build's release every 150 ms until it is no longer pending.
func (c *client) build(ctx context.Context, appID string) error {
	a, src, err := c.upload(ctx)
	if err != nil {
		return err
	}
	defer a.Remove()
	b, err := c.hk.CreateBuild(ctx, appID, heroku.BuildCreate{SourceURL: src.GetURL, Checksum: a.SHA256, Version: c.p.Commit})
	if err != nil {
		return err
	}
	if b, err = c.hk.WaitBuild(ctx, appID, b.ID, io.Discard); err != nil {
		return err
	}
	return c.pollRelease(ctx, appID, b.ReleaseID)
}

func (c *client) pollRelease(ctx context.Context, appID, id string) error {
	for {
		rel, err := c.hk.Release(ctx, appID, id)
		if err != nil {
			return err
		}
		switch rel.Status {
		case "succeeded":
			return nil
		case "failed":
			return fmt.Errorf("release v%d failed", rel.Version)
		}
		time.Sleep(pollEvery)
	}
}

// deployOn is a build on an existing app: its name and URL, config vars, the rerun check, the build,
// and the domains for the summary.
func (c *client) deployOn(ctx context.Context, appID string) (string, error) {
	app, err := c.hk.App(ctx, appID)
	if err != nil {
		return "", err
	}
	if err := c.applyVars(ctx, appID); err != nil {
		return "", err
	}
	same, err := c.runsCommit(ctx, appID)
	if err != nil {
		return "", err
	}
	if !same {
		if err := c.build(ctx, appID); err != nil {
			return "", err
		}
	}
	_, err = c.hk.Domains(ctx, appID)
	return app.WebURL, err
}

func (c *client) staging(ctx context.Context) (string, error) {
	pipeline, err := c.hk.Pipeline(ctx, c.cfg.Pipeline)
	if err != nil {
		return "", err
	}
	if err := c.guard(ctx); err != nil {
		return "", err
	}
	appID, err := c.hk.AppIDAtStage(ctx, pipeline.ID, "staging")
	if err != nil {
		return "", err
	}
	return c.deployOn(ctx, appID)
}

func (c *client) review(ctx context.Context) (string, error) {
	if err := c.copyCheck(ctx); err != nil {
		return "", err
	}
	pipeline, err := c.hk.Pipeline(ctx, c.cfg.Pipeline)
	if err != nil {
		return "", err
	}
	if _, err := c.hk.ReviewAppConfig(ctx, pipeline.ID); err != nil {
		return "", err
	}
	apps, err := c.hk.ReviewApps(ctx, pipeline.ID)
	if err != nil {
		return "", err
	}
	for _, ra := range apps {
		if ra.PRNumber == c.p.PR && ra.Status == "created" {
			return c.deployOn(ctx, ra.AppID)
		}
	}
	a, src, err := c.upload(ctx)
	if err != nil {
		return "", err
	}
	defer a.Remove()
	changes, err := deploy.DiffVars(nil, c.vars)
	if err != nil {
		return "", err
	}
	env := map[string]string{deploy.ManagedVar: changes.Managed}
	for k, v := range c.vars {
		env[k] = v
	}
	ra, err := c.hk.CreateReviewApp(ctx, heroku.ReviewAppCreate{
		PipelineID: pipeline.ID, Branch: c.p.Branch, PRNumber: c.p.PR,
		SourceURL: src.GetURL, Checksum: a.SHA256, Version: c.p.Commit, Environment: env,
	})
	if err != nil {
		return "", err
	}
	for ra.Status != "created" {
		if ra.Status == "errored" {
			return "", fmt.Errorf("review app errored: %s", ra.Message)
		}
		time.Sleep(pollEvery)
		if ra, err = c.hk.ReviewApp(ctx, ra.ID); err != nil {
			return "", err
		}
	}
	app, err := c.hk.App(ctx, ra.AppID)
	if err != nil {
		return "", err
	}
	if _, err := c.hk.CurrentRelease(ctx, ra.AppID); err != nil {
		return "", err
	}
	_, err = c.hk.Domains(ctx, ra.AppID)
	return app.WebURL, err
}

func (c *client) prod(ctx context.Context) (string, error) {
	pipeline, err := c.hk.Pipeline(ctx, c.cfg.Pipeline)
	if err != nil {
		return "", err
	}
	if err := c.guard(ctx); err != nil {
		return "", err
	}
	stagingID, err := c.hk.AppIDAtStage(ctx, pipeline.ID, "staging")
	if err != nil {
		return "", err
	}
	prodID, err := c.hk.AppIDAtStage(ctx, pipeline.ID, "production")
	if err != nil {
		return "", err
	}
	if _, err := c.hk.App(ctx, stagingID); err != nil { // its stack
		return "", err
	}
	rel, err := c.hk.CurrentRelease(ctx, stagingID)
	if err != nil {
		return "", err
	}
	slug, err := c.hk.Slug(ctx, stagingID, rel.SlugID)
	if err != nil {
		return "", err
	}
	if slug.Commit != c.p.Commit {
		// Staging runs another commit: promote only when the trees are the same.
		pushed, err := c.gh.CommitTree(ctx, c.p.Commit)
		if err != nil {
			return "", err
		}
		staged, err := c.gh.CommitTree(ctx, slug.Commit)
		if err != nil {
			return "", err
		}
		if pushed != staged {
			return "", fmt.Errorf("staging runs %s, whose tree differs from %s", slug.Commit, c.p.Commit)
		}
	}
	previous, err := c.hk.CurrentRelease(ctx, prodID)
	if err != nil && !errors.Is(err, heroku.ErrNoRelease) {
		return "", err
	}
	if err := c.applyVars(ctx, prodID); err != nil {
		return "", err
	}
	if _, err := c.hk.Promote(ctx, pipeline.ID, stagingID, rel.ID, []string{prodID}); err != nil {
		return "", err
	}
	// The promoted release: the newest one above the version prod ran, polled every 150 ms.
	for {
		list, err := c.hk.Releases(ctx, prodID, 1)
		if err != nil {
			return "", err
		}
		if len(list) > 0 && list[0].Version > previous.Version && list[0].SlugID == rel.SlugID {
			if err := c.pollRelease(ctx, prodID, list[0].ID); err != nil {
				return "", err
			}
			break
		}
		time.Sleep(pollEvery)
	}
	domains, err := c.hk.Domains(ctx, prodID)
	return heroku.WebURL(domains), err
}

func (c *client) teardown(ctx context.Context) error {
	pipeline, err := c.hk.Pipeline(ctx, c.cfg.Pipeline)
	if err != nil {
		return err
	}
	apps, err := c.hk.ReviewApps(ctx, pipeline.ID)
	if err != nil {
		return err
	}
	for _, ra := range apps {
		if ra.PRNumber != c.p.PR || ra.Status == "deleting" || ra.Status == "deleted" {
			continue
		}
		if _, err := c.hk.App(ctx, ra.AppID); err != nil {
			return err
		}
		if err := c.hk.DeleteReviewApp(ctx, ra.ID); err != nil {
			return err
		}
		ids, err := c.gh.Deployments(ctx, c.p.Deployment)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := c.gh.SetDeploymentStatus(ctx, id, gh.DeploymentStatus{State: "inactive"}); err != nil {
				return err
			}
		}
	}
	return nil
}
