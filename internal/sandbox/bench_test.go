package sandbox

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
)

// The benchmarks of docs/performance.md that run through the entry point. They never fail on a
// figure: CI runs them once (-benchtime 1x) to see that they still run; `make bench` prints the
// figures.

// benchLatency is the delay the test servers add to every request: a round trip to a distant API.
const benchLatency = 50 * time.Millisecond

// stageMin is the fewest round trips a client that sends one request at a time must wait for in a
// stage, outside Heroku's own work (docs/performance.md argues each figure): Heroku requests and
// GitHub requests (the deploy's own, plus the check run, deployment and comment it reports).
var stageMin = map[string]struct{ heroku, github int }{
	"pr-opened":  {8, 4},
	"pr-updated": {13, 4},
	"main":       {10, 5},
	"prod":       {11, 7},
	"pr-closed":  {4, 3},
}

// stageLabel names the lifecycle's steps by what they do.
var stageLabel = map[string]string{
	"pr-opened":  "review create",
	"pr-updated": "review update",
	"main":       "staging",
	"prod":       "prod promotion",
	"pr-closed":  "teardown",
}

// stageFigures is what one lifecycle step cost.
type stageFigures struct {
	name           string
	wall, work     time.Duration
	heroku, github int
	requests       []herokuapi.Request
}

func (f stageFigures) overhead() time.Duration { return f.wall - f.work }

// target is the brief's bound: 1.3 x the minimal sequential round trips x latency, plus 200 ms.
func target(roundTrips int, latency time.Duration) time.Duration {
	return time.Duration(1.3*float64(roundTrips)*float64(latency)) + 200*time.Millisecond
}

// runLifecycle runs the five steps in a new world and measures each.
func runLifecycle(b *testing.B, opt Options) (*World, []stageFigures) {
	b.Helper()
	w, err := New(opt)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Close)
	w.SeedLifecycle()
	var out []stageFigures
	for _, step := range Lifecycle() {
		hb, gb := len(w.Heroku.Requests()), len(w.GitHub.Requests())
		start := time.Now()
		run, err := w.Run(context.Background(), step, nil)
		end := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		if run.Code != 0 {
			b.Fatalf("%s: exit code %d\n%s", step.Title, run.Code, run.Log)
		}
		reqs := w.Heroku.Requests()[hb:]
		out = append(out, stageFigures{
			name: step.Name, wall: end.Sub(start), work: w.Heroku.SimulatedWork(start, end),
			heroku: len(reqs), github: len(w.GitHub.Requests()) - gb, requests: reqs,
		})
	}
	if v := w.Heroku.Violations(); len(v) > 0 {
		b.Fatalf("the action spoke invalid Platform API:\n%s", strings.Join(v, "\n"))
	}
	return w, out
}

// BenchmarkStageOverhead: what the action adds to Heroku's own work in each stage, with 50 ms of
// latency on every Heroku request ("heroku-latency") and on every GitHub request too
// ("all-latency"), beside the round trips it made and the fewest it could make.
func BenchmarkStageOverhead(b *testing.B) {
	for _, variant := range []struct {
		name   string
		github time.Duration
	}{{"heroku-latency", 0}, {"all-latency", benchLatency}} {
		b.Run(variant.name, func(b *testing.B) {
			var stages []stageFigures
			for b.Loop() {
				_, stages = runLifecycle(b, Options{Latency: benchLatency, GitHubLatency: variant.github})
			}
			var tab strings.Builder
			fmt.Fprintf(&tab, "\n%-15s %8s %8s %9s %9s %10s %7s %10s %10s\n", "stage", "wall", "work", "overhead", "target", "overhead/", "heroku", "github", "round trips")
			fmt.Fprintf(&tab, "%-15s %8s %8s %9s %9s %10s %7s %10s %10s\n", "", "", "", "", "", "target", "req/min", "req/min", "total/min")
			for _, s := range stages {
				m := stageMin[s.name]
				minRT := m.heroku
				if variant.github > 0 {
					minRT += m.github
				}
				total := s.heroku
				if variant.github > 0 {
					total += s.github
				}
				tgt := target(minRT, benchLatency)
				ratio := float64(s.overhead()) / float64(tgt)
				fmt.Fprintf(&tab, "%-15s %8s %8s %9s %9s %10.2f %7s %10s %10s\n", stageLabel[s.name], ms(s.wall), ms(s.work), ms(s.overhead()), ms(tgt), ratio,
					fmt.Sprintf("%d/%d", s.heroku, m.heroku), fmt.Sprintf("%d/%d", s.github, m.github), fmt.Sprintf("%d/%d", total, minRT))
				key := strings.ReplaceAll(stageLabel[s.name], " ", "-")
				b.ReportMetric(float64(s.overhead())/float64(time.Millisecond), key+"-overhead-ms")
				b.ReportMetric(ratio, key+"-overhead/target")
			}
			b.Logf("latency %s per request; work = the Heroku test server's simulated work; target = 1.3 x min round trips x latency + 200ms%s", benchLatency, tab.String())
		})
	}
}

