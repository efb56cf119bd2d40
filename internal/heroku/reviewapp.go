package heroku

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	heroku "github.com/heroku/heroku-go/v5"
)

// ReviewAppConfig is a pipeline's review app setup. Repo is the connected GitHub repository
// (its name when Heroku gives one, else its numeric ID).
type ReviewAppConfig struct {
	Repo      string
	Automatic bool
}

// ReviewApp is a Heroku Review App. Status is pending, creating, created, deleting, deleted or
// errored; AppID is empty until Heroku has made the app.
type ReviewApp struct {
	ID                             string
	PRNumber                       int
	Branch, Status, Message, AppID string
	CreatedAt, UpdatedAt           time.Time
	BuildID                        string // the app's build, when WaitReviewApp followed it
	// Adopted is set by CreateReviewApp when Heroku answered 409 and the review app returned is
	// one that request did not make (another run's, Heroku's automatic one): it never received
	// the request's environment.
	Adopted bool
}

// ReviewAppCreate asks for a review app for a pull request. SourceURL is a Source's GetURL;
// Version the commit. Environment holds config vars for the new app.
//
// Checksum is not sent: Heroku's review-app source_blob accepts only url and version (its schema
// is strict). The build that Heroku runs downloads from SourceURL, which UploadSource wrote.
type ReviewAppCreate struct {
	PipelineID, Branch           string
	PRNumber                     int
	SourceURL, Checksum, Version string
	Environment                  map[string]string
	// ForkRepoID is the GitHub ID of the fork a pull request's branch is in (the create request's
	// fork_repo_id, "repository id of the fork the branch resides in" in heroku-go v6.1.0's
	// schema.json); 0 for a branch of the pipeline's own repository, and then not sent.
	ForkRepoID int64
}

// ReviewAppConfig reads the pipeline's review app configuration, which exists only when the
// pipeline is connected to GitHub and review apps are enabled.
func (c *Client) ReviewAppConfig(ctx context.Context, pipelineID string) (ReviewAppConfig, error) {
	var raw struct {
		AutomaticReviewApps bool `json:"automatic_review_apps"`
		Repo                struct {
			ID   json.RawMessage `json:"id"`
			Name string          `json:"name"`
		} `json:"repo"`
	}
	if err := c.get(ctx, &raw, p("/pipelines/", pipelineID, "/review-app-config")); err != nil {
		if statusOf(err) == http.StatusNotFound {
			return ReviewAppConfig{}, fmt.Errorf("review apps are not enabled on pipeline %s: connect the pipeline to the GitHub repository and enable review apps (Heroku Dashboard, pipeline, Settings), or set review_mode: app-setup: %w", pipelineID, err)
		}
		return ReviewAppConfig{}, fmt.Errorf("reading the review app configuration of pipeline %s: %w", pipelineID, err)
	}
	repo := raw.Repo.Name
	if repo == "" && len(raw.Repo.ID) > 0 && string(raw.Repo.ID) != "null" {
		var s string
		if json.Unmarshal(raw.Repo.ID, &s) != nil {
			s = string(raw.Repo.ID) // a number: keep its digits
		}
		repo = s
	}
	return ReviewAppConfig{Repo: repo, Automatic: raw.AutomaticReviewApps}, nil
}

// ReviewApps lists every review app of the pipeline.
func (c *Client) ReviewApps(ctx context.Context, pipelineID string) ([]ReviewApp, error) {
	raw, err := list[heroku.ReviewApp](ctx, c, p("/pipelines/", pipelineID, "/review-apps"), idRange(), nil)
	if err != nil {
		return nil, fmt.Errorf("listing the review apps of pipeline %s: %w", pipelineID, err)
	}
	out := make([]ReviewApp, len(raw))
	for i := range raw {
		out[i] = toReviewApp(&raw[i])
	}
	return out, nil
}

