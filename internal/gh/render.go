package gh

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/pangeo-forge/deploy-action/internal/markdown"

	"github.com/pangeo-forge/deploy-action/internal/deploy"
	"github.com/pangeo-forge/deploy-action/internal/plan"
)

// view is one run as GitHub is shown it: everything in it has been scrubbed of secrets.
type view struct {
	plan       plan.Plan
	res        *deploy.Result // nil while the run is in progress
	err        string         // the run's error, scrubbed; "" when it succeeded
	conclusion string
	sha        string
	repoURL    string
	runURL     string
}

func (r *Reporter) render(res *deploy.Result, runErr error) *view {
	env := r.opt.Config.GitHub
	v := &view{plan: r.plan, sha: r.sha, runURL: r.detailsURL,
		repoURL: strings.TrimSuffix(env.ServerURL, "/") + "/" + env.Repository}
	if res == nil {
		return v
	}
	cp := *res
	cp.LogTail = r.opt.Scrub(res.LogTail)
	cp.Running = r.opt.Scrub(res.Running)
	cp.Notes = nil
	for _, n := range res.Notes {
		cp.Notes = append(cp.Notes, r.opt.Scrub(n))
	}
	cp.Apps = nil
	for _, a := range res.Apps {
		a.Running, a.Err, a.Outcome = r.opt.Scrub(a.Running), r.opt.Scrub(a.Err), r.opt.Scrub(a.Outcome)
		cp.Apps = append(cp.Apps, a)
	}
	v.res = &cp
	if v.plan.Skip == "" && res.Skipped != "" {
		v.plan.Skip = res.Skipped // the run found nothing to do once under way (a stale push)
	}
	switch {
	case runErr == nil && v.plan.Skip != "":
		v.conclusion = "neutral"
	case runErr == nil:
		v.conclusion = "success"
	case errors.Is(runErr, context.Canceled):
		v.conclusion = "cancelled"
	case errors.Is(runErr, context.DeadlineExceeded):
		v.conclusion = "timed_out" // the timeout input ran out (internal/cli says so in the error)
	default:
		v.conclusion = "failure"
	}
	if runErr != nil {
		v.err = r.opt.Scrub(runErr.Error())
	}
	return v
}

func (v *view) progressTitle(phase string) string {
	what := v.plan.Deployment
	if what == "" {
		what = string(v.plan.Stage)
	}
	if phase == "" {
		return "Starting: " + what
	}
	return fmt.Sprintf("Deploying %s: %s", what, phase)
}

func (v *view) progressSummary(phases []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**In progress**: %s of %s, commit %s.\n", v.plan.Stage, markdown.Code(v.plan.Deployment), v.commitLink(v.sha))
	if len(phases) > 0 {
		b.WriteString("\n| Phase | |\n|---|---|\n")
		for i, ph := range phases {
			state := "done"
			if i == len(phases)-1 {
				state = "running"
			}
			fmt.Fprintf(&b, "| %s | %s |\n", ph, state)
		}
	}
	if v.runURL != "" {
		fmt.Fprintf(&b, "\nFollow it in the [workflow run](%s).\n", v.runURL)
	}
	return b.String()
}

// checkOutput is the concluded check run: a title, the markdown summary, the log tail as text and
// the build's error lines as annotations.
func (v *view) checkOutput() *CheckOutput {
	level := "warning"
	if v.conclusion == "failure" {
		level = "failure"
	}
	return &CheckOutput{Title: v.title(), Summary: v.summary(), Text: logText(v.res.LogTail), Annotations: errorAnnotations(v.res.LogTail, level)}
}

func (v *view) title() string {
	res := v.res
	switch v.conclusion {
	case "neutral":
		return "Nothing to deploy"
	case "failure":
		first, _, _ := strings.Cut(v.err, "\n")
		return clip("Failed: "+first, 200)
	case "cancelled":
		return "Cancelled"
	case "timed_out":
		return "Timed out"
	}
	if res.Deployed && len(res.Apps) > 0 {
		return clip(fmt.Sprintf("Deployed %s to %s", res.Deployment, appNames(res)), 200)
	}
	if res.Deployed {
		t := fmt.Sprintf("Deployed %s to %s", res.Deployment, res.App)
		if res.Release > 0 {
			t += fmt.Sprintf(" (v%d)", res.Release)
		}
		if res.Approver != "" {
			t += ", approved by " + res.Approver
		}
		return t
	}
	if res.Stage == plan.StageTeardown && len(res.Removed) == 0 {
		return "No review app to remove"
	}
	if res.Action == "" {
		return "Done"
	}
	return strings.ToUpper(res.Action[:1]) + res.Action[1:]
}

