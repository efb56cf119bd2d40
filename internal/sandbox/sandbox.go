// Package sandbox is a whole deployment world on one machine: the project's Heroku and GitHub test
// servers seeded like pangeo-forge's pipeline, a workspace checked out at a chosen commit, and a way to
// run the action's real entry point against them as the Actions runner would. `make demo` and the
// lifecycle tests both use it.
package sandbox

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/cli"
	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
	"github.com/pangeo-forge/deploy-action/internal/gitrepo/gittest"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
)

// The names of the seeded world, as in the seed's Heroku setup.
const (
	Repository = "pangeo-forge/pangeo-forge-orchestrator"
	Pipeline   = "pangeo-forge-api-flow"
	StagingApp = "pangeo-forge-api-staging"
	ProdApp    = "pangeo-forge-api-prod"
	ProdDomain = "api.pangeo-forge.org"
	// ProdAppEU is a second production app (production in the EU), coupled by AddProdAppEU.
	ProdAppEU = "pangeo-forge-api-prod-eu"
	// StagingAppEU is a second staging app, coupled by AddStagingAppEU.
	StagingAppEU = "pangeo-forge-api-staging-eu"
	herokuToken  = "heroku-test-token-0000"
	githubToken  = "ghs_testtoken0000"
)

// HerokuToken and GitHubToken are the credentials the world's test servers accept, for runners that
// pass them to the action themselves (internal/fake/cmd/testservers).
const (
	HerokuToken = herokuToken
	GitHubToken = githubToken
)

// Options tune the world.
type Options struct {
	Root        string        // the repository root (holds secrets/ and testdata/); "" finds it from the working directory
	BuildTime   time.Duration // simulated Heroku build time (0: the test server's default)
	ReleaseTime time.Duration
	PageSize    int           // Heroku and GitHub list page size (small values force paging)
	Latency     time.Duration // added to every Heroku request
	// GitHubLatency is added to every GitHub request: benchmarks set it with Latency to count
	// the GitHub round trips a run waits for too.
	GitHubLatency time.Duration
	// GitHubPathPrefix mounts the GitHub test server's API under a path, "/api/v3" as on GitHub
	// Enterprise Server; GITHUB_API_URL then ends with it.
	GitHubPathPrefix string
	// HerokuNow is Heroku's clock (created_at stamps, the Date header); nil is time.Now. Tests
	// move it to age what Heroku made, or skew it against the runner's clock.
	HerokuNow func() time.Time
	// RateLimit and RefillPerSecond scale the Heroku account's rate-limit bucket (0: Heroku's
	// 4500 tokens, refilled at 75 a minute).
	RateLimit       int
	RefillPerSecond float64
	// HerokuOptions adjusts the action's Heroku client in every run (cli.Env.HerokuOptions):
	// shorter polls and rate-limit backoffs for a scaled-down world.
	HerokuOptions func(*heroku.Options)
}

// World is a running sandbox. Close it when done.
type World struct {
	Heroku    *herokuapi.Server
	GitHub    *githubapi.Server
	Workspace string
	Root      string
	AgeKey    string
	dir       string

	herokuOptions func(*heroku.Options)

	mu        sync.Mutex
	appStatus func(host, path string) int
	untracked map[string]bool // workspace files no commit has (WriteUntracked)
	appHits   []AppRequest
}

// AppRequest is one request to an app's *.herokuapp.com URL (the health check), as the router
// answered it.
type AppRequest struct {
	Host, Path string
	Status     int
	At         time.Time // wall clock, comparable with herokuapi.Request.Received
}

// AppRequests returns every request made to the apps' URLs, in order.
func (w *World) AppRequests() []AppRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]AppRequest(nil), w.appHits...)
}

// SetAppStatus decides what the deployed apps answer on their *.herokuapp.com URLs (the health
// check): the HTTP status for a host and path. By default every app answers 200.
func (w *World) SetAppStatus(f func(host, path string) int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.appStatus = f
}

// appsTransport answers requests to the apps' *.herokuapp.com URLs in memory (nothing leaves the
// machine) and sends every other request on. It plays Heroku's router: an app in maintenance mode
// (as the Heroku test server has it) gets the maintenance page with 503 and the app never sees the
// request; otherwise the app answers as SetAppStatus says.
type appsTransport struct{ w *World }

