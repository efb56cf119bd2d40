package deploy

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/heroku"
)

// TestReleasePhaseDetection: what tells the action that a new release will run a release phase.
func TestReleasePhaseDetection(t *testing.T) {
	t.Parallel()
	withRelease := heroku.Slug{ProcessTypes: map[string]string{"web": "gunicorn app", "release": "python manage.py migrate"}}
	webOnly := heroku.Slug{ProcessTypes: map[string]string{"web": "gunicorn app"}}

	t.Run("promotion", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			name    string
			release heroku.Release
			slug    heroku.Slug
			want    string
		}{
			{"the slug names release", heroku.Release{Version: 7}, withRelease, "the promoted slug names a release process type (python manage.py migrate)"},
			{"the release ran one on staging", heroku.Release{Version: 7, OutputStreamURL: "https://release-output.heroku.com/streams/x"}, webOnly, "the promoted release v7 ran a release phase on staging"},
			{"neither", heroku.Release{Version: 7}, webOnly, ""},
		} {
			if got := releasePhaseOfPromotion(tt.release, tt.slug); got != tt.want {
				t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
			}
		}
	})

	t.Run("build", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			name    string
			files   map[string]string
			running heroku.Slug
			want    string
		}{
			{"Procfile release line", map[string]string{"Procfile": "web: gunicorn app\nrelease: ./migrate.sh\n"}, webOnly, "the checkout's Procfile declares a release phase (./migrate.sh)"},
			{"Procfile spacing", map[string]string{"Procfile": "release :  alembic upgrade head  \n"}, heroku.Slug{}, "the checkout's Procfile declares a release phase (alembic upgrade head)"},
			{"heroku.yml release section", map[string]string{"heroku.yml": "build:\n  docker:\n    web: Dockerfile\nrelease:\n  command:\n    - ./migrate\n"}, heroku.Slug{}, "the checkout's heroku.yml declares a release phase (its release section)"},
			{"the running slug names release", map[string]string{"Procfile": "web: gunicorn app\n"}, withRelease, "the slug the app runs now names a release process type (python manage.py migrate)"},
			{"a process merely named like it", map[string]string{"Procfile": "web: gunicorn app\nreleaser: ./x\n# release: ./y\n"}, webOnly, ""},
			{"nothing", nil, heroku.Slug{}, ""},
		} {
			dir := t.TempDir()
			for name, data := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := &Runner{}
			r.Config.GitHub.Workspace = dir
			if got := r.releasePhaseOfBuild(tt.running); got != tt.want {
				t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
			}
		}
	})
}

// TestMaintenanceLine: the summary's line, for one app and for several.
func TestMaintenanceLine(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		windows []MaintenanceWindow
		want    string
	}{
		{nil, ""},
		{[]MaintenanceWindow{{App: "a", Duration: 42 * time.Second}}, "in maintenance for 42 s"},
		{[]MaintenanceWindow{{App: "a", Duration: 1500 * time.Millisecond}}, "in maintenance for 1.5 s"},
		{[]MaintenanceWindow{{App: "a", Duration: 42 * time.Second}, {App: "b", Duration: 61 * time.Second, LeftOn: true}},
			"a in maintenance for 42 s; b in maintenance for 61 s so far, and still on (its release phase still ran when the run stopped)"},
	} {
		res := &Result{Maintenance: tt.windows}
		if got := res.MaintenanceLine(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.windows, got, tt.want)
		}
	}
}
