package secrets_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pangeo-forge/deploy-action/internal/secrets"
	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest"
	"github.com/pangeo-forge/deploy-action/internal/secrets/sopstest/kmstest"
)

// BenchmarkDecrypt500Keys loads a 500-key file (50 sections of 10 values):
// with age the data key is recovered locally, so ns/op is the cost of
// decrypting and verifying the values (target: at most 10 ms); with KMS it
// adds one Decrypt request to in-process local-kms. kms-requests/file is the
// number of KMS requests per Load: 1 with KMS (whatever the number of values),
// 0 with age.
func BenchmarkDecrypt500Keys(b *testing.B) {
	var doc strings.Builder
	for s := range 50 {
		fmt.Fprintf(&doc, "section_%02d:\n", s)
		for k := range 10 {
			fmt.Fprintf(&doc, "  key_%02d: fake-value-%02d-%02d-%s\n", k, s, k, strings.Repeat("x", 40))
		}
	}
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
		})
	}
}
