// Package deploy runs a plan: it decrypts the deployment's secrets, checks the checkout, and performs
// the Heroku pipeline step of the plan's stage through the small interfaces below.
package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/gitrepo"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
	"github.com/pangeo-forge/deploy-action/internal/report"
	"github.com/pangeo-forge/deploy-action/internal/secrets"
	"github.com/pangeo-forge/deploy-action/internal/source"
	"github.com/pangeo-forge/deploy-action/internal/workspace"
	"golang.org/x/sync/errgroup"
)

// Heroku is the part of the Platform API the flows use.
type Heroku interface {
	Pipeline(ctx context.Context, nameOrID string) (heroku.Pipeline, error)
	AppAtStage(ctx context.Context, pipelineID, stage string) (heroku.App, error)
	AppIDAtStage(ctx context.Context, pipelineID, stage string) (string, error)
	AppIDsAtStage(ctx context.Context, pipelineID, stage string) ([]heroku.Coupling, error)
	App(ctx context.Context, nameOrID string) (heroku.App, error)
	ReviewAppConfig(ctx context.Context, pipelineID string) (heroku.ReviewAppConfig, error)
	ReviewApps(ctx context.Context, pipelineID string) ([]heroku.ReviewApp, error)
	CreateReviewApp(ctx context.Context, r heroku.ReviewAppCreate) (heroku.ReviewApp, error)
	WaitReviewApp(ctx context.Context, id string, log io.Writer) (heroku.ReviewApp, error)
	DeleteReviewApp(ctx context.Context, id string) error
	WaitReviewAppDeleted(ctx context.Context, id string) error
	UploadSource(ctx context.Context, body io.ReaderAt, size int64) (heroku.Source, error)
	ConfigVars(ctx context.Context, app string) (map[string]string, error)
	UpdateConfigVars(ctx context.Context, app string, changes map[string]*string) error
	CreateBuild(ctx context.Context, app string, b heroku.BuildCreate) (heroku.Build, error)
	WaitBuild(ctx context.Context, app, id string, log io.Writer) (heroku.Build, error)
	WaitRelease(ctx context.Context, app, id string, log io.Writer) (heroku.Release, error)
	WaitReleaseSettling(ctx context.Context, app, id string, log io.Writer, settling func()) (heroku.Release, error)
	CurrentRelease(ctx context.Context, app string) (heroku.Release, error)
	CurrentAndNewestRelease(ctx context.Context, app string) (heroku.Release, int, error)
	Releases(ctx context.Context, app string, max int) ([]heroku.Release, error)
	Code(ctx context.Context, app string, rel heroku.Release) (heroku.Slug, error) // the release's slug, or OCI image on Fir
	Promote(ctx context.Context, pipelineID, sourceAppID, sourceReleaseID string, targetAppIDs []string) (heroku.Promotion, error)
	WaitPromotion(ctx context.Context, id string, on heroku.PromotedRelease, log io.Writer) (heroku.Release, error)
	Rollback(ctx context.Context, app, releaseID string) (heroku.Release, error)
	ReleaseSlug(ctx context.Context, app, slugID, description string) (heroku.Release, error)
	Release(ctx context.Context, app, id string) (heroku.Release, error)
	ReleaseConfigVars(ctx context.Context, app, release string) (map[string]string, error)
	Domains(ctx context.Context, app string) ([]heroku.Domain, error)
	// maintenance windows (maintenance.go)
	SetMaintenance(ctx context.Context, app string, on bool) (heroku.App, error)
	Build(ctx context.Context, app, id string) (heroku.Build, error)
	Promotion(ctx context.Context, id string) (heroku.Promotion, error)
	// review_mode app-setup
	Couplings(ctx context.Context, pipelineID string) ([]heroku.Coupling, error)
	PipelineTeam(ctx context.Context, pipelineID string) (string, error)
	CreateAppSetup(ctx context.Context, s heroku.AppSetupCreate) (heroku.AppSetup, error)
	WaitAppSetup(ctx context.Context, id string, log io.Writer) (heroku.AppSetup, error)
	CreateCoupling(ctx context.Context, pipelineID, app, stage string) (heroku.Coupling, error)
	DeleteApp(ctx context.Context, nameOrID string) error
}

// GitHub is the part of the GitHub API the flows use.
type GitHub interface {
	CommitTree(ctx context.Context, sha string) (string, error)
	PullRequestState(ctx context.Context, number int) (string, error)
	BranchHead(ctx context.Context, branch string) (string, error) // the stale-deploy guard
	// FileAt reads a file of the repository at a ref; found is false when GitHub has no such file
	// (or ref). Review runs compare their secrets file with staging's and production's with it.
	FileAt(ctx context.Context, path, ref string) (data []byte, found bool, err error)
	PullRequestHead(ctx context.Context, number int) (string, error)
}

// SecretLoader decrypts and flattens one deployment's secrets file (secrets.LoadVars).
type SecretLoader func(ctx context.Context, deployment string) (secrets.Vars, error)

// SecretDecrypter decrypts and flattens a secrets file read elsewhere than the checkout (from
// GitHub: secrets.DecryptVars); path names it in messages.
type SecretDecrypter func(ctx context.Context, path string, data []byte) (secrets.Vars, error)

