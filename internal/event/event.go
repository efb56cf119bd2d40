// Package event turns the webhook payload that GitHub Actions writes to
// GITHUB_EVENT_PATH into a typed Trigger: only the fields deploy-action
// decides on, so the rest of the program never touches raw JSON.
package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Trigger is what happened: the event and the fields of its payload that
// choose a stage, a commit and a deployment name.
type Trigger struct {
	Name       string            // GITHUB_EVENT_NAME: pull_request, push, workflow_dispatch, schedule, ...
	Action     string            // "opened", "closed", ... (pull_request*)
	Repository string            // owner/name
	Private    bool              // the payload's repository.private: reads without a token get 404
	Sender     string            // login
	PR         *PullRequest      // pull_request and pull_request_target
	Label      string            // the label added or removed by labeled/unlabeled
	Ref        string            // push, workflow_dispatch: refs/heads/main
	After      string            // push: the pushed commit
	Deleted    bool              // push: branch deletion
	Inputs     map[string]string // workflow_dispatch
	Comment    *Comment          // issue_comment
}

// Comment is the comment of an issue_comment event: a comment on an issue or a pull request
// (GitHub's pull requests are issues too). Its author's author_association is deliberately not
// read: whether the author may approve a deploy is asked of GitHub's collaborator-permission API,
// never taken from the payload.
type Comment struct {
	Issue         int    // issue.number: the pull request's number when OnPullRequest
	OnPullRequest bool   // the payload's issue has a pull_request object
	Body          string // comment.body, text written by whoever commented: never printed
	Author        string // comment.user.login
}

// PullRequest is the pull_request object of a pull_request or
// pull_request_target payload.
type PullRequest struct {
	Number   int
	HeadSHA  string // the PR's head commit; GITHUB_SHA is a merge commit instead
	HeadRef  string // branch name, without refs/heads/
	BaseRef  string
	HeadRepo string // owner/name; "" when the head repository was deleted
	BaseRepo string
	Author   string
	Title    string
	Labels   []string
	Merged   bool
	Draft    bool
}

// Fork reports whether the PR's code comes from another repository. Such runs
// get no secrets and a read-only token, so nothing may be deployed from them.
// A deleted head repository (null in the payload) can only have been a fork.
func (pr PullRequest) Fork() bool {
	if pr.HeadRepo == "" {
		return true
	}
	// Repository names are case-insensitive on GitHub.
	return !strings.EqualFold(pr.HeadRepo, pr.BaseRepo)
}

// hint ends every error about a missing or unreadable payload: the usual
// cause is running the binary outside a workflow.
const hint = "deploy-action must run in GitHub Actions, or GITHUB_EVENT_PATH must point at the event's webhook payload"

// Load reads the payload file at path (GITHUB_EVENT_PATH) and parses it as
// the event name (GITHUB_EVENT_NAME).
func Load(name, path string) (Trigger, error) {
	if path == "" {
		return Trigger{}, fmt.Errorf("GITHUB_EVENT_PATH is not set: %s", hint)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Trigger{}, fmt.Errorf("failed to read event payload %q: %w; %s", path, err, hint)
	}
	t, err := Parse(name, data)
	if err != nil {
		return Trigger{}, fmt.Errorf("event payload %q: %w", path, err)
	}
	return t, nil
}

// Parse decodes payload as the webhook of event name. Events deploy-action
// does not act on yield a Trigger with only Name set.
func Parse(name string, payload []byte) (Trigger, error) {
	if name == "" {
		return Trigger{}, errors.New("event name is empty: GITHUB_EVENT_NAME must be set; " + hint)
	}
	if len(bytes.TrimSpace(payload)) == 0 {
		return Trigger{}, fmt.Errorf("%s payload is empty: %s", name, hint)
	}
	t := Trigger{Name: name}
	var p webhook
	switch name {
	case "pull_request", "pull_request_target", "push", "workflow_dispatch", "issue_comment":
		if err := json.Unmarshal(payload, &p); err != nil {
			return Trigger{}, fmt.Errorf("%s payload is not valid webhook JSON: %w; %s", name, err, hint)
		}
	default:
		// schedule and every other event: the name is all the plan needs, but
		// a corrupt file still means something is wrong with the runner.
		if !json.Valid(payload) {
			return Trigger{}, fmt.Errorf("%s payload is not valid webhook JSON; %s", name, hint)
		}
		// The repository, when the payload has one (a schedule's does), says whether it is private.
		var other struct {
			Repository *repoPayload `json:"repository"`
		}
		if json.Unmarshal(payload, &other) == nil && other.Repository != nil {
			t.Repository, t.Private = other.Repository.FullName, other.Repository.Private
		}
		return t, nil
	}
	switch name {
	case "pull_request", "pull_request_target":
		if p.PullRequest == nil {
			return Trigger{}, fmt.Errorf("%s payload has no pull_request object: %s", name, hint)
		}
		pr := p.PullRequest.toPullRequest()
		if pr.Number == 0 {
			pr.Number = p.Number
		}
		if pr.Number <= 0 {
			return Trigger{}, fmt.Errorf("%s payload has no pull request number: %s", name, hint)
		}
		t.Action = p.Action
		t.PR = &pr
		if p.Label != nil {
			t.Label = p.Label.Name
		}
	case "push":
		t.Ref = p.Ref
		t.After = p.After
		t.Deleted = p.Deleted
	case "workflow_dispatch":
		t.Ref = p.Ref
		inputs, err := dispatchInputs(p.Inputs)
		if err != nil {
			return Trigger{}, fmt.Errorf("%s payload: %w", name, err)
		}
		t.Inputs = inputs
	case "issue_comment":
		t.Action = p.Action
		t.Comment = p.comment()
	}
	if p.Repository != nil {
		t.Repository, t.Private = p.Repository.FullName, p.Repository.Private
	}
	if p.Sender != nil {
		t.Sender = p.Sender.Login
	}
	return t, nil
}

