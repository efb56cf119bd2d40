package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
)

// review_mode app-setup: for pipelines without Heroku's GitHub integration, the action makes each
// pull request's app itself with an app setup (app.json's add-ons, env and postdeploy script), names
// it after the review deployment and couples it to the pipeline's development stage. Name and
// coupling together are how a later run recognises an app as one it made: it never builds on,
// nor deletes, an app that lacks either.

// devStage is the pipeline stage the action couples pull request apps to. Review is Heroku's own:
// its review apps live there, and Heroku may treat apps coupled there as its own.
const devStage = "development"

// cleanupTimeout bounds the deletion of an app whose setup failed: it runs even when the run's
// context has ended, which is the usual reason a setup does not finish.
const cleanupTimeout = 30 * time.Second

// checkAppSetupName checks the pull request app's name against Heroku's rules, so that a
// review_name Heroku would refuse fails the run before anything is decrypted or sent.
func checkAppSetupName(name string) error {
	if err := heroku.CheckAppName(name); err != nil {
		return fmt.Errorf("review_mode app-setup names each pull request's Heroku app after its review deployment, and %w: change the review_name input so that it gives 3 to 30 lower-case letters, digits and dashes, starting with a letter, e.g. pforge-pr-{pr}", err)
	}
	return nil
}

// prApp finds the app called name and tells whether the action made it: coupled to this pipeline
// at the development stage. app is nil when no app has that name.
func (r *Runner) prApp(ctx context.Context, pipeline heroku.Pipeline, name string) (app *heroku.App, ours bool, err error) {
	a, err := r.Heroku.App(ctx, name)
	if isNotFound(err) {
		return nil, false, nil
	}
	var apiErr *heroku.APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusForbidden {
		// Heroku answers 403 for an app that exists in an account the key has no access to.
		return nil, false, fmt.Errorf("a Heroku app named %s already exists in an account the Heroku API key cannot access, so deploy-action did not create it and will not touch it: change the review_name input so that pull request apps get other names: %w", name, err)
	}
	if err != nil {
		return nil, false, err
	}
	couplings, err := r.Heroku.Couplings(ctx, pipeline.ID)
	if err != nil {
		return nil, false, err
	}
	for _, c := range couplings {
		if c.App.ID == a.ID && c.Stage == devStage {
			return &a, true, nil
		}
	}
	return &a, false, nil
}

func notOurs(app heroku.App, pipeline heroku.Pipeline) error {
	return fmt.Errorf("a Heroku app named %s already exists but is not coupled to pipeline %s at the %s stage, so deploy-action did not create it and will not change it: delete or rename that app if it is a leftover, or change the review_name input so that pull request apps get other names", app.Name, pipeline.Name, devStage)
}

// reviewAppSetup creates the pull request's app, or builds on it when the action made it earlier.
func (r *Runner) reviewAppSetup(ctx context.Context, p plan.Plan, pipeline heroku.Pipeline, vars map[string]string, res *Result) error {
	name := p.Deployment
	existing, ours, err := r.prApp(ctx, pipeline, name)
	if err != nil {
		return err
	}
	if existing != nil {
		if !ours {
			return notOurs(*existing, pipeline)
		}
		r.Log.Infof("Updating the app %s of pull request #%d", existing.Name, p.PR)
		if err := r.buildOn(ctx, p, *existing, vars, res); err != nil {
			return err
		}
		res.Action = "updated review app"
		return r.finish(ctx, *existing, res, false)
	}

	team := r.Config.Team
	if team == "" {
		if team, err = r.Heroku.PipelineTeam(ctx, pipeline.ID); err != nil {
			return err
		}
	}
	changes, err := DiffVars(nil, vars)
	if err != nil {
		return err
	}
	env := make(map[string]string, len(vars)+1)
	for k, v := range vars {
		env[k] = v
	}
	env[ManagedVar] = changes.Managed

	head := r.headBeforeBuild(ctx, p) // read while the source uploads
	archive, src, err := r.upload(ctx, res)
	if err != nil {
		return err
	}
	defer archive.Remove()
	if err := head(); err != nil {
		return err
	}

	var app heroku.App
	err = r.phase(res, "app setup", func() error {
		where := "the API key's personal account"
		if team != "" {
			where = "team " + team
		}
		r.Log.Infof("Creating the app %s for pull request #%d in %s, from app.json (review_mode app-setup)", name, p.PR, where)
		setup, err := r.Heroku.CreateAppSetup(ctx, heroku.AppSetupCreate{
			Name: name, Team: team, SourceURL: src.GetURL, Checksum: archive.SHA256, Version: p.Commit, Env: env,
		})
		if err != nil {
			return err
		}
		res.App = name
		// The app's ID as the creation answered it: a later read of the setup may fail and
		// return nothing, and the cleanup must still name the app it deletes.
		appID := setup.AppID
		if appID == "" {
			return r.discard(ctx, name, "", fmt.Errorf("heroku created the app setup %s for %s without naming its app", setup.ID, name))
		}
		// Coupled before waiting, so that the app is recognised as the action's (and can be torn
		// down) whatever happens next.
		if _, err := r.Heroku.CreateCoupling(ctx, pipeline.ID, appID, devStage); err != nil {
			return r.discard(ctx, name, appID, err)
		}
		end := r.Log.Group(fmt.Sprintf("App setup of %s (add-ons, build, release, postdeploy)", name))
		setup, err = r.Heroku.WaitAppSetup(ctx, setup.ID, r.output())
		if setup.Postdeploy != nil && setup.Postdeploy.Output != "" {
			fmt.Fprintf(r.output(), "\npostdeploy (exit code %d):\n%s\n", setup.Postdeploy.ExitCode, strings.TrimRight(setup.Postdeploy.Output, "\n"))
		}
		end()
		res.BuildID = setup.BuildID
		if err != nil {
			return r.discard(ctx, name, appID, err)
		}
		app, err = r.Heroku.App(ctx, appID)
		return err
	})
	if err != nil {
		return err
	}
	res.VarsSet = changes.Set
	res.Action = "created review app"
	r.settleAfter(p, app.ID, heroku.Release{})
	return r.finish(ctx, app, res, true)
}

