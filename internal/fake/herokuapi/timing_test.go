package herokuapi

import (
	"testing"
	"time"
)

func TestSimulatedWork(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	s := &Server{work: []workSpan{
		{at(0), at(100)},    // build, first part
		{at(100), at(300)},  // build, second part: touches the first
		{at(250), at(350)},  // overlaps: counted once
		{at(500), at(600)},  // a separate release phase
		{at(900), at(1200)}, // still running at the window's end: not counted
	}}
	tests := []struct {
		from, to time.Time
		want     time.Duration
	}{
		{at(0), at(1000), 450 * time.Millisecond},
		{at(0), at(1200), 750 * time.Millisecond},
		{at(400), at(1000), 100 * time.Millisecond},
		{at(700), at(800), 0},
	}
	for _, tt := range tests {
		if got := s.SimulatedWork(tt.from, tt.to); got != tt.want {
			t.Errorf("SimulatedWork(%s, %s) = %s, want %s", tt.from.Sub(t0), tt.to.Sub(t0), got, tt.want)
		}
	}
}
