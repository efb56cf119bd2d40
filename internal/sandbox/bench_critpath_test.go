package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// chainMin is the shortest chain of round trips in a row each stage must wait for at 50 ms per
// request on both APIs, before Heroku's work starts and after it ends (docs/performance.md,
// section 1, argues each figure).
var chainMin = map[string]struct{ before, after int }{
	"pr-opened":  {3, 2},
	"pr-updated": {5, 2},
	"main":       {5, 2},
	"prod":       {7, 2},
	"pr-closed":  {4, 0},
}

// processFigures is one process's run of one lifecycle step.
type processFigures struct {
	wall, work time.Duration
	path       CriticalPath
	requests   int
	timeline   string // every request and work span, from the process's start
}

func (f processFigures) overhead() time.Duration { return f.wall - f.work }

// runProcess runs bin as a process for step in w, as the runner runs the action's container:
// the environment of the step, nothing else. It measures from the start to the exit.
func runProcess(b *testing.B, w *World, bin string, step Step) processFigures {
	b.Helper()
	p, err := w.Prepare(step)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin)
	for k, v := range p.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	hb, gb := len(w.Heroku.Requests()), len(w.GitHub.Requests())
	start := time.Now()
	err = cmd.Run()
	end := time.Now()
	if err != nil {
		b.Fatalf("%s: %s: %v\n%s", filepath.Base(bin), step.Title, err, out.String())
	}
	var calls []Call
	for _, r := range w.Heroku.Requests()[hb:] {
		path, _, _ := strings.Cut(r.Path, "?")
		calls = append(calls, Call{What: "heroku " + r.Method + " " + path, Received: r.Received, Answered: r.Answered})
	}
	for _, r := range w.GitHub.Requests()[gb:] {
		calls = append(calls, Call{What: "github " + r.Method + " " + r.Path, Received: r.Received, Answered: r.Answered})
	}
	work := w.Heroku.WorkSpans(start, end)
	slices.SortFunc(calls, func(a, b Call) int { return a.Received.Compare(b.Received) })
	var tl strings.Builder
	for _, s := range work {
		fmt.Fprintf(&tl, "  %5d-%5d ms  (Heroku works)\n", s.Start.Sub(start).Milliseconds(), s.End.Sub(start).Milliseconds())
	}
	for _, c := range calls {
		fmt.Fprintf(&tl, "  %5d-%5d ms  %s\n", c.Received.Sub(start).Milliseconds(), c.Answered.Sub(start).Milliseconds(), c.What)
	}
	fmt.Fprintf(&tl, "  exit at %d ms\n", end.Sub(start).Milliseconds())
	return processFigures{wall: end.Sub(start), work: w.Heroku.SimulatedWork(start, end), path: Critical(calls, work), requests: len(calls), timeline: tl.String()}
}

// BenchmarkCriticalPath: the action's binary, run as a process from start to exit for each stage of
// the lifecycle against the test servers with 50 ms on every Heroku and GitHub request, beside a
// naive client (internal/fake/cmd/naiveclient: the same steps, one request at a time) run the same
// way against servers of the same kind in the same run. Overhead is the wall time less the
// servers' simulated work; the critical path is read from the servers' request logs (Critical).
// Each iteration is a whole lifecycle of both; the table gives medians.
func BenchmarkCriticalPath(b *testing.B) {
	root, err := FindRoot()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	action, naive := filepath.Join(dir, "deploy-action"), filepath.Join(dir, "naiveclient")
	buildStatic(b, root, action, "./cmd/deploy-action")
	buildStatic(b, root, naive, "./internal/fake/cmd/naiveclient")

	opt := Options{Latency: benchLatency, GitHubLatency: benchLatency}
	steps := Lifecycle()
	got := map[string][]processFigures{}
	base := map[string][]processFigures{}
	var last map[string]processFigures
	for b.Loop() {
		wa, err := New(opt)
		if err != nil {
			b.Fatal(err)
		}
		wn, err := New(opt)
		if err != nil {
			b.Fatal(err)
		}
		wa.SeedLifecycle()
		wn.SeedLifecycle()
		last = map[string]processFigures{}
		for _, step := range steps {
			// Alternated stage by stage, so that both see the same load on the machine.
			f := runProcess(b, wa, action, step)
			got[step.Name] = append(got[step.Name], f)
			last[step.Name] = f
			base[step.Name] = append(base[step.Name], runProcess(b, wn, naive, step))
		}
		for _, w := range []*World{wa, wn} {
			if v := append(w.Heroku.Violations(), w.GitHub.Violations()...); len(v) > 0 {
				b.Fatalf("a client spoke invalid API:\n%s", strings.Join(v, "\n"))
			}
			w.Close()
		}
	}
	var tab strings.Builder
	fmt.Fprintf(&tab, "\n%-15s %9s %9s %6s %14s %14s %11s %s\n", "stage", "overhead", "naive", "ratio", "critical path", "naive's", "argued min", "target")
	fmt.Fprintf(&tab, "%-15s %9s %9s %6s %14s %14s %11s\n", "", "", "", "", "before/after/all", "before/after/all", "before/after")
	for _, step := range steps {
		a, n := medianFigures(got[step.Name]), medianFigures(base[step.Name])
		m := chainMin[step.Name]
		ratio := float64(a.overhead()) / float64(n.overhead())
		verdict := "met"
		switch {
		case step.Name == "main" && (ratio > 0.5 || a.overhead() > 800*time.Millisecond):
			verdict = "MISSED (<= 0.5 x naive and <= 0.8 s)"
		case step.Name != "main" && a.path.Before+a.path.After > m.before+m.after+1:
			verdict = "MISSED (within 1 round trip of the minimum)"
		}
		fmt.Fprintf(&tab, "%-15s %9s %9s %6.2f %14s %14s %11s %s\n", stageLabel[step.Name], ms(a.overhead()), ms(n.overhead()), ratio,
			fmt.Sprintf("%d/%d/%d", a.path.Before, a.path.After, a.path.Total), fmt.Sprintf("%d/%d/%d", n.path.Before, n.path.After, n.path.Total),
			fmt.Sprintf("%d/%d", m.before, m.after), verdict)
		key := strings.ReplaceAll(stageLabel[step.Name], " ", "-")
		b.ReportMetric(ratio, key+"-x-naive")
	}
	b.Logf("the binary as a process, start to exit; %s per Heroku and GitHub request; overhead = wall - the Heroku test server's simulated work; median of %d lifecycles%s",
		benchLatency, len(got["main"]), tab.String())
	if os.Getenv("DEPLOY_ACTION_BENCH_CHAIN") != "" {
		for _, step := range steps {
			fmt.Printf("BenchmarkCriticalPath: %s, the action's longest chain:\n", stageLabel[step.Name])
			for i, c := range last[step.Name].path.Chain {
				fmt.Printf("  %2d. %s\n", i+1, c.What)
			}
			fmt.Printf("and its timeline:\n%s", last[step.Name].timeline)
		}
	}
}

// medianFigures is the run of median overhead among runs of the same step.
func medianFigures(runs []processFigures) processFigures {
	s := slices.Clone(runs)
	slices.SortFunc(s, func(a, b processFigures) int { return int(a.overhead() - b.overhead()) })
	return s[len(s)/2]
}
