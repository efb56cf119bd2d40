package herokuapi

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestReviewAppConflictWhileDeleting: a review app being deleted still holds its pull request: a
// new one is answered 409 until the old one is deleted, then created.
func TestReviewAppConflictWhileDeleting(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{BuildTime: 300 * time.Millisecond})
	p := s.AddPipeline("flow")
	s.EnableReviewApps("flow", "o/r")
	old := s.AddReviewApp("flow", 7, "feature", "feedface", "errored", "postdeploy script failed")
	getURL, _ := upload(t, s, []byte("src"))
	body := map[string]any{"branch": "feature", "pr_number": 7, "pipeline": p.ID, "source_blob": map[string]any{"url": getURL}}

	wantStatus(t, call(t, s, "POST", "/review-apps", body), http.StatusConflict) // errored, not deleted
	r := call(t, s, "DELETE", "/review-apps/"+old.ID, nil)
	wantStatus(t, r, http.StatusOK)
	if st := r.json(t)["status"]; st != "deleting" {
		t.Fatalf("status after DELETE = %v, want deleting", st)
	}
	wantStatus(t, call(t, s, "POST", "/review-apps", body), http.StatusConflict) // still deleting
	eventually(t, "the old review app deleted", func() bool {
		return call(t, s, "GET", "/review-apps/"+old.ID, nil).json(t)["status"] == "deleted"
	})
	wantStatus(t, call(t, s, "POST", "/review-apps", body), http.StatusCreated)
}

// TestStoredSourceURLIsNormalized: a build's source_blob.url comes back re-encoded, not byte for
// byte as sent, and still fetches the source.
func TestStoredSourceURLIsNormalized(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	app := s.AddApp("pforge", "", "")
	getURL, sum := upload(t, s, []byte("source"))
	r := call(t, s, "POST", "/apps/"+app.Name+"/builds", map[string]any{"source_blob": map[string]any{"url": getURL, "checksum": sum, "version": "abc"}})
	wantStatus(t, r, http.StatusCreated)
	stored := r.json(t)["source_blob"].(map[string]any)["url"].(string)
	if stored == getURL {
		t.Errorf("source_blob.url stored byte for byte: %s", stored)
	}
	sent, _ := url.Parse(getURL)
	got, _ := url.Parse(stored)
	if got.Path != sent.Path || got.Query().Encode() != sent.Query().Encode() {
		t.Errorf("stored URL %s does not name the same source as %s", stored, getURL)
	}
	eventually(t, "the build succeeded", func() bool {
		b := s.Builds(app.Name)
		return len(b) == 1 && b[0].Status == "succeeded"
	})
}

// TestDateIsTheServersClock: answers carry a Date by Options.Now, like created_at.
func TestDateIsTheServersClock(t *testing.T) {
	t.Parallel()
	skewed := time.Now().Add(-3 * time.Hour)
	s := newServer(t, Options{Now: func() time.Time { return skewed }})
	r := call(t, s, "GET", "/apps", nil)
	wantStatus(t, r, http.StatusOK)
	at, err := http.ParseTime(r.header.Get("Date"))
	if err != nil || at.Sub(skewed.Truncate(time.Second)).Abs() > time.Second {
		t.Errorf("Date = %q, want the server's clock %s", r.header.Get("Date"), skewed.UTC().Format(http.TimeFormat))
	}
}

// TestEmptyIdentityPaths: a path with an empty app or build identity names no endpoint: 404
// not_found as Heroku answers an unknown endpoint, and a violation (the client built it).
func TestEmptyIdentityPaths(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{}, true)
	s.AddApp("pforge", "", "")
	for _, tt := range []struct{ method, path string }{
		{"DELETE", "/apps/"},
		{"GET", "/apps//builds"},
		{"GET", "/apps/pforge/builds/"},
		{"GET", "/app-setups/"},
	} {
		r := call(t, s, tt.method, tt.path, nil)
		if r.status != http.StatusNotFound || r.json(t)["id"] != "not_found" {
			t.Errorf("%s %s: %d %s, want 404 not_found", tt.method, tt.path, r.status, r.body)
		}
	}
	if _, ok := s.App("pforge"); !ok {
		t.Error("DELETE /apps/ deleted an app")
	}
	if v := s.Violations(); len(v) != 4 {
		t.Errorf("violations = %q, want one per request", v)
	}
}

// TestAutomaticReviewAppsSetting: the review app configuration reports the setting, and a review
// app Heroku made itself is listed like any other.
func TestAutomaticReviewAppsSetting(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	p := s.AddPipeline("flow")
	s.EnableReviewApps("flow", "o/r")
	if got := call(t, s, "GET", "/pipelines/"+p.ID+"/review-app-config", nil).json(t)["automatic_review_apps"]; got != false {
		t.Errorf("automatic_review_apps = %v, want false by default", got)
	}
	s.SetAutomaticReviewApps("flow", true)
	if got := call(t, s, "GET", "/pipelines/"+p.ID+"/review-app-config", nil).json(t)["automatic_review_apps"]; got != true {
		t.Errorf("automatic_review_apps = %v, want true", got)
	}
	ra := s.AddReviewApp("flow", 9, "feature", "feedface", "created", "")
	l := call(t, s, "GET", "/pipelines/"+p.ID+"/review-apps", nil).list(t)
	if len(l) != 1 || l[0]["status"] != "created" || l[0]["app"].(map[string]any)["id"] != ra.AppID {
		t.Errorf("review apps = %v", l)
	}
	if rels := s.Releases(ra.AppName); rels[len(rels)-1].Commit != "feedface" || !strings.Contains(ra.AppName, "-pr-9-") {
		t.Errorf("the seeded review app %s runs %+v", ra.AppName, rels)
	}
}
