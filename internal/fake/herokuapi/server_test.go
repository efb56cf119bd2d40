package herokuapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	heroku "github.com/heroku/heroku-go/v5"
)

const token = "test-token-not-a-secret"

// newServer starts a fast server that the test closes and whose violations
// it checks, unless the test expects some (it then reads and clears nothing:
// it asserts them itself and passes allowViolations).
func newServer(t *testing.T, opt Options, allowViolations ...bool) *Server {
	t.Helper()
	opt.Token = token
	if opt.BuildTime == 0 {
		opt.BuildTime = 30 * time.Millisecond
	}
	if opt.ReleaseTime == 0 {
		opt.ReleaseTime = 15 * time.Millisecond
	}
	s, err := New(opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if len(allowViolations) == 0 {
			if v := s.Violations(); len(v) > 0 {
				t.Errorf("unexpected violations:\n%s", strings.Join(v, "\n"))
			}
		}
		s.Close()
	})
	return s
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %v: %s", r.status, err, r.body)
	}
	return m
}

func (r resp) list(t *testing.T) []map[string]any {
	t.Helper()
	var l []map[string]any
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("response %d is not a JSON array: %v: %s", r.status, err, r.body)
	}
	return l
}

// call sends an API request the way a correct client does, with extra
// headers (a "" value deletes a header).
func call(t *testing.T, s *Server, method, path string, body any, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.heroku+json; version=3")
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	res, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func wantStatus(t *testing.T, r resp, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
}

func service(s *Server) *heroku.Service {
	svc := heroku.NewService(&http.Client{Transport: &heroku.Transport{BearerToken: token, Transport: s.Client().Transport}})
	svc.URL = s.URL()
	return svc
}

// eventually polls cond until it holds or a few seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// upload makes a source blob with content and returns its get_url and checksum.
func upload(t *testing.T, s *Server, content []byte) (getURL, checksum string) {
	t.Helper()
	r := call(t, s, "POST", "/sources", nil)
	wantStatus(t, r, http.StatusCreated)
	sb := r.json(t)["source_blob"].(map[string]any)
	req, err := http.NewRequest("PUT", sb["put_url"].(string), bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("PUT put_url: %s", res.Status)
	}
	sum := sha256.Sum256(content)
	return sb["get_url"].(string), "SHA256:" + hex.EncodeToString(sum[:])
}

func readStream(t *testing.T, s *Server, url string) string {
	t.Helper()
	res, err := s.Client().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandlersAreSchemaRoutes(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	keys := map[string]bool{}
	for _, rt := range s.schema.routes {
		keys[rt.key] = true
	}
	for k := range s.routes {
		if !keys[k] {
			t.Errorf("handler %q matches no link of the schema", k)
		}
	}
}

func TestAuthAndAccept(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	s.AddPipeline("flow")
	tests := []struct {
		name   string
		hdr    []string
		status int
		id     string
	}{
		{"ok", nil, 200, ""},
		{"no accept", []string{"Accept", ""}, 406, "not_acceptable"},
		{"plain json accept", []string{"Accept", "application/json"}, 406, "not_acceptable"},
		{"other version", []string{"Accept", "application/vnd.heroku+json; version=2"}, 406, "not_acceptable"},
		{"unknown variant", []string{"Accept", "application/vnd.heroku+json; version=3.nope"}, 406, "not_acceptable"},
		{"review-apps variant", []string{"Accept", "application/vnd.heroku+json; version=3.review-apps"}, 200, ""},
		{"ci variant", []string{"Accept", "application/vnd.heroku+json; version=3.ci"}, 200, ""},
		{"sdk variant", []string{"Accept", "application/vnd.heroku+json; version=3.sdk"}, 200, ""},
		{"no credentials", []string{"Authorization", ""}, 401, "unauthorized"},
		{"wrong token", []string{"Authorization", "Bearer nope"}, 401, "unauthorized"},
		{"basic auth with the token as password", []string{"Authorization", "Basic " + basic("me@example.com", token)}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := call(t, s, "GET", "/pipelines/flow", nil, tt.hdr...)
			wantStatus(t, r, tt.status)
			if tt.id != "" {
				if got := r.json(t)["id"]; got != tt.id {
					t.Errorf("error id %v, want %q", got, tt.id)
				}
				if msg, _ := r.json(t)["message"].(string); msg == "" {
					t.Error("error has no message")
				}
			}
		})
	}
}

func basic(user, pw string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pw)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func TestPaging(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{PageSize: 2})
	var want []string
	for _, n := range []string{"app-e", "app-a", "app-c", "app-b", "app-d"} {
		s.AddApp(n, "", "")
		want = append(want, n)
	}
	slices.Sort(want)

	var got []string
	rng := "name ..; max=1000"
	pages := 0
	for {
		r := call(t, s, "GET", "/apps", nil, "Range", rng)
		pages++
		for _, a := range r.list(t) {
			got = append(got, a["name"].(string))
		}
		if r.header.Get("RateLimit-Remaining") == "" {
			t.Error("no RateLimit-Remaining header")
		}
		if r.status == http.StatusOK {
			if r.header.Get("Next-Range") != "" {
				t.Error("200 with a Next-Range")
			}
			break
		}
		wantStatus(t, r, http.StatusPartialContent)
		rng = r.header.Get("Next-Range")
		if !strings.HasPrefix(rng, "name ]") {
			t.Fatalf("Next-Range %q", rng)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apps over all pages (-want +got):\n%s", diff)
	}
	if pages != 3 {
		t.Errorf("%d pages, want 3", pages)
	}
}

func TestReleaseRangeNewestFirst(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	s.AddApp("web", "", "")
	s.SetConfigVar("web", "A", "1")
	s.SetConfigVar("web", "B", "2")
	// What the Heroku CLI sends for "the current release"; heroku-go joins
	// params with "," and omits the field, which must work too.
	for _, rng := range []string{"version ..; max=1, order=desc", "version ..; order=desc,max=1"} {
		r := call(t, s, "GET", "/apps/web/releases", nil, "Range", rng)
		wantStatus(t, r, http.StatusPartialContent)
		l := r.list(t)
		if len(l) != 1 || l[0]["version"] != float64(3) {
			t.Errorf("Range %q: got %v, want only v3", rng, l)
		}
		if got, want := r.header.Get("Next-Range"), "version ]3..; max=1, order=desc"; got != want {
			t.Errorf("Next-Range %q, want %q", got, want)
		}
	}
	svc := service(s)
	rels, err := svc.ReleaseList(context.Background(), "web", &heroku.ListRange{Field: "version", Max: 10, Descending: true})
	if err != nil {
		t.Fatal(err)
	}
	var versions []int
	for _, r := range rels {
		versions = append(versions, r.Version)
	}
	if diff := cmp.Diff([]int{3, 2, 1}, versions); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
}

func TestViolations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		path       string
		body       any
		hdr        []string
		status     int
		id         string
		violation  string
		noViolates bool
	}{
		{name: "unknown route", method: "GET", path: "/nope", status: 404, id: "not_found", violation: "GET /nope: no link in the schema"},
		{name: "wrong method", method: "PUT", path: "/apps/web", status: 404, id: "not_found", violation: "no PUT link"},
		{name: "pipeline name where the schema wants an id", method: "GET", path: "/pipelines/flow/review-apps", status: 404, id: "not_found", violation: `"flow" is not a valid #/definitions/pipeline/definitions/id`},
		{name: "build without source_blob", method: "POST", path: "/apps/web/builds", body: map[string]any{}, status: 422, id: "invalid_params", violation: "missing source_blob"},
		{name: "build with a numeric version", method: "POST", path: "/apps/web/builds", body: map[string]any{"source_blob": map[string]any{"url": "x", "version": 3}}, status: 422, id: "invalid_params", violation: "/source_blob/version: got number"},
		{name: "config var with a bad name", method: "PATCH", path: "/apps/web/config-vars", body: map[string]any{"NOT-A-NAME": "v"}, status: 422, id: "invalid_params", violation: "unexpected NOT-A-NAME"},
		{name: "bad range field", method: "GET", path: "/apps", hdr: []string{"Range", "created_at ..; max=10"}, status: 416, id: "requested_range_not_satisfiable", violation: `Range on "created_at"`},
		{name: "app that does not exist is not a violation", method: "GET", path: "/apps/ghost", status: 404, id: "not_found", noViolates: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, Options{}, true)
			s.AddPipeline("flow")
			s.AddApp("web", "", "")
			r := call(t, s, tt.method, tt.path, tt.body, tt.hdr...)
			wantStatus(t, r, tt.status)
			if got := r.json(t)["id"]; got != tt.id {
				t.Errorf("error id %v, want %q", got, tt.id)
			}
			v := s.Violations()
			if tt.noViolates {
				if len(v) != 0 {
					t.Errorf("violations %q, want none", v)
				}
				return
			}
			if len(v) != 1 || !strings.Contains(v[0], tt.violation) {
				t.Errorf("violations %q, want one containing %q", v, tt.violation)
			}
		})
	}
}

