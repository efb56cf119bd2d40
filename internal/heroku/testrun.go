package heroku

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	heroku "github.com/heroku/heroku-go/v5"
)

// TestRun is a Heroku CI test run of a pipeline. Status goes pending, creating (add-ons are
// provisioned), building, running, then succeeded, failed (the test script exited non-zero),
// errored (the setup broke) or cancelled. Message is Heroku's reason when it errored.
type TestRun struct {
	ID                   string
	Number               int
	Status, Message      string
	Warning              string
	CommitSHA, Branch    string
	CreatedAt, UpdatedAt time.Time
}

// TestNode is one dyno of a test run. SetupStreamURL carries the provisioning and build output,
// OutputStreamURL the test script's; ErrorStatus is the state the node was in when it errored.
type TestNode struct {
	ID                              string
	Index                           int
	Status, Message, ErrorStatus    string
	ExitCode                        *int
	SetupStreamURL, OutputStreamURL string
}

// TestRunCreate asks for a test run of an uploaded source. SourceURL is a Source's GetURL.
type TestRunCreate struct {
	PipelineID, Branch, CommitSHA, CommitMessage, SourceURL string
}

// ErrCIUnavailable is wrapped by CreateTestRun when Heroku refuses to run tests on the pipeline:
// Heroku CI is off, or the pipeline is not connected to its GitHub repository.
var ErrCIUnavailable = errors.New("heroku ci is not available on this pipeline")

// testRunDone are the states a test run never leaves.
var testRunDone = map[string]bool{"succeeded": true, "failed": true, "errored": true, "cancelled": true}

func toTestRun(t *heroku.TestRun) TestRun {
	return TestRun{
		ID: t.ID, Number: t.Number, Status: t.Status, Message: deref(t.Message), Warning: deref(t.WarningMessage),
		CommitSHA: t.CommitSha, Branch: t.CommitBranch, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
	}
}

// CreateTestRun starts a Heroku CI test run. Like a build it is never retried once the server may
// have seen it. Heroku answers 404 (the CLI shows "Not found.") when the pipeline has CI off or no
// GitHub connection, and 403 when its owner cannot use CI: both wrap ErrCIUnavailable.
func (c *Client) CreateTestRun(ctx context.Context, r TestRunCreate) (TestRun, error) {
	opts := heroku.TestRunCreateOpts{
		Pipeline: r.PipelineID, CommitBranch: r.Branch, CommitSha: r.CommitSHA,
		CommitMessage: r.CommitMessage, SourceBlobURL: r.SourceURL,
	}
	var out heroku.TestRun
	if err := c.post(ctx, &out, "/test-runs", opts); err != nil {
		switch statusOf(err) {
		case http.StatusNotFound, http.StatusForbidden:
			return TestRun{}, fmt.Errorf("starting a test run on pipeline %s: %w (%w)", r.PipelineID, ErrCIUnavailable, err)
		}
		return TestRun{}, fmt.Errorf("starting a test run on pipeline %s: %w", r.PipelineID, err)
	}
	return toTestRun(&out), nil
}

// TestRun reads a test run.
func (c *Client) TestRun(ctx context.Context, id string) (TestRun, error) {
	var t heroku.TestRun
	if err := c.get(ctx, &t, p("/test-runs/", id)); err != nil {
		return TestRun{}, fmt.Errorf("reading test run %s: %w", id, err)
	}
	return toTestRun(&t), nil
}

// TestNodes lists the nodes of a test run by index. heroku-go's TestNodeList decodes into nothing,
// so the list is read through the service's request method, every page of it.
func (c *Client) TestNodes(ctx context.Context, runID string) ([]TestNode, error) {
	raw, err := list[heroku.TestNode](ctx, c, p("/test-runs/", runID, "/test-nodes"), idRange(), nil)
	if err != nil {
		return nil, fmt.Errorf("listing the test nodes of test run %s: %w", runID, err)
	}
	out := make([]TestNode, len(raw))
	for i, n := range raw {
		out[i] = TestNode{
			ID: n.ID, Index: n.Index, Status: n.Status, Message: deref(n.Message), ErrorStatus: deref(n.ErrorStatus),
			ExitCode: n.ExitCode, SetupStreamURL: n.SetupStreamURL, OutputStreamURL: n.OutputStreamURL,
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, nil
}

// NodeOutput says where the output of one test node goes: w gets its setup and test output, done
// is called when both streams ended. A nil w skips the node.
type NodeOutput func(node TestNode) (w io.Writer, done func())

// WaitTestRun follows a test run until it ends, streaming each node's setup and test output in
// index order through output (nil: nothing is streamed, the run is only polled). Nodes run in
// parallel on Heroku but their streams are kept, so reading them one after the other loses
// nothing. It returns the final run and nodes; a run that did not succeed is a *FailedError
// carrying Heroku's message.
func (c *Client) WaitTestRun(ctx context.Context, id string, output NodeOutput) (TestRun, []TestNode, error) {
	var (
		run   TestRun
		nodes []TestNode
	)
	streamed := map[string]bool{}
	err := c.wait(ctx, func() (bool, error) {
		var err error
		if run, err = c.TestRun(ctx, id); err != nil {
			return false, err
		}
		// Nodes appear once the run is being set up.
		if run.Status != "pending" {
			if nodes, err = c.TestNodes(ctx, id); err != nil {
				return false, err
			}
		}
		progressed := false
		for i := range nodes {
			if output == nil || streamed[nodes[i].ID] {
				continue
			}
			streamed[nodes[i].ID] = true
			if err := c.streamNode(ctx, id, &nodes[i], output); err != nil {
				return false, err
			}
			progressed = true
		}
		if progressed {
			// The streams ended: the run has (nearly) settled, read it again at once.
			if run, err = c.TestRun(ctx, id); err != nil {
				return false, err
			}
			if nodes, err = c.TestNodes(ctx, id); err != nil {
				return false, err
			}
		}
		if !testRunDone[run.Status] {
			return false, nil
		}
		if run.Status == "succeeded" {
			return true, nil
		}
		return false, &FailedError{What: "test run", ID: fmt.Sprintf("#%d", run.Number), Status: run.Status, Message: run.Message}
	})
	return run, nodes, err
}

// streamNode copies the setup stream and then, unless the node errored while setting up, the test
// output stream of one node. A broken stream is noted in the output and the wait goes on.
func (c *Client) streamNode(ctx context.Context, runID string, n *TestNode, output NodeOutput) error {
	w, done := output(*n)
	if w == nil {
		return nil
	}
	if done != nil {
		defer done()
	}
	if n.SetupStreamURL != "" {
		if err := c.streamOutput(ctx, n.SetupStreamURL, w, "test setup"); err != nil {
			return err
		}
	}
	// A node that errored during setup never runs the tests: its output stream would never start.
	nodes, err := c.TestNodes(ctx, runID)
	if err != nil {
		return err
	}
	for _, m := range nodes {
		if m.ID == n.ID {
			*n = m
		}
	}
	if n.Status == "errored" || n.Status == "cancelled" || n.OutputStreamURL == "" {
		return nil
	}
	return c.streamOutput(ctx, n.OutputStreamURL, w, "test")
}
