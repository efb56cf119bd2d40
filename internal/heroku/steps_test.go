package heroku

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func coupling(id, stage, app string) map[string]any {
	return map[string]any{"id": id, "stage": stage, "app": map[string]string{"id": app}, "pipeline": map[string]string{"id": "pl"}}
}

func appJSON(id, name string) http.HandlerFunc {
	return ok(map[string]string{"id": id, "name": name, "web_url": "https://" + name + "-abc.herokuapp.com/"})
}

func TestAppAtStage(t *testing.T) {
	t.Parallel()
	couplings := []any{
		coupling("c1", "staging", "a-stg"),
		coupling("c2", "production", "a-prod"),
		coupling("c3", "review", "a-pr1"),
		coupling("c4", "review", "a-pr2"),
	}
	tests := []struct {
		stage   string
		apps    map[string]string // app GETs expected: id -> name
		want    App
		wantErr string
		noApp   bool
	}{
		{stage: "staging", apps: map[string]string{"a-stg": "pangeo-forge-staging"}, want: App{ID: "a-stg", Name: "pangeo-forge-staging", WebURL: "https://pangeo-forge-staging-abc.herokuapp.com/"}},
		{stage: "development", wantErr: "pipeline pl has no app at the development stage: couple one (heroku pipelines:add) before deploying: no app is coupled at this stage", noApp: true},
		{stage: "review", apps: map[string]string{"a-pr1": "pforge-pr-1", "a-pr2": "pforge-pr-2"}, wantErr: "pipeline pl has 2 apps at the review stage (pforge-pr-1, pforge-pr-2): keep exactly one there so the action knows which to deploy"},
		{stage: "prod", wantErr: `unknown pipeline stage "prod": use one of review, development, staging, production`},
	}
	for _, tt := range tests {
		t.Run(tt.stage, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			if !strings.HasPrefix(tt.wantErr, "unknown") {
				f.on("GET /pipelines/pl/pipeline-couplings", ok(couplings))
			}
			for id, name := range tt.apps {
				f.on("GET /apps/"+id, appJSON(id, name))
			}
			c, _ := newTestClient(t, f)
			app, err := c.AppAtStage(context.Background(), "pl", tt.stage)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error\n got %v\nwant %s", err, tt.wantErr)
				}
				if errors.Is(err, ErrNoApp) != tt.noApp {
					t.Errorf("errors.Is(err, ErrNoApp) = %v, want %v", !tt.noApp, tt.noApp)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, app); diff != "" {
				t.Errorf("App (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCouplingsResolvesApps(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.on("GET /pipelines/pl/pipeline-couplings", ok([]any{coupling("c1", "staging", "a1"), coupling("c2", "production", "a2")}))
	f.on("GET /apps/a1", appJSON("a1", "stg"))
	f.on("GET /apps/a2", appJSON("a2", "prod"))
	c, _ := newTestClient(t, f)
	got, err := c.Couplings(context.Background(), "pl")
	if err != nil {
		t.Fatal(err)
	}
	want := []Coupling{
		{ID: "c1", Stage: "staging", App: App{ID: "a1", Name: "stg", WebURL: "https://stg-abc.herokuapp.com/"}},
		{ID: "c2", Stage: "production", App: App{ID: "a2", Name: "prod", WebURL: "https://prod-abc.herokuapp.com/"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Couplings (-want +got):\n%s", diff)
	}
}

func TestUploadSource(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	data := bytes.Repeat([]byte("tarball!"), 4096)
	var puts []http.Header
	var bodies [][]byte
	put := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			h := r.Header.Clone()
			h.Set("X-Content-Length", fmt.Sprint(r.ContentLength))
			h.Set("X-Transfer-Encoding", strings.Join(r.TransferEncoding, ","))
			puts = append(puts, h)
			bodies = append(bodies, b)
			w.WriteHeader(status)
		}
	}
	// The first PUT fails: the retry must send the whole tarball again.
	f.on("PUT /upload/src.tgz", put(http.StatusServiceUnavailable), put(http.StatusOK))
	f.on("POST /sources", reply(201, map[string]any{"source_blob": map[string]string{
		"get_url": f.srv.URL + "/download/src.tgz?sig=abc",
		"put_url": f.srv.URL + "/upload/src.tgz?sig=abc",
	}}))
	c, _ := newTestClient(t, f)
	src, err := c.UploadSource(context.Background(), bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if src.GetURL != f.srv.URL+"/download/src.tgz?sig=abc" {
		t.Errorf("GetURL = %q", src.GetURL)
	}
	if len(puts) != 2 {
		t.Fatalf("%d PUTs, want 2", len(puts))
	}
	for i, h := range puts {
		if !bytes.Equal(bodies[i], data) {
			t.Errorf("PUT %d sent %d bytes, want the %d of the archive", i, len(bodies[i]), len(data))
		}
		if got := h.Get("X-Content-Length"); got != fmt.Sprint(len(data)) {
			t.Errorf("PUT %d Content-Length = %s, want %d", i, got, len(data))
		}
		if te := h.Get("X-Transfer-Encoding"); te != "" {
			t.Errorf("PUT %d Transfer-Encoding = %q, want none", i, te)
		}
		if ct := h.Get("Content-Type"); ct != "" {
			t.Errorf("PUT %d Content-Type = %q, want empty", i, ct)
		}
		if a := h.Get("Authorization"); a != "" {
			t.Errorf("PUT %d sent an Authorization header to the upload URL", i)
		}
	}
}

func TestUploadSourceErrors(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.on("POST /sources", reply(201, map[string]any{"source_blob": map[string]string{
		"get_url": f.srv.URL + "/download/x", "put_url": f.srv.URL + "/upload/x?X-Amz-Signature=secret",
	}}))
	f.on("PUT /upload/x", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) })
	c, _ := newTestClient(t, f)
	_, err := c.UploadSource(context.Background(), strings.NewReader("abc"), 3)
	want := fmt.Sprintf("uploading source to %s/upload/x: HTTP 403; the signed URL may have expired, run again", f.srv.URL)
	if err == nil || err.Error() != want {
		t.Fatalf("error\n got %v\nwant %s", err, want)
	}
	if _, err := c.UploadSource(context.Background(), strings.NewReader(""), 0); err == nil {
		t.Error("an empty archive was accepted")
	}
}

func TestCreateBuildBody(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	var body []byte
	f.on("POST /apps/stg/builds", capture(&body, nil, reply(201, map[string]any{
		"id": "b1", "status": "pending", "output_stream_url": "https://stream/b1",
		"source_blob": map[string]any{"version": "abc123"},
	})))
	c, _ := newTestClient(t, f)
	b, err := c.CreateBuild(context.Background(), "stg", BuildCreate{SourceURL: "https://get/src", Checksum: "deadbeef", Version: "abc123"})
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, body, `{"source_blob":{"url":"https://get/src","checksum":"SHA256:deadbeef","version":"abc123"}}`)
	if diff := cmp.Diff(Build{ID: "b1", Status: "pending", OutputStreamURL: "https://stream/b1", Version: "abc123"}, b); diff != "" {
		t.Errorf("Build (-want +got):\n%s", diff)
	}
}

func TestPromoteNamesTheRelease(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	var body []byte
	f.on("POST /pipeline-promotions", capture(&body, nil, reply(201, map[string]any{"id": "pr1", "status": "pending"})))
	c, _ := newTestClient(t, f)
	got, err := c.Promote(context.Background(), "pl", "a-stg", "rel-42", []string{"a-prod"})
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, body, `{"pipeline":{"id":"pl"},"source":{"app":{"id":"a-stg"},"release":{"id":"rel-42"}},"targets":[{"app":{"id":"a-prod"}}]}`)
	if diff := cmp.Diff(Promotion{ID: "pr1", Status: "pending"}, got); diff != "" {
		t.Errorf("Promotion (-want +got):\n%s", diff)
	}
	if _, err := c.Promote(context.Background(), "pl", "a-stg", "", []string{"a-prod"}); err == nil {
		t.Error("a promotion without a source release was sent")
	}
}

