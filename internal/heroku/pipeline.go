package heroku

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	heroku "github.com/heroku/heroku-go/v5"
)

// Pipeline is a Heroku pipeline. Generation is its platform generation, Cedar or Fir: every app
// in a pipeline is of the pipeline's generation.
type Pipeline struct{ ID, Name, Generation string }

// App is a Heroku app. WebURL is where it answers (new apps get a random hostname suffix).
type App struct {
	ID, Name, WebURL string
	// Stack is the stack the app runs on, BuildStack the one its next build uses (they differ
	// while a stack change waits for a build).
	Stack, BuildStack string
	// Generation is the app's platform generation, Cedar or Fir.
	Generation string
	// Maintenance is the app's maintenance mode: while it is on, Heroku's router answers every
	// request with the maintenance page (503) instead of passing it to the app's dynos.
	Maintenance bool
}

// ContainerStack is the stack of heroku.yml (Docker) apps. Heroku cannot promote them in a
// pipeline (Dev Center, "Container Registry & Runtime (Docker Deploys)", known limitations).
const ContainerStack = "container"

// OnContainerStack reports whether the app runs, or will build, on the container stack.
func (a App) OnContainerStack() bool {
	return a.Stack == ContainerStack || a.BuildStack == ContainerStack
}

// Coupling places an app at a stage of a pipeline. Created is when the app was coupled.
type Coupling struct {
	ID, Stage string
	App       App
	Created   time.Time
}

// Domain is a hostname of an app with its DNS target and ACM certificate status.
type Domain struct{ Hostname, CNAME, Kind, ACMStatus, ACMStatusReason string }

// Stages are the pipeline stages AppAtStage accepts.
var Stages = []string{"review", "development", "staging", "production"}

// Pipeline finds a pipeline by name or ID.
func (c *Client) Pipeline(ctx context.Context, nameOrID string) (Pipeline, error) {
	var pl apiPipeline
	if err := c.get(ctx, &pl, p("/pipelines/", nameOrID)); err != nil {
		if statusOf(err) == http.StatusNotFound {
			return Pipeline{}, fmt.Errorf("pipeline %q does not exist or the Heroku API key cannot see it: check the pipeline input and that the key's user is a member of the pipeline's team: %w", nameOrID, err)
		}
		return Pipeline{}, fmt.Errorf("looking up pipeline %q: %w", nameOrID, err)
	}
	return Pipeline{ID: pl.ID, Name: pl.Name, Generation: generationName(pl.Generation)}, nil
}

// Couplings lists every coupling of the pipeline, with each app's name and web URL.
func (c *Client) Couplings(ctx context.Context, pipelineID string) ([]Coupling, error) {
	return c.listCouplings(ctx, pipelineID, "", false)
}

// listCouplings lists the pipeline's couplings, only those at stage unless it is empty, and
// resolves the apps of those it keeps (one GET each, so filtering first saves requests on pipelines
// with many review apps). With reuse, the list read last is used again when no write came since.
// AppIDAtStage is AppAtStage for a caller that needs only the app's ID: it saves reading the app.
func (c *Client) AppIDAtStage(ctx context.Context, pipelineID, stage string) (string, error) {
	raw, err := c.rawCouplings(ctx, pipelineID, true)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, pc := range raw {
		if pc.Stage == stage {
			ids = append(ids, pc.App.ID)
		}
	}
	if len(ids) != 1 {
		// The full lookup words the error (none, or several apps and their names).
		app, err := c.AppAtStage(ctx, pipelineID, stage)
		return app.ID, err
	}
	return ids[0], nil
}

