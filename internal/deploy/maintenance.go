package deploy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
)

// Maintenance windows (the maintenance input). With migrations (or always), a staging or prod
// deploy puts the app into Heroku's maintenance mode before it creates the build or makes the
// promotion (a finished build releases at once: there is no later moment), and takes it out once
// the release phase has ended, before the health check (the router answers every request with the
// maintenance page while it is on, the health check's too). The action only ever turns off a
// window it turned on: a window found on at the start is an operator's, and left alone, unless
// GitHub holds the record of a run that turned it on and stopped before the release phase ended
// (MaintenanceRecords); that window is turned off once no release phase runs. docs/faults.md,
// "Maintenance windows".

// MaintenanceRecords keeps the record of the maintenance windows the action opens, where the next
// run can read it without a release (gh.Client: a Deployment of its own per window).
type MaintenanceRecords interface {
	OpenMaintenanceWindow(ctx context.Context, app, sha, description string) (int64, error)
	CloseMaintenanceWindow(ctx context.Context, id int64, description string) error
	OpenMaintenanceWindowOf(ctx context.Context, app string) (int64, error)
}

// MaintenanceWindow is the part of a maintenance window this run saw on one app.
type MaintenanceWindow struct {
	App      string
	Duration time.Duration // from the moment this run turned it on (or took it over) until it turned it off, or until the run ended
	LeftOn   bool          // the run ended with the app still in maintenance (its release phase still ran)
}

// window is a maintenance window this run holds open on an app.
type window struct {
	app         heroku.App
	start       time.Time
	record      int64  // the GitHub record, 0 when none could be made
	buildID     string // the build made while it is open: its release follows at once
	promotionID string // the promotion made while it is open
}

// maintenance is the Runner's state of the windows; the zero value is ready.
type maintenance struct {
	mu       sync.Mutex
	open     map[string]*window // by app ID
	operator map[string]bool    // apps an operator put in maintenance: not health-checked
}

// releasePhaseOfBuild says why a build on app will run a release phase, "" when nothing says it
// will: the checkout's Procfile (or heroku.yml) declares a release process, or the slug the app
// runs now names one (Heroku reports it in the slug's process_types; a build of the app keeps it
// unless the Procfile changed). Either is enough: a window that turns out not to be needed closes
// as soon as the release is out.
func (r *Runner) releasePhaseOfBuild(running heroku.Slug) string {
	if cmd, file := r.declaredReleaseCommand(); cmd != "" {
		return fmt.Sprintf("the checkout's %s declares a release phase (%s)", file, cmd)
	}
	if cmd := running.ProcessTypes["release"]; cmd != "" {
		return fmt.Sprintf("the slug the app runs now names a release process type (%s)", cmd)
	}
	return ""
}

// releasePhaseOfPromotion says why promoting release (whose slug is slug) will run a release phase
// on the target, "" when neither says it will: the slug's process types name release (a promotion
// runs the slug's release phase on the target), or the release ran one on the source (Heroku gives
// such a release an output_stream_url: the Heroku CLI's releases:output has nothing to show
// without one).
func releasePhaseOfPromotion(release heroku.Release, slug heroku.Slug) string {
	if cmd := slug.ProcessTypes["release"]; cmd != "" {
		return fmt.Sprintf("the promoted slug names a release process type (%s)", cmd)
	}
	if release.OutputStreamURL != "" {
		return fmt.Sprintf("the promoted release v%d ran a release phase on staging", release.Version)
	}
	return ""
}

// declaredReleaseCommand is the release command the checkout declares under app_dir: a Procfile's
// "release:" line, or a heroku.yml with a top-level release section. Files are read through a Root,
// so a symlink out of the app is not followed.
func (r *Runner) declaredReleaseCommand() (cmd, file string) {
	dir, _ := r.sourceDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", ""
	}
	defer root.Close()
	if data, err := root.ReadFile("Procfile"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			name, command, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(name) == "release" && strings.TrimSpace(command) != "" {
				return strings.TrimSpace(command), "Procfile"
			}
		}
	}
	if data, err := root.ReadFile("heroku.yml"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if strings.HasPrefix(line, "release:") {
				return "its release section", "heroku.yml"
			}
		}
	}
	return "", ""
}

