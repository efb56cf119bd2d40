package secrets

import "strings"

// MaskLines returns what to ::add-mask:: for one decrypted value. The runner
// matches a mask against single log lines, so a multi-line value (a PEM key)
// is only hidden if each of its lines is masked too: the result is the value
// itself when it has no newline, then each line that is not blank, without its
// trailing \r, and also trimmed of surrounding spaces when that differs (a line
// may be logged with other indentation). Blank results are never returned: a
// mask of spaces would hide every space in the log. Order is stable and
// duplicates are removed.
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
	if !strings.Contains(value, "\n") {
		add(value)
		add(strings.TrimSpace(value))
		return out
	}
	for _, line := range strings.Split(value, "\n") {
		line = strings.TrimSuffix(line, "\r")
		add(line)
		add(strings.TrimSpace(line))
	}
	return out
}
