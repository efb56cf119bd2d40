package githubapi

import (
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"
)

// GitHub's documented limits on check runs, enforced even without the OpenAPI description.
const (
	maxAnnotations = 50
	maxOutputChars = 65535 // the title's limit, in characters
	// maxOutputBytes is the limit on the summary and the text. The REST reference says 65535
	// characters; GitHub counts UTF-8 bytes and answers 422 "summary exceeds a maximum bytesize of
	// 65535" (github/docs issue 35252).
	maxOutputBytes = 65535
)

type checkRunOutput struct {
	Title       *string          `json:"title"`
	Summary     *string          `json:"summary"`
	Text        *string          `json:"text"`
	Annotations []Annotation     `json:"annotations"`
	Images      []map[string]any `json:"images"`
}

type checkRunBody struct {
	Name        *string         `json:"name"`
	HeadSHA     *string         `json:"head_sha"`
	DetailsURL  *string         `json:"details_url"`
	ExternalID  *string         `json:"external_id"`
	Status      *string         `json:"status"`
	Conclusion  *string         `json:"conclusion"`
	StartedAt   *time.Time      `json:"started_at"`
	CompletedAt *time.Time      `json:"completed_at"`
	Output      *checkRunOutput `json:"output"`
}

var (
	checkStatuses    = set("queued", "in_progress", "completed", "waiting", "requested", "pending")
	checkConclusions = set("action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out")
)

func set(xs ...string) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// checkBody applies the rules GitHub enforces on a check run body beyond its schema, so that
// they hold with or without the description. It reports false after answering 422.
func (c *call) checkBody(b *checkRunBody, create bool) bool {
	// go-github's UpdateCheckRunOptions always sends "name": leaving it empty would blank the
	// check's name on GitHub, which refuses it.
	if b.Name != nil && *b.Name == "" {
		c.reject("CheckRun", "name", "missing_field", "name can't be blank")
		return false
	}
	if b.Status != nil && !checkStatuses[*b.Status] {
		c.reject("CheckRun", "status", "invalid", fmt.Sprintf("status %q is not one of queued, in_progress, completed", *b.Status))
		return false
	}
	if b.Conclusion != nil && !checkConclusions[*b.Conclusion] {
		c.reject("CheckRun", "conclusion", "invalid", fmt.Sprintf("conclusion %q is not a check run conclusion", *b.Conclusion))
		return false
	}
	if o := b.Output; o != nil {
		if o.Summary == nil || (create && o.Title == nil) {
			c.reject("CheckRun", "output", "missing_field", "output needs a summary (and a title when the check run is created)")
			return false
		}
		if len(o.Annotations) > maxAnnotations {
			c.reject("CheckRun", "output.annotations", "invalid", fmt.Sprintf("%d annotations in one request: at most %d are allowed, send the rest in later updates", len(o.Annotations), maxAnnotations))
			return false
		}
		if o.Title != nil && utf8.RuneCountInString(*o.Title) > maxOutputChars {
			c.reject("CheckRun", "title", "invalid", fmt.Sprintf("title is %d characters long: at most %d are allowed", utf8.RuneCountInString(*o.Title), maxOutputChars))
			return false
		}
		for _, f := range []struct {
			name string
			v    *string
		}{{"summary", o.Summary}, {"text", o.Text}} {
			if f.v != nil && len(*f.v) > maxOutputBytes {
				c.reject("CheckRun", f.name, "custom", fmt.Sprintf("%s exceeds a maximum bytesize of %d", f.name, maxOutputBytes))
				return false
			}
		}
		for i, a := range o.Annotations {
			if a.Path == "" || a.Message == "" || a.AnnotationLevel == "" || a.StartLine == 0 || a.EndLine == 0 {
				c.reject("CheckRun", fmt.Sprintf("output.annotations[%d]", i), "missing_field", "an annotation needs path, start_line, end_line, annotation_level and message")
				return false
			}
		}
	}
	return true
}

func (cr *CheckRun) apply(b *checkRunBody, now time.Time) {
	if b.Name != nil {
		cr.Name = *b.Name
	}
	if b.DetailsURL != nil {
		cr.DetailsURL = *b.DetailsURL
	}
	if b.ExternalID != nil {
		cr.ExternalID = *b.ExternalID
	}
	if b.StartedAt != nil {
		cr.StartedAt = b.StartedAt.UTC()
	}
	if b.Status != nil {
		cr.Status = *b.Status
	}
	// GitHub: providing a conclusion sets the status to completed.
	if b.Conclusion != nil {
		cr.Conclusion = *b.Conclusion
		cr.Status = "completed"
	}
	if b.CompletedAt != nil {
		cr.CompletedAt = b.CompletedAt.UTC()
	}
	if cr.Status == "completed" && cr.CompletedAt.IsZero() {
		cr.CompletedAt = now.UTC()
	}
	if o := b.Output; o != nil {
		if o.Title != nil {
			cr.Title = *o.Title
		}
		if o.Summary != nil {
			cr.Summary = *o.Summary
		}
		if o.Text != nil {
			cr.Text = *o.Text
		}
		// Annotations add up over updates, as GitHub documents.
		cr.Annotations = append(cr.Annotations, o.Annotations...)
	}
}

