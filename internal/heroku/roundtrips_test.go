package heroku

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestAppAtStageReusesCouplings: a prod run looks up the production and the staging app with one
// coupling list; a write in between (here a config var change) makes the next lookup list again.
// The fake API fails the test on any request not queued, so an extra list would show.
func TestAppAtStageReusesCouplings(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t)
	couplings := ok([]any{coupling("c1", "staging", "a-stg"), coupling("c2", "production", "a-prod")})
	f.on("GET /pipelines/pl/pipeline-couplings", couplings, couplings)
	f.on("GET /apps/a-prod", appJSON("a-prod", "pangeo-forge"))
	f.on("GET /apps/a-stg", appJSON("a-stg", "pangeo-forge-staging"), appJSON("a-stg", "pangeo-forge-staging"))
	f.on("PATCH /apps/a-stg/config-vars", ok(map[string]any{}))
	c, _ := newTestClient(t, f)
	ctx := context.Background()
	var got []string
	for _, stage := range []string{"production", "staging", "write", "staging"} {
		if stage == "write" {
			v := "x"
			if err := c.UpdateConfigVars(ctx, "a-stg", map[string]*string{"A": &v}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		app, err := c.AppAtStage(ctx, "pl", stage)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, app.Name)
	}
	if diff := cmp.Diff([]string{"pangeo-forge", "pangeo-forge-staging", "pangeo-forge-staging"}, got); diff != "" {
		t.Errorf("apps (-want +got):\n%s", diff)
	}
}

func TestPollDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		poll time.Duration
		want []time.Duration
	}{
		{time.Second, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}},
		{10 * time.Millisecond, []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}},
	}
	for _, tt := range tests {
		c := New(Options{PollInterval: tt.poll})
		var got []time.Duration
		for n := range tt.want {
			got = append(got, c.pollDelay(n))
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("PollInterval %s: pauses (-want +got):\n%s", tt.poll, diff)
		}
	}
}
