// Package report is the action's voice: the workflow log (with masks, groups and annotations), the
// step outputs and the job summary. Outside GitHub Actions (the local and check-secrets commands, a
// developer's terminal) it prints plain lines and never a workflow command: an ::add-mask:: line on a
// terminal would print the very secret it is meant to hide.
package report

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/sethvargo/go-githubactions"
)

// Workflow writes to the workflow log and the step's file commands.
type Workflow struct {
	mu        sync.Mutex
	action    *githubactions.Action
	out       io.Writer
	getenv    func(string) string
	inActions bool
	masked    map[string]bool
	// stopToken is the token of the open ::stop-commands:: span around streamed output, "" when
	// the runner processes commands; midLine says the stream's last byte did not end a line.
	stopToken string
	midLine   bool
}

// New returns a Workflow writing the log to out. getenv supplies GITHUB_ACTIONS, GITHUB_OUTPUT and
// GITHUB_STEP_SUMMARY.
func New(out io.Writer, getenv func(string) string) *Workflow {
	return &Workflow{
		action:    githubactions.New(githubactions.WithWriter(out), githubactions.WithGetenv(getenv)),
		out:       out,
		getenv:    getenv,
		inActions: getenv("GITHUB_ACTIONS") == "true",
		masked:    map[string]bool{},
	}
}

// InActions reports whether the process runs as a GitHub Actions step.
func (w *Workflow) InActions() bool { return w.inActions }

// Mask asks the runner to hide each of the given strings in the log. Outside Actions it prints
// nothing at all.
func (w *Workflow) Mask(values ...string) {
	if !w.inActions {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.resume()
	for _, v := range values {
		if v == "" || w.masked[v] {
			continue
		}
		w.masked[v] = true
		w.action.AddMask(v)
	}
}

// Infof prints a plain log line.
func (w *Workflow) Infof(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.resume()
	fmt.Fprintf(w.out, format+"\n", args...)
}

// Noticef prints a notice annotation (a plain "notice:" line outside Actions).
func (w *Workflow) Noticef(format string, args ...any) { w.annotate("notice", format, args...) }

// Warningf prints a warning annotation.
func (w *Workflow) Warningf(format string, args ...any) { w.annotate("warning", format, args...) }

// Errorf prints an error annotation.
func (w *Workflow) Errorf(format string, args ...any) { w.annotate("error", format, args...) }

func (w *Workflow) annotate(level, format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.resume()
	if !w.inActions {
		fmt.Fprintf(w.out, level+": "+format+"\n", args...)
		return
	}
	switch level {
	case "notice":
		w.action.Noticef(format, args...)
	case "warning":
		w.action.Warningf(format, args...)
	default:
		w.action.Errorf(format, args...)
	}
}

// Group starts a collapsible section of the log; the returned func ends it.
func (w *Workflow) Group(title string) func() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.resume()
	if !w.inActions {
		fmt.Fprintf(w.out, "--- %s\n", title)
		return func() {}
	}
	w.action.Group(title)
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.resume()
		w.action.EndGroup()
	}
}

// Writer is the log as an io.Writer for the action's own lines, workflow commands included (the
// check-secrets annotations). Output the action did not write goes to Stream.
func (w *Workflow) Writer() io.Writer { return lockedWriter{w} }

type lockedWriter struct{ w *Workflow }

func (l lockedWriter) Write(p []byte) (int, error) {
	l.w.mu.Lock()
	defer l.w.mu.Unlock()
	l.w.resume()
	return l.w.out.Write(p)
}