// discard deletes an app the action has just created and whose setup did not complete, so that
// the next push sets it up afresh rather than building on an app without its add-ons.
//
// The app is deleted by the ID the creation answered (never by a name Heroku may since have given
// another app), and reported deleted only when Heroku said so: a 404 for that ID means it is gone.
// When it cannot be deleted, or its ID is unknown, the error names it as left behind.
func (r *Runner) discard(ctx context.Context, name, appID string, cause error) error {
	leftBehind := func(why error) error {
		return errors.Join(cause, fmt.Errorf("the app %s was left behind after its setup failed, still coupled to the pipeline at %s, and the next push would build on it without its add-ons or data: delete it yourself (heroku apps:destroy %s) before the next push: %w", name, devStage, name, why))
	}
	if appID == "" {
		return leftBehind(errors.New("heroku did not give its ID"))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := r.Heroku.DeleteApp(ctx, appID); err != nil && !isNotFound(err) {
		return leftBehind(err)
	}
	return fmt.Errorf("%w\nthe app %s was deleted, so the next push to the pull request sets it up afresh", cause, name)
}

// teardownAppSetup deletes the pull request's app, or with a sweep every app of a closed or
// expired pull request, never touching an app the action did not make.
func (r *Runner) teardownAppSetup(ctx context.Context, p plan.Plan, pipeline heroku.Pipeline, res *Result) error {
	if p.Sweep {
		return r.sweepAppSetups(ctx, pipeline, res)
	}
	if heroku.CheckAppName(p.Deployment) != nil {
		r.Log.Noticef("%q cannot be a Heroku app name, so pull request #%d has no app to tear down", p.Deployment, p.PR)
		return nil
	}
	app, ours, err := r.prApp(ctx, pipeline, p.Deployment)
	if err != nil {
		return err
	}
	switch {
	case app == nil:
		r.Log.Noticef("Pull request #%d has no app %s: nothing to tear down", p.PR, p.Deployment)
		return nil
	case !ours:
		r.Log.Warningf("the app %s is not coupled to pipeline %s at the %s stage, so deploy-action did not create it: left alone", app.Name, pipeline.Name, devStage)
		return nil
	}
	return r.removeApp(ctx, *app, p.PR, fmt.Sprintf("pull request #%d closed", p.PR), res)
}

func (r *Runner) removeApp(ctx context.Context, app heroku.App, pr int, why string, res *Result) error {
	if err := r.Heroku.DeleteApp(ctx, app.ID); err != nil && !isNotFound(err) {
		return err
	}
	r.Log.Infof("Deleted the app %s of pull request #%d (%s)", app.Name, pr, why)
	res.Removed = append(res.Removed, app.Name)
	res.App = app.Name
	res.Action = "deleted review app"
	return nil
}

// sweepAppSetups removes the apps of closed pull requests and, with review_ttl, those not deployed
// for longer than that. Only apps coupled at development whose name review_name gives for some
// pull request are candidates.
func (r *Runner) sweepAppSetups(ctx context.Context, pipeline heroku.Pipeline, res *Result) error {
	match, err := prNamePattern(r.Config.ReviewName)
	if err != nil {
		return err
	}
	couplings, err := r.Heroku.Couplings(ctx, pipeline.ID)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range couplings {
		if c.Stage != devStage {
			continue
		}
		pr, ok := match(c.App.Name)
		if !ok {
			continue
		}
		why := ""
		if ttl := r.Config.ReviewTTL; ttl > 0 {
			rel, err := r.Heroku.CurrentRelease(ctx, c.App.ID)
			if err == nil && !rel.CreatedAt.IsZero() && r.now().Sub(rel.CreatedAt) > ttl {
				why = fmt.Sprintf("not deployed for more than %s", ttl)
			}
		}
		if why == "" && r.GitHub != nil {
			state, err := r.GitHub.PullRequestState(ctx, pr)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if state == "closed" {
				why = fmt.Sprintf("pull request #%d is closed", pr)
			}
		}
		if why == "" {
			continue
		}
		if err := r.removeApp(ctx, c.App, pr, why, res); err != nil {
			errs = append(errs, err)
		}
	}
	if len(res.Removed) == 0 && len(errs) == 0 {
		r.Log.Noticef("No pull request app of %s is due for removal", pipeline.Name)
	}
	res.Action = fmt.Sprintf("removed %d review apps", len(res.Removed))
	return errors.Join(errs...)
}

// prNamePattern returns a matcher telling whether an app name is one review_name gives, and for
// which pull request. Placeholders other than {pr} match any name part, since a sweep does not
// know the branch or user a pull request had; a template with only {pr} must render to exactly
// the name.
func prNamePattern(template string) (func(name string) (int, bool), error) {
	if !strings.Contains(template, "{pr}") {
		return nil, fmt.Errorf("review_name %q has no {pr}, so a sweep cannot tell which pull request an app belongs to: put {pr} in review_name, e.g. pforge-pr-{pr}", template)
	}
	var re strings.Builder
	re.WriteString("^")
	others := false
	rest := template
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			re.WriteString(regexp.QuoteMeta(rest))
			break
		}
		re.WriteString(regexp.QuoteMeta(rest[:i]))
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("review_name %q has an unclosed {", template)
		}
		switch key := rest[i+1 : i+j]; key {
		case "pr":
			re.WriteString("(?P<pr>[1-9][0-9]*)")
		default:
			others = true
			re.WriteString("[a-z0-9-]+")
		}
		rest = rest[i+j+1:]
	}
	re.WriteString("$")
	pattern, err := regexp.Compile(re.String())
	if err != nil {
		return nil, fmt.Errorf("review_name %q: %w", template, err)
	}
	idx := pattern.SubexpIndex("pr")
	return func(name string) (int, bool) {
		m := pattern.FindStringSubmatch(name)
		if m == nil {
			return 0, false
		}
		pr, err := strconv.Atoi(m[idx])
		if err != nil || pr <= 0 {
			return 0, false
		}
		if !others {
			if want, err := plan.Name(template, map[string]string{"pr": m[idx]}); err != nil || want != name {
				return 0, false
			}
		}
		return pr, true
	}, nil
}

