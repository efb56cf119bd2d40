package gh

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/deploy"
	"github.com/pangeo-forge/deploy-action/internal/event"
	"github.com/pangeo-forge/deploy-action/internal/plan"
)

// Logger is where the reporter's warnings go (*report.Workflow).
type Logger interface {
	Warningf(format string, args ...any)
}

// ReporterOptions configure a Reporter. Config, Trigger and Log are required.
type ReporterOptions struct {
	// Client talks to the repository; nil turns reporting to GitHub off and Off says why (warned
	// once, unless empty).
	Client  *Client
	Off     string
	Config  config.Config
	Trigger event.Trigger
	Log     Logger
	// Scrub replaces decrypted values in text bound for GitHub (deploy.Runner.Scrub). nil sends text
	// as it is, which is only right when nothing was decrypted.
	Scrub func(string) string
	// Now is the clock for started_at (default time.Now).
	Now func() time.Time
	// Timeout bounds each request (default 30s); Backoff is the first pause before a request that
	// failed with a 5xx or a network error is tried again, doubling for the second retry (default 1s).
	Timeout, Backoff time.Duration
}

// Reporter makes the action the pull request's window on its deployment: a check run on the deployed
// commit that follows the phases, a GitHub Deployment with its statuses and, for review apps, one
// sticky pull request comment. Reporting never changes the deploy's result: a failure to report is a
// warning, said once, naming what to fix. Its methods are called one at a time, in the run's order.
//
// What Start opens and what Progress shows is sent by a background worker, so that GitHub's round
// trips overlap the deploy instead of adding to it; Finish waits for the worker, then concludes.
// Progress updates are coalesced: a phase that ends before its update is sent is skipped for the next.
type Reporter struct {
	opt ReporterOptions

	// The worker owns every field below while it runs; Finish reads them after it has stopped.
	mu      sync.Mutex // guards phases and the worker's wake-ups
	wake    chan struct{}
	closing chan struct{}
	done    chan struct{}
	cancel  context.CancelFunc

	plan       plan.Plan
	active     bool // the run is reported (decided by Start)
	sha        string
	checkName  string
	externalID string
	detailsURL string
	phases     []string

	checkRunID, deploymentID, commentID int64

	// stateMu guards off and warned: the check run, the deployment and the comment are opened, and
	// concluded, at once, each by a goroutine of its own (each writes only its own ID above).
	stateMu sync.Mutex
	off     map[feature]bool
	warned  map[string]bool
}

// feature is one thing the reporter writes, with the permission it needs.
type feature string

const (
	checks      feature = "checks"
	deployments feature = "deployments"
	comments    feature = "pull-requests"
)

