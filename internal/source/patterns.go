package source

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// Patterns is a list of .gitignore-style patterns, the syntax of Heroku's .slugignore ("roughly the
// same as .gitignore, except that negated ! patterns are not supported", Dev Center, Slug Compiler)
// and of the include_untracked input:
//
//   - one pattern a line; blank lines and lines starting with # are skipped (\# for a literal #);
//   - a pattern with a slash at its start or in its middle is relative to the packed directory
//     (/tmp, docs/*.md); one without matches a name at any depth (*.psd, test);
//   - a trailing slash matches directories only (build/);
//   - *, ? and [...] do not match a slash; ** matches any number of directories (static/**/*.map);
//   - a pattern that matches a directory matches everything in it.
type Patterns struct {
	list []pattern
}

type pattern struct {
	glob    string // for doublestar.Match, against slash-separated paths
	dirOnly bool
}

// ParsePatterns reads patterns from text. Lines it cannot use (a negation, an invalid glob) are
// returned as problems, each naming the line, and left out.
func ParsePatterns(text string) (Patterns, []string) {
	var p Patterns
	var problems []string
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, " \t\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			problems = append(problems, fmt.Sprintf("line %d %q: negated patterns are not supported (Heroku's .slugignore has none either)", i+1, line))
			continue
		}
		line = strings.TrimPrefix(line, `\`) // \# and \! stand for the character itself
		pt := pattern{dirOnly: strings.HasSuffix(line, "/")}
		line = strings.TrimRight(line, "/")
		if line == "" {
			problems = append(problems, fmt.Sprintf("line %d: a pattern of slashes only matches nothing", i+1))
			continue
		}
		anchored := strings.Contains(line, "/")
		line = strings.TrimPrefix(line, "/")
		// Braces are alternatives in doublestar but plain characters in .gitignore.
		line = strings.NewReplacer("{", `\{`, "}", `\}`).Replace(line)
		if !anchored {
			line = "**/" + line
		}
		if !doublestar.ValidatePattern(line) {
			problems = append(problems, fmt.Sprintf("line %d %q: not a valid pattern (an unclosed [ or a trailing \\?)", i+1, strings.TrimSpace(strings.Split(text, "\n")[i])))
			continue
		}
		pt.glob = line
		p.list = append(p.list, pt)
	}
	return p, problems
}

// Equal reports whether two lists hold the same patterns (go-cmp compares configs with it).
func (p Patterns) Equal(o Patterns) bool { return slices.Equal(p.list, o.list) }

// Empty reports whether there is no pattern.
func (p Patterns) Empty() bool { return len(p.list) == 0 }

// Match reports whether the slash-separated path name, or a directory it is in, matches a
// pattern. isDir says whether name itself is a directory.
func (p Patterns) Match(name string, isDir bool) bool {
	if len(p.list) == 0 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' && p.matchOne(name[:i], true) {
			return true
		}
	}
	return p.matchOne(name, isDir)
}

func (p Patterns) matchOne(name string, isDir bool) bool {
	for _, pt := range p.list {
		if pt.dirOnly && !isDir {
			continue
		}
		if ok, _ := doublestar.Match(pt.glob, name); ok {
			return true
		}
	}
	return false
}
