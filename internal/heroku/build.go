package heroku

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	heroku "github.com/heroku/heroku-go/v5"
)

// Source is an uploaded source tarball: builds and review apps download it from GetURL.
type Source struct{ GetURL, PutURL string }

// Build is a build of an app. Status is pending, succeeded or failed. ReleaseID is set once the
// build has made a release.
type Build struct {
	ID, Status, OutputStreamURL, ReleaseID, SlugID, Version string
	SourceURL                                               string // the source_blob.url it was built from
	Checksum                                                string // source_blob.checksum, "SHA256:<hex>", "" when none was given
	CreatedAt, UpdatedAt                                    time.Time
}

// BuildCreate asks for a build of an uploaded source. Checksum is the hex SHA256 of the tarball,
// sent as "SHA256:<hex>" so Heroku refuses a tarball that changed; Version is the commit.
type BuildCreate struct{ SourceURL, Checksum, Version string }

// Release is a release of an app. Status is pending (release phase running), succeeded or
// failed; Current marks the one the app runs.
type Release struct {
	ID                                           string
	App                                          string // the app's name
	Version                                      int
	Status, SlugID, OutputStreamURL, Description string
	// ImageID is the OCI image a Fir release runs (its artifact of type oci-image), where a
	// Cedar release has SlugID; CodeID gives whichever the release has.
	ImageID   string
	Current   bool
	CreatedAt time.Time
}

// Slug is the compiled app a release runs; Commit is the version it was built from. ProcessTypes
// are its Procfile's commands by process type: a "release" entry is the release phase that runs
// on every release of the slug.
type Slug struct {
	ID, Commit   string
	ProcessTypes map[string]string
}

