package githubapi

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// PullRequest seeds a pull request. Zero values get GitHub-like defaults: State "open",
// HeadRepo and BaseRepo the repository itself, User "octocat".
type PullRequest struct {
	Number   int
	State    string // open or closed
	HeadSHA  string
	HeadRef  string
	BaseRef  string
	Title    string
	User     string
	HeadRepo string // owner/name of the head repository; a different one makes a fork PR
	Labels   []string
	Draft    bool
	Merged   bool
}

// CheckRun is a check run as the server holds it.
type CheckRun struct {
	ID          int64
	Name        string
	HeadSHA     string
	Status      string // queued, in_progress, completed, ...
	Conclusion  string // "" until completed
	ExternalID  string
	DetailsURL  string
	StartedAt   time.Time
	CompletedAt time.Time
	Title       string
	Summary     string
	Text        string
	Annotations []Annotation // every annotation added, over all requests
	Updates     int          // PATCH requests applied
}

// Annotation is one check-run annotation.
type Annotation struct {
	Path            string `json:"path"`
	StartLine       int    `json:"start_line"`
	EndLine         int    `json:"end_line"`
	StartColumn     *int   `json:"start_column,omitempty"`
	EndColumn       *int   `json:"end_column,omitempty"`
	AnnotationLevel string `json:"annotation_level"`
	Message         string `json:"message"`
	Title           string `json:"title,omitempty"`
	RawDetails      string `json:"raw_details,omitempty"`
}

// Deployment is a GitHub Deployment with its statuses, oldest status first.
type Deployment struct {
	ID                    int64
	Ref                   string
	SHA                   string
	Task                  string
	Environment           string
	OriginalEnvironment   string
	Description           string
	Payload               any
	TransientEnvironment  bool
	ProductionEnvironment bool
	Creator               string
	CreatedAt             time.Time
	Statuses              []DeploymentStatus
}

// DeploymentStatus is one status of a Deployment.
type DeploymentStatus struct {
	ID             int64
	State          string
	Description    string
	Environment    string
	EnvironmentURL string
	LogURL         string
	TargetURL      string
	Creator        string
	CreatedAt      time.Time
}

// Comment is an issue (or pull request) comment.
type Comment struct {
	ID        int64
	Issue     int
	Body      string
	User      string // login of the credential that wrote it (Options.Login, AddToken)
	CreatedAt time.Time
	UpdatedAt time.Time
}

type commit struct {
	sha, tree, message string
	parents            []string
	date               time.Time
}

type repo struct {
	id            int64
	fullName      string
	owner, name   string
	defaultBranch string
	commits       map[string]*commit
	branches      map[string]string
	pulls         map[int]*PullRequest
	checkRuns     []*CheckRun
	suites        map[string]int64 // head sha -> check suite id
	deployments   []*Deployment
	comments      []*Comment
	files         map[string]map[string][]byte // commit sha -> path -> content (AddFile)
	private       bool                         // SetPrivate: reads without a token get 404
	roles         map[string]string            // lower-case login -> role (SetRole)
}

func (s *Server) id() int64 {
	s.nextID++
	return s.nextID
}

// AddRepo adds an empty repository "owner/name" with default branch "main". Adding it again
// does nothing.
func (s *Server) AddRepo(fullName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addRepo(fullName)
}

func (s *Server) addRepo(fullName string) *repo {
	key := strings.ToLower(fullName)
	if r, ok := s.repos[key]; ok {
		return r
	}
	owner, name, _ := strings.Cut(fullName, "/")
	r := &repo{
		id: s.id(), fullName: fullName, owner: owner, name: name, defaultBranch: "main",
		commits: map[string]*commit{}, branches: map[string]string{}, pulls: map[int]*PullRequest{},
		suites: map[string]int64{},
	}
	s.repos[key] = r
	return r
}

// SetPrivate makes a repository private or public. Requests without an Authorization header
// are answered as GitHub answers them: reads of a public repository are served, reads of a private
// (or unknown) one get 404 Not Found, which GitHub sends so as not to disclose private repositories
// (REST API docs, Troubleshooting: "404 error for an existing repository"), and writes get 401
// Requires authentication.
func (s *Server) SetPrivate(fullName string, private bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seedRepo(fullName).private = private
}

// seedRepo finds a repository, case-insensitively as GitHub does, adding it when missing so
// that seeding functions may be called in any order.
func (s *Server) seedRepo(fullName string) *repo { return s.addRepo(fullName) }

