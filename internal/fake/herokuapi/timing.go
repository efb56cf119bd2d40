package herokuapi

import (
	"slices"
	"time"
)

// Benchmarks subtract the server's simulated work (build, release phase, review-app and promotion
// timers) from a client's wall time to get the client's own overhead, and compare the moment a
// build or release finished with the moment the client heard of it. The server keeps both on the
// wall clock (time.Now), not on Options.Now, since its timers run on real time whatever Now says.

// workSpan is one timer of simulated work: armed at start, fired at end.
type workSpan struct{ start, end time.Time }

// Settlement is the moment a build, release, review app or promotion stopped being pending (or
// creating): Kind is "build", "release", "review-app" or "promotion"; Status what it ended as.
type Settlement struct {
	Kind, ID, Status string
	At               time.Time
}

// settle records a settlement. The caller holds the lock.
func (s *Server) settle(kind, id, status string) {
	s.settlements = append(s.settlements, Settlement{Kind: kind, ID: id, Status: status, At: time.Now()})
}

// Settlements returns every settlement so far, in order.
func (s *Server) Settlements() []Settlement {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.settlements)
}

// SimulatedWork is how much of the window [from, to] the server spent on simulated work that a
// client could have waited for: the union of the timers armed at or after from that fired by to.
// Overlapping timers (a release phase while another app builds) count once; a timer still running
// at to (a review-app deletion nobody waits for) does not count at all.
func (s *Server) SimulatedWork(from, to time.Time) time.Duration {
	s.mu.Lock()
	var spans []workSpan
	for _, w := range s.work {
		if !w.start.Before(from) && !w.end.After(to) {
			spans = append(spans, w)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(spans, func(a, b workSpan) int { return a.start.Compare(b.start) })
	var total time.Duration
	var cur workSpan
	for i, w := range spans {
		switch {
		case i == 0:
			cur = w
		case !w.start.After(cur.end):
			if w.end.After(cur.end) {
				cur.end = w.end
			}
		default:
			total += cur.end.Sub(cur.start)
			cur = w
		}
	}
	if len(spans) > 0 {
		total += cur.end.Sub(cur.start)
	}
	return total
}

// Span is a stretch of wall-clock time.
type Span struct{ Start, End time.Time }

// WorkSpans are the timers of simulated work armed at or after from that fired by to (those
// SimulatedWork sums), in the order they were armed: a benchmark tells the requests a client made
// while Heroku worked from those it waited for.
func (s *Server) WorkSpans(from, to time.Time) []Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Span
	for _, w := range s.work {
		if !w.start.Before(from) && !w.end.After(to) {
			out = append(out, Span{Start: w.start, End: w.end})
		}
	}
	slices.SortFunc(out, func(a, b Span) int { return a.Start.Compare(b.Start) })
	return out
}
