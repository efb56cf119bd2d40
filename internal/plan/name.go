package plan

import (
	"fmt"
	"regexp"
	"strings"
)

// Placeholders that deployment name templates may use.
var placeholders = map[string]bool{"pr": true, "user": true, "branch": true}

// validName is what a deployment name must look like: it names a secrets file
// and often a Heroku app, and it must survive as a DNS label.
var validName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Name expands a deployment name template such as "pforge-pr-{pr}" with vars
// ({pr}, {user}, {branch}). Every value is lower-cased and each character
// other than a-z and 0-9 becomes "-", so a branch "feature/New_UI" reads
// "feature-new-ui". The result must be 1 to 63 lower-case letters, digits and
// dashes, neither starting nor ending with a dash.
func Name(template string, vars map[string]string) (string, error) {
	var b strings.Builder
	rest := template
	for {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			b.WriteString(rest)
			break
		}
		if rest[open] == '}' {
			return "", fmt.Errorf("deployment name template %q has a } without {: use placeholders {pr}, {user} or {branch}", template)
		}
		b.WriteString(rest[:open])
		end := strings.IndexAny(rest[open+1:], "{}")
		if end < 0 || rest[open+1+end] != '}' {
			return "", fmt.Errorf("deployment name template %q has an unclosed {: use placeholders {pr}, {user} or {branch}", template)
		}
		key := rest[open+1 : open+1+end]
		if !placeholders[key] {
			return "", fmt.Errorf("deployment name template %q uses the unknown placeholder {%s}: use {pr}, {user} or {branch}", template, key)
		}
		v, ok := vars[key]
		if !ok || v == "" {
			return "", fmt.Errorf("deployment name template %q uses {%s}, which this run has no value for (%s)", template, key, why[key])
		}
		b.WriteString(sanitize(v))
		rest = rest[open+1+end+1:]
	}
	name := b.String()
	if !validName.MatchString(name) {
		return "", fmt.Errorf("deployment name template %q gives %q: a deployment name must be 1 to 63 lower-case letters, digits and dashes, not starting or ending with a dash", template, name)
	}
	return name, nil
}

// why explains, for each placeholder, which runs have a value for it.
var why = map[string]string{
	"pr":     "only pull request runs have a PR number",
	"user":   "no sender in the event and no GITHUB_ACTOR",
	"branch": "no branch in the event and no GITHUB_REF branch",
}

func sanitize(v string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, v)
}