func TestWaitPromotion(t *testing.T) {
	t.Parallel()
	// The promotion runs slug s1 on a-prod, whose newest release before it was v8.
	on := PromotedRelease{App: "a-prod", CodeID: "s1", After: 8}
	release := func(v int, slug, status string) map[string]any {
		r := map[string]any{"id": fmt.Sprintf("r%d", v), "version": v, "status": status, "current": status == "succeeded", "slug": map[string]string{"id": slug}}
		if status == "pending" {
			r["output_stream_url"] = "STREAM"
		}
		return r
	}
	// A step is one request the client must make next and its answer: JSON, or the text of a
	// stream. "STREAM" in an answer stands for the test server's stream URL.
	type step struct {
		key    string
		answer any
		text   string
	}
	newest := func(r map[string]any) step { return step{"GET /apps/a-prod/releases", []any{r}, ""} }
	targets := func(status, msg string) step {
		t := map[string]any{"id": "t1", "app": map[string]string{"id": "a-prod"}, "status": status}
		if status != "pending" {
			t["release"] = map[string]string{"id": "r9"}
		}
		if msg != "" {
			t["error_message"] = msg
		}
		return step{"GET /pipeline-promotions/pr1/promotion-targets", []any{t}, ""}
	}
	twoTargets := func(mine, other string) step {
		ts := []any{}
		for _, tt := range []struct{ id, app, status string }{{"t1", "a-prod", mine}, {"t2", "a-prod-eu", other}} {
			t := map[string]any{"id": tt.id, "app": map[string]string{"id": tt.app}, "status": tt.status}
			if tt.status != "pending" {
				t["release"] = map[string]string{"id": "r9"}
			}
			if tt.status == "failed" {
				t["error_message"] = "Release phase failed"
			}
			ts = append(ts, t)
		}
		return step{"GET /pipeline-promotions/pr1/promotion-targets", ts, ""}
	}
	tests := []struct {
		name        string
		steps       []step
		wantVersion int
		wantLog     string
		wantErr     string
	}{
		{
			name: "the newest release is the promotion's: followed without reading the targets",
			steps: []step{
				newest(release(9, "s1", "pending")),
				{"GET /streams/r9", nil, "Running release command...\n"},
				{"GET /apps/a-prod/releases/r9", release(9, "s1", "succeeded"), ""},
			},
			wantVersion: 9,
			wantLog:     "Running release command...\n",
		},
		{
			name: "not there yet: the targets say pending, then it is",
			steps: []step{
				newest(release(8, "s0", "succeeded")), targets("pending", ""),
				newest(release(9, "s1", "succeeded")),
			},
			wantVersion: 9,
		},
		{
			name: "an older release of the same slug is not the promotion's",
			steps: []step{
				newest(release(8, "s1", "failed")), targets("succeeded", ""),
				{"GET /apps/a-prod/releases/r9", release(9, "s1", "succeeded"), ""},
			},
			wantVersion: 9,
		},
		{
			// A promotion to two production apps (the US and the EU): the other app's target
			// failing does not fail this app's wait, nor its pending one hold it.
			name: "two targets: the other app's failed, this app's succeeded",
			steps: []step{
				newest(release(8, "s0", "succeeded")), twoTargets("succeeded", "failed"),
				{"GET /apps/a-prod/releases/r9", release(9, "s1", "succeeded"), ""},
			},
			wantVersion: 9,
		},
		{
			name: "two targets: the other app's still pending",
			steps: []step{
				newest(release(8, "s0", "succeeded")), twoTargets("succeeded", "pending"),
				{"GET /apps/a-prod/releases/r9", release(9, "s1", "succeeded"), ""},
			},
			wantVersion: 9,
		},
		{
			name:    "two targets: this app's failed",
			steps:   []step{newest(release(8, "s0", "succeeded")), twoTargets("failed", "succeeded")},
			wantErr: "heroku: promotion pr1 failed: app a-prod: Release phase failed",
		},
		{
			name:    "failed target",
			steps:   []step{newest(release(8, "s0", "succeeded")), targets("failed", "Release phase failed")},
			wantErr: "heroku: promotion pr1 failed: app a-prod: Release phase failed",
		},
		{
			name: "the promoted release's release phase fails",
			steps: []step{
				newest(release(9, "s1", "pending")),
				{"GET /streams/r9", nil, "migration failed\n"},
				{"GET /apps/a-prod/releases/r9", release(9, "s1", "failed"), ""},
			},
			wantLog: "migration failed\n",
			wantErr: "heroku: release r9 failed: the release phase of v9 failed; its output says why, and the app keeps running the previous release",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t)
			for _, s := range tt.steps {
				if s.text != "" {
					f.on(s.key, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, s.text) })
					continue
				}
				answer, err := json.Marshal(s.answer)
				if err != nil {
					t.Fatal(err)
				}
				answer = bytes.ReplaceAll(answer, []byte(`"STREAM"`), []byte(strconv.Quote(f.srv.URL+"/streams/r9")))
				f.on(s.key, ok(json.RawMessage(answer)))
			}
			c, _ := newTestClient(t, f)
			var log bytes.Buffer
			got, err := c.WaitPromotion(context.Background(), "pr1", on, &log)
			if tt.wantErr != "" {
				var fe *FailedError
				if !errors.As(err, &fe) || err.Error() != tt.wantErr {
					t.Fatalf("error\n got %v\nwant FailedError %s", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if got.Version != tt.wantVersion {
				t.Errorf("release v%d, want v%d", got.Version, tt.wantVersion)
			}
			if log.String() != tt.wantLog {
				t.Errorf("log = %q, want %q", log.String(), tt.wantLog)
			}
		})
	}
}

