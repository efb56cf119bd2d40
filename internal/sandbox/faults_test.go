package sandbox

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
)

var (
	faultSeed = flag.Uint64("faults.seed", 0, "first seed of the fault schedules (0: a random one, printed)")
	faultN    = flag.Int("faults.n", 4, "number of fault schedules TestFaults runs")
)

// faultSchedule is one seeded plan of what goes wrong during a lifecycle: the rates at which
// requests meet a fault, how many faults there are at most, and which builds and release phases
// fail.
type faultSchedule struct {
	seed                      uint64
	budget                    int     // API faults injected at most, over the whole lifecycle
	dropBudget                int     // output stream drops at most
	p429, p5xx, pReset, pSlow float64 // per API request
	pLost                     float64 // reset after the server acted, on requests safe to survive it
	pDrop                     float64 // per output stream request
	failBuild, failRelease    string  // app whose builds / release phases fail, "" none
	githubFaults              []githubapi.Fault
	mu                        sync.Mutex
	rng                       *rand.Rand
	injected                  map[string]int // kind -> count
}

func newSchedule(seed uint64) *faultSchedule {
	rng := rand.New(rand.NewPCG(seed, 0x6661756c7473)) // "faults"
	s := &faultSchedule{seed: seed, rng: rng, injected: map[string]int{}}
	s.budget = 2 + rng.IntN(8)
	s.dropBudget = rng.IntN(4)
	s.p429 = rng.Float64() * 0.08
	s.p5xx = rng.Float64() * 0.08
	s.pReset = rng.Float64() * 0.05
	s.pLost = rng.Float64() * 0.15
	s.pSlow = rng.Float64() * 0.1
	s.pDrop = 0.3 + rng.Float64()*0.6
	switch rng.IntN(6) {
	case 0:
		s.failBuild = StagingApp
	case 1:
		s.failRelease = StagingApp
	case 2:
		s.failRelease = ProdApp
	}
	paths := []string{
		"/repos/{owner}/{repo}/check-runs", "/repos/{owner}/{repo}/check-runs/{check_run_id}",
		"/repos/{owner}/{repo}/deployments", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
		"/repos/{owner}/{repo}/branches/{branch}", "/repos/{owner}/{repo}/git/commits/{commit_sha}",
	}
	for range rng.IntN(3) {
		s.githubFaults = append(s.githubFaults, githubapi.Fault{
			Path: paths[rng.IntN(len(paths))], Status: []int{500, 502, 503}[rng.IntN(3)], Times: 1,
		})
	}
	return s
}

func (s *faultSchedule) String() string {
	return fmt.Sprintf("seed %d: budget %d, 429 %.2f, 5xx %.2f, reset %.2f, lost answer %.2f, slow %.2f, stream drop %.2f, failing build %q, failing release %q, %d GitHub faults",
		s.seed, s.budget, s.p429, s.p5xx, s.pReset, s.pLost, s.pSlow, s.pDrop, s.failBuild, s.failRelease, len(s.githubFaults))
}

// take decides, under the budget, whether a fault of this kind with probability p hits now.
func (s *faultSchedule) take(kind string, p float64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	budget := &s.budget
	if kind == "stream drop" {
		budget = &s.dropBudget
	}
	if *budget <= 0 || s.rng.Float64() >= p {
		return false
	}
	*budget--
	s.injected[kind]++
	return true
}

// lostAnswerSafe: requests whose answer may be lost after the server acted, because the client
// survives it without doing the work twice (reads, absolute writes, creations it adopts). A lost
// promotion or rollback answer is not among them: the run would fail, saying so, and a rerun is
// the user's call (see docs/faults.md).
var lostAnswerSafe = regexp.MustCompile(`^(GET |PUT |DELETE |PATCH /apps/[^/]+/config-vars$|POST /apps/[^/]+/builds$|POST /review-apps$|POST /sources$)`)

func (s *faultSchedule) install(w *World) {
	w.Heroku.Inject(func(r *http.Request) (int, bool) {
		if strings.HasPrefix(r.URL.Path, "/streams/") || strings.HasPrefix(r.URL.Path, "/blobs/") {
			return 0, false
		}
		switch {
		case s.take("429", s.p429):
			return http.StatusTooManyRequests, true
		case s.take("5xx", s.p5xx):
			return []int{500, 502, 503, 504}[rand.IntN(4)], true
		}
		return 0, false
	})
	w.Heroku.Disrupt(func(r *http.Request) (herokuapi.Disruption, bool) {
		if strings.HasPrefix(r.URL.Path, "/streams/") {
			if s.take("stream drop", s.pDrop) {
				return herokuapi.Disruption{DropStream: true, StreamBytes: rand.IntN(200)}, true
			}
			return herokuapi.Disruption{}, false
		}
		switch {
		case s.take("reset", s.pReset):
			return herokuapi.Disruption{Reset: true}, true
		case lostAnswerSafe.MatchString(r.Method+" "+r.URL.Path) && s.take("lost answer", s.pLost):
			return herokuapi.Disruption{Reset: true, Processed: true}, true
		case s.take("slow", s.pSlow):
			return herokuapi.Disruption{Delay: time.Duration(50+rand.IntN(250)) * time.Millisecond}, true
		}
		return herokuapi.Disruption{}, false
	})
	for _, f := range s.githubFaults {
		w.GitHub.Inject(f)
		s.injected["github 5xx"]++
	}
	if s.failBuild != "" {
		w.Heroku.FailBuilds(s.failBuild, "ERROR: Could not find a version that satisfies the requirement fastapi==99")
		s.injected["failing build"]++
	}
	if s.failRelease != "" {
		w.Heroku.SetReleasePhase(s.failRelease, false)
		s.injected["failing release phase"]++
	}
}

