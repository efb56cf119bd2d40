package containertest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
	"github.com/pangeo-forge/deploy-action/internal/sandbox"
)

func newWorld(t *testing.T) *sandbox.World {
	t.Helper()
	w, err := sandbox.New(sandbox.Options{BuildTime: 60 * time.Millisecond, ReleaseTime: 20 * time.Millisecond, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	w.SeedLifecycle()
	return w
}

// TestVersion: the image's entry point is the stamped static binary.
func TestVersion(t *testing.T) {
	t.Parallel()
	e, ref := testImage(t)
	out, err := e.run(context.Background(), "run", "--rm", ref, "--version")
	if err != nil {
		t.Fatal(err)
	}
	version, ok := strings.CutPrefix(strings.TrimSuffix(out, "\n"), "deploy-action ")
	if !ok || version == "" || version == "dev" || (image.version != "" && version != image.version) {
		t.Errorf("--version printed %q, want \"deploy-action <version>\\n\" with the version stamped at build time (%q)", out, image.version)
	}
}

// TestSameAsInProcess runs each scenario twice, in two identical worlds: once through the entry point
// in-process (the sandbox, as `make demo` does) and once in the container as the runner would. A user
// must not be able to tell them apart: same exit codes, outputs, job summaries and Heroku requests.
func TestSameAsInProcess(t *testing.T) {
	t.Parallel()
	e, ref := testImage(t)
	withInputs := func(s sandbox.Step, kv ...string) sandbox.Step {
		s.Inputs = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			s.Inputs[kv[i]] = kv[i+1]
		}
		return s
	}
	opened := sandbox.Lifecycle()[0]
	tests := []struct {
		name  string
		steps []sandbox.Step
		code  int // of the last step; the others succeed
	}{
		{name: "lifecycle", steps: sandbox.Lifecycle()},
		{name: "dry run", steps: []sandbox.Step{withInputs(opened, "dry_run", "true")}},
		{name: "bad input", steps: []sandbox.Step{withInputs(opened, "stage", "production")}, code: 2},
		{name: "build fails", steps: []sandbox.Step{sandbox.Lifecycle()[2]}, code: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			local, boxed := newWorld(t), newWorld(t)
			if tt.name == "build fails" {
				local.Heroku.FailBuilds(sandbox.StagingApp, "pip install failed")
				boxed.Heroku.FailBuilds(sandbox.StagingApp, "pip install failed")
			}
			want, got := newNormalizer(local), newNormalizer(boxed)
			for i, step := range tt.steps {
				title := fmt.Sprintf("step %d (%s)", i+1, step.Title)
				lh, lg := len(local.Heroku.Requests()), len(local.GitHub.Requests())
				inProcess, err := local.Run(ctx, step, nil)
				if err != nil {
					t.Fatalf("%s in-process: %v", title, err)
				}
				bh, bg := len(boxed.Heroku.Requests()), len(boxed.GitHub.Requests())
				p, err := boxed.Prepare(step)
				if err != nil {
					t.Fatal(err)
				}
				inContainer, err := runStep(ctx, e, ref, p)
				if err != nil {
					t.Fatalf("%s in the container: %v", title, err)
				}
				if want := map[bool]int{true: tt.code}[i == len(tt.steps)-1]; inProcess.Code != want {
					t.Errorf("%s: exit code %d in-process, want %d\n%s", title, inProcess.Code, want, inProcess.Log)
				}
				if inContainer.Code != inProcess.Code {
					t.Errorf("%s: exit code %d in the container, %d in-process\ncontainer log:\n%s\nstderr:\n%s",
						title, inContainer.Code, inProcess.Code, inContainer.Log, inContainer.Stderr)
				}
				a := want.step(inProcess, local.Heroku.Requests()[lh:], local.GitHub.Requests()[lg:])
				b := got.step(inContainer, boxed.Heroku.Requests()[bh:], boxed.GitHub.Requests()[bg:])
				if diff := cmp.Diff(a, b); diff != "" {
					t.Errorf("%s: the container run differs from the in-process run (-in-process +container):\n%s", title, diff)
				}
				if want := "deploy-action/" + image.version; image.version != "" {
					if ua := userAgents(boxed.Heroku.Requests()[bh:]); len(ua) > 0 && !cmp.Equal(ua, []string{want}) {
						t.Errorf("%s: Heroku saw User-Agent %q, want the image's stamped version %q", title, ua, want)
					}
				}
			}
			for _, w := range []*sandbox.World{local, boxed} {
				if v := w.Heroku.Violations(); len(v) > 0 {
					t.Errorf("Heroku test server saw requests the real API would refuse: %v", v)
				}
				if v := w.GitHub.Violations(); len(v) > 0 {
					t.Errorf("GitHub test server saw requests the real API would refuse: %v", v)
				}
			}
		})
	}
}

