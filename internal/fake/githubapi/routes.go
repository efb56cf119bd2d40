package githubapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// route is one endpoint the fake implements. perm is the GitHub App permission it needs
// (read for GET, write otherwise); "" for none (repository metadata).
type route struct {
	method, tmpl, perm string
	handle             func(*call)
}

var routes = func() []route {
	rs := []route{
		{"GET", "/user", "", getUser},
		{"GET", "/repos/{owner}/{repo}", "", getRepo},
		{"GET", "/repos/{owner}/{repo}/commits/{ref}", "contents", getCommit},
		{"GET", "/repos/{owner}/{repo}/git/commits/{commit_sha}", "contents", getGitCommit},
		{"GET", "/repos/{owner}/{repo}/branches/{branch}", "contents", getBranch},
		{"GET", "/repos/{owner}/{repo}/contents/{path}", "contents", getContents},
		{"GET", "/repos/{owner}/{repo}/pulls", "pull_requests", listPulls},
		{"GET", "/repos/{owner}/{repo}/pulls/{pull_number}", "pull_requests", getPull},
		{"GET", "/repos/{owner}/{repo}/collaborators/{username}/permission", "", getPermission},

		{"POST", "/repos/{owner}/{repo}/check-runs", "checks", createCheckRun},
		{"GET", "/repos/{owner}/{repo}/check-runs/{check_run_id}", "checks", getCheckRun},
		{"PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}", "checks", updateCheckRun},
		{"GET", "/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations", "checks", listAnnotations},
		{"GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs", "checks", listCheckRunsForRef},

		{"POST", "/repos/{owner}/{repo}/deployments", "deployments", createDeployment},
		{"GET", "/repos/{owner}/{repo}/deployments", "deployments", listDeployments},
		{"GET", "/repos/{owner}/{repo}/deployments/{deployment_id}", "deployments", getDeployment},
		{"POST", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", "deployments", createDeploymentStatus},
		{"GET", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", "deployments", listDeploymentStatuses},

		{"GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments", "issues", listComments},
		{"POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", "issues", createComment},
		{"GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}", "issues", getComment},
		{"PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}", "issues", updateComment},
		{"DELETE", "/repos/{owner}/{repo}/issues/comments/{comment_id}", "issues", deleteComment},
	}
	tmpls := make([]string, len(rs))
	for i, r := range rs {
		tmpls[i] = r.tmpl
	}
	sortTemplates(tmpls)
	rank := map[string]int{}
	for i, t := range tmpls {
		rank[t] = i
	}
	sort.SliceStable(rs, func(i, j int) bool { return rank[rs[i].tmpl] < rank[rs[j].tmpl] })
	return rs
}()

func matchRoute(method string, segs []string) (*route, map[string]string) {
	for i := range routes {
		rt := &routes[i]
		if rt.method != method {
			continue
		}
		if params, ok := matchTemplate(rt.tmpl, segs); ok {
			return rt, params
		}
	}
	return nil, nil
}

// call is one request being handled, with the server's lock held.
type call struct {
	s      *Server
	w      *recorder
	r      *http.Request
	body   []byte
	params map[string]string
	now    time.Time
	login  string // whom the request's credential belongs to: the author of what it writes
}

func (c *call) json(status int, v any) { writeJSON(c.w, status, v) }

func (c *call) fail(status int, msg string) {
	c.json(status, map[string]any{"message": msg, "documentation_url": docsURL, "status": strconv.Itoa(status)})
}

// reject answers 422 for a request GitHub would refuse and records it as a violation.
func (c *call) reject(resource, field, code, msg string) {
	c.s.violate("%s %s: %s", c.r.Method, c.r.URL.Path, msg)
	c.json(http.StatusUnprocessableEntity, map[string]any{
		"message":           "Validation Failed",
		"errors":            []fieldError{{Resource: resource, Field: field, Code: code, Message: msg}},
		"documentation_url": docsURL, "status": "422",
	})
}

// repo finds the repository named in the path; an unknown one is answered 404 as GitHub does.
func (c *call) repo() *repo {
	r, ok := c.s.repos[strings.ToLower(c.params["owner"]+"/"+c.params["repo"])]
	if !ok {
		c.fail(http.StatusNotFound, "Not Found")
		return nil
	}
	return r
}

// intParam reads a numeric path parameter; a non-number is answered 404 as GitHub does.
func (c *call) intParam(name string) (int64, bool) {
	n, err := strconv.ParseInt(c.params[name], 10, 64)
	if err != nil {
		c.fail(http.StatusNotFound, "Not Found")
		return 0, false
	}
	return n, true
}

// decode reads the JSON body into v; a body that is not JSON (or of the wrong shape) is
// answered 400 and recorded.
func (c *call) decode(v any) bool {
	dec := json.NewDecoder(bytes.NewReader(c.body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		c.s.violate("%s %s: the body does not decode: %v", c.r.Method, c.r.URL.Path, err)
		c.fail(http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

// page answers a list as GitHub does: per_page (default 30, at most 100, or Options.PageSize)
// and page select the slice, and the Link header names the next, last, first and previous
// pages.
func (c *call) page(n int) (lo, hi int) {
	q := c.r.URL.Query()
	limit := 100
	size := 30
	if c.s.opt.PageSize > 0 {
		limit, size = c.s.opt.PageSize, c.s.opt.PageSize
	}
	if v, err := strconv.Atoi(q.Get("per_page")); err == nil && v > 0 {
		size = min(v, limit)
	}
	pg := 1
	if v, err := strconv.Atoi(q.Get("page")); err == nil && v > 0 {
		pg = v
	}
	last := max((n+size-1)/size, 1)
	link := func(p int, rel string) string {
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		qq.Set("page", strconv.Itoa(p))
		qq.Set("per_page", strconv.Itoa(size))
		return fmt.Sprintf("<%s%s?%s>; rel=%q", c.s.URL(), c.r.URL.EscapedPath(), qq.Encode(), rel)
	}
	var links []string
	if pg < last {
		links = append(links, link(pg+1, "next"), link(last, "last"))
	}
	if pg > 1 {
		links = append(links, link(1, "first"), link(min(pg-1, last), "prev"))
	}
	if len(links) > 0 {
		c.w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo = min((pg-1)*size, n)
	hi = min(lo+size, n)
	return lo, hi
}

func (s *Server) user(login string) map[string]any {
	typ := "User"
	if strings.HasSuffix(login, "[bot]") {
		typ = "Bot"
	}
	return map[string]any{
		"login": login, "id": len(login), "node_id": "U_fake_" + login, "type": typ, "site_admin": false,
		"url": s.URL() + "/users/" + login, "html_url": htmlURL(login),
	}
}

// isApp reports whether a login is a GitHub App's bot (an installation token's identity, as
// GITHUB_TOKEN's github-actions[bot]): "[bot]" cannot end a user's login.
func isApp(login string) bool { return strings.HasSuffix(login, "[bot]") }

// getUser answers GET /user: the token's user, or, for an app installation's token, 403
// "Resource not accessible by integration", as GitHub answers GITHUB_TOKEN.
func getUser(c *call) {
	if isApp(c.login) {
		c.json(http.StatusForbidden, map[string]any{
			"message":           "Resource not accessible by integration",
			"documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user", "status": "403",
		})
		return
	}
	u := c.s.user(c.login)
	u["name"], u["email"], u["public_repos"], u["followers"], u["following"] = nil, nil, 0, 0, 0
	u["created_at"], u["updated_at"] = ts(c.now), ts(c.now)
	c.json(http.StatusOK, u)
}

// appJSON is the GitHub App behind a bot login, as a comment's performed_via_github_app shows it.
func (s *Server) appJSON(login string) any {
	if !isApp(login) {
		return nil
	}
	slug := strings.TrimSuffix(login, "[bot]")
	name := map[string]string{"github-actions": "GitHub Actions"}[slug]
	if name == "" {
		name = slug
	}
	return map[string]any{
		"id": 15368 + len(slug) - len("github-actions"), "slug": slug, "node_id": "MDM6QXBwMTUzNjg=", "name": name,
		"owner": s.user("github"), "description": "", "external_url": "https://github.com/features/actions",
		"html_url": "https://github.com/apps/" + slug, "created_at": "2018-07-30T09:30:17Z", "updated_at": "2024-04-10T20:33:16Z",
		"permissions": map[string]any{"issues": "write", "pull_requests": "write", "checks": "write", "contents": "write"},
		"events":      []string{},
	}
}

func (s *Server) repoJSON(r *repo) map[string]any {
	return map[string]any{
		"id": r.id, "node_id": nodeID("R", r.id), "name": r.name, "full_name": r.fullName,
		"owner": s.user(r.owner), "private": r.private, "fork": false, "html_url": htmlURL(r.fullName),
		"url": s.repoURL(r), "default_branch": r.defaultBranch, "visibility": map[bool]string{false: "public", true: "private"}[r.private],
	}
}

func getRepo(c *call) {
	if r := c.repo(); r != nil {
		c.json(http.StatusOK, c.s.repoJSON(r))
	}
}

func (s *Server) commitJSON(r *repo, cm *commit) map[string]any {
	sig := map[string]any{"name": "Fake Author", "email": "author@example.com", "date": ts(cm.date)}
	var parents []map[string]any
	for _, p := range cm.parents {
		parents = append(parents, map[string]any{"sha": p, "url": s.repoURL(r) + "/commits/" + p, "html_url": htmlURL(r.fullName + "/commit/" + p)})
	}
	if parents == nil {
		parents = []map[string]any{}
	}
	return map[string]any{
		"sha": cm.sha, "node_id": "C_fake_" + cm.sha, "url": s.repoURL(r) + "/commits/" + cm.sha,
		"html_url": htmlURL(r.fullName + "/commit/" + cm.sha),
		"commit": map[string]any{
			"message": cm.message, "author": sig, "committer": sig, "comment_count": 0,
			"url":  s.repoURL(r) + "/git/commits/" + cm.sha,
			"tree": map[string]any{"sha": cm.tree, "url": s.repoURL(r) + "/git/trees/" + cm.tree},
		},
		"author": nil, "committer": nil, "parents": parents,
	}
}

func getCommit(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	sha, ok := r.resolve(c.params["ref"])
	if !ok {
		c.fail(http.StatusUnprocessableEntity, "No commit found for SHA: "+c.params["ref"])
		return
	}
	// go-github's GetCommitSHA1 asks for the bare SHA with this media type (with or without v3).
	if a := c.r.Header.Get("Accept"); strings.Contains(a, "application/vnd.github.sha") || strings.Contains(a, "application/vnd.github.v3.sha") {
		c.w.Header().Set("Content-Type", "application/vnd.github.sha; charset=utf-8")
		c.w.WriteHeader(http.StatusOK)
		_, _ = c.w.Write([]byte(sha))
		return
	}
	c.json(http.StatusOK, c.s.commitJSON(r, r.commits[sha]))
}

func getGitCommit(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	cm, ok := r.commits[c.params["commit_sha"]]
	if !ok {
		c.fail(http.StatusNotFound, "Not Found")
		return
	}
	sig := map[string]any{"name": "Fake Author", "email": "author@example.com", "date": ts(cm.date)}
	parents := []map[string]any{}
	for _, p := range cm.parents {
		parents = append(parents, map[string]any{"sha": p, "url": c.s.repoURL(r) + "/git/commits/" + p, "html_url": htmlURL(r.fullName + "/commit/" + p)})
	}
	c.json(http.StatusOK, map[string]any{
		"sha": cm.sha, "node_id": "C_fake_" + cm.sha, "url": c.s.repoURL(r) + "/git/commits/" + cm.sha,
		"html_url": htmlURL(r.fullName + "/commit/" + cm.sha), "message": cm.message,
		"author": sig, "committer": sig, "parents": parents,
		"tree":         map[string]any{"sha": cm.tree, "url": c.s.repoURL(r) + "/git/trees/" + cm.tree},
		"verification": map[string]any{"verified": false, "reason": "unsigned", "signature": nil, "payload": nil},
	})
}

func getBranch(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	name := c.params["branch"]
	sha, ok := r.branches[name]
	if !ok {
		c.fail(http.StatusNotFound, "Branch not found")
		return
	}
	cj := map[string]any{"sha": sha}
	if cm, ok := r.commits[sha]; ok {
		cj = c.s.commitJSON(r, cm)
	}
	c.json(http.StatusOK, map[string]any{
		"name": name, "commit": cj, "protected": false,
		"_links": map[string]any{"self": c.s.repoURL(r) + "/branches/" + url.PathEscape(name), "html": htmlURL(r.fullName + "/tree/" + name)},
	})
}

func (s *Server) pullJSON(r *repo, pr *PullRequest) map[string]any {
	side := func(ref, sha, full string) map[string]any {
		owner, _, _ := strings.Cut(full, "/")
		var rj any
		if full != "" {
			var j map[string]any
			if hr, ok := s.repos[strings.ToLower(full)]; ok {
				j = s.repoJSON(hr)
			} else {
				j = s.repoJSON(&repo{fullName: full, owner: owner, name: strings.TrimPrefix(full, owner+"/"), defaultBranch: "main"})
			}
			j["fork"] = !strings.EqualFold(full, r.fullName) // a head repository other than the base is a fork
			rj = j
		}
		return map[string]any{"label": owner + ":" + ref, "ref": ref, "sha": sha, "user": s.user(owner), "repo": rj}
	}
	labels := []map[string]any{}
	for i, l := range pr.Labels {
		labels = append(labels, map[string]any{"id": i + 1, "name": l, "color": "ededed", "default": false})
	}
	base := side(pr.BaseRef, r.branches[pr.BaseRef], r.fullName)
	var closedAt, mergedAt any
	if pr.State == "closed" {
		closedAt = ts(s.opt.Now())
		if pr.Merged {
			mergedAt = closedAt
		}
	}
	return map[string]any{
		"id": int64(pr.Number) + 1_000_000, "node_id": fmt.Sprintf("PR_fake%d", pr.Number), "number": pr.Number,
		"state": pr.State, "title": pr.Title, "user": s.user(pr.User), "draft": pr.Draft,
		"merged": pr.Merged, "labels": labels, "locked": false, "body": nil,
		"url":      fmt.Sprintf("%s/pulls/%d", s.repoURL(r), pr.Number),
		"html_url": htmlURL(fmt.Sprintf("%s/pull/%d", r.fullName, pr.Number)),
		"head":     side(pr.HeadRef, pr.HeadSHA, pr.HeadRepo), "base": base,
		"closed_at": closedAt, "merged_at": mergedAt, "author_association": "MEMBER",
	}
}

func getPull(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	n, ok := c.intParam("pull_number")
	if !ok {
		return
	}
	pr, ok := r.pulls[int(n)]
	if !ok {
		c.fail(http.StatusNotFound, "Not Found")
		return
	}
	c.json(http.StatusOK, c.s.pullJSON(r, pr))
}

func listPulls(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	q := c.r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	var out []*PullRequest
	for _, pr := range r.sortedPulls() {
		if state != "all" && pr.State != state {
			continue
		}
		if h := q.Get("head"); h != "" {
			owner, _, _ := strings.Cut(pr.HeadRepo, "/")
			if h != owner+":"+pr.HeadRef {
				continue
			}
		}
		if b := q.Get("base"); b != "" && b != pr.BaseRef {
			continue
		}
		out = append(out, pr)
	}
	// GitHub's default order is newest first; numbers stand in for creation time.
	if q.Get("direction") != "asc" {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	lo, hi := c.page(len(out))
	list := []map[string]any{}
	for _, pr := range out[lo:hi] {
		list = append(list, c.s.pullJSON(r, pr))
	}
	c.json(http.StatusOK, list)
}