// Runner performs plans. Every field but GitHub and HTTP is required.
type Runner struct {
	Config  config.Config
	Heroku  Heroku
	GitHub  GitHub
	Secrets SecretLoader
	// SecretsFrom decrypts the review_fallback file an approved review app reads from GitHub.
	SecretsFrom SecretDecrypter
	// Approvals checks /deploy-review comments (Approve); nil without GitHub.
	Approvals Approvals
	Log       *report.Workflow
	HTTP      *http.Client     // health checks; nil means http.DefaultClient
	Now       func() time.Time // nil means time.Now
	// HealthInterval is the pause between health check attempts (default 2s).
	HealthInterval time.Duration
	// OnPhase, when set, hears each phase as it starts (the check run shows progress with it).
	OnPhase func(ctx context.Context, name string)

	// TestReport, when set, reports a heroku_ci test run that precedes a deploy on its own.
	TestReport TestReporter
	// AppDir is app_dir resolved inside the workspace (workspace.Resolve); its zero value means
	// the workspace's app_dir as the config gives it.
	AppDir workspace.Dir
	// SecretsDir is secrets_dir resolved the same way, for what reads the files besides Secrets
	// (the copied-file check); its zero value means the config's secrets_dir in the workspace.
	SecretsDir workspace.Dir

	// MaintenanceRecords, when set, records the maintenance windows the run opens on GitHub, where
	// the next run finds a window a stopped run left on (maintenance.go); nil without a token.
	MaintenanceRecords MaintenanceRecords

	// RateLimitWaited, when set, says how long Heroku requests have waited so far for the
	// account's rate limit; after such a wait the commit is checked to be still the head of its
	// pull request or branch before the next write to Heroku (superseded.go).
	RateLimitWaited func() time.Duration

	// secretsMu guards secretValues: Scrub is also called by the GitHub reporter's worker.
	secretsMu    sync.Mutex
	secretValues []string // every piece of every decrypted value, for Scrub
	redact       *secrets.Redactor
	tail         tailBuffer
	target       *target                  // the app the deploy writes to, and what it ran before (aftermath.go)
	unsetMu      sync.Mutex               // guards unsetLater: several apps of a stage are deployed at once
	unsetLater   map[string]*pendingUnset // by app ID: the vars that left the file, unset once the new code has passed
	uploaded     *pendingUpload           // the test run's upload, for the build of the same run
	outMu        sync.Mutex               // one app's kept output at a time into the log (several apps of a stage)
	maint        maintenance              // the maintenance windows the run holds open (maintenance.go)
	settleMu     sync.Mutex               // guards settle: several apps of a stage finish at once
	settle       *settleCheck             // the head check after this run's release, made by finish (superseded.go)
	approvedFile []byte                   // an approved review app's secrets file, as read from GitHub
	early        *earlyUpload             // the upload started beside the first reads (overlap.go)
	ahead        atomic.Pointer[aheadDomains]
}

// Result is what a run did: the outputs, the summary and the check run are made from it.
type Result struct {
	Stage      plan.Stage
	Deployment string
	App        string
	AppURL     string
	Commit     string
	BuildID    string
	Release    int
	Deployed   bool
	Action     string   // what was done, one line: "created review app", "promoted release v12", ...
	VarsSet    []string // names only
	VarsUnset  []string
	Phases     []Phase
	Domains    []heroku.Domain
	Notes      []string
	Removed    []string // review apps removed by a teardown or sweep
	// Maintenance is each maintenance window the run turned off or left on, by app.
	Maintenance []MaintenanceWindow
	LogTail     string         // the end of the build and release output, secrets scrubbed
	Secrets     int            // how many config vars were decrypted
	TestRun     *TestRunResult // the Heroku CI test run (stage test, heroku_ci), nil when none ran
	Skipped     string         // set when the run found nothing to do once under way: the notice why
	ApprovedBy  string         // a /deploy-review approval: who approved the commit, and how
	Approver    string         // the approver alone: "@login (write permission)"
	// Running says, after a failed deploy, what the app it wrote to runs now: "staging
	// (pangeo-forge-api-staging) runs v11 (the previous code) with the new config vars set in v12",
	// "production (…) runs v10 again (rolled back as v14)". Empty when the run succeeded or failed
	// before its first write.
	Running string
	// Apps is one entry per app of a stage that holds several (production in the US and in the
	// EU), the first coupled first; nil when the stage has one app. App, AppURL and Release are
	// then the first app's.
	Apps []AppResult
}

