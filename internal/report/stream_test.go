package report_test

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/pangeo-forge/deploy-action/internal/report"
	"github.com/pangeo-forge/deploy-action/internal/sandbox"
)

func inActions(k string) string {
	if k == "GITHUB_ACTIONS" {
		return "true"
	}
	return ""
}

// TestStreamStopsCommands (docs/security.md, section 5): what a build script prints is written
// inside a ::stop-commands:: span, so the runner (sandbox.Shown, its model) obeys none of its
// workflow commands; the action's own mask and warning, issued while the stream is open and in the
// middle of one of its lines, close the span first and take effect; the resume token always starts
// a line of its own.
func TestStreamStopsCommands(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	w := report.New(&out, inActions)
	s := w.Stream()
	end := w.Group("Build")
	write := func(text string) {
		if _, err := s.Write([]byte(text)); err != nil {
			t.Fatal(err)
		}
	}
	write("::add-mask::Released\n::error file=app.py,line=1::pwned by the build\n::endgroup::\n")
	write("::stop-commands::evil\n  ::warning::indented\r##[error]old form\npartial line")
	w.Mask("s3cr3t-value")                 // from the deploy flow
	w.Warningf("the action's own warning") // as the reporter's worker would, mid-line
	write("::evil::\n::add-mask::more\necho s3cr3t-value\n")
	write("no newline at the end")
	end()
	w.Infof("Released v3, more to come")
	raw := out.String()
	shown := sandbox.Shown(raw)

	for _, want := range []string{
		"::add-mask::Released", "::error file=app.py,line=1::pwned by the build", "::endgroup::",
		"::stop-commands::evil", "  ::warning::indented", "##[error]old form", "::evil::", "::add-mask::more",
		"Warning: the action's own warning", "echo ***", "Released v3, more to come", "no newline at the end",
	} {
		if !strings.Contains(shown, want) {
			t.Errorf("the runner's log lacks %q:\n%s", want, shown)
		}
	}
	for _, bad := range []string{"Error: pwned", "Warning: indented", "Error: old form", "s3cr3t-value", "*** v3", "*** to come"} {
		if strings.Contains(shown, bad) {
			t.Errorf("the runner's log shows %q: a command from the stream was obeyed or the action's mask was not:\n%s", bad, shown)
		}
	}
	// The action's own commands are never inside a span, and every span is closed on a line of
	// its own.
	spans := regexp.MustCompile(`(?m)^::stop-commands::(deploy-action-[0-9a-f]{32})$`).FindAllStringSubmatch(raw, -1)
	if len(spans) != 2 {
		t.Fatalf("%d stop-commands spans, want 2 (the warning and the mask close the first):\n%s", len(spans), raw)
	}
	for _, sp := range spans {
		if !regexp.MustCompile(`(?m)^::` + sp[1] + `::$`).MatchString(raw) {
			t.Errorf("span %s is not resumed on a line of its own:\n%s", sp[1], raw)
		}
	}
	if spans[0][1] == spans[1][1] {
		t.Error("two spans share a token")
	}
	if !strings.Contains(raw, "partial line\n::"+spans[0][1]+"::\n::add-mask::s3cr3t-value\n") {
		t.Errorf("the first span was not closed right before the action's mask:\n%s", raw)
	}
}

// TestStreamConcurrent: the action's own lines from other goroutines never land inside a span
// (run with -race).
func TestStreamConcurrent(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	w := report.New(&out, inActions)
	s := w.Stream()
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 200 {
			_, _ = s.Write([]byte("::error::from the stream\npart"))
		}
	})
	wg.Go(func() {
		for range 200 {
			w.Warningf("own")
		}
	})
	wg.Wait()
	w.EndStream()
	shown := sandbox.Shown(out.String())
	if got := strings.Count(shown, "Warning: own"); got != 200 {
		t.Errorf("%d of the action's 200 warnings were obeyed", got)
	}
	if strings.Contains(shown, "Error: from the stream") {
		t.Error("a command from the stream was obeyed")
	}
}
