package secrets_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/pangeo-forge/deploy-action/internal/secrets"
	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest"
)

// plainDoc is shaped like pangeo-forge-orchestrator's secrets files.
const plainDoc = `fastapi:
  PANGEO_FORGE_API_KEY: fake-api-key-6f1e
github_app:
  app_name: pforge-test-app
  id: 123456
  private_key: |
    -----BEGIN RSA PRIVATE KEY-----
    FAKEFAKEFAKEline2
    -----END RSA PRIVATE KEY-----
  webhook_secret: fake-webhook-secret-9a7c
debug: true
ratio: 0.25
region_unencrypted: us-central1
`

var wantVars = map[string]string{
	"FASTAPI_PANGEO_FORGE_API_KEY": "fake-api-key-6f1e",
	"GITHUB_APP_APP_NAME":          "pforge-test-app",
	"GITHUB_APP_ID":                "123456",
	"GITHUB_APP_PRIVATE_KEY":       "-----BEGIN RSA PRIVATE KEY-----\nFAKEFAKEFAKEline2\n-----END RSA PRIVATE KEY-----\n",
	"GITHUB_APP_WEBHOOK_SECRET":    "fake-webhook-secret-9a7c",
	"DEBUG":                        "true",
	"RATIO":                        "0.25",
	"REGION_UNENCRYPTED":           "us-central1",
}

// secretValues must never appear in an error.
var secretValues = []string{"fake-api-key-6f1e", "FAKEFAKEFAKEline2", "fake-webhook-secret-9a7c", "pforge-test-app"}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeSecrets(t *testing.T, dir, deployment string, data []byte) string {
	t.Helper()
	return writeSecretsTB(t, dir, deployment, data)
}

func writeSecretsTB(t testing.TB, dir, deployment string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, secrets.FileName(deployment))
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// flipValue changes one character of the ciphertext on the first line that
// contains marker, keeping it well-formed base64.
func flipValue(t *testing.T, data []byte, marker string) []byte {
	t.Helper()
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		j := strings.Index(l, marker)
		if j < 0 {
			continue
		}
		k := strings.Index(l[j:], "data:")
		if k < 0 {
			t.Fatalf("line with %q has no data: %q", marker, l)
		}
		pos := j + k + len("data:")
		c := byte('A')
		if l[pos] == 'A' {
			c = 'B'
		}
		lines[i] = l[:pos] + string(c) + l[pos+1:]
		return []byte(strings.Join(lines, "\n"))
	}
	t.Fatalf("no line contains %q", marker)
	return nil
}

func replaceLine(t *testing.T, data []byte, old, new string) []byte {
	t.Helper()
	if !strings.Contains(string(data), old) {
		t.Fatalf("file does not contain %q", old)
	}
	return []byte(strings.Replace(string(data), old, new, 1))
}

