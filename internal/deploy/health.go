package deploy

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/heroku"
)

// healthCheck GETs health_path on the app until it answers 2xx, for at most health_timeout: a
// release can succeed while the app crashes on boot, and only a request tells.
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
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	url := strings.TrimSuffix(app.WebURL, "/") + "/" + strings.TrimPrefix(r.Config.HealthPath, "/")
	last := "no answer"
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
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
		} else if ctx.Err() == nil {
			last = err.Error()
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("health check: %s did not answer 2xx within health_timeout (%s, %d attempts; last answer: %s): look at the app's logs (heroku logs --app %s)", url, timeout, attempt, last, app.Name)
		case <-t.C:
		}
	}
}