// observed is what a user sees of one step, with what differs between two worlds (random IDs, ports,
// durations, the tarball's checksum) replaced by stable placeholders.
type observed struct {
	Outputs      map[string]string
	Summary      string
	HerokuWrites []string // method, path and body of every request that changes something, sorted
	HerokuReads  []string // distinct method and path of the others (how often a poll ran is timing)
	GitHubWrites []string // method and path (bodies carry timestamps), sorted
}

// normalizer replaces a world's random names (the Heroku test server's IDs, app name suffixes and
// signed URLs, as Heroku's are random too) by placeholders numbered in order of first appearance.
// Everything else is compared as it is. Only texts whose order is deterministic (outputs, the
// summary) number new names; requests, many of which go out at once (docs/performance.md, section
// 0), reuse the numbers or say <rand>, and are compared as sorted lists: their order is timing.
// GitHub's own IDs (check runs, deployments, comments) are numbered in the order they were created,
// which is timing too, and are compared as <id>.
type normalizer struct {
	urls *strings.Replacer
	seen map[string]string
}

var (
	// Each expression's first group is the random part.
	randomRes = []*regexp.Regexp{
		regexp.MustCompile(`([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})`), // IDs
		regexp.MustCompile(`-pr-\d+-([0-9a-f]{5})\b`),                                        // review app names
		regexp.MustCompile(`-([0-9a-f]{12})\.herokuapp\.com`),                                // web URLs
		regexp.MustCompile(`\bapp-([0-9a-f]{8})\b`),                                          // app-setup names
		regexp.MustCompile(`/blobs/[^?\s"]+\?([^\s"]+)`),                                     // signed source URLs
	}
	githubIDRe = regexp.MustCompile(`/(check-runs|deployments|comments)/\d+`)
	durationRe = regexp.MustCompile(`\b(\d+(\.\d+)?(ns|µs|us|ms|s|m|h))+\b`)
)

func newNormalizer(w *sandbox.World) *normalizer {
	return &normalizer{
		urls: strings.NewReplacer(w.Heroku.URL(), "<heroku>", w.GitHub.URL(), "<github>"),
		seen: map[string]string{},
	}
}

// text normalizes s; number says whether names not seen before get a number.
func (n *normalizer) text(s string, number bool) string {
	s = n.urls.Replace(s)
	for _, re := range randomRes {
		s = re.ReplaceAllStringFunc(s, func(match string) string {
			m := re.FindStringSubmatchIndex(match)
			return match[:m[2]] + n.token(match[m[2]:m[3]], number) + match[m[3]:]
		})
	}
	return s
}

func (n *normalizer) token(tok string, number bool) string {
	if p, ok := n.seen[tok]; ok {
		return p
	}
	if !number {
		return "<rand>"
	}
	p := "<rand" + strconv.Itoa(len(n.seen)+1) + ">"
	n.seen[tok] = p
	return p
}

// body is a request body as compared: JSON as sent, anything else (the source tarball) by size and
// digest, which says whether both runs uploaded the same archive without printing it.
func body(b []byte) string {
	if len(b) == 0 || json.Valid(b) {
		return string(b)
	}
	return fmt.Sprintf("<%d bytes, sha256 %x>", len(b), sha256.Sum256(b))
}

