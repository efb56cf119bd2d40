package secrets

import (
	"sort"
	"strings"
)

// MaskLines returns what to ::add-mask:: for one decrypted value. The runner
// reads a step's output line by line, ending a line at \n, \r\n or a bare \r,
// and matches a mask against single lines; it also splits ::add-mask:: data at
// \r and \n (actions/runner#1521, ActionCommandManager.cs). A value that
// spans lines is therefore only hidden if each of its pieces is masked too:
// the result is the value itself when it has no \r or \n, then each piece
// between \r and \n that is not blank, and also that piece trimmed of
// surrounding spaces when that differs (a line may be logged with other
// indentation). Blank results are never returned: a mask of spaces would hide
// every space in the log. Order is stable and duplicates are removed.
func MaskLines(value string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if strings.TrimSpace(s) == "" || seen[s] {
			return
		}
		seen[s] = true
		out = append(out, s)
	}
	if !strings.ContainsAny(value, "\r\n") {
		add(value)
		add(strings.TrimSpace(value))
		return out
	}
	for _, piece := range Pieces(value) {
		add(piece)
		add(strings.TrimSpace(piece))
	}
	return out
}

// Pieces splits s where the runner ends a log line: at every \r and \n.
// Empty pieces are dropped.
func Pieces(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' })
}

// Redactor replaces values in text by "***". It is what the action applies to
// every text it sends to GitHub itself (check runs, deployment statuses,
// comments, the job summary), which the runner does not mask.
type Redactor struct {
	values  []string // longest first
	longest int
}

// NewRedactor returns a Redactor for values; empty ones are ignored.
func NewRedactor(values []string) *Redactor {
	r := &Redactor{}
	for _, v := range values {
		if v != "" {
			r.values = append(r.values, v)
			r.longest = max(r.longest, len(v))
		}
	}
	sort.SliceStable(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
	return r
}

// Longest is the length in bytes of the longest value.
func (r *Redactor) Longest() int {
	if r == nil {
		return 0
	}
	return r.longest
}

// Redact replaces every occurrence of every value in s by "***". Occurrences
// that overlap or touch (a value containing another, two values sharing an
// end) are replaced as one, so that no part of either is left: replacing one
// value after the other would leave the end of the second where the first
// took its start.
func (r *Redactor) Redact(s string) string {
	spans := r.spans(s)
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	at := 0
	for _, sp := range spans {
		b.WriteString(s[at:sp[0]])
		b.WriteString("***")
		at = sp[1]
	}
	b.WriteString(s[at:])
	return b.String()
}

// SafePrefix is how much of s, a stream's text so far, can be redacted now:
// a value that begins at or after the returned offset may still be completed
// by what is written next, and none that begins before it goes past it.
func (r *Redactor) SafePrefix(s string) int {
	cut := len(s) - r.Longest() + 1
	if r.Longest() == 0 {
		cut = len(s)
	}
	if cut <= 0 {
		return 0
	}
	for _, sp := range r.spans(s) {
		if sp[0] < cut && cut < sp[1] {
			cut = sp[0]
		}
	}
	return cut
}

// spans are the byte ranges of s covered by a value, merged and in order.
func (r *Redactor) spans(s string) [][2]int {
	if r == nil || len(r.values) == 0 || s == "" {
		return nil
	}
	var spans [][2]int
	for _, v := range r.values {
		for from := 0; from < len(s); {
			i := strings.Index(s[from:], v)
			if i < 0 {
				break
			}
			start := from + i
			spans = append(spans, [2]int{start, start + len(v)})
			from = start + 1 // overlapping occurrences too
		}
	}
	if len(spans) == 0 {
		return nil
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	merged := spans[:1]
	for _, sp := range spans[1:] {
		last := &merged[len(merged)-1]
		if sp[0] <= last[1] {
			last[1] = max(last[1], sp[1])
			continue
		}
		merged = append(merged, sp)
	}
	return merged
}
