package gh

import (
	"context"
	"fmt"
	"time"

	"github.com/google/go-github/v60/github"
)

// MaxAnnotationsPerRequest is GitHub's limit on the annotations of one check run request; more are
// sent in further updates, where they add up.
const MaxAnnotationsPerRequest = 50

// MaxOutputBytes is GitHub's limit on a check run's output summary and on its text. The REST
// reference says 65535 characters, but GitHub counts UTF-8 bytes: over it, the request is refused
// with "summary exceeds a maximum bytesize of 65535" (docs/github.md), and a run whose final update
// is refused stays in_progress.
const MaxOutputBytes = 65535

// CheckRun is what the action writes to a check run. Empty fields are not sent.
type CheckRun struct {
	Name       string // required: GitHub blanks the name of an update without one
	HeadSHA    string // create only: a check run cannot move to another commit
	ExternalID string
	DetailsURL string
	Status     string // queued, in_progress, completed
	Conclusion string // success, failure, cancelled, neutral, ...; sets the status to completed
	StartedAt  time.Time
	Output     *CheckOutput
}

// CheckOutput is the visible part of a check run.
type CheckOutput struct {
	Title, Summary, Text string
	Annotations          []Annotation
}

// Annotation points at a line of a file in the repository.
type Annotation struct {
	Path               string
	StartLine, EndLine int
	Level              string // notice, warning, failure
	Title, Message     string
}

// FindCheckRun returns the ID of the check run on sha named name whose external_id is externalID,
// or 0 when there is none: a rerun of a workflow updates the check run of its first attempt.
func (c *Client) FindCheckRun(ctx context.Context, sha, name, externalID string) (int64, error) {
	opt := &github.ListCheckRunsOptions{CheckName: &name, Filter: github.String("all"), ListOptions: github.ListOptions{PerPage: 100}}
	for {
		list, resp, err := c.api.Checks.ListCheckRunsForRef(ctx, c.owner, c.repo, sha, opt)
		if err != nil {
			return 0, fmt.Errorf("failed to list the check runs of %s: %w", short(sha), err)
		}
		for _, cr := range list.CheckRuns {
			if cr.GetExternalID() == externalID {
				return cr.GetID(), nil
			}
		}
		if resp.NextPage == 0 {
			return 0, nil
		}
		opt.Page = resp.NextPage
	}
}

// CreateCheckRun creates a check run with the first MaxAnnotationsPerRequest annotations and adds
// the rest in updates.
func (c *Client) CreateCheckRun(ctx context.Context, cr CheckRun) (int64, error) {
	first, rest := splitAnnotations(cr.Output)
	opt := github.CreateCheckRunOptions{
		Name: cr.Name, HeadSHA: cr.HeadSHA, DetailsURL: optional(cr.DetailsURL), ExternalID: optional(cr.ExternalID),
		Status: optional(cr.Status), Conclusion: optional(cr.Conclusion), Output: first,
	}
	if !cr.StartedAt.IsZero() {
		opt.StartedAt = &github.Timestamp{Time: cr.StartedAt}
	}
	created, _, err := c.api.Checks.CreateCheckRun(ctx, c.owner, c.repo, opt)
	if err != nil {
		return 0, fmt.Errorf("failed to create the check run %q on %s: %w", cr.Name, short(cr.HeadSHA), err)
	}
	return created.GetID(), c.addAnnotations(ctx, created.GetID(), cr, rest)
}

// UpdateCheckRun updates a check run, sending its annotations in batches.
func (c *Client) UpdateCheckRun(ctx context.Context, id int64, cr CheckRun) error {
	first, rest := splitAnnotations(cr.Output)
	opt := github.UpdateCheckRunOptions{
		Name: cr.Name, DetailsURL: optional(cr.DetailsURL), ExternalID: optional(cr.ExternalID),
		Status: optional(cr.Status), Conclusion: optional(cr.Conclusion), Output: first,
	}
	if _, _, err := c.api.Checks.UpdateCheckRun(ctx, c.owner, c.repo, id, opt); err != nil {
		return fmt.Errorf("failed to update the check run %q: %w", cr.Name, err)
	}
	return c.addAnnotations(ctx, id, cr, rest)
}

// addAnnotations sends the annotations beyond the first batch. Every output needs a title and a
// summary, so each batch repeats them; the text is left as it was.
func (c *Client) addAnnotations(ctx context.Context, id int64, cr CheckRun, rest []Annotation) error {
	for len(rest) > 0 {
		n := min(len(rest), MaxAnnotationsPerRequest)
		out := &CheckOutput{Title: cr.Output.Title, Summary: cr.Output.Summary, Annotations: rest[:n]}
		opt := github.UpdateCheckRunOptions{Name: cr.Name, Output: toOutput(out)}
		if _, _, err := c.api.Checks.UpdateCheckRun(ctx, c.owner, c.repo, id, opt); err != nil {
			return fmt.Errorf("failed to add annotations to the check run %q: %w", cr.Name, err)
		}
		rest = rest[n:]
	}
	return nil
}

// splitAnnotations converts an output, keeping the first batch of annotations in it.
func splitAnnotations(o *CheckOutput) (*github.CheckRunOutput, []Annotation) {
	if o == nil {
		return nil, nil
	}
	first := *o
	var rest []Annotation
	if len(o.Annotations) > MaxAnnotationsPerRequest {
		first.Annotations, rest = o.Annotations[:MaxAnnotationsPerRequest], o.Annotations[MaxAnnotationsPerRequest:]
	}
	return toOutput(&first), rest
}

// toOutput converts an output for go-github. It is the last step before the text leaves, after
// scrubbing: whatever the summary and text grew to, they are cut here to what GitHub takes.
func toOutput(o *CheckOutput) *github.CheckRunOutput {
	out := &github.CheckRunOutput{
		Title:   github.String(o.Title),
		Summary: github.String(clipBytes(o.Summary, MaxOutputBytes)),
		Text:    optional(clipBytes(o.Text, MaxOutputBytes)),
	}
	for _, a := range o.Annotations {
		out.Annotations = append(out.Annotations, &github.CheckRunAnnotation{
			Path: github.String(a.Path), StartLine: github.Int(a.StartLine), EndLine: github.Int(a.EndLine),
			AnnotationLevel: github.String(a.Level), Title: optional(a.Title), Message: github.String(a.Message),
		})
	}
	return out
}

// optional is nil for "": go-github omits nil fields, and GitHub treats an empty string as a value.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
