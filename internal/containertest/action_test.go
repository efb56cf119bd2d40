package containertest

// These tests check the action's metadata and the example workflows against the code. They need no
// container runtime and run in `make test`. actionlint checks the workflows' syntax (`make actionlint`);
// action.yml is not a workflow, so it is checked here.

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/sandbox"
)

type actionFile struct {
	Inputs map[string]struct {
		Required bool    `yaml:"required"`
		Default  *string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Description string `yaml:"description"`
	} `yaml:"outputs"`
	Runs struct {
		Using string `yaml:"using"`
		Image string `yaml:"image"`
	} `yaml:"runs"`
}

func readAction(t *testing.T) actionFile {
	t.Helper()
	root, err := sandbox.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var a actionFile
	if err := yaml.Unmarshal(data, &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	return a
}

// requiredEnv gives each required input a value, so that config.Load gets past them.
func requiredEnv(a actionFile) map[string]string {
	env := map[string]string{}
	for name, in := range a.Inputs {
		if in.Required {
			env["INPUT_"+strings.ToUpper(name)] = "x"
		}
	}
	return env
}

// TestActionInputs: the inputs the code reads are the inputs action.yml declares. The runner warns
// about (and drops nothing of) an undeclared `with:` key, so an input the code reads but action.yml
// lacks is undocumented, and a declared input nobody reads silently does nothing.
func TestActionInputs(t *testing.T) {
	t.Parallel()
	a := readAction(t)
	env := requiredEnv(a)
	read := map[string]bool{}
	_, _ = config.Load(func(k string) string {
		if name, ok := strings.CutPrefix(k, "INPUT_"); ok {
			read[strings.ToLower(name)] = true
		}
		return env[k]
	})
	var declared, used []string
	for name := range a.Inputs {
		declared = append(declared, name)
	}
	for name := range read {
		used = append(used, name)
	}
	sort.Strings(declared)
	sort.Strings(used)
	if diff := cmp.Diff(used, declared); diff != "" {
		t.Errorf("inputs read by the code (-) and declared in action.yml (+) differ:\n%s", diff)
	}
}

// TestActionDefaults: the runner passes every declared default as INPUT_*, so a default in action.yml
// that differs from the code's would silently win. Loading with all of them must change nothing.
func TestActionDefaults(t *testing.T) {
	t.Parallel()
	a := readAction(t)
	env := requiredEnv(a)
	want, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("loading with the required inputs only: %v", err)
	}
	for name, in := range a.Inputs {
		// Expressions such as ${{ github.token }} are the runner's to evaluate.
		if in.Default != nil && !strings.Contains(*in.Default, "${{") {
			env["INPUT_"+strings.ToUpper(name)] = *in.Default
		}
	}
	got, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("action.yml's defaults are not valid inputs: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("action.yml's defaults differ from the code's (-code +action.yml):\n%s", diff)
	}
}

