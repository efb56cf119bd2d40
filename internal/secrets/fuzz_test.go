package secrets

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// FuzzFlatten feeds Flatten any YAML document. It must never panic; what it returns must be valid
// config var names (upper case, Heroku's ^\w+$); and an error must name keys, never values: a
// decrypted value in an error would reach the log.
func FuzzFlatten(f *testing.F) {
	f.Add("github_app:\n  private_key: \"-----BEGIN KEY-----\\nabc\\n\"\n  id: 42\ndebug_unencrypted: true\n")
	f.Add("a:\n  b: secret-one-value\na_b: secret-two-value\n")
	f.Add("list:\n  - secret-in-a-list\n")
	f.Add("empty: null\nratio: 0.000001\nbig: 12345678901234567890\n")
	f.Add("\"bad name!\": secret-under-bad-name\n")
	f.Add("when: 2024-05-01T12:00:00Z\n")
	nameRe := regexp.MustCompile(`^\w+$`)
	f.Fuzz(func(t *testing.T, doc string) {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil || m == nil {
			return
		}
		vars, err := Flatten(m)
		if err != nil {
			keys := map[string]bool{}
			var values []string
			collect(m, keys, &values)
			for _, v := range values {
				if len(v) >= 8 && !keys[v] && !strings.Contains(doc, v+":") && strings.Contains(err.Error(), v) {
					t.Fatalf("Flatten's error shows the value %q:\n%v", v, err)
				}
			}
			return
		}
		for name := range vars {
			if !nameRe.MatchString(name) || strings.ToUpper(name) != name {
				t.Fatalf("Flatten made the config var name %q", name)
			}
		}
		again, err := Flatten(m)
		if err != nil || !cmp.Equal(vars, again) {
			t.Fatalf("Flatten is not deterministic: %v, %v", again, err)
		}
	})
}

// collect gathers every key (at any depth, in any case) and every string leaf of a document.
func collect(v any, keys map[string]bool, values *[]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			keys[k], keys[strings.ToUpper(k)] = true, true
			collect(x, keys, values)
		}
	case []any:
		for _, x := range v {
			collect(x, keys, values)
		}
	case string:
		*values = append(*values, v)
	}
}

// FuzzInspect feeds the SOPS file check any content under each supported extension and an
// unsupported one. It must never panic, must be deterministic, and must never pass a file without
// sops metadata: a plaintext file is never taken for an encrypted one.
func FuzzInspect(f *testing.F) {
	f.Add(".yaml", "db_password: hunter2-plaintext\n")
	f.Add(".yaml", "key: ENC[AES256_GCM,data:abc=,iv:def=,tag:ghi=,type:str]\nsops:\n  version: 3.9.0\n  mac: ENC[AES256_GCM,data:x=,iv:y=,tag:z=,type:str]\n  age:\n    - recipient: age1xyz\n      enc: |\n        -----BEGIN AGE ENCRYPTED FILE-----\n        -----END AGE ENCRYPTED FILE-----\n")
	f.Add(".json", `{"key": "ENC[AES256_GCM,data:abc=,iv:def=,tag:ghi=,type:str]", "sops": {"version": "3.9.0", "mac": "x"}}`)
	f.Add(".yml", "")
	f.Add(".toml", "key = \"value\"\n")
	f.Add(".yaml", "sops: 1\n")
	f.Fuzz(func(t *testing.T, ext, data string) {
		path := "secrets/config.fuzz" + ext
		if strings.ContainsAny(ext, "/\\\x00") {
			return
		}
		first := Inspect(path, []byte(data))
		if diff := cmp.Diff(first, Inspect(path, []byte(data))); diff != "" {
			t.Fatalf("Inspect is not deterministic (-first +second):\n%s", diff)
		}
		if !strings.Contains(data, "sops") && len(first) == 0 {
			t.Fatalf("a file without sops metadata passed the check: %q", data)
		}
		for _, p := range first {
			if p.What == "" {
				t.Fatalf("a problem without a description: %+v", p)
			}
		}
	})
}