// Phase is one timed step of a run.
type Phase struct {
	Name     string
	Duration time.Duration
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// phase times fn as the named phase of res.
func (r *Runner) phase(res *Result, name string, fn func() error) error {
	if r.OnPhase != nil {
		r.OnPhase(context.Background(), name)
	}
	start := r.now()
	err := fn()
	res.Phases = append(res.Phases, Phase{Name: name, Duration: r.now().Sub(start)})
	return err
}

// Run performs the plan. On error, the Result still says how far the run got.
func (r *Runner) Run(ctx context.Context, p plan.Plan) (*Result, error) {
	res := &Result{Stage: p.Stage, Deployment: p.Deployment, Commit: p.Commit}
	if p.Skip == "" {
		res.ApprovedBy, res.Approver = p.Approval.Summary(), p.Approval.Who()
	}
	defer func() { res.LogTail = r.Scrub(r.tail.String()) }()
	defer r.dropUpload()
	defer r.dropEarly()
	if p.Skip != "" {
		r.Log.Noticef("%s", p.Skip)
		return res, nil
	}
	if p.Stage == plan.StageCheckSecrets { // reads files only: the same with dry_run
		return res, r.checkSecrets(ctx, res)
	}
	if p.Stage == plan.StageApprove { // Approve has checked it all: the commit is the output
		res.Action = fmt.Sprintf("%s approved %s", plan.Command, short(p.Commit))
		r.Log.Noticef("pull request #%d: %s; check out exactly this commit (the output commit) for the deploy", p.PR, p.Approval.Summary())
		return res, nil
	}
	if r.Config.DryRun {
		return res, r.dryRun(ctx, p, res)
	}
	switch p.Stage {
	case plan.StageReview, plan.StageStaging, plan.StageProd:
		return res, r.guarded(ctx, p, res, func() error { return r.deploy(ctx, p, res) })
	case plan.StageTeardown:
		return res, r.teardown(ctx, p, res)
	case plan.StageTest:
		return res, r.testOnly(ctx, p, res)
	case plan.StageRollback:
		return res, r.rollbackStage(ctx, p, res)
	default:
		return res, fmt.Errorf("stage %q cannot be run by the deploy step", p.Stage)
	}
}

// deploy runs the review, staging and prod stages. Everything that can fail without touching Heroku
// (secrets, checkout, pipeline, apps) is done before the first write.
func (r *Runner) deploy(ctx context.Context, p plan.Plan, res *Result) error {
	if p.Stage == plan.StageReview && r.Config.ReviewMode == config.ReviewModeAppSetup {
		if err := checkAppSetupName(p.Deployment); err != nil {
			return err
		}
	}
	if r.gatedByTests(p) {
		if err := r.checkTestScript(); err != nil {
			return err
		}
	}
	var protected <-chan []protectedFile
	if p.Stage == plan.StageReview {
		// Read while the file is decrypted and the pipeline looked up; compared before any write.
		protected = r.readProtected(ctx)
	}
	// What is uploaded must be the commit deployed: checked before the upload starts.
	if err := r.checkCheckout(p); err != nil {
		return err
	}
	// The stale-deploy guard asks GitHub, and the source is packed and uploaded, while the file is
	// decrypted and the Heroku reads go out; every write to Heroku waits for the guard's answer
	// (writeGate), and a stale commit ends the run before the first one.
	guard := r.startGuard(ctx, p)
	defer r.gateWrites(guard)()
	if r.uploadsEarly(p) {
		r.startUpload(ctx)
	}
	vars, used, err := r.loadSecrets(ctx, p, res)
	if err != nil {
		return err
	}
	err = r.deployAfterChecks(ctx, p, used, protected, vars, guard, res)
	if err != nil {
		// Whatever else went wrong, a run the guard found stale is superseded: it skips.
		if gerr := guard.result(); gerr != nil {
			if s := (*supersededError)(nil); errors.As(gerr, &s) {
				return gerr
			}
		}
	}
	return err
}

// uploadsEarly says whether the run's source is uploaded beside its first reads: a staging build
// and a review app (created from the source, or built on) need it whatever the reads answer, but
// for a rerun of the commit; a test run takes it too (heroku_ci).
func (r *Runner) uploadsEarly(p plan.Plan) bool {
	return p.Stage == plan.StageStaging || p.Stage == plan.StageReview && r.Config.ReviewMode != config.ReviewModeAppSetup
}

// deployAfterChecks is deploy once the local checks have passed and the guard has started.
func (r *Runner) deployAfterChecks(ctx context.Context, p plan.Plan, used string, protected <-chan []protectedFile, vars map[string]string, guard *pending, res *Result) error {
	pipeline, err := r.Heroku.Pipeline(ctx, r.Config.Pipeline)
	if err != nil {
		return err
	}
	if err := r.refuseOnFir(p, pipeline); err != nil {
		return err
	}
	if protected != nil {
		if err := r.refuseCopiedSecrets(ctx, used, protected); err != nil {
			return err
		}
	}
	if r.gatedByTests(p) {
		// The tests gate the deploy: nothing is written to Heroku unless they pass, and no test run
		// starts before the guard has answered.
		if err := guard.wait(ctx); err != nil {
			return err
		}
		if err := r.test(ctx, p, pipeline, res); err != nil {
			return err
		}
	}
	if err := r.deployStage(ctx, p, pipeline, vars, res); err != nil {
		r.maintenanceAfterFailure(ctx, res)
		if s := (*supersededError)(nil); !errors.As(err, &s) {
			r.sayWhatRuns(ctx, p, res) // a superseded run did not fail: the newer run deploys
		}
		return err
	}
	r.maintenanceAfterFailure(ctx, res) // a window still open here would be a bug: never leave it silently
	return nil
}

// deployStage performs the stage's Heroku steps, once everything before the first write is done.
func (r *Runner) deployStage(ctx context.Context, p plan.Plan, pipeline heroku.Pipeline, vars map[string]string, res *Result) error {
	switch p.Stage {
	case plan.StageReview:
		return r.review(ctx, p, pipeline, vars, res)
	case plan.StageStaging:
		couplings, err := r.Heroku.AppIDsAtStage(ctx, pipeline.ID, "staging")
		if err != nil {
			return err
		}
		if len(couplings) > 1 {
			return r.stagingMany(ctx, p, couplings, vars, res)
		}
		// The app's ID is enough: buildOnState names it from its current release (read at once with
		// its config vars) and finish reads its URL from its domains, so the app itself is not read
		// (a token of the rate limit saved), unless the repository has per-app secrets files, which
		// are named after the app.
		id := couplings[0].App.ID
		app := heroku.App{ID: id}
		if r.appFilesPossible(p.Deployment) {
			if app, err = r.Heroku.App(ctx, id); err != nil {
				return err
			}
			if vars, _, err = r.varsForApp(ctx, p, app, vars); err != nil {
				return err
			}
		}
		st, err := r.readTarget(ctx, id)
		if err != nil {
			return err
		}
		if err := r.buildOnState(ctx, p, app, st, nil, vars, res); err != nil {
			return err
		}
		return r.finish(ctx, heroku.App{ID: id, Name: res.App, WebURL: res.AppURL}, res, false)
	default:
		return r.prod(ctx, p, pipeline, vars, res)
	}
}

// loadSecrets decrypts the deployment's file (or the review fallback's), masks its values before
// anything else is printed, and adds the deployment var. used is the deployment whose file it
// decrypted.
func (r *Runner) loadSecrets(ctx context.Context, p plan.Plan, res *Result) (vars map[string]string, used string, err error) {
	used = p.Deployment
	var loaded secrets.Vars
	err = r.phase(res, "secrets", func() error {
		if p.Approval != nil {
			// An approved review app never reads a secrets file of the pull request's checkout.
			used = p.Fallback
			repoPath, data, err := r.approvedSecretsFile(ctx, p)
			if err != nil {
				return err
			}
			r.approvedFile = data
			loaded, err = r.SecretsFrom(ctx, repoPath, data)
			if err == nil {
				note := fmt.Sprintf("approved review app: using the review_fallback deployment %s's file from the default branch at %s, never one from the pull request", p.Fallback, short(r.Config.GitHub.SHA))
				r.Log.Infof("%s", note)
				res.Notes = append(res.Notes, note)
			}
			return err
		}
		var err error
		loaded, err = r.Secrets(ctx, p.Deployment)
		if errors.Is(err, secrets.ErrNotFound) && p.Stage == plan.StageReview {
			if p.Fallback == "" {
				return fmt.Errorf("%w\nadd secrets/config.%s.yaml to the pull request (encrypted with sops), or set the review_fallback input to a deployment whose file review apps may use", err, p.Deployment)
			}
			used = p.Fallback
			loaded, err = r.Secrets(ctx, p.Fallback)
			if err == nil {
				res.Notes = append(res.Notes, fmt.Sprintf("no secrets file for %s: using the review_fallback deployment %s", p.Deployment, p.Fallback))
			}
		}
		return err
	})
	if err != nil {
		return nil, used, err
	}
	vars, err = r.useVars(loaded, p.Deployment, p.Deployment)
	if err != nil {
		return nil, used, err
	}
	res.Secrets = len(vars) - 1
	return vars, used, nil
}

// useVars masks the decrypted values of a secrets file before anything else is printed, says which
// were read (from the file of deployment file, for the deployment deployment), and adds the
// deployment var.
func (r *Runner) useVars(loaded secrets.Vars, file, deployment string) (map[string]string, error) {
	vars := loaded.Values
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	sort.Strings(names)
	var unmasked []string
	for _, name := range names {
		if why := r.maskValue(vars[name], loaded.Plain[name]); why != "" {
			unmasked = append(unmasked, name+" ("+why+")")
		}
	}
	if _, taken := vars[r.Config.DeploymentVar]; taken {
		return nil, fmt.Errorf("the secrets file %s sets %s, which the action sets to the deployment name (input deployment_var): remove it from the file or choose another deployment_var", secrets.FileName(file), r.Config.DeploymentVar)
	}
	vars[r.Config.DeploymentVar] = deployment
	r.Log.Infof("Decrypted %d config vars for %s: %s", len(names), file, strings.Join(names, ", "))
	if len(unmasked) > 0 {
		r.Log.Infof("Not masked in the log: %s", strings.Join(unmasked, ", "))
	}
	return vars, nil
}

// maskValue asks the runner to mask one decrypted value, and Scrub to replace it, and says why
// (part of) it is left unmasked in the log, "" when it is not. A value the secrets file stores
// unencrypted is in the repository as it is: it is neither masked nor scrubbed, so that a setting
// such as DEBUG: "true" does not star every later "true" in the log (and the runner does not drop
// every job output holding one). An encrypted value is scrubbed from all the action sends to GitHub
// whatever its length, but a piece of it shorter than min_mask_length is not masked in the log,
// where it would star every occurrence of those characters (docs/security.md, section 9).
func (r *Runner) maskValue(value string, plain bool) string {
	pieces := secrets.MaskLines(value)
	if len(pieces) == 0 {
		return ""
	}
	if plain {
		return "stored unencrypted in the secrets file"
	}
	r.addSecretValues(pieces...)
	var masks []string
	short := false
	for _, piece := range pieces {
		if utf8.RuneCountInString(strings.TrimSpace(piece)) >= r.Config.MinMaskLength {
			masks = append(masks, piece)
		} else {
			short = true
		}
	}
	r.Log.Mask(masks...)
	switch {
	case !short:
		return ""
	case len(masks) == 0:
		return fmt.Sprintf("shorter than min_mask_length %d", r.Config.MinMaskLength)
	}
	return fmt.Sprintf("a line shorter than min_mask_length %d", r.Config.MinMaskLength)
}

// checkCheckout makes sure that what is deployed is what is labelled: the workspace must be checked
// out at the plan's commit.
func (r *Runner) checkCheckout(p plan.Plan) error {
	if p.Commit == "" {
		return nil
	}
	head, err := gitrepo.Head(r.workspace())
	if err != nil {
		return err
	}
	if head == p.Commit {
		return nil
	}
	hint := "ref: ${{ github.sha }}"
	switch {
	case p.Approval != nil:
		// The commit the approve step checked (docs/workflows/approve-review.yml).
		return fmt.Errorf("the workspace is checked out at %s but %s approved %s: check out exactly the approved commit, the approve step's output, with persist-credentials: false\n    with:\n      ref: ${{ steps.approval.outputs.commit }}\n      persist-credentials: false", short(head), plan.Command, p.Commit)
	case p.PR != 0:
		hint = "ref: ${{ github.event.pull_request.head.sha }}"
	}
	return fmt.Errorf("the workspace is checked out at %s but this run deploys %s: give actions/checkout the input\n    with:\n      %s", short(head), short(p.Commit), hint)
}

func (r *Runner) workspace() string {
	if r.Config.GitHub.Workspace != "" {
		return r.Config.GitHub.Workspace
	}
	return "."
}

// upload packs the workspace (or app_dir) and uploads it as a Heroku source.
func (r *Runner) upload(ctx context.Context, res *Result) (*source.Archive, heroku.Source, error) {
	var (
		archive *source.Archive
		src     heroku.Source
	)
	if u := r.takeUpload(); u != nil {
		return u.archive, u.src, nil // the source the test run tested
	}
	if u := r.early; u != nil {
		// Started beside the first reads: it counts as this run's upload phase, of the time it took.
		r.early = nil
		if r.OnPhase != nil {
			r.OnPhase(context.Background(), "upload")
		}
		err := u.wait(ctx)
		res.Phases = append(res.Phases, Phase{Name: "upload", Duration: u.duration})
		if err != nil {
			u.cancel()
			if u.result() == nil {
				u.archive.Remove()
			}
			return nil, heroku.Source{}, err
		}
		r.logUpload(u.archive)
		return u.archive, u.src, nil
	}
	err := r.phase(res, "upload", func() error {
		var err error
		archive, src, err = r.packAndUpload(ctx, r.Heroku)
		if err == nil {
			r.logUpload(archive)
		}
		return err
	})
	return archive, src, err
}

// packAndUpload packs what a git push to Heroku would send (the files git tracks under app_dir, not
// whatever else earlier steps left in the workspace: a cloud credentials file, a .env) and uploads
// it as a Heroku source. It logs nothing: it may run beside the run (startUpload).
func (r *Runner) packAndUpload(ctx context.Context, hk Heroku) (*source.Archive, heroku.Source, error) {
	tracked, err := gitrepo.TrackedFiles(r.workspace())
	if err != nil {
		return nil, heroku.Source{}, err
	}
	dir, rel := r.sourceDir()
	sel := source.Selection{Tracked: source.Under(tracked, rel), Include: r.Config.IncludeUntracked}
	archive, err := source.Pack(ctx, dir, "", sel)
	if err != nil {
		return nil, heroku.Source{}, err
	}
	f, err := archive.Open()
	if err != nil {
		archive.Remove()
		return nil, heroku.Source{}, err
	}
	defer f.Close()
	src, err := hk.UploadSource(ctx, f, archive.Size)
	if err != nil {
		archive.Remove()
		return nil, heroku.Source{}, err
	}
	return archive, src, nil
}

// logUpload says what was uploaded and what was left out.
func (r *Runner) logUpload(a *source.Archive) {
	r.logSelection(a)
	r.Log.Infof("Uploaded the source (%s, sha256 %s)", byteSize(a.Size), a.SHA256[:12])
}

// logSelection says what the upload left out: untracked files (the count and the largest, so
// that a file the build needs is easy to spot) and what .slugignore excluded. File names come from
// the workspace, which the pull request's code may have written: they are quoted, so that no name
// can start a line of its own (a workflow command).
func (r *Runner) logSelection(a *source.Archive) {
	if a.LeftOut > 0 {
		r.Log.Infof("Left out %d untracked %s (the largest: %q, %s): only what git tracks is uploaded; list files built in the job in the input include_untracked to upload them",
			a.LeftOut, plural(a.LeftOut, "file", "files"), a.Largest, byteSize(a.LargestSize))
	}
	if a.SlugIgnored > 0 {
		r.Log.Infof("Left out %d %s that .slugignore excludes", a.SlugIgnored, plural(a.SlugIgnored, "file", "files"))
	}
	for _, p := range a.SlugProblems {
		r.Log.Warningf(".slugignore: %s", p)
	}
	if len(a.Skipped) > 0 {
		r.Log.Warningf("Left out %d sockets, pipes or devices, which a source tarball cannot carry", len(a.Skipped))
	}
}

// applyVars sends the config vars that were added or changed, before the new code; the vars that
// left the file are unset by finish once the new code has passed (VarChanges says why).
func (r *Runner) applyVars(ctx context.Context, app heroku.App, vars map[string]string, res *Result) error {
	return r.applyVarsTo(ctx, app, nil, vars, res)
}

// applyVarsTo is applyVars with the app's current config vars already read (nil: read them).
func (r *Runner) applyVarsTo(ctx context.Context, app heroku.App, current, vars map[string]string, res *Result) error {
	return r.phase(res, "config vars", func() error {
		if current == nil {
			var err error
			if current, err = r.Heroku.ConfigVars(ctx, app.ID); err != nil {
				return err
			}
		}
		changes, err := DiffVars(current, vars)
		if err != nil {
			return err
		}
		res.VarsSet = changes.Set
		if len(changes.Unset) > 0 {
			r.unsetMu.Lock()
			if r.unsetLater == nil {
				r.unsetLater = map[string]*pendingUnset{}
			}
			r.unsetLater[app.ID] = &pendingUnset{appID: app.ID, names: changes.Unset, patch: changes.Later}
			r.unsetMu.Unlock()
			r.Log.Infof("Config vars of %s: %s left the secrets file; they are unset once the new release has passed, since the running code may still read them", app.Name, strings.Join(changes.Unset, ", "))
		}
		if changes.Empty() {
			r.Log.Infof("Config vars of %s are up to date", app.Name)
			return nil
		}
		if len(changes.Set) > 0 {
			r.Log.Infof("Config vars of %s: setting %s (a release of its own: the running code restarts with them, and its release phase runs)", app.Name, strings.Join(changes.Set, ", "))
		}
		return r.Heroku.UpdateConfigVars(ctx, app.ID, changes.Patch)
	})
}

// pendingUnset is the second step of a config change: the vars that left the file, unset once the
// new code runs.
type pendingUnset struct {
	appID string
	names []string
	patch map[string]*string
}

// unsetLeftVars makes the second step of the config change on app, if one is pending. A failure is
// a warning, not a failed deploy: the new code runs, the vars are still listed as managed, and the
// next run unsets them.
func (r *Runner) unsetLeftVars(ctx context.Context, app heroku.App, res *Result) {
	r.unsetMu.Lock()
	u := r.unsetLater[app.ID]
	delete(r.unsetLater, app.ID)
	r.unsetMu.Unlock()
	if u == nil {
		return
	}
	err := r.phase(res, "config vars unset", func() error { return r.Heroku.UpdateConfigVars(ctx, app.ID, u.patch) })
	if err != nil {
		r.Log.Warningf("could not unset %s on %s: %v; the next run unsets them", strings.Join(u.names, ", "), app.Name, err)
		res.Notes = append(res.Notes, fmt.Sprintf("%s left the secrets file but are still set on %s: the next run unsets them", strings.Join(u.names, ", "), app.Name))
		return
	}
	res.VarsUnset = u.names
	note := fmt.Sprintf("unset %s on %s after the new release passed, in a release of its own (a restart, and the release phase)", strings.Join(u.names, ", "), app.Name)
	r.Log.Infof("Config vars: %s", note)
	res.Notes = append(res.Notes, note)
}

// targetState is what the app a build goes to holds before the run writes to it: its config vars
// and its current release (zero when it never released).
type targetState struct {
	vars    map[string]string
	release heroku.Release
}

// readTarget reads, at once, the app's config vars and its current release (which names the app:
// the app itself need not be read).
func (r *Runner) readTarget(ctx context.Context, appID string) (targetState, error) {
	var st targetState
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		st.vars, err = r.Heroku.ConfigVars(gctx, appID)
		if err == nil && st.vars == nil {
			st.vars = map[string]string{} // read, and empty
		}
		return err
	})
	g.Go(func() (err error) {
		st.release, err = r.Heroku.CurrentRelease(gctx, appID)
		if errors.Is(err, heroku.ErrNoRelease) {
			return nil
		}
		return err
	})
	return st, g.Wait()
}

