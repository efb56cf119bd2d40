package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
)

// herokuWrites are the requests other than reads that Heroku received, the source upload's included,
// IDs and signatures left out.
func herokuWrites(reqs []herokuapi.Request) []string {
	var out []string
	for _, r := range reqs {
		if r.Method == "GET" || r.Method == "HEAD" {
			continue
		}
		w, _, _ := strings.Cut(r.Method+" "+r.Path, "?")
		out = append(out, uuidRe.ReplaceAllString(w, "ID"))
	}
	return out
}

// checkRuns are the check runs on GitHub as a user sees them: name, commit and conclusion.
// checkRuns lists the repository's check runs as "name sha conclusion", sorted: the reporter opens
// the test run's and the deploy's from its background worker, in no fixed order.
func checkRuns(w *World) []string {
	var out []string
	for _, cr := range w.GitHub.CheckRuns(Repository) {
		out = append(out, cr.Name+" "+short(cr.HeadSHA)+" "+cr.Conclusion)
	}
	slices.Sort(out)
	return out
}

func short(sha string) string { return sha[:7] }

// testStep is the PR-opened step with Heroku CI gating the review app, or the push to main gating
// staging, with more inputs.
func testStep(base string, kv ...string) Step {
	for _, s := range LifecycleCI() {
		if s.Name == base {
			for i := 0; i+1 < len(kv); i += 2 {
				s.Inputs[kv[i]] = kv[i+1]
			}
			return s
		}
	}
	panic("no lifecycle step " + base)
}

