// Command testservers runs the Heroku and GitHub test servers as one standalone process, seeded like
// the sandbox's pangeo-forge world (pipeline, staging and production apps, Heroku CI, review-app
// config), for a runner that is not ours: `make test-act` runs the example workflows under nektos/act,
// whose containers reach these servers on loopback (network host). It is a test tool, never part of
// the action's image (the Dockerfile builds ./cmd/deploy-action only).
//
// Usage (from inside the repository, which holds the schemas, secrets/ and testdata/):
//
//	testservers [-git DIR -pr N -pr-branch BRANCH -labels a,b]
//
// It prints one JSON line with the servers' URLs and tokens, then reads commands from standard input,
// one a line, until it ends:
//
//	close-pull-request N   closes the pull request (GitHub closes it before it sends the event)
//
// At the end of its input it shuts the servers down and exits 1 when either saw a request that breaks
// the published description of its API (listed on standard error).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/pangeo-forge/deploy-action/internal/fake/githubapi"
	"github.com/pangeo-forge/deploy-action/internal/sandbox"
)

// Servers is what the command prints: where the servers listen and what they accept.
type Servers struct {
	HerokuAPIURL string `json:"heroku_api_url"`
	HerokuAPIKey string `json:"heroku_api_key"`
	GitHubAPIURL string `json:"github_api_url"`
	GitHubToken  string `json:"github_token"`
	Repository   string `json:"repository"`
	Pipeline     string `json:"pipeline"`
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "testservers:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("testservers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gitDir := fs.String("git", "", "seed the GitHub repository from this git checkout's commits and branches (default: the sandbox's lifecycle commits)")
	pr := fs.Int("pr", sandbox.PR, "with -git: the number of the pull request opened from -pr-branch")
	prBranch := fs.String("pr-branch", sandbox.PRBranch, "with -git: the branch of the pull request")
	labels := fs.String("labels", "", "with -git: the pull request's labels, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	world, err := sandbox.New(sandbox.Options{})
	if err != nil {
		return err
	}
	defer world.Close()
	if *gitDir == "" {
		world.SeedLifecycle()
	} else if err := seedFromGit(ctx, world.GitHub, *gitDir, *pr, *prBranch, splitList(*labels)); err != nil {
		return err
	}
	line, err := json.Marshal(Servers{
		HerokuAPIURL: world.Heroku.URL(), HerokuAPIKey: sandbox.HerokuToken,
		GitHubAPIURL: world.GitHub.URL(), GitHubToken: sandbox.GitHubToken,
		Repository: sandbox.Repository, Pipeline: sandbox.Pipeline,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", line)

	in := bufio.NewScanner(stdin)
	for in.Scan() {
		fields := strings.Fields(in.Text())
		if len(fields) == 0 {
			continue
		}
		switch {
		case len(fields) == 2 && fields[0] == "close-pull-request":
			n, err := strconv.Atoi(fields[1])
			if err != nil {
				fmt.Fprintf(stderr, "testservers: close-pull-request wants a number, got %q\n", fields[1])
				continue
			}
			world.GitHub.ClosePullRequest(sandbox.Repository, n)
			fmt.Fprintf(stdout, "closed pull request #%d\n", n)
		default:
			fmt.Fprintf(stderr, "testservers: unknown command %q (known: close-pull-request N)\n", in.Text())
		}
	}
	if err := in.Err(); err != nil {
		return err
	}
	var bad []string
	for _, v := range world.Heroku.Violations() {
		bad = append(bad, "heroku: "+v)
	}
	for _, v := range world.GitHub.Violations() {
		bad = append(bad, "github: "+v)
	}
	if len(bad) > 0 {
		return fmt.Errorf("the test servers saw requests that break their APIs' descriptions:\n%s", strings.Join(bad, "\n"))
	}
	return nil
}

// seedFromGit gives the GitHub test server the checkout's history as GitHub would have it after a
// push: every commit reachable from a ref (with its tree and parents), every local branch's head, and
// an open pull request from prBranch into main.
func seedFromGit(ctx context.Context, gh *githubapi.Server, dir string, pr int, prBranch string, labels []string) error {
	commits, err := git(ctx, dir, "log", "--all", "--format=%H%x09%T%x09%P%x09%s")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(commits, "\n") {
		f := strings.SplitN(line, "\t", 4)
		if len(f) != 4 {
			continue
		}
		gh.AddCommit(sandbox.Repository, f[0], f[1], f[3], strings.Fields(f[2])...)
	}
	branches, err := git(ctx, dir, "for-each-ref", "--format=%(refname:short)%09%(objectname)", "refs/heads")
	if err != nil {
		return err
	}
	heads := map[string]string{}
	for _, line := range strings.Split(branches, "\n") {
		if name, sha, ok := strings.Cut(line, "\t"); ok {
			heads[name] = sha
			gh.SetBranch(sandbox.Repository, name, sha)
		}
	}
	head, ok := heads[prBranch]
	if !ok {
		return fmt.Errorf("the git checkout at %s has no branch %s for the pull request: create it or pass -pr-branch", dir, prBranch)
	}
	gh.AddPullRequest(sandbox.Repository, githubapi.PullRequest{
		Number: pr, HeadSHA: head, HeadRef: prBranch, BaseRef: "main",
		Title: "Add recipe run status endpoint", User: "cisaacstern", Labels: labels,
	})
	return nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return "", fmt.Errorf("git %s in %s: %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
		}
		return "", fmt.Errorf("failed to run git (install it): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