// buildOn applies config vars, uploads the source, builds it on app and waits for the build and its
// release. An app given by its ID alone gets its name from its current release (res.App).
func (r *Runner) buildOn(ctx context.Context, p plan.Plan, app heroku.App, vars map[string]string, res *Result) error {
	head := r.headBeforeBuild(ctx, p) // read beside the app's state
	st, err := r.readTarget(ctx, app.ID)
	if err != nil {
		return err
	}
	return r.buildOnState(ctx, p, app, st, head, vars, res)
}

// buildOnState is buildOn with the app's state read. The rerun check's second read (the commit of
// the current release's slug) goes out beside the config var write; the build waits for both. A
// release of the commit being deployed means a rerun of the same commit (a re-run workflow, a
// retried job): nothing is built again, as a second build would make a second, identical release
// and restart the dynos for nothing. The release is also what a failed run measures the app's state
// against (aim). head, when not nil, is the review run's head check (headBeforeBuild), awaited
// before the first write.
func (r *Runner) buildOnState(ctx context.Context, p plan.Plan, app heroku.App, st targetState, head func() error, vars map[string]string, res *Result) error {
	res.App, res.AppURL = app.Name, app.WebURL
	rel := st.release
	var code heroku.Slug // what the app runs: its commit, its process types (maintenance.go)
	codeRead := start(func() (err error) {
		if rel.CodeID() == "" {
			return nil
		}
		// Cedar's commit is its slug's, Fir's its OCI image's.
		code, err = r.Heroku.Code(ctx, app.ID, rel)
		return err
	})
	if head != nil {
		if err := head(); err != nil {
			_ = codeRead.result()
			return err
		}
	}
	if app.Name == "" {
		// Known by its ID only: its current release names it, which saves reading the app, a
		// token of the account's rate limit; its URL comes from its domains (finish).
		if app.Name = rel.App; app.Name == "" {
			read, err := r.Heroku.App(ctx, app.ID)
			if err != nil {
				_ = codeRead.result()
				return err
			}
			app = read
		}
		res.App, res.AppURL = app.Name, app.WebURL
	}
	// What the app runs is recorded before the first write: the state a failure is reported
	// against (its commit, once its code is read).
	r.aim(p, app, rel, "")
	writeErr := r.checkMaintenance(ctx, p, app, res)
	if writeErr == nil {
		writeErr = r.applyVarsTo(ctx, app, st.vars, vars, res)
	}
	if err := codeRead.result(); err != nil {
		return errors.Join(writeErr, err)
	}
	running := code.Commit
	r.target.commit = running
	if writeErr != nil {
		return writeErr
	}
	if p.Commit != "" && running == p.Commit {
		res.Release = rel.Version
		if len(res.VarsSet)+len(res.VarsUnset) > 0 {
			// The new config vars made a release of their own, running the same code.
			if now, err := r.Heroku.CurrentRelease(ctx, app.ID); err == nil {
				res.Release = now.Version
			}
		}
		res.Action = "already deployed " + short(p.Commit)
		note := fmt.Sprintf("%s already runs %s (release v%d): not building it again", app.Name, short(p.Commit), rel.Version)
		r.Log.Noticef("%s", note)
		res.Notes = append(res.Notes, note)
		return nil
	}
	archive, src, err := r.upload(ctx, res)
	if err != nil {
		return err
	}
	defer archive.Remove()
	if r.usesMaintenance(p) {
		// A finished build releases at once: maintenance mode goes on before the build exists.
		if err := r.enterMaintenance(ctx, p, app, r.releasePhaseOfBuild(code), res); err != nil {
			return err
		}
	}
	var build heroku.Build
	err = r.phase(res, "build", func() error {
		var err error
		build, err = r.Heroku.CreateBuild(ctx, app.ID, heroku.BuildCreate{SourceURL: src.GetURL, Checksum: archive.SHA256, Version: p.Commit})
		if err != nil {
			return err
		}
		r.readDomainsAhead(ctx, app.ID) // for the summary, while Heroku builds
		res.BuildID = build.ID
		r.windowBuild(app.ID, build.ID)
		end := r.Log.Group(fmt.Sprintf("Build %s on %s", short(build.ID), app.Name))
		build, err = r.Heroku.WaitBuild(ctx, app.ID, build.ID, r.output())
		end()
		return err
	})
	if err != nil {
		return err
	}
	if build.ReleaseID == "" {
		return fmt.Errorf("build %s succeeded but Heroku made no release", build.ID)
	}
	// The checks after the release (superseded.go) go out beside the read that finds it done.
	check := r.newSettle(p, app.ID)
	var released heroku.Release
	if err := r.phase(res, "release", func() (err error) {
		released, err = r.waitReleaseSettling(ctx, app, build.ReleaseID, res, check.start(ctx, r))
		return err
	}); err != nil {
		return err
	}
	// The release phase has ended: the app leaves maintenance before its health check.
	if err := r.leaveMaintenance(ctx, app, res); err != nil {
		return err
	}
	r.settleWith(check, released)
	if res.Action == "" {
		res.Action = "built " + short(p.Commit)
	}
	return nil
}