func (s *Server) checkRunJSON(r *repo, cr *CheckRun) map[string]any {
	var conclusion any
	if cr.Conclusion != "" {
		conclusion = cr.Conclusion
	}
	u := fmt.Sprintf("%s/check-runs/%d", s.repoURL(r), cr.ID)
	return map[string]any{
		"id": cr.ID, "node_id": nodeID("CR", cr.ID), "head_sha": cr.HeadSHA, "external_id": cr.ExternalID,
		"url": u, "html_url": htmlURL(fmt.Sprintf("%s/runs/%d", r.fullName, cr.ID)), "details_url": cr.DetailsURL,
		"status": cr.Status, "conclusion": conclusion, "started_at": ts(cr.StartedAt), "completed_at": ts(cr.CompletedAt),
		"name": cr.Name,
		"output": map[string]any{
			"title": nilIfEmpty(cr.Title), "summary": nilIfEmpty(cr.Summary), "text": nilIfEmpty(cr.Text),
			"annotations_count": len(cr.Annotations), "annotations_url": u + "/annotations",
		},
		"check_suite":   map[string]any{"id": r.suites[cr.HeadSHA]},
		"app":           map[string]any{"id": 15368, "slug": "github-actions", "name": "GitHub Actions", "owner": s.user("github")},
		"pull_requests": []any{},
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func createCheckRun(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	var b checkRunBody
	if !c.decode(&b) || !c.checkBody(&b, true) {
		return
	}
	if b.Name == nil || *b.Name == "" {
		c.reject("CheckRun", "name", "missing_field", "name is required")
		return
	}
	if b.HeadSHA == nil || *b.HeadSHA == "" {
		c.reject("CheckRun", "head_sha", "missing_field", "head_sha is required")
		return
	}
	if _, ok := r.commits[*b.HeadSHA]; !ok {
		c.s.violate("%s %s: head_sha %q is not a commit of %s", c.r.Method, c.r.URL.Path, *b.HeadSHA, r.fullName)
		c.fail(http.StatusUnprocessableEntity, "No commit found for SHA: "+*b.HeadSHA)
		return
	}
	if b.Conclusion == nil && ((b.Status != nil && *b.Status == "completed") || b.CompletedAt != nil) {
		c.reject("CheckRun", "conclusion", "missing_field", "conclusion is required when status is completed or completed_at is given")
		return
	}
	cr := &CheckRun{ID: c.s.id(), HeadSHA: *b.HeadSHA, Status: "queued", StartedAt: c.now.UTC()}
	cr.apply(&b, c.now)
	if _, ok := r.suites[cr.HeadSHA]; !ok {
		r.suites[cr.HeadSHA] = c.s.id()
	}
	r.checkRuns = append(r.checkRuns, cr)
	c.json(http.StatusCreated, c.s.checkRunJSON(r, cr))
}

func (c *call) checkRun(r *repo) *CheckRun {
	id, ok := c.intParam("check_run_id")
	if !ok {
		return nil
	}
	for _, cr := range r.checkRuns {
		if cr.ID == id {
			return cr
		}
	}
	c.fail(http.StatusNotFound, "Not Found")
	return nil
}

func getCheckRun(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	if cr := c.checkRun(r); cr != nil {
		c.json(http.StatusOK, c.s.checkRunJSON(r, cr))
	}
}

func updateCheckRun(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	cr := c.checkRun(r)
	if cr == nil {
		return
	}
	var b checkRunBody
	if !c.decode(&b) || !c.checkBody(&b, false) {
		return
	}
	if b.HeadSHA != nil {
		c.reject("CheckRun", "head_sha", "invalid", "head_sha cannot be changed by an update")
		return
	}
	if b.Status != nil && *b.Status == "completed" && b.Conclusion == nil && cr.Conclusion == "" {
		c.reject("CheckRun", "conclusion", "missing_field", "conclusion is required when status is completed")
		return
	}
	cr.apply(&b, c.now)
	cr.Updates++
	c.json(http.StatusOK, c.s.checkRunJSON(r, cr))
}

func listAnnotations(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	cr := c.checkRun(r)
	if cr == nil {
		return
	}
	lo, hi := c.page(len(cr.Annotations))
	out := []map[string]any{}
	for _, a := range cr.Annotations[lo:hi] {
		out = append(out, map[string]any{
			"path": a.Path, "start_line": a.StartLine, "end_line": a.EndLine, "start_column": a.StartColumn,
			"end_column": a.EndColumn, "annotation_level": a.AnnotationLevel, "message": a.Message,
			"title": nilIfEmpty(a.Title), "raw_details": nilIfEmpty(a.RawDetails), "blob_href": htmlURL(r.fullName + "/blob/" + cr.HeadSHA + "/" + a.Path),
		})
	}
	c.json(http.StatusOK, out)
}

func listCheckRunsForRef(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	sha, ok := r.resolve(c.params["ref"])
	if !ok {
		c.fail(http.StatusUnprocessableEntity, "No commit found for SHA: "+c.params["ref"])
		return
	}
	q := c.r.URL.Query()
	var match []*CheckRun
	for _, cr := range r.checkRuns {
		if cr.HeadSHA != sha {
			continue
		}
		if n := q.Get("check_name"); n != "" && n != cr.Name {
			continue
		}
		if st := q.Get("status"); st != "" && st != cr.Status {
			continue
		}
		match = append(match, cr)
	}
	// Newest first; filter=latest (the default) keeps only the newest run of each name.
	var out []*CheckRun
	seen := map[string]bool{}
	for i := len(match) - 1; i >= 0; i-- {
		cr := match[i]
		if q.Get("filter") != "all" {
			if seen[cr.Name] {
				continue
			}
			seen[cr.Name] = true
		}
		out = append(out, cr)
	}
	lo, hi := c.page(len(out))
	list := []map[string]any{}
	for _, cr := range out[lo:hi] {
		list = append(list, c.s.checkRunJSON(r, cr))
	}
	c.json(http.StatusOK, map[string]any{"total_count": len(out), "check_runs": list})
}
