package heroku

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"

	heroku "github.com/heroku/heroku-go/v5"
)

// AppSetup is an app Heroku makes from a source tarball and the app.json in it: the app, its
// add-ons, its config vars, a build, a release and the postdeploy script. Status is pending,
// succeeded or failed; FailureMessage says why it failed.
type AppSetup struct {
	ID, Status, FailureMessage            string
	AppID, AppName                        string
	BuildID, BuildStatus, OutputStreamURL string // empty until Heroku starts the build
	ManifestErrors                        []string
	Postdeploy                            *Postdeploy // nil until the postdeploy script ran, or when app.json has none
}

// Postdeploy is what app.json's postdeploy script printed and how it exited. The output is the
// app's own and may hold config var values: write it only where the log is masked.
type Postdeploy struct {
	Output   string
	ExitCode int
}

// AppSetupCreate asks for a new app made from an uploaded source. Name must follow Heroku's app
// name rules (see CheckAppName). Team is the team that owns the app; empty makes it a personal app
// of the API key's user. Env overrides app.json's env and becomes the app's config vars.
type AppSetupCreate struct {
	Name, Team                   string
	SourceURL, Checksum, Version string // Checksum: hex SHA256 of the tarball
	Env                          map[string]string
}

// appNamePattern is the Platform API schema's pattern for app names.
var appNamePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{1,28}[a-z0-9]$`)

// CheckAppName reports whether Heroku accepts name as an app name, saying which rule it breaks.
// Checking before any request keeps a bad name from failing a run half-way.
func CheckAppName(name string) error {
	if appNamePattern.MatchString(name) {
		return nil
	}
	var why string
	switch {
	case len(name) > 30:
		why = fmt.Sprintf("it is %d characters long, Heroku allows at most 30", len(name))
	case len(name) < 3:
		why = "Heroku needs at least 3 characters"
	case name[0] < 'a' || name[0] > 'z':
		why = "it must start with a lower-case letter"
	case strings.HasSuffix(name, "-"):
		why = "it must not end with a dash"
	default:
		why = "use only lower-case letters, digits and dashes"
	}
	return fmt.Errorf("%q is not a valid Heroku app name: %s", name, why)
}

// CreateAppSetup starts an app setup. The app exists (with its ID in the answer) as soon as this
// returns; its add-ons, build, release and postdeploy script run afterwards (WaitAppSetup). It is
// never retried after the server may have seen it: a second setup would fail on the taken name.
func (c *Client) CreateAppSetup(ctx context.Context, s AppSetupCreate) (AppSetup, error) {
	if err := CheckAppName(s.Name); err != nil {
		return AppSetup{}, fmt.Errorf("creating app %s: %w", s.Name, err)
	}
	for name := range s.Env {
		if !configVarName.MatchString(name) {
			return AppSetup{}, fmt.Errorf("creating app %s: config var name %q is not accepted by Heroku: use letters, digits and underscores", s.Name, name)
		}
	}
	// Built by hand rather than with heroku.AppSetupCreateOpts, whose nested anonymous structs make
	// the optional parts awkward; the field names are the schema's.
	type appOpts struct {
		Name         string `json:"name"`
		Organization string `json:"organization,omitempty"`
		Personal     *bool  `json:"personal,omitempty"`
	}
	type blob struct {
		URL      string `json:"url"`
		Checksum string `json:"checksum,omitempty"`
		Version  string `json:"version,omitempty"`
	}
	type overrides struct {
		Env map[string]string `json:"env,omitempty"`
	}
	body := struct {
		App        appOpts    `json:"app"`
		SourceBlob blob       `json:"source_blob"`
		Overrides  *overrides `json:"overrides,omitempty"`
	}{
		App:        appOpts{Name: s.Name, Organization: s.Team},
		SourceBlob: blob{URL: s.SourceURL, Version: s.Version},
	}
	if s.Team == "" {
		// Without it, a user with a default team would get the app in that team instead.
		body.App.Personal = heroku.Bool(true)
	}
	if s.Checksum != "" {
		body.SourceBlob.Checksum = "SHA256:" + s.Checksum
	}
	if len(s.Env) > 0 {
		body.Overrides = &overrides{Env: s.Env}
	}
	var out heroku.AppSetup
	if err := c.post(ctx, &out, "/app-setups", body); err != nil {
		where := "your personal account"
		if s.Team != "" {
			where = fmt.Sprintf("team %q", s.Team)
		}
		switch status := statusOf(err); {
		case status == http.StatusNotFound && s.Team != "":
			return AppSetup{}, fmt.Errorf("creating app %s in %s with an app setup: the team does not exist or the Heroku API key's user is not a member of it; check the team input: %w", s.Name, where, err)
		case status == http.StatusUnprocessableEntity && strings.Contains(strings.ToLower(err.Error()), "taken"):
			return AppSetup{}, fmt.Errorf("creating app %s in %s with an app setup: the name is taken, by an app the Heroku API key cannot see or by one made meanwhile; if it stays taken, change the review_name input: %w", s.Name, where, err)
		}
		return AppSetup{}, fmt.Errorf("creating app %s in %s with an app setup: %w", s.Name, where, err)
	}
	return toAppSetup(&out), nil
}

var configVarName = regexp.MustCompile(`^\w+$`)

func toAppSetup(s *heroku.AppSetup) AppSetup {
	out := AppSetup{
		ID: s.ID, Status: s.Status, FailureMessage: deref(s.FailureMessage),
		AppID: s.App.ID, AppName: s.App.Name, ManifestErrors: s.ManifestErrors,
	}
	if s.Build != nil {
		out.BuildID, out.BuildStatus, out.OutputStreamURL = s.Build.ID, s.Build.Status, s.Build.OutputStreamURL
	}
	if s.Postdeploy != nil {
		out.Postdeploy = &Postdeploy{Output: s.Postdeploy.Output, ExitCode: s.Postdeploy.ExitCode}
	}
	return out
}

// AppSetup reads an app setup.
func (c *Client) AppSetup(ctx context.Context, id string) (AppSetup, error) {
	var s heroku.AppSetup
	if err := c.get(ctx, &s, p("/app-setups/", id)); err != nil {
		return AppSetup{}, fmt.Errorf("reading app setup %s: %w", id, err)
	}
	return toAppSetup(&s), nil
}

// WaitAppSetup waits until the app setup has succeeded, copying its build's output to log (nil:
// discard) once Heroku starts the build. A failed setup is returned with a *FailedError carrying
// Heroku's failure message and the manifest's errors; its Postdeploy holds the script's output.
func (c *Client) WaitAppSetup(ctx context.Context, id string, log io.Writer) (AppSetup, error) {
	var (
		s        AppSetup
		streamed bool
	)
	err := c.wait(ctx, func() (bool, error) {
		var err error
		if s, err = c.AppSetup(ctx, id); err != nil {
			return false, err
		}
		if !streamed && s.OutputStreamURL != "" && log != nil {
			streamed = true
			if err := c.streamOutput(ctx, s.OutputStreamURL, log, "build"); err != nil {
				return false, err
			}
			// The stream ends with the build: read the setup again rather than sleep first.
			if s, err = c.AppSetup(ctx, id); err != nil {
				return false, err
			}
		}
		switch s.Status {
		case "succeeded":
			return true, nil
		case "pending":
			return false, nil
		}
		msg := s.FailureMessage
		if len(s.ManifestErrors) > 0 {
			msg = strings.TrimSpace(msg + " (app.json: " + strings.Join(s.ManifestErrors, "; ") + ")")
		}
		if s.Postdeploy != nil && s.Postdeploy.ExitCode != 0 && !strings.Contains(strings.ToLower(msg), "postdeploy") {
			msg = strings.TrimSpace(fmt.Sprintf("%s (the postdeploy script exited with code %d)", msg, s.Postdeploy.ExitCode))
		}
		return false, &FailedError{What: "app setup", ID: id, Status: s.Status, Message: msg}
	})
	return s, err
}

// CreateCoupling couples app (name or ID) to the pipeline at stage.
func (c *Client) CreateCoupling(ctx context.Context, pipelineID, app, stage string) (Coupling, error) {
	if !slices.Contains(Stages, stage) {
		return Coupling{}, fmt.Errorf("unknown pipeline stage %q: use one of %s", stage, strings.Join(Stages, ", "))
	}
	var opts heroku.PipelineCouplingCreateOpts
	opts.App, opts.Pipeline, opts.Stage = app, pipelineID, stage
	var out heroku.PipelineCoupling
	if err := c.post(ctx, &out, "/pipeline-couplings", opts); err != nil {
		return Coupling{}, fmt.Errorf("coupling app %q to pipeline %s at the %s stage: %w", app, pipelineID, stage, err)
	}
	return Coupling{ID: out.ID, Stage: out.Stage, App: App{ID: out.App.ID}}, nil
}

// PipelineTeam is the name of the team that owns the pipeline, or "" when a user owns it: apps
// made for the pipeline belong where the pipeline does.
func (c *Client) PipelineTeam(ctx context.Context, pipelineID string) (string, error) {
	var pl heroku.Pipeline
	if err := c.get(ctx, &pl, p("/pipelines/", pipelineID)); err != nil {
		return "", fmt.Errorf("reading the owner of pipeline %s: %w", pipelineID, err)
	}
	if pl.Owner == nil || pl.Owner.Type != "team" {
		return "", nil
	}
	var team heroku.Team
	if err := c.get(ctx, &team, p("/teams/", pl.Owner.ID)); err != nil {
		if statusOf(err) == http.StatusNotFound || statusOf(err) == http.StatusForbidden {
			return "", fmt.Errorf("pipeline %s belongs to a team the Heroku API key cannot read: set the team input to the team's name: %w", pipelineID, err)
		}
		return "", fmt.Errorf("reading the team that owns pipeline %s: %w", pipelineID, err)
	}
	return team.Name, nil
}