// AppIDsAtStage is every app coupled to the pipeline at stage, by ID (App.ID only: the apps are
// not read), the first coupled first. Heroku lets a stage hold several apps (production in the US
// and in the EU), and a promotion names every app downstream as a target (docs/heroku.md). It
// wraps ErrNoApp when there is none.
func (c *Client) AppIDsAtStage(ctx context.Context, pipelineID, stage string) ([]Coupling, error) {
	if !slices.Contains(Stages, stage) {
		return nil, fmt.Errorf("unknown pipeline stage %q: use one of %s", stage, strings.Join(Stages, ", "))
	}
	raw, err := c.rawCouplings(ctx, pipelineID, true)
	if err != nil {
		return nil, err
	}
	var out []Coupling
	for _, pc := range raw {
		if pc.Stage == stage {
			out = append(out, Coupling{ID: pc.ID, Stage: pc.Stage, App: App{ID: pc.App.ID}, Created: pc.CreatedAt})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("pipeline %s has no app at the %s stage: couple one (heroku pipelines:add) before deploying: %w", pipelineID, stage, ErrNoApp)
	}
	slices.SortStableFunc(out, func(a, b Coupling) int { return a.Created.Compare(b.Created) })
	return out, nil
}

func (c *Client) listCouplings(ctx context.Context, pipelineID, stage string, reuse bool) ([]Coupling, error) {
	raw, err := c.rawCouplings(ctx, pipelineID, reuse)
	if err != nil {
		return nil, err
	}
	var out []Coupling
	for _, pc := range raw {
		if stage != "" && pc.Stage != stage {
			continue
		}
		app, err := c.App(ctx, pc.App.ID)
		if err != nil {
			return nil, fmt.Errorf("resolving the app coupled at %s of pipeline %s: %w", pc.Stage, pipelineID, err)
		}
		out = append(out, Coupling{ID: pc.ID, Stage: pc.Stage, App: app, Created: pc.CreatedAt})
	}
	return out, nil
}

// AppAtStage is the one app coupled to the pipeline at stage. It wraps ErrNoApp when there is
// none: the action never creates an app implicitly.
func (c *Client) AppAtStage(ctx context.Context, pipelineID, stage string) (App, error) {
	if !slices.Contains(Stages, stage) {
		return App{}, fmt.Errorf("unknown pipeline stage %q: use one of %s", stage, strings.Join(Stages, ", "))
	}
	cs, err := c.listCouplings(ctx, pipelineID, stage, true)
	if err != nil {
		return App{}, err
	}
	switch len(cs) {
	case 0:
		return App{}, fmt.Errorf("pipeline %s has no app at the %s stage: couple one (heroku pipelines:add) before deploying: %w", pipelineID, stage, ErrNoApp)
	case 1:
		return cs[0].App, nil
	}
	names := make([]string, len(cs))
	for i, cp := range cs {
		names[i] = cp.App.Name
	}
	return App{}, fmt.Errorf("pipeline %s has %d apps at the %s stage (%s): keep exactly one there so the action knows which to deploy", pipelineID, len(cs), stage, strings.Join(names, ", "))
}

// App finds an app by name or ID.
func (c *Client) App(ctx context.Context, nameOrID string) (App, error) {
	var a apiApp
	if err := c.get(ctx, &a, p("/apps/", nameOrID)); err != nil {
		return App{}, fmt.Errorf("looking up app %q: %w", nameOrID, err)
	}
	return toApp(&a), nil
}

func toApp(a *apiApp) App {
	return App{ID: a.ID, Name: a.Name, WebURL: a.WebURL, Stack: a.Stack.Name, BuildStack: a.BuildStack.Name, Generation: generationName(a.Generation), Maintenance: a.Maintenance}
}

// SetMaintenance turns the app's maintenance mode on or off (PATCH /apps/{app} with
// {"maintenance": on}, as heroku maintenance:on and :off do). It makes no release: the running
// dynos are not restarted, the router stops (or resumes) passing requests to them. It returns the
// app as Heroku answers it, with the mode it now has.
func (c *Client) SetMaintenance(ctx context.Context, app string, on bool) (App, error) {
	var a apiApp
	if err := c.patch(ctx, &a, p("/apps/", app), heroku.AppUpdateOpts{Maintenance: &on}); err != nil {
		state := "off"
		if on {
			state = "on"
		}
		return App{}, fmt.Errorf("turning maintenance mode %s for app %q: %w", state, app, err)
	}
	return toApp(&a), nil
}

// DeleteApp deletes an app.
func (c *Client) DeleteApp(ctx context.Context, nameOrID string) error {
	if err := c.del(ctx, p("/apps/", nameOrID)); err != nil {
		return fmt.Errorf("deleting app %q: %w", nameOrID, err)
	}
	return nil
}

// Domains lists every domain of the app.
func (c *Client) Domains(ctx context.Context, app string) ([]Domain, error) {
	raw, err := list[heroku.Domain](ctx, c, p("/apps/", app, "/domains"), idRange(), nil)
	if err != nil {
		return nil, fmt.Errorf("listing the domains of app %q: %w", app, err)
	}
	out := make([]Domain, len(raw))
	for i, d := range raw {
		out[i] = Domain{Hostname: d.Hostname, CNAME: deref(d.CName), Kind: d.Kind, ACMStatus: deref(d.AcmStatus), ACMStatusReason: deref(d.AcmStatusReason)}
	}
	return out, nil
}

// WebURL is the URL Heroku gives an app (its web_url), read from the app's domains: the one
// domain of kind "heroku" is the app's default hostname, so https://<hostname>/. Empty when the
// domains hold no such domain or more than one.
func WebURL(domains []Domain) string {
	url := ""
	for _, d := range domains {
		if d.Kind != "heroku" {
			continue
		}
		if url != "" {
			return ""
		}
		url = "https://" + d.Hostname + "/"
	}
	return url
}

func deref[T any](v *T) T {
	var zero T
	if v == nil {
		return zero
	}
	return *v
}

// rawCouplings lists the pipeline's couplings, reusing the last list when reuse is set and the
// client has written nothing since.
func (c *Client) rawCouplings(ctx context.Context, pipelineID string, reuse bool) ([]heroku.PipelineCoupling, error) {
	c.mu.Lock()
	cached := c.couplings
	c.mu.Unlock()
	if reuse && cached != nil && cached.pipelineID == pipelineID {
		return cached.raw, nil
	}
	raw, err := list[heroku.PipelineCoupling](ctx, c, p("/pipelines/", pipelineID, "/pipeline-couplings"), idRange(), nil)
	if err != nil {
		return nil, fmt.Errorf("listing the couplings of pipeline %s: %w", pipelineID, err)
	}
	c.mu.Lock()
	c.couplings = &couplingList{pipelineID: pipelineID, raw: raw}
	c.mu.Unlock()
	return raw, nil
}
