package githubapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
)

// TestContents: GET /repos/{owner}/{repo}/contents/{path}?ref= answers as GitHub does: the file of
// the ref's commit in base64, wrapped in lines; 404 for a path the commit lacks and for an unknown
// ref; the default branch without ref; a directory as a list; and the contents permission.
func TestContents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newServer(t, githubapi.Options{})
	requireSpec(t, s)
	prodFile := []byte("sops:\n    mac: ENC[prod]\n" + strings.Repeat("x", 100) + "\n")
	mainFile := []byte("sops:\n    mac: ENC[main]\n")
	s.AddFile(repoName, prodSHA, "secrets/config.app.yaml", prodFile)
	s.AddFile(repoName, mainSHA, "secrets/config.app-staging.yaml", mainFile)
	c := newClient(t, s, token)

	for _, tt := range []struct {
		ref  string
		path string
		want []byte // nil: 404
		msg  string
	}{
		{ref: "prod", path: "secrets/config.app.yaml", want: prodFile},
		{ref: prodSHA, path: "secrets/config.app.yaml", want: prodFile},
		{ref: "main", path: "secrets/config.app-staging.yaml", want: mainFile},
		{ref: "", path: "secrets/config.app-staging.yaml", want: mainFile}, // the default branch
		{ref: "main", path: "secrets/config.app.yaml", msg: "Not Found"},
		{ref: "feature/x", path: "secrets/config.app.yaml", msg: "Not Found"},
		{ref: "gone", path: "secrets/config.app.yaml", msg: "No commit found for the ref gone"},
	} {
		fc, dc, _, err := c.Repositories.GetContents(ctx, owner, name, tt.path, &github.RepositoryContentGetOptions{Ref: tt.ref})
		if tt.want == nil {
			var er *github.ErrorResponse
			if statusOf(err) != http.StatusNotFound || !errors.As(err, &er) || er.Message != tt.msg {
				t.Errorf("%s at %q: %v, want 404 %q", tt.path, tt.ref, err, tt.msg)
			}
			continue
		}
		if err != nil || dc != nil {
			t.Fatalf("%s at %q: %v", tt.path, tt.ref, err)
		}
		got, err := fc.GetContent()
		if err != nil || got != string(tt.want) {
			t.Errorf("%s at %q: content %q, %v", tt.path, tt.ref, got, err)
		}
		if fc.GetEncoding() != "base64" || fc.GetType() != "file" || fc.GetPath() != tt.path || fc.GetSize() != len(tt.want) || len(fc.GetSHA()) != 40 {
			t.Errorf("%s at %q: %+v", tt.path, tt.ref, fc)
		}
		if len(tt.want) > 45 && !strings.Contains(*fc.Content, "\n") {
			t.Errorf("the base64 content is not wrapped in lines as GitHub's: %q", *fc.Content)
		}
	}

	_, dir, _, err := c.Repositories.GetContents(ctx, owner, name, "secrets", &github.RepositoryContentGetOptions{Ref: "prod"})
	if err != nil || len(dir) != 1 || dir[0].GetName() != "config.app.yaml" || dir[0].GetType() != "file" {
		t.Errorf("directory listing: %+v, %v", dir, err)
	}

	// The raw answer: the shape of GitHub's "content-file".
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/repos/"+repoName+"/contents/secrets/config.app.yaml?ref=prod", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"type", "encoding", "size", "name", "path", "content", "sha", "url", "git_url", "html_url", "download_url", "_links"} {
		if _, ok := obj[k]; !ok {
			t.Errorf("the answer lacks %q: %s", k, body)
		}
	}
	noViolations(t, s)

	// contents: read is needed.
	locked := newServer(t, githubapi.Options{Permissions: map[string]string{"checks": "write"}})
	locked.AddFile(repoName, prodSHA, "secrets/config.app.yaml", prodFile)
	if _, _, _, err := newClient(t, locked, token).Repositories.GetContents(ctx, owner, name, "secrets/config.app.yaml", &github.RepositoryContentGetOptions{Ref: "prod"}); statusOf(err) != http.StatusForbidden {
		t.Errorf("without contents: read: %v, want 403", err)
	}
}