// AddCommit adds a commit with its tree SHA, message and parent SHAs.
func (s *Server) AddCommit(repo, sha, treeSHA, message string, parents ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.seedRepo(repo)
	r.commits[sha] = &commit{sha: sha, tree: treeSHA, message: message, parents: parents, date: s.opt.Now().UTC()}
}

// SetBranch points a branch at a commit, creating the branch when missing.
func (s *Server) SetBranch(repo, branch, sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seedRepo(repo).branches[branch] = sha
}

// SetDefaultBranch changes the repository's default branch (initially "main").
func (s *Server) SetDefaultBranch(repo, branch string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seedRepo(repo).defaultBranch = branch
}

// AddPullRequest adds or replaces a pull request.
func (s *Server) AddPullRequest(repo string, pr PullRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.seedRepo(repo)
	if pr.State == "" {
		pr.State = "open"
	}
	if pr.User == "" {
		pr.User = "octocat"
	}
	if pr.HeadRepo == "" {
		pr.HeadRepo = r.fullName
	}
	pr.Labels = append([]string(nil), pr.Labels...)
	r.pulls[pr.Number] = &pr
}

// SetPullRequestHead moves a pull request's head to a commit, as a push to its branch does.
func (s *Server) SetPullRequestHead(repo string, number int, sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pr, ok := s.seedRepo(repo).pulls[number]; ok {
		pr.HeadSHA = sha
	}
}

// ClosePullRequest closes a pull request (without merging it).
func (s *Server) ClosePullRequest(repo string, number int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pr, ok := s.seedRepo(repo).pulls[number]; ok {
		pr.State = "closed"
	}
}

// CheckRuns returns the repository's check runs, oldest first.
func (s *Server) CheckRuns(repo string) []CheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[strings.ToLower(repo)]
	if !ok {
		return nil
	}
	out := make([]CheckRun, 0, len(r.checkRuns))
	for _, c := range r.checkRuns {
		cp := *c
		cp.Annotations = append([]Annotation(nil), c.Annotations...)
		out = append(out, cp)
	}
	return out
}

// Deployments returns the repository's deployments, oldest first, with their statuses.
func (s *Server) Deployments(repo string) []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[strings.ToLower(repo)]
	if !ok {
		return nil
	}
	out := make([]Deployment, 0, len(r.deployments))
	for _, d := range r.deployments {
		cp := *d
		cp.Statuses = append([]DeploymentStatus(nil), d.Statuses...)
		out = append(out, cp)
	}
	return out
}

// Comments returns the comments on an issue or pull request, oldest first.
func (s *Server) Comments(repo string, issue int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.repos[strings.ToLower(repo)]
	if !ok {
		return nil
	}
	var out []Comment
	for _, c := range r.comments {
		if c.Issue == issue {
			out = append(out, *c)
		}
	}
	return out
}

// resolve turns a ref as GitHub accepts it (a commit SHA, a unique SHA prefix of at least 7
// characters, a branch name, heads/<b> or refs/heads/<b>) into a commit SHA.
func (r *repo) resolve(ref string) (string, bool) {
	if _, ok := r.commits[ref]; ok {
		return ref, true
	}
	b := strings.TrimPrefix(strings.TrimPrefix(ref, "refs/"), "heads/")
	if sha, ok := r.branches[b]; ok {
		return sha, true
	}
	if len(ref) >= 7 {
		var found []string
		for sha := range r.commits {
			if strings.HasPrefix(sha, ref) {
				found = append(found, sha)
			}
		}
		if len(found) == 1 {
			return found[0], true
		}
	}
	return "", false
}

// ancestor reports whether commit a is reachable from commit b through parents.
func (r *repo) ancestor(a, b string) bool {
	seen := map[string]bool{}
	stack := []string{b}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if c == a {
			return true
		}
		if seen[c] {
			continue
		}
		seen[c] = true
		if cm, ok := r.commits[c]; ok {
			stack = append(stack, cm.parents...)
		}
	}
	return false
}

func (r *repo) sortedPulls() []*PullRequest {
	out := make([]*PullRequest, 0, len(r.pulls))
	for _, p := range r.pulls {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out
}

func (s *Server) repoURL(r *repo) string { return s.URL() + "/repos/" + r.fullName }

func htmlURL(path string) string { return "https://github.com/" + path }

func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func nodeID(kind string, id int64) string { return fmt.Sprintf("%s_fake%d", kind, id) }
