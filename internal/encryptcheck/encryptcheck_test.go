package encryptcheck_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pangeo-forge/deploy-action/internal/encryptcheck"
	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest"
)

const doc = "fastapi:\n  PANGEO_FORGE_API_KEY: fake-guard-key\nworkers: 4\ndebug: true\nport_unencrypted: 5432\ntls_unencrypted: false\n"

func write(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, args []string, getenv map[string]string) (int, []string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := encryptcheck.Command(context.Background(), args, encryptcheck.Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return getenv[k] }})
	if stderr.Len() > 0 {
		t.Logf("stderr: %s", stderr.String())
	}
	return code, strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
}

// TestCommand runs check-secrets over one secrets directory per case, as a
// user (or pre-commit) would, and compares what it prints.
func TestCommand(t *testing.T) {
	t.Parallel()
	identity, recipient := sopstest.NewAgeKey(t)
	otherIdentity, _ := sopstest.NewAgeKey(t)
	age := sopstest.Options{Age: []string{recipient}}
	enc := func(plain string, opts sopstest.Options) []byte {
		opts.Age = age.Age
		return sopstest.EncryptYAML(t, []byte(plain), opts)
	}
	good := enc(doc, sopstest.Options{})
	tampered := regexp.MustCompile(`(PANGEO_FORGE_API_KEY: ENC\[AES256_GCM,data:)(.)`).ReplaceAllFunc(good, func(m []byte) []byte {
		out := append([]byte(nil), m...)
		if out[len(out)-1] == 'A' {
			out[len(out)-1] = 'B'
		} else {
			out[len(out)-1] = 'A'
		}
		return out
	})

	tests := []struct {
		name     string
		files    map[string][]byte
		args     []string // after the flags; "DIR" is the temporary directory
		env      map[string]string
		wantCode int
		want     []string // stdout lines, DIR for the temporary directory
	}{
		{
			name: "sound files of every supported type, numbers, booleans and _unencrypted keys",
			files: map[string][]byte{
				"config.pangeo-forge.yaml":        good,
				"config.pangeo-forge-staging.yml": good,
				"config.pforge-pr-80.json":        sopstest.EncryptYAML(t, []byte(`{"token": "fake", "n": 1.5, "on": true, "port_unencrypted": 80}`), sopstest.Options{Age: age.Age, JSON: true}),
				".sops.yaml":                      []byte("creation_rules:\n  - age: " + recipient + "\n"),
				"README.md":                       []byte("# secrets\n"),
				"nested/config.other.yaml":        good,
			},
			wantCode: 0,
			want:     []string{"check-secrets: OK, 4 files are SOPS-encrypted"},
		},
		{
			name: "the file's own rules: encrypted_regex, unencrypted_regex, encrypted_suffix, mac_only_encrypted",
			files: map[string][]byte{
				"config.a.yaml": enc("data:\n  token: fake\nplain: visible\n", sopstest.Options{EncryptedRegex: "^data$"}),
				"config.b.yaml": enc("token: fake\nregion: us\n", sopstest.Options{UnencryptedRegex: "^region$"}),
				"config.c.yaml": enc("token_secret: fake\nregion: us\n", sopstest.Options{EncryptedSuffix: "_secret"}),
				"config.d.yaml": enc("token: fake\nregion_unencrypted: us\n", sopstest.Options{MACOnlyEncrypted: true}),
				"config.e.json": sopstest.EncryptYAML(t, []byte(`{"token": "fake", "n": 2, "nested": {"on": false}}`), sopstest.Options{Age: age.Age, JSON: true}),
			},
			args:     []string{"--verify-mac"},
			env:      map[string]string{"SOPS_AGE_KEY": identity},
			wantCode: 0,
			want:     []string{"check-secrets: OK, 5 files are SOPS-encrypted and their MACs verify"},
		},
		{
			name: "plaintext (.yaml and .yml), empty, unsupported and hand-edited files",
			files: map[string][]byte{
				"config.plain.yaml":     []byte("token: hunter2-fake\n"),
				"config.plain.yml":      []byte("token: hunter2-fake\n"),
				"config.empty.yaml":     nil,
				"config.x.toml":         []byte("token = 'hunter2-fake'\n"),
				"config.edited.yaml":    append([]byte("extra: hunter2-fake\nport: 5432\n"), good...),
				"config.matrix.json":    []byte(`{"token": "hunter2-fake"}`),
				"config.ok.yaml":        good,
				"config.nomac.yaml":     regexp.MustCompile(`(?m)^    mac: .*\n`).ReplaceAll(good, nil),
				"config.noversion.yaml": regexp.MustCompile(`(?m)^    version: .*\n`).ReplaceAll(good, nil),
			},
			wantCode: 1,
			want: []string{
				"DIR/config.edited.yaml: the values at extra, port are not encrypted although the file is a sops file (added by hand after encryption?) — edit the file with sops DIR/config.edited.yaml (or name such keys with the file's unencrypted suffix, e.g. _unencrypted, if they are not secret)",
				"DIR/config.empty.yaml: the file is empty — write the deployment's settings into it with sops (sops edit DIR/config.empty.yaml), or delete it",
				"DIR/config.matrix.json: it is not encrypted with sops (no sops metadata) — encrypt it with sops --encrypt --in-place DIR/config.matrix.json and never commit the plaintext (if plaintext was pushed, rotate those secrets)",
				"DIR/config.nomac.yaml: it has no MAC (sops.mac), so its integrity cannot be checked — restore the metadata from git history, or re-encrypt the file with sops",
				"DIR/config.noversion.yaml: its sops metadata has no version (sops.version) — restore the metadata from git history, or re-encrypt the file with sops",
				"DIR/config.plain.yaml: it is not encrypted with sops (no sops metadata) — encrypt it with sops --encrypt --in-place DIR/config.plain.yaml and never commit the plaintext (if plaintext was pushed, rotate those secrets)",
				"DIR/config.plain.yml: it is not encrypted with sops (no sops metadata) — encrypt it with sops --encrypt --in-place DIR/config.plain.yml and never commit the plaintext (if plaintext was pushed, rotate those secrets)",
				`DIR/config.x.toml: the file type ".toml" is not supported — keep secrets in sops-encrypted YAML (.yaml, .yml) or JSON (.json) files`,
				"check-secrets: 8 problems in 8 files of 9 files checked",
			},
		},
		{
			name:     "files given one by one, as pre-commit passes them",
			files:    map[string][]byte{"config.ok.yaml": good, "config.plain.yaml": []byte("token: hunter2-fake\n"), "README.md": []byte("# secrets\n")},
			args:     []string{"DIR/config.ok.yaml", "DIR/README.md", "DIR/gone.yaml"},
			wantCode: 1,
			want: []string{
				"DIR/gone.yaml: does not exist — give an existing file, or set the secrets directory (--secrets-dir, input secrets_dir) to where the config.<name>.yaml files are",
				"check-secrets: 1 problem in 1 file of 1 file checked",
			},
		},
		{
			name:     "--verify-mac finds a value altered by hand",
			files:    map[string][]byte{"config.ok.yaml": good, "config.tampered.yaml": tampered},
			args:     []string{"--verify-mac"},
			env:      map[string]string{"SOPS_AGE_KEY": identity},
			wantCode: 1,
			want: []string{
				"DIR/config.tampered.yaml: the value at fastapi.PANGEO_FORGE_API_KEY does not decrypt with the data key from age recipient " + recipient + " (its ciphertext does not authenticate): the file was changed outside sops; restore it from git history or set the value again with sops",
				"check-secrets: 1 problem in 1 file of 2 files checked",
			},
		},
		{
			name:     "without --verify-mac a tampered value has the right shape",
			files:    map[string][]byte{"config.tampered.yaml": tampered},
			wantCode: 0,
			want:     []string{"check-secrets: OK, 1 file is SOPS-encrypted"},
		},
		{
			name:     "--verify-mac with the wrong key says which recipients it needs",
			files:    map[string][]byte{"config.ok.yaml": good},
			args:     []string{"--verify-mac"},
			env:      map[string]string{"SOPS_AGE_KEY": otherIdentity},
			wantCode: 1,
			want:     []string{"~cannot decrypt DIR/config.ok.yaml: no key could decrypt its data key; tried age recipient " + recipient + ": the identities from SOPS_AGE_KEY do not match it"},
		},
		{
			name:     "an empty secrets directory",
			files:    map[string][]byte{".gitkeep": nil},
			wantCode: 0,
			want:     []string{"check-secrets: OK, no secrets files to check"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, data := range tc.files {
				write(t, dir, name, data)
			}
			var args []string
			var paths []string
			for _, a := range tc.args {
				if strings.HasPrefix(a, "--") {
					args = append(args, a)
				} else {
					paths = append(paths, strings.ReplaceAll(a, "DIR", dir))
				}
			}
			if len(paths) == 0 {
				args = append(args, "--secrets-dir", dir)
			}
			code, lines := run(t, append(args, paths...), tc.env)
			for i := range lines {
				lines[i] = strings.ReplaceAll(lines[i], dir, "DIR")
			}
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			if len(tc.want) == 1 && strings.HasPrefix(tc.want[0], "~") {
				if len(lines) < 1 || !strings.Contains(lines[0], tc.want[0][1:]) {
					t.Errorf("first line %q does not contain %q", lines, tc.want[0][1:])
				}
			} else if diff := cmp.Diff(tc.want, lines); diff != "" {
				t.Errorf("output mismatch (-want +got):\n%s", diff)
			}
			for _, l := range lines {
				if strings.Contains(l, "hunter2-fake") || strings.Contains(l, "fake-guard-key") || strings.Contains(l, "5432") {
					t.Errorf("output quotes a value: %q", l)
				}
			}
		})
	}
}

func TestCommandUsage(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := encryptcheck.Command(context.Background(), []string{"--no-such-flag"}, encryptcheck.Env{Stdout: &stdout, Stderr: &stderr}); code != encryptcheck.ExitUsage {
		t.Errorf("exit code %d, want %d", code, encryptcheck.ExitUsage)
	}
	if !strings.Contains(stderr.String(), "usage: deploy-action check-secrets") {
		t.Errorf("stderr does not show the usage:\n%s", stderr.String())
	}
}
