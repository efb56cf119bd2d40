package containertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/sandbox"
	"github.com/pangeo-forge/deploy-action/internal/secrets"
)

// actVar names the nektos/act binary that TestAct runs the workflows with (`make test-act` builds it
// into .cache/ and sets this, together with DEPLOY_ACTION_CONTAINER_TEST=1).
const actVar = "DEPLOY_ACTION_ACT"

// actRun is one workflow run under act: what the user saw.
type actRun struct {
	code    int
	log     string            // act's output: the job's steps, their logs, "Job succeeded"
	outputs map[string]string // the action's outputs, as the step after it read them
}

// actWorld is everything TestAct runs in: a podman API for act, the images, the test servers as a
// standalone process, and the workspace, a git repository whose history is the lifecycle's.
type actWorld struct {
	t         *testing.T
	act       string
	dir       string
	env       []string // act's environment (its secrets among it, never on a command line)
	args      []string // act's flags common to every run
	workspace string
	servers   struct {
		HerokuAPIURL string `json:"heroku_api_url"`
		HerokuAPIKey string `json:"heroku_api_key"`
		GitHubAPIURL string `json:"github_api_url"`
		GitHubToken  string `json:"github_token"`
		Repository   string `json:"repository"`
		Pipeline     string `json:"pipeline"`
	}
	control     io.WriteCloser     // the test servers' standard input
	stopServers func(t *testing.T) // ends the test servers' input and fails t if they saw a violation
	commits     map[string]string  // head, main, prod, main-tree
}

// TestAct runs the example workflows under nektos/act, an Actions runner no one here wrote, through
// the seed's lifecycle: pull request opened (review app), push to main (staging), push to prod
// (promotion), pull request closed (teardown). act runs the action from action.yml as a docker action
// (the image assembled FROM scratch from the built binary, tagged as action.yml names it) on podman's
// Docker-compatible API; the test servers run as their own process. Each run is judged as a user
// would: the job succeeded, the outputs a later step read, and what Heroku and GitHub hold.
func TestAct(t *testing.T) {
	w := newActWorld(t)
	const review = "review.yml"
	const deploy = "deploy.yml"
	pr := sandbox.PR
	head, mainSHA, prodSHA := w.commits["head"], w.commits["main"], w.commits["prod"]

	// Pull request opened: a review app, announced by the example's own step after the action.
	run := w.run(t, "pull_request", review, head, prEvent("opened", pr, head))
	if run.outputs["deployed"] != "true" || run.outputs["stage"] != "review" || run.outputs["commit"] != head {
		t.Fatalf("pull request opened: outputs %v, want stage review, deployed true, commit %s\n%s", run.outputs, head, run.log)
	}
	reviewApp := run.outputs["app"]
	apps := w.herokuApps(t)
	if apps[reviewApp] == "" || apps[reviewApp] != run.outputs["app_url"] {
		t.Errorf("pull request opened: Heroku's apps %v, want the review app %s at %s", apps, reviewApp, run.outputs["app_url"])
	}
	if want := fmt.Sprintf("Review app %s is up at %s", reviewApp, run.outputs["app_url"]); !strings.Contains(run.log, want) {
		t.Errorf("pull request opened: the example's step after the action did not print %q\n%s", want, run.log)
	}
	if ras := w.reviewApps(t); ras[pr] != "created" {
		t.Errorf("pull request opened: the pipeline's review apps by pull request %v, want #%d created", ras, pr)
	}
	w.wantCheckRun(t, head, "deploy/review")

	// Push to main: staging built from the pushed commit.
	run = w.run(t, "push", deploy, mainSHA, pushEvent("refs/heads/main", head, mainSHA, w.commits["main-tree"]))
	if run.outputs["stage"] != "staging" || run.outputs["deployed"] != "true" || run.outputs["app"] != sandbox.StagingApp || run.outputs["build_id"] == "" || run.outputs["commit"] != mainSHA {
		t.Fatalf("push to main: outputs %v, want staging %s built from %s\n%s", run.outputs, sandbox.StagingApp, mainSHA, run.log)
	}
	build := w.herokuGet(t, "/apps/"+sandbox.StagingApp+"/builds/"+run.outputs["build_id"])
	if build["status"] != "succeeded" || nested(build, "source_blob", "version") != mainSHA {
		t.Errorf("push to main: Heroku's build %v, want succeeded from %s", build, mainSHA)
	}
	stagingSlug := w.currentSlug(t, sandbox.StagingApp)
	if nested(build, "slug", "id") != stagingSlug {
		t.Errorf("push to main: staging runs slug %s, want the build's %v", stagingSlug, nested(build, "slug", "id"))
	}
	w.wantCheckRun(t, mainSHA, "deploy/staging")

	// Push to prod: staging's release promoted, nothing built.
	run = w.run(t, "push", deploy, prodSHA, pushEvent("refs/heads/prod", mainSHA, prodSHA, w.commits["main-tree"]))
	if run.outputs["stage"] != "prod" || run.outputs["deployed"] != "true" || run.outputs["app"] != sandbox.ProdApp || run.outputs["build_id"] != "" {
		t.Fatalf("push to prod: outputs %v, want prod %s promoted without a build\n%s", run.outputs, sandbox.ProdApp, run.log)
	}
	if got := w.currentSlug(t, sandbox.ProdApp); got != stagingSlug {
		t.Errorf("push to prod: production runs slug %s, want staging's %s (promoted)", got, stagingSlug)
	}
	w.wantCheckRun(t, prodSHA, "deploy/prod")

	// Pull request closed (GitHub closes it, then sends the event): the review app is torn down.
	if _, err := fmt.Fprintf(w.control, "close-pull-request %d\n", pr); err != nil {
		t.Fatal(err)
	}
	run = w.run(t, "pull_request", review, head, prEvent("closed", pr, head))
	if run.outputs["stage"] != "teardown" || run.outputs["deployed"] != "false" {
		t.Fatalf("pull request closed: outputs %v, want stage teardown, deployed false\n%s", run.outputs, run.log)
	}
	if strings.Contains(run.log, "Review app ") {
		t.Errorf("pull request closed: the example's announcement step ran, but nothing was deployed\n%s", run.log)
	}
	if ras := w.reviewApps(t); ras[pr] != "" {
		t.Errorf("pull request closed: the pipeline still lists a review app for #%d (%s)", pr, ras[pr])
	}
	if url, ok := w.herokuApps(t)[reviewApp]; ok {
		t.Errorf("pull request closed: Heroku still has the review app %s (%s)", reviewApp, url)
	}

	// The servers saw nothing that breaks their APIs' descriptions (the command exits 1 otherwise).
	w.stopServers(t)
}

