package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/sandbox"
)

// TestServers: seeded from a git checkout, the GitHub server serves its commits (with their trees)
// and the pull request from its branch; the Heroku server the sandbox's pipeline; a pull request is
// closed on request; the end of the input ends the process without error.
func TestServers(t *testing.T) {
	dir := t.TempDir()
	g := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	g("init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g("add", "f")
	g("commit", "-q", "-m", "first")
	g("checkout", "-q", "-b", "feature")
	g("commit", "-q", "--allow-empty", "-m", "second")
	head, tree := g("rev-parse", "HEAD"), g("rev-parse", "HEAD^{tree}")

	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"-git", dir, "-pr", "7", "-pr-branch", "feature", "-labels", "deploy-review"}, stdinR, stdoutW, &stderr)
		stdoutW.Close()
	}()
	out := bufio.NewReader(stdoutR)
	first, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("no first line: %v\n%s", err, stderr.String())
	}
	var s Servers
	if err := json.Unmarshal([]byte(first), &s); err != nil {
		t.Fatalf("first line %q: %v", first, err)
	}
	get := func(url, token, accept string, v any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
		}
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatal(err)
		}
	}
	var commit struct {
		Tree struct{ SHA string } `json:"tree"`
	}
	get(fmt.Sprintf("%s/repos/%s/git/commits/%s", s.GitHubAPIURL, s.Repository, head), s.GitHubToken, "application/vnd.github+json", &commit)
	if commit.Tree.SHA != tree {
		t.Errorf("commit %s has tree %s, want %s", head, commit.Tree.SHA, tree)
	}
	pull := func() (state, sha string) {
		var pr struct {
			State string
			Head  struct{ SHA string }
		}
		get(fmt.Sprintf("%s/repos/%s/pulls/7", s.GitHubAPIURL, s.Repository), s.GitHubToken, "application/vnd.github+json", &pr)
		return pr.State, pr.Head.SHA
	}
	if state, sha := pull(); state != "open" || sha != head {
		t.Errorf("pull request #7: %s at %s, want open at %s", state, sha, head)
	}
	var pipeline map[string]any
	get(s.HerokuAPIURL+"/pipelines/"+s.Pipeline, s.HerokuAPIKey, "application/vnd.heroku+json; version=3", &pipeline)
	if pipeline["name"] != sandbox.Pipeline {
		t.Errorf("pipeline %v, want %s", pipeline["name"], sandbox.Pipeline)
	}

	fmt.Fprintln(stdinW, "close-pull-request 7")
	if ack, err := out.ReadString('\n'); err != nil || ack != "closed pull request #7\n" {
		t.Fatalf("close-pull-request answered %q, %v", ack, err)
	}
	if state, _ := pull(); state != "closed" {
		t.Errorf("pull request #7 is %s after close-pull-request, want closed", state)
	}
	go io.Copy(io.Discard, out)
	stdinW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the end of the input did not stop the servers")
	}
}
