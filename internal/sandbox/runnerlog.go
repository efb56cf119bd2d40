package sandbox

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"unicode"

	"github.com/pangeo-forge/deploy-action/internal/secrets"
)

// RunnerLog shows a step's output the way the Actions runner shows it in the web log. It follows
// the runner's source (actions/runner: Runner.Sdk/ProcessInvoker.cs, Runner.Worker/Handlers/
// OutputManager.cs, Runner.Worker/ActionCommandManager.cs, Runner.Common/ActionCommand.cs):
//
//   - output is read line by line with .NET's StreamReader.ReadLine, so a line ends at \n, \r\n or
//     a bare \r, and a last line without an end is still a line;
//   - a line is a workflow command when, less its leading spaces, it starts with ::name ...:: or
//     when it holds ##[name ...] anywhere, and name (any case) is a command the runner registers;
//     other lines, ::unknown:: ones included, are shown as they are;
//   - ::add-mask:: data is unescaped and masked whole and as each piece between \r and \n, trimmed;
//     every line shown has every mask replaced by ***, overlapping matches as one;
//   - ::stop-commands::TOKEN stops all command processing until the line ::TOKEN:: (the runner
//     masks a token longer than 6 characters and echoes both lines); while stopped, command lines
//     are shown as plain text, masked;
//   - groups become "▶ title" lines, annotations "Error: ", "Warning: ", "Notice: " lines, and the
//     other commands are consumed.
//
// Write the whole output, then call Flush for a last line without an end.
type RunnerLog struct {
	mu        sync.Mutex
	out       io.Writer
	pending   []byte
	skipLF    bool // the last line ended with a \r that was the last byte read: a \n next is its end
	masks     []string
	redactor  *secrets.Redactor
	stopToken string
}

// NewRunnerLog returns a RunnerLog writing to out.
func NewRunnerLog(out io.Writer) *RunnerLog { return &RunnerLog{out: out} }

// Shown is what the runner's web log shows of a step's whole output.
func Shown(output string) string {
	var b strings.Builder
	l := NewRunnerLog(&b)
	_, _ = l.Write([]byte(output))
	_ = l.Flush()
	return b.String()
}

// Write implements io.Writer.
func (l *RunnerLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = append(l.pending, p...)
	for {
		if l.skipLF && len(l.pending) > 0 {
			if l.pending[0] == '\n' {
				l.pending = l.pending[1:]
			}
			l.skipLF = false
		}
		i := bytes.IndexAny(l.pending, "\r\n")
		if i < 0 {
			return len(p), nil
		}
		line := string(l.pending[:i])
		end := i + 1
		if l.pending[i] == '\r' {
			switch {
			case end == len(l.pending):
				l.skipLF = true // ReadLine would wait to see whether a \n follows
			case l.pending[end] == '\n':
				end++
			}
		}
		l.pending = l.pending[end:]
		if err := l.line(line); err != nil {
			return len(p), err
		}
	}
}

// Flush shows the last line when the output ended without a line end.
func (l *RunnerLog) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) == 0 {
		return nil
	}
	line := string(l.pending)
	l.pending = nil
	return l.line(line)
}

// registered are the commands the runner's ActionCommandManager registers (its command extensions
// and stop-commands); a resume token is added while commands are stopped.
var registered = map[string]bool{
	"stop-commands": true, "set-env": true, "set-output": true, "save-state": true, "add-mask": true,
	"add-path": true, "add-matcher": true, "remove-matcher": true, "debug": true, "warning": true,
	"error": true, "notice": true, "group": true, "endgroup": true, "echo": true,
}

var commandLabels = map[string]string{"error": "Error: ", "warning": "Warning: ", "notice": "Notice: "}

func (l *RunnerLog) line(line string) error {
	name, data, ok := l.parse(line)
	if !ok {
		return l.show(line)
	}
	if l.stopToken != "" {
		if name == strings.ToLower(l.stopToken) {
			l.stopToken = ""
		}
		return l.show(line) // the resume line is echoed; anything else is plain text
	}
	switch name {
	case "stop-commands":
		if data == "" || registered[strings.ToLower(data)] || strings.EqualFold(data, "pause-logging") {
			return l.show("Error: Unable to process command '" + line + "' successfully.")
		}
		l.stopToken = data
		if len(data) > 6 {
			l.addMask(data)
		}
		return l.show(line)
	case "add-mask":
		if strings.TrimSpace(data) != "" {
			l.addMask(data)
			for _, piece := range secrets.Pieces(data) {
				if piece = strings.TrimSpace(piece); piece != "" {
					l.addMask(piece)
				}
			}
		}
		return nil
	case "group":
		return l.show("▶ " + data)
	case "error", "warning", "notice":
		return l.show(commandLabels[name] + data)
	}
	return nil
}

func (l *RunnerLog) addMask(m string) {
	l.masks = append(l.masks, m)
	l.redactor = secrets.NewRedactor(l.masks)
}

func (l *RunnerLog) show(line string) error {
	_, err := io.WriteString(l.out, l.redactor.Redact(line)+"\n")
	return err
}

// parse reads a workflow command from a line as the runner does (ActionCommand.TryParseV2, then
// TryParse): the lower-cased name and the unescaped data.
func (l *RunnerLog) parse(line string) (name, data string, ok bool) {
	known := func(n string) bool {
		n = strings.ToLower(n)
		return registered[n] || (l.stopToken != "" && n == strings.ToLower(l.stopToken))
	}
	if msg := strings.TrimLeftFunc(line, unicode.IsSpace); strings.HasPrefix(msg, "::") {
		if end := strings.Index(msg[2:], "::"); end >= 0 {
			info := msg[2 : 2+end]
			n, _, _ := strings.Cut(info, " ")
			if known(n) {
				return strings.ToLower(n), unescape(msg[2+end+2:], "%0D", "\r", "%0A", "\n", "%25", "%"), true
			}
		}
	}
	if i := strings.Index(line, "##["); i >= 0 {
		if rb := strings.IndexByte(line[i:], ']'); rb >= 0 {
			info := line[i+3 : i+rb]
			n, _, _ := strings.Cut(info, " ")
			if known(n) {
				return strings.ToLower(n), unescape(line[i+rb+1:], "%3B", ";", "%0D", "\r", "%0A", "\n", "%5D", "]", "%25", "%"), true
			}
		}
	}
	return "", "", false
}

// unescape applies the runner's replacements in its order.
func unescape(s string, pairs ...string) string {
	for i := 0; i < len(pairs); i += 2 {
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}
