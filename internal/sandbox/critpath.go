package sandbox

import (
	"slices"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
)

// Call is one request as a test server logged it: from its arrival to its answer (for an output
// stream, to the stream's end).
type Call struct {
	What               string // "heroku GET /apps/…", "github POST /repos/…"
	Received, Answered time.Time
}

// CriticalPath is the longest chain of round trips in a row that a run waited for, read from the
// servers' request logs (docs/performance.md, section 1):
//
//   - a request is waited for unless at least half of it passed while Heroku worked (a build, a
//     release phase, a review app being made, a promotion: the test server's timers), as the
//     output streams and polls made during a build do;
//   - a chain is a sequence of waited requests each received after the previous one was answered:
//     requests whose intervals overlap are one step, and never two steps of a chain;
//   - Before counts the longest chain among requests received before Heroku's first work started
//     (the build, the review app, the promotion is created by the chain's last request), After
//     among those received after its last work ended, Total among all of them.
type CriticalPath struct {
	Before, After, Total int
	Chain                []Call // the longest chain (Total's), in order
}

// Critical computes the critical path of calls against Heroku's work spans.
func Critical(calls []Call, work []herokuapi.Span) CriticalPath {
	waited := slices.DeleteFunc(slices.Clone(calls), func(c Call) bool {
		d := c.Answered.Sub(c.Received)
		return d > 0 && 2*covered(c, work) >= d
	})
	var cp CriticalPath
	cp.Chain = longestChain(waited)
	cp.Total = len(cp.Chain)
	if len(work) == 0 {
		cp.Before = cp.Total
		return cp
	}
	first, last := work[0].Start, work[0].End
	for _, w := range work {
		if w.Start.Before(first) {
			first = w.Start
		}
		if w.End.After(last) {
			last = w.End
		}
	}
	cp.Before = len(longestChain(slices.DeleteFunc(slices.Clone(waited), func(c Call) bool { return !c.Received.Before(first) })))
	cp.After = len(longestChain(slices.DeleteFunc(slices.Clone(waited), func(c Call) bool { return c.Received.Before(last) })))
	return cp
}

// covered is how much of c passed inside the union of the work spans.
func covered(c Call, work []herokuapi.Span) time.Duration {
	spans := slices.Clone(work)
	slices.SortFunc(spans, func(a, b herokuapi.Span) int { return a.Start.Compare(b.Start) })
	var total time.Duration
	cursor := c.Received
	for _, w := range spans {
		start, end := w.Start, w.End
		if start.Before(cursor) {
			start = cursor
		}
		if end.After(c.Answered) {
			end = c.Answered
		}
		if end.After(start) {
			total += end.Sub(start)
			cursor = end
		}
	}
	return total
}

// longestChain is the longest sequence of calls each received at or after the previous one's
// answer (by answer time, a longest path in an interval order).
func longestChain(calls []Call) []Call {
	slices.SortFunc(calls, func(a, b Call) int { return a.Answered.Compare(b.Answered) })
	length := make([]int, len(calls))
	prev := make([]int, len(calls))
	best := -1
	for i, c := range calls {
		length[i], prev[i] = 1, -1
		for j := range i {
			if !c.Received.Before(calls[j].Answered) && length[j]+1 > length[i] {
				length[i], prev[i] = length[j]+1, j
			}
		}
		if best < 0 || length[i] > length[best] {
			best = i
		}
	}
	var chain []Call
	for i := best; i >= 0; i = prev[i] {
		chain = append(chain, calls[i])
	}
	slices.Reverse(chain)
	return chain
}
