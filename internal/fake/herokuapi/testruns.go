package herokuapi

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

// Heroku CI: test runs of a pipeline, each with one test node (a dyno that
// sets the app up from app.json's test environment and runs its test
// script). A run goes pending, creating (add-ons provisioned), building (the
// buildpacks compile the source), running (the test script), then
// succeeded, failed (the script exited non-zero) or errored (setup broke).

// TestRun is a Heroku CI test run as the server holds it.
type TestRun struct {
	ID            string
	Number        int
	Status        string // pending, creating, building, running, succeeded, failed, errored
	Message       string // why it errored
	Branch        string
	CommitSHA     string
	CommitMessage string
	SourceURL     string
}

// ciState is the server's Heroku CI state; its maps are made on first use.
type ciState struct {
	pipelines map[string]*ciRec // by pipeline ID
	runs      map[string]*testRunRec
	nodes     map[string]*testNodeRec
}

type ciRec struct {
	enabled   bool
	runs      int    // test runs created so far: the next number is runs+1
	failNext  string // output of the failing test of the next run
	errorNext string // setup error of the next run
}

type testRunRec struct {
	id, pipelineID                     string
	number                             int
	status, message                    string
	branch, sha, commitMessage, source string
	created, updated                   time.Time
	nodeIDs                            []string
}

type testNodeRec struct {
	id, runID, pipelineID string
	index                 int
	status, message       string
	errorStatus           string
	exitCode              *int
	dynoID                string
	setup, output         *outputLog
	created, updated      time.Time
}

// EnableCI turns Heroku CI on for a pipeline. Heroku runs tests only for a
// pipeline connected to its GitHub repository: connect it too with
// EnableReviewApps, else POST /test-runs answers 404 as Heroku does.
func (s *Server) EnableCI(pipeline string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPipeline(pipeline)
	if p.fir {
		panic(fmt.Sprintf("herokuapi: pipeline %q is of the Fir generation, which Heroku CI is not available for", pipeline))
	}
	s.ciOf(p).enabled = true
}

// DisableCI turns Heroku CI off for a pipeline.
func (s *Server) DisableCI(pipeline string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ciOf(s.mustPipeline(pipeline)).enabled = false
}

// FailNextTestRun makes the pipeline's next test run fail: its test script
// prints output and exits 1.
func (s *Server) FailNextTestRun(pipeline, output string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ciOf(s.mustPipeline(pipeline)).failNext = output
}

// ErrorNextTestRun makes the pipeline's next test run error while it sets
// up (an add-on that cannot be provisioned), with Heroku's message.
func (s *Server) ErrorNextTestRun(pipeline, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ciOf(s.mustPipeline(pipeline)).errorNext = message
}