// dryRunMaintenance says what the maintenance input would do on app: the app as it is now (already
// in maintenance mode or not) and the mode; what the release runs is known only during the run.
func (r *Runner) dryRunMaintenance(app heroku.App) {
	switch {
	case app.Maintenance:
		r.Log.Infof("Dry run: %s is in maintenance mode now: the run would turn it off only if an earlier run left it on (GitHub holds its open record), once no release phase runs", app.Name)
	case r.Config.Maintenance == config.MaintenanceAlways:
		r.Log.Infof("Dry run: would put %s into maintenance mode before the release and take it out once its release phase has ended (maintenance: always)", app.Name)
	default:
		r.Log.Infof("Dry run: would put %s into maintenance mode around the release if it runs a release phase (maintenance: migrations)", app.Name)
	}
}

// usesMaintenance reports whether the maintenance input applies to the stage: staging and prod.
// Review apps are left out: they serve no users, and each has its own database to migrate.
func (r *Runner) usesMaintenance(p plan.Plan) bool {
	return r.Config.Maintenance != "" && r.Config.Maintenance != config.MaintenanceNever &&
		(p.Stage == plan.StageStaging || p.Stage == plan.StageProd)
}

// checkMaintenance is called before the run's first write to app (staging or prod, maintenance
// migrations or always): it reads the app's maintenance mode. A window a stopped run left on (GitHub
// holds its open record) is turned off once no release phase runs, whatever this run then does;
// any other window is an operator's, left alone (and the app is not health-checked).
func (r *Runner) checkMaintenance(ctx context.Context, p plan.Plan, app heroku.App, res *Result) error {
	if !r.usesMaintenance(p) {
		return nil
	}
	now, err := r.Heroku.App(ctx, app.ID)
	if err != nil || !now.Maintenance {
		return err
	}
	var record int64
	if r.MaintenanceRecords != nil {
		if record, err = r.MaintenanceRecords.OpenMaintenanceWindowOf(ctx, app.Name); err != nil {
			r.Log.Warningf("%v: taking the window as an operator's", err)
		}
	}
	if record == 0 {
		r.windows().setOperator(app.ID)
		note := fmt.Sprintf("%s was already in maintenance mode, not turned on by this action: it is left on (turn it off with heroku maintenance:off --app %s)", app.Name, app.Name)
		if r.Config.HealthPath != "" {
			note += ", and the health check is skipped, since Heroku's router answers it with the maintenance page"
		}
		r.Log.Warningf("%s", note)
		res.Notes = append(res.Notes, note)
		return nil
	}
	if err := r.awaitReleasePhase(ctx, app); err != nil {
		return err
	}
	w := &window{app: app, start: r.now(), record: record}
	if err := r.closeWindow(ctx, w, res); err != nil {
		return err
	}
	note := fmt.Sprintf("turned off the maintenance mode of %s that an earlier run left on when it stopped during its release phase (no release phase runs now)", app.Name)
	r.Log.Noticef("%s", note)
	res.Notes = append(res.Notes, note)
	return nil
}

// enterMaintenance is called right before the build is created or the promotion made on app, after
// checkMaintenance. phase says why the new release will run a release phase ("" when nothing says
// so). It turns maintenance mode on when the maintenance input asks for it, unless an operator's
// window is on already. An error stops the deploy before its release.
func (r *Runner) enterMaintenance(ctx context.Context, p plan.Plan, app heroku.App, phase string, res *Result) error {
	if !r.usesMaintenance(p) || r.inOperatorMaintenance(app.ID) || r.windows().get(app.ID) != nil {
		return nil
	}
	why := ""
	switch {
	case r.Config.Maintenance == config.MaintenanceAlways:
		why = "maintenance: always"
		if phase != "" {
			why += "; " + phase
		}
	case phase != "":
		why = phase
	}
	if why == "" {
		r.Log.Infof("Maintenance: nothing says the new release of %s runs a release phase (no release process in the slug, nor in the checkout's Procfile or heroku.yml): the app stays up", app.Name)
		return nil
	}
	if _, err := r.Heroku.SetMaintenance(ctx, app.ID, true); err != nil {
		return fmt.Errorf("%w; nothing was released: run again, or set maintenance: never to deploy without maintenance mode", err)
	}
	w := &window{app: app, start: r.now()}
	r.windows().put(w)
	r.Log.Noticef("Maintenance mode on for %s (%s): Heroku's router serves the maintenance page until the release phase has ended", app.Name, why)
	r.recordWindow(ctx, p, w)
	return nil
}

