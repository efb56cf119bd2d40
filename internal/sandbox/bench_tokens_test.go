package sandbox

import (
	"fmt"
	"strings"
	"testing"
)

// accountTokensPerHour is what one Heroku account sustains: its bucket refills at about 75 tokens a
// minute (Dev Center, Platform API reference, "Rate Limits").
const accountTokensPerHour = 75 * 60

// BenchmarkTokensPerStage: the rate-limit tokens each lifecycle stage takes from the account's
// bucket (every Platform API request but GET /account/rate-limits; output streams and the upload's
// signed URLs take none), polls included, with Heroku's default 1 s poll interval. The pull requests
// an hour one account supports with this action alone follow from a PR's life: opened, updated
// once, closed.
func BenchmarkTokensPerStage(b *testing.B) {
	var stages []stageFigures
	for b.Loop() {
		_, stages = runLifecycle(b, Options{})
	}
	tokens := map[string]int{}
	var tab strings.Builder
	fmt.Fprintf(&tab, "\n%-15s %7s %9s\n", "stage", "tokens", "requests")
	for _, s := range stages {
		n := 0
		for _, r := range s.requests {
			if r.Token {
				n++
			}
		}
		tokens[s.name] = n
		fmt.Fprintf(&tab, "%-15s %7d %9d\n", stageLabel[s.name], n, len(s.requests))
		b.ReportMetric(float64(n), strings.ReplaceAll(stageLabel[s.name], " ", "-")+"-tokens")
	}
	pr := tokens["pr-opened"] + tokens["pr-updated"] + tokens["pr-closed"]
	fmt.Fprintf(&tab, "a pull request's life (opened, one update, closed): %d tokens; one account's %d tokens an hour support about %d such pull requests an hour, or %d pushes to an open one\n",
		pr, accountTokensPerHour, accountTokensPerHour/max(pr, 1), accountTokensPerHour/max(tokens["pr-updated"], 1))
	b.ReportMetric(float64(accountTokensPerHour/max(pr, 1)), "PRs/hour")
	b.Log(tab.String())
	// Each stage's requests, so that what a token buys can be read off (docs/performance.md,
	// section 7). Printed rather than logged: the testing package cuts a benchmark's log.
	var list strings.Builder
	for _, s := range stages {
		fmt.Fprintf(&list, "\n  %s:", stageLabel[s.name])
		for _, r := range s.requests {
			path, _, _ := strings.Cut(r.Path, "?")
			mark := "token"
			if !r.Token {
				mark = "free"
			}
			fmt.Fprintf(&list, "\n    %-5s %-6s %s", mark, r.Method, path)
		}
	}
	fmt.Printf("BenchmarkTokensPerStage: each stage's Heroku requests:%s\n", list.String())
}
