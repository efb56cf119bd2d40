package sandbox

import (
	"bytes"
	"io"
	"sort"
	"strings"
	"sync"
)

// RunnerLog shows a step's output the way the Actions runner shows it in the web log: it consumes
// ::add-mask:: commands and replaces every masked string by ***, renders groups and annotations, and
// hides the other workflow commands. Lines are written out whole.
type RunnerLog struct {
	mu      sync.Mutex
	out     io.Writer
	pending []byte
	masks   []string
}

// NewRunnerLog returns a RunnerLog writing to out.
func NewRunnerLog(out io.Writer) *RunnerLog { return &RunnerLog{out: out} }

// Write implements io.Writer.
func (l *RunnerLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = append(l.pending, p...)
	for {
		i := bytes.IndexByte(l.pending, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(l.pending[:i])
		l.pending = l.pending[i+1:]
		if err := l.line(line); err != nil {
			return len(p), err
		}
	}
}

var commandLabels = map[string]string{"error": "Error: ", "warning": "Warning: ", "notice": "Notice: "}

func (l *RunnerLog) line(line string) error {
	line = strings.TrimSuffix(line, "\r")
	if cmd, rest, ok := strings.Cut(strings.TrimPrefix(line, "::"), "::"); ok && strings.HasPrefix(line, "::") {
		name, _, _ := strings.Cut(cmd, " ")
		message := unescapeData(rest)
		switch name {
		case "add-mask":
			if message != "" {
				l.masks = append(l.masks, message)
				sort.Slice(l.masks, func(i, j int) bool { return len(l.masks[i]) > len(l.masks[j]) })
			}
			return nil
		case "group":
			line = "▶ " + message
		case "endgroup":
			return nil
		case "error", "warning", "notice":
			line = commandLabels[name] + message
		default:
			return nil
		}
	}
	for _, m := range l.masks {
		line = strings.ReplaceAll(line, m, "***")
	}
	_, err := io.WriteString(l.out, line+"\n")
	return err
}

// unescapeData reverses the escaping of workflow command messages.
func unescapeData(s string) string {
	return strings.NewReplacer("%0D", "\r", "%0A", "\n", "%25", "%").Replace(s)
}
