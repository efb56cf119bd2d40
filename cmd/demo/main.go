// Command demo runs the seed's whole deployment lifecycle (pull request opened and updated, merge to
// main, promotion to prod, pull request closed) against the project's Heroku and GitHub test
// servers, printing what the workflow logs would show.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/sandbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	world, err := sandbox.New(sandbox.Options{BuildTime: 600 * time.Millisecond, ReleaseTime: 200 * time.Millisecond})
	if err != nil {
		return err
	}
	defer world.Close()
	world.SeedLifecycle()
	fmt.Printf("Heroku test server %s, GitHub test server %s\npipeline %s: %s (staging), %s (production)\n",
		world.Heroku.URL(), world.GitHub.URL(), sandbox.Pipeline, sandbox.StagingApp, sandbox.ProdApp)

	for i, step := range sandbox.LifecycleCI() {
		fmt.Printf("\n%s\n== %d/5 %s\n== on: %s   (uses: pangeo-forge/deploy-action@v1)\n%s\n",
			strings.Repeat("=", 100), i+1, step.Title, step.Event, strings.Repeat("=", 100))
		run, err := world.Run(ctx, step, sandbox.NewRunnerLog(os.Stdout))
		if err != nil {
			return err
		}
		fmt.Printf("-- exit code %d\n-- outputs:\n", run.Code)
		names := make([]string, 0, len(run.Outputs))
		for name := range run.Outputs {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Printf("   %s=%s\n", name, run.Outputs[name])
		}
		fmt.Printf("-- job summary:\n%s", indent(run.Summary))
		if run.Code != 0 {
			return fmt.Errorf("step %q failed with exit code %d", step.Title, run.Code)
		}
	}
	if v := world.Heroku.Violations(); len(v) > 0 {
		return fmt.Errorf("the Heroku test server saw requests that break its schema: %s", strings.Join(v, "; "))
	}
	if v := world.GitHub.Violations(); len(v) > 0 {
		return fmt.Errorf("the GitHub test server saw requests that break its description: %s", strings.Join(v, "; "))
	}
	printGitHub(world)
	fmt.Printf("\nAll five phases of the lifecycle ran. Heroku saw %d requests, GitHub %d.\n",
		len(world.Heroku.Requests()), len(world.GitHub.Requests()))
	return nil
}

// printGitHub shows what the pull request's readers see on GitHub afterwards.
func printGitHub(world *sandbox.World) {
	fmt.Printf("\n%s\n== On GitHub afterwards\n%s\n", strings.Repeat("=", 100), strings.Repeat("=", 100))
	fmt.Println("-- check runs:")
	for _, cr := range world.GitHub.CheckRuns(sandbox.Repository) {
		fmt.Printf("   %-16s on %.12s: %s (%s)\n", cr.Name, cr.HeadSHA, cr.Conclusion, cr.Title)
	}
	fmt.Println("-- deployments:")
	for _, d := range world.GitHub.Deployments(sandbox.Repository) {
		var states []string
		for _, st := range d.Statuses {
			states = append(states, st.State)
		}
		fmt.Printf("   %-22s on %.12s: %s\n", d.Environment, d.SHA, strings.Join(states, " -> "))
	}
	for _, c := range world.GitHub.Comments(sandbox.Repository, sandbox.PR) {
		fmt.Printf("-- the sticky comment on pull request #%d (edited in place):\n%s", sandbox.PR, indent(c.Body))
	}
}

func indent(s string) string {
	return "   " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n   ") + "\n"
}