// A config value in an invalid body must not reach the violation or the
// error message: both end up in logs.
func TestViolationsHideValues(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{}, true)
	s.AddApp("web", "", "")
	const secret = "s3cr3t-value"
	r := call(t, s, "PATCH", "/apps/web/config-vars", map[string]any{"TOKEN": map[string]any{"nested": secret}})
	wantStatus(t, r, 422)
	if bytes.Contains(r.body, []byte(secret)) {
		t.Errorf("error response shows the value: %s", r.body)
	}
	for _, v := range s.Violations() {
		if strings.Contains(v, secret) {
			t.Errorf("violation shows the value: %s", v)
		}
	}
}

func TestUploadRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		prep      func(req *http.Request)
		status    int
		violation string
	}{
		{"content type set", func(req *http.Request) { req.Header.Set("Content-Type", "application/gzip") }, 403, "Content-Type"},
		{"chunked", func(req *http.Request) { req.ContentLength = -1; req.Body = io.NopCloser(strings.NewReader("data")) }, 411, "Content-Length"},
		{"get url used to upload", nil, 403, "not the source's put_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, Options{}, true)
			sb := call(t, s, "POST", "/sources", nil).json(t)["source_blob"].(map[string]any)
			url := sb["put_url"].(string)
			if tt.prep == nil {
				url = sb["get_url"].(string)
			}
			req, err := http.NewRequest("PUT", url, strings.NewReader("data"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.prep != nil {
				tt.prep(req)
			}
			res, err := s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.status {
				t.Errorf("status %d, want %d", res.StatusCode, tt.status)
			}
			if v := s.Violations(); len(v) != 1 || !strings.Contains(v[0], tt.violation) {
				t.Errorf("violations %q, want one about %q", v, tt.violation)
			}
		})
	}
}

func TestBuildLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newServer(t, Options{})
	s.AddPipeline("flow")
	s.AddApp("flow-staging", "flow", "staging")
	getURL, sum := upload(t, s, []byte("tarball bytes"))
	svc := service(s)

	var opts heroku.BuildCreateOpts
	opts.SourceBlob.URL = heroku.String(getURL)
	opts.SourceBlob.Checksum = heroku.String(sum)
	opts.SourceBlob.Version = heroku.String("0123456789abcdef0123456789abcdef01234567")
	b, err := svc.BuildCreate(ctx, "flow-staging", opts)
	if err != nil {
		t.Fatalf("BuildCreate: %v", err)
	}
	if b.Status != "pending" || b.Release != nil {
		t.Errorf("new build: status %q release %v, want pending without release", b.Status, b.Release)
	}
	// The stream is followed from the start and ends when the build does.
	log := readStream(t, s, b.OutputStreamURL)
	for _, want := range []string{"Building on the Heroku-24 stack", "Released v2", "deployed to Heroku"} {
		if !strings.Contains(log, want) {
			t.Errorf("build output lacks %q:\n%s", want, log)
		}
	}
	b, err = svc.BuildInfo(ctx, "flow-staging", b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != "succeeded" || b.Release == nil || b.Slug == nil {
		t.Fatalf("finished build: status %q release %v slug %v", b.Status, b.Release, b.Slug)
	}
	rel, err := svc.ReleaseInfo(ctx, "flow-staging", b.Release.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Status != "succeeded" || !rel.Current || rel.Version != 2 || rel.OutputStreamURL != nil {
		t.Errorf("release: status %q current %v version %d stream %v", rel.Status, rel.Current, rel.Version, rel.OutputStreamURL)
	}
	slug, err := svc.SlugInfo(ctx, "flow-staging", b.Slug.ID)
	if err != nil {
		t.Fatal(err)
	}
	if slug.Commit == nil || *slug.Commit != *opts.SourceBlob.Version {
		t.Errorf("slug commit %v, want the build's version", slug.Commit)
	}
	got := s.Releases("flow-staging")
	if len(got) != 2 || got[1].Commit != *opts.SourceBlob.Version || got[1].Description != "Deploy 01234567" {
		t.Errorf("Releases() = %+v", got)
	}
}

func TestBuildFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prep    func(s *Server)
		sum     func(good string) string
		url     func(good string) string
		wantLog string
	}{
		{name: "checksum mismatch", sum: func(string) string { return "SHA256:" + strings.Repeat("0", 64) }, wantLog: "Checksum mismatch"},
		{name: "nothing uploaded", url: func(string) string { return "" }, wantLog: "nothing was uploaded"},
		{name: "foreign url", url: func(string) string { return "https://github.com/o/r/tarball/main" }, wantLog: "can only fetch its own source blobs"},
		{name: "failing app", prep: func(s *Server) { s.FailBuilds("web", "Could not install psycopg2") }, wantLog: "Could not install psycopg2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, Options{})
			s.AddApp("web", "", "")
			if tt.prep != nil {
				tt.prep(s)
			}
			url, sum := upload(t, s, []byte("src"))
			if tt.url != nil {
				url = tt.url(url)
				if url == "" {
					sb := call(t, s, "POST", "/sources", nil).json(t)["source_blob"].(map[string]any)
					url = sb["get_url"].(string)
				}
			}
			if tt.sum != nil {
				sum = tt.sum(sum)
			}
			r := call(t, s, "POST", "/apps/web/builds", map[string]any{"source_blob": map[string]any{"url": url, "checksum": sum, "version": "abc"}})
			wantStatus(t, r, http.StatusCreated)
			b := r.json(t)
			log := readStream(t, s, b["output_stream_url"].(string))
			if !strings.Contains(log, tt.wantLog) {
				t.Errorf("build output lacks %q:\n%s", tt.wantLog, log)
			}
			b = call(t, s, "GET", "/apps/web/builds/"+b["id"].(string), nil).json(t)
			if b["status"] != "failed" || b["release"] != nil {
				t.Errorf("build status %v release %v, want failed without release", b["status"], b["release"])
			}
			if n := len(s.Releases("web")); n != 1 {
				t.Errorf("%d releases, want only the initial one", n)
			}
		})
	}
}

func TestReleasePhase(t *testing.T) {
	t.Parallel()
	for _, ok := range []bool{true, false} {
		t.Run(map[bool]string{true: "succeeds", false: "fails"}[ok], func(t *testing.T) {
			t.Parallel()
			s := newServer(t, Options{ReleaseTime: 500 * time.Millisecond})
			s.AddApp("web", "", "")
			s.SetReleasePhase("web", ok)
			url, sum := upload(t, s, []byte("src"))
			// The release phase starts after the build was created: time since then bounds how long
			// it has run, so "still pending" is asserted only while that bound is under 500ms (a
			// loaded machine may take longer to ask).
			created := time.Now()
			b := call(t, s, "POST", "/apps/web/builds", map[string]any{"source_blob": map[string]any{"url": url, "checksum": sum, "version": "c0ffee"}}).json(t)
			readStream(t, s, b["output_stream_url"].(string))
			b = call(t, s, "GET", "/apps/web/builds/"+b["id"].(string), nil).json(t)
			if b["status"] != "succeeded" {
				t.Fatalf("build %v, want succeeded before the release phase ends", b["status"])
			}
			relID := b["release"].(map[string]any)["id"].(string)
			rel := call(t, s, "GET", "/apps/web/releases/"+relID, nil).json(t)
			if time.Since(created) >= 500*time.Millisecond {
				t.Logf("the machine took %s to read the release: its phase may have ended, not checking that it was pending", time.Since(created))
			} else if rel["status"] != "pending" || rel["current"] != false {
				t.Errorf("release during its release phase: status %v current %v", rel["status"], rel["current"])
			}
			log := readStream(t, s, rel["output_stream_url"].(string))
			if !strings.Contains(log, "Running release command") {
				t.Errorf("release output: %q", log)
			}
			rel = call(t, s, "GET", "/apps/web/releases/2", nil).json(t)
			want, cur := "succeeded", true
			if !ok {
				want, cur = "failed", false
			}
			if rel["status"] != want || rel["current"] != cur {
				t.Errorf("release after its phase: status %v current %v, want %s %v", rel["status"], rel["current"], want, cur)
			}
		})
	}
}