// TestRuns returns the pipeline's test runs by number.
func (s *Server) TestRuns(pipeline string) []TestRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPipeline(pipeline)
	var out []TestRun
	for _, tr := range s.ci.runs {
		if tr.pipelineID == p.id {
			out = append(out, TestRun{
				ID: tr.id, Number: tr.number, Status: tr.status, Message: tr.message, Branch: tr.branch,
				CommitSHA: tr.sha, CommitMessage: tr.commitMessage, SourceURL: tr.source,
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out
}

// ciOf is the pipeline's Heroku CI state. The caller holds the lock.
func (s *Server) ciOf(p *pipelineRec) *ciRec {
	if s.ci.pipelines == nil {
		s.ci = ciState{pipelines: map[string]*ciRec{}, runs: map[string]*testRunRec{}, nodes: map[string]*testNodeRec{}}
	}
	c := s.ci.pipelines[p.id]
	if c == nil {
		c = &ciRec{}
		s.ci.pipelines[p.id] = c
	}
	return c
}

func (s *Server) testRunJSON(tr *testRunRec) map[string]any {
	return map[string]any{
		"actor_email": ownerEmail, "app_setup": nil, "clear_cache": false,
		"commit_branch": tr.branch, "commit_message": tr.commitMessage, "commit_sha": tr.sha,
		"created_at": ts(tr.created), "debug": false, "dyno": map[string]any{"size": "performance-m"},
		"id": tr.id, "message": strOrNil(tr.message, tr.message != ""), "number": tr.number,
		"organization": nil, "pipeline": ref(tr.pipelineID), "source_blob_url": tr.source,
		"status": tr.status, "updated_at": ts(tr.updated), "user": user(), "warning_message": nil,
	}
}

func (s *Server) testNodeJSON(n *testNodeRec) map[string]any {
	var dyno any
	if n.dynoID != "" {
		dyno = map[string]any{"id": n.dynoID, "attach_url": nil}
	}
	var exit any
	if n.exitCode != nil {
		exit = *n.exitCode
	}
	return map[string]any{
		"created_at": ts(n.created), "dyno": dyno, "error_status": strOrNil(n.errorStatus, n.errorStatus != ""),
		"exit_code": exit, "id": n.id, "index": n.index, "message": strOrNil(n.message, n.message != ""),
		"output_stream_url": s.streamURL("test-output", n.id), "pipeline": ref(n.pipelineID),
		"setup_stream_url": s.streamURL("test-setup", n.id), "status": n.status,
		"test_run": ref(n.runID), "updated_at": ts(n.updated),
	}
}

// createTestRun answers like Heroku: a pipeline that is not connected to
// GitHub or has CI off gets 404 "Not found." (what the CLI shows in both
// cases), else the run starts.
func (s *Server) createTestRun(_ *http.Request, _ []string, body []byte) (reply, *apiError) {
	var in struct {
		Pipeline      string `json:"pipeline"`
		CommitBranch  string `json:"commit_branch"`
		CommitMessage string `json:"commit_message"`
		CommitSHA     string `json:"commit_sha"`
		SourceBlobURL string `json:"source_blob_url"`
	}
	if e := decodeBody(body, &in); e != nil {
		return reply{}, e
	}
	pl, e := s.pipeline(in.Pipeline)
	if e != nil {
		return reply{}, e
	}
	ci := s.ciOf(pl)
	if pl.reviewRepo == "" || !ci.enabled {
		return reply{}, errorf(http.StatusNotFound, "not_found", "Not found.")
	}
	ci.runs++
	now := s.now()
	tr := &testRunRec{
		id: newID(), pipelineID: pl.id, number: ci.runs, status: "pending",
		branch: in.CommitBranch, sha: in.CommitSHA, commitMessage: in.CommitMessage, source: in.SourceBlobURL,
		created: now, updated: now,
	}
	s.ci.runs[tr.id] = tr
	s.runTests(tr, ci.failNext, ci.errorNext)
	ci.failNext, ci.errorNext = "", ""
	return created(s.testRunJSON(tr))
}

// runTests moves the run through its states, a third of BuildTime each. The
// caller holds the lock.
func (s *Server) runTests(tr *testRunRec, failOutput, setupError string) {
	step := s.opt.BuildTime / 3
	n := &testNodeRec{id: newID(), runID: tr.id, pipelineID: tr.pipelineID, status: "pending"}
	set := func(status string) {
		now := s.now()
		tr.status, tr.updated = status, now
		n.status, n.updated = status, now
	}
	errored := func(message string) {
		set("errored")
		tr.message, n.message, n.errorStatus = message, message, "creating"
		n.setup.write(" !     %s\n", message)
		n.setup.finish()
		n.output.finish()
	}
	s.after(step, func() {
		n.created = s.now()
		n.dynoID = newID()
		n.setup, n.output = s.newLog(), s.newLog()
		s.ci.nodes[n.id] = n
		tr.nodeIDs = append(tr.nodeIDs, n.id)
		set("creating")
		script, addons, err := s.testManifest(tr.source)
		if err != nil {
			errored(err.Error())
			return
		}
		n.setup.write("-----> Provisioning the test environment: %s\n", orNone(strings.Join(addons, ", ")))
		for _, a := range addons {
			service, _, _ := strings.Cut(a, ":")
			msg, bad := s.addonFails[a]
			if !bad {
				msg, bad = s.addonFails[service]
			}
			if bad && setupError == "" {
				setupError = fmt.Sprintf("Add-on %s could not be provisioned: %s", a, msg)
			}
		}
		if setupError != "" {
			s.after(step, func() { errored(setupError) })
			return
		}
		s.after(step, func() {
			set("building")
			n.setup.write("-----> Building on the Heroku-24 stack\n-----> Python app detected\n-----> Installing requirements with pip\n")
			s.after(step, func() {
				set("running")
				n.setup.write("-----> Test setup complete\n")
				n.setup.finish()
				n.output.write("-----> Running test command `%s`...\n", script)
				s.after(step, func() {
					code := 0
					if failOutput != "" {
						code = 1
						n.output.write("%s\n", strings.TrimRight(failOutput, "\n"))
						n.output.write("-----> %s failed with exit status 1\n", script)
						set("failed")
					} else {
						n.output.write("============================= 42 passed in 3.14s ==============================\n")
						n.output.write("-----> %s command exited successfully\n", script)
						set("succeeded")
					}
					n.exitCode = &code
					n.output.finish()
				})
			})
		})
	})
}

// testManifest reads the test script and add-ons of app.json's test
// environment from the uploaded source, as Heroku CI does. Heroku's
// buildpacks guess a test command for some languages; this server, like a
// Python app, needs the script.
func (s *Server) testManifest(sourceURL string) (script string, addons []string, err error) {
	blob, err := s.blobFor(sourceURL)
	if err != nil {
		return "", nil, fmt.Errorf("Failed to download the source: %v", err)
	}
	data, err := appJSON(blob.data)
	if err != nil {
		return "", nil, err
	}
	var m struct {
		Addons  []json.RawMessage `json:"addons"`
		Scripts struct {
			Test string `json:"test"`
		} `json:"scripts"`
		Environments struct {
			Test struct {
				Addons  []json.RawMessage `json:"addons"`
				Scripts struct {
					Test string `json:"test"`
				} `json:"scripts"`
			} `json:"test"`
		} `json:"environments"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return "", nil, fmt.Errorf("app.json is not valid JSON: %v", err)
	}
	script = m.Environments.Test.Scripts.Test
	if script == "" {
		script = m.Scripts.Test // the test environment inherits the base keys
	}
	if script == "" {
		return "", nil, errors.New("Unable to detect any runnable tests: add environments.test.scripts.test to app.json")
	}
	raw := m.Environments.Test.Addons
	if raw == nil {
		raw = m.Addons
	}
	for _, a := range raw {
		var name string
		if json.Unmarshal(a, &name) != nil {
			var obj struct{ Plan string }
			_ = json.Unmarshal(a, &obj)
			name = obj.Plan
		}
		addons = append(addons, name)
	}
	return script, addons, nil
}

// appJSON finds app.json at the root of a gzipped source tarball (which may
// have one top-level directory, like GitHub's tarballs).
func appJSON(tgz []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, errors.New("the source is not a gzipped tarball")
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, errors.New("the source has no app.json: Heroku CI reads the test script from it")
		}
		if err != nil {
			return nil, fmt.Errorf("the source tarball is unreadable: %v", err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "app.json" || (path.Base(name) == "app.json" && strings.Count(name, "/") == 1) {
			return io.ReadAll(io.LimitReader(tr, 1<<20))
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (s *Server) getTestRun(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	if tr := s.ci.runs[p[0]]; tr != nil {
		return ok(s.testRunJSON(tr))
	}
	return reply{}, notFound("test run", p[0])
}

func (s *Server) listTestRuns(r *http.Request, p []string, _ []byte) (reply, *apiError) {
	pl, e := s.pipeline(p[0])
	if e != nil {
		return reply{}, e
	}
	var items []item
	for _, tr := range s.ci.runs {
		if tr.pipelineID == pl.id {
			items = append(items, item{keys: map[string]any{"id": tr.id, "number": tr.number}, body: s.testRunJSON(tr)})
		}
	}
	return s.page(r, items, "id", "number")
}

func (s *Server) getTestRunByNumber(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	pl, e := s.pipeline(p[0])
	if e != nil {
		return reply{}, e
	}
	for _, tr := range s.ci.runs {
		if tr.pipelineID == pl.id && fmt.Sprint(tr.number) == p[1] {
			return ok(s.testRunJSON(tr))
		}
	}
	return reply{}, notFound("test run", p[1])
}

func (s *Server) listTestNodes(r *http.Request, p []string, _ []byte) (reply, *apiError) {
	tr := s.ci.runs[p[0]]
	if tr == nil {
		return reply{}, notFound("test run", p[0])
	}
	var items []item
	for _, id := range tr.nodeIDs {
		n := s.ci.nodes[id]
		items = append(items, item{keys: map[string]any{"id": n.id}, body: s.testNodeJSON(n)})
	}
	return s.page(r, items, "id")
}