// removeKeyEntry deletes, from the sops metadata, every key entry (age, kms,
// gcp_kms) one of whose fields equals id, keeping the rest of the document
// in order (the MAC covers the values in order, not the metadata).
func removeKeyEntry(t *testing.T, data []byte, id string) []byte {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	removed := 0
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "sops" {
			continue
		}
		md := root.Content[i+1]
		for j := 0; j+1 < len(md.Content); j += 2 {
			list := md.Content[j+1]
			if list.Kind != yaml.SequenceNode {
				continue
			}
			var keep []*yaml.Node
			for _, entry := range list.Content {
				match := false
				for _, f := range entry.Content {
					match = match || f.Value == id
				}
				if match {
					removed++
				} else {
					keep = append(keep, entry)
				}
			}
			list.Content = keep
		}
	}
	if removed == 0 {
		t.Fatalf("no key entry names %q", id)
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLoad is the error matrix of one file: every way a file can be wrong or
// undecryptable, each message naming the file, the key provider and key it
// concerns, and what to do. The KMS providers' own cases (a disabled key, no
// credentials) are in TestLoadKMS and TestLoadGCPKMS.
func TestLoad(t *testing.T) {
	t.Parallel()
	identity, recipient := sopstest.NewAgeKey(t)
	otherIdentity, otherRecipient := sopstest.NewAgeKey(t)
	encrypted := sopstest.EncryptYAML(t, []byte(plainDoc), sopstest.Options{Age: []string{recipient}})
	twoRecipients := sopstest.EncryptYAML(t, []byte(plainDoc), sopstest.Options{Age: []string{otherRecipient, recipient}})

	keyFile := filepath.Join(t.TempDir(), "keys.txt")
	if err := os.WriteFile(keyFile, []byte("# created: today\n# public key: "+recipient+"\n"+identity+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	xdg := t.TempDir()
	if err := os.MkdirAll(filepath.Join(xdg, "sops", "age"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(xdg, "sops", "age", "keys.txt"), []byte(identity+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		deployment string
		fileName   string // set: DecryptFile on this name instead of Load
		file       []byte // nil: no file
		env        map[string]string
		want       map[string]string
		wantIs     error
		wantErr    []string // substrings of the error
	}{
		{
			name: "round trip with SOPS_AGE_KEY",
			file: encrypted,
			env:  map[string]string{"SOPS_AGE_KEY": identity},
			want: wantVars,
		},
		{
			name: "several identities, comments and blank lines",
			file: encrypted,
			env:  map[string]string{"SOPS_AGE_KEY": "# mine\n" + otherIdentity + "\n\n  " + identity + "  \n"},
			want: wantVars,
		},
		{
			name: "SOPS_AGE_KEY_FILE",
			file: encrypted,
			env:  map[string]string{"SOPS_AGE_KEY_FILE": keyFile},
			want: wantVars,
		},
		{
			name: "the user's sops/age/keys.txt",
			file: encrypted,
			env:  map[string]string{"XDG_CONFIG_HOME": xdg},
			want: wantVars,
		},
		{
			name:    "missing file",
			env:     map[string]string{"SOPS_AGE_KEY": identity},
			wantIs:  secrets.ErrNotFound,
			wantErr: []string{"config.pforge-pr-80.yaml does not exist", "sops --encrypt"},
		},
		{
			name:    "plaintext file",
			file:    []byte(plainDoc),
			env:     map[string]string{"SOPS_AGE_KEY": identity},
			wantErr: []string{"refusing", "config.pforge-pr-80.yaml", "not encrypted with sops", "sops --encrypt --in-place", "rotate"},
		},
		{
			name:    "broken YAML is reported without quoting it",
			file:    []byte("token: hunter2-fake\n  bad: [hunter2-fake\n"),
			env:     map[string]string{"SOPS_AGE_KEY": identity},
			wantErr: []string{"refusing", "config.pforge-pr-80.yaml", "not a sops-encrypted YAML file", "line 2", "restore it from git history"},
		},
		{
			name:    "empty file",
			file:    []byte("\n"),
			env:     map[string]string{"SOPS_AGE_KEY": identity},
			wantErr: []string{"refusing", "config.pforge-pr-80.yaml", "the file is empty", "sops edit"},
		},
		{
			name:     "unsupported extension",
			fileName: "config.pforge-pr-80.toml",
			file:     []byte("token = \"hunter2-fake\"\n"),
			env:      map[string]string{"SOPS_AGE_KEY": identity},
			wantErr:  []string{"refusing", "config.pforge-pr-80.toml", `file type ".toml" is not supported`, "YAML (.yaml, .yml) or JSON (.json)"},
		},
		{
			name:     "ini is not supported either",
			fileName: "config.pforge-pr-80.ini",
			file:     []byte("[fastapi]\ntoken = hunter2-fake\n"),
			env:      map[string]string{"SOPS_AGE_KEY": identity},
			wantErr:  []string{"config.pforge-pr-80.ini", `file type ".ini" is not supported`},
		},
		{
			name:    "the only key removed from the metadata",
			file:    removeKeyEntry(t, encrypted, recipient),
			env:     map[string]string{"SOPS_AGE_KEY": identity},
			wantErr: []string{"refusing", "config.pforge-pr-80.yaml", "names no keys", "restore the file from git history"},
		},
		{
			name:    "a key group entry removed: the remaining recipient is named",
			file:    removeKeyEntry(t, twoRecipients, recipient),
			env:     map[string]string{"SOPS_AGE_KEY": identity},
			wantErr: []string{"cannot decrypt", "config.pforge-pr-80.yaml", "age recipient " + otherRecipient, "do not match it (they are for " + recipient + ")", "sops updatekeys"},
		},
		{
			name:    "lastmodified altered",
			file:    regexp.MustCompile(`lastmodified: "[^"]+"`).ReplaceAll(encrypted, []byte(`lastmodified: "2020-01-01T00:00:00Z"`)),
			env:     map[string]string{"SOPS_AGE_KEY": identity},
			wantErr: []string{"config.pforge-pr-80.yaml", "MAC (sops.mac) does not decrypt", "age recipient " + recipient, "sops.lastmodified was changed outside sops", "restore them from git history"},
		},
		{
			name:    "plaintext value added after encryption",
			file:    append([]byte("extra_token: hunter2-fake\n"), encrypted...),
			env:     map[string]string{"SOPS_AGE_KEY": identity},
			wantErr: []string{"refusing", "the value at extra_token is not encrypted"},
		},
		{
			name:    "plaintext value added after encryption is refused before any key is needed",
			file:    append([]byte("extra_token: hunter2-fake\n"), encrypted...),
			wantErr: []string{"the value at extra_token is not encrypted"},
		},
		{
			name:    "a value altered",
			file:    flipValue(t, encrypted, "webhook_secret: ENC["),
			env:     map[string]string{"SOPS_AGE_KEY": identity},
			wantErr: []string{"config.pforge-pr-80.yaml", "the value at github_app.webhook_secret does not decrypt", "age recipient " + recipient, "changed outside sops", "restore it from git history"},
		},
		{
			name:    "the MAC altered",
			file:    flipValue(t, encrypted, "mac: ENC["),
			env:     map[string]string{"SOPS_AGE_KEY": identity},
			wantErr: []string{"config.pforge-pr-80.yaml", "MAC (sops.mac) does not decrypt", "age recipient " + recipient, "restore them from git history"},
		},
		{
			name:    "an unencrypted value altered breaks the MAC",
			file:    replaceLine(t, encrypted, "region_unencrypted: us-central1", "region_unencrypted: eu-west-1"),
			env:     map[string]string{"SOPS_AGE_KEY": identity},
			wantErr: []string{"config.pforge-pr-80.yaml", "MAC mismatch", "age recipient " + recipient, "edit it with sops"},
		},
		{
			name:    "wrong age key",
			file:    encrypted,
			env:     map[string]string{"SOPS_AGE_KEY": otherIdentity},
			wantErr: []string{"cannot decrypt", "config.pforge-pr-80.yaml", "age recipient " + recipient, "from SOPS_AGE_KEY do not match it (they are for " + otherRecipient + ")", "sops updatekeys"},
		},
		{
			name:    "no key at all",
			file:    encrypted,
			env:     map[string]string{},
			wantErr: []string{"cannot decrypt", "age recipient " + recipient + ": no age identity given", "set SOPS_AGE_KEY"},
		},
		{
			name:    "a public key where the private key belongs",
			file:    encrypted,
			env:     map[string]string{"SOPS_AGE_KEY": identity + "\n" + recipient},
			wantErr: []string{"SOPS_AGE_KEY line 2 is not an age identity"},
		},
		{
			name:       "a deployment name that would leave the directory",
			deployment: "../etc",
			file:       encrypted,
			env:        map[string]string{"SOPS_AGE_KEY": identity},
			wantErr:    []string{`deployment name "../etc"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			deployment := tc.deployment
			if deployment == "" {
				deployment = "pforge-pr-80"
			}
			var got map[string]string
			var err error
			if tc.fileName != "" {
				p := filepath.Join(dir, tc.fileName)
				if err := os.WriteFile(p, tc.file, 0o600); err != nil {
					t.Fatal(err)
				}
				_, err = secrets.DecryptFile(context.Background(), p, secrets.Options{Getenv: env(tc.env)})
			} else {
				if tc.file != nil {
					writeSecrets(t, dir, "pforge-pr-80", tc.file)
				}
				got, err = secrets.Load(context.Background(), dir, deployment, secrets.Options{Getenv: env(tc.env)})
			}
			if tc.wantErr == nil && tc.wantIs == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("Load mismatch (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded, want an error")
			}
			t.Logf("error: %v", err)
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.wantIs)
			}
			if tc.wantIs == nil && errors.Is(err, secrets.ErrNotFound) {
				t.Errorf("error %v wraps ErrNotFound", err)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			assertNoSecrets(t, err, append([]string{identity, otherIdentity, "hunter2-fake"}, secretValues...))
		})
	}
}

// checkLoad asserts what Load returned: the vars when wantErr is nil, else an error containing each
// of wantErr. It reports whether Load failed, so that the caller can look further into the error.
func checkLoad(t *testing.T, got map[string]string, err error, want map[string]string, wantErr []string) bool {
	t.Helper()
	if wantErr == nil {
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Load mismatch (-want +got):\n%s", diff)
		}
		return false
	}
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	t.Logf("error: %v", err)
	for _, s := range wantErr {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
	return true
}

func assertNoSecrets(t *testing.T, err error, values []string) {
	t.Helper()
	for _, v := range values {
		if strings.Contains(err.Error(), v) {
			t.Errorf("error %q contains the secret %q", err, v)
		}
	}
}

func TestLoadHonoursUnencryptedSuffix(t *testing.T) {
	t.Parallel()
	identity, recipient := sopstest.NewAgeKey(t)
	encrypted := sopstest.EncryptYAML(t, []byte("token: fake-1\nsite_public: https://example.test\n"),
		sopstest.Options{Age: []string{recipient}, UnencryptedSuffix: "_public"})
	if !strings.Contains(string(encrypted), "site_public: https://example.test") {
		t.Errorf("site_public was encrypted despite the _public suffix:\n%s", encrypted)
	}
	if strings.Contains(string(encrypted), "fake-1") {
		t.Errorf("token was left in plaintext:\n%s", encrypted)
	}
	dir := t.TempDir()
	writeSecrets(t, dir, "pforge-local-demo", encrypted)
	got, err := secrets.Load(context.Background(), dir, "pforge-local-demo", secrets.Options{Getenv: env(map[string]string{"SOPS_AGE_KEY": identity})})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"TOKEN": "fake-1", "SITE_PUBLIC": "https://example.test"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", diff)
	}
}

// TestLoadVarsSaysWhichValuesArePlain: the values sops keeps unencrypted (by any of its rules) are
// named in Plain, under their config var names; the encrypted ones are not.
func TestLoadVarsSaysWhichValuesArePlain(t *testing.T) {
	t.Parallel()
	identity, recipient := sopstest.NewAgeKey(t)
	doc := []byte("token: fake-1\norchestrator:\n  debug: true\n  workers: 4\n  key: fake-2\nsite_public: https://example.test\n")
	tests := []struct {
		name string
		opts sopstest.Options
		want map[string]bool
	}{
		{"unencrypted_suffix", sopstest.Options{UnencryptedSuffix: "_public"}, map[string]bool{"SITE_PUBLIC": true}},
		{"encrypted_regex", sopstest.Options{EncryptedRegex: "^(token|key)$"}, map[string]bool{"ORCHESTRATOR_DEBUG": true, "ORCHESTRATOR_WORKERS": true, "SITE_PUBLIC": true}},
		{"unencrypted_regex", sopstest.Options{UnencryptedRegex: "^(debug|workers)$"}, map[string]bool{"ORCHESTRATOR_DEBUG": true, "ORCHESTRATOR_WORKERS": true}},
		{"encrypted_suffix", sopstest.Options{EncryptedSuffix: "token"}, map[string]bool{"ORCHESTRATOR_DEBUG": true, "ORCHESTRATOR_WORKERS": true, "ORCHESTRATOR_KEY": true, "SITE_PUBLIC": true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := tc.opts
			opts.Age = []string{recipient}
			dir := t.TempDir()
			writeSecrets(t, dir, "pforge-local-demo", sopstest.EncryptYAML(t, doc, opts))
			got, err := secrets.LoadVars(context.Background(), dir, "pforge-local-demo", secrets.Options{Getenv: env(map[string]string{"SOPS_AGE_KEY": identity})})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got.Plain); diff != "" {
				t.Errorf("Plain mismatch (-want +got):\n%s", diff)
			}
			if got.Values["ORCHESTRATOR_DEBUG"] != "true" || got.Values["TOKEN"] != "fake-1" {
				t.Errorf("values = %v", got.Values)
			}
		})
	}
}

func TestLoadFlattenErrorNamesFileAndKeys(t *testing.T) {
	t.Parallel()
	identity, recipient := sopstest.NewAgeKey(t)
	encrypted := sopstest.EncryptYAML(t, []byte("github_app:\n  id: fake-1\ngithub_app_id: fake-2\n"), sopstest.Options{Age: []string{recipient}})
	dir := t.TempDir()
	path := writeSecrets(t, dir, "pangeo-forge", encrypted)
	_, err := secrets.Load(context.Background(), dir, "pangeo-forge", secrets.Options{Getenv: env(map[string]string{"SOPS_AGE_KEY": identity})})
	if err == nil {
		t.Fatal("Load succeeded, want a collision error")
	}
	for _, s := range []string{path, "keys github_app.id and github_app_id both become config var GITHUB_APP_ID"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
	assertNoSecrets(t, err, []string{"fake-1", "fake-2"})
}

func TestLoadCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := secrets.Load(ctx, t.TempDir(), "pangeo-forge", secrets.Options{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a canceled context: %v, want context.Canceled", err)
	}
}

// TestDemoFiles decrypts the committed demo secrets with the committed demo
// key, as `make demo` and the README's walkthrough do.
func TestDemoFiles(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	key, err := os.ReadFile(filepath.Join(root, "testdata", "demo-age-key.txt"))
	if err != nil {
		t.Fatal(err)
	}
	opt := secrets.Options{Getenv: env(map[string]string{"SOPS_AGE_KEY": string(key)})}
	seen := map[string]string{}
	for _, d := range []string{"pforge-pr-80", "dev-app-proxy", "pangeo-forge-staging", "pangeo-forge", "pforge-local-demo"} {
		t.Run(d, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(root, "secrets", secrets.FileName(d)))
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`(?m)^\s+recipient: age1`).Match(raw) {
				t.Errorf("%s has no age recipient", d)
			}
			vars, err := secrets.Load(context.Background(), filepath.Join(root, "secrets"), d, opt)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"FASTAPI_PANGEO_FORGE_API_KEY", "GITHUB_APP_APP_NAME", "GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY", "GITHUB_APP_WEBHOOK_SECRET"} {
				if vars[name] == "" {
					t.Errorf("%s: %s is empty", d, name)
				}
			}
			if !strings.Contains(vars["GITHUB_APP_PRIVATE_KEY"], "\n") {
				t.Errorf("%s: GITHUB_APP_PRIVATE_KEY is not multi-line", d)
			}
			if !strings.Contains(vars["FASTAPI_PANGEO_FORGE_API_KEY"], "fake") {
				t.Errorf("%s: the API key does not say it is fake", d)
			}
			seen[d] = vars["FASTAPI_PANGEO_FORGE_API_KEY"]
		})
	}
	distinct := map[string]bool{}
	for _, v := range seen {
		distinct[v] = true
	}
	if len(distinct) != len(seen) {
		t.Errorf("demo deployments share API keys: %v", seen)
	}
}

// TestLoadDecryptsEveryValueType covers the value types sops encrypts
// (strings, ints, floats, booleans, comments, list items): each must decrypt
// to the type sops gives it, or the MAC would not verify.
func TestLoadDecryptsEveryValueType(t *testing.T) {
	t.Parallel()
	identity, recipient := sopstest.NewAgeKey(t)
	plain := "# a comment sops encrypts too\nname: fake-name # trailing comment\ncount: -42\nratio: 1.5e-3\non: false\nempty: \"\"\nnested:\n  # inner comment\n  deep: fake-deep\n"
	enc := sopstest.EncryptYAML(t, []byte(plain), sopstest.Options{Age: []string{recipient}})
	if !strings.Contains(string(enc), "type:comment]") {
		t.Fatalf("the test file has no encrypted comment:\n%s", enc)
	}
	dir := t.TempDir()
	writeSecrets(t, dir, "pangeo-forge", enc)
	got, err := secrets.Load(context.Background(), dir, "pangeo-forge", secrets.Options{Getenv: env(map[string]string{"SOPS_AGE_KEY": identity})})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := map[string]string{"NAME": "fake-name", "COUNT": "-42", "RATIO": "0.0015", "ON": "false", "EMPTY": "", "NESTED_DEEP": "fake-deep"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", diff)
	}
}
