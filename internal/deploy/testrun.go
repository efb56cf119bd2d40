package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
	"github.com/pangeo-forge/deploy-action/internal/source"
)

// HerokuCI is the part of the Platform API a Heroku CI test run needs. It is not in Heroku, which
// every flow needs: the runner finds it on its Heroku client (*heroku.Client has it).
type HerokuCI interface {
	CreateTestRun(ctx context.Context, r heroku.TestRunCreate) (heroku.TestRun, error)
	WaitTestRun(ctx context.Context, id string, output heroku.NodeOutput) (heroku.TestRun, []heroku.TestNode, error)
}

// TestReporter reports the heroku_ci test run that precedes a review or staging deploy on its own,
// as the stage test (a check run named by check_name with {stage} = test, like Heroku CI's own check
// run): Start when the test run begins, Finish with its result. *gh.Reporter has these methods.
type TestReporter interface {
	Start(ctx context.Context, p plan.Plan)
	Finish(ctx context.Context, res *Result, err error)
}

// TestRunResult is what a Heroku CI test run did.
type TestRunResult struct {
	ID       string
	Number   int
	Status   string // succeeded, failed, errored or cancelled; "" when Heroku never started it
	Duration time.Duration
	Node     int    // index of the node Tail is from
	Tail     string // the end of the failing node's output (or the last node's), secrets scrubbed
}

// testTailLines bounds the failing output kept for the summary and the check run.
const testTailLines = 40

// gatedByTests says whether the plan's deploy waits for a Heroku CI test run (input heroku_ci).
func (r *Runner) gatedByTests(p plan.Plan) bool {
	return r.Config.HerokuCI && (p.Stage == plan.StageReview || p.Stage == plan.StageStaging)
}

// testOnly runs the stage test: the commit's Heroku CI test run, nothing deployed.
func (r *Runner) testOnly(ctx context.Context, p plan.Plan, res *Result) error {
	if err := r.checkTestScript(); err != nil {
		return err
	}
	if err := r.checkCheckout(p); err != nil {
		return err
	}
	pipeline, err := r.Heroku.Pipeline(ctx, r.Config.Pipeline)
	if err != nil {
		return err
	}
	if err := r.refuseOnFir(p, pipeline); err != nil {
		return err
	}
	return r.test(ctx, p, pipeline, res)
}