// finish reads what the summary reports about the app and runs the health check. The reads are
// independent and made at once: the app's custom domains; its release, when the deploy created the
// app and so never saw the release (the release names the app); the app itself, when the caller
// knows only its ID and the app was not created by the run. A caller that knows the app's name but
// not its URL gets the URL from the domains (heroku.WebURL).
func (r *Runner) finish(ctx context.Context, app heroku.App, res *Result, created bool) error {
	id := app.ID
	var (
		wg                 sync.WaitGroup
		domains            []heroku.Domain
		full               heroku.App
		domainsErr, appErr error
	)
	if ahead, err, ok := r.takeDomains(ctx, id); ok {
		domains, domainsErr = ahead, err
	} else {
		wg.Go(func() { domains, domainsErr = r.Heroku.Domains(ctx, id) })
	}
	var releasedName string // the app's name, as its release names it
	if created {
		wg.Go(func() {
			if rel, err := r.Heroku.CurrentRelease(ctx, id); err == nil {
				res.Release, releasedName = rel.Version, rel.App
			}
		})
	} else if app.Name == "" {
		wg.Go(func() { full, appErr = r.Heroku.App(ctx, id) })
	}
	// After a review or staging run's release: is the commit still the head, and does the app
	// still run the release (superseded.go)? Read beside the rest, so no round trip is added.
	check := r.takeSettle(id)
	var (
		headErr, currentErr error
		current             heroku.Release
	)
	if check != nil && check.early == nil {
		wg.Go(func() { headErr = r.headNow(ctx, check.p) })
		if check.ours.CodeID() != "" {
			wg.Go(func() { current, currentErr = r.Heroku.CurrentRelease(ctx, id) })
		}
	}
	wg.Wait()
	if check != nil && check.early != nil {
		headErr, current, currentErr = check.early.wait()
	}
	if app.Name == "" && created && releasedName != "" {
		// A created app's release names it, and its URL is its default domain's (below): the app
		// need not be read (a token of the account's rate limit saved).
		app.Name = releasedName
	} else if app.Name == "" {
		if !created {
			if appErr != nil {
				return appErr
			}
			app = full
		} else if app, appErr = r.Heroku.App(ctx, id); appErr != nil {
			return appErr
		}
	}
	if check != nil {
		if err := r.settled(ctx, app, check, headErr, current, currentErr, res); err != nil {
			return err
		}
	}
	if domainsErr != nil {
		r.Log.Warningf("could not read the custom domains of %s: %v", app.Name, domainsErr)
	}
	for _, d := range domains {
		if d.Kind == "custom" {
			res.Domains = append(res.Domains, d)
		}
	}
	if app.WebURL == "" {
		app.WebURL = heroku.WebURL(domains)
	}
	if app.WebURL == "" {
		// The domains did not say (or could not be read): ask the app.
		if read, err := r.Heroku.App(ctx, id); err == nil {
			app.WebURL = read.WebURL
		} else {
			r.Log.Warningf("could not read the web URL of %s: %v", app.Name, err)
		}
	}
	res.App, res.AppURL = app.Name, app.WebURL
	if r.Config.HealthPath != "" && r.inOperatorMaintenance(id) {
		r.Log.Warningf("Health check of %s skipped: the app is in maintenance mode (not turned on by this action), so Heroku's router answers every request with the maintenance page", app.Name)
	} else if r.Config.HealthPath != "" {
		if err := r.phase(res, "health check", func() error { return r.healthCheck(ctx, app) }); err != nil {
			return err
		}
	}
	res.Deployed = true
	r.unsetLeftVars(ctx, app, res)
	return nil
}

