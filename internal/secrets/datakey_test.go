package secrets_test

import (
	"strings"
	"testing"

	"github.com/pangeo-forge/deploy-action/internal/secrets"
	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest"
)

// TestDataKeysShared: a byte copy of a file, and a copy whose metadata text was re-indented or
// re-wrapped, shares the original's data key; a file encrypted anew (what `sops rotate` does to
// a copy) shares none, even with the same plaintext and the same recipients.
func TestDataKeysShared(t *testing.T) {
	t.Parallel()
	_, prodRecipient := sopstest.NewAgeKey(t)
	_, reviewRecipient := sopstest.NewAgeKey(t)
	plain := []byte("database:\n  url: postgres://fake-prod\n")
	prod := sopstest.EncryptYAML(t, plain, sopstest.Options{Age: []string{prodRecipient, reviewRecipient}})
	anew := sopstest.EncryptYAML(t, plain, sopstest.Options{Age: []string{prodRecipient, reviewRecipient}})
	other := sopstest.EncryptYAML(t, []byte("x: y\n"), sopstest.Options{Age: []string{reviewRecipient}})

	// The same YAML with every line of the age armor indented further: the text differs, the
	// ciphertext does not.
	var reindented []string
	inArmor := false
	for _, line := range strings.Split(string(prod), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "-----BEGIN AGE") {
			inArmor = true
		}
		if inArmor {
			line = "    " + line
		}
		if strings.HasPrefix(trimmed, "-----END AGE") {
			inArmor = false
		}
		reindented = append(reindented, line)
	}
	reindentedFile := []byte(strings.Join(reindented, "\n"))
	if string(reindentedFile) == string(prod) {
		t.Fatal("the re-indented copy is the same text: the test checks nothing")
	}

	parse := func(name string, data []byte) secrets.DataKeys {
		t.Helper()
		dk, err := secrets.ParseDataKeys(name, data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return dk
	}
	p := parse("config.prod.yaml", prod)
	tests := []struct {
		name  string
		data  []byte
		share bool
	}{
		{"byte copy", prod, true},
		{"re-indented copy", reindentedFile, true},
		{"encrypted anew (sops rotate)", anew, false},
		{"another file", other, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parse("config.pr-1.yaml", tt.data).Shared(p)
			if (len(got) > 0) != tt.share {
				t.Errorf("Shared = %v, want shared: %v", got, tt.share)
			}
			for _, k := range got {
				if !strings.HasPrefix(k, "age recipient age1") {
					t.Errorf("shared key named %q, want its age recipient", k)
				}
			}
		})
	}
	if _, err := secrets.ParseDataKeys("config.plain.yaml", plain); err == nil {
		t.Error("a plaintext file has data keys")
	}
}