// dryRunAppSetup says what review_mode app-setup would do for the plan, changing nothing.
func (r *Runner) dryRunAppSetup(ctx context.Context, p plan.Plan, pipeline heroku.Pipeline, res *Result) error {
	if p.Sweep {
		r.Log.Infof("Dry run: would delete the apps of closed pull requests coupled at %s on %s", devStage, pipeline.Name)
		return nil
	}
	if p.Stage == plan.StageReview {
		if err := checkAppSetupName(p.Deployment); err != nil {
			return err
		}
	} else if heroku.CheckAppName(p.Deployment) != nil {
		r.Log.Infof("Dry run: pull request #%d has no app to delete", p.PR)
		return nil
	}
	app, ours, err := r.prApp(ctx, pipeline, p.Deployment)
	if err != nil {
		return err
	}
	switch {
	case app != nil && !ours:
		if p.Stage == plan.StageReview {
			return notOurs(*app, pipeline)
		}
		r.Log.Infof("Dry run: would leave %s alone: deploy-action did not create it", app.Name)
	case app == nil && p.Stage == plan.StageReview:
		r.Log.Infof("Dry run: would create the app %s for pull request #%d with an app setup and couple it at %s", p.Deployment, p.PR, devStage)
	case app == nil:
		r.Log.Infof("Dry run: pull request #%d has no app to delete", p.PR)
	default:
		res.App, res.AppURL = app.Name, app.WebURL
		verb := map[bool]string{true: "build on", false: "delete"}[p.Stage == plan.StageReview]
		r.Log.Infof("Dry run: would %s the app %s of pull request #%d", verb, app.Name, p.PR)
	}
	return nil
}