// checkTestScript makes sure app.json gives Heroku CI a test script, before any request: without
// one Heroku would spend a dyno failing to guess a test command.
func (r *Runner) checkTestScript() error {
	dir, _ := r.sourceDir()
	shown := filepath.ToSlash(filepath.Join(r.Config.AppDir, "app.json"))
	// Read through a Root: an app.json that is a symlink out of the app is not followed.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("heroku ci: opening %s: %w", r.Config.AppDir, err)
	}
	defer root.Close()
	data, err := root.ReadFile("app.json")
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("heroku ci: %s does not exist: Heroku CI reads the test script from it; add one with {\"environments\": {\"test\": {\"scripts\": {\"test\": \"pytest\"}}}}", shown)
	}
	if err != nil {
		return fmt.Errorf("heroku ci: reading %s: %w", shown, err)
	}
	var m struct {
		Scripts      map[string]any `json:"scripts"`
		Environments struct {
			Test struct {
				Scripts map[string]any `json:"scripts"`
			} `json:"test"`
		} `json:"environments"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("heroku ci: %s is not valid JSON (%v): fix it, Heroku reads the test setup from it", shown, err)
	}
	// The test environment's keys override the base ones, so a base scripts.test works too.
	for _, scripts := range []map[string]any{m.Environments.Test.Scripts, m.Scripts} {
		if s, ok := scripts["test"].(string); ok && strings.TrimSpace(s) != "" {
			return nil
		}
	}
	return fmt.Errorf("heroku ci: %s has no test script: add environments.test.scripts.test (e.g. \"pytest\"), with the add-ons the tests need in environments.test.addons (e.g. \"heroku-postgresql:in-dyno\")", shown)
}

// sourceDir is the directory that is packed and uploaded, the workspace or its app_dir, and where
// it is relative to the workspace (slash-separated, "." for the workspace).
func (r *Runner) sourceDir() (dir, rel string) {
	if r.AppDir.Path != "" {
		return r.AppDir.Path, r.AppDir.Rel
	}
	dir, rel = r.workspace(), "."
	if r.Config.AppDir != "" && r.Config.AppDir != "." {
		dir, rel = filepath.Join(dir, r.Config.AppDir), filepath.ToSlash(r.Config.AppDir)
	}
	return dir, rel
}

// test uploads the source, runs the pipeline's Heroku CI on it and waits for the verdict, streaming
// each test node's output in a log group. Before a deploy (heroku_ci), the upload is kept for the
// build that follows, and a test run that does not succeed stops the run: nothing else is written
// to Heroku.
func (r *Runner) test(ctx context.Context, p plan.Plan, pipeline heroku.Pipeline, res *Result) (err error) {
	ci, ok := r.Heroku.(HerokuCI)
	if !ok {
		return errors.New("heroku ci: this Heroku client cannot start test runs")
	}
	tr := &TestRunResult{}
	res.TestRun = tr
	// Before a deploy, the test run has a Result of its own for its own report (its check run); its
	// phases are the deploy's first ones too.
	own := res
	if p.Stage != plan.StageTest {
		own = &Result{Stage: plan.StageTest, Deployment: p.Deployment, Commit: p.Commit, TestRun: tr}
		defer func() { res.Phases = append(res.Phases, own.Phases...) }()
		if r.TestReport != nil {
			sub := p
			sub.Stage = plan.StageTest
			r.TestReport.Start(ctx, sub)
			defer func() { r.TestReport.Finish(ctx, own, err) }()
		}
	}

	archive, src, err := r.upload(ctx, own)
	if err != nil {
		return err
	}
	if own != res {
		r.keepUpload(archive, src) // what was tested is what is built
	} else {
		defer archive.Remove()
	}

	tails := map[int]*tailBuffer{}
	var run heroku.TestRun
	var nodes []heroku.TestNode
	start := r.now()
	err = r.phase(own, "test run", func() error {
		created, err := ci.CreateTestRun(ctx, heroku.TestRunCreate{
			PipelineID: pipeline.ID, Branch: p.Branch, CommitSHA: p.Commit,
			CommitMessage: commitMessage(p), SourceURL: src.GetURL,
		})
		if err != nil {
			if errors.Is(err, heroku.ErrCIUnavailable) {
				return fmt.Errorf("heroku ci: pipeline %s did not accept a test run: in the Heroku Dashboard, open the pipeline's Settings, connect it to the GitHub repository and click Enable Heroku CI (billed to the pipeline's owner), or remove heroku_ci: true: %w", pipeline.Name, err)
			}
			return err
		}
		tr.ID, tr.Number = created.ID, created.Number
		r.Log.Infof("Heroku CI test run #%d of %s on pipeline %s", created.Number, short(p.Commit), pipeline.Name)
		run, nodes, err = ci.WaitTestRun(ctx, created.ID, func(n heroku.TestNode) (io.Writer, func()) {
			tail := &tailBuffer{redactor: r.redactor}
			tails[n.Index] = tail
			end := r.Log.Group(fmt.Sprintf("Test run #%d, node %d", created.Number, n.Index))
			return io.MultiWriter(r.output(), tail), end
		})
		return err
	})
	tr.Duration = r.now().Sub(start)
	tr.Status = run.Status
	tr.Node, tr.Tail = failingTail(nodes, tails)
	tr.Tail = r.Scrub(tr.Tail)
	if tr.ID == "" {
		return err
	}
	own.LogTail = tr.Tail
	own.Action = fmt.Sprintf("test run #%d %s", tr.Number, orNone(tr.Status))
	if err != nil {
		return r.testFailure(p, tr, nodes, err)
	}
	r.Log.Infof("Heroku CI test run #%d succeeded in %s", tr.Number, tr.Duration.Round(time.Millisecond))
	return nil
}

// testFailure turns a test run that did not succeed into the error a user acts on.
func (r *Runner) testFailure(p plan.Plan, tr *TestRunResult, nodes []heroku.TestNode, err error) error {
	var failed *heroku.FailedError
	if !errors.As(err, &failed) {
		return err
	}
	stopped := ""
	if p.Stage != plan.StageTest {
		stopped = fmt.Sprintf("; the %s deploy did not start (heroku_ci: true)", p.Stage)
	}
	switch failed.Status {
	case "failed":
		code := ""
		for _, n := range nodes {
			if n.Index == tr.Node && n.ExitCode != nil {
				code = fmt.Sprintf(" with exit status %d", *n.ExitCode)
			}
		}
		return fmt.Errorf("heroku ci: test run #%d failed: the test script of node %d exited%s; its output is in the log group \"Test run #%d, node %d\"%s", tr.Number, tr.Node, code, tr.Number, tr.Node, stopped)
	case "errored":
		while := ""
		for _, n := range nodes {
			if n.Index == tr.Node && n.ErrorStatus != "" {
				while = fmt.Sprintf(" (while %s)", n.ErrorStatus)
			}
		}
		return fmt.Errorf("heroku ci: test run #%d errored while setting up the test environment%s: %s: check the add-ons and buildpacks of environments.test in app.json (e.g. heroku-postgresql:in-dyno) and that the pipeline's owner may provision them; the tests did not run%s",
			tr.Number, while, orNone(r.Scrub(failed.Message)), stopped)
	}
	return fmt.Errorf("heroku ci: test run #%d was %s on Heroku before it finished%s: %w", tr.Number, failed.Status, stopped, err)
}

// failingTail picks the output to show: the first node that did not succeed, else the last one.
func failingTail(nodes []heroku.TestNode, tails map[int]*tailBuffer) (int, string) {
	pick := -1
	for _, n := range nodes {
		if n.Status != "succeeded" {
			pick = n.Index
			break
		}
		pick = n.Index
	}
	t := tails[pick]
	if t == nil {
		return max(pick, 0), ""
	}
	return pick, lastLines(t.String(), testTailLines)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// commitMessage is what Heroku's Tests tab shows for the run: the action only knows the pull request
// or the branch (the commit message is not in every event, and there is no git binary to read it).
func commitMessage(p plan.Plan) string {
	if p.PR != 0 {
		return fmt.Sprintf("pull request #%d (%s) at %s", p.PR, p.Branch, short(p.Commit))
	}
	if p.Branch != "" {
		return fmt.Sprintf("%s at %s", p.Branch, short(p.Commit))
	}
	return short(p.Commit)
}

// pendingUpload is a source the test run uploaded, for the build of the same run.
type pendingUpload struct {
	archive *source.Archive
	src     heroku.Source
}

func (r *Runner) keepUpload(a *source.Archive, src heroku.Source) {
	r.uploaded = &pendingUpload{archive: a, src: src}
}

// takeUpload hands the kept upload over (once): the taker removes its archive.
func (r *Runner) takeUpload() *pendingUpload {
	u := r.uploaded
	r.uploaded = nil
	return u
}

// dropUpload removes an upload nobody took (the deploy failed before its build).
func (r *Runner) dropUpload() {
	if u := r.takeUpload(); u != nil {
		u.archive.Remove()
	}
}
