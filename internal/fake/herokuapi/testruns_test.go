package herokuapi

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sourceWith is a gzipped tarball holding app.json with the given content.
func sourceWith(t *testing.T, appJSON string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "app.json", Mode: 0o644, Size: int64(len(appJSON))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(appJSON)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const testAppJSON = `{"environments": {"test": {"addons": ["heroku-postgresql:in-dyno"], "scripts": {"test": "pytest -x tests"}}}}`

func TestTestRuns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		appJSON    string
		seed       func(s *Server)
		wantStatus string
		wantSetup  string // in the setup stream
		wantOutput string // in the output stream
		wantExit   any
		wantErrSt  any
	}{
		{"passes", testAppJSON, nil, "succeeded", "Provisioning the test environment: heroku-postgresql:in-dyno", "42 passed", float64(0), nil},
		{"fails", testAppJSON, func(s *Server) { s.FailNextTestRun("flow", "FAILED tests/test_api.py::test_status") }, "failed", "Test setup complete", "FAILED tests/test_api.py::test_status", float64(1), nil},
		{"errors", testAppJSON, func(s *Server) { s.ErrorNextTestRun("flow", "in-dyno Postgres is unavailable") }, "errored", "in-dyno Postgres is unavailable", "", nil, "creating"},
		{"add-on fails", testAppJSON, func(s *Server) { s.FailAddon("heroku-postgresql", "no capacity") }, "errored", "Add-on heroku-postgresql:in-dyno could not be provisioned: no capacity", "", nil, "creating"},
		{"no test script", `{"scripts": {"postdeploy": "x"}}`, nil, "errored", "Unable to detect any runnable tests", "", nil, "creating"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, Options{})
			p := s.AddPipeline("flow")
			s.EnableReviewApps("flow", "o/r")
			s.EnableCI("flow")
			if tt.seed != nil {
				tt.seed(s)
			}
			url, _ := upload(t, s, sourceWith(t, tt.appJSON))
			r := call(t, s, "POST", "/test-runs", map[string]any{
				"pipeline": p.ID, "commit_branch": "main", "commit_sha": "abc", "commit_message": "m", "source_blob_url": url,
			})
			wantStatus(t, r, http.StatusCreated)
			run := r.json(t)
			if run["number"] != float64(1) || run["status"] != "pending" {
				t.Errorf("new run: number %v, status %v; want 1, pending", run["number"], run["status"])
			}
			id := run["id"].(string)
			var nodes []map[string]any
			eventually(t, "a test node", func() bool {
				nodes = call(t, s, "GET", "/test-runs/"+id+"/test-nodes", nil).list(t)
				return len(nodes) == 1
			})
			setup := readStream(t, s, nodes[0]["setup_stream_url"].(string))
			output := readStream(t, s, nodes[0]["output_stream_url"].(string))
			if !strings.Contains(setup, tt.wantSetup) || !strings.Contains(output, tt.wantOutput) {
				t.Errorf("setup stream:\n%s\noutput stream:\n%s\nwant %q and %q", setup, output, tt.wantSetup, tt.wantOutput)
			}
			eventually(t, "the run to end", func() bool {
				return call(t, s, "GET", "/test-runs/"+id, nil).json(t)["status"] == tt.wantStatus
			})
			node := call(t, s, "GET", "/test-runs/"+id+"/test-nodes", nil).list(t)[0]
			if diff := cmp.Diff([]any{tt.wantStatus, tt.wantExit, tt.wantErrSt}, []any{node["status"], node["exit_code"], node["error_status"]}); diff != "" {
				t.Errorf("node status, exit code, error status (-want +got):\n%s", diff)
			}
			byNumber := call(t, s, "GET", "/pipelines/"+p.ID+"/test-runs/1", nil).json(t)
			if byNumber["id"] != id {
				t.Errorf("GET by number found %v, want %s", byNumber["id"], id)
			}
			if got := s.TestRuns("flow"); len(got) != 1 || got[0].Status != tt.wantStatus || got[0].CommitSHA != "abc" {
				t.Errorf("TestRuns = %+v", got)
			}
		})
	}
}

func TestTestRunRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		seed func(s *Server)
	}{
		{"CI off", func(s *Server) { s.EnableReviewApps("flow", "o/r") }},
		{"not connected to GitHub", func(s *Server) { s.EnableCI("flow") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, Options{})
			p := s.AddPipeline("flow")
			tt.seed(s)
			url, _ := upload(t, s, sourceWith(t, testAppJSON))
			r := call(t, s, "POST", "/test-runs", map[string]any{
				"pipeline": p.ID, "commit_branch": "main", "commit_sha": "abc", "commit_message": "m", "source_blob_url": url,
			})
			wantStatus(t, r, http.StatusNotFound)
			if diff := cmp.Diff(map[string]any{"id": "not_found", "message": "Not found."}, r.json(t)); diff != "" {
				t.Errorf("error body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTestRunBodyValidated(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{}, true)
	p := s.AddPipeline("flow")
	r := call(t, s, "POST", "/test-runs", map[string]any{"pipeline": p.ID, "commit_sha": "abc"})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if v := s.Violations(); len(v) != 1 || !strings.Contains(v[0], "missing commit_branch, commit_message, source_blob_url") {
		t.Errorf("violations = %q, want the missing fields named", v)
	}
}

func TestTestRunResponsesMatchSchema(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	p := s.AddPipeline("flow")
	s.EnableReviewApps("flow", "o/r")
	s.EnableCI("flow")
	s.FailNextTestRun("flow", "boom")
	url, _ := upload(t, s, sourceWith(t, testAppJSON))
	run := call(t, s, "POST", "/test-runs", map[string]any{
		"pipeline": p.ID, "commit_branch": "main", "commit_sha": "abc", "commit_message": "m", "source_blob_url": url,
	}).json(t)
	id := run["id"].(string)
	eventually(t, "the run to end", func() bool {
		return call(t, s, "GET", "/test-runs/"+id, nil).json(t)["status"] == "failed"
	})
	for _, c := range []struct{ path, def string }{
		{"/test-runs/" + id, "test-run"},
		{"/pipelines/" + p.ID + "/test-runs", "test-run"},
		{"/pipelines/" + p.ID + "/test-runs/1", "test-run"},
		{"/test-runs/" + id + "/test-nodes", "test-node"},
	} {
		r := call(t, s, "GET", c.path, nil)
		wantStatus(t, r, http.StatusOK)
		def, err := s.schema.definition("#/definitions/" + c.def)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := decodeJSON(r.body)
		if err != nil {
			t.Fatal(err)
		}
		docs := []any{doc}
		if l, isList := doc.([]any); isList {
			docs = l
		}
		for _, d := range docs {
			if err := def.Validate(d); err != nil {
				t.Errorf("GET %s does not match #/definitions/%s: %v", c.path, c.def, err)
			}
		}
	}
}