func TestConfigVars(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	s.AddApp("web", "", "")
	s.SetConfigVar("web", "DATABASE_URL", "postgres://addon")
	r := call(t, s, "PATCH", "/apps/web/config-vars", map[string]any{"A": "1", "B": "2"})
	wantStatus(t, r, 200)
	r = call(t, s, "PATCH", "/apps/web/config-vars", map[string]any{"A": nil, "B": "2"})
	wantStatus(t, r, 200)
	if diff := cmp.Diff(map[string]any{"B": "2", "DATABASE_URL": "postgres://addon"}, r.json(t)); diff != "" {
		t.Errorf("PATCH response (-want +got):\n%s", diff)
	}
	var descs []string
	for _, rel := range s.Releases("web") {
		descs = append(descs, rel.Description)
	}
	want := []string{"Initial release", "Set DATABASE_URL config vars", "Set A, B config vars", "Remove A config vars"}
	if diff := cmp.Diff(want, descs); diff != "" {
		t.Errorf("releases (-want +got):\n%s", diff)
	}
}

func TestRollback(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	s.AddApp("web", "", "")
	for _, v := range []string{"one", "two"} {
		url, sum := upload(t, s, []byte(v))
		b := call(t, s, "POST", "/apps/web/builds", map[string]any{"source_blob": map[string]any{"url": url, "checksum": sum, "version": v}}).json(t)
		readStream(t, s, b["output_stream_url"].(string))
	}
	v2 := s.Releases("web")[1]
	r := call(t, s, "POST", "/apps/web/releases", map[string]any{"release": v2.ID})
	wantStatus(t, r, http.StatusCreated)
	rels := s.Releases("web")
	last := rels[len(rels)-1]
	if last.Commit != "one" || last.Description != "Rollback to v2" || !last.Current {
		t.Errorf("rollback release %+v", last)
	}
}

func TestReviewAppLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newServer(t, Options{})
	p := s.AddPipeline("pangeo-forge-api-flow")
	other := s.AddPipeline("other")
	s.EnableReviewApps("pangeo-forge-api-flow", "pangeo-forge/orchestrator")
	svc := service(s)

	if _, err := svc.ReviewAppConfigInfo(ctx, p.ID); err != nil {
		t.Errorf("review-app-config of an enabled pipeline: %v", err)
	}
	r := call(t, s, "GET", "/pipelines/"+other.ID+"/review-app-config", nil)
	wantStatus(t, r, http.StatusNotFound)

	url, sum := upload(t, s, []byte("pr source"))
	_ = sum
	body := map[string]any{
		"branch": "feature", "pr_number": 12, "pipeline": p.ID,
		"source_blob": map[string]any{"url": url, "version": "feedface"},
		"environment": map[string]any{"PANGEO_FORGE_DEPLOYMENT": "pforge-pr-12", "GONE": nil},
	}
	r = call(t, s, "POST", "/review-apps", body)
	wantStatus(t, r, http.StatusCreated)
	ra := r.json(t)
	if ra["status"] != "pending" || ra["app"] != nil {
		t.Errorf("new review app: status %v app %v", ra["status"], ra["app"])
	}
	r = call(t, s, "POST", "/review-apps", body)
	wantStatus(t, r, http.StatusConflict)
	if r.json(t)["id"] != "conflict" {
		t.Errorf("second review app for a PR: %s", r.body)
	}

	// The creation's answer said pending; it ends created. Whether a read in between sees
	// creating depends on how busy the machine is, so no read is required to.
	id := ra["id"].(string)
	eventually(t, "review app created", func() bool {
		return call(t, s, "GET", "/review-apps/"+id, nil).json(t)["status"].(string) == "created"
	})
	got := s.ReviewApps("pangeo-forge-api-flow")
	if len(got) != 1 || got[0].PRNumber != 12 || !strings.HasPrefix(got[0].AppName, "pangeo-forge-api") || !strings.Contains(got[0].AppName, "-pr-12-") || len(got[0].AppName) > 30 {
		t.Fatalf("ReviewApps() = %+v", got)
	}
	appName := got[0].AppName
	if diff := cmp.Diff(map[string]string{"PANGEO_FORGE_DEPLOYMENT": "pforge-pr-12"}, s.ConfigVars(appName)); diff != "" {
		t.Errorf("review app config vars (-want +got):\n%s", diff)
	}
	if a, _ := s.App(appName); a.Stage != "review" || a.Pipeline != p.ID {
		t.Errorf("review app coupling: %+v", a)
	}
	if rels := s.Releases(appName); rels[len(rels)-1].Commit != "feedface" {
		t.Errorf("review app releases %+v", rels)
	}
	list := call(t, s, "GET", "/pipelines/"+p.ID+"/review-apps", nil)
	wantStatus(t, list, 200)
	if l := list.list(t); len(l) != 1 || l[0]["id"] != id {
		t.Errorf("review-apps list %s", list.body)
	}
	wantStatus(t, call(t, s, "GET", "/apps/"+appName+"/review-app", nil), 200)

	r = call(t, s, "DELETE", "/review-apps/"+id, nil)
	wantStatus(t, r, 200)
	if st := r.json(t)["status"]; st != "deleting" {
		t.Errorf("deleted review app status %v", st)
	}
	eventually(t, "review app deleted", func() bool { return len(s.ReviewApps("pangeo-forge-api-flow")) == 0 })
	if _, ok := s.App(appName); ok {
		t.Error("the review app's app still exists")
	}
	// The PR can have a review app again.
	wantStatus(t, call(t, s, "POST", "/review-apps", body), http.StatusCreated)
}