func isNotFound(err error) bool {
	var apiErr *heroku.APIError
	return errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// waitRelease follows a release (its release phase's output in a log group) until it succeeds or
// fails, and records its version.
func (r *Runner) waitRelease(ctx context.Context, app heroku.App, releaseID string, res *Result) (heroku.Release, error) {
	return r.waitReleaseSettling(ctx, app, releaseID, res, nil)
}

// waitReleaseSettling is waitRelease with heroku's settling hook (nil for none).
func (r *Runner) waitReleaseSettling(ctx context.Context, app heroku.App, releaseID string, res *Result, settling func()) (heroku.Release, error) {
	end := r.Log.Group(fmt.Sprintf("Release on %s", app.Name))
	rel, err := r.Heroku.WaitReleaseSettling(ctx, app.ID, releaseID, r.output(), settling)
	end()
	if err != nil {
		return heroku.Release{}, err
	}
	res.Release = rel.Version
	return rel, nil
}

// output is where build, release, postdeploy and test output goes: the log (inside a
// ::stop-commands:: span: the pull request's scripts print it), and the tail kept for the check run.
func (r *Runner) output() io.Writer {
	r.tail.redactor = r.redactor
	return io.MultiWriter(r.Log.Stream(), &r.tail)
}

// Scrub replaces every decrypted value in s by "***". The runner masks the log itself; text the
// action sends elsewhere (a check run, a comment) must be scrubbed by the action.
func (r *Runner) Scrub(s string) string { return r.redactor().Redact(s) }

// redactor is Scrub's: every piece of every decrypted value (secrets.MaskLines) known so far.
func (r *Runner) redactor() *secrets.Redactor {
	r.secretsMu.Lock()
	defer r.secretsMu.Unlock()
	if r.redact == nil {
		r.redact = secrets.NewRedactor(r.secretValues)
	}
	return r.redact
}

// addSecretValues adds to what Scrub replaces.
func (r *Runner) addSecretValues(values ...string) {
	r.secretsMu.Lock()
	defer r.secretsMu.Unlock()
	r.secretValues = append(r.secretValues, values...)
	r.redact = nil // rebuilt on next use
}

// tailBuffer keeps the end of a stream of output (about tailSize bytes) for the check run and the
// job summary, scrubbed of secrets before anything is cut: a value cut in two before scrubbing
// would no longer match, and the piece the cut left would be published. Whole lines (ended by \n
// or \r, where the runner ends them too) are scrubbed as they complete; a line longer than the tail
// is scrubbed as far as no later write can complete a value in it (Redactor.SafePrefix). Only
// then is the start dropped, at a line boundary; a single line longer than the tail is cut inside,
// after scrubbing.
type tailBuffer struct {
	redactor func() *secrets.Redactor // nil: nothing to scrub
	size     int                      // 0: tailSize
	done     []byte                   // scrubbed
	open     []byte                   // the raw text after the last line end, not yet scrubbed
}

const tailSize = 48 << 10

func (t *tailBuffer) limit() int {
	if t.size > 0 {
		return t.size
	}
	return tailSize
}

func (t *tailBuffer) current() *secrets.Redactor {
	if t.redactor == nil {
		return nil
	}
	return t.redactor()
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.open = append(t.open, p...)
	rd := t.current()
	if i := bytes.LastIndexAny(t.open, "\r\n"); i >= 0 {
		t.done = append(t.done, rd.Redact(string(t.open[:i+1]))...)
		t.open = append([]byte(nil), t.open[i+1:]...)
	}
	if len(t.open) > 2*t.limit() {
		n := rd.SafePrefix(string(t.open))
		t.done = append(t.done, rd.Redact(string(t.open[:n]))...)
		t.open = append([]byte(nil), t.open[n:]...)
	}
	t.done = cutTail(t.done, t.limit())
	return len(p), nil
}

// String is the tail once the stream has ended: a value still open at the end is whole by then.
func (t *tailBuffer) String() string {
	all := append(append([]byte(nil), t.done...), t.current().Redact(string(t.open))...)
	return string(cutTail(all, t.limit()))
}

// cutTail keeps at most size bytes of the end of b (already scrubbed), starting on a line.
func cutTail(b []byte, size int) []byte {
	if len(b) <= size {
		return b
	}
	from := len(b) - size
	if j := bytes.IndexAny(b[from-1:], "\r\n"); j >= 0 && from+j < len(b) {
		from += j
	} else {
		for from < len(b) && !utf8.RuneStart(b[from]) {
			from++ // a line longer than the tail: cut it, but not inside a character
		}
	}
	return append([]byte(nil), b[from:]...)
}
