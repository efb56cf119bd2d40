package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/heroku"
)

// errHealthTimeout is the cause of the health check's context when health_timeout ran out.
var errHealthTimeout = errors.New("health_timeout ran out")

// healthCheck GETs health_path on the app until it answers 2xx, for at most health_timeout: a
// release can succeed while the app crashes on boot, and only a request tells. The wait also ends
// when only timeout_reserve is left of timeout (WorkContext), so that a failing production release
// can still be rolled back and the rollback confirmed; the error then blames the timeout, not
// health_timeout.
func (r *Runner) healthCheck(ctx context.Context, app heroku.App) error {
	client := r.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	timeout := r.Config.HealthTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	interval := r.HealthInterval
	if interval <= 0 {
		interval = min(2*time.Second, timeout/10)
	}
	wctx, cancelWork := r.WorkContext(ctx)
	defer cancelWork()
	hctx, cancel := context.WithTimeoutCause(wctx, timeout, errHealthTimeout)
	defer cancel()
	url := strings.TrimSuffix(app.WebURL, "/") + "/" + strings.TrimPrefix(r.Config.HealthPath, "/")
	last := "no answer"
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(hctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("invalid health check URL %q: %w", url, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				r.Log.Infof("Health check %s answered %d", url, resp.StatusCode)
				return nil
			}
			last = resp.Status
		} else if hctx.Err() == nil {
			last = err.Error()
		}
		t := time.NewTimer(interval)
		select {
		case <-hctx.Done():
			t.Stop()
			switch cause := context.Cause(hctx); {
			case ctx.Err() != nil: // the run itself was stopped: internal/cli says by what
				return fmt.Errorf("health check of %s stopped after %d attempts (last answer: %s): %w", url, attempt, last, ctx.Err())
			case errors.Is(cause, ErrTimeoutReserve):
				return fmt.Errorf("health check: %s did not answer 2xx before the run's time was up (timeout %s, of which timeout_reserve %s is kept for a rollback and the report; %d attempts; last answer: %s): raise timeout, or look at the app's logs (heroku logs --app %s): %w",
					url, r.Config.Timeout, r.Config.TimeoutReserve, attempt, last, app.Name, cause)
			}
			return fmt.Errorf("health check: %s did not answer 2xx within health_timeout (%s, %d attempts; last answer: %s): look at the app's logs (heroku logs --app %s)", url, timeout, attempt, last, app.Name)
		case <-t.C:
		}
	}
}