// dispatchInputs flattens workflow_dispatch inputs to strings, the way
// workflows see them in ${{ inputs.* }}: booleans and numbers keep their JSON
// spelling, null becomes "".
func dispatchInputs(raw map[string]json.RawMessage) (map[string]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		var s string
		if err := json.Unmarshal(v, &s); err == nil {
			out[k] = s
			continue
		}
		switch t := string(bytes.TrimSpace(v)); {
		case t == "null":
			out[k] = ""
		case t == "true" || t == "false":
			out[k] = t
		default:
			var n json.Number
			if err := json.Unmarshal(v, &n); err != nil {
				return nil, fmt.Errorf("workflow_dispatch input %q is not a string, boolean or number", k)
			}
			out[k] = n.String()
		}
	}
	return out, nil
}

// webhook holds the union of the webhook fields read above; pointers tell a
// missing or null object from an empty one.
type webhook struct {
	Action      string                     `json:"action"`
	Number      int                        `json:"number"`
	PullRequest *prPayload                 `json:"pull_request"`
	Label       *labelPayload              `json:"label"`
	Ref         string                     `json:"ref"`
	After       string                     `json:"after"`
	Deleted     bool                       `json:"deleted"`
	Inputs      map[string]json.RawMessage `json:"inputs"`
	Repository  *repoPayload               `json:"repository"`
	Sender      *userPayload               `json:"sender"`
	Issue       *issuePayload              `json:"issue"`
	CommentBody *commentPayload            `json:"comment"`
}

// issuePayload is the issue of an issue_comment event. pull_request is an object (its URLs and
// merged_at) when the issue is a pull request, absent otherwise; it carries no head commit.
type issuePayload struct {
	Number      int             `json:"number"`
	PullRequest json.RawMessage `json:"pull_request"`
}

type commentPayload struct {
	Body string       `json:"body"`
	User *userPayload `json:"user"`
}

// comment reads the issue_comment fields; nil when the payload names no issue (the plan skips
// such a run with a notice).
func (p *webhook) comment() *Comment {
	if p.Issue == nil || p.Issue.Number <= 0 {
		return nil
	}
	c := &Comment{Issue: p.Issue.Number}
	raw := bytes.TrimSpace(p.Issue.PullRequest)
	c.OnPullRequest = len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
	if p.CommentBody != nil {
		c.Body = p.CommentBody.Body
		if p.CommentBody.User != nil {
			c.Author = p.CommentBody.User.Login
		}
	}
	return c
}

type prPayload struct {
	Number int            `json:"number"`
	Title  string         `json:"title"`
	Draft  bool           `json:"draft"`
	Merged bool           `json:"merged"`
	User   *userPayload   `json:"user"`
	Labels []labelPayload `json:"labels"`
	Head   branchPayload  `json:"head"`
	Base   branchPayload  `json:"base"`
}

type branchPayload struct {
	Ref  string       `json:"ref"`
	SHA  string       `json:"sha"`
	Repo *repoPayload `json:"repo"`
}

type repoPayload struct {
	FullName string `json:"full_name"`
	Private  bool   `json:"private"`
}

type userPayload struct {
	Login string `json:"login"`
}

type labelPayload struct {
	Name string `json:"name"`
}

func (p *prPayload) toPullRequest() PullRequest {
	pr := PullRequest{
		Number:  p.Number,
		HeadSHA: p.Head.SHA,
		HeadRef: p.Head.Ref,
		BaseRef: p.Base.Ref,
		Title:   p.Title,
		Merged:  p.Merged,
		Draft:   p.Draft,
	}
	if p.Head.Repo != nil {
		pr.HeadRepo = p.Head.Repo.FullName
	}
	if p.Base.Repo != nil {
		pr.BaseRepo = p.Base.Repo.FullName
	}
	if p.User != nil {
		pr.Author = p.User.Login
	}
	for _, l := range p.Labels {
		pr.Labels = append(pr.Labels, l.Name)
	}
	return pr
}