// BenchmarkCompletionDetection: how long after the Heroku test server finished a build, a release
// phase, a review app or a promotion the action's answer came back with the news. The server
// records when each settled; the news is the first read of it handled after that. An output
// stream's end is not news (only a read says how the work ended); a promotion's news is the
// target app's release list, where its release appears.
func BenchmarkCompletionDetection(b *testing.B) {
	var w *World
	for b.Loop() {
		w, _ = runLifecycle(b, Options{Latency: benchLatency})
	}
	byKind := map[string][]time.Duration{}
	reqs := w.Heroku.Requests()
	for _, s := range w.Heroku.Settlements() {
		suffixes := map[string][]string{
			"build":      {"/builds/" + s.ID},
			"release":    {"/releases/" + s.ID},
			"review-app": {"/review-apps/" + s.ID},
			"promotion":  {"/pipeline-promotions/" + s.ID, "/pipeline-promotions/" + s.ID + "/promotion-targets", "/releases"},
		}[s.Kind]
		for _, r := range reqs {
			if r.Method != "GET" || r.Handled.Before(s.At) || strings.HasPrefix(r.Path, "/streams/") || !slices.ContainsFunc(suffixes, func(x string) bool { return strings.HasSuffix(r.Path, x) }) {
				continue
			}
			byKind[s.Kind] = append(byKind[s.Kind], r.Answered.Sub(s.At))
			break
		}
	}
	var tab strings.Builder
	fmt.Fprintf(&tab, "\n%-11s %6s %8s %8s\n", "finished", "count", "median", "max")
	var buildsReleases []time.Duration
	for _, kind := range []string{"build", "release", "review-app", "promotion"} {
		d := byKind[kind]
		if len(d) == 0 {
			continue
		}
		fmt.Fprintf(&tab, "%-11s %6d %8s %8s\n", kind, len(d), ms(median(d)), ms(slices.Max(d)))
		b.ReportMetric(float64(median(d))/float64(time.Millisecond), kind+"-median-ms")
		if kind == "build" || kind == "release" {
			buildsReleases = append(buildsReleases, d...)
		}
	}
	if len(buildsReleases) > 0 {
		fmt.Fprintf(&tab, "%-11s %6d %8s %8s (target: median <= 250ms)\n", "build+rel.", len(buildsReleases), ms(median(buildsReleases)), ms(slices.Max(buildsReleases)))
	}
	b.Logf("latency %s per request; from the server finishing to the action's request about it being answered%s", benchLatency, tab.String())
}

// BenchmarkPromotion: prod by promotion moves no source and makes few Heroku requests.
func BenchmarkPromotion(b *testing.B) {
	var stages []stageFigures
	for b.Loop() {
		_, stages = runLifecycle(b, Options{Latency: benchLatency})
	}
	i := slices.IndexFunc(stages, func(s stageFigures) bool { return s.name == "prod" })
	prod := stages[i]
	var sourceBytes int64
	var list strings.Builder
	for n, r := range prod.requests {
		if r.Method == "POST" && r.Path == "/sources" || r.Method == "PUT" && strings.HasPrefix(r.Path, "/blobs/") {
			sourceBytes += int64(len(r.Body))
		}
		path, _, _ := strings.Cut(r.Path, "?")
		fmt.Fprintf(&list, "\n  %3d. %-6s %s", n+1, r.Method, path)
	}
	b.ReportMetric(float64(prod.heroku), "heroku-requests")
	b.ReportMetric(float64(sourceBytes), "source-bytes")
	b.Logf("prod by promotion: %d Heroku requests (target <= 12; 13 with the staging app's read for its stack, docs/performance.md section 3), %d bytes of source uploaded", prod.heroku, sourceBytes)
	// Printed rather than logged: the testing package cuts a benchmark's log after 10 lines.
	fmt.Printf("BenchmarkPromotion: the prod step's Heroku requests:%s\n", list.String())
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Round(time.Millisecond).Milliseconds()) }