// faultOutcome is what one schedule's lifecycle came to.
type faultOutcome struct {
	deployed, skipped, failed int
	duplicates, leaks         []string
	broken                    []string // runs that ended without the check run GitHub should show
	injected                  map[string]int
}

// TestFaults runs the whole lifecycle under randomized, seeded fault schedules against the Heroku
// and GitHub test servers: 429s, 5xx, connection resets (before and after the server acted), slow
// answers, broken output streams, failing builds and release phases, GitHub 5xx. Every run must end
// deployed (or skipped) or failed with a concluded check run, with no duplicate resource and no
// secret byte anywhere it writes. Rerun one schedule with -faults.seed=<seed> -faults.n=1.
func TestFaults(t *testing.T) {
	t.Parallel()
	first := *faultSeed
	if first == 0 {
		first = rand.Uint64() >> 1
	}
	t.Logf("fault schedules: -faults.seed=%d -faults.n=%d", first, *faultN)
	var mu sync.Mutex
	total := faultOutcome{injected: map[string]int{}}
	schedules := 0
	t.Cleanup(func() {
		kinds := make([]string, 0, len(total.injected))
		for k := range total.injected {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		var inj []string
		for _, k := range kinds {
			inj = append(inj, fmt.Sprintf("%s %d", k, total.injected[k]))
		}
		t.Logf("schedules %d, runs %d: exit 0 %d (deployed %d, torn down or skipped %d), failed with a concluded check run %d; wrong or missing conclusion %d; duplicates %d; leaks %d; faults injected: %s",
			schedules, total.deployed+total.skipped+total.failed, total.deployed+total.skipped, total.deployed, total.skipped, total.failed,
			len(total.broken), len(total.duplicates), len(total.leaks), strings.Join(inj, ", "))
	})
	for i := range *faultN {
		seed := first + uint64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			out := runSchedule(t, newSchedule(seed))
			mu.Lock()
			defer mu.Unlock()
			schedules++
			total.deployed += out.deployed
			total.skipped += out.skipped
			total.failed += out.failed
			total.duplicates = append(total.duplicates, out.duplicates...)
			total.leaks = append(total.leaks, out.leaks...)
			total.broken = append(total.broken, out.broken...)
			for k, v := range out.injected {
				total.injected[k] += v
			}
		})
	}
}