func TestReleases(t *testing.T) {
	t.Parallel()
	rel := func(v int, status string, current bool) map[string]any {
		return map[string]any{"id": fmt.Sprintf("r%d", v), "version": v, "status": status, "current": current, "slug": map[string]string{"id": fmt.Sprintf("s%d", v)}, "description": fmt.Sprintf("Deploy v%d", v)}
	}
	t.Run("current across pages", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t)
		var ranges []string
		f.on("GET /apps/stg/releases",
			func(w http.ResponseWriter, r *http.Request) {
				ranges = append(ranges, r.Header.Get("Range"))
				w.Header().Set("Next-Range", "version ]8..; max=200, order=desc")
				reply(206, []any{rel(10, "failed", false), rel(9, "pending", false)})(w, r)
			},
			func(w http.ResponseWriter, r *http.Request) {
				ranges = append(ranges, r.Header.Get("Range"))
				// More pages exist, but the current release is here: no further request.
				w.Header().Set("Next-Range", "version ]6..; max=200, order=desc")
				reply(206, []any{rel(8, "succeeded", true), rel(7, "succeeded", false)})(w, r)
			},
		)
		c, _ := newTestClient(t, f)
		got, newest, err := c.CurrentAndNewestRelease(context.Background(), "stg")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(Release{ID: "r8", Version: 8, Status: "succeeded", SlugID: "s8", Description: "Deploy v8", Current: true}, got); diff != "" {
			t.Errorf("CurrentRelease (-want +got):\n%s", diff)
		}
		if newest != 10 {
			t.Errorf("newest version %d, want 10 (the failed release above the current one)", newest)
		}
		if diff := cmp.Diff([]string{"version ..; max=1000, order=desc", "version ]8..; max=200, order=desc"}, ranges); diff != "" {
			t.Errorf("Range (-want +got):\n%s", diff)
		}
	})
	t.Run("none", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t)
		f.on("GET /apps/new/releases", ok([]any{}))
		c, _ := newTestClient(t, f)
		_, err := c.CurrentRelease(context.Background(), "new")
		if !errors.Is(err, ErrNoRelease) {
			t.Fatalf("error %v does not wrap ErrNoRelease", err)
		}
	})
	t.Run("newest first, at most max", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t)
		var rng string
		f.on("GET /apps/stg/releases", capture(nil, nil, func(w http.ResponseWriter, r *http.Request) {
			rng = r.Header.Get("Range")
			w.Header().Set("Next-Range", "version ]8..; max=2, order=desc")
			reply(206, []any{rel(10, "succeeded", true), rel(9, "succeeded", false)})(w, r)
		}))
		c, _ := newTestClient(t, f)
		got, err := c.Releases(context.Background(), "stg", 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Version != 10 || got[1].Version != 9 {
			t.Errorf("Releases = %+v", got)
		}
		if rng != "version ..; max=2, order=desc" {
			t.Errorf("Range = %q", rng)
		}
	})
}

