package sandbox

import (
	"context"
	"testing"
	"time"
)

// firstPollFloor is well under the client's first poll (100 ms): a read sent sooner after the
// creation's answer was not preceded by a pause.
const firstPollFloor = 50 * time.Millisecond

// TestAppNotReadWhereItsReleaseNamesIt: the token audit (issue 17, item 2). A review app's
// creation, a review update and a staging deploy read the app's current release anyway, which
// names the app, and its domains, which give its URL: none of them reads the app itself
// (GET /apps/{app}), a token of the account's rate limit each. The first read of a review app being
// created waits for the first poll rather than repeat the creation's answer.
func TestAppNotReadWhereItsReleaseNamesIt(t *testing.T) {
	t.Parallel()
	w, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	w.SeedLifecycle()
	for _, step := range Lifecycle()[:3] {
		from := len(w.Heroku.Requests())
		run := mustRun(t, w, context.Background(), step)
		reqs := w.Heroku.Requests()[from:]
		if n := countRequests(reqs, "GET", "/apps/*"); n != 0 {
			t.Errorf("%s: %d reads of the app itself, want 0", step.Name, n)
		}
		if run.Outputs["app"] == "" || run.Outputs["app_url"] == "" {
			t.Errorf("%s: outputs app %q, app_url %q: the name and URL must still be reported", step.Name, run.Outputs["app"], run.Outputs["app_url"])
		}
		if step.Name == "pr-opened" {
			for i, r := range reqs {
				if r.Method == "POST" && r.Path == "/review-apps" && i+1 < len(reqs) && reqs[i+1].Method == "GET" && reqs[i+1].Received.Sub(r.Answered) < firstPollFloor {
					t.Errorf("the review app was read %s after its creation was answered, before the first poll", reqs[i+1].Received.Sub(r.Answered))
				}
			}
		}
	}
	if v := w.Heroku.Violations(); len(v) > 0 {
		t.Errorf("Heroku violations: %v", v)
	}
}
