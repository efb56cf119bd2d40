package githubapi

import (
	"net/http"
	"strings"
)

// baseRoles maps a repository role to the base permission GET .../collaborators/{username}/permission
// reports in "permission": GitHub's description of the endpoint maps maintain to write and triage to
// read (@octokit/openapi 23.0.2, repos/get-collaborator-permission-level); role_name names the
// role itself.
var baseRoles = map[string]string{"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}

// SetRole gives a user a role on a repository: admin, maintain, write, triage or read. A user with
// none is answered as GitHub answers anyone on a public repository, read (none on a private one).
func (s *Server) SetRole(repo, login, role string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.seedRepo(repo)
	if r.roles == nil {
		r.roles = map[string]string{}
	}
	r.roles[strings.ToLower(login)] = role
}

// RepoID is a repository's ID (a fork's is what Heroku's fork_repo_id takes); 0 when unknown.
func (s *Server) RepoID(fullName string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.repos[strings.ToLower(fullName)]; ok {
		return r.id
	}
	return 0
}

// getPermission answers GET /repos/{owner}/{repo}/collaborators/{username}/permission.
func getPermission(c *call) {
	r := c.repo()
	if r == nil {
		return
	}
	login := c.params["username"]
	role, ok := r.roles[strings.ToLower(login)]
	if !ok {
		role = "read"
		if r.private {
			role = "none"
		}
	}
	perm := baseRoles[role]
	if perm == "" {
		perm = "none"
	}
	c.json(http.StatusOK, map[string]any{"permission": perm, "role_name": role, "user": c.s.user(login)})
}
