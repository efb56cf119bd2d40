package deploy

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/config"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/plan"
)

func TestDescribeRunning(t *testing.T) {
	t.Parallel()
	const commit, other = "c43668b6e2ee0000000000000000000000000000", "930356e0b8970000000000000000000000000000"
	v11 := heroku.Release{ID: "r11", Version: 11, SlugID: "s1"}
	tests := []struct {
		name string
		t    target
		now  heroku.Release
		p    plan.Plan
		res  Result
		want string
	}{
		{"nothing changed, a rerun of the commit", target{who: "staging (app)", before: v11, commit: commit}, v11, plan.Plan{Commit: commit}, Result{},
			"staging (app) still runs v11 (c43668b6e2ee), deployed by the previous run"},
		{"nothing changed", target{who: "staging (app)", before: v11, commit: other}, v11, plan.Plan{Commit: commit}, Result{},
			"staging (app) still runs v11, 930356e0b897, the release it ran before this run"},
		{"config vars set, code not shipped", target{who: "staging (app)", before: v11, commit: other}, heroku.Release{ID: "r12", Version: 12, SlugID: "s1"}, plan.Plan{Commit: commit}, Result{VarsSet: []string{"A"}},
			"staging (app) runs v11 (the previous code, 930356e0b897) with the new config vars set in v12"},
		{"the same code, made by someone else", target{who: "staging (app)", before: v11}, heroku.Release{ID: "r12", Version: 12, SlugID: "s1"}, plan.Plan{Commit: commit}, Result{},
			"staging (app) runs v12, with the code of v11 (the release it ran before this run)"},
		{"the new release", target{who: "staging (app)", before: v11}, heroku.Release{ID: "r13", Version: 13, SlugID: "s2"}, plan.Plan{Commit: commit}, Result{Release: 13, Commit: commit},
			"staging (app) runs v13 (c43668b6e2ee), made by this run"},
		{"a release made meanwhile by another", target{who: "staging (app)", before: v11}, heroku.Release{ID: "r14", Version: 14, SlugID: "s3"}, plan.Plan{Commit: commit}, Result{Release: 13},
			"staging (app) runs v14, a release made after this run started (not by it)"},
		{"no release before", target{who: "staging (app)"}, heroku.Release{ID: "r2", Version: 2, SlugID: "s2"}, plan.Plan{Commit: commit}, Result{Release: 2},
			"staging (app) runs v2 (c43668b6e2ee), made by this run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := describeRunning(&tt.t, tt.now, tt.p, &tt.res); got != tt.want {
				t.Errorf("describeRunning = %q\nwant             %q", got, tt.want)
			}
		})
	}
}

func TestWorkContext(t *testing.T) {
	t.Parallel()
	r := &Runner{Config: config.Config{TimeoutReserve: time.Hour}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour+50*time.Millisecond)
	defer cancel()
	wctx, wcancel := r.WorkContext(ctx)
	defer wcancel()
	d, ok := r.WorkDeadline(ctx)
	if want, _ := ctx.Deadline(); !ok || !d.Equal(want.Add(-time.Hour)) {
		t.Errorf("WorkDeadline = %v, %v; want the run's deadline less the reserve", d, ok)
	}
	<-wctx.Done()
	if ctx.Err() != nil {
		t.Fatal("the run's context ended with the work context: no reserve was kept")
	}
	if cause := context.Cause(wctx); !errors.Is(cause, ErrTimeoutReserve) || !errors.Is(cause, context.DeadlineExceeded) {
		t.Errorf("cause = %v, want ErrTimeoutReserve wrapping context.DeadlineExceeded", cause)
	}
	// Without a deadline there is nothing to reserve.
	free, cancelFree := r.WorkContext(context.Background())
	defer cancelFree()
	if _, ok := free.Deadline(); ok {
		t.Error("a work context of a run without deadline has one")
	}
}