func (t appsTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	host := r.URL.Hostname()
	if !strings.HasSuffix(host, ".herokuapp.com") {
		return http.DefaultTransport.RoundTrip(r)
	}
	t.w.mu.Lock()
	f := t.w.appStatus
	t.w.mu.Unlock()
	status, body := http.StatusOK, ""
	header := http.Header{}
	if _, maintenance, _ := t.w.Heroku.Route(host); maintenance {
		status, body = http.StatusServiceUnavailable, herokuapi.MaintenancePage
		header.Set("Content-Type", "text/html; charset=utf-8")
	} else if f != nil {
		status = f(host, r.URL.Path)
	}
	t.w.mu.Lock()
	t.w.appHits = append(t.w.appHits, AppRequest{Host: host, Path: r.URL.Path, Status: status, At: time.Now()})
	t.w.mu.Unlock()
	return &http.Response{
		StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: header, Body: io.NopCloser(strings.NewReader(body)), Request: r,
	}, nil
}

// New starts the servers and lays out the workspace.
func New(opt Options) (*World, error) {
	root := opt.Root
	if root == "" {
		var err error
		if root, err = FindRoot(); err != nil {
			return nil, err
		}
	}
	key, err := os.ReadFile(filepath.Join(root, "testdata", "demo-age-key.txt"))
	if err != nil {
		return nil, fmt.Errorf("failed to read the demo age key: %w", err)
	}
	dir, err := os.MkdirTemp("", "deploy-action-sandbox-")
	if err != nil {
		return nil, err
	}
	w := &World{Root: root, AgeKey: string(key), dir: dir, Workspace: filepath.Join(dir, "workspace"), herokuOptions: opt.HerokuOptions}
	fail := func(err error) (*World, error) { w.Close(); return nil, err }

	w.Heroku, err = herokuapi.New(herokuapi.Options{Token: herokuToken, BuildTime: opt.BuildTime, ReleaseTime: opt.ReleaseTime, PageSize: opt.PageSize, Latency: opt.Latency, Now: opt.HerokuNow,
		RateLimit: opt.RateLimit, RefillPerSecond: opt.RefillPerSecond})
	if err != nil {
		return fail(err)
	}
	w.GitHub, err = githubapi.New(githubapi.Options{Token: githubToken, PageSize: opt.PageSize, Latency: opt.GitHubLatency, PathPrefix: opt.GitHubPathPrefix, Getwd: func() (string, error) { return root, nil }})
	if err != nil {
		return fail(err)
	}
	w.Heroku.AddPipeline(Pipeline)
	w.Heroku.AddApp(StagingApp, Pipeline, "staging")
	w.Heroku.AddApp(ProdApp, Pipeline, "production")
	w.Heroku.EnableReviewApps(Pipeline, Repository)
	w.Heroku.EnableCI(Pipeline) // Heroku CI, which runs app.json's tests (inputs stage: test, heroku_ci)
	w.Heroku.AddDomain(ProdApp, ProdDomain, "powerful-harbor-5b6ajvki0ysxoh3gk56ksmi0.herokudns.com", "cert issued")
	w.Heroku.SetConfigVar(StagingApp, "DATABASE_URL", "postgres://staging-db.invalid/pangeo")
	w.Heroku.SetConfigVar(ProdApp, "DATABASE_URL", "postgres://prod-db.invalid/pangeo")
	w.Heroku.SetReleasePhase(StagingApp, true)
	w.Heroku.SetReleasePhase(ProdApp, true)
	w.GitHub.AddRepo(Repository)

	if err := copyTree(filepath.Join(root, "testdata", "sample-app"), w.Workspace); err != nil {
		return fail(err)
	}
	if err := copyTree(filepath.Join(root, "secrets"), filepath.Join(w.Workspace, "secrets")); err != nil {
		return fail(err)
	}
	return w, nil
}

// AddProdAppEU couples a second app at the pipeline's production stage, ProdAppEU, seeded like
// ProdApp (its own database, a release phase): Heroku lets a stage hold several apps, and a
// promotion goes to each of them.
func (w *World) AddProdAppEU() {
	w.Heroku.AddApp(ProdAppEU, Pipeline, "production")
	w.Heroku.SetConfigVar(ProdAppEU, "DATABASE_URL", "postgres://prod-eu-db.invalid/pangeo")
	w.Heroku.SetReleasePhase(ProdAppEU, true)
}

// AddStagingAppEU couples a second app at the pipeline's staging stage, StagingAppEU, seeded like
// StagingApp.
func (w *World) AddStagingAppEU() {
	w.Heroku.AddApp(StagingAppEU, Pipeline, "staging")
	w.Heroku.SetConfigVar(StagingAppEU, "DATABASE_URL", "postgres://staging-eu-db.invalid/pangeo")
	w.Heroku.SetReleasePhase(StagingAppEU, true)
}

