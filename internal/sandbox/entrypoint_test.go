package sandbox

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
)

// writes are the requests that change something on Heroku. The source upload (POST /sources, then
// the PUT of the tarball to the URL it gives) is not one: it changes no app, and the action makes it
// beside its first reads, before the checks that guard the writes have answered (docs/performance.md).
func writes(reqs []herokuapi.Request) []string {
	var out []string
	for _, r := range reqs {
		if r.Method != "GET" && r.Method != "HEAD" && !isUpload(r) {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// isUpload says whether r is part of a source upload.
func isUpload(r herokuapi.Request) bool {
	return r.Method == "POST" && r.Path == "/sources" || r.Method == "PUT" && strings.HasPrefix(r.Path, "/blobs/")
}

func errorLines(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.HasPrefix(line, "::error") {
			out = append(out, line)
		}
	}
	return out
}

func labeled(action, label string, labels ...string) map[string]any {
	p := PullRequestEvent(action, PR, CommitOpened)
	var ls []any
	for _, l := range labels {
		ls = append(ls, map[string]any{"name": l})
	}
	p["pull_request"].(map[string]any)["labels"] = ls
	if label != "" {
		p["label"] = map[string]any{"name": label}
	}
	return p
}

func fork(action string) map[string]any {
	p := PullRequestEvent(action, PR, CommitOpened)
	head := p["pull_request"].(map[string]any)["head"].(map[string]any)
	head["repo"] = map[string]any{"full_name": "someone/pangeo-forge-orchestrator", "name": "pangeo-forge-orchestrator", "owner": map[string]any{"login": "someone"}}
	return p
}

// TestEventTable drives each row of the event table through the entry point.
func TestEventTable(t *testing.T) {
	t.Parallel()
	prStep := func(action string, payload map[string]any) Step {
		return Step{Event: "pull_request", Payload: payload, Checkout: CommitOpened, SHA: SHA("merge"), Ref: "refs/pull/80/merge"}
	}
	tests := []struct {
		name       string
		step       Step
		before     []Step // runs that set the scene
		wantStage  string
		deployed   string
		wantWrites bool
		notice     string // in the log when skipped
	}{
		{name: "reopened", step: prStep("reopened", PullRequestEvent("reopened", PR, CommitOpened)), wantStage: "review", deployed: "true", wantWrites: true},
		{name: "ready for review", step: prStep("ready_for_review", PullRequestEvent("ready_for_review", PR, CommitOpened)), wantStage: "review", deployed: "true", wantWrites: true},
		{name: "labeled with the review label", step: withInputs(prStep("labeled", labeled("labeled", "deploy", "deploy")), "review_label", "deploy"), wantStage: "review", deployed: "true", wantWrites: true},
		{name: "opened without the review label", step: withInputs(prStep("opened", labeled("opened", "")), "review_label", "deploy"), deployed: "false", notice: "deploy"},
		{name: "unlabeled tears down", before: []Step{Lifecycle()[0]}, step: withInputs(prStep("unlabeled", labeled("unlabeled", "deploy")), "review_label", "deploy"), wantStage: "teardown", deployed: "false", wantWrites: true},
		{name: "fork pull request is skipped", step: prStep("opened", fork("opened")), deployed: "false", notice: "fork"},
		{name: "push to another branch", step: Step{Event: "push", Payload: PushEvent("refs/heads/feature", SHA("a"), CommitMain), Checkout: CommitMain, SHA: CommitMain, Ref: "refs/heads/feature"}, deployed: "false", notice: "feature"},
		{name: "branch deletion", step: Step{Event: "push", Payload: deleted(PushEvent("refs/heads/main", CommitMain, zeroSHA)), SHA: zeroSHA, Ref: "refs/heads/main"}, deployed: "false", notice: "delet"},
		{name: "unhandled event", step: Step{Event: "issue_comment", Payload: map[string]any{"action": "created"}, SHA: CommitMain, Ref: "refs/heads/main"}, deployed: "false", notice: "issue_comment"},
		{name: "manual promotion", before: Lifecycle()[2:3], step: withInputs(Step{Event: "workflow_dispatch", Payload: map[string]any{"ref": "refs/heads/main", "inputs": map[string]any{}}, Checkout: CommitMain, SHA: CommitMain, Ref: "refs/heads/main"}, "stage", "prod"), wantStage: "prod", deployed: "true", wantWrites: true},
		{name: "dry run changes nothing", step: withInputs(Lifecycle()[0], "dry_run", "true"), wantStage: "review", deployed: "false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			for _, s := range tt.before {
				if run, err := w.Run(context.Background(), s, nil); err != nil || run.Code != 0 {
					t.Fatalf("setting the scene: %v %v", err, run)
				}
			}
			before := len(w.Heroku.Requests())
			run, err := w.Run(context.Background(), tt.step, nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.Code != 0 {
				t.Fatalf("exit code %d, want 0\n%s", run.Code, run.Log)
			}
			if got := run.Outputs["stage"]; tt.wantStage != "" && got != tt.wantStage {
				t.Errorf("stage output = %q, want %q", got, tt.wantStage)
			}
			if got := run.Outputs["deployed"]; got != tt.deployed {
				t.Errorf("deployed output = %q, want %q\n%s", got, tt.deployed, run.Log)
			}
			if w := writes(w.Heroku.Requests()[before:]); (len(w) > 0) != tt.wantWrites {
				t.Errorf("Heroku writes = %v, want writes: %v", w, tt.wantWrites)
			}
			if tt.notice != "" && !strings.Contains(run.Log, "::notice::") || !strings.Contains(strings.ToLower(run.Log), strings.ToLower(tt.notice)) {
				t.Errorf("log lacks a notice mentioning %q:\n%s", tt.notice, run.Log)
			}
			if v := w.Heroku.Violations(); len(v) > 0 {
				t.Errorf("Heroku schema violations: %v", v)
			}
		})
	}
}

const zeroSHA = "0000000000000000000000000000000000000000"

func deleted(p map[string]any) map[string]any { p["deleted"] = true; return p }

func withInputs(s Step, kv ...string) Step {
	s.Inputs = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		s.Inputs[kv[i]] = kv[i+1]
	}
	return s
}

