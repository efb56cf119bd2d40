package event

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The testdata payloads are GitHub's own webhook examples (see
// testdata/README.md); these are the values they carry.
const (
	exampleSHA  = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
	exampleRepo = "Codertocat/Hello-World"
	exampleUser = "Codertocat"
	exampleTile = "Update the README with new information."
)

func examplePR(labels []string, draft bool) *PullRequest {
	return &PullRequest{
		Number:   2,
		HeadSHA:  exampleSHA,
		HeadRef:  "changes",
		BaseRef:  "master",
		HeadRepo: exampleRepo,
		BaseRepo: exampleRepo,
		Author:   exampleUser,
		Title:    exampleTile,
		Labels:   labels,
		Draft:    draft,
	}
}

func TestLoadExamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, name string
		want       Trigger
	}{
		{"pull_request.opened.json", "pull_request", Trigger{
			Name: "pull_request", Action: "opened", Repository: exampleRepo, Sender: exampleUser,
			PR: examplePR(nil, false),
		}},
		{"pull_request.synchronize.json", "pull_request", Trigger{
			Name: "pull_request", Action: "synchronize", Repository: exampleRepo, Sender: exampleUser,
			PR: examplePR([]string{"bug"}, false),
		}},
		{"pull_request.closed.json", "pull_request", Trigger{
			Name: "pull_request", Action: "closed", Repository: exampleRepo, Sender: exampleUser,
			PR: examplePR([]string{"bug"}, false),
		}},
		{"pull_request.labeled.json", "pull_request", Trigger{
			Name: "pull_request", Action: "labeled", Repository: exampleRepo, Sender: exampleUser,
			PR: examplePR([]string{"bug"}, false), Label: "bug",
		}},
		{"pull_request.unlabeled.json", "pull_request", Trigger{
			Name: "pull_request", Action: "unlabeled", Repository: exampleRepo, Sender: exampleUser,
			PR: examplePR([]string{"bug"}, false), Label: "bug",
		}},
		{"pull_request.ready_for_review.json", "pull_request", Trigger{
			Name: "pull_request", Action: "ready_for_review", Repository: exampleRepo, Sender: exampleUser,
			PR: examplePR([]string{"bug"}, false),
		}},
		{"pull_request.converted_to_draft.json", "pull_request", Trigger{
			Name: "pull_request", Action: "converted_to_draft", Repository: exampleRepo, Sender: exampleUser,
			PR: examplePR([]string{"bug"}, true),
		}},
		// pull_request_target carries the same payload as pull_request.
		{"pull_request.opened.json", "pull_request_target", Trigger{
			Name: "pull_request_target", Action: "opened", Repository: exampleRepo, Sender: exampleUser,
			PR: examplePR(nil, false),
		}},
		{"push.json", "push", Trigger{
			Name: "push", Repository: exampleRepo, Sender: exampleUser,
			Ref: "refs/heads/master", After: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
		}},
		{"push.tag-deleted.json", "push", Trigger{
			Name: "push", Repository: exampleRepo, Sender: exampleUser,
			Ref: "refs/tags/simple-tag", After: "0000000000000000000000000000000000000000", Deleted: true,
		}},
		{"workflow_dispatch.json", "workflow_dispatch", Trigger{
			Name: "workflow_dispatch", Repository: "octo-org/octo-repo", Private: true, Sender: exampleUser,
			Ref: "refs/heads/master",
		}},
		// Events the action does not decide on keep only their name and repository (whether it is
		// private decides whether the action may read GitHub without a token).
		{"push.json", "schedule", Trigger{Name: "schedule", Repository: exampleRepo}},
		{"pull_request.opened.json", "merge_group", Trigger{Name: "merge_group", Repository: exampleRepo}},
		// A comment on an issue (not a pull request): the plan skips it.
		{"issue_comment.created.json", "issue_comment", Trigger{
			Name: "issue_comment", Action: "created", Repository: exampleRepo, Sender: exampleUser,
			Comment: &Comment{Issue: 1, Body: "You are totally right! I'll get this fixed right away.", Author: exampleUser},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.file, func(t *testing.T) {
			t.Parallel()
			got, err := Load(tt.name, filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Load(%q, %q) mismatch (-want +got):\n%s", tt.name, tt.file, diff)
			}
		})
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc, name, payload string
		want                Trigger
	}{
		{
			desc: "fork pull request",
			name: "pull_request",
			payload: `{"action":"synchronize","number":7,"sender":{"login":"Outsider"},
				"repository":{"full_name":"pangeo-forge/orchestrator"},
				"pull_request":{"number":7,"title":"t","draft":true,"merged":false,"user":{"login":"Outsider"},
				"labels":[{"name":"a"},{"name":"b"}],
				"head":{"ref":"patch-1","sha":"abc","repo":{"full_name":"Outsider/orchestrator"}},
				"base":{"ref":"main","sha":"def","repo":{"full_name":"pangeo-forge/orchestrator"}}}}`,
			want: Trigger{
				Name: "pull_request", Action: "synchronize", Repository: "pangeo-forge/orchestrator", Sender: "Outsider",
				PR: &PullRequest{
					Number: 7, HeadSHA: "abc", HeadRef: "patch-1", BaseRef: "main",
					HeadRepo: "Outsider/orchestrator", BaseRepo: "pangeo-forge/orchestrator",
					Author: "Outsider", Title: "t", Labels: []string{"a", "b"}, Draft: true,
				},
			},
		},
		{
			desc: "deleted head repository",
			name: "pull_request",
			payload: `{"action":"closed","number":7,"pull_request":{"number":7,"merged":true,
				"head":{"ref":"patch-1","sha":"abc","repo":null},
				"base":{"ref":"main","sha":"def","repo":{"full_name":"o/r"}}}}`,
			want: Trigger{
				Name: "pull_request", Action: "closed",
				PR: &PullRequest{Number: 7, HeadSHA: "abc", HeadRef: "patch-1", BaseRef: "main", BaseRepo: "o/r", Merged: true},
			},
		},
		{
			desc:    "number only at the top level",
			name:    "pull_request",
			payload: `{"action":"opened","number":9,"pull_request":{"head":{"sha":"abc"}}}`,
			want:    Trigger{Name: "pull_request", Action: "opened", PR: &PullRequest{Number: 9, HeadSHA: "abc"}},
		},
		{
			desc:    "workflow_dispatch inputs of every JSON type",
			name:    "workflow_dispatch",
			payload: `{"ref":"refs/heads/prod","inputs":{"stage":"prod","force":true,"count":3,"ratio":1.5,"note":null}}`,
			want: Trigger{
				Name: "workflow_dispatch", Ref: "refs/heads/prod",
				Inputs: map[string]string{"stage": "prod", "force": "true", "count": "3", "ratio": "1.5", "note": ""},
			},
		},
		{
			desc:    "schedule",
			name:    "schedule",
			payload: `{"schedule":"0 3 * * *"}`,
			want:    Trigger{Name: "schedule"},
		},
		{
			desc:    "push deleting a branch",
			name:    "push",
			payload: `{"ref":"refs/heads/main","before":"abc","after":"0000000000000000000000000000000000000000","deleted":true,"sender":{"login":"u"}}`,
			want:    Trigger{Name: "push", Ref: "refs/heads/main", After: "0000000000000000000000000000000000000000", Deleted: true, Sender: "u"},
		},
		{
			// The shape of @octokit/openapi 23.0.2's x-webhooks issue-comment-created: the issue's
			// pull_request holds URLs and merged_at, no head commit. author_association is not read.
			desc: "comment on a pull request",
			name: "issue_comment",
			payload: `{"action":"created","issue":{"number":81,"title":"t","pull_request":{"url":"https://api.github.com/repos/o/r/pulls/81","merged_at":null}},
				"comment":{"body":"/deploy-review abc\n::error::x","author_association":"OWNER","user":{"login":"maintainer"}},
				"repository":{"full_name":"o/r","private":true},"sender":{"login":"maintainer"}}`,
			want: Trigger{
				Name: "issue_comment", Action: "created", Repository: "o/r", Private: true, Sender: "maintainer",
				Comment: &Comment{Issue: 81, OnPullRequest: true, Body: "/deploy-review abc\n::error::x", Author: "maintainer"},
			},
		},
		{
			desc:    "comment on an issue",
			name:    "issue_comment",
			payload: `{"action":"created","issue":{"number":3,"pull_request":null},"comment":{"body":"hi","user":{"login":"u"}}}`,
			want:    Trigger{Name: "issue_comment", Action: "created", Comment: &Comment{Issue: 3, Body: "hi", Author: "u"}},
		},
		{
			desc:    "issue_comment without an issue",
			name:    "issue_comment",
			payload: `{"action":"created"}`,
			want:    Trigger{Name: "issue_comment", Action: "created"},
		},
		{
			desc:    "unknown event with any JSON",
			name:    "merge_group",
			payload: `[1, 2]`,
			want:    Trigger{Name: "merge_group"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.name, []byte(tt.payload))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc, name, payload string
		want                []string // substrings of the error
	}{
		{"empty name", "", `{}`, []string{"GITHUB_EVENT_NAME must be set", "must run in GitHub Actions"}},
		{"empty payload", "push", "", []string{"push payload is empty", "must run in GitHub Actions"}},
		{"blank payload", "push", " \n\t", []string{"push payload is empty"}},
		{"malformed", "push", `{"ref":`, []string{"push payload is not valid webhook JSON", "GITHUB_EVENT_PATH"}},
		{"malformed unknown event", "schedule", `not json`, []string{"schedule payload is not valid webhook JSON"}},
		{"wrong type", "push", `{"deleted":"yes"}`, []string{"push payload is not valid webhook JSON"}},
		{"pull_request without object", "pull_request", `{"action":"opened","number":1}`, []string{"pull_request payload has no pull_request object"}},
		{"pull_request null object", "pull_request_target", `{"action":"opened","pull_request":null}`, []string{"pull_request_target payload has no pull_request object"}},
		{"pull_request without number", "pull_request", `{"action":"opened","pull_request":{"head":{"sha":"a"}}}`, []string{"no pull request number"}},
		{"dispatch input object", "workflow_dispatch", `{"inputs":{"x":{"a":1}}}`, []string{`workflow_dispatch input "x" is not a string, boolean or number`}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(tt.name, []byte(tt.payload))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.json")
	tests := []struct {
		desc, path string
		want       []string
		is         error
	}{
		{"unset", "", []string{"GITHUB_EVENT_PATH is not set", "must run in GitHub Actions"}, nil},
		{"missing", missing, []string{missing, "must run in GitHub Actions"}, fs.ErrNotExist},
		{"directory", dir, []string{dir, "must run in GitHub Actions"}, nil},
		{"empty", empty, []string{empty, "payload is empty", "must run in GitHub Actions"}, nil},
		{"malformed", bad, []string{bad, "not valid webhook JSON", "GITHUB_EVENT_PATH must point at"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			_, err := Load("push", tt.path)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
		})
	}
}

func TestFork(t *testing.T) {
	t.Parallel()
	tests := []struct {
		head, base string
		want       bool
	}{
		{"o/r", "o/r", false},
		{"O/R", "o/r", false},
		{"fork/r", "o/r", true},
		{"", "o/r", true},
		{"", "", true},
	}
	for _, tt := range tests {
		if got := (PullRequest{HeadRepo: tt.head, BaseRepo: tt.base}).Fork(); got != tt.want {
			t.Errorf("Fork() with head %q, base %q = %v, want %v", tt.head, tt.base, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"pull_request.opened.json", "push.json", "workflow_dispatch.json", "issue_comment.created.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.SplitN(name, ".", 2)[0], data)
	}
	f.Fuzz(func(t *testing.T, name string, payload []byte) {
		tr, err := Parse(name, payload)
		if err != nil {
			return
		}
		if tr.Name != name {
			t.Errorf("Name = %q, want %q", tr.Name, name)
		}
		isPR := name == "pull_request" || name == "pull_request_target"
		if isPR && (tr.PR == nil || tr.PR.Number <= 0) {
			t.Errorf("%s parsed without a numbered pull request: %+v", name, tr.PR)
		}
		if !isPR && tr.PR != nil {
			t.Errorf("%s parsed with a pull request", name)
		}
		if c := tr.Comment; c != nil && (name != "issue_comment" || c.Issue <= 0) {
			t.Errorf("%s parsed with a comment on issue %d", name, c.Issue)
		}
	})
}