// Stream is the log as an io.Writer for output the action copies from elsewhere: Heroku's build,
// release, postdeploy and test output, which the pull request's own scripts print. The runner
// obeys a workflow command on any line of a step's output, so a script printing ::add-mask::,
// ::error file=...:: or ::endgroup:: would be obeyed. In Actions, streamed output is therefore
// written inside ::stop-commands::TOKEN ... ::TOKEN:: (GitHub's documented way to stop commands),
// with a fresh random TOKEN for each span, which the runner masks and the script cannot guess. The
// span opens at the first write and is closed, its resume line on a line of its own, before the
// action's own next line (a mask, an annotation, a group, from any goroutine): stopping, streaming
// and resuming are serialised under the log's lock, so the action's commands are never inside.
func (w *Workflow) Stream() io.Writer { return streamWriter{w} }

type streamWriter struct{ w *Workflow }

func (s streamWriter) Write(p []byte) (int, error) {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.inActions || len(p) == 0 {
		return w.out.Write(p)
	}
	if w.stopToken == "" {
		token, err := stopToken()
		if err != nil {
			return 0, err
		}
		if _, err := fmt.Fprintf(w.out, "::stop-commands::%s\n", token); err != nil {
			return 0, err
		}
		w.stopToken = token
	}
	n, err := w.out.Write(p)
	if n > 0 {
		last := p[n-1]
		w.midLine = last != '\n' && last != '\r'
	}
	return n, err
}

// EndStream closes an open ::stop-commands:: span; every method that writes the action's own
// lines does so first. Call it when streamed output ends the step.
func (w *Workflow) EndStream() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.resume()
}

// resume ends the open ::stop-commands:: span, if any: the resume token on a line of its own,
// even when the stream ended without a newline. The caller holds mu.
func (w *Workflow) resume() {
	if w.stopToken == "" {
		return
	}
	if w.midLine {
		_, _ = io.WriteString(w.out, "\n")
	}
	_, _ = fmt.Fprintf(w.out, "::%s::\n", w.stopToken)
	w.stopToken, w.midLine = "", false
}

// stopToken is a token no script can guess: 128 random bits. The runner masks tokens longer than
// 6 characters, so it never shows in the log either.
func stopToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making a stop-commands token: %w", err)
	}
	return "deploy-action-" + hex.EncodeToString(b), nil
}

// heredocDelimiter is the fixed delimiter go-githubactions puts around output values: a value holding
// it would end the value early and let the rest be read as further outputs.
const heredocDelimiter = "_GitHubActionsFileCommandDelimeter_"

// SetOutputs writes the step outputs in a stable order. Outside Actions (no GITHUB_OUTPUT) they are
// printed as plain lines instead.
func (w *Workflow) SetOutputs(outputs []Output) (err error) {
	for _, o := range outputs {
		if strings.Contains(o.Value, heredocDelimiter) || strings.Contains(o.Name, heredocDelimiter) {
			return fmt.Errorf("refusing to write output %q: its value contains the file-command delimiter", o.Name)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.resume()
	if w.getenv("GITHUB_OUTPUT") == "" {
		for _, o := range outputs {
			fmt.Fprintf(w.out, "output %s=%s\n", o.Name, o.Value)
		}
		return nil
	}
	defer recoverFileCommand("GITHUB_OUTPUT", &err)
	for _, o := range outputs {
		w.action.SetOutput(o.Name, o.Value)
	}
	return nil
}

// AddSummary appends markdown to the job summary; without GITHUB_STEP_SUMMARY it does nothing.
func (w *Workflow) AddSummary(markdown string) (err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.getenv("GITHUB_STEP_SUMMARY") == "" {
		return nil
	}
	defer recoverFileCommand("GITHUB_STEP_SUMMARY", &err)
	w.action.AddStepSummary(markdown)
	return nil
}

// recoverFileCommand turns go-githubactions' panic on an unwritable file command into an error.
func recoverFileCommand(name string, err *error) {
	if r := recover(); r != nil {
		cause, ok := r.(error)
		if !ok {
			cause = fmt.Errorf("%v", r)
		}
		*err = errors.Join(*err, fmt.Errorf("failed to write %s: %w", name, cause))
	}
}

// Output is one step output.
type Output struct{ Name, Value string }