func runSchedule(t *testing.T, s *faultSchedule) faultOutcome {
	w := newWorld(t)
	values := secretValues(t, w)
	s.install(w)
	out := faultOutcome{}
	var written []string
	for _, step := range Lifecycle() {
		hBefore := len(w.Heroku.Requests())
		run, err := w.Run(context.Background(), step, nil)
		if err != nil {
			t.Fatal(err)
		}
		reqs := w.Heroku.Requests()[hBefore:]
		switch {
		case run.Code == 0 && run.Outputs["deployed"] == "true":
			out.deployed++
		case run.Code == 0:
			out.skipped++
		default:
			out.failed++
			for _, line := range errorLines(run.Log) {
				t.Logf("%s failed: %.200s", step.Name, line)
				break
			}
		}
		if run.Code != 0 && run.Code != 1 {
			out.broken = append(out.broken, fmt.Sprintf("%s: exit code %d", step.Name, run.Code))
		}
		// Never success on a failed build or release phase.
		if run.Code == 0 && (strings.Contains(run.Log, "Push rejected") || strings.Contains(run.Log, "release command exited with status 1")) {
			out.broken = append(out.broken, step.Name+": exit 0 after a failed build or release phase")
		}
		// The check run of the step is concluded, and says what the exit code says.
		if cr := checkRunOf(w, step); cr == nil || cr.Status != "completed" {
			out.broken = append(out.broken, fmt.Sprintf("%s: check run %+v not concluded", step.Name, cr))
		} else if want := map[bool]string{true: "failure", false: "success"}[run.Code != 0]; cr.Conclusion != want && !(run.Code == 0 && cr.Conclusion == "neutral") {
			out.broken = append(out.broken, fmt.Sprintf("%s: exit %d but check run concluded %s", step.Name, run.Code, cr.Conclusion))
		}
		// No duplicates: one build per app per step, one review app per PR, one promotion.
		builds := map[string]int{}
		for _, r := range reqs {
			if r.Method == "POST" && regexp.MustCompile(`^/apps/[^/]+/builds$`).MatchString(r.Path) {
				builds[r.Path]++
			}
		}
		// A torn-down review app disappears asynchronously: count once it has.
		w.awaitDeletions(t)
		for _, app := range w.Heroku.Apps() {
			perCommit := map[string]int{}
			for _, b := range w.Heroku.Builds(app.Name) {
				perCommit[b.Commit]++
			}
			for commit, n := range perCommit {
				if n > 1 {
					out.duplicates = append(out.duplicates, fmt.Sprintf("%s: %d builds of %s on %s", step.Name, n, abbrev(commit), app.Name))
				}
			}
		}
		live := 0
		for _, ra := range w.Heroku.ReviewApps(Pipeline) {
			if ra.Status != "deleting" && ra.Status != "deleted" {
				live++
			}
		}
		if live > 1 {
			out.duplicates = append(out.duplicates, fmt.Sprintf("%s: %d live review apps for one PR", step.Name, live))
		}
		// Promotions Heroku made: a POST refused with 429 rate_limit (or a 5xx before the server
		// acted) made none, and the client may send it again; a lost answer was made (a 2xx).
		promotions := 0
		for _, r := range reqs {
			if r.Method == "POST" && r.Path == "/pipeline-promotions" && r.Status >= 200 && r.Status < 300 {
				promotions++
			}
		}
		if promotions > 1 {
			out.duplicates = append(out.duplicates, fmt.Sprintf("%s: %d promotions", step.Name, promotions))
		}
		written = append(written, Shown(run.Log), run.Stderr, run.Summary)
		for k, v := range run.Outputs {
			written = append(written, k+"="+v)
		}
	}
	out.duplicates = append(out.duplicates, githubDuplicates(w)...)
	for _, r := range w.GitHub.Requests() {
		written = append(written, r.Method+" "+r.Path+"\n"+string(r.Body))
	}
	// The signed source URLs go to Heroku and nowhere else; the secrets only in config vars.
	sigs := signatures(w)
	if len(sigs) == 0 {
		t.Error("no signed source URL was seen: the leak check of signed URLs checks nothing")
	}
	out.leaks = findLeaks(sigs, written)
	for _, r := range w.Heroku.Requests() {
		if !carriesConfigVars(r) {
			written = append(written, r.Method+" "+r.Path+"\n"+string(r.Body))
		}
	}
	out.leaks = append(out.leaks, findLeaks(values, written)...)
	if v := w.Heroku.Violations(); len(v) > 0 {
		t.Errorf("Heroku schema violations: %v", v)
	}
	out.injected = s.injected
	for _, d := range out.duplicates {
		t.Errorf("duplicate: %s", d)
	}
	for _, l := range out.leaks {
		t.Errorf("leak: %s", l)
	}
	for _, b := range out.broken {
		t.Errorf("%s", b)
	}
	if t.Failed() {
		t.Logf("schedule %s (rerun it with -faults.seed=%d -faults.n=1)", s, s.seed)
	}
	return out
}

// checkRunOf finds the check run a step reports on: its commit (the PR head for pull requests).
func checkRunOf(w *World, step Step) *githubapi.CheckRun {
	sha := step.Checkout
	if pr, ok := step.Payload["pull_request"].(map[string]any); ok {
		sha = pr["head"].(map[string]any)["sha"].(string)
	}
	stage := map[string]string{"pull_request": "review", "push": "staging"}[step.Event]
	if step.Event == "pull_request" && step.Payload["action"] == "closed" {
		stage = "teardown"
	}
	if step.Ref == "refs/heads/prod" {
		stage = "prod"
	}
	for _, c := range w.GitHub.CheckRuns(Repository) {
		if c.HeadSHA == sha && c.Name == "deploy/"+stage {
			return &c
		}
	}
	return nil
}

// githubDuplicates: one check run per commit and name, one deployment per commit and environment,
// one comment per pull request.
func githubDuplicates(w *World) []string {
	var out []string
	seen := map[string]int{}
	for _, c := range w.GitHub.CheckRuns(Repository) {
		seen["check run "+c.Name+" on "+abbrev(c.HeadSHA)]++
	}
	for _, d := range w.GitHub.Deployments(Repository) {
		seen["deployment to "+d.Environment+" of "+abbrev(d.SHA)]++
	}
	if n := len(w.GitHub.Comments(Repository, PR)); n > 1 {
		out = append(out, fmt.Sprintf("%d comments on PR #%d", n, PR))
	}
	for k, n := range seen {
		if n > 1 {
			out = append(out, fmt.Sprintf("%d of %s", n, k))
		}
	}
	sort.Strings(out)
	return out
}

func abbrev(sha string) string { return sha[:min(len(sha), 8)] }