// NewReporter returns a reporter for one run.
func NewReporter(opt ReporterOptions) *Reporter {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Scrub == nil {
		opt.Scrub = func(s string) string { return s }
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	if opt.Backoff <= 0 {
		opt.Backoff = time.Second
	}
	return &Reporter{opt: opt, off: map[feature]bool{}, warned: map[string]bool{}}
}

// CheckRunID is the ID of the run's check run, 0 when there is none.
func (r *Reporter) CheckRunID() int64 { return r.checkRunID }

// Start opens the check run (in_progress), the deployment (in_progress) and, for a review app, the
// pull request comment. Skipped runs are reported by Finish alone.
func (r *Reporter) Start(ctx context.Context, p plan.Plan) {
	r.plan = p
	cfg, t := r.opt.Config, r.opt.Trigger
	if cfg.DryRun || p.Stage == "" || p.Stage == plan.StageApprove {
		// A dry run changes nothing, GitHub included; a run without a stage has nothing to name; an
		// approve step deploys nothing (the deploy step after it reports on the approved commit).
		return
	}
	if t.PR != nil && t.PR.Fork() && t.Name == "pull_request" {
		return // a fork's token is read-only: every write would be refused
	}
	r.sha = r.commit()
	if r.sha == "" {
		return
	}
	r.active = true
	r.checkName = strings.ReplaceAll(cfg.CheckName, "{stage}", string(p.Stage))
	r.externalID = fmt.Sprintf("%s/%s/%s", p.Stage, p.Deployment, r.sha)
	r.detailsURL = runURL(cfg.GitHub)
	if r.opt.Client == nil {
		if r.opt.Off != "" {
			r.warnOnce("off", "%s", r.opt.Off)
		}
		return
	}
	if p.Skip != "" {
		return
	}
	// The worker's requests outlive the run's cancellation (r.do detaches them) unless Finish,
	// itself out of time, stops them.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	r.wake, r.closing, r.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go r.work(wctx)
}

// work opens the check run, the deployment and the comment, at once (none needs another's answer),
// then shows progress until Finish.
func (r *Reporter) work(ctx context.Context) {
	defer close(r.done)
	var wg sync.WaitGroup
	wg.Go(func() { r.openCheckRun(ctx) })
	if deploys(r.plan.Stage) {
		wg.Go(func() { r.openDeployment(ctx) })
	}
	if r.commenting() && r.plan.Stage == plan.StageReview {
		wg.Go(func() { r.upsertComment(ctx, r.render(nil, nil).comment(statusDeploying), true) })
	}
	wg.Wait()
	for {
		select {
		case <-r.wake:
			r.showProgress(ctx)
		case <-r.closing:
			return
		}
	}
}

// Progress shows the phase that starts on the check run; it has the signature of deploy.Runner.OnPhase.
func (r *Reporter) Progress(ctx context.Context, phase string) {
	r.mu.Lock()
	r.phases = append(r.phases, phase)
	r.mu.Unlock()
	if r.wake == nil {
		return
	}
	select {
	case r.wake <- struct{}{}:
	default: // an update is already due: it will show this phase
	}
}

func (r *Reporter) showProgress(ctx context.Context) {
	if r.checkRunID == 0 || r.isOff(checks) {
		return
	}
	r.mu.Lock()
	phases := append([]string(nil), r.phases...)
	r.mu.Unlock()
	v := r.render(nil, nil)
	out := &CheckOutput{Title: v.progressTitle(phases[len(phases)-1]), Summary: v.progressSummary(phases)}
	err := r.do(ctx, func(ctx context.Context) error {
		return r.opt.Client.UpdateCheckRun(ctx, r.checkRunID, CheckRun{Name: r.checkName, Status: "in_progress", Output: out})
	})
	if err != nil {
		r.failed(checks, "show the progress on the check run", err)
	}
}

// stopWorker waits for the worker to send what it has started; if ctx ends first (a cancelled run
// has seconds left), the worker's requests are abandoned.
func (r *Reporter) stopWorker(ctx context.Context) {
	if r.done == nil {
		return
	}
	close(r.closing)
	select {
	case <-r.done:
	case <-ctx.Done():
		r.cancel()
		<-r.done
	}
	r.cancel()
	r.done = nil
}

// Finish concludes what Start opened from the run's result and error: the check run, the deployment
// and the comment at once, once no progress update is in flight any more (stopWorker), so that none
// can land after the conclusion. It also warns, in the log,
// about custom domains whose certificate is failing, whether or not GitHub is reported to.
func (r *Reporter) Finish(ctx context.Context, res *deploy.Result, runErr error) {
	r.stopWorker(ctx)
	if res == nil {
		res = &deploy.Result{Stage: r.plan.Stage, Deployment: r.plan.Deployment, Commit: r.plan.Commit}
	}
	for _, d := range deploy.FailingCerts(res.Domains) {
		r.opt.Log.Warningf("the ACM certificate of %s is %s (%s): point its CNAME record at %s, then wait for Heroku to retry", d.Hostname, d.ACMStatus, orNone(d.ACMStatusReason), d.CNAME)
	}
	if !r.active || r.opt.Client == nil {
		return
	}
	v := r.render(res, runErr)
	var wg sync.WaitGroup
	wg.Go(func() { r.concludeCheckRun(ctx, res, v) })
	wg.Go(func() { r.finishDeployment(ctx, v) })
	wg.Go(func() { r.finishComment(ctx, res, v) })
	wg.Wait()
}

// concludeCheckRun sets the check run's conclusion (and, for a manual promotion, reports on the
// promoted commit too).
func (r *Reporter) concludeCheckRun(ctx context.Context, res *deploy.Result, v *view) {
	if !r.isOff(checks) {
		cr := CheckRun{Name: r.checkName, Conclusion: v.conclusion, DetailsURL: r.detailsURL, ExternalID: r.externalID, Output: v.checkOutput()}
		var err error
		if r.checkRunID != 0 {
			err = r.do(ctx, func(ctx context.Context) error { return r.opt.Client.UpdateCheckRun(ctx, r.checkRunID, cr) })
		} else {
			r.checkRunID, err = r.upsertCheckRun(ctx, r.sha, cr)
		}
		if err != nil {
			r.failed(checks, "conclude the check run", err)
		}
		// A manual promotion runs on whatever commit was dispatched; the commit it put in production
		// is only known now, and gets the same check run.
		if promoted := res.Commit; r.plan.Manual && r.plan.Stage == plan.StageProd && promoted != "" && promoted != r.sha && !r.isOff(checks) {
			cr.ExternalID = fmt.Sprintf("%s/%s/%s", r.plan.Stage, r.plan.Deployment, promoted)
			if _, err := r.upsertCheckRun(ctx, promoted, cr); err != nil {
				r.failed(checks, "report on the promoted commit "+short(promoted), err)
			}
		}
	}
}

// finishComment updates the pull request's comment with the outcome.
func (r *Reporter) finishComment(ctx context.Context, res *deploy.Result, v *view) {
	switch {
	case !r.commenting():
	case r.plan.Stage == plan.StageTeardown:
		if len(res.Removed) > 0 {
			r.upsertComment(ctx, v.comment(statusTornDown), false) // never a new comment about an app that is gone
		}
	case r.plan.Skip == "":
		r.upsertComment(ctx, v.comment(v.commentStatus()), true)
	}
}

func (r *Reporter) openCheckRun(ctx context.Context) {
	v := r.render(nil, nil)
	cr := CheckRun{
		Name: r.checkName, HeadSHA: r.sha, ExternalID: r.externalID, DetailsURL: r.detailsURL,
		Status: "in_progress", StartedAt: r.opt.Now(),
		Output: &CheckOutput{Title: v.progressTitle(""), Summary: v.progressSummary(nil)},
	}
	id, err := r.upsertCheckRun(ctx, r.sha, cr)
	r.checkRunID = id
	if err != nil {
		r.failed(checks, "create the check run", err)
	}
}

// upsertCheckRun updates the check run on sha of an earlier attempt of this run, else creates one.
func (r *Reporter) upsertCheckRun(ctx context.Context, sha string, cr CheckRun) (int64, error) {
	c := r.opt.Client
	cr.HeadSHA = sha
	var id int64
	err := r.do(ctx, func(ctx context.Context) (err error) {
		if id, err = c.FindCheckRun(ctx, sha, cr.Name, cr.ExternalID); err != nil {
			return err
		}
		if id != 0 {
			return c.UpdateCheckRun(ctx, id, cr)
		}
		id, err = c.CreateCheckRun(ctx, cr)
		return err
	})
	return id, err
}

func (r *Reporter) openDeployment(ctx context.Context) {
	p := r.plan
	d := Deployment{
		SHA: r.sha, Environment: p.Deployment, Description: fmt.Sprintf("%s deployment by deploy-action", p.Stage),
		Transient: p.Stage == plan.StageReview, Production: p.Stage == plan.StageProd,
	}
	err := r.do(ctx, func(ctx context.Context) error {
		id, err := r.opt.Client.EnsureDeployment(ctx, d)
		if err != nil {
			return err
		}
		r.deploymentID = id
		return r.opt.Client.SetDeploymentStatus(ctx, id, DeploymentStatus{
			State: "in_progress", Description: "Deploying " + short(r.sha), LogURL: r.detailsURL,
		})
	})
	if err != nil {
		r.failed(deployments, "create the deployment", err)
	}
}

func (r *Reporter) finishDeployment(ctx context.Context, v *view) {
	if r.isOff(deployments) {
		return
	}
	c := r.opt.Client
	switch {
	case r.deploymentID != 0:
		state := "success"
		switch v.conclusion {
		case "success":
		case "neutral":
			state = "inactive" // skipped once under way: nothing was deployed
		default:
			state = "failure"
		}
		st := DeploymentStatus{State: state, Description: v.statusDescription(), EnvironmentURL: v.res.AppURL, LogURL: r.detailsURL}
		if err := r.do(ctx, func(ctx context.Context) error { return c.SetDeploymentStatus(ctx, r.deploymentID, st) }); err != nil {
			r.failed(deployments, "set the deployment's status", err)
		}
		r.appDeployments(ctx, v)
	case r.plan.Stage == plan.StageRollback && v.res.Deployed && v.res.Commit != "":
		// A rollback puts an older commit back in the environment: it is that commit's deployment
		// that is live again, known only now.
		d := Deployment{
			SHA: v.res.Commit, Environment: r.plan.Deployment, Description: "rollback by deploy-action",
			Production: r.opt.Config.RollbackApp != "staging", // prod, or one production app by name
		}
		st := DeploymentStatus{State: "success", Description: v.statusDescription(), EnvironmentURL: v.res.AppURL, LogURL: r.detailsURL}
		err := r.do(ctx, func(ctx context.Context) error {
			id, err := c.EnsureDeployment(ctx, d)
			if err != nil {
				return err
			}
			return c.SetDeploymentStatus(ctx, id, st)
		})
		if err != nil {
			r.failed(deployments, "report the rollback on the deployment of "+short(v.res.Commit), err)
		}
	case r.plan.Stage == plan.StageTeardown && r.plan.Deployment != "" && len(v.res.Removed) > 0 && v.conclusion == "success":
		// A review app's environment is gone: every deployment to it is inactive.
		var ids []int64
		err := r.do(ctx, func(ctx context.Context) (err error) {
			ids, err = c.Deployments(ctx, r.plan.Deployment)
			return err
		})
		if err == nil {
			// Every deployment's status at once: none depends on another.
			errs := make([]error, len(ids))
			var wg sync.WaitGroup
			for i, id := range ids {
				st := DeploymentStatus{State: "inactive", Description: "Review app deleted", LogURL: r.detailsURL}
				wg.Go(func() {
					errs[i] = r.do(ctx, func(ctx context.Context) error { return c.SetDeploymentStatus(ctx, id, st) })
				})
			}
			wg.Wait()
			err = errors.Join(errs...)
		}
		if err != nil {
			r.failed(deployments, "mark the review app's deployments inactive", err)
		}
	}
}

func (r *Reporter) commenting() bool {
	return r.opt.Config.PRComment && r.plan.PR != 0 && !r.isOff(comments) &&
		(r.plan.Stage == plan.StageReview || r.plan.Stage == plan.StageTeardown)
}

// upsertComment edits the pull request's deploy-action comment, or creates it when create is set.
func (r *Reporter) upsertComment(ctx context.Context, body string, create bool) {
	c := r.opt.Client
	err := r.do(ctx, func(ctx context.Context) error {
		if r.commentID == 0 {
			id, err := c.FindComment(ctx, r.plan.PR, commentMarker(r.plan.Deployment))
			if err != nil {
				return err
			}
			r.commentID = id
		}
		if r.commentID != 0 {
			return c.EditComment(ctx, r.commentID, body)
		}
		if !create {
			return nil
		}
		id, err := c.CreateComment(ctx, r.plan.PR, body)
		r.commentID = id
		return err
	})
	if err != nil {
		r.failed(comments, "update the pull request comment", err)
	}
}

// commit is the commit the check run and the deployment are about: the one the plan deploys, else
// the pull request's head (a teardown), else the pushed commit, else GITHUB_SHA.
func (r *Reporter) commit() string {
	t := r.opt.Trigger
	switch {
	case r.plan.Commit != "":
		return r.plan.Commit
	case t.PR != nil && t.PR.HeadSHA != "":
		return t.PR.HeadSHA
	case t.After != "" && !t.Deleted:
		return t.After
	}
	return r.opt.Config.GitHub.SHA
}

func deploys(s plan.Stage) bool {
	return s == plan.StageReview || s == plan.StageStaging || s == plan.StageProd
}

// runURL is the workflow run's page (the attempt's, on a rerun).
func runURL(env config.GitHubEnv) string {
	if env.RunID == "" || env.Repository == "" {
		return ""
	}
	u := fmt.Sprintf("%s/%s/actions/runs/%s", strings.TrimSuffix(env.ServerURL, "/"), env.Repository, env.RunID)
	if n, err := strconv.Atoi(env.RunAttempt); err == nil && n > 1 {
		u += "/attempts/" + env.RunAttempt
	}
	return u
}

// do runs one reporting step under its own deadline, detached from the run's cancellation so that a
// cancelled run is still concluded, and tries it again after a 5xx or a network error.
//
// A deadline on ctx still holds: after a cancellation the caller passes a fresh, short one (the
// runner kills the process seconds after its SIGINT), and no retry may outlive it.
func (r *Reporter) do(ctx context.Context, step func(context.Context) error) error {
	deadline, bounded := ctx.Deadline()
	ctx = context.WithoutCancel(ctx)
	if bounded {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	return retryTransient(ctx, r.opt.Backoff, func(ctx context.Context) error {
		sctx, cancel := context.WithTimeout(ctx, r.opt.Timeout)
		defer cancel()
		return step(sctx)
	})
}

func transient(err error) bool {
	var resp *github.ErrorResponse
	if errors.As(err, &resp) {
		return resp.Response != nil && resp.Response.StatusCode >= 500
	}
	var rate *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	var accepted *github.AcceptedError
	return !errors.As(err, &rate) && !errors.As(err, &abuse) && !errors.As(err, &accepted)
}

// failed turns a reporting error into one warning that names the cause and what to do, and stops
// reporting what cannot work for the rest of the run.
func (r *Reporter) failed(f feature, what string, err error) {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	repo := r.opt.Config.GitHub.Repository
	var resp *github.ErrorResponse
	var rate *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	switch {
	case errors.As(err, &rate), errors.As(err, &abuse):
		r.offAll()
		r.warnOnce("rate", "could not %s: the github_token's API rate limit is spent; this run reports nothing more to GitHub (the deployment is not affected)", what)
		return
	case !errors.As(err, &resp) || resp.Response == nil:
		r.warnOnce(string(f), "could not %s: %v (the deployment is not affected)", what, err)
		return
	}
	status, msg := resp.Response.StatusCode, resp.Message
	switch status {
	case http.StatusUnauthorized:
		r.offAll()
		r.warnOnce("401", "GitHub refused the github_token (401 %s) while trying to %s: nothing is reported to GitHub; pass a valid token, e.g. github_token: ${{ github.token }} (the deployment is not affected)", msg, what)
	case http.StatusNotFound:
		// Only this feature stops: the others conclude what they opened, or meet the same 404.
		r.off[f] = true
		r.warnOnce("404", "GitHub answered 404 while trying to %s: the repository %q does not exist or the github_token cannot see it; nothing more is reported to GitHub (the deployment is not affected)", what, repo)
	case http.StatusForbidden:
		r.off[f] = true
		r.warnOnce(string(f)+"403", "could not %s: the github_token lacks a permission (GitHub answered 403 %s): add `%s: write` to the job's permissions (see docs/github.md); the deployment is not affected", what, msg, f)
	case http.StatusUnprocessableEntity:
		var fields []string
		for _, e := range resp.Errors {
			fields = append(fields, strings.Join(strings.Fields(e.Field+" "+e.Message+" "+e.Code), " "))
		}
		r.warnOnce(string(f)+"422", "GitHub refused to %s (422 %s: %s): please report this to deploy-action with the run's log; the deployment is not affected", what, msg, strings.Join(fields, "; "))
	default:
		r.warnOnce(string(f), "could not %s: GitHub answered %d %s (the deployment is not affected)", what, status, msg)
	}
}

// isOff says that reporting f was given up.
func (r *Reporter) isOff(f feature) bool {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return r.off[f]
}

// offAll gives up every feature. The caller holds stateMu.
func (r *Reporter) offAll() {
	for _, f := range []feature{checks, deployments, comments} {
		r.off[f] = true
	}
}

// warnOnce warns once per key. The caller holds stateMu, or no goroutine of the reporter runs.
func (r *Reporter) warnOnce(key, format string, args ...any) {
	if r.warned[key] {
		return
	}
	r.warned[key] = true
	// GitHub's messages may echo what was sent: scrub before it reaches the log.
	r.opt.Log.Warningf("%s", r.opt.Scrub(fmt.Sprintf(format, args...)))
}

// AppEnvironment is the GitHub Deployment environment of one app of a stage that holds several
// apps (production in the US and in the EU): the deployment's name with the app's,
// "pangeo-forge (pangeo-forge-api-prod-eu)". The deployment's own environment (the deployment name)
// keeps the run as a whole, succeeding only when every app did.
func AppEnvironment(deployment, app string) string { return deployment + " (" + app + ")" }

// appDeployments reports each app of a stage with several apps as a GitHub Deployment of its own,
// concluded by that app's outcome (success, or failure for an app that failed or was rolled
// back), with the app's URL. They are made once the run is over: only then are the apps known.
func (r *Reporter) appDeployments(ctx context.Context, v *view) {
	if len(v.res.Apps) == 0 || r.off[deployments] {
		return
	}
	c := r.opt.Client
	errs := make([]error, len(v.res.Apps))
	var wg sync.WaitGroup
	for i, a := range v.res.Apps {
		wg.Go(func() {
			d := Deployment{
				SHA: r.sha, Environment: AppEnvironment(r.plan.Deployment, a.App),
				Description: fmt.Sprintf("%s deployment of %s by deploy-action", r.plan.Stage, a.App), Production: r.plan.Stage == plan.StageProd,
			}
			st := DeploymentStatus{State: "success", Description: fmt.Sprintf("%s: %s", a.App, a.Outcome), EnvironmentURL: a.AppURL, LogURL: r.detailsURL}
			if !a.Deployed {
				st.State = "failure"
			}
			errs[i] = r.do(ctx, func(ctx context.Context) error {
				id, err := c.EnsureDeployment(ctx, d)
				if err != nil {
					return err
				}
				return c.SetDeploymentStatus(ctx, id, st)
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			r.failed(deployments, "report the deployment of "+v.res.Apps[i].App, err)
			return
		}
	}
}
