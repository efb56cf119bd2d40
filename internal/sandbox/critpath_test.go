package sandbox

import (
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
)

func TestCritical(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	call := func(what string, from, to int) Call { return Call{What: what, Received: at(from), Answered: at(to)} }
	build := []herokuapi.Span{{Start: at(200), End: at(500)}}
	tests := []struct {
		name                 string
		calls                []Call
		work                 []herokuapi.Span
		before, after, total int
	}{
		{"in a row", []Call{call("a", 0, 50), call("b", 50, 100), call("c", 101, 151)}, nil, 3, 0, 3},
		{"overlapping requests are one step", []Call{call("a", 0, 50), call("b", 10, 60), call("c", 60, 110)}, nil, 2, 0, 2},
		{
			// Two chains staggered by 10 ms: each is two steps long, not one merged step.
			"staggered chains", []Call{call("a1", 0, 50), call("a2", 52, 102), call("b1", 10, 60), call("b2", 62, 112)}, nil, 2, 0, 2,
		},
		{
			"requests during the work are free", []Call{
				call("pipeline", 0, 50), call("POST /builds", 150, 200), call("stream", 201, 500),
				call("domains", 260, 310), call("build", 500, 550), call("conclusion", 551, 601),
			}, build, 2, 2, 4,
		},
		{
			// A poll half inside the work is free; one mostly after it is waited for.
			"half inside", []Call{call("POST", 150, 200), call("poll1", 450, 550), call("poll2", 480, 580)}, build, 1, 0, 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := Critical(tt.calls, tt.work)
			if cp.Before != tt.before || cp.After != tt.after || cp.Total != tt.total {
				t.Errorf("Critical = %d/%d/%d (before/after/total), want %d/%d/%d; chain %v", cp.Before, cp.After, cp.Total, tt.before, tt.after, tt.total, cp.Chain)
			}
			if len(cp.Chain) != cp.Total {
				t.Errorf("chain of %d calls for a total of %d", len(cp.Chain), cp.Total)
			}
		})
	}
}
