// Package markdown holds the few GitHub-flavoured Markdown helpers that the job summary and the
// check run share, so that both render values the same way.
package markdown

import "fmt"

// Code is s as inline code, or "" when s is empty (an empty table cell, not an empty code span).
func Code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}

// Link is text linked to url; text alone without a url, "" without text.
func Link(text, url string) string {
	switch {
	case text == "":
		return ""
	case url == "":
		return text
	}
	return fmt.Sprintf("[%s](%s)", text, url)
}
