package githubapi

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

type deploymentBody struct {
	Ref                   *string   `json:"ref"`
	Task                  *string   `json:"task"`
	AutoMerge             *bool     `json:"auto_merge"`
	RequiredContexts      *[]string `json:"required_contexts"`
	Payload               any       `json:"payload"`
	Environment           *string   `json:"environment"`
	Description           *string   `json:"description"`
	TransientEnvironment  *bool     `json:"transient_environment"`
	ProductionEnvironment *bool     `json:"production_environment"`
}

type deploymentStatusBody struct {
	State          *string `json:"state"`
	TargetURL      *string `json:"target_url"`
	LogURL         *string `json:"log_url"`
	Description    *string `json:"description"`
	Environment    *string `json:"environment"`
	EnvironmentURL *string `json:"environment_url"`
	AutoInactive   *bool   `json:"auto_inactive"`
}

var deploymentStates = set("error", "failure", "inactive", "in_progress", "queued", "pending", "success")

// maxStatusDescription is GitHub's limit on a deployment status description.
const maxStatusDescription = 140

func str(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

func (s *Server) deploymentJSON(r *repo, d *Deployment) map[string]any {
	u := fmt.Sprintf("%s/deployments/%d", s.repoURL(r), d.ID)
	payload := d.Payload
	if payload == nil {
		payload = map[string]any{}
	}
	var desc any
	if d.Description != "" {
		desc = d.Description
	}
	return map[string]any{
		"url": u, "id": d.ID, "node_id": nodeID("DE", d.ID), "sha": d.SHA, "ref": d.Ref, "task": d.Task,
		"payload": payload, "original_environment": d.OriginalEnvironment, "environment": d.Environment,
		"description": desc, "creator": s.user(d.Creator), "created_at": ts(d.CreatedAt), "updated_at": ts(d.CreatedAt),
		"statuses_url": u + "/statuses", "repository_url": s.repoURL(r),
		"transient_environment": d.TransientEnvironment, "production_environment": d.ProductionEnvironment,
	}
}

func (s *Server) deploymentStatusJSON(r *repo, d *Deployment, st DeploymentStatus) map[string]any {
	du := fmt.Sprintf("%s/deployments/%d", s.repoURL(r), d.ID)
	return map[string]any{
		"url": fmt.Sprintf("%s/statuses/%d", du, st.ID), "id": st.ID, "node_id": nodeID("DES", st.ID),
		"state": st.State, "creator": s.user(st.Creator), "description": st.Description,
		"environment": st.Environment, "target_url": st.TargetURL, "log_url": st.LogURL,
		"environment_url": st.EnvironmentURL, "created_at": ts(st.CreatedAt), "updated_at": ts(st.CreatedAt),
		"deployment_url": du, "repository_url": s.repoURL(r),
	}
}

// unmetContexts lists the check runs on sha that keep a deployment from being created: with
// required_contexts omitted GitHub verifies every context, with a list only those named.
func (r *repo) unmetContexts(sha string, required *[]string) []string {
	latest := map[string]*CheckRun{}
	for _, cr := range r.checkRuns {
		if cr.HeadSHA == sha {
			latest[cr.Name] = cr
		}
	}
	ok := func(cr *CheckRun) bool {
		return cr != nil && cr.Status == "completed" && (cr.Conclusion == "success" || cr.Conclusion == "neutral" || cr.Conclusion == "skipped")
	}
	var bad []string
	if required == nil {
		for name, cr := range latest {
			if !ok(cr) {
				bad = append(bad, name)
			}
		}
	} else {
		for _, name := range *required {
			if !ok(latest[name]) {
				bad = append(bad, name)
			}
		}
	}
	sort.Strings(bad)
	return bad
}

func createDeployment(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	var b deploymentBody
	if !c.decode(&b) {
		return
	}
	if b.Ref == nil || *b.Ref == "" {
		c.reject("Deployment", "ref", "missing_field", "ref is required")
		return
	}
	ref := *b.Ref
	sha, ok := r.resolve(ref)
	if !ok {
		c.s.violate("%s %s: ref %q names no branch or commit of %s", c.r.Method, c.r.URL.Path, ref, r.fullName)
		c.fail(http.StatusUnprocessableEntity, "No ref found for: "+ref)
		return
	}
	// auto_merge (default true) makes GitHub merge the default branch into a branch that lacks
	// it, answering 202 and creating no deployment: the surprise deploy-action avoids by sending
	// auto_merge: false.
	if b.AutoMerge == nil || *b.AutoMerge {
		if _, isBranch := r.branches[ref]; isBranch && ref != r.defaultBranch {
			if def, ok := r.branches[r.defaultBranch]; ok && !r.ancestor(def, sha) {
				merge := fmt.Sprintf("%040x", c.s.id())
				r.commits[merge] = &commit{sha: merge, tree: r.commits[sha].tree, message: "Merge " + r.defaultBranch + " into " + ref, parents: []string{sha, def}, date: c.now.UTC()}
				r.branches[ref] = merge
				c.json(http.StatusAccepted, map[string]any{"message": fmt.Sprintf("Auto-merged %s into %s on deployment.", r.defaultBranch, ref)})
				return
			}
		}
	}
	if bad := r.unmetContexts(sha, b.RequiredContexts); len(bad) > 0 {
		c.json(http.StatusConflict, map[string]any{
			"message": fmt.Sprintf("Conflict: Commit status checks failed for %s.", ref),
			"errors": []map[string]any{{
				"contexts": bad, "resource": "Deployment", "field": "required_contexts", "code": "invalid",
			}},
			"documentation_url": docsURL, "status": "409",
		})
		return
	}
	env := str(b.Environment, "production")
	prod := env == "production"
	if b.ProductionEnvironment != nil {
		prod = *b.ProductionEnvironment
	}
	d := &Deployment{
		ID: c.s.id(), Ref: ref, SHA: sha, Task: str(b.Task, "deploy"), Environment: env, OriginalEnvironment: env,
		Description: str(b.Description, ""), Payload: b.Payload, ProductionEnvironment: prod,
		TransientEnvironment: b.TransientEnvironment != nil && *b.TransientEnvironment,
		Creator:              c.login, CreatedAt: c.now.UTC(),
	}
	r.deployments = append(r.deployments, d)
	c.json(http.StatusCreated, c.s.deploymentJSON(r, d))
}

func listDeployments(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	q := c.r.URL.Query()
	var out []*Deployment
	for i := len(r.deployments) - 1; i >= 0; i-- { // newest first, as GitHub lists them
		d := r.deployments[i]
		if (q.Get("sha") != "" && q.Get("sha") != d.SHA) || (q.Get("ref") != "" && q.Get("ref") != d.Ref) ||
			(q.Get("task") != "" && q.Get("task") != d.Task) || (q.Get("environment") != "" && q.Get("environment") != d.Environment) {
			continue
		}
		out = append(out, d)
	}
	lo, hi := c.page(len(out))
	list := []map[string]any{}
	for _, d := range out[lo:hi] {
		list = append(list, c.s.deploymentJSON(r, d))
	}
	c.json(http.StatusOK, list)
}

func (c *call) deployment(r *repo) *Deployment {
	id, ok := c.intParam("deployment_id")
	if !ok {
		return nil
	}
	for _, d := range r.deployments {
		if d.ID == id {
			return d
		}
	}
	c.fail(http.StatusNotFound, "Not Found")
	return nil
}

func getDeployment(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	if d := c.deployment(r); d != nil {
		c.json(http.StatusOK, c.s.deploymentJSON(r, d))
	}
}

func createDeploymentStatus(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	d := c.deployment(r)
	if d == nil {
		return
	}
	var b deploymentStatusBody
	if !c.decode(&b) {
		return
	}
	if b.State == nil || !deploymentStates[*b.State] {
		c.reject("DeploymentStatus", "state", "invalid", fmt.Sprintf("state %q is not one of error, failure, inactive, in_progress, queued, pending, success", str(b.State, "")))
		return
	}
	if n := utf8.RuneCountInString(str(b.Description, "")); n > maxStatusDescription {
		c.reject("DeploymentStatus", "description", "custom", "description is too long ("+strconv.Itoa(n)+" characters, maximum is 140)")
		return
	}
	if b.Environment != nil && *b.Environment != "" {
		d.Environment = *b.Environment
	}
	st := DeploymentStatus{
		ID: c.s.id(), State: *b.State, Description: str(b.Description, ""), Environment: d.Environment,
		EnvironmentURL: str(b.EnvironmentURL, ""), LogURL: str(b.LogURL, str(b.TargetURL, "")),
		TargetURL: str(b.TargetURL, str(b.LogURL, "")), Creator: c.login, CreatedAt: c.now.UTC(),
	}
	d.Statuses = append(d.Statuses, st)
	// auto_inactive (default true): a success marks earlier non-transient, non-production
	// deployments of the same environment inactive.
	if st.State == "success" && (b.AutoInactive == nil || *b.AutoInactive) {
		for _, o := range r.deployments {
			if o == d || o.Environment != d.Environment || o.TransientEnvironment || o.ProductionEnvironment || o.ID > d.ID {
				continue
			}
			if n := len(o.Statuses); n > 0 && o.Statuses[n-1].State == "inactive" {
				continue
			}
			o.Statuses = append(o.Statuses, DeploymentStatus{ID: c.s.id(), State: "inactive", Environment: o.Environment, Creator: c.login, CreatedAt: c.now.UTC()})
		}
	}
	c.json(http.StatusCreated, c.s.deploymentStatusJSON(r, d, st))
}

func listDeploymentStatuses(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	d := c.deployment(r)
	if d == nil {
		return
	}
	lo, hi := c.page(len(d.Statuses))
	list := []map[string]any{}
	for i := len(d.Statuses) - 1 - lo; i >= len(d.Statuses)-hi; i-- { // newest first
		list = append(list, c.s.deploymentStatusJSON(r, d, d.Statuses[i]))
	}
	c.json(http.StatusOK, list)
}

// issueExists reports whether an issue number is known: the fake's issues are its pull requests.
func (r *repo) issueExists(n int) bool {
	_, ok := r.pulls[n]
	return ok
}

func (s *Server) commentJSON(r *repo, cm *Comment) map[string]any {
	return map[string]any{
		"id": cm.ID, "node_id": nodeID("IC", cm.ID), "url": fmt.Sprintf("%s/issues/comments/%d", s.repoURL(r), cm.ID),
		"html_url":  htmlURL(fmt.Sprintf("%s/pull/%d#issuecomment-%d", r.fullName, cm.Issue, cm.ID)),
		"issue_url": fmt.Sprintf("%s/issues/%d", s.repoURL(r), cm.Issue), "body": cm.Body,
		"user": s.user(cm.User), "performed_via_github_app": s.appJSON(cm.User), // who wrote it
		"created_at": ts(cm.CreatedAt), "updated_at": ts(cm.UpdatedAt), "author_association": "NONE",
	}
}

// maxCommentChars is GitHub's limit on a comment body.
const maxCommentChars = 65536

type commentBody struct {
	Body *string `json:"body"`
}

func (c *call) commentText() (string, bool) {
	var b commentBody
	if !c.decode(&b) {
		return "", false
	}
	if b.Body == nil || strings.TrimSpace(*b.Body) == "" {
		c.reject("IssueComment", "body", "missing_field", "body is required")
		return "", false
	}
	if n := utf8.RuneCountInString(*b.Body); n > maxCommentChars {
		c.reject("IssueComment", "body", "custom", fmt.Sprintf("body is too long (%d characters, maximum is %d)", n, maxCommentChars))
		return "", false
	}
	return *b.Body, true
}

func listComments(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	n, ok := c.intParam("issue_number")
	if !ok {
		return
	}
	if !r.issueExists(int(n)) {
		c.fail(http.StatusNotFound, "Not Found")
		return
	}
	var out []*Comment
	for _, cm := range r.comments {
		if cm.Issue == int(n) {
			out = append(out, cm)
		}
	}
	lo, hi := c.page(len(out))
	list := []map[string]any{}
	for _, cm := range out[lo:hi] {
		list = append(list, c.s.commentJSON(r, cm))
	}
	c.json(http.StatusOK, list)
}

func createComment(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	n, ok := c.intParam("issue_number")
	if !ok {
		return
	}
	if !r.issueExists(int(n)) {
		c.fail(http.StatusNotFound, "Not Found")
		return
	}
	text, ok := c.commentText()
	if !ok {
		return
	}
	cm := &Comment{ID: c.s.id(), Issue: int(n), Body: text, User: c.login, CreatedAt: c.now.UTC(), UpdatedAt: c.now.UTC()}
	r.comments = append(r.comments, cm)
	c.json(http.StatusCreated, c.s.commentJSON(r, cm))
}

func (c *call) comment(r *repo) (int, *Comment) {
	id, ok := c.intParam("comment_id")
	if !ok {
		return -1, nil
	}
	for i, cm := range r.comments {
		if cm.ID == id {
			return i, cm
		}
	}
	c.fail(http.StatusNotFound, "Not Found")
	return -1, nil
}

func getComment(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	if _, cm := c.comment(r); cm != nil {
		c.json(http.StatusOK, c.s.commentJSON(r, cm))
	}
}

func updateComment(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	_, cm := c.comment(r)
	if cm == nil {
		return
	}
	text, ok := c.commentText()
	if !ok {
		return
	}
	cm.Body, cm.UpdatedAt = text, c.now.UTC()
	c.json(http.StatusOK, c.s.commentJSON(r, cm))
}

func deleteComment(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	i, cm := c.comment(r)
	if cm == nil {
		return
	}
	r.comments = append(r.comments[:i], r.comments[i+1:]...)
	c.w.WriteHeader(http.StatusNoContent)
}