func TestReviewAppErrors(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	p := s.AddPipeline("flow")
	url, _ := upload(t, s, []byte("src"))
	body := map[string]any{"branch": "b", "pr_number": 1, "pipeline": p.ID, "source_blob": map[string]any{"url": url}}
	r := call(t, s, "POST", "/review-apps", body)
	wantStatus(t, r, http.StatusUnprocessableEntity)

	s.EnableReviewApps("flow", "o/r")
	s.FailReviewApps("flow", "postdeploy script failed")
	r = call(t, s, "POST", "/review-apps", body)
	wantStatus(t, r, http.StatusCreated)
	id := r.json(t)["id"].(string)
	var ra map[string]any
	eventually(t, "review app errored", func() bool {
		ra = call(t, s, "GET", "/review-apps/"+id, nil).json(t)
		return ra["status"] == "errored"
	})
	if ra["message"] != "postdeploy script failed" {
		t.Errorf("errored review app message %v", ra["message"])
	}
}

func TestPromotionOfNamedRelease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newServer(t, Options{})
	p := s.AddPipeline("flow")
	staging := s.AddApp("flow-staging", "flow", "staging")
	prod := s.AddApp("flow-prod", "flow", "production")
	s.SetConfigVar("flow-prod", "ONLY_PROD", "yes")
	for _, v := range []string{"aaaa1111", "bbbb2222"} {
		url, sum := upload(t, s, []byte(v))
		b := call(t, s, "POST", "/apps/flow-staging/builds", map[string]any{"source_blob": map[string]any{"url": url, "checksum": sum, "version": v}}).json(t)
		readStream(t, s, b["output_stream_url"].(string))
	}
	older := s.Releases("flow-staging")[1] // v2, built from aaaa1111; v3 is current

	// heroku-go cannot name the source release; its generic Post can.
	svc := service(s)
	var promo heroku.PipelinePromotion
	err := svc.Post(ctx, &promo, "/pipeline-promotions", map[string]any{
		"pipeline": map[string]any{"id": p.ID},
		"source":   map[string]any{"app": map[string]any{"id": staging.ID}, "release": map[string]any{"id": older.ID}},
		"targets":  []any{map[string]any{"app": map[string]any{"id": prod.ID}}},
	})
	if err != nil {
		t.Fatalf("promotion: %v", err)
	}
	if promo.Status != "pending" || promo.Source.Release.ID != older.ID {
		t.Errorf("promotion: status %q source release %q, want pending %q", promo.Status, promo.Source.Release.ID, older.ID)
	}
	eventually(t, "promotion completed", func() bool {
		got, err := svc.PipelinePromotionInfo(ctx, promo.ID)
		return err == nil && got.Status == "completed"
	})
	targets, err := svc.PipelinePromotionTargetList(ctx, promo.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 1 || targets[0].Status != "succeeded" || targets[0].Release == nil || targets[0].App.ID != prod.ID {
		t.Fatalf("targets %+v", targets)
	}
	rels := s.Releases("flow-prod")
	last := rels[len(rels)-1]
	if last.ID != targets[0].Release.ID || last.SlugID != older.SlugID || last.Commit != "aaaa1111" {
		t.Errorf("production release %+v, want the slug of %+v", last, older)
	}
	if last.Config["ONLY_PROD"] != "yes" {
		t.Errorf("production release config %v: promotion must keep the target's config", last.Config)
	}
	if last.Description != "Promote flow-staging v2 aaaa1111" {
		t.Errorf("description %q", last.Description)
	}
}

func TestFaultInjection(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{RetryAfter: 2 * time.Second})
	s.AddPipeline("flow")
	s.FailNext(2, 429)
	r := call(t, s, "GET", "/pipelines/flow", nil)
	wantStatus(t, r, 429)
	if r.json(t)["id"] != "rate_limit" || r.header.Get("Retry-After") != "2" {
		t.Errorf("429: %s Retry-After %q", r.body, r.header.Get("Retry-After"))
	}
	wantStatus(t, call(t, s, "GET", "/pipelines/flow", nil), 429)
	wantStatus(t, call(t, s, "GET", "/pipelines/flow", nil), 200)

	s.Inject(func(r *http.Request) (int, bool) { return 503, r.Method == "DELETE" })
	wantStatus(t, call(t, s, "DELETE", "/apps/x", nil), 503)

	statuses := []int{}
	for _, req := range s.Requests() {
		statuses = append(statuses, req.Status)
	}
	if diff := cmp.Diff([]int{429, 429, 200, 503}, statuses); diff != "" {
		t.Errorf("recorded statuses (-want +got):\n%s", diff)
	}
}