// recordWindow records w on GitHub, so that a run stopped before the release phase ended leaves a
// window the next run knows to turn off. Without a record, the window is still this run's to close.
func (r *Runner) recordWindow(ctx context.Context, p plan.Plan, w *window) {
	if r.MaintenanceRecords == nil {
		r.Log.Warningf("maintenance window of %s: no GitHub token to record it with: if this run stops during the release phase, the next run cannot tell the window from one an operator opened and leaves it on", w.app.Name)
		return
	}
	id, err := r.MaintenanceRecords.OpenMaintenanceWindow(ctx, w.app.Name, p.Commit, fmt.Sprintf("deploy-action turned maintenance mode on for %s", w.app.Name))
	if err != nil {
		r.Log.Warningf("%v: if this run stops during the release phase, the next run cannot tell the window from one an operator opened and leaves it on", err)
	}
	w.record = id
}

// awaitReleasePhase waits until the app's newest release is no longer pending (its release phase
// has ended, however it ended), streaming the phase's output.
func (r *Runner) awaitReleasePhase(ctx context.Context, app heroku.App) error {
	newest, err := r.Heroku.Releases(ctx, app.ID, 1)
	if err != nil || len(newest) == 0 || newest[0].Status != "pending" {
		return err
	}
	r.Log.Infof("%s is in maintenance mode, left on by an earlier run: waiting for the release phase of v%d that it started before turning maintenance off", app.Name, newest[0].Version)
	end := r.Log.Group(fmt.Sprintf("Release phase of v%d on %s (an earlier run's)", newest[0].Version, app.Name))
	_, err = r.Heroku.WaitRelease(ctx, app.ID, newest[0].ID, r.output())
	end()
	var failed *heroku.FailedError
	if errors.As(err, &failed) {
		return nil // it has ended
	}
	return err
}

// windowBuild and windowPromotion note what the run started on app while its window is open: until
// it has released, turning maintenance off would let the release phase run with the app up.
func (r *Runner) windowBuild(appID, buildID string) {
	r.windows().update(appID, func(w *window) { w.buildID = buildID })
}

func (r *Runner) windowPromotion(appID, promotionID string) {
	r.windows().update(appID, func(w *window) { w.promotionID = promotionID })
}

// leaveMaintenance turns maintenance mode off for app once its release phase has ended, before the
// health check. It does nothing when the run holds no window on app.
func (r *Runner) leaveMaintenance(ctx context.Context, app heroku.App, res *Result) error {
	w := r.windows().get(app.ID)
	if w == nil {
		return nil
	}
	return r.closeWindow(ctx, w, res)
}

// closeWindow turns maintenance mode off, closes the record and reports how long the window lasted.
func (r *Runner) closeWindow(ctx context.Context, w *window, res *Result) error {
	if _, err := r.Heroku.SetMaintenance(ctx, w.app.ID, false); err != nil {
		return fmt.Errorf("%w: %s is still in maintenance mode: turn it off with heroku maintenance:off --app %s", err, w.app.Name, w.app.Name)
	}
	r.windows().drop(w.app.ID)
	d := r.now().Sub(w.start)
	if w.record != 0 && r.MaintenanceRecords != nil {
		if err := r.MaintenanceRecords.CloseMaintenanceWindow(ctx, w.record, fmt.Sprintf("maintenance mode of %s off after %s", w.app.Name, seconds(d))); err != nil {
			r.Log.Warningf("could not close the record of the maintenance window of %s on GitHub: %v", w.app.Name, err)
		}
	}
	res.Maintenance = append(res.Maintenance, MaintenanceWindow{App: w.app.Name, Duration: d})
	r.Log.Noticef("Maintenance mode off for %s: it was in maintenance for %s", w.app.Name, seconds(d))
	return nil
}

