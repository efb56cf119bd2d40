package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Prepared is one step laid out for a runner other than the in-process one (a container, another
// process): the files the Actions runner gives a container action, and the step's environment with
// host paths. Whoever runs it mounts the directories and rewrites the paths, then calls Result.
type Prepared struct {
	// Env is the environment Run would pass to the entry point for the same step, with host paths.
	Env map[string]string
	// Workspace is the checkout (GITHUB_WORKSPACE), mounted at /github/workspace by the runner.
	Workspace string
	// WorkflowDir holds event.json (GITHUB_EVENT_PATH), mounted at /github/workflow.
	WorkflowDir string
	// FileCommandsDir holds the GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, mounted at
	// /github/file_commands.
	FileCommandsDir string
	// HomeDir is an empty directory for HOME, mounted at /github/home.
	HomeDir string

	outputPath, summaryPath string
}

// File names inside the prepared directories, as the runner names them (it adds a random suffix to
// the file commands; a fixed one keeps test logs stable).
const (
	EventFile   = "event.json"
	OutputFile  = "set_output_sandbox"
	SummaryFile = "step_summary_sandbox"
)

// Prepare lays out step as Run would, without running it: it writes the event payload, the empty
// output and summary files and checks out the workspace, and returns the environment Run would use.
func (w *World) Prepare(step Step) (*Prepared, error) {
	if step.Pushed {
		pr, _ := step.Payload["pull_request"].(map[string]any)
		head, _ := pr["head"].(map[string]any)
		var number int
		switch n := pr["number"].(type) {
		case int:
			number = n
		case float64: // a payload read from JSON
			number = int(n)
		}
		sha, _ := head["sha"].(string)
		if number == 0 || sha == "" {
			return nil, fmt.Errorf("step %q is Pushed but its payload names no pull request number and head sha", step.Name)
		}
		w.GitHub.SetPullRequestHead(Repository, number, sha)
	}
	runDir, err := os.MkdirTemp(w.dir, "prepared-")
	if err != nil {
		return nil, err
	}
	p := &Prepared{
		Workspace:       w.Workspace,
		WorkflowDir:     filepath.Join(runDir, "workflow"),
		FileCommandsDir: filepath.Join(runDir, "file_commands"),
		HomeDir:         filepath.Join(runDir, "home"),
	}
	for _, d := range []string{p.WorkflowDir, p.FileCommandsDir, p.HomeDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	payload, err := json.MarshalIndent(step.Payload, "", "  ")
	if err != nil {
		return nil, err
	}
	eventPath := filepath.Join(p.WorkflowDir, EventFile)
	if err := os.WriteFile(eventPath, payload, 0o644); err != nil {
		return nil, err
	}
	p.outputPath = filepath.Join(p.FileCommandsDir, OutputFile)
	p.summaryPath = filepath.Join(p.FileCommandsDir, SummaryFile)
	for _, f := range []string{p.outputPath, p.summaryPath} {
		// A container runs as root but the host test may not: the runner's files are writable by all.
		if err := os.WriteFile(f, nil, 0o666); err != nil {
			return nil, err
		}
	}
	if step.OwnWorkspace {
		// A job of its own, on a runner of its own: a copy of the workspace, checked out apart.
		p.Workspace = filepath.Join(runDir, "workspace")
		if err := copyTree(w.Workspace, p.Workspace); err != nil {
			return nil, err
		}
	}
	if step.Checkout != "" {
		if err := w.checkout(p.Workspace, step.Checkout); err != nil {
			return nil, err
		}
	}
	p.Env = w.stepEnv(step, p.Workspace, eventPath, p.outputPath, p.summaryPath)
	return p, nil
}

// stepEnv is the environment of one step, with the runner's files at the given paths.
func (w *World) stepEnv(step Step, workspace, eventPath, outputPath, summaryPath string) map[string]string {
	env := map[string]string{
		"GITHUB_ACTIONS":       "true",
		"GITHUB_WORKSPACE":     workspace,
		"GITHUB_EVENT_NAME":    step.Event,
		"GITHUB_EVENT_PATH":    eventPath,
		"GITHUB_REPOSITORY":    Repository,
		"GITHUB_SHA":           step.SHA,
		"GITHUB_REF":           step.Ref,
		"GITHUB_RUN_ID":        "4242",
		"GITHUB_RUN_ATTEMPT":   "1",
		"GITHUB_ACTOR":         "cisaacstern",
		"GITHUB_SERVER_URL":    "https://github.com",
		"GITHUB_API_URL":       w.GitHub.URL(),
		"GITHUB_OUTPUT":        outputPath,
		"GITHUB_STEP_SUMMARY":  summaryPath,
		"INPUT_HEROKU_API_KEY": herokuToken,
		"INPUT_HEROKU_API_URL": w.Heroku.URL(),
		"INPUT_GITHUB_TOKEN":   githubToken,
		"INPUT_PIPELINE":       Pipeline,
		"SOPS_AGE_KEY":         strings.TrimSpace(w.AgeKey),
	}
	for k, v := range step.Inputs {
		env["INPUT_"+strings.ToUpper(k)] = v
	}
	for k, v := range step.Env {
		env[k] = v
	}
	return env
}

// Result reads what the step left in its output and summary files, given how the process ended.
func (p *Prepared) Result(code int, stdout, stderr string) (*Run, error) {
	run := &Run{Code: code, Log: stdout, Stderr: stderr, Env: p.Env}
	var err error
	if run.Outputs, err = readOutputs(p.outputPath); err != nil {
		return run, fmt.Errorf("failed to read the step's outputs: %w", err)
	}
	summary, err := os.ReadFile(p.summaryPath)
	if err != nil {
		return run, fmt.Errorf("failed to read the step's summary: %w", err)
	}
	run.Summary = string(summary)
	return run, nil
}
