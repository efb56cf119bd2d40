package secrets_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/secrets"
	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest"
	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest/kmstest"
	"go.yaml.in/yaml/v3"
)

// BenchmarkDecrypt500Keys loads a 500-key file (50 sections of 10 values):
// with age the data key is recovered locally, so ns/op is the cost of
// decrypting and verifying the values (target: at most 10 ms); with KMS it
// adds one Decrypt request to in-process local-kms. kms-requests/file is the
// number of KMS requests per Load: 1 with KMS (whatever the number of values),
// 0 with age. after-data-key times only what the target names: decrypting the
// parsed file once its data key is known. x-plain-yaml-parse is ns/op against a
// baseline measured in the same run: parsing the plaintext of the same file
// with the YAML library sops uses, the least any reader of the file pays.
func BenchmarkDecrypt500Keys(b *testing.B) {
	var doc strings.Builder
	for s := range 50 {
		fmt.Fprintf(&doc, "section_%02d:\n", s)
		for k := range 10 {
			fmt.Fprintf(&doc, "  key_%02d: fake-value-%02d-%02d-%s\n", k, s, k, strings.Repeat("x", 40))
		}
	}
	plain := []byte(doc.String())
	// The baseline: the median of 100 parses after 20 to warm up (testing.Benchmark cannot run
	// inside a benchmark).
	parses := make([]time.Duration, 120)
	for i := range parses {
		start := time.Now()
		var n yaml.Node
		if err := yaml.Unmarshal(plain, &n); err != nil {
			b.Fatal(err)
		}
		parses[i] = time.Since(start)
	}
	parses = parses[20:]
	slices.Sort(parses)
	baseline := parses[len(parses)/2]
	identity, recipient := sopstest.NewAgeKey(b)
	kms := kmstest.New(b)
	arn := kms.CreateKey(b, "us-east-1")

	for _, bc := range []struct {
		name string
		opts sopstest.Options
		env  map[string]string
	}{
		{"age", sopstest.Options{Age: []string{recipient}}, map[string]string{"SOPS_AGE_KEY": identity}},
		{"kms", sopstest.Options{KMS: []string{arn}, KMSClient: kms.HTTPClient()}, kms.Env()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dir := b.TempDir()
			enc := sopstest.EncryptYAML(b, []byte(doc.String()), bc.opts)
			writeSecretsTB(b, dir, "pangeo-forge", enc)
			opt := secrets.Options{Getenv: env(bc.env), HTTPClient: kms.HTTPClient()}
			kms.Reset()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				vars, err := secrets.Load(context.Background(), dir, "pangeo-forge", opt)
				if err != nil {
					b.Fatal(err)
				}
				if len(vars) != 500 {
					b.Fatalf("%d vars, want 500", len(vars))
				}
			}
			b.ReportMetric(float64(kms.Count("Decrypt"))/float64(b.N), "kms-requests/file")
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(baseline), "x-plain-yaml-parse")
		})
	}

	// What the target names: the decryption once the file is parsed and its data key known (the
	// same for age and KMS), MAC check and flattening included.
	b.Run("after-data-key", func(b *testing.B) {
		dir := b.TempDir()
		enc := sopstest.EncryptYAML(b, []byte(doc.String()), sopstest.Options{Age: []string{recipient}})
		writeSecretsTB(b, dir, "pangeo-forge", enc)
		parsed, err := secrets.ParseFile(context.Background(), filepath.Join(dir, secrets.FileName("pangeo-forge")), secrets.Options{Getenv: env(map[string]string{"SOPS_AGE_KEY": identity})})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			tree := parsed.Tree()
			b.StartTimer()
			doc, err := parsed.Decrypt(tree)
			if err != nil {
				b.Fatal(err)
			}
			if vars, err := secrets.Flatten(doc); err != nil || len(vars) != 500 {
				b.Fatalf("%d vars (%v), want 500", len(vars), err)
			}
		}
		b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(baseline), "x-plain-yaml-parse")
	})
}
