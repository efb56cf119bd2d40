package githubapi_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
)

func writeSpec(t *testing.T, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "api.json")
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLocateSpec(t *testing.T) {
	t.Parallel()
	mk := func(t *testing.T, files ...string) string {
		root := t.TempDir()
		for _, f := range append([]string{"go.mod"}, files...) {
			p := filepath.Join(root, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Join(root, "internal", "deep"), 0o755); err != nil {
			t.Fatal(err)
		}
		return root
	}
	full := filepath.Join(githubapi.SpecDir, githubapi.SpecFile)
	trimmed := filepath.Join(githubapi.SpecDir, githubapi.TrimmedSpecFile)
	tests := []struct {
		name  string
		files []string
		want  string
	}{
		{"none fetched", nil, ""},
		{"full only", []string{full}, full},
		{"trimmed preferred", []string{full, trimmed}, trimmed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := mk(t, tt.files...)
			got, err := githubapi.LocateSpec(filepath.Join(root, "internal", "deep"))
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			if tt.want != "" {
				want = filepath.Join(root, tt.want)
			}
			if got != want {
				t.Errorf("LocateSpec = %q, want %q", got, want)
			}
		})
	}
}

// A hand-written description exercises the OpenAPI-to-JSON-Schema conversion (nullable, enums)
// whether or not GitHub's own has been fetched.
func TestSmallSpecValidation(t *testing.T) {
	t.Parallel()
	spec := writeSpec(t, `{"openapi":"3.0.3","paths":{
	  "/repos/{owner}/{repo}/issues/{issue_number}/comments":{"post":{"operationId":"issues/create-comment",
	    "requestBody":{"required":true,"content":{"application/json":{"schema":{
	      "type":"object","required":["body"],"additionalProperties":false,
	      "properties":{"body":{"type":"string","maxLength":10},"kind":{"type":"string","enum":["a","b"],"nullable":true}}}}}}}}}}`)
	tests := []struct {
		name   string
		body   map[string]any
		status int
		fields []string
	}{
		{"valid", map[string]any{"body": "hello"}, 201, nil},
		{"nullable enum accepts null", map[string]any{"body": "hello", "kind": nil}, 201, nil},
		{"enum", map[string]any{"body": "hello", "kind": "c"}, 422, []string{"kind"}},
		{"too long", map[string]any{"body": "hello world!"}, 422, []string{"body"}},
		{"unknown property", map[string]any{"body": "x", "extra": 1}, 422, []string{""}},
		{"missing required", map[string]any{}, 422, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, githubapi.Options{Spec: spec})
			if !s.Validating() {
				t.Fatal("Validating() = false with a description given")
			}
			c := newClient(t, s, token)
			req, err := c.NewRequest("POST", "repos/pangeo-forge/app/issues/7/comments", tt.body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Do(context.Background(), req, nil)
			if resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("status: %v, want %d", err, tt.status)
			}
			var er *github.ErrorResponse
			var fields []string
			if errors.As(err, &er) {
				for _, e := range er.Errors {
					fields = append(fields, e.Field)
				}
			}
			if diff := cmp.Diff(tt.fields, fields); diff != "" {
				t.Errorf("error fields (-want +got):\n%s", diff)
			}
		})
	}
}
