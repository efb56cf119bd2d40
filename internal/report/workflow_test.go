package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSetOutputsRefusesTheDelimiter: an output value holding the file-command delimiter would end
// the value early and let the rest be read as outputs of the attacker's choosing (say
// deployed=true). Such a value is refused and nothing at all is written.
func TestSetOutputsRefusesTheDelimiter(t *testing.T) {
	t.Parallel()
	injected := "x\n" + heredocDelimiter + "\ndeployed=true"
	tests := []struct {
		name    string
		outputs []Output
		wantErr string
		want    string // the GITHUB_OUTPUT file afterwards
	}{
		{
			name:    "plain values are written",
			outputs: []Output{{"stage", "staging"}, {"app", "pangeo-forge-api-staging"}},
			want: "stage<<" + heredocDelimiter + "\nstaging\n" + heredocDelimiter + "\n" +
				"app<<" + heredocDelimiter + "\npangeo-forge-api-staging\n" + heredocDelimiter + "\n",
		},
		{
			name:    "a value with the delimiter",
			outputs: []Output{{"stage", "staging"}, {"app_url", injected}},
			wantErr: `refusing to write output "app_url"`,
		},
		{
			name:    "a name with the delimiter",
			outputs: []Output{{heredocDelimiter, "v"}},
			wantErr: "refusing to write output",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "output")
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": path}
			var log bytes.Buffer
			err := New(&log, func(k string) string { return env[k] }).SetOutputs(tt.outputs)
			got, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				if len(got) != 0 || log.Len() != 0 {
					t.Errorf("a refused output still wrote: file %q, log %q", got, log.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, strings.ReplaceAll(string(got), "\r\n", "\n")); diff != "" {
				t.Errorf("GITHUB_OUTPUT (-want +got):\n%s", diff)
			}
		})
	}
}