func toReviewApp(r *heroku.ReviewApp) ReviewApp {
	ra := ReviewApp{
		ID: r.ID, PRNumber: deref(r.PrNumber), Branch: r.Branch, Status: r.Status,
		Message: deref(r.Message), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if ra.Message == "" {
		ra.Message = deref(r.ErrorStatus)
	}
	if r.App != nil {
		ra.AppID = r.App.ID
	}
	return ra
}

// CreateReviewApp creates the review app of a pull request. When Heroku answers 409 because one
// exists already (a concurrent run, or automatic review apps), that one is returned, marked
// Adopted; so is the one a request made when its answer was lost (a broken connection, a 5xx),
// unmarked. An adopted review app may have errored: the caller decides what to do with it.
func (c *Client) CreateReviewApp(ctx context.Context, r ReviewAppCreate) (ReviewApp, error) {
	var opts heroku.ReviewAppCreateOpts
	opts.Pipeline = r.PipelineID
	opts.Branch = r.Branch
	if r.PRNumber != 0 {
		opts.PrNumber = heroku.Int(r.PRNumber)
	}
	opts.SourceBlob.URL = heroku.String(r.SourceURL)
	if r.Version != "" {
		opts.SourceBlob.Version = heroku.String(r.Version)
	}
	if r.ForkRepoID != 0 {
		opts.ForkRepoID = heroku.Int(int(r.ForkRepoID))
	}
	if len(r.Environment) > 0 {
		opts.Environment = make(map[string]*string, len(r.Environment))
		for k, v := range r.Environment {
			opts.Environment[k] = heroku.String(v)
		}
	}
	var out heroku.ReviewApp
	var err error
	for attempt := 1; ; attempt++ {
		if err = c.post(ctx, &out, "/review-apps", opts); err == nil {
			return toReviewApp(&out), nil
		}
		if !ambiguous(ctx, err) || r.PRNumber == 0 || attempt == createAttempts {
			break
		}
		// The connection broke or a 5xx came back: the review app may exist. Adopt it rather than
		// ask again, which would answer 409 at best.
		apps, lerr := c.ReviewApps(ctx, r.PipelineID)
		if lerr != nil {
			return ReviewApp{}, fmt.Errorf("creating the review app of PR #%d: %w", r.PRNumber, errors.Join(err, lerr))
		}
		for _, a := range apps {
			if a.PRNumber == r.PRNumber && a.Status != "deleting" && a.Status != "deleted" {
				return a, nil
			}
		}
		if serr := c.sleep(ctx, c.poll); serr != nil {
			return ReviewApp{}, fmt.Errorf("creating the review app of PR #%d: %w", r.PRNumber, errors.Join(err, serr))
		}
	}
	if statusOf(err) != http.StatusConflict || r.PRNumber == 0 {
		return ReviewApp{}, fmt.Errorf("creating the review app of PR #%d: %w", r.PRNumber, err)
	}
	apps, lerr := c.ReviewApps(ctx, r.PipelineID)
	if lerr != nil {
		return ReviewApp{}, fmt.Errorf("creating the review app of PR #%d: %w", r.PRNumber, errors.Join(err, lerr))
	}
	for _, a := range apps {
		if a.PRNumber == r.PRNumber && a.Status != "deleting" && a.Status != "deleted" {
			a.Adopted = true
			return a, nil
		}
	}
	return ReviewApp{}, fmt.Errorf("creating the review app of PR #%d: heroku reports a conflict but lists no live review app for it; retry once the old one is deleted: %w", r.PRNumber, err)
}

// ReviewApp reads a review app.
func (c *Client) ReviewApp(ctx context.Context, id string) (ReviewApp, error) {
	var r heroku.ReviewApp
	if err := c.get(ctx, &r, p("/review-apps/", id)); err != nil {
		return ReviewApp{}, fmt.Errorf("reading review app %s: %w", id, err)
	}
	return toReviewApp(&r), nil
}

// WaitReviewApp waits until the review app is created, or returns a *FailedError with Heroku's
// message when it errored or was deleted meanwhile. The output of the app's build and release phase
// goes to log (nil: discarded).
//
// Polling alone would notice the end up to a poll interval late. So once Heroku has made the app,
// the wait follows the output streams of the app's build and release phase (discarding them) and
// reads the review app again as soon as they end: a handful of requests for the whole build
// rather than one per poll, and the end noticed within a round trip.
func (c *Client) WaitReviewApp(ctx context.Context, id string, log io.Writer) (ReviewApp, error) {
	var build *Build // the review app's build, once followed
	releaseFollowed := false
	// The caller has just seen the review app pending or creating (the creation's answer, the
	// pipeline's list): a read at once would say the same and cost a token of the account's rate
	// limit, so the first read waits for the first poll.
	if err := c.sleep(ctx, c.pollDelay(0)); err != nil {
		return ReviewApp{}, err
	}
	for n := 0; ; n++ {
		ra, err := c.ReviewApp(ctx, id)
		if err != nil {
			return ra, err
		}
		if build != nil {
			ra.BuildID = build.ID
		}
		switch ra.Status {
		case "created":
			if ra.BuildID == "" && ra.AppID != "" {
				// Made before the wait could follow it: the app's build is still worth naming.
				if builds, err := c.RecentBuilds(ctx, ra.AppID, 1); err == nil && len(builds) > 0 {
					ra.BuildID = builds[0].ID
				}
			}
			return ra, nil
		case "errored", "deleting", "deleted":
			return ra, &FailedError{What: "review app", ID: id, Status: ra.Status, Message: ra.Message}
		}
		if ra.Status == "creating" && ra.AppID != "" {
			followed := false
			switch {
			case build == nil:
				// Heroku may make the app a moment before its build: then poll and look again.
				build, err = c.followBuild(ctx, ra.AppID, log)
				followed = build != nil
			case !releaseFollowed:
				// The build is over but the review app is not: its release phase runs.
				releaseFollowed, followed = true, true
				err = c.followRelease(ctx, ra.AppID, build.ID, log)
			}
			if err != nil {
				return ra, err
			}
			if followed {
				n = 0 // the stream ended: look again at once, then soon
				continue
			}
		}
		if err := c.sleep(ctx, c.pollDelay(n)); err != nil {
			return ra, err
		}
	}
}

// followBuild follows the output of the newest build of app to its end, into log (nil: discarded);
// nil when the app has no build yet. Only a cancelled context is an error: whatever else goes wrong,
// the caller's polling still finds out how the review app ended.
func (c *Client) followBuild(ctx context.Context, app string, log io.Writer) (*Build, error) {
	builds, err := c.RecentBuilds(ctx, app, 1)
	if err != nil || len(builds) == 0 {
		return nil, ctx.Err()
	}
	b := builds[0]
	if b.Status == "pending" && b.OutputStreamURL != "" {
		if err := c.streamOutput(ctx, b.OutputStreamURL, log, "build"); err != nil {
			return &b, err
		}
	}
	return &b, nil
}

// followRelease follows the release phase of the build's release to its end, its output into log.
// As with followBuild, only a cancelled context is an error.
func (c *Client) followRelease(ctx context.Context, app, buildID string, log io.Writer) error {
	b, err := c.Build(ctx, app, buildID)
	if err != nil || b.Status != "succeeded" || b.ReleaseID == "" {
		return ctx.Err()
	}
	r, err := c.Release(ctx, app, b.ReleaseID)
	if err != nil {
		return ctx.Err()
	}
	if r.Status == "pending" && r.OutputStreamURL != "" {
		return c.streamOutput(ctx, r.OutputStreamURL, log, "release phase")
	}
	return nil
}

// DeleteReviewApp deletes a review app and its Heroku app. One that is already gone is not an
// error: teardown runs again when a PR is closed twice.
func (c *Client) DeleteReviewApp(ctx context.Context, id string) error {
	if err := c.del(ctx, p("/review-apps/", id)); err != nil && statusOf(err) != http.StatusNotFound {
		return fmt.Errorf("deleting review app %s: %w", id, err)
	}
	return nil
}

// WaitReviewAppDeleted waits until Heroku reports the review app deleted (or no longer knows it).
// Heroku deletes a review app and its app asynchronously, and answers 409 to a new review app
// for the same pull request until it has.
func (c *Client) WaitReviewAppDeleted(ctx context.Context, id string) error {
	return c.wait(ctx, func() (bool, error) {
		ra, err := c.ReviewApp(ctx, id)
		if statusOf(err) == http.StatusNotFound {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return ra.Status == "deleted", nil
	})
}
