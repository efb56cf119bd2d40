package containertest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/pangeo-forge/deploy-action/internal/sandbox"
)

// The example workflows of docs/workflows run under nektos/act (TestAct) as copies in which only what
// needs the internet is replaced; actWorkflow makes the copy. The copies are made from the files at
// test time, so that they cannot drift from the examples a user copies.

// outputsMarker starts the line the step after the action prints its outputs on: a later step reads
// them through the steps context, as a user's workflow does. It prints them as hex-encoded JSON: the
// runner masks every decrypted value wherever it occurs in the log, and the demo secrets hold `true`,
// `false` and numbers, which would star `deployed` and other outputs out of plain JSON (a hex digit
// string can only hold a masked value made of hex digits whose bytes are not printable text).
const outputsMarker = "deploy-action outputs (hex JSON): "

// actWorkflow is the copy of an example workflow that act can run without the internet:
//
//   - actions/checkout loses `ref:`: act replaces a checkout of the run's own repository by a copy of
//     the local working tree (which the test checks out at that ref), but only when no other ref is
//     asked for; any other checkout would clone from github.com.
//   - aws-actions/configure-aws-credentials (AWS STS through OIDC, for KMS) becomes a step that
//     exports the demo age key to GITHUB_ENV, the way that action exports AWS credentials; static AWS
//     keys in the action's env become the age key.
//   - the action gets heroku_api_url from the HEROKU_API_URL variable (the Heroku test server), and
//     loses health_path: the apps' *.herokuapp.com URLs are on the internet.
//   - the action's step gets an id if it has none, and a step after it prints its outputs (hex-encoded JSON).
//
// Everything else (events, permissions, concurrency, runs-on, environment, the other inputs and
// steps) is the example's own.
func actWorkflow(src []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, fmt.Errorf("not a YAML document")
	}
	jobs := mapValue(doc.Content[0], "jobs")
	if jobs == nil || jobs.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("no jobs")
	}
	uses := 0
	for i := 1; i < len(jobs.Content); i += 2 {
		steps := mapValue(jobs.Content[i], "steps")
		if steps == nil || steps.Kind != yaml.SequenceNode {
			continue
		}
		var out []*yaml.Node
		for _, step := range steps.Content {
			action := scalar(mapValue(step, "uses"))
			name, _, _ := strings.Cut(action, "@")
			switch name {
			case "actions/checkout":
				if with := mapValue(step, "with"); with != nil {
					deleteKey(with, "ref")
					if len(with.Content) == 0 {
						deleteKey(step, "with")
					}
				}
			case "aws-actions/configure-aws-credentials":
				step = mustNode(`name: Credentials for SOPS (act, instead of AWS)
env:
  SOPS_AGE_KEY: ${{ secrets.SOPS_AGE_KEY }}
run: |
  echo "SOPS_AGE_KEY=$SOPS_AGE_KEY" >> "$GITHUB_ENV"
`)
			case "pangeo-forge/deploy-action":
				uses++
				id := scalar(mapValue(step, "id"))
				if id == "" {
					id = "deploy"
					setKey(step, "id", id)
				}
				with := mapValue(step, "with")
				if with == nil {
					with = &yaml.Node{Kind: yaml.MappingNode}
					setNode(step, "with", with)
				}
				setKey(with, "heroku_api_url", "${{ vars.HEROKU_API_URL }}")
				deleteKey(with, "health_path")
				if env := mapValue(step, "env"); env != nil {
					aws := false
					for _, k := range keys(env) {
						if strings.HasPrefix(k, "AWS_") {
							deleteKey(env, k)
							aws = true
						}
					}
					if aws {
						setKey(env, "SOPS_AGE_KEY", "${{ secrets.SOPS_AGE_KEY }}")
					}
				}
				out = append(out, step, mustNode(fmt.Sprintf(`name: Outputs (act)
if: always()
env:
  DEPLOY_OUTPUTS: ${{ toJSON(steps.%s.outputs) }}
run: |
  printf '%%s%%s\n' '%s' "$(printf '%%s' "$DEPLOY_OUTPUTS" | od -An -tx1 | tr -d ' \n')"
`, id, outputsMarker)))
				continue
			}
			out = append(out, step)
		}
		steps.Content = out
	}
	if uses == 0 {
		return nil, fmt.Errorf("no step uses pangeo-forge/deploy-action")
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

func keys(m *yaml.Node) []string {
	var out []string
	for i := 0; i+1 < len(m.Content); i += 2 {
		out = append(out, m.Content[i].Value)
	}
	return out
}

func deleteKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

func setNode(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
}

func setKey(m *yaml.Node, key, value string) {
	setNode(m, key, &yaml.Node{Kind: yaml.ScalarNode, Value: value})
}

func mustNode(src string) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		panic(err)
	}
	return doc.Content[0]
}

