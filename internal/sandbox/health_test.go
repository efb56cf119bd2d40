package sandbox

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestHealthCheck: with health_path, a release counts only once the app answers 2xx; a production
// app that does not is rolled back to the release it ran before (unless rollback is off), and the
// run fails saying so.
func TestHealthCheck(t *testing.T) {
	t.Parallel()
	steps := Lifecycle()
	health := func(s Step, kv ...string) Step {
		return withInputs(s, append([]string{"health_path", "/health", "health_timeout", "300ms"}, kv...)...)
	}
	// A second push to main, then a manual promotion of it: prod ran the first promotion's code
	// before, so there is a release to roll back to.
	main2 := SHA("second-push-to-main")
	second := []Step{steps[2], steps[3], {
		Name: "main-2", Event: "push", Payload: PushEvent("refs/heads/main", CommitMain, main2),
		Checkout: main2, SHA: main2, Ref: "refs/heads/main",
	}}
	promote := Step{Event: "workflow_dispatch", Payload: map[string]any{"ref": "refs/heads/main", "inputs": map[string]any{}},
		Checkout: main2, SHA: main2, Ref: "refs/heads/main"}
	tests := []struct {
		name         string
		before       []Step
		step         Step
		prodAnswers  int
		code         int
		want         string // in the log
		wantRollback bool
	}{
		{name: "staging answers", step: health(steps[2]), prodAnswers: http.StatusOK, code: 0, want: "/health answered 200"},
		{name: "prod answers", before: steps[2:3], step: health(steps[3]), prodAnswers: http.StatusOK, code: 0, want: "/health answered 200"},
		{name: "prod fails and is rolled back", before: second, step: health(promote, "stage", "prod"), prodAnswers: http.StatusServiceUnavailable, code: 1, want: "again (rolled back as v", wantRollback: true},
		{name: "prod fails, rollback off", before: second, step: health(promote, "stage", "prod", "rollback", "false"), prodAnswers: http.StatusServiceUnavailable, code: 1, want: "503 Service Unavailable"},
		{name: "first prod release fails: nothing to roll back to", before: steps[2:3], step: health(steps[3]), prodAnswers: http.StatusServiceUnavailable, code: 1, want: "not rolled back: " + ProdApp + " ran no code before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.GitHub.AddCommit(Repository, main2, SHA("tree-of-second-push"), "Second push", CommitMain)
			ctx := context.Background()
			for _, s := range tt.before {
				if s.Name == "main-2" {
					w.GitHub.SetBranch(Repository, "main", main2)
				}
				mustRun(t, w, ctx, s)
			}
			var asked []string
			w.SetAppStatus(func(host, path string) int {
				asked = append(asked, host+path)
				if strings.HasPrefix(host, ProdApp+"-") {
					return tt.prodAnswers
				}
				return http.StatusOK
			})
			var prodCode string // the slug prod ran before the step
			for _, rel := range w.Heroku.Releases(ProdApp) {
				if rel.Current {
					prodCode = rel.SlugID
				}
			}
			before := len(w.Heroku.Requests())
			run, err := w.Run(ctx, tt.step, nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.Code != tt.code {
				t.Fatalf("exit code %d, want %d\n%s", run.Code, tt.code, run.Log)
			}
			if !strings.Contains(run.Log, tt.want) {
				t.Errorf("log does not say %q:\n%s", tt.want, run.Log)
			}
			if len(asked) == 0 || !strings.HasSuffix(asked[0], "/health") {
				t.Errorf("the app was asked %v, want GET /health", asked)
			}
			rollbacks := countRequests(w.Heroku.Requests()[before:], "POST", "/apps/*/releases")
			if got := rollbacks > 0; got != tt.wantRollback {
				t.Errorf("rollback requests: %d, want a rollback: %v", rollbacks, tt.wantRollback)
			}
			if tt.wantRollback {
				// The rollback restores the code prod ran before the promotion.
				after := w.Heroku.Releases(ProdApp)
				if last := after[len(after)-1]; prodCode == "" || last.SlugID != prodCode || last.Status != "succeeded" || !last.Current {
					t.Errorf("prod's last release runs slug %q (%s), want the slug it ran before, %q", last.SlugID, last.Description, prodCode)
				}
			}
			if tt.code != 0 && run.Outputs["deployed"] == "true" {
				t.Error("deployed=true after a failed health check")
			}
		})
	}
}
