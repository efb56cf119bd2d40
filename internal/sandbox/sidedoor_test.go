package sandbox

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pangeo-forge/deploy-action/internal/secrets"
)

// deploymentValues decrypts one demo deployment's secrets file.
func deploymentValues(t *testing.T, w *World, deployment string) map[string]string {
	t.Helper()
	vars, err := secrets.Load(context.Background(), filepath.Join(w.Root, "secrets"), deployment, secrets.Options{
		Getenv: func(k string) string {
			if k == "SOPS_AGE_KEY" {
				return w.AgeKey
			}
			return ""
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return vars
}

// sentToGitHub is every text the run sent where the runner does not mask: every request to GitHub
// (check runs with their text and annotations, deployment statuses, the comment) and the job summary.
func sentToGitHub(w *World, run *Run) []string {
	out := []string{run.Summary}
	for _, r := range w.GitHub.Requests() {
		out = append(out, r.Method+" "+r.Path+"\n"+string(r.Body))
	}
	return out
}

// pieceLeaks says where any 8 consecutive bytes of value occur in texts, less the windows that
// occur in public: public names the run prints anyway (a demo value ends with its deployment's name).
func pieceLeaks(value string, public []string, texts []string) []string {
	var out []string
	for i := 0; i+8 <= len(value); i++ {
		window := value[i : i+8]
		if strings.Contains(strings.Join(public, "\n"), window) {
			continue
		}
		for _, text := range texts {
			if j := strings.Index(text, window); j >= 0 {
				out = append(out, fmt.Sprintf("bytes %d-%d of a secret (%q) were sent: ...%s...", i, i+8, window, text[max(0, j-60):min(len(text), j+60)]))
				break
			}
		}
	}
	return out
}

// TestBuildOutputScrubbedBeforeCut (docs/security.md, section 1): the staging build prints a
// secret over and over around the point where the 48 KiB tail kept for the check run is cut. The
// tail is scrubbed before it is cut, so no piece of the value (the end a cut would leave) reaches
// the check run's text or annotations, the deployment statuses or the job summary. The shifts move
// the occurrences against the cut, so that a cut made before scrubbing leaves a long enough end in
// at least one of them.
func TestBuildOutputScrubbedBeforeCut(t *testing.T) {
	t.Parallel()
	for shift := 0; shift < 41; shift += 7 {
		t.Run(fmt.Sprintf("shift %d", shift), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			value := deploymentValues(t, w, "pangeo-forge-staging")["GITHUB_APP_WEBHOOK_SECRET"]
			if len(value) < 32 || strings.ContainsAny(value, "\r\n") {
				t.Fatalf("the demo webhook secret is not a long single line: %d bytes", len(value))
			}
			filler := func(n int) string {
				var b strings.Builder
				for i := 0; b.Len() < n; i++ {
					fmt.Fprintf(&b, "       compiling module %05d: ok\n", i)
				}
				return b.String()
			}
			var region strings.Builder
			for region.Len() < 4<<10 {
				region.WriteString(value + "\n")
			}
			// A build script that prints the secret (say, a misguided debug line); the total length
			// stays the same whatever the shift, so the cut stays where it is.
			w.Heroku.SetBuildOutput([]string{
				filler(4 << 10),
				strings.Repeat("#", shift) + "\n",
				region.String(),
				strings.Repeat("#", 41-shift) + "\n",
				filler(46 << 10),
			})
			run, err := w.Run(context.Background(), Lifecycle()[2], nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.Code != 0 {
				t.Fatalf("exit %d:\n%s", run.Code, run.Log)
			}
			text := ""
			for _, cr := range w.GitHub.CheckRuns(Repository) {
				text += cr.Text
			}
			if !strings.Contains(text, "compiling module") || !strings.Contains(text, "***") {
				t.Fatalf("the check run's text is not the scrubbed build output:\n%.2000s", text)
			}
			public := []string{"pangeo-forge-staging", StagingApp}
			for _, leak := range pieceLeaks(value, public, sentToGitHub(w, run)) {
				t.Error(leak)
			}
			for _, leak := range pieceLeaks(value, public, []string{Shown(run.Log)}) {
				t.Error("in the log: " + leak)
			}
		})
	}
}

// TestBuildScriptCannotCommandTheRunner (docs/security.md, section 5): the pull request's build
// script prints workflow commands; the runner (Shown, its model) obeys none of them. Its
// ::add-mask:: does not garble the action's later lines, its ::error:: makes no annotation, its
// ::endgroup:: does not close the build's group, and its own ::stop-commands:: does not silence the
// action's later commands; the secrets the action masked before the build stay masked in its output.
func TestBuildScriptCannotCommandTheRunner(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	secret := deploymentValues(t, w, "pangeo-forge-staging")["FASTAPI_PANGEO_FORGE_API_KEY"]
	w.Heroku.SetBuildOutput([]string{
		"::add-mask::Released\n",
		"::error file=app.py,line=1,title=pwned::the build says the deploy failed\n",
		"::endgroup::\n",
		"  ::set-output name=app::the-build-chose-this\n",
		"echo " + secret + "\n",
		"::stop-commands::from-the-build\n",
	})
	run, err := w.Run(context.Background(), Lifecycle()[2], nil)
	if err != nil {
		t.Fatal(err)
	}
	if run.Code != 0 {
		t.Fatalf("exit %d:\n%s", run.Code, run.Log)
	}
	shown := Shown(run.Log)
	for _, want := range []string{
		"::add-mask::Released", "::error file=app.py,line=1,title=pwned::the build says the deploy failed",
		"::endgroup::", "::set-output name=app::the-build-chose-this", "echo ***", "::stop-commands::from-the-build",
		"Released v",
	} {
		if !strings.Contains(shown, want) {
			t.Errorf("the runner's log lacks %q:\n%s", want, shown)
		}
	}
	if strings.Contains(shown, "Error: the build says") || strings.Contains(shown, secret) {
		t.Errorf("the runner obeyed the build's commands or showed the secret:\n%s", shown)
	}
	// The action's own commands after the build (its release group, its notices) were obeyed: the
	// build's ::stop-commands:: did not silence them.
	if !strings.Contains(shown, "▶ Release on "+StagingApp) {
		t.Errorf("the action's own commands after the build were not obeyed:\n%s", shown)
	}
}
