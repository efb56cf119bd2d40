package sandbox

import (
	"context"
	"strings"
	"testing"
)

// private marks a step's payload as a private repository's (repository.private).
func private(s Step) Step {
	p := map[string]any{}
	for k, v := range s.Payload {
		p[k] = v
	}
	repo := map[string]any{}
	for k, v := range p["repository"].(map[string]any) {
		repo[k] = v
	}
	repo["private"] = true
	p["repository"] = repo
	s.Payload = p
	return s
}

// TestNoGitHubToken: with github_token empty, the run says at its start which of its steps read
// GitHub and that those reads go out without a token. On a public repository they work and the
// deploy goes through, reporting nothing to GitHub; on a private one (GitHub answers 404 without a
// token) the run stops before anything is written, exit 2, saying so.
func TestNoGitHubToken(t *testing.T) {
	t.Parallel()
	steps := Lifecycle()
	tests := []struct {
		name    string
		before  []Step
		step    Step
		private bool
		code    int
		want    []string // in the warning or the error
	}{
		{name: "staging, public repository", step: steps[2], code: 0,
			want: []string{"::warning::the github_token input is empty", "the stale-deploy guard reads the head of branch main", "works on a public repository only"}},
		{name: "staging, private repository", step: steps[2], private: true, code: 2,
			want: []string{"::error::the github_token input is empty", "a private repository refuses without a token (GitHub answers 404)", "the stale-deploy guard reads the head of branch main", "Nothing was changed"}},
		{name: "prod, private repository", before: steps[2:3], step: steps[3], private: true, code: 2,
			want: []string{"::error::the github_token input is empty", "the stale-deploy guard reads the head of branch prod", "prod compares the pushed commit's tree"}},
		{name: "review, private repository", step: steps[0], private: true, code: 2,
			want: []string{"::error::the github_token input is empty", "the copied-secrets check reads the staging and production secrets files"}},
		{name: "manual promotion, private repository: no read", before: steps[2:3], private: true, code: 0,
			step: Step{Event: "workflow_dispatch", Payload: map[string]any{"ref": "refs/heads/main", "inputs": map[string]any{}, "repository": repository()},
				Checkout: CommitMain, SHA: CommitMain, Ref: "refs/heads/main"},
			want: []string{"::warning::the github_token input is empty", "this run reads nothing from GitHub"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			ctx := context.Background()
			for _, s := range tt.before {
				mustRun(t, w, ctx, s)
			}
			if tt.private {
				w.GitHub.SetPrivate(Repository, true)
			}
			step := tt.step
			if tt.private {
				step = private(step)
			}
			inputs := []string{"github_token", ""}
			if step.Event == "workflow_dispatch" {
				inputs = append(inputs, "stage", "prod")
			}
			step = withInputs(step, inputs...)
			heroku, github := len(w.Heroku.Requests()), len(w.GitHub.Requests())
			run, err := w.Run(ctx, step, nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.Code != tt.code {
				t.Fatalf("exit code %d, want %d\n%s", run.Code, tt.code, run.Log)
			}
			for _, want := range tt.want {
				if !strings.Contains(run.Log, want) {
					t.Errorf("the log does not say %q:\n%s", want, run.Log)
				}
			}
			if tt.code == 2 {
				if got := writes(w.Heroku.Requests()[heroku:]); len(got) != 0 {
					t.Errorf("a refused run wrote to Heroku: %v", got)
				}
				if got := w.GitHub.Requests()[github:]; len(got) != 0 {
					t.Errorf("a refused run sent %d requests to GitHub, first %s %s", len(got), got[0].Method, got[0].Path)
				}
			}
			for _, r := range w.GitHub.Requests()[github:] {
				if r.Method != "GET" {
					t.Errorf("a run without a token wrote to GitHub: %s %s", r.Method, r.Path)
				}
			}
		})
	}
}
