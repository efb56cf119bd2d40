package plan

import (
	"strings"
	"testing"
)

// TestReviewNeverGetsProtectedSecrets: a review run whose deployment (or review fallback) is named
// like staging or prod would decrypt that file for a pull request's code; the plan refuses it
// before anything is read.
func TestReviewNeverGetsProtectedSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		inputs  map[string]string
		wantErr string // "" when the plan is fine
	}{
		{name: "defaults", inputs: nil},
		{name: "review name is the prod name", inputs: map[string]string{"review_name": "pangeo-forge"}, wantErr: `input review_name: the review deployment "pangeo-forge" is also the prod deployment`},
		{name: "review name is the staging name", inputs: map[string]string{"review_name": "pangeo-forge-staging"}, wantErr: `input review_name: the review deployment "pangeo-forge-staging" is also the staging deployment`},
		{name: "fallback is the prod name", inputs: map[string]string{"review_fallback": "pangeo-forge"}, wantErr: `input review_fallback: the review deployment "pangeo-forge" is also the prod deployment`},
		{name: "fallback is a templated staging name", inputs: map[string]string{"staging_name": "app-{branch}", "review_fallback": "app-main"}, wantErr: "also the staging deployment"},
		{name: "a fallback of its own", inputs: map[string]string{"review_fallback": "dev-app-proxy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Resolve(cfg(t, tt.inputs), pr("opened"))
			if tt.wantErr == "" {
				if err != nil || p.Stage != StageReview {
					t.Fatalf("plan %+v, error %v; want a review plan", p, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