func newActWorld(t *testing.T) *actWorld {
	t.Helper()
	act := os.Getenv(actVar)
	if act == "" {
		t.Skipf("act is not set up: run `make test-act` (builds nektos/act and sets %s)", actVar)
	}
	e, ref := testImage(t)
	root, err := sandbox.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w := &actWorld{t: t, act: act, dir: t.TempDir(), commits: map[string]string{}}

	// The action, as act finds it: action.yml in a directory of its own (act reads the local
	// repository that --local-repository names), its image tagged as action.yml names it.
	a := readAction(t)
	actionImage, ok := strings.CutPrefix(a.Runs.Image, "docker://")
	if !ok {
		t.Fatalf("action.yml's image %q is not a docker:// image", a.Runs.Image)
	}
	if _, err := e.run(ctx, "tag", ref, actionImage); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.run(context.Background(), "untag", ref, actionImage) })
	actionDir := filepath.Join(w.dir, "action")
	if err := os.MkdirAll(actionDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(filepath.Join(root, "action.yml"), filepath.Join(actionDir, "action.yml")); err != nil {
		t.Fatal(err)
	}

	jobImage := buildJobImage(t, e, ref)
	dockerHost := startDockerAPI(t, e, w.dir)
	w.workspace = w.makeRepository(t, root)
	w.startServers(t, root)

	key, err := os.ReadFile(filepath.Join(root, "testdata", "demo-age-key.txt"))
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(w.dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	w.env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"), "DOCKER_HOST=" + dockerHost,
		"HEROKU_API_KEY=" + w.servers.HerokuAPIKey, "GITHUB_TOKEN=" + w.servers.GitHubToken,
		"SOPS_AGE_KEY=" + ageSecretKey(string(key)),
	}
	w.args = []string{
		"--pull=false", "--no-cache-server", "--container-daemon-socket", "-",
		"-P", "ubuntu-24.04=" + jobImage,
		"--local-repository", "pangeo-forge/deploy-action@v1=" + actionDir,
		"--action-cache-path", filepath.Join(w.dir, "act-cache"),
		"-s", "HEROKU_API_KEY", "-s", "GITHUB_TOKEN", "-s", "SOPS_AGE_KEY",
		"--var", "HEROKU_API_URL=" + w.servers.HerokuAPIURL,
		"--env", "GITHUB_API_URL=" + w.servers.GitHubAPIURL,
		"-C", w.workspace,
	}
	return w
}