// UploadSource creates a source and uploads size bytes of body to it. The upload is streamed
// (memory stays bounded whatever the size) and sent with a known Content-Length and no
// Content-Type, as the signed URL requires; a retry rereads body from the start.
func (c *Client) UploadSource(ctx context.Context, body io.ReaderAt, size int64) (Source, error) {
	if size <= 0 {
		return Source{}, fmt.Errorf("uploading source: the archive is empty (%d bytes); check app_dir", size)
	}
	var s heroku.Source
	if err := c.post(ctx, &s, "/sources", nil); err != nil {
		return Source{}, fmt.Errorf("creating a source: %w", err)
	}
	src := Source{GetURL: s.SourceBlob.GetURL, PutURL: s.SourceBlob.PutURL}
	if src.PutURL == "" || src.GetURL == "" {
		return Source{}, errors.New("creating a source: heroku returned no upload URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, src.PutURL, io.NewSectionReader(body, 0, size))
	if err != nil {
		return Source{}, fmt.Errorf("uploading source to %s: %w", redactURL(src.PutURL), err)
	}
	req.ContentLength = size
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(io.NewSectionReader(body, 0, size)), nil }
	resp, err := c.raw.Do(req)
	if err != nil {
		return Source{}, fmt.Errorf("uploading source: %w", clean(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return Source{}, fmt.Errorf("uploading source to %s: HTTP %d; the signed URL may have expired, run again", redactURL(src.PutURL), resp.StatusCode)
	}
	return src, nil
}

// ConfigVars reads the app's config vars. The values are secrets: never print them.
func (c *Client) ConfigVars(ctx context.Context, app string) (map[string]string, error) {
	var raw heroku.ConfigVarInfoForAppResult
	if err := c.get(ctx, &raw, p("/apps/", app, "/config-vars")); err != nil {
		return nil, fmt.Errorf("reading the config vars of app %q: %w", app, err)
	}
	return setVars(raw), nil
}

// setVars drops the vars a config var answer gives as null.
func setVars(raw map[string]*string) map[string]string {
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// ReleaseConfigVars reads the config vars a release ran with (what a rollback to it restores). The
// values are secrets: never print them.
func (c *Client) ReleaseConfigVars(ctx context.Context, app, release string) (map[string]string, error) {
	var raw heroku.ConfigVarInfoForAppReleaseResult
	if err := c.get(ctx, &raw, p("/apps/", app, "/releases/", release, "/config-vars")); err != nil {
		return nil, fmt.Errorf("reading the config vars of release %s of app %q: %w", release, app, err)
	}
	return setVars(raw), nil
}

// UpdateConfigVars sets the vars in changes, unsetting those whose value is nil, in one release.
func (c *Client) UpdateConfigVars(ctx context.Context, app string, changes map[string]*string) error {
	if len(changes) == 0 {
		return nil
	}
	// The answer holds every var of the app; decode it into nothing rather than keep secrets around.
	if err := c.patch(ctx, nil, p("/apps/", app, "/config-vars"), changes); err != nil {
		return fmt.Errorf("updating the config vars of app %q: %w", app, err)
	}
	return nil
}

// CreateBuild starts a build of an uploaded source on the app. A request that failed after the
// server may have seen it (the connection broke, a 5xx) is never simply sent again, since two builds
// would mean two releases: the app's recent builds are read first, and a build this run's request
// made is adopted (see madeBy). Only when there is none is the build requested again.
func (c *Client) CreateBuild(ctx context.Context, app string, b BuildCreate) (Build, error) {
	// A build any of this call's requests made was created after this moment. It is judged by
	// the server's clock (from the Date of the answers, the build list's included), not the
	// runner's, which may be minutes off.
	sent := c.clock.Local()
	for attempt := 1; ; attempt++ {
		out, err := c.createBuild(ctx, app, b)
		if err == nil || !ambiguous(ctx, err) || attempt == createAttempts {
			return out, err
		}
		builds, lerr := c.RecentBuilds(ctx, app, recentBuilds)
		if lerr != nil {
			return Build{}, errors.Join(err, lerr)
		}
		for _, have := range builds {
			if madeBy(have, b, c.clock.At(sent)) {
				return have, nil
			}
		}
		if serr := c.sleep(ctx, c.poll); serr != nil {
			return Build{}, errors.Join(err, serr)
		}
	}
}

// madeBy tells whether have is the build a request for b sent at sent (server time) made. It
// matches on what Heroku keeps of the request: source_blob.version and checksum. The signed
// source_blob.url is not compared: Heroku may store it normalized (a re-encoded query), so an
// echo byte for byte is not promised. Version and checksum alone are not unique (packing is
// deterministic: a rerun of the same commit uploads the same bytes), hence the creation time,
// to the second as Heroku stamps it, of a build made no earlier than the request.
func madeBy(have Build, b BuildCreate, sent time.Time) bool {
	if have.Version != b.Version {
		return false
	}
	if b.Checksum != "" && !strings.EqualFold(have.Checksum, "SHA256:"+b.Checksum) {
		return false
	}
	return !have.CreatedAt.Before(sent.Truncate(time.Second))
}

const (
	// createAttempts bounds the requests for one creation whose outcome was unknown: as many as a
	// read gets by default (Options.MaxRetries), since each is preceded by a check that the last
	// one made nothing.
	createAttempts = 5
	// recentBuilds is how many of an app's newest builds are searched for one this run started:
	// concurrent runs are serialised by the workflows' concurrency groups, so a few suffice.
	recentBuilds = 20
)

// ambiguous reports whether a failed creation may still have been carried out: the connection
// broke after the request was sent, or a 5xx or a proxy's 429 came back (a router can answer one
// while the API goes on). Another 4xx, Heroku's rate_limit refusal, or a cancelled run, means it
// was not.
func ambiguous(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ErrRateLimited) {
		return false // refused, never processed
	}
	var ae *APIError
	if errors.As(err, &ae) {
		// A 429 that is not Heroku's rate_limit comes from something in between (a proxy).
		return ae.Status >= 500 || (ae.Status == http.StatusTooManyRequests && ae.ID != "rate_limit")
	}
	return true
}

// RecentBuilds lists up to max of the app's builds, newest first.
func (c *Client) RecentBuilds(ctx context.Context, app string, max int) ([]Build, error) {
	if max <= 0 {
		return nil, nil
	}
	rng := fmt.Sprintf("started_at ..; max=%d, order=desc", min(max, maxPageSize))
	raw, err := list[heroku.Build](ctx, c, p("/apps/", app, "/builds"), rng, func(bs []heroku.Build) bool { return len(bs) >= max })
	if err != nil {
		return nil, fmt.Errorf("listing the builds of app %q: %w", app, err)
	}
	raw = raw[:min(len(raw), max)]
	out := make([]Build, len(raw))
	for i := range raw {
		out[i] = toBuild(&raw[i])
	}
	return out, nil
}

func (c *Client) createBuild(ctx context.Context, app string, b BuildCreate) (Build, error) {
	var opts heroku.BuildCreateOpts
	opts.SourceBlob.URL = heroku.String(b.SourceURL)
	if b.Checksum != "" {
		opts.SourceBlob.Checksum = heroku.String("SHA256:" + b.Checksum)
	}
	if b.Version != "" {
		opts.SourceBlob.Version = heroku.String(b.Version)
	}
	var out heroku.Build
	if err := c.post(ctx, &out, p("/apps/", app, "/builds"), opts); err != nil {
		return Build{}, fmt.Errorf("starting a build on app %q: %w", app, err)
	}
	started := toBuild(&out)
	if started.Status == "pending" && started.OutputStreamURL != "" {
		c.mu.Lock()
		if c.builds == nil {
			c.builds = map[string]Build{}
		}
		c.builds[app+"/"+started.ID] = started
		c.mu.Unlock()
	}
	return started, nil
}

// startedBuild takes the answer of the request that started the build, if this client made it.
func (c *Client) startedBuild(app, id string) (Build, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.builds[app+"/"+id]
	delete(c.builds, app+"/"+id)
	return b, ok
}

func toBuild(b *heroku.Build) Build {
	out := Build{
		ID: b.ID, Status: b.Status, OutputStreamURL: b.OutputStreamURL,
		Version: deref(b.SourceBlob.Version), SourceURL: b.SourceBlob.URL, Checksum: deref(b.SourceBlob.Checksum),
		CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt,
	}
	if b.Release != nil {
		out.ReleaseID = b.Release.ID
	}
	if b.Slug != nil {
		out.SlugID = b.Slug.ID
	}
	return out
}

// Build reads a build.
func (c *Client) Build(ctx context.Context, app, id string) (Build, error) {
	var b heroku.Build
	if err := c.get(ctx, &b, p("/apps/", app, "/builds/", id)); err != nil {
		return Build{}, fmt.Errorf("reading build %s of app %q: %w", id, app, err)
	}
	return toBuild(&b), nil
}

// WaitBuild copies the build's output to log (nil: discard) until the stream ends, then confirms
// the outcome with one GET, polling only if the build is still pending. A failed build is a
// *FailedError. A broken stream is noted in log and the wait goes on by polling.
func (c *Client) WaitBuild(ctx context.Context, app, id string, log io.Writer) (Build, error) {
	// A build this client started was pending with its stream URL a moment ago: following the
	// stream at once saves a round trip, and the confirming GET below reads the outcome anyway.
	b, ok := c.startedBuild(app, id)
	if !ok {
		var err error
		if b, err = c.Build(ctx, app, id); err != nil {
			return Build{}, err
		}
	}
	streamed := false
	if b.OutputStreamURL != "" && (b.Status == "pending" || log != nil) {
		if err := c.streamOutput(ctx, b.OutputStreamURL, log, "build"); err != nil {
			return b, err
		}
		streamed = true
	}
	// A finished build never changes again, so only a pending one that had time to move on (the
	// stream's length) is read again before the first poll.
	refresh := streamed && b.Status == "pending"
	err := c.wait(ctx, func() (bool, error) {
		if refresh {
			var err error
			if b, err = c.Build(ctx, app, id); err != nil {
				return false, err
			}
		}
		refresh = true
		switch b.Status {
		case "pending":
			return false, nil
		case "succeeded":
			return true, nil
		}
		return false, &FailedError{What: "build", ID: id, Status: b.Status, Message: "the build output says why"}
	})
	return b, err
}

// streamOutput streams url to log, or to nowhere when log is nil: the stream's end is still the
// fastest sign the work is done. Only a cancelled context is an error; a broken stream is noted.
func (c *Client) streamOutput(ctx context.Context, url string, log io.Writer, what string) error {
	w := log
	if w == nil {
		w = io.Discard
	}
	if err := c.Stream(ctx, url, w); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if log != nil {
			fmt.Fprintf(log, "\n(the %s output stream broke off: %v; waiting for the %s to finish)\n", what, err, what)
		}
	}
	return nil
}

func toRelease(r *apiRelease) Release {
	out := Release{
		ID: r.ID, Version: r.Version, Status: r.Status, OutputStreamURL: deref(r.OutputStreamURL),
		Description: r.Description, Current: r.Current, CreatedAt: r.CreatedAt, App: r.App.Name,
	}
	if r.Slug != nil {
		out.SlugID = r.Slug.ID
	}
	for _, a := range r.Artifacts {
		if a.Type == ArtifactOCIImage && out.ImageID == "" {
			out.ImageID = a.ID
		}
	}
	return out
}

// Release reads a release by ID or version number.
func (c *Client) Release(ctx context.Context, app, id string) (Release, error) {
	var r apiRelease
	if err := c.get(ctx, &r, p("/apps/", app, "/releases/", id)); err != nil {
		return Release{}, fmt.Errorf("reading release %s of app %q: %w", id, app, err)
	}
	return toRelease(&r), nil
}

// WaitRelease waits for the release phase, streaming its output to log when there is one, and
// returns a *FailedError when it failed: a good build can still end in a failed release.
func (c *Client) WaitRelease(ctx context.Context, app, id string, log io.Writer) (Release, error) {
	return c.WaitReleaseSettling(ctx, app, id, log, nil)
}

// WaitReleaseSettling is WaitRelease calling settling (when not nil) just before each read of the
// release that may find it finished: the first, and each after the release phase's output or a
// poll. Reads the caller makes once the release is done can so go out beside the read that
// confirms it rather than one round trip after it; the last call is the one beside that read.
func (c *Client) WaitReleaseSettling(ctx context.Context, app, id string, log io.Writer, settling func()) (Release, error) {
	if settling == nil {
		settling = func() {}
	}
	settling()
	r, err := c.Release(ctx, app, id)
	if err != nil {
		return r, err
	}
	return c.waitReleaseFrom(ctx, app, r, log, settling)
}

// waitReleaseFrom is WaitRelease from r, a read of the release made just before: a caller that
// found the release in a list need not read it again for its output stream.
func (c *Client) waitReleaseFrom(ctx context.Context, app string, r Release, log io.Writer, settling func()) (Release, error) {
	streamed := false
	// follow streams the release phase's output once its URL is known (it appears only once the
	// phase starts) and says whether the release must be read again: one that was pending has
	// moved on by the stream's end, one that had finished never changes again.
	follow := func() (bool, error) {
		if streamed || r.OutputStreamURL == "" || (r.Status != "pending" && log == nil) {
			return false, nil
		}
		streamed = true
		return r.Status == "pending", c.streamOutput(ctx, r.OutputStreamURL, log, "release phase")
	}
	fresh := true
	read := func() (err error) {
		settling()
		r, err = c.Release(ctx, app, r.ID)
		return err
	}
	err := c.wait(ctx, func() (bool, error) {
		if !fresh {
			if err := read(); err != nil {
				return false, err
			}
		}
		fresh = false
		if again, err := follow(); err != nil {
			return false, err
		} else if again {
			if err := read(); err != nil {
				return false, err
			}
		}
		switch r.Status {
		case "pending":
			return false, nil
		case "succeeded":
			return true, nil
		case "expired":
			return false, &FailedError{What: "release", ID: r.ID, Status: r.Status, Message: fmt.Sprintf("Heroku no longer keeps release v%d (it expired), so the app does not run it; deploy again", r.Version)}
		}
		return false, &FailedError{What: "release", ID: r.ID, Status: r.Status, Message: fmt.Sprintf("the release phase of v%d failed; its output says why, and the app keeps running the previous release", r.Version)}
	})
	return r, err
}

// Releases lists up to max releases of the app, newest first.
func (c *Client) Releases(ctx context.Context, app string, max int) ([]Release, error) {
	if max <= 0 {
		return nil, nil
	}
	rng := fmt.Sprintf("version ..; max=%d, order=desc", min(max, maxPageSize))
	raw, err := list[apiRelease](ctx, c, p("/apps/", app, "/releases"), rng, func(rs []apiRelease) bool { return len(rs) >= max })
	if err != nil {
		return nil, fmt.Errorf("listing the releases of app %q: %w", app, err)
	}
	raw = raw[:min(len(raw), max)]
	out := make([]Release, len(raw))
	for i := range raw {
		out[i] = toRelease(&raw[i])
	}
	return out, nil
}

// CurrentRelease is the release the app runs: the newest that succeeded and is current. It wraps
// ErrNoRelease when the app has never released.
func (c *Client) CurrentRelease(ctx context.Context, app string) (Release, error) {
	current, _, err := c.CurrentAndNewestRelease(ctx, app)
	return current, err
}

// CurrentAndNewestRelease is CurrentRelease and, from the same read, the version of the app's
// newest release whatever its status (a failed release phase leaves a newer release than the
// current one): a release numbered above it was made later.
func (c *Client) CurrentAndNewestRelease(ctx context.Context, app string) (current Release, newest int, err error) {
	isCurrent := func(r *apiRelease) bool { return r.Current && r.Status == "succeeded" }
	rng := fmt.Sprintf("version ..; max=%d, order=desc", maxPageSize)
	raw, err := list[apiRelease](ctx, c, p("/apps/", app, "/releases"), rng, func(rs []apiRelease) bool {
		return containsFunc(rs, isCurrent)
	})
	if err != nil {
		return Release{}, 0, fmt.Errorf("finding the current release of app %q: %w", app, err)
	}
	for i := range raw {
		newest = max(newest, raw[i].Version)
	}
	for i := range raw {
		if isCurrent(&raw[i]) {
			return toRelease(&raw[i]), newest, nil
		}
	}
	return Release{}, newest, fmt.Errorf("app %q has no succeeded current release; deploy it once first: %w", app, ErrNoRelease)
}

func containsFunc[T any](s []T, f func(*T) bool) bool {
	for i := range s {
		if f(&s[i]) {
			return true
		}
	}
	return false
}

// Slug reads a slug, for the commit a release was built from.
func (c *Client) Slug(ctx context.Context, app, id string) (Slug, error) {
	var s heroku.Slug
	if err := c.get(ctx, &s, p("/apps/", app, "/slugs/", id)); err != nil {
		return Slug{}, fmt.Errorf("reading slug %s of app %q: %w", id, app, err)
	}
	return Slug{ID: s.ID, Commit: deref(s.Commit), ProcessTypes: s.ProcessTypes}, nil
}

// Rollback makes a new release of the app that runs the code and config of releaseID.
func (c *Client) Rollback(ctx context.Context, app, releaseID string) (Release, error) {
	var r apiRelease
	if err := c.post(ctx, &r, p("/apps/", app, "/releases"), heroku.ReleaseRollbackOpts{Release: releaseID}); err != nil {
		return Release{}, fmt.Errorf("rolling app %q back to release %s: %w", app, releaseID, err)
	}
	return toRelease(&r), nil
}

// ReleaseSlug makes a new release of the app that runs slugID with the app's current config vars
// (POST /apps/{app}/releases with "slug", the schema's "Create" link): what a build's release did,
// made again, with the description saying why; or a slug built on another app of the account, how
// one build serves several apps of a stage (Dev Center, "Copying Slugs with the Platform API";
// Cedar-generation apps only, docs/heroku.md).
func (c *Client) ReleaseSlug(ctx context.Context, app, slugID, description string) (Release, error) {
	var r apiRelease
	opts := heroku.ReleaseCreateOpts{Slug: slugID}
	if description != "" {
		opts.Description = &description
	}
	if err := c.post(ctx, &r, p("/apps/", app, "/releases"), opts); err != nil {
		return Release{}, fmt.Errorf("releasing slug %s on app %q: %w", slugID, app, err)
	}
	return toRelease(&r), nil
}