// TestHerokuCI runs Heroku CI test runs through the entry point: a passing run lets the deploy go
// on with the source it tested, a failing or erroring one stops the run before any other write to
// Heroku, and each is reported in the outputs, the summary and a check run of its own.
func TestHerokuCI(t *testing.T) {
	t.Parallel()
	upload := []string{"POST /sources", "PUT /blobs/ID", "POST /test-runs"}
	tests := []struct {
		name       string
		step       Step
		seed       func(w *World)
		code       int
		outputs    map[string]string // a subset of the outputs
		writes     []string          // Heroku writes, after the upload and the test run
		log        []string          // in the log
		errorLine  string            // in the ::error line
		summary    []string          // in the job summary
		checkRuns  []string
		testStatus string // the test run's status on Heroku
	}{
		{
			name: "passing run, then the review app", step: testStep("pr-opened"), code: 0,
			outputs:    map[string]string{"stage": "review", "deployed": "true", "test_run_number": "1", "test_status": "succeeded"},
			writes:     []string{"POST /review-apps"},
			log:        []string{"::group::Test run #1, node 0", "Running test command `pytest -x tests`", "42 passed", "Heroku CI test run #1 succeeded"},
			summary:    []string{"| Heroku CI test run | #1 succeeded in ", "| test run | "},
			checkRuns:  []string{"deploy/review " + short(CommitOpened) + " success", "deploy/test " + short(CommitOpened) + " success"},
			testStatus: "succeeded",
		},
		{
			name: "failing run: no review app", step: testStep("pr-opened"), code: 1,
			seed: func(w *World) {
				w.Heroku.FailNextTestRun(Pipeline, "FAILED tests/test_api.py::test_recipe_run_status - assert 500 == 200")
			},
			outputs:   map[string]string{"stage": "review", "deployed": "false", "test_run_number": "1", "test_status": "failed"},
			log:       []string{"::group::Test run #1, node 0", "FAILED tests/test_api.py::test_recipe_run_status"},
			errorLine: "heroku ci: test run #1 failed: the test script of node 0 exited with exit status 1",
			// The review file encrypts ORCHESTRATOR_DEBUG: true, so the summary, scrubbed like all
			// text the action sends, stars it as the runner does in the log.
			summary:    []string{"### deploy/review: failed", "the review deploy did not start (heroku_ci: true)", "| Heroku CI test run | #1 failed in ", "<details open><summary>Test run #1, node 0: the end of its output</summary>", "FAILED tests/test_api.py::test_recipe_run_status - assert 500 == 200"},
			checkRuns:  []string{"deploy/review " + short(CommitOpened) + " failure", "deploy/test " + short(CommitOpened) + " failure"},
			testStatus: "failed",
		},
		{
			name: "erroring setup: no review app", step: testStep("pr-opened"), code: 1,
			seed: func(w *World) {
				w.Heroku.FailAddon("heroku-postgresql", "in-dyno databases are unavailable in this region")
			},
			outputs:    map[string]string{"deployed": "false", "test_run_number": "1", "test_status": "errored"},
			errorLine:  "heroku ci: test run #1 errored while setting up the test environment (while creating): Add-on heroku-postgresql:in-dyno could not be provisioned: in-dyno databases are unavailable in this region: check the add-ons and buildpacks of environments.test in app.json",
			summary:    []string{"| Heroku CI test run | #1 errored in "},
			checkRuns:  []string{"deploy/review " + short(CommitOpened) + " failure", "deploy/test " + short(CommitOpened) + " failure"},
			testStatus: "errored",
		},
		{
			name: "failing run on main: no staging build, no config vars", step: testStep("main"), code: 1,
			seed:       func(w *World) { w.Heroku.FailNextTestRun(Pipeline, "FAILED tests/test_db.py::test_migrations") },
			outputs:    map[string]string{"stage": "staging", "deployed": "false", "test_status": "failed"},
			errorLine:  "the staging deploy did not start (heroku_ci: true)",
			checkRuns:  []string{"deploy/staging " + short(CommitMain) + " failure", "deploy/test " + short(CommitMain) + " failure"},
			testStatus: "failed",
		},
		{
			name: "stage test alone", step: withInputs(testStep("pr-opened"), "stage", "test"), code: 0,
			outputs:    map[string]string{"stage": "test", "deployed": "false", "deployment": "", "test_run_number": "1", "test_status": "succeeded"},
			log:        []string{"::group::Test run #1, node 0"},
			summary:    []string{"### deploy/test: done", "| Action | test run #1 succeeded |"},
			checkRuns:  []string{"deploy/test " + short(CommitOpened) + " success"},
			testStatus: "succeeded",
		},
		{
			name: "stage test that fails", step: withInputs(testStep("main"), "stage", "test"), code: 1,
			seed:       func(w *World) { w.Heroku.FailNextTestRun(Pipeline, "FAILED tests/test_db.py::test_migrations") },
			outputs:    map[string]string{"stage": "test", "test_status": "failed"},
			errorLine:  "heroku ci: test run #1 failed",
			summary:    []string{"FAILED tests/test_db.py::test_migrations"},
			checkRuns:  []string{"deploy/test " + short(CommitMain) + " failure"},
			testStatus: "failed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			if tt.seed != nil {
				tt.seed(w)
			}
			run, err := w.Run(context.Background(), tt.step, nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.Code != tt.code {
				t.Fatalf("exit code %d, want %d\n%s", run.Code, tt.code, run.Log)
			}
			for k, v := range tt.outputs {
				if run.Outputs[k] != v {
					t.Errorf("output %s = %q, want %q", k, run.Outputs[k], v)
				}
			}
			reqs := w.Heroku.Requests()
			got := herokuWrites(reqs)
			want := append(append([]string(nil), upload...), tt.writes...)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Heroku writes (-want +got):\n%s", diff)
			}
			for _, s := range tt.log {
				if !strings.Contains(run.Log, s) {
					t.Errorf("the log lacks %q:\n%s", s, run.Log)
				}
			}
			if errs := strings.Join(errorLines(run.Log), "\n"); !strings.Contains(errs, tt.errorLine) || (tt.errorLine == "") != (errs == "") {
				t.Errorf("error lines:\n%s\nwant one containing %q", errs, tt.errorLine)
			}
			for _, s := range tt.summary {
				if !strings.Contains(run.Summary, s) {
					t.Errorf("the summary lacks %q:\n%s", s, run.Summary)
				}
			}
			if diff := cmp.Diff(tt.checkRuns, checkRuns(w)); diff != "" {
				t.Errorf("check runs (-want +got):\n%s", diff)
			}
			runs := w.Heroku.TestRuns(Pipeline)
			if len(runs) != 1 || runs[0].Status != tt.testStatus || runs[0].CommitSHA != tt.step.Checkout || run.Outputs["test_run_id"] != runs[0].ID {
				t.Errorf("test runs on Heroku = %+v, want one %s of %s, id %s", runs, tt.testStatus, tt.step.Checkout, run.Outputs["test_run_id"])
			}
			// What was tested is what is deployed: one upload serves both.
			if tt.code == 0 && tt.step.Inputs["stage"] == "" {
				src, _, _ := strings.Cut(runs[0].SourceURL, "?") // JSON escapes the query's &
				if !strings.Contains(string(findRequest(reqs, "POST", "/review-apps").Body), src) {
					t.Errorf("the review app was not created from the tested source %s", src)
				}
			}
			if v := w.Heroku.Violations(); len(v) > 0 {
				t.Errorf("Heroku schema violations: %v", v)
			}
			if v := w.GitHub.Violations(); len(v) > 0 {
				t.Errorf("GitHub description violations: %v", v)
			}
		})
	}
}

func findRequest(reqs []herokuapi.Request, method, path string) herokuapi.Request {
	for _, r := range reqs {
		if r.Method == method && r.Path == path {
			return r
		}
	}
	return herokuapi.Request{}
}