// ageSecretKey is the AGE-SECRET-KEY line of an age key file: one line, as a secret is set.
func ageSecretKey(file string) string {
	for _, line := range strings.Split(file, "\n") {
		if strings.HasPrefix(line, "AGE-SECRET-KEY-") {
			return strings.TrimSpace(line)
		}
	}
	return strings.TrimSpace(file)
}

// buildJobImage assembles the job container's image FROM scratch: a static bash (act runs `run:`
// steps with `bash -e`, as GitHub's runners do) and a static busybox for the tools steps use, so that
// act runs the steps in a container as on GitHub's runners, not on the host.
func buildJobImage(t *testing.T, e *engine, actionRef string) string {
	t.Helper()
	tools := map[string]string{"bash": "bash-static", "busybox": "busybox"}
	paths := map[string]string{}
	for name, bin := range tools {
		path, err := exec.LookPath(bin)
		if err != nil {
			t.Skipf("%s is not installed: apt-get install -y bash-static busybox-static (.ci/run installs them)", bin)
		}
		if err := checkStatic(path); err != nil {
			t.Fatalf("%s: %v: install %s-static", path, err, name)
		}
		paths[name] = path
	}
	dir := filepath.Join(t.TempDir(), "job")
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command(paths["busybox"], "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if _, own := tools[applet]; !own {
			if err := os.Symlink("busybox", filepath.Join(bin, applet)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, path := range paths {
		if err := copyFile(path, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(bin, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte("FROM scratch\nCOPY bin /bin\nCMD [\"/bin/bash\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := strings.Replace(actionRef, "deploy-action-containertest", "deploy-action-act-job", 1)
	if _, err := e.run(context.Background(), "build", "--quiet", "--tag", ref, "--file", filepath.Join(dir, "Containerfile"), dir); err != nil {
		t.Fatalf("building the job image: %v", err)
	}
	t.Cleanup(func() { e.run(context.Background(), "rmi", "--force", ref) })
	return ref
}

// startDockerAPI serves podman's Docker-compatible API on a socket of the test's for act, with the
// engine's own settings (runc, cgroupfs, containers.conf); with docker, act uses DOCKER_HOST as is.
func startDockerAPI(t *testing.T, e *engine, dir string) string {
	t.Helper()
	if filepath.Base(e.bin) != "podman" {
		if h := os.Getenv("DOCKER_HOST"); h != "" {
			return h
		}
		return "unix:///var/run/docker.sock"
	}
	sock := filepath.Join(dir, "podman.sock")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := e.command(ctx, nil, "system", "service", "--time=0", "unix://"+sock)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting podman's API service: %v", err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := client.Get("http://podman/_ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return "unix://" + sock
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("podman's API service did not answer on %s: %v\n%s", sock, err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// makeRepository makes the service's repository: the sample app and its secrets on main, a pull
// request's branch with one commit, main with the pull request merged, and prod with main merged (a
// new commit with main's tree, so prod promotes what staging built). The remote names the seed's
// repository on github.com, from which act takes github.repository; nothing is ever fetched.
func (w *actWorld) makeRepository(t *testing.T, root string) string {
	t.Helper()
	dir := filepath.Join(w.dir, "workspace")
	for _, c := range [][2]string{
		{filepath.Join(root, "testdata", "sample-app"), dir},
		{filepath.Join(root, "secrets"), filepath.Join(dir, "secrets")},
	} {
		if err := copyTree(c[0], c[1]); err != nil {
			t.Fatal(err)
		}
	}
	g := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=Charles Stern", "-c", "user.email=cisaacstern@users.noreply.github.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	g("init", "-q", "-b", "main")
	g("remote", "add", "origin", "https://github.com/"+sandbox.Repository+".git")
	g("add", "-A")
	g("commit", "-q", "-m", "Initial commit")
	base := g("rev-parse", "HEAD")
	g("checkout", "-q", "-b", sandbox.PRBranch)
	f, err := os.OpenFile(filepath.Join(dir, "pangeo_forge_orchestrator", "status.py"), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "# The recipe run status endpoint.")
	f.Close()
	g("add", "-A")
	g("commit", "-q", "-m", "Add recipe run status endpoint")
	w.commits["head"] = g("rev-parse", "HEAD")
	g("checkout", "-q", "main")
	g("merge", "-q", "--no-ff", "-m", fmt.Sprintf("Merge pull request #%d", sandbox.PR), sandbox.PRBranch)
	w.commits["main"] = g("rev-parse", "HEAD")
	w.commits["main-tree"] = g("rev-parse", "HEAD^{tree}")
	g("checkout", "-q", "-b", "prod", base)
	g("merge", "-q", "--no-ff", "-m", "Merge main into prod", "main")
	w.commits["prod"] = g("rev-parse", "HEAD")
	if tree := g("rev-parse", "HEAD^{tree}"); tree != w.commits["main-tree"] {
		t.Fatalf("prod's tree %s differs from main's %s", tree, w.commits["main-tree"])
	}
	return dir
}

// startServers runs the test servers (internal/fake/cmd/testservers) seeded from the workspace's
// history, and reads their URLs.
func (w *actWorld) startServers(t *testing.T, root string) {
	t.Helper()
	bin := filepath.Join(w.dir, "testservers")
	build := exec.Command("go", "build", "-o", bin, "./internal/fake/cmd/testservers")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the test servers: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-git", w.workspace, "-labels", "deploy-review")
	cmd.Dir = root
	var err error
	if w.control, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	t.Cleanup(func() {
		w.control.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		cmd.Wait()
		t.Fatalf("the test servers did not start:\n%s", stderr.String())
	}
	if err := json.Unmarshal(lines.Bytes(), &w.servers); err != nil {
		t.Fatalf("the test servers printed %q: %v", lines.Text(), err)
	}
	go func() {
		for lines.Scan() {
		}
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, stderr.String())
		}
		done <- err
	}()
	w.stopServers = func(t *testing.T) {
		t.Helper()
		w.control.Close()
		if err := <-done; err != nil {
			t.Errorf("the test servers: %v", err)
		}
		done <- nil
	}
}

// run runs one workflow for one event with the workspace checked out at sha, and reads the outputs
// the step after the action printed.
func (w *actWorld) run(t *testing.T, event, workflow, sha string, payload map[string]any) actRun {
	t.Helper()
	root, err := sandbox.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "docs", "workflows", workflow))
	if err != nil {
		t.Fatal(err)
	}
	copied, err := actWorkflow(src)
	if err != nil {
		t.Fatal(err)
	}
	runDir, err := os.MkdirTemp(w.dir, "run-")
	if err != nil {
		t.Fatal(err)
	}
	wf := filepath.Join(runDir, workflow)
	ev := filepath.Join(runDir, "event.json")
	data, err := json.MarshalIndent(payload, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wf, copied, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ev, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "-C", w.workspace, "checkout", "-q", "--detach", sha).CombinedOutput(); err != nil {
		t.Fatalf("git checkout %s: %v\n%s", sha, err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.act, append([]string{event, "-W", wf, "-e", ev}, w.args...)...)
	cmd.Dir = runDir // no .actrc, .secrets, .env or .vars of anyone's is read
	cmd.Env = w.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	run := actRun{log: out.String(), outputs: map[string]string{}}
	if err != nil {
		run.code = -1
		if exit, ok := err.(*exec.ExitError); ok {
			run.code = exit.ExitCode()
		}
	}
	t.Logf("act %s (%s at %.12s): exit %d in %v", event, workflow, sha, run.code, time.Since(start).Round(time.Second))
	if run.code != 0 || !strings.Contains(run.log, "Job succeeded") {
		t.Fatalf("act %s with %s: exit %d, want a succeeded job\n%s\n--- the workflow as act ran it:\n%s", event, workflow, run.code, run.log, copied)
	}
	m := regexp.MustCompile(regexp.QuoteMeta(outputsMarker) + `([0-9a-f]+)\s*$`)
	for _, line := range strings.Split(run.log, "\n") {
		if g := m.FindStringSubmatch(line); g != nil {
			data, err := hex.DecodeString(g[1])
			if err != nil {
				t.Fatalf("the outputs line %q: %v", line, err)
			}
			if err := json.Unmarshal(data, &run.outputs); err != nil {
				t.Fatalf("the outputs line %q: %v\n%s", line, err, data)
			}
		}
	}
	if len(run.outputs) == 0 {
		t.Fatalf("act %s: no step printed the action's outputs\n%s", event, run.log)
	}
	for _, leak := range leaks(t, root, run.log) {
		t.Errorf("act %s: the log shows a secret: %s", event, leak)
	}
	return run
}

// leaks lists the decrypted demo secrets and the age key that occur in text, by where they are from.
func leaks(t *testing.T, root, text string) []string {
	t.Helper()
	key, err := os.ReadFile(filepath.Join(root, "testdata", "demo-age-key.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	if strings.Contains(text, ageSecretKey(string(key))) {
		out = append(out, "the age key")
	}
	files, err := filepath.Glob(filepath.Join(root, "secrets", "config.*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no demo secrets files: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "config."), ".yaml")
		vars, err := secrets.Load(context.Background(), filepath.Join(root, "secrets"), name, secrets.Options{
			Getenv: func(k string) string {
				if k == "SOPS_AGE_KEY" {
					return string(key)
				}
				return ""
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range vars {
			for _, line := range secrets.MaskLines(v) {
				// Short values ("true", "1") occur in any log by chance.
				if len(line) >= 8 && strings.Contains(text, line) {
					out = append(out, fmt.Sprintf("%s of %s", k, name))
				}
			}
		}
	}
	return out
}

func prEvent(action string, number int, head string) map[string]any {
	ev := sandbox.PullRequestEvent(action, number, head)
	ev["pull_request"].(map[string]any)["labels"] = []any{map[string]any{"name": "deploy-review"}}
	return ev
}

func pushEvent(ref, before, after, tree string) map[string]any {
	ev := sandbox.PushEvent(ref, before, after)
	ev["head_commit"] = map[string]any{"id": after, "message": "Merge", "tree_id": tree}
	return ev
}

// herokuGet reads a Heroku Platform API resource from the test server, as the Heroku CLI would.
func (w *actWorld) herokuGet(t *testing.T, path string) map[string]any {
	t.Helper()
	var v map[string]any
	w.apiGet(t, w.servers.HerokuAPIURL+path, w.servers.HerokuAPIKey, "application/vnd.heroku+json; version=3", &v)
	return v
}

// herokuApps is the account's apps: name -> web URL.
func (w *actWorld) herokuApps(t *testing.T) map[string]string {
	t.Helper()
	var list []map[string]any
	w.apiGet(t, w.servers.HerokuAPIURL+"/apps", w.servers.HerokuAPIKey, "application/vnd.heroku+json; version=3", &list)
	apps := map[string]string{}
	for _, a := range list {
		apps[fmt.Sprint(a["name"])] = fmt.Sprint(a["web_url"])
	}
	return apps
}

// reviewApps is the pipeline's review apps: pull request number -> status.
func (w *actWorld) reviewApps(t *testing.T) map[int]string {
	t.Helper()
	pipeline := w.herokuGet(t, "/pipelines/"+w.servers.Pipeline)
	var list []map[string]any
	w.apiGet(t, fmt.Sprintf("%s/pipelines/%v/review-apps", w.servers.HerokuAPIURL, pipeline["id"]), w.servers.HerokuAPIKey, "application/vnd.heroku+json; version=3", &list)
	out := map[int]string{}
	for _, ra := range list {
		if n, ok := ra["pr_number"].(float64); ok {
			out[int(n)] = fmt.Sprint(ra["status"])
		}
	}
	return out
}

// currentSlug is the slug of the app's current release.
func (w *actWorld) currentSlug(t *testing.T, app string) string {
	t.Helper()
	var releases []map[string]any
	w.apiGet(t, w.servers.HerokuAPIURL+"/apps/"+app+"/releases", w.servers.HerokuAPIKey, "application/vnd.heroku+json; version=3", &releases)
	for _, r := range releases {
		if r["current"] == true {
			return fmt.Sprint(nested(r, "slug", "id"))
		}
	}
	t.Fatalf("%s has no current release: %v", app, releases)
	return ""
}

// wantCheckRun: GitHub shows the commit a successful check run of that name.
func (w *actWorld) wantCheckRun(t *testing.T, sha, name string) {
	t.Helper()
	var list struct {
		CheckRuns []struct {
			Name       string `json:"name"`
			Status     string `json:"status"`
			Conclusion string `json:"conclusion"`
		} `json:"check_runs"`
	}
	w.apiGet(t, w.servers.GitHubAPIURL+"/repos/"+w.servers.Repository+"/commits/"+sha+"/check-runs", w.servers.GitHubToken, "application/vnd.github+json", &list)
	for _, cr := range list.CheckRuns {
		if cr.Name == name {
			if cr.Status != "completed" || cr.Conclusion != "success" {
				t.Errorf("check run %s on %.12s: %s/%s, want completed/success", name, sha, cr.Status, cr.Conclusion)
			}
			return
		}
	}
	t.Errorf("no check run %s on %.12s: %+v", name, sha, list.CheckRuns)
}

func (w *actWorld) apiGet(t *testing.T, url, token, accept string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, body)
	}
}

func nested(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

// copyTree copies a directory tree (files and directories only).
func copyTree(from, to string) error {
	return filepath.Walk(from, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		return copyFile(path, filepath.Join(to, rel))
	})
}
