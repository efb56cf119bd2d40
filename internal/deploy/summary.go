package deploy

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/markdown"
)

// Outputs are the step outputs of design.md, in a fixed order.
func (res *Result) Outputs() [][2]string {
	release := ""
	if res.Release > 0 {
		release = strconv.Itoa(res.Release)
	}
	var testID, testNumber, testStatus string
	if t := res.TestRun; t != nil {
		testID, testStatus = t.ID, t.Status
		if t.Number > 0 {
			testNumber = strconv.Itoa(t.Number)
		}
	}
	maint, maintSeconds := "", ""
	if len(res.Maintenance) > 0 {
		maint = "off"
		var total time.Duration
		for _, w := range res.Maintenance {
			total += w.Duration
			if w.LeftOn {
				maint = "on"
			}
		}
		maintSeconds = strconv.Itoa(int(total.Round(time.Second) / time.Second))
	}
	return [][2]string{
		{"stage", string(res.Stage)},
		{"deployment", res.Deployment},
		{"app", res.App},
		{"app_url", res.AppURL},
		{"release", release},
		{"build_id", res.BuildID},
		{"commit", res.Commit},
		{"deployed", strconv.FormatBool(res.Deployed)},
		{"test_run_id", testID},
		{"test_run_number", testNumber},
		{"test_status", testStatus},
		{"maintenance", maint},
		{"maintenance_seconds", maintSeconds},
		{"apps", res.AppsJSON()},
	}
}