// TestHerokuCIBadSetup: a pipeline that cannot run tests, or an app.json without a test script,
// fails the run with what to change, before anything is deployed.
func TestHerokuCIBadSetup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		step      Step
		seed      func(t *testing.T, w *World)
		errorLine string
		writes    []string // every Heroku write of the run
		requests  bool     // whether the run may send any Heroku request at all
	}{
		{
			name: "Heroku CI off", step: testStep("pr-opened"),
			seed:      func(_ *testing.T, w *World) { w.Heroku.DisableCI(Pipeline) },
			errorLine: "heroku ci: pipeline pangeo-forge-api-flow did not accept a test run: in the Heroku Dashboard, open the pipeline's Settings, connect it to the GitHub repository and click Enable Heroku CI",
			writes:    []string{"POST /sources", "PUT /blobs/ID", "POST /test-runs"}, requests: true,
		},
		{
			name: "pipeline not connected to GitHub", step: withInputs(testStep("main"), "stage", "test"),
			seed:      func(_ *testing.T, w *World) { w.Heroku.DisableReviewApps(Pipeline) },
			errorLine: "heroku: Not found. (not_found, HTTP 404) on POST /test-runs",
			writes:    []string{"POST /sources", "PUT /blobs/ID", "POST /test-runs"}, requests: true,
		},
		{
			name: "app.json without a test script", step: testStep("pr-opened"),
			seed: func(t *testing.T, w *World) {
				writeFile(t, filepath.Join(w.Workspace, "app.json"), `{"name": "x", "scripts": {"postdeploy": "python -m migrate"}}`)
			},
			errorLine: "heroku ci: app.json has no test script: add environments.test.scripts.test",
		},
		{
			name: "no app.json", step: withInputs(testStep("main"), "stage", "test"),
			seed: func(t *testing.T, w *World) {
				if err := os.Remove(filepath.Join(w.Workspace, "app.json")); err != nil {
					t.Fatal(err)
				}
			},
			errorLine: "heroku ci: app.json does not exist: Heroku CI reads the test script from it",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			tt.seed(t, w)
			run, err := w.Run(context.Background(), tt.step, nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.Code != 1 {
				t.Fatalf("exit code %d, want 1\n%s", run.Code, run.Log)
			}
			if errs := strings.Join(errorLines(run.Log), "\n"); !strings.Contains(errs, tt.errorLine) {
				t.Errorf("error lines:\n%s\nwant one containing %q", errs, tt.errorLine)
			}
			reqs := w.Heroku.Requests()
			if diff := cmp.Diff(tt.writes, herokuWrites(reqs)); diff != "" {
				t.Errorf("Heroku writes (-want +got):\n%s", diff)
			}
			if !tt.requests && len(reqs) > 0 {
				t.Errorf("the run sent %d requests to Heroku, want none: app.json is checked first", len(reqs))
			}
			if run.Outputs["deployed"] != "false" {
				t.Errorf("deployed = %q, want false", run.Outputs["deployed"])
			}
		})
	}
}

// TestLifecycleCI runs the demo's lifecycle, with Heroku CI before each deploy from a branch, and
// checks that each test run precedes the deploy it gates and that the lifecycle still deploys.
func TestLifecycleCI(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, step := range LifecycleCI() {
		before := len(w.Heroku.Requests())
		run, err := w.Run(context.Background(), step, nil)
		if err != nil {
			t.Fatal(err)
		}
		if run.Code != 0 {
			t.Fatalf("%s: exit code %d\n%s", step.Title, run.Code, run.Log)
		}
		got := herokuWrites(w.Heroku.Requests()[before:])
		if step.Inputs["heroku_ci"] == "true" {
			if len(got) < 4 || !cmp.Equal(got[:3], []string{"POST /sources", "PUT /blobs/ID", "POST /test-runs"}) {
				t.Errorf("%s: Heroku writes %v, want the upload and the test run first", step.Name, got)
			}
			if run.Outputs["test_status"] != "succeeded" || run.Outputs["deployed"] != "true" {
				t.Errorf("%s: outputs %v", step.Name, run.Outputs)
			}
		}
	}
	if n := len(w.Heroku.TestRuns(Pipeline)); n != 3 {
		t.Errorf("%d test runs, want 3 (PR opened, PR updated, main)", n)
	}
	var tests []githubapi.CheckRun
	for _, cr := range w.GitHub.CheckRuns(Repository) {
		if cr.Name == "deploy/test" {
			tests = append(tests, cr)
		}
	}
	if len(tests) != 3 {
		t.Errorf("%d deploy/test check runs, want 3", len(tests))
	}
	if v := w.Heroku.Violations(); len(v) > 0 {
		t.Errorf("Heroku schema violations: %v", v)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