func (n *normalizer) step(run *sandbox.Run, heroku []herokuapi.Request, github []githubapi.Request) observed {
	var o observed
	names := make([]string, 0, len(run.Outputs))
	for k := range run.Outputs {
		names = append(names, k)
	}
	sort.Strings(names)
	o.Outputs = map[string]string{}
	for _, k := range names {
		o.Outputs[k] = n.text(run.Outputs[k], true)
	}
	if _, ok := o.Outputs["check_run_id"]; ok {
		o.Outputs["check_run_id"] = "<id>"
	}
	o.Summary = durationRe.ReplaceAllString(n.text(run.Summary, true), "<duration>")
	reads := map[string]bool{}
	for _, r := range heroku {
		if r.Method == "GET" || r.Method == "HEAD" {
			continue
		}
		o.HerokuWrites = append(o.HerokuWrites, n.text(r.Method+" "+r.Path+" "+body(r.Body), false))
	}
	sort.Strings(o.HerokuWrites)
	for _, r := range heroku {
		if r.Method == "GET" || r.Method == "HEAD" {
			reads[n.text(r.Method+" "+r.Path, false)] = true
		}
	}
	for r := range reads {
		o.HerokuReads = append(o.HerokuReads, r)
	}
	sort.Strings(o.HerokuReads)
	for _, r := range github {
		if r.Method != "GET" && r.Method != "HEAD" {
			o.GitHubWrites = append(o.GitHubWrites, githubIDRe.ReplaceAllString(n.text(r.Method+" "+r.Path, false), "/$1/<id>"))
		}
	}
	sort.Strings(o.GitHubWrites)
	// Progress updates of a check run are sent in the background and coalesced, so how many there
	// are is timing: the updates of a step's check runs count as one.
	o.GitHubWrites = slices.CompactFunc(o.GitHubWrites, func(a, b string) bool {
		return a == b && strings.HasPrefix(a, "PATCH ") && strings.Contains(a, "/check-runs/")
	})
	return o
}

func userAgents(reqs []herokuapi.Request) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range reqs {
		ua := r.Header.Get("User-Agent")
		// Blob uploads and output streams go to storage, not through the API client.
		if ua == "" || seen[ua] || !strings.HasPrefix(ua, "deploy-action") {
			continue
		}
		seen[ua] = true
		out = append(out, ua)
	}
	return out
}

// TestNormalizer: two worlds' random names compare equal, anything else that differs does not.
func TestNormalizer(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"ids", "GET /apps/0c1f6e52-8d4e-4c43-9c7a-2f1a3b4c5d6e", "GET /apps/9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", true},
		{"review app names", "pangeo-forge-api-f-pr-80-0567d", "pangeo-forge-api-f-pr-80-a1b2c", true},
		{"web urls", "https://pangeo-forge-api-staging-cc67f318f1df.herokuapp.com/", "https://pangeo-forge-api-staging-0123456789ab.herokuapp.com/", true},
		{"signed source urls", "PUT /blobs/x?X-Amz-Signature=abc&X-Amz-Date=1", "PUT /blobs/x?X-Amz-Signature=def&X-Amz-Date=2", true},
		{"the server's own address", w.Heroku.URL() + "/sources", "<heroku>/sources", true},
		{"commits", "c43668b6e2ee24ffaf0bb468739493060c436abf", "d43668b6e2ee24ffaf0bb468739493060c436abf", false},
		{"config var values", `{"GITHUB_APP_ID":"12345"}`, `{"GITHUB_APP_ID":"12346"}`, false},
		{"release versions", "| Release | v4 |", "| Release | v5 |", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := newNormalizer(w).text(tt.a, true), newNormalizer(w).text(tt.b, true)
			if (a == b) != tt.same {
				t.Errorf("normalized %q and %q to %q and %q; want same: %v", tt.a, tt.b, a, b, tt.same)
			}
		})
	}
}
