package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/pangeo-forge/deploy-action/internal/secrets"
	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest"
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

// writeStagingSecrets replaces the workspace's staging secrets file by doc, encrypted for the demo
// age key with the given sops rules.
func writeStagingSecrets(t *testing.T, w *World, doc string, opts sopstest.Options) {
	t.Helper()
	ids, err := age.ParseIdentities(strings.NewReader(w.AgeKey))
	if err != nil || len(ids) == 0 {
		t.Fatalf("the demo age key: %v", err)
	}
	id, ok := ids[0].(*age.X25519Identity)
	if !ok {
		t.Fatalf("the demo age key is a %T", ids[0])
	}
	opts.Age = []string{id.Recipient().String()}
	file := filepath.Join(w.Workspace, "secrets", "config.pangeo-forge-staging.yaml")
	if err := os.WriteFile(file, sopstest.EncryptYAML(t, []byte(doc), opts), 0o644); err != nil {
		t.Fatal(err)
	}
}

// addedMasks are the values a log asked the runner to mask.
func addedMasks(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if m, ok := strings.CutPrefix(line, "::add-mask::"); ok {
			out = append(out, m)
		}
	}
	return out
}

// TestMasksDoNotGarbleTheLog (docs/security.md, section 9): a value the secrets file keeps
// unencrypted (here by encrypted_regex) is public: it is not masked, so "true" is not starred in
// the log and the job output deployed=true, which the runner would drop if it held a masked value,
// holds none. An encrypted value shorter than min_mask_length is not masked in the log either, and
// the log says so by name; it is still scrubbed from the check run. min_mask_length: 0 masks it.
func TestMasksDoNotGarbleTheLog(t *testing.T) {
	t.Parallel()
	const webhook = "fake-webhook-secret-for-section-nine"
	for _, tt := range []struct {
		name      string
		minLength string
		pinMasked bool
	}{
		{"default min_mask_length", "", false},
		{"min_mask_length 0", "0", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			writeStagingSecrets(t, w,
				"github_app:\n  webhook_secret: "+webhook+"\norchestrator:\n  debug: \"true\"\n  pin: \"42\"\n",
				sopstest.Options{EncryptedRegex: "^(webhook_secret|pin)$"})
			w.Heroku.SetBuildOutput([]string{"settings: debug=true pin=42 webhook=" + webhook + "\n"})
			step := Lifecycle()[2]
			if tt.minLength != "" {
				step = withInputs(step, "min_mask_length", tt.minLength)
			}
			run, err := w.Run(context.Background(), step, nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.Code != 0 {
				t.Fatalf("exit %d:\n%s", run.Code, run.Log)
			}
			masks := addedMasks(run.Log)
			if !slices.Contains(masks, webhook) {
				t.Errorf("the webhook secret was not masked: masks %q", masks)
			}
			if slices.Contains(masks, "true") {
				t.Errorf("the unencrypted value true was masked: masks %q", masks)
			}
			if got := slices.Contains(masks, "42"); got != tt.pinMasked {
				t.Errorf("42 masked: %v, want %v", got, tt.pinMasked)
			}
			for name, value := range run.Outputs {
				if tt.pinMasked {
					break // a masked 42 may occur in any ID or URL: the garbling min_mask_length avoids
				}
				for _, m := range masks {
					if strings.Contains(value, m) {
						t.Errorf("output %s=%q holds a masked value: the runner would drop it", name, value)
					}
				}
			}
			if run.Outputs["deployed"] != "true" {
				t.Errorf("output deployed = %q", run.Outputs["deployed"])
			}
			shown := Shown(run.Log)
			wantLine := "settings: debug=true pin=42 webhook=***"
			wantNote := "Not masked in the log: ORCHESTRATOR_DEBUG (stored unencrypted in the secrets file), ORCHESTRATOR_PIN (shorter than min_mask_length 4)"
			if tt.pinMasked {
				wantLine = "settings: debug=true pin=*** webhook=***"
				wantNote = "Not masked in the log: ORCHESTRATOR_DEBUG (stored unencrypted in the secrets file)\n"
			}
			for _, want := range []string{wantLine, wantNote} {
				if !strings.Contains(shown, want) {
					t.Errorf("the log lacks %q:\n%s", want, shown)
				}
			}
			text := ""
			for _, cr := range w.GitHub.CheckRuns(Repository) {
				text += cr.Text
			}
			if !strings.Contains(text, "settings: debug=true pin=*** webhook=***") {
				t.Errorf("the check run's text is not scrubbed of the short secret (or stars the public value):\n%s", text)
			}
		})
	}
}