// TestActWorkflows: the copies TestAct runs differ from the examples only where the internet is
// needed. It needs no act and runs in `make test`.
func TestActWorkflows(t *testing.T) {
	t.Parallel()
	root, err := sandbox.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	type job struct {
		RunsOn      string            `yaml:"runs-on"`
		Environment string            `yaml:"environment"`
		Permissions map[string]string `yaml:"permissions"`
		Steps       []map[string]any  `yaml:"steps"`
	}
	type wf struct {
		Name        string            `yaml:"name"`
		On          any               `yaml:"on"`
		Concurrency any               `yaml:"concurrency"`
		Permissions map[string]string `yaml:"permissions"`
		Jobs        map[string]job    `yaml:"jobs"`
	}
	for _, name := range []string{"review.yml", "deploy.yml"} {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(root, "docs", "workflows", name))
			if err != nil {
				t.Fatal(err)
			}
			copied, err := actWorkflow(src)
			if err != nil {
				t.Fatal(err)
			}
			var before, after wf
			if err := yaml.Unmarshal(src, &before); err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal(copied, &after); err != nil {
				t.Fatalf("the copy is not YAML: %v\n%s", err, copied)
			}
			if fmt.Sprint(before.Name, before.On, before.Concurrency, before.Permissions) != fmt.Sprint(after.Name, after.On, after.Concurrency, after.Permissions) {
				t.Errorf("the copy changed the workflow's name, triggers, concurrency or permissions:\n%s", copied)
			}
			for id, b := range before.Jobs {
				a := after.Jobs[id]
				if a.RunsOn != b.RunsOn || a.Environment != b.Environment || fmt.Sprint(a.Permissions) != fmt.Sprint(b.Permissions) {
					t.Errorf("job %s: runs-on, environment or permissions changed", id)
				}
				j := 0
				for _, s := range b.Steps {
					if j >= len(a.Steps) {
						t.Fatalf("job %s: the copy lost steps:\n%s", id, copied)
					}
					c := a.Steps[j]
					j++
					uses, _ := s["uses"].(string)
					action, _, _ := strings.Cut(uses, "@")
					switch action {
					case "actions/checkout":
						if c["uses"] != uses || withOf(c)["ref"] != nil {
							t.Errorf("checkout: %v, want %s without ref (act's local checkout)", c, uses)
						}
					case "aws-actions/configure-aws-credentials":
						if c["uses"] != nil || !strings.Contains(fmt.Sprint(c["run"]), "GITHUB_ENV") {
							t.Errorf("AWS credentials step: %v, want a run step exporting the age key", c)
						}
					case "pangeo-forge/deploy-action":
						if c["uses"] != uses {
							t.Errorf("the action's step uses %v, want %s", c["uses"], uses)
						}
						w := withOf(c)
						if w["heroku_api_url"] != "${{ vars.HEROKU_API_URL }}" || w["health_path"] != nil {
							t.Errorf("the action's with: %v, want heroku_api_url from vars and no health_path", w)
						}
						for k, v := range withOf(s) {
							if k != "health_path" && w[k] != v {
								t.Errorf("the action's input %s: %v, want the example's %v", k, w[k], v)
							}
						}
						next := a.Steps[j]
						j++
						if !strings.Contains(fmt.Sprint(next["run"]), outputsMarker) || !strings.Contains(fmt.Sprint(next["env"]), "steps."+fmt.Sprint(c["id"])+".outputs") {
							t.Errorf("no step after the action prints its outputs: %v", next)
						}
					default:
						if fmt.Sprint(c) != fmt.Sprint(s) {
							t.Errorf("step %v changed to %v", s, c)
						}
					}
				}
				if j != len(a.Steps) {
					t.Errorf("job %s: the copy has %d steps, want %d", id, len(a.Steps), j)
				}
			}
		})
	}
}

func withOf(step map[string]any) map[string]any {
	w, _ := step["with"].(map[string]any)
	return w
}