// Close stops the servers and removes the workspace.
func (w *World) Close() {
	if w.Heroku != nil {
		w.Heroku.Close()
	}
	if w.GitHub != nil {
		w.GitHub.Close()
	}
	os.RemoveAll(w.dir)
}

// SHA makes a stable commit SHA from a label, so runs and golden files are reproducible.
func SHA(label string) string {
	sum := sha1.Sum([]byte(label))
	return hex.EncodeToString(sum[:])
}

// Checkout points the workspace's HEAD at sha, as actions/checkout does with a ref, and writes the
// git index: the commit is taken to hold every file the workspace has, except those written with
// WriteUntracked.
func (w *World) Checkout(sha string) error { return w.checkout(w.Workspace, sha) }

// checkout does what Checkout does in workspace: the world's, or a step's own copy.
func (w *World) checkout(workspace, sha string) error {
	gitDir := filepath.Join(workspace, ".git")
	if err := os.MkdirAll(gitDir, 0o755); err != nil {
		return err
	}
	w.mu.Lock()
	untracked := maps.Clone(w.untracked)
	w.mu.Unlock()
	if err := gittest.IndexTree(workspace, func(name string) bool { return untracked[name] }); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(gitDir, "HEAD"), []byte(sha+"\n"), 0o644)
}

// WriteUntracked writes a file into the workspace that no commit has, as an earlier step of the
// job would (a cloud credentials file, a .env, built assets): the index never lists it. name is
// slash-separated, relative to the workspace.
func (w *World) WriteUntracked(name string, data []byte) error {
	path := filepath.Join(w.Workspace, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	w.mu.Lock()
	if w.untracked == nil {
		w.untracked = map[string]bool{}
	}
	w.untracked[name] = true
	w.mu.Unlock()
	return os.WriteFile(path, data, 0o600)
}

// Step is one workflow run: an event, its payload, and the step's inputs.
type Step struct {
	Name     string // short, for file names: "pr-opened"
	Title    string
	Event    string
	Payload  map[string]any
	Inputs   map[string]string // INPUT_* beyond the defaults of the world
	Env      map[string]string // extra environment (e.g. other keys)
	Checkout string            // commit the workspace is checked out at ("" leaves it)
	// OwnWorkspace gives the step a copy of the workspace of its own, as concurrent jobs have on
	// their own runners, so that steps run at once can check out different commits.
	OwnWorkspace bool
	// Pushed says that the event follows a push to its pull request: GitHub has moved the pull
	// request's head to the event's head commit before sending the event, and Prepare moves it on
	// the GitHub test server the same way (review runs check that their commit is the head).
	Pushed bool
	SHA    string // GITHUB_SHA
	Ref    string // GITHUB_REF
}

// Run is what one step produced.
type Run struct {
	Code    int
	Log     string
	Stderr  string
	Outputs map[string]string
	Summary string
	Env     map[string]string
}

// Run performs one step through the action's entry point, in-process, with the environment the
// runner gives a container action (laid out by Prepare). The log is also copied to tee when it is
// not nil.
func (w *World) Run(ctx context.Context, step Step, tee io.Writer) (*Run, error) {
	p, err := w.Prepare(step)
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	var out io.Writer = &stdout
	if tee != nil {
		out = io.MultiWriter(&stdout, tee)
	}
	code := cli.Main(ctx, cli.Env{
		Stdout: out, Stderr: &stderr, Stdin: strings.NewReader(""),
		Getenv:        func(k string) string { return p.Env[k] },
		HTTPClient:    &http.Client{Transport: appsTransport{w}},
		HerokuOptions: w.herokuOptions,
	})
	return p.Result(code, stdout.String(), stderr.String())
}

// readOutputs parses a GITHUB_OUTPUT file: name<<DELIMITER, value lines, DELIMITER.
func readOutputs(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if line == "" {
			continue
		}
		name, delim, ok := strings.Cut(line, "<<")
		if !ok {
			if k, v, ok := strings.Cut(line, "="); ok {
				out[k] = v
				continue
			}
			return nil, fmt.Errorf("malformed output line %q", line)
		}
		var value []string
		for i++; i < len(lines) && lines[i] != delim; i++ {
			value = append(value, lines[i])
		}
		out[name] = strings.Join(value, "\n")
	}
	return out, nil
}

// FindRoot finds the repository root (the directory with go.mod) from the working directory up.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (go.mod) above the working directory")
		}
		dir = parent
	}
}

func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
}