// summary is the check run's markdown: what happened, where, from which commit, how long it took.
func (v *view) summary() string {
	res := v.res
	var b strings.Builder
	switch v.conclusion {
	case "neutral":
		fmt.Fprintf(&b, "**Skipped**: %s\n", v.plan.Skip)
	case "failure":
		fmt.Fprintf(&b, "**Failed**: the %s run of %s stopped with this error:\n\n%s\n", v.plan.Stage, markdown.Code(res.Deployment), fence(v.err, "text"))
	case "cancelled":
		fmt.Fprintf(&b, "**Cancelled**: the %s run of %s was stopped before it finished; the workflow run shows how far it got.\n", v.plan.Stage, markdown.Code(res.Deployment))
	case "timed_out":
		fmt.Fprintf(&b, "**Timed out**: the %s run of %s was stopped:\n\n%s\n", v.plan.Stage, markdown.Code(res.Deployment), fence(v.err, "text"))
	default:
		switch {
		case res.Deployed && len(res.Apps) > 0:
			fmt.Fprintf(&b, "**Deployed** %s to %d apps, %s", markdown.Code(res.Deployment), len(res.Apps), appNames(res))
		case res.Deployed:
			fmt.Fprintf(&b, "**Deployed** %s to %s", markdown.Code(res.Deployment), markdown.Link(res.App, res.AppURL))
		case res.Deployment != "":
			fmt.Fprintf(&b, "**Done**: %s", res.Deployment)
		default: // a test run or a secrets check: no deployment
			fmt.Fprintf(&b, "**Done**: the %s stage", v.plan.Stage)
		}
		if res.Action != "" {
			fmt.Fprintf(&b, ": %s", res.Action)
		}
		b.WriteString(".\n")
	}
	if res.Running != "" {
		// What the app runs after a failure: the previous release, a rollback, or the failed one.
		fmt.Fprintf(&b, "\n**After this run**: %s.\n", res.Running)
	}
	release := ""
	if res.Release > 0 {
		release = fmt.Sprintf("v%d", res.Release)
	}
	commit := res.Commit
	if commit == "" {
		commit = v.sha
	}
	rows := [][2]string{
		{"Stage", string(res.Stage)},
		{"Deployment", markdown.Code(res.Deployment)},
		{"App", markdown.Code(res.App)},
		{"URL", res.AppURL},
		{"Apps", appCount(res)},
		{"Commit", v.commitLink(commit)},
		{"Approval", res.ApprovedBy},
		{"Build", markdown.Code(res.BuildID)},
		{"Release", release},
		{"Maintenance", res.MaintenanceLine()},
		{"Config vars set", strings.Join(res.VarsSet, ", ")},
		{"Config vars unset", strings.Join(res.VarsUnset, ", ")},
		{"Review apps removed", strings.Join(res.Removed, ", ")},
		{"Workflow run", markdown.Link("logs", v.runURL)},
	}
	b.WriteString("\n| | |\n|---|---|\n")
	for _, row := range rows {
		if row[1] != "" {
			fmt.Fprintf(&b, "| %s | %s |\n", row[0], row[1])
		}
	}
	b.WriteString(res.AppsMarkdown())
	for _, n := range res.Notes {
		fmt.Fprintf(&b, "\n%s\n", n)
	}
	b.WriteString(res.PhasesMarkdown())
	b.WriteString(res.DomainsMarkdown())
	return b.String() // cut to GitHub's limit as it is sent (toOutput)
}

// statusDescription is the deployment status line (GitHub keeps 140 characters).
func (v *view) statusDescription() string {
	d := v.describeStatus()
	if v.res != nil {
		for _, w := range v.res.Maintenance {
			if w.LeftOn {
				// Said first: GitHub keeps 140 characters, and this is what an operator must act on.
				d = fmt.Sprintf("%s left in maintenance mode (release phase still running). %s", w.App, d)
			}
		}
	}
	return d
}

func (v *view) describeStatus() string {
	switch v.conclusion {
	case "success":
		if v.res.Stage == plan.StageRollback && v.res.Release > 0 {
			return fmt.Sprintf("Rolled %s back to %s as v%d", v.res.App, short(v.res.Commit), v.res.Release)
		}
		if v.res.Release > 0 {
			return fmt.Sprintf("Deployed %s as v%d of %s", short(v.sha), v.res.Release, v.res.App)
		}
		return fmt.Sprintf("Deployed %s to %s", short(v.sha), v.res.App)
	case "cancelled":
		return "Cancelled"
	}
	first, _, _ := strings.Cut(v.err, "\n")
	return "Failed: " + first
}

// Comment statuses.
const (
	statusDeploying = "⏳ deploying"
	statusDeployed  = "✅ deployed"
	statusFailed    = "❌ failed"
	statusCancelled = "⏹️ cancelled"
	statusTornDown  = "🗑️ torn down: the review app was deleted"
)