func TestRateLimitBucket(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := newServer(t, Options{RateLimit: 2, RefillPerSecond: 0.5, Now: clock})
	s.AddPipeline("flow")
	type answer struct {
		Status    int
		ID        string
		Remaining string
		// RetryAfter is the Retry-After header: Heroku sends none with its 429.
		RetryAfter string
	}
	get := func(path string) answer {
		r := call(t, s, "GET", path, nil)
		a := answer{Status: r.status, Remaining: r.header.Get("RateLimit-Remaining"), RetryAfter: r.header.Get("Retry-After")}
		if r.status == 429 {
			a.ID, _ = r.json(t)["id"].(string)
		}
		return a
	}
	var got []answer
	for range 3 {
		got = append(got, get("/pipelines/flow"))
	}
	got = append(got, get("/account/rate-limits"))
	advance(2 * time.Second) // one token back
	got = append(got, get("/account/rate-limits"), get("/account/rate-limits"), get("/pipelines/flow"), get("/pipelines/flow"))
	advance(time.Hour) // full again, never above the bucket's size
	got = append(got, get("/account/rate-limits"))
	want := []answer{
		{200, "", "1", ""}, {200, "", "0", ""}, {429, "rate_limit", "0", ""},
		{200, "", "0", ""}, // the rate-limit endpoint costs no token
		{200, "", "1", ""}, {200, "", "1", ""}, {200, "", "0", ""}, {429, "rate_limit", "0", ""},
		{200, "", "2", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if r := call(t, s, "GET", "/account/rate-limits", nil); r.json(t)["remaining"] != float64(2) {
		t.Errorf("GET /account/rate-limits: %s, want remaining 2", r.body)
	}
	var tokens []bool
	for _, r := range s.Requests() {
		tokens = append(tokens, r.Token)
	}
	wantTokens := []bool{true, true, false, false, false, false, true, false, false, false}
	if diff := cmp.Diff(wantTokens, tokens); diff != "" {
		t.Errorf("Request.Token (-want +got):\n%s", diff)
	}
	if v := s.Violations(); len(v) > 0 {
		t.Errorf("violations: %v", v)
	}
}

// Responses follow the schema's definitions, so clients decoding real
// responses decode these.
func TestResponsesMatchSchema(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	p := s.AddPipeline("flow")
	s.AddApp("stg", "flow", "staging")
	s.AddApp("prd", "flow", "production")
	s.AddDomain("prd", "api.example.org", "x.herokudns.com", "cert issued")
	s.EnableReviewApps("flow", "o/r")
	s.SetReleasePhase("stg", true)
	url, sum := upload(t, s, []byte("src"))
	b := call(t, s, "POST", "/apps/stg/builds", map[string]any{"source_blob": map[string]any{"url": url, "checksum": sum, "version": "v"}}).json(t)
	readStream(t, s, b["output_stream_url"].(string))
	b = call(t, s, "GET", "/apps/stg/builds/"+b["id"].(string), nil).json(t)
	ra := call(t, s, "POST", "/review-apps", map[string]any{"branch": "b", "pr_number": 3, "pipeline": p.ID, "source_blob": map[string]any{"url": url}}).json(t)
	eventually(t, "release phase", func() bool { return s.Releases("stg")[1].Status == "succeeded" })
	stg, _ := s.App("stg")
	prd, _ := s.App("prd")
	promo := call(t, s, "POST", "/pipeline-promotions", map[string]any{
		"pipeline": map[string]any{"id": p.ID}, "source": map[string]any{"app": map[string]any{"id": stg.ID}},
		"targets": []any{map[string]any{"app": map[string]any{"id": prd.ID}}},
	}).json(t)
	slugID := b["slug"].(map[string]any)["id"].(string)

	checks := []struct{ path, def string }{
		{"/pipelines/flow", "pipeline"},
		{"/pipelines", "pipeline"},
		{"/pipelines/" + p.ID + "/pipeline-couplings", "pipeline-coupling"},
		{"/apps/stg/pipeline-couplings", "pipeline-coupling"},
		{"/apps/stg", "app"},
		{"/apps", "app"},
		{"/apps/stg/builds", "build"},
		{"/apps/stg/releases", "release"},
		{"/apps/stg/releases/2", "release"},
		{"/apps/stg/slugs/" + slugID, "slug"},
		{"/apps/prd/domains", "domain"},
		{"/pipelines/" + p.ID + "/review-app-config", "review-app-config"},
		{"/review-apps/" + ra["id"].(string), "review-app"},
		{"/pipelines/" + p.ID + "/review-apps", "review-app"},
		{"/pipeline-promotions/" + promo["id"].(string), "pipeline-promotion"},
		{"/pipeline-promotions/" + promo["id"].(string) + "/promotion-targets", "pipeline-promotion-target"},
		{"/apps/stg/config-vars", "config-var"},
	}
	for _, c := range checks {
		r := call(t, s, "GET", c.path, nil)
		wantStatus(t, r, 200)
		def, err := s.schema.definition("#/definitions/" + c.def)
		if c.def == "config-var" {
			def, err = s.schema.definition("#/definitions/config-var/definitions/config_vars")
		}
		if err != nil {
			t.Fatalf("%s: %v", c.def, err)
		}
		doc, err := decodeJSON(r.body)
		if err != nil {
			t.Fatal(err)
		}
		docs := []any{doc}
		if l, isList := doc.([]any); isList {
			docs = l
			if len(l) == 0 {
				t.Errorf("GET %s: empty list, nothing checked", c.path)
			}
		}
		for _, d := range docs {
			// The schema calls a domain's hostname a URI, but Heroku sends a
			// bare hostname ("www.example.com"), as this server does.
			if m, isObj := d.(map[string]any); isObj && c.def == "domain" {
				m["hostname"] = "https://" + m["hostname"].(string)
			}
			if err := def.Validate(d); err != nil {
				t.Errorf("GET %s does not match #/definitions/%s: %v", c.path, c.def, err)
			}
		}
	}
}

func TestCloseEndsStreamsAndTimers(t *testing.T) {
	t.Parallel()
	s, err := New(Options{Token: token, BuildTime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s.AddApp("web", "", "")
	url, sum := upload(t, s, []byte("src"))
	b := call(t, s, "POST", "/apps/web/builds", map[string]any{"source_blob": map[string]any{"url": url, "checksum": sum}}).json(t)
	done := make(chan string)
	go func() {
		res, err := s.Client().Get(b["output_stream_url"].(string))
		if err != nil {
			done <- err.Error()
			return
		}
		defer res.Body.Close()
		got, _ := io.ReadAll(res.Body)
		done <- string(got)
	}()
	eventually(t, "stream open", func() bool {
		for _, r := range s.Requests() {
			if strings.HasPrefix(r.Path, streamPrefix) {
				return true
			}
		}
		return false
	})
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with a build pending and its stream open")
	}
	<-done
}

func TestReviewAppWithHerokuGo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newServer(t, Options{})
	p := s.AddPipeline("flow")
	s.EnableReviewApps("flow", "o/r")
	url, _ := upload(t, s, []byte("src"))
	svc := service(s)
	opts := heroku.ReviewAppCreateOpts{Branch: "b", Pipeline: p.ID, PrNumber: heroku.Int(7),
		Environment: map[string]*string{"X": heroku.String("1")}}
	opts.SourceBlob.URL = heroku.String(url)
	opts.SourceBlob.Version = heroku.String("abc")
	ra, err := svc.ReviewAppCreate(ctx, opts)
	if err != nil {
		t.Fatalf("ReviewAppCreate: %v", err)
	}
	eventually(t, "created", func() bool {
		got, err := svc.ReviewAppGetReviewApp(ctx, ra.ID)
		return err == nil && got.Status == "created" && got.App != nil
	})
	_, err = svc.ReviewAppCreate(ctx, opts)
	var herr heroku.Error
	if !errors.As(err, &herr) || herr.StatusCode != http.StatusConflict || herr.ID != "conflict" {
		t.Errorf("second ReviewAppCreate: %v, want a 409 conflict", err)
	}
}

func TestAppSetupAndCoupling(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	p := s.AddPipeline("flow")
	url, sum := upload(t, s, tgz(t, [2]string{"Procfile", "web: x"}))
	r := call(t, s, "POST", "/app-setups", map[string]any{
		"app":         map[string]any{"name": "pforge-pr-9"},
		"source_blob": map[string]any{"url": url, "checksum": sum, "version": "beef"},
		"overrides":   map[string]any{"env": map[string]any{"PANGEO_FORGE_DEPLOYMENT": "pforge-pr-9"}},
	})
	wantStatus(t, r, http.StatusCreated)
	id := r.json(t)["id"].(string)
	eventually(t, "app setup succeeded", func() bool {
		return call(t, s, "GET", "/app-setups/"+id, nil).json(t)["status"] == "succeeded"
	})
	if got := s.ConfigVars("pforge-pr-9")["PANGEO_FORGE_DEPLOYMENT"]; got != "pforge-pr-9" {
		t.Errorf("config var %q", got)
	}
	r = call(t, s, "POST", "/pipeline-couplings", map[string]any{"app": "pforge-pr-9", "pipeline": p.ID, "stage": "development"})
	wantStatus(t, r, http.StatusCreated)
	if a, _ := s.App("pforge-pr-9"); a.Stage != "development" || a.Pipeline != p.ID {
		t.Errorf("coupling %+v", a)
	}
	wantStatus(t, call(t, s, "DELETE", "/apps/pforge-pr-9", nil), 200)
	if len(s.Apps()) != 0 {
		t.Errorf("apps after delete: %+v", s.Apps())
	}
	wantStatus(t, call(t, s, "GET", "/pipelines/"+p.ID+"/pipeline-couplings", nil), 200)
}

func TestStreamResume(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	s.AddApp("web", "", "")
	url, sum := upload(t, s, []byte("src"))
	b := call(t, s, "POST", "/apps/web/builds", map[string]any{"source_blob": map[string]any{"url": url, "checksum": sum}}).json(t)
	full := readStream(t, s, b["output_stream_url"].(string))
	req, err := http.NewRequest("GET", b["output_stream_url"].(string), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Range", "bytes=10-")
	res, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rest, _ := io.ReadAll(res.Body)
	if string(rest) != full[10:] {
		t.Errorf("resumed stream %q, want %q", rest, full[10:])
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{Latency: 50 * time.Millisecond})
	s.AddPipeline("flow")
	start := time.Now()
	wantStatus(t, call(t, s, "GET", "/pipelines/flow", nil), 200)
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("request took %v, want at least the latency", d)
	}
}

// TestNewestSchema: the server validates against heroku-go v6's schema, where the objects that set
// strictProperties refuse properties they do not list, and a promotion may name its source release.
func TestNewestSchema(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{}, true)
	p := s.AddPipeline("flow")
	stg := s.AddApp("stg", "flow", "staging")
	prd := s.AddApp("prd", "flow", "production")
	s.EnableReviewApps("flow", "o/r")
	url, sum := upload(t, s, []byte("src"))
	b := call(t, s, "POST", "/apps/stg/builds", map[string]any{"source_blob": map[string]any{"url": url, "checksum": sum, "version": "v"}})
	wantStatus(t, b, http.StatusCreated)
	readStream(t, s, b.json(t)["output_stream_url"].(string))
	eventually(t, "staging release", func() bool { rs := s.Releases("stg"); return len(rs) > 1 && rs[len(rs)-1].Status == "succeeded" })
	rel := s.Releases("stg")[len(s.Releases("stg"))-1]
	promotion := func(source map[string]any, target map[string]any) map[string]any {
		return map[string]any{"pipeline": map[string]any{"id": p.ID}, "source": source, "targets": []any{map[string]any{"app": target}}}
	}
	tests := []struct {
		name, method, path string
		body               any
		status             int
		problem            string // in the error message
	}{
		{"build source_blob with a property it does not list", "POST", "/apps/stg/builds",
			map[string]any{"source_blob": map[string]any{"url": url, "checksum": sum, "sha": "abc"}}, 422, "/source_blob: unexpected sha"},
		{"review app source_blob with a checksum", "POST", "/review-apps",
			map[string]any{"branch": "b", "pr_number": 3, "pipeline": p.ID, "source_blob": map[string]any{"url": url, "checksum": sum}}, 422, "/source_blob: unexpected checksum"},
		{"promotion target app with a name", "POST", "/pipeline-promotions",
			promotion(map[string]any{"app": map[string]any{"id": stg.ID}}, map[string]any{"id": prd.ID, "name": "prd"}), 422, "/targets/0/app: unexpected name"},
		{"promotion source app with a name", "POST", "/pipeline-promotions",
			promotion(map[string]any{"app": map[string]any{"id": stg.ID, "name": "stg"}}, map[string]any{"id": prd.ID}), 422, "/source/app: unexpected name"},
		{"promotion of a named source release", "POST", "/pipeline-promotions",
			promotion(map[string]any{"app": map[string]any{"id": stg.ID}, "release": map[string]any{"id": rel.ID}}, map[string]any{"id": prd.ID}), 201, ""},
	}
	for _, tt := range tests {
		r := call(t, s, tt.method, tt.path, tt.body)
		wantStatus(t, r, tt.status)
		if msg, _ := r.json(t)["message"].(string); tt.problem != "" && !strings.Contains(msg, tt.problem) {
			t.Errorf("%s: message %q, want it to say %q", tt.name, msg, tt.problem)
		}
	}
	if v := s.Violations(); len(v) != 4 {
		t.Errorf("violations = %q, want the four refused requests", v)
	}

	// Answers carry what the newest schema added: a generation, a release's artifacts.
	app := call(t, s, "GET", "/apps/stg", nil).json(t)
	if g, _ := app["generation"].(map[string]any); g["name"] != "cedar" {
		t.Errorf("app generation = %v, want cedar", app["generation"])
	}
	if g, _ := call(t, s, "GET", "/pipelines/flow", nil).json(t)["generation"].(map[string]any); g["name"] != "cedar" {
		t.Errorf("pipeline generation = %v, want cedar", g)
	}
	r := call(t, s, "GET", "/apps/stg/releases/"+rel.ID, nil).json(t)
	arts, _ := r["artifacts"].([]any)
	built := call(t, s, "GET", "/apps/stg/builds/"+b.json(t)["id"].(string), nil).json(t)
	slug, _ := built["slug"].(map[string]any)
	if len(arts) != 1 || arts[0].(map[string]any)["type"] != "slug" || slug == nil || arts[0].(map[string]any)["id"] != slug["id"] {
		t.Errorf("release artifacts = %v, want the build's slug", r["artifacts"])
	}
}

// TestPageSizeLimits: lists serve 200 items without a max, up to 1000 when asked, never more.
func TestPageSizeLimits(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	for i := range 1005 {
		s.AddApp(fmt.Sprintf("app-%04d", i), "", "")
	}
	for _, tt := range []struct {
		rng  string
		want int
	}{{"", 200}, {"id ..; max=1000", 1000}, {"id ..; max=5000", 1000}, {"id ..; max=10", 10}} {
		var hdr []string
		if tt.rng != "" {
			hdr = []string{"Range", tt.rng}
		}
		r := call(t, s, "GET", "/apps", nil, hdr...)
		wantStatus(t, r, http.StatusPartialContent)
		if n := len(r.list(t)); n != tt.want {
			t.Errorf("Range %q: %d items, want %d", tt.rng, n, tt.want)
		}
	}
}

// TestContainerStack: an app on the container stack says so in its stack and build_stack, and a
// promotion from it is refused (Dev Center: container-stack apps cannot be promoted) with nothing
// released on the target.
func TestContainerStack(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	p := s.AddPipeline("flow")
	stg := s.AddApp("stg", "flow", "staging")
	prd := s.AddApp("prd", "flow", "production")
	s.SetContainerStack("stg")
	app := call(t, s, "GET", "/apps/stg", nil).json(t)
	for _, k := range []string{"stack", "build_stack"} {
		if got := app[k].(map[string]any)["name"]; got != "container" {
			t.Errorf("%s.name = %v, want container", k, got)
		}
	}
	if got := call(t, s, "GET", "/apps/prd", nil).json(t)["stack"].(map[string]any)["name"]; got != stackName {
		t.Errorf("prd's stack.name = %v, want %s", got, stackName)
	}
	before := len(s.Releases("prd"))
	r := call(t, s, "POST", "/pipeline-promotions", map[string]any{
		"pipeline": map[string]any{"id": p.ID}, "source": map[string]any{"app": map[string]any{"id": stg.ID}},
		"targets": []any{map[string]any{"app": map[string]any{"id": prd.ID}}},
	})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if !strings.Contains(string(r.body), "container stack") {
		t.Errorf("refusal %s does not name the container stack", r.body)
	}
	if got := len(s.Releases("prd")); got != before {
		t.Errorf("prd has %d releases after the refusal, want %d", got, before)
	}
}