// MaintenanceLine says how long each app was in maintenance mode during the run: "in maintenance
// for 42 s", with the app's name when several apps had a window; "" when none had.
func (res *Result) MaintenanceLine() string {
	var parts []string
	for _, w := range res.Maintenance {
		s := "in maintenance for " + seconds(w.Duration)
		if w.LeftOn {
			s += " so far, and still on (its release phase still ran when the run stopped)"
		}
		if len(res.Maintenance) > 1 {
			s = w.App + " " + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// Markdown renders the job summary of a run: what was deployed where, how long each phase took,
// which config vars changed (names only), and the custom domains with their certificates.
func (res *Result) Markdown(title string, runErr error) string {
	var b strings.Builder
	status := "skipped"
	switch {
	case runErr != nil:
		status = "failed"
	case res.Deployed:
		status = "deployed"
	case res.Action != "":
		status = "done"
	}
	fmt.Fprintf(&b, "### %s: %s\n\n", title, status)
	if runErr != nil {
		fmt.Fprintf(&b, "> [!CAUTION]\n> %s\n\n", strings.ReplaceAll(runErr.Error(), "\n", "\n> "))
	}
	if res.Running != "" {
		fmt.Fprintf(&b, "**After this run**: %s.\n\n", res.Running)
	}
	app := markdown.Link(res.App, res.AppURL)
	if len(res.Apps) > 0 {
		app = fmt.Sprintf("%d apps (the table below)", len(res.Apps))
	}
	rows := [][2]string{
		{"Stage", string(res.Stage)},
		{"Deployment", markdown.Code(res.Deployment)},
		{"Action", res.Action},
		{"App", app},
		{"Commit", markdown.Code(short(res.Commit))},
		{"Approval", res.ApprovedBy},
		{"Build", markdown.Code(res.BuildID)},
	}
	if res.Release > 0 {
		rows = append(rows, [2]string{"Release", fmt.Sprintf("v%d", res.Release)})
	}
	if m := res.MaintenanceLine(); m != "" {
		rows = append(rows, [2]string{"Maintenance", m})
	}
	if t := res.TestRun; t != nil && t.Number > 0 {
		rows = append(rows, [2]string{"Heroku CI test run", fmt.Sprintf("#%d %s in %s", t.Number, orNone(t.Status), t.Duration.Round(time.Millisecond))})
	}
	rows = append(rows,
		[2]string{"Config vars set", names(res.VarsSet)},
		[2]string{"Config vars unset", names(res.VarsUnset)},
		[2]string{"Review apps removed", names(res.Removed)},
	)
	b.WriteString("| | |\n|---|---|\n")
	for _, row := range rows {
		if row[1] == "" {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s |\n", row[0], row[1])
	}
	b.WriteString(res.AppsMarkdown())
	for _, note := range res.Notes {
		fmt.Fprintf(&b, "\n%s\n", note)
	}
	if t := res.TestRun; t != nil && t.Status != "" && t.Status != "succeeded" && t.Tail != "" {
		fence := "```"
		for strings.Contains(t.Tail, fence) {
			fence += "`"
		}
		fmt.Fprintf(&b, "\n<details open><summary>Test run #%d, node %d: the end of its output</summary>\n\n%stext\n%s\n%s\n\n</details>\n", t.Number, t.Node, fence, t.Tail, fence)
	}
	b.WriteString(res.PhasesMarkdown())
	b.WriteString(res.DomainsMarkdown())
	return b.String()
}

func names(list []string) string { return strings.Join(list, ", ") }

// PhasesMarkdown is the table of the run's phases and their durations ("" when none ran); the job
// summary and the check run both show it.
func (res *Result) PhasesMarkdown() string {
	if len(res.Phases) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n| Phase | Duration |\n|---|---|\n")
	var total time.Duration
	for _, ph := range res.Phases {
		total += ph.Duration
		fmt.Fprintf(&b, "| %s | %s |\n", ph.Name, ph.Duration.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "| **total** | %s |\n", total.Round(time.Millisecond))
	return b.String()
}

// DomainsMarkdown is the table of the app's custom domains with their CNAME targets and ACM
// certificates, as in the seed's DNS table, and a warning for each failing certificate.
func (res *Result) DomainsMarkdown() string {
	if len(res.Domains) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n| Custom domain | CNAME target | Certificate (ACM) |\n|---|---|---|\n")
	for _, d := range res.Domains {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", d.Hostname, markdown.Code(d.CNAME), orNone(d.ACMStatus))
	}
	for _, d := range FailingCerts(res.Domains) {
		fmt.Fprintf(&b, "\n> [!WARNING]\n> The certificate of %s is %s (%s): point its CNAME record at %s.\n", d.Hostname, d.ACMStatus, orNone(d.ACMStatusReason), markdown.Code(d.CNAME))
	}
	return b.String()
}

// FailingCerts are the domains whose ACM certificate is failing (Heroku says "failing" while it
// retries and "failed" once it gave up).
func FailingCerts(domains []heroku.Domain) []heroku.Domain {
	var out []heroku.Domain
	for _, d := range domains {
		if strings.Contains(strings.ToLower(d.ACMStatus), "fail") {
			out = append(out, d)
		}
	}
	return out
}

// appOutput is one entry of the apps output.
type appOutput struct {
	App      string `json:"app"`
	URL      string `json:"url"`
	Release  int    `json:"release,omitempty"`
	Deployed bool   `json:"deployed"`
	Outcome  string `json:"outcome,omitempty"`
}

// AppsJSON is the apps output: a JSON array with one object per app the run deployed to (every app
// of a stage that holds several; the one app otherwise), "" when the run reached no app. Names,
// URLs and outcomes only: no decrypted value, which the runner would drop the output for.
func (res *Result) AppsJSON() string {
	var list []appOutput
	for _, a := range res.Apps {
		list = append(list, appOutput{App: a.App, URL: a.AppURL, Release: a.Release, Deployed: a.Deployed, Outcome: a.Outcome})
	}
	if len(res.Apps) == 0 && res.App != "" {
		list = append(list, appOutput{App: res.App, URL: res.AppURL, Release: res.Release, Deployed: res.Deployed})
	}
	if len(list) == 0 {
		return ""
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "" // strings and numbers always marshal
	}
	return string(b)
}

// AppsMarkdown is the table of a stage's apps, one row per app, when the stage holds several
// ("" otherwise): the job summary and the check run both show it.
func (res *Result) AppsMarkdown() string {
	if len(res.Apps) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n| App | Release | Secrets file | Config vars set | Config vars unset | Outcome |\n|---|---|---|---|---|---|\n")
	for _, a := range res.Apps {
		release := ""
		if a.Release > 0 {
			release = fmt.Sprintf("v%d", a.Release)
		}
		outcome := a.Outcome
		if a.Running != "" {
			outcome += ": " + a.Running
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", markdown.Link(a.App, a.AppURL), release, markdown.Code(a.SecretsFile),
			names(a.VarsSet), names(a.VarsUnset), strings.ReplaceAll(outcome, "|", "\\|"))
	}
	return b.String()
}