func TestRollback(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	var body []byte
	f.on("POST /apps/prod/releases", capture(&body, nil, reply(201, map[string]any{"id": "r12", "version": 12, "status": "succeeded", "current": true})))
	c, _ := newTestClient(t, f)
	got, err := c.Rollback(context.Background(), "prod", "r10")
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, body, `{"release":"r10"}`)
	if got.Version != 12 {
		t.Errorf("Rollback release = %+v", got)
	}
}

func TestConfigVarsAndSlug(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	f.on("GET /apps/stg/config-vars", ok(map[string]any{"A": "1", "B": "two"}))
	f.on("GET /apps/stg/slugs/s1", ok(map[string]any{"id": "s1", "commit": "abc123"}))
	f.on("GET /apps/stg/domains", ok([]any{map[string]any{"hostname": "api.pangeo-forge.org", "cname": "x.herokudns.com", "kind": "custom", "acm_status": "cert issued", "acm_status_reason": nil}}))
	c, _ := newTestClient(t, f)
	vars, err := c.ConfigVars(context.Background(), "stg")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"A": "1", "B": "two"}, vars); diff != "" {
		t.Errorf("ConfigVars (-want +got):\n%s", diff)
	}
	s, err := c.Slug(context.Background(), "stg", "s1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Slug{ID: "s1", Commit: "abc123"}, s); diff != "" {
		t.Errorf("Slug (-want +got):\n%s", diff)
	}
	ds, err := c.Domains(context.Background(), "stg")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Domain{{Hostname: "api.pangeo-forge.org", CNAME: "x.herokudns.com", Kind: "custom", ACMStatus: "cert issued"}}, ds); diff != "" {
		t.Errorf("Domains (-want +got):\n%s", diff)
	}
}

func TestWebURL(t *testing.T) {
	t.Parallel()
	def := Domain{Hostname: "api-prod-0123456789ab.herokuapp.com", Kind: "heroku"}
	custom := Domain{Hostname: "api.example.org", Kind: "custom", CNAME: "x.herokudns.com"}
	tests := []struct {
		name    string
		domains []Domain
		want    string
	}{
		{"default domain among custom ones", []Domain{custom, def}, "https://api-prod-0123456789ab.herokuapp.com/"},
		{"custom domains only: unknown", []Domain{custom}, ""},
		{"two default domains: ambiguous", []Domain{def, {Hostname: "api-prod.herokuapp.com", Kind: "heroku"}}, ""},
		{"no domains", nil, ""},
	}
	for _, tt := range tests {
		if got := WebURL(tt.domains); got != tt.want {
			t.Errorf("%s: WebURL = %q, want %q", tt.name, got, tt.want)
		}
	}
}
