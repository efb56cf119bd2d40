package sopstest_test

import (
	"strings"
	"testing"

	"github.com/getsops/sops/v3/decrypt"
	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest"
)

// TestEncryptYAMLIsSopsCompatible decrypts sopstest's output with sops's own
// public decryption API, which is what the sops CLI runs: the files this
// package makes are real sops files, not something only our reader accepts.
// It sets SOPS_AGE_KEY for the process (decrypt.Data reads nothing else), so
// it cannot run in parallel.
func TestEncryptYAMLIsSopsCompatible(t *testing.T) {
	identity, recipient := sopstest.NewAgeKey(t)
	plain := "a: one\nnested:\n  n: 2\n  on: true\n  key: |\n    line1\n    line2\nkeep_unencrypted: visible\n"
	enc := sopstest.EncryptYAML(t, []byte(plain), sopstest.Options{Age: []string{recipient}})
	if strings.Contains(string(enc), "one") || strings.Contains(string(enc), "line1") {
		t.Fatalf("plaintext left in the encrypted file:\n%s", enc)
	}
	if !strings.Contains(string(enc), "keep_unencrypted: visible") {
		t.Errorf("the _unencrypted value was encrypted:\n%s", enc)
	}
	t.Setenv("SOPS_AGE_KEY", identity)
	out, err := decrypt.Data(enc, "yaml")
	if err != nil {
		t.Fatalf("decrypt.Data: %v", err)
	}
	var got, want map[string]any
	if err := yaml.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(plain), &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip through sops mismatch (-want +got):\n%s", diff)
	}
}

func TestEncryptRefuses(t *testing.T) {
	t.Parallel()
	_, recipient := sopstest.NewAgeKey(t)
	enc := sopstest.EncryptYAML(t, []byte("a: b\n"), sopstest.Options{Age: []string{recipient}})
	tests := []struct {
		name  string
		plain []byte
		opts  sopstest.Options
		want  string
	}{
		{"no recipients", []byte("a: b\n"), sopstest.Options{}, "no recipients"},
		{"already encrypted", enc, sopstest.Options{Age: []string{recipient}}, "already has a sops key"},
		{"bad recipient", []byte("a: b\n"), sopstest.Options{Age: []string{"age1nope"}}, `age recipient "age1nope"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := sopstest.Encrypt(t.Context(), tc.plain, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Encrypt error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