// maintenanceAfterFailure settles the windows still open when the deploy failed or was stopped:
// while the build or promotion the run made has not released, or the release phase still runs,
// the window stays on and the run says so (the next run turns it off); otherwise it is turned off.
// A stopped run has seconds left (stoppedContext).
func (r *Runner) maintenanceAfterFailure(ctx context.Context, res *Result) {
	rctx, cancel := stoppedContext(ctx)
	defer cancel()
	for _, w := range r.windows().all() {
		running, err := r.stillReleasing(rctx, w)
		switch {
		case err != nil:
			running = fmt.Sprintf("its state could not be read (%v)", err)
		case running == "":
			if err := r.closeWindow(rctx, w, res); err != nil {
				r.Log.Warningf("%v", err)
				running = "it could not be turned off"
			}
		}
		if running == "" {
			continue
		}
		r.windows().drop(w.app.ID)
		res.Maintenance = append(res.Maintenance, MaintenanceWindow{App: w.app.Name, Duration: r.now().Sub(w.start), LeftOn: true})
		note := fmt.Sprintf("%s stays in maintenance mode: %s; the next run with maintenance: migrations or always turns it off once no release phase runs, or turn it off with heroku maintenance:off --app %s", w.app.Name, running, w.app.Name)
		r.Log.Warningf("%s", note)
		res.Notes = append(res.Notes, note)
	}
}

// stillReleasing says what of w's build, promotion or release phase still runs, "" when nothing does.
func (r *Runner) stillReleasing(ctx context.Context, w *window) (string, error) {
	if w.buildID != "" {
		b, err := r.Heroku.Build(ctx, w.app.ID, w.buildID)
		if err != nil {
			return "", err
		}
		if b.Status == "pending" {
			return fmt.Sprintf("the run stopped while build %s still ran, whose release (and release phase) follows at once", short(b.ID)), nil
		}
	}
	if w.promotionID != "" {
		pr, err := r.Heroku.Promotion(ctx, w.promotionID)
		if err != nil {
			return "", err
		}
		if pr.Status == "pending" {
			return "the run stopped while the promotion still ran, whose release (and release phase) follows", nil
		}
	}
	newest, err := r.Heroku.Releases(ctx, w.app.ID, 1)
	if err != nil {
		return "", err
	}
	if len(newest) == 1 && newest[0].Status == "pending" {
		return fmt.Sprintf("the run stopped while the release phase of v%d still ran", newest[0].Version), nil
	}
	return "", nil
}

// inOperatorMaintenance reports whether an operator had app in maintenance mode: its health check
// would only ever get the maintenance page.
func (r *Runner) inOperatorMaintenance(appID string) bool {
	m := r.windows()
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.operator[appID]
}

func (r *Runner) windows() *maintenance { return &r.maint }

func (m *maintenance) put(w *window) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.open == nil {
		m.open = map[string]*window{}
	}
	m.open[w.app.ID] = w
}

func (m *maintenance) get(appID string) *window {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.open[appID]
}

func (m *maintenance) update(appID string, f func(*window)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w := m.open[appID]; w != nil {
		f(w)
	}
}

func (m *maintenance) drop(appID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.open, appID)
}

func (m *maintenance) all() []*window {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*window, 0, len(m.open))
	for _, w := range m.open {
		out = append(out, w)
	}
	return out
}

func (m *maintenance) setOperator(appID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.operator == nil {
		m.operator = map[string]bool{}
	}
	m.operator[appID] = true
}

// seconds is a duration as the summary gives it: "42 s", "1.5 s".
func seconds(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%d s", int(d.Round(time.Second)/time.Second))
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}