// TestSweep: a scheduled teardown removes the review apps of closed pull requests and keeps the others.
func TestSweep(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if run, err := w.Run(context.Background(), Lifecycle()[0], nil); err != nil || run.Code != 0 {
		t.Fatalf("creating the review app: %v %+v", err, run)
	}
	keep := "keep"
	_ = keep
	w.GitHub.ClosePullRequest(Repository, PR)
	run, err := w.Run(context.Background(), withInputs(Step{Event: "schedule", Payload: map[string]any{"schedule": "0 3 * * *"}, SHA: CommitMain, Ref: "refs/heads/main"}, "stage", "teardown"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if run.Code != 0 {
		t.Fatalf("exit %d\n%s", run.Code, run.Log)
	}
	for _, ra := range w.Heroku.ReviewApps(Pipeline) {
		if ra.Status != "deleting" {
			t.Errorf("review app of the closed PR = %+v, want it deleted", ra)
		}
	}
	if !strings.Contains(run.Log, "pull request #80 is closed") {
		t.Errorf("log does not say why the app was removed:\n%s", run.Log)
	}
}

// TestBadInput: each mistake ends with one ::error line saying what to do, a non-zero exit, and no
// change on Heroku that could have been avoided.
func TestBadInput(t *testing.T) {
	t.Parallel()
	opened := Lifecycle()[0]
	staging := Lifecycle()[2]
	tests := []struct {
		name   string
		setup  func(w *World, s *Step)
		step   Step
		code   int
		want   string // in the ::error line
		writes bool   // Heroku writes are expected (the failure is Heroku's own)
	}{
		{name: "missing event file", step: opened, setup: func(w *World, s *Step) {
			s.Env = map[string]string{"GITHUB_EVENT_PATH": filepath.Join(w.dir, "nope.json")}
		}, code: 2, want: "GITHUB_EVENT_PATH"},
		{name: "malformed event", step: opened, setup: func(w *World, s *Step) {
			p := filepath.Join(w.dir, "bad.json")
			os.WriteFile(p, []byte("{not json"), 0o644)
			s.Env = map[string]string{"GITHUB_EVENT_PATH": p}
		}, code: 2, want: "bad.json"},
		{name: "missing pipeline input", step: withInputs(opened, "pipeline", ""), code: 2, want: "pipeline"},
		{name: "unknown stage", step: withInputs(opened, "stage", "production"), code: 2, want: `"production"`},
		{name: "template yields an invalid name", step: withInputs(opened, "review_name", "PR_{pr}"), code: 2, want: "review_name"},
		{name: "pipeline does not exist", step: withInputs(staging, "pipeline", "no-such-pipeline"), code: 1, want: "no-such-pipeline"},
		{name: "no secrets file and no fallback", step: opened, setup: func(w *World, s *Step) {
			os.Remove(filepath.Join(w.Workspace, "secrets", "config.pforge-pr-80.yaml"))
		}, code: 1, want: "review_fallback"},
		{name: "plaintext secrets file", step: staging, setup: func(w *World, s *Step) {
			os.WriteFile(filepath.Join(w.Workspace, "secrets", "config.pangeo-forge-staging.yaml"), []byte("fastapi:\n  PANGEO_FORGE_API_KEY: plain\n"), 0o644)
		}, code: 1, want: "config.pangeo-forge-staging.yaml"},
		{name: "tampered secrets file", step: staging, setup: func(w *World, s *Step) {
			p := filepath.Join(w.Workspace, "secrets", "config.pangeo-forge-staging.yaml")
			data, _ := os.ReadFile(p)
			i := strings.Index(string(data), "PANGEO_FORGE_API_KEY: ENC[AES256_GCM,data:") + len("PANGEO_FORGE_API_KEY: ENC[AES256_GCM,data:")
			b := []byte(string(data))
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			os.WriteFile(p, b, 0o644)
		}, code: 1, want: "config.pangeo-forge-staging.yaml"},
		{name: "wrong age key", step: staging, setup: func(w *World, s *Step) {
			other, err := age.GenerateX25519Identity()
			if err != nil {
				t.Fatal(err)
			}
			s.Env = map[string]string{"SOPS_AGE_KEY": other.String()}
		}, code: 1, want: "config.pangeo-forge-staging.yaml"},
		{name: "checkout at the merge commit", step: opened, setup: func(w *World, s *Step) { s.Checkout = SHA("merge-ref-1") }, code: 1, want: "github.event.pull_request.head.sha"},
		{name: "no staging app", step: staging, setup: func(w *World, s *Step) {
			s.Inputs = map[string]string{"pipeline": "empty-pipeline"}
			w.Heroku.AddPipeline("empty-pipeline")
		}, code: 1, want: "staging"},
		{name: "review apps not enabled", step: opened, setup: func(w *World, s *Step) {
			s.Inputs = map[string]string{"pipeline": "no-review"}
			w.Heroku.AddPipeline("no-review")
		}, code: 1, want: "review app"},
		{name: "failed build", step: staging, setup: func(w *World, s *Step) { w.Heroku.FailBuilds(StagingApp, "pip: no matching distribution") }, code: 1, want: "build", writes: true},
		{name: "second factor required", step: staging, setup: func(w *World, s *Step) { w.Heroku.RequireSecondFactor(StagingApp) }, code: 1, want: "heroku authorizations:create", writes: true},
		{name: "failed release phase", step: staging, setup: func(w *World, s *Step) { w.Heroku.SetReleasePhase(StagingApp, false) }, code: 1, want: "release", writes: true},
		{name: "errored review app", step: opened, setup: func(w *World, s *Step) {
			w.Heroku.FailReviewApps(Pipeline, "add-on heroku-postgresql could not be provisioned")
		}, code: 1, want: "heroku-postgresql", writes: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			step := tt.step
			if tt.setup != nil {
				tt.setup(w, &step)
			}
			run, err := w.Run(context.Background(), step, nil)
			if err != nil {
				t.Fatal(err)
			}
			if run.Code != tt.code {
				t.Errorf("exit code %d, want %d\n%s", run.Code, tt.code, run.Log)
			}
			errs := errorLines(run.Log)
			if len(errs) != 1 || !strings.Contains(strings.ToLower(errs[0]), strings.ToLower(tt.want)) {
				t.Errorf("::error lines = %q, want one mentioning %q\n%s", errs, tt.want, run.Log)
			}
			if got := writes(w.Heroku.Requests()); !tt.writes && len(got) > 0 {
				t.Errorf("Heroku writes after bad input: %v", got)
			}
			if run.Outputs["deployed"] == "true" {
				t.Errorf("deployed=true after a failure")
			}
		})
	}
}

// TestSweepByAge: with review_ttl, a scheduled teardown also removes review apps of open pull
// requests that were not deployed for longer than that.
func TestSweepByAge(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	mustRun(t, w, ctx, Lifecycle()[0]) // PR #80 stays open
	sweep := withInputs(Step{Event: "schedule", Payload: map[string]any{"schedule": "0 3 * * *"}, SHA: CommitMain, Ref: "refs/heads/main"}, "stage", "teardown", "review_ttl", "1h")
	if run := mustRun(t, w, ctx, sweep); !strings.Contains(run.Log, "No review app") {
		t.Errorf("an hour-long TTL removed a fresh review app:\n%s", run.Log)
	}
	time.Sleep(50 * time.Millisecond)
	sweep.Inputs["review_ttl"] = "20ms"
	run := mustRun(t, w, ctx, sweep)
	if !strings.Contains(run.Log, "not deployed for more than 20ms") {
		t.Errorf("the log does not say why the app was removed:\n%s", run.Log)
	}
	for _, ra := range w.Heroku.ReviewApps(Pipeline) {
		if ra.Status != "deleting" {
			t.Errorf("review app past its TTL = %+v, want it deleted", ra)
		}
	}
}

// TestAppDir: with app_dir, only that subdirectory is uploaded, as the root of the app.
func TestAppDir(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	sub := filepath.Join(w.Workspace, "services", "api")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Procfile", "app.json", "requirements.txt", "runtime.txt"} {
		if err := os.Rename(filepath.Join(w.Workspace, name), filepath.Join(sub, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(w.Workspace, "README.md"), []byte("not part of the app\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := mustRun(t, w, context.Background(), withInputs(Lifecycle()[2], "app_dir", "services/api"))
	if run.Outputs["deployed"] != "true" {
		t.Fatalf("outputs = %v\n%s", run.Outputs, run.Log)
	}
	var names []string
	for _, r := range w.Heroku.Requests() {
		if r.Method != "PUT" {
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(r.Body))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, h.Name)
		}
	}
	if !slices.Contains(names, "app.json") || !slices.Contains(names, "Procfile") || slices.Contains(names, "README.md") || slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "services") || strings.HasPrefix(n, "secrets") }) {
		t.Errorf("uploaded entries = %v, want the app's files at the root and nothing else", names)
	}
}