// TestActionOutputs: the outputs a run sets are the outputs action.yml declares.
func TestActionOutputs(t *testing.T) {
	t.Parallel()
	a := readAction(t)
	w := newWorld(t)
	run, err := w.Run(context.Background(), sandbox.Lifecycle()[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if run.Code != 0 {
		t.Fatalf("exit code %d\n%s", run.Code, run.Log)
	}
	var declared, set []string
	for name := range a.Outputs {
		declared = append(declared, name)
	}
	for name := range run.Outputs {
		set = append(set, name)
	}
	sort.Strings(declared)
	sort.Strings(set)
	if diff := cmp.Diff(set, declared); diff != "" {
		t.Errorf("outputs set by a run (-) and declared in action.yml (+) differ:\n%s", diff)
	}
}

// TestActionImage: action.yml runs the prebuilt image of an exact release (RELEASE.md), never the
// Dockerfile (built on every workflow run) nor a moving tag.
func TestActionImage(t *testing.T) {
	t.Parallel()
	a := readAction(t)
	if a.Runs.Using != "docker" {
		t.Errorf("runs.using = %q, want docker", a.Runs.Using)
	}
	if !regexp.MustCompile(`^docker://ghcr\.io/pangeo-forge/deploy-action:v\d+\.\d+\.\d+$`).MatchString(a.Runs.Image) {
		t.Errorf("runs.image = %q, want docker://ghcr.io/pangeo-forge/deploy-action:vX.Y.Z", a.Runs.Image)
	}
}

type workflow struct {
	On          yaml.Node         `yaml:"on"`
	Concurrency yaml.Node         `yaml:"concurrency"`
	Permissions map[string]string `yaml:"permissions"`
	Jobs        map[string]struct {
		Permissions map[string]string `yaml:"permissions"`
		Steps       []struct {
			Uses string            `yaml:"uses"`
			With map[string]string `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// TestExampleWorkflows: the workflows of docs/workflows use the action as action.yml declares it, each
// run has a concurrency group, and each asks for no permission it does not need.
func TestExampleWorkflows(t *testing.T) {
	t.Parallel()
	a := readAction(t)
	root, err := sandbox.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "docs", "workflows", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows in docs/workflows: %v", err)
	}
	// What the action can need; id-token only to exchange for AWS credentials (OIDC).
	allowed := map[string][]string{
		"contents": {"read"}, "checks": {"write"}, "deployments": {"write"},
		"pull-requests": {"read", "write"}, "id-token": {"write"},
	}
	triggers := map[string]bool{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var wf workflow
			if err := yaml.Unmarshal(data, &wf); err != nil {
				t.Fatal(err)
			}
			for _, ev := range eventNames(wf.On) {
				triggers[ev] = true
			}
			if wf.Concurrency.Kind == 0 {
				t.Error("no concurrency group: two runs could deploy the same app at once")
			}
			if wf.Permissions == nil {
				t.Error("no top-level permissions: the token would get the repository's defaults")
			}
			oidc, uses := false, 0
			for _, job := range wf.Jobs {
				for _, step := range job.Steps {
					if strings.HasPrefix(step.Uses, "aws-actions/configure-aws-credentials@") && step.With["role-to-assume"] != "" {
						oidc = true
					}
					if !strings.HasPrefix(step.Uses, "pangeo-forge/deploy-action@") {
						continue
					}
					uses++
					for k := range step.With {
						if _, ok := a.Inputs[k]; !ok {
							t.Errorf("with: %s is not an input of action.yml", k)
						}
					}
					for name, in := range a.Inputs {
						// check-secrets and approve talk to no Heroku (action.yml says so of both inputs).
						if (name == "heroku_api_key" || name == "pipeline") && (step.With["stage"] == "check-secrets" || step.With["stage"] == "approve") {
							continue
						}
						if _, ok := step.With[name]; in.Required && !ok {
							t.Errorf("required input %s is missing", name)
						}
					}
				}
			}
			if uses == 0 {
				t.Error("no step uses pangeo-forge/deploy-action")
			}
			for perm, level := range wf.Permissions {
				if !slices.Contains(allowed[perm], level) {
					t.Errorf("permissions: %s: %s is more than the action needs", perm, level)
				}
			}
			if _, ok := wf.Permissions["id-token"]; ok != oidc {
				t.Errorf("permissions: id-token is %v, want it exactly when AWS credentials come through OIDC (%v)", ok, oidc)
			}
		})
	}
	// The seed's lifecycle: review apps, staging and prod pushes, a manual promotion, a nightly sweep.
	for _, ev := range []string{"pull_request", "push", "workflow_dispatch", "schedule"} {
		if !triggers[ev] {
			t.Errorf("no example workflow runs on %s", ev)
		}
	}
}

// eventNames lists the events of an `on:` that is a string, a list or a map.
func eventNames(on yaml.Node) []string {
	switch on.Kind {
	case yaml.ScalarNode:
		return []string{on.Value}
	case yaml.SequenceNode:
		var out []string
		for _, n := range on.Content {
			out = append(out, n.Value)
		}
		return out
	case yaml.MappingNode:
		var out []string
		for i := 0; i < len(on.Content); i += 2 {
			out = append(out, on.Content[i].Value)
		}
		return out
	}
	return nil
}