func (v *view) commentStatus() string {
	switch v.conclusion {
	case "success":
		return statusDeployed
	case "cancelled":
		return statusCancelled
	}
	return statusFailed
}

// commentMarker finds the comment again: one per review deployment, whoever wrote it.
func commentMarker(deployment string) string {
	return fmt.Sprintf("<!-- deploy-action review-app %s -->", deployment)
}

// comment is the sticky pull request comment: where the review app is, what runs there, how it went.
func (v *view) comment(status string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n### Review app %s\n\n| | |\n|---|---|\n", commentMarker(v.plan.Deployment), markdown.Code(v.plan.Deployment))
	fmt.Fprintf(&b, "| Status | %s |\n", status)
	if v.res != nil && status != statusTornDown {
		if v.res.AppURL != "" {
			fmt.Fprintf(&b, "| URL | %s |\n", v.res.AppURL)
		}
		if v.res.App != "" {
			fmt.Fprintf(&b, "| App | %s |\n", markdown.Code(v.res.App))
		}
	}
	fmt.Fprintf(&b, "| Commit | %s |\n", v.commitLink(v.sha))
	if v.runURL != "" {
		fmt.Fprintf(&b, "| Workflow run | %s |\n", markdown.Link("logs", v.runURL))
	}
	return b.String()
}

func (v *view) commitLink(sha string) string {
	if sha == "" {
		return ""
	}
	return fmt.Sprintf("[`%s`](%s/commit/%s)", short(sha), v.repoURL, sha)
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// logText is the end of the build and release output, as much as fits in a check run's text.
func logText(tail string) string {
	tail = strings.Trim(ansi.ReplaceAllString(tail, ""), "\n")
	if strings.TrimSpace(tail) == "" {
		return ""
	}
	const head = "The end of the Heroku build and release output (secrets replaced by `***`):\n\n"
	// Room for the heading, the fences and a marker of what was cut, in bytes as GitHub counts.
	budget := MaxOutputBytes - len(head) - 200
	if len(tail) > budget {
		cut := len(tail) - budget
		for cut < len(tail) && !utf8.RuneStart(tail[cut]) {
			cut++ // start on a whole character
		}
		tail = tail[cut:]
		if i := strings.IndexByte(tail, '\n'); i >= 0 {
			tail = tail[i+1:] // start on a whole line
		}
		tail = "[earlier output cut]\n" + tail
	}
	return head + fence(tail, "text")
}

// errorLine matches the lines of Heroku build and release output that say what went wrong: Heroku's
// " !     " marker, error: and fatal: prefixes, pip's ERROR: and Python exceptions.
var errorLine = regexp.MustCompile(`^(?:remote:\s*)?(?:!\s+\S|(?i:error|fatal)\b)|\bERROR:|\b[A-Z][A-Za-z]*Error: `)

// maxAnnotations bounds the annotations of one check run: past a few batches, more lines of the
// same failure help nobody.
const maxAnnotations = 150

// errorAnnotations makes an annotation of each error line of the output. They point at .github, as
// GitHub's own annotations about a workflow do, since build output names no file of the repository.
func errorAnnotations(tail, level string) []Annotation {
	var out []Annotation
	for _, line := range strings.Split(ansi.ReplaceAllString(tail, ""), "\n") {
		line = strings.TrimSpace(line)
		if !errorLine.MatchString(line) {
			continue
		}
		out = append(out, Annotation{Path: ".github", StartLine: 1, EndLine: 1, Level: level, Title: "Heroku build output", Message: clip(line, 1000)})
		if len(out) == maxAnnotations {
			break
		}
	}
	return out
}

// fence puts text in a code block whose fence is longer than any run of backticks inside it.
func fence(text, lang string) string {
	longest, run := 0, 0
	for _, c := range text {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	f := strings.Repeat("`", max(3, longest+1))
	return f + lang + "\n" + text + "\n" + f
}

// clipBytes cuts s to at most n bytes of UTF-8, on a character boundary, marking the cut with "…".
func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	end := max(n-len(mark), 0)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + mark
}

// clip cuts s to at most n characters.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// appCount points at the table of apps when the stage holds several, "" otherwise.
func appCount(res *deploy.Result) string {
	if len(res.Apps) == 0 {
		return ""
	}
	return fmt.Sprintf("%d (the table below; App and URL are the first's)", len(res.Apps))
}

// appNames are the names of the stage's apps, when it holds several.
func appNames(res *deploy.Result) string {
	names := make([]string, len(res.Apps))
	for i, a := range res.Apps {
		names[i] = a.App
	}
	return strings.Join(names, ", ")
}
