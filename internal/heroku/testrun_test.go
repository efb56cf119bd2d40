package heroku_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
)

// ciSource uploads a source whose app.json has a Heroku CI test script.
func ciSource(t *testing.T, ctx context.Context, c *heroku.Client) heroku.Source {
	t.Helper()
	const appJSON = `{"environments": {"test": {"addons": ["heroku-postgresql:in-dyno"], "scripts": {"test": "pytest"}}}}`
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: "app.json", Mode: 0o644, Size: int64(len(appJSON)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(tw, appJSON); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	src, err := c.UploadSource(ctx, bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestTestRunAgainstFake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		seed       func(s *herokuapi.Server)
		wantStatus string
		wantErr    string // in the *FailedError, "" for success
		wantOutput string
		wantExit   *int
	}{
		{"succeeds", nil, "succeeded", "", "42 passed", intp(0)},
		{"fails", func(s *herokuapi.Server) { s.FailNextTestRun("flow", "FAILED test_x") }, "failed", "heroku: test run #1 failed", "FAILED test_x", intp(1)},
		{"errors", func(s *herokuapi.Server) { s.ErrorNextTestRun("flow", "no dynos") }, "errored", "heroku: test run #1 errored: no dynos", "no dynos", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			srv, c := startFake(t, herokuapi.Options{})
			pl := srv.AddPipeline("flow")
			srv.EnableReviewApps("flow", "o/r")
			srv.EnableCI("flow")
			if tt.seed != nil {
				tt.seed(srv)
			}
			src := ciSource(t, ctx, c)
			run, err := c.CreateTestRun(ctx, heroku.TestRunCreate{PipelineID: pl.ID, Branch: "main", CommitSHA: "abc", CommitMessage: "m", SourceURL: src.GetURL})
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			var opened, closed []int
			run, nodes, err := c.WaitTestRun(ctx, run.ID, func(n heroku.TestNode) (io.Writer, func()) {
				opened = append(opened, n.Index)
				return &out, func() { closed = append(closed, n.Index) }
			})
			var failed *heroku.FailedError
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("WaitTestRun: %v", err)
			case tt.wantErr != "" && (!errors.As(err, &failed) || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("WaitTestRun error = %v, want a *FailedError containing %q", err, tt.wantErr)
			}
			if run.Status != tt.wantStatus || run.Number != 1 || run.CommitSHA != "abc" {
				t.Errorf("run = %+v, want #1 of abc %s", run, tt.wantStatus)
			}
			if len(nodes) != 1 || !cmp.Equal(nodes[0].ExitCode, tt.wantExit) || nodes[0].Status != tt.wantStatus {
				t.Errorf("nodes = %+v, want one %s with exit code %v", nodes, tt.wantStatus, tt.wantExit)
			}
			if diff := cmp.Diff([][]int{{0}, {0}}, [][]int{opened, closed}); diff != "" {
				t.Errorf("node 0 opened and closed once (-want +got):\n%s", diff)
			}
			if !strings.Contains(out.String(), "Provisioning the test environment: heroku-postgresql:in-dyno") || !strings.Contains(out.String(), tt.wantOutput) {
				t.Errorf("streamed output:\n%s\nwant the setup and %q", out.String(), tt.wantOutput)
			}
		})
	}
}

func TestCreateTestRunWithoutCI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, c := startFake(t, herokuapi.Options{})
	pl := srv.AddPipeline("flow")
	src := ciSource(t, ctx, c)
	_, err := c.CreateTestRun(ctx, heroku.TestRunCreate{PipelineID: pl.ID, Branch: "main", CommitSHA: "abc", CommitMessage: "m", SourceURL: src.GetURL})
	var apiErr *heroku.APIError
	if !errors.Is(err, heroku.ErrCIUnavailable) || !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Fatalf("error = %v, want ErrCIUnavailable around Heroku's 404", err)
	}
}

func intp(n int) *int { return &n }
