package heroku_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
)

func TestCheckAppName(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, want string }{
		{"pforge-pr-80", ""},
		{"abc", ""},
		{"a23456789012345678901234567890", ""},
		{"a234567890123456789012345678901", `"a234567890123456789012345678901" is not a valid Heroku app name: it is 31 characters long, Heroku allows at most 30`},
		{"ab", `"ab" is not a valid Heroku app name: Heroku needs at least 3 characters`},
		{"80-pforge", `"80-pforge" is not a valid Heroku app name: it must start with a lower-case letter`},
		{"pforge-", `"pforge-" is not a valid Heroku app name: it must not end with a dash`},
		{"pforge_pr", `"pforge_pr" is not a valid Heroku app name: use only lower-case letters, digits and dashes`},
		{"Pforge", `"Pforge" is not a valid Heroku app name: it must start with a lower-case letter`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ""
			if err := heroku.CheckAppName(tt.name); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("CheckAppName(%q) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}

// sourceWith packs files into a gzipped tarball, uploads it and returns the source and its SHA256.
func sourceWith(t *testing.T, ctx context.Context, c *heroku.Client, files map[string]string) (heroku.Source, string) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	src, err := c.UploadSource(ctx, bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return src, hex.EncodeToString(sum[:])
}

const appJSON = `{
  "addons": ["heroku-postgresql:in-dyno"],
  "env": {"WEB_CONCURRENCY": {"value": "2"}, "OPTIONAL": {"required": false}},
  "scripts": {"postdeploy": "python -m app.migrate"}
}`

func TestFakeAppSetup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		files    map[string]string
		setup    func(srv *herokuapi.Server)
		created  func(srv *herokuapi.Server) // once the app exists
		team     string
		wantErr  []string // substrings of the error; nil: success
		wantVars []string // config var names the app must have
		wantPost *heroku.Postdeploy
	}{
		{
			name:     "succeeds in the team",
			files:    map[string]string{"app.json": appJSON, "Procfile": "web: uvicorn app:app\n"},
			team:     "pangeo-forge",
			wantVars: []string{"DATABASE_URL", "WEB_CONCURRENCY", "PANGEO_FORGE_DEPLOYMENT"},
			wantPost: &heroku.Postdeploy{Output: "Running python -m app.migrate\n"},
		},
		{
			name:     "without app.json",
			files:    map[string]string{"Procfile": "web: uvicorn app:app\n"},
			wantVars: []string{"PANGEO_FORGE_DEPLOYMENT"},
		},
		{
			name:    "add-on provisioning error",
			files:   map[string]string{"app.json": appJSON},
			setup:   func(srv *herokuapi.Server) { srv.FailAddon("heroku-postgresql", "plan not available") },
			wantErr: []string{"app setup", "failed", "heroku-postgresql:in-dyno", "plan not available"},
		},
		{
			name:     "postdeploy fails",
			files:    map[string]string{"app.json": appJSON},
			setup:    func(srv *herokuapi.Server) { srv.SetPostdeploy(2, "migration failed\n") },
			wantErr:  []string{"postdeploy", "exit code 2"},
			wantPost: &heroku.Postdeploy{Output: "Running python -m app.migrate\nmigration failed\n", ExitCode: 2},
		},
		{
			name:    "required env missing",
			files:   map[string]string{"app.json": `{"env": {"SECRET_KEY": {"description": "needed"}}}`},
			wantErr: []string{"invalid app.json", "config var SECRET_KEY is required"},
		},
		{
			name:    "build fails",
			files:   map[string]string{"app.json": `{}`},
			created: func(srv *herokuapi.Server) { srv.FailBuilds("pforge-pr-9", "pip: no matching distribution") },
			wantErr: []string{"Build failed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			srv, c := startFake(t, herokuapi.Options{})
			pipe := srv.AddPipeline("flow")
			if tt.team != "" {
				srv.SetPipelineTeam("flow", tt.team)
			}
			if tt.setup != nil {
				tt.setup(srv)
			}
			team, err := c.PipelineTeam(ctx, pipe.ID)
			if err != nil || team != tt.team {
				t.Fatalf("PipelineTeam = %q, %v; want %q", team, err, tt.team)
			}
			src, sum := sourceWith(t, ctx, c, tt.files)
			setup, err := c.CreateAppSetup(ctx, heroku.AppSetupCreate{
				Name: "pforge-pr-9", Team: team, SourceURL: src.GetURL, Checksum: sum, Version: "beef",
				Env: map[string]string{"PANGEO_FORGE_DEPLOYMENT": "pforge-pr-9"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if setup.AppName != "pforge-pr-9" || setup.AppID == "" || setup.Status != "pending" {
				t.Errorf("created setup = %+v", setup)
			}
			if tt.created != nil {
				tt.created(srv)
			}
			if _, err := c.CreateCoupling(ctx, pipe.ID, setup.AppID, "development"); err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			setup, err = c.WaitAppSetup(ctx, setup.ID, &log)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(log.String(), "Building on the Heroku-24 stack") {
					t.Errorf("the build output was not streamed: %q", log.String())
				}
				vars, err := c.ConfigVars(ctx, setup.AppID)
				if err != nil {
					t.Fatal(err)
				}
				for _, name := range tt.wantVars {
					if vars[name] == "" {
						t.Errorf("config var %s missing: %v", name, keys(vars))
					}
				}
			} else {
				var failed *heroku.FailedError
				if !errors.As(err, &failed) {
					t.Fatalf("error %v, want a *heroku.FailedError", err)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not mention %q", err, want)
					}
				}
			}
			if diff := cmp.Diff(tt.wantPost, setup.Postdeploy); diff != "" {
				t.Errorf("postdeploy (-want +got):\n%s", diff)
			}
			app, _ := srv.App("pforge-pr-9")
			if app.Team != tt.team || app.Stage != "development" || app.Pipeline != pipe.ID {
				t.Errorf("app = %+v, want it in team %q, coupled at development", app, tt.team)
			}
			couplings, err := c.Couplings(ctx, pipe.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(couplings) != 1 || couplings[0].App.Name != "pforge-pr-9" || couplings[0].Stage != "development" {
				t.Errorf("couplings = %+v", couplings)
			}
			if err := c.DeleteApp(ctx, setup.AppID); err != nil {
				t.Fatal(err)
			}
			if _, ok := srv.App("pforge-pr-9"); ok {
				t.Errorf("app survived DeleteApp")
			}
		})
	}
}

func TestFakeAppSetupRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, c := startFake(t, herokuapi.Options{})
	srv.AddApp("taken-name", "", "")
	src, sum := sourceWith(t, ctx, c, map[string]string{"Procfile": "web: x\n"})
	tests := []struct {
		name string
		in   heroku.AppSetupCreate
		want string
	}{
		{"name taken", heroku.AppSetupCreate{Name: "taken-name"}, "creating app taken-name in your personal account with an app setup: the name is taken, by an app the Heroku API key cannot see or by one made meanwhile; if it stays taken, change the review_name input: heroku: Name taken-name is already taken. (invalid_params, HTTP 422) on POST /app-setups"},
		{"unknown team", heroku.AppSetupCreate{Name: "new-name", Team: "nobody"}, `creating app new-name in team "nobody" with an app setup: the team does not exist or the Heroku API key's user is not a member of it; check the team input: heroku: Couldn't find that team ("nobody"). (not_found, HTTP 404) on POST /app-setups`},
		{"invalid name", heroku.AppSetupCreate{Name: "New_Name"}, `creating app New_Name: "New_Name" is not a valid Heroku app name: it must start with a lower-case letter`},
		{"invalid var", heroku.AppSetupCreate{Name: "new-name", Env: map[string]string{"NOT-A-NAME": "x"}}, `creating app new-name: config var name "NOT-A-NAME" is not accepted by Heroku: use letters, digits and underscores`},
	}
	for _, tt := range tests {
		tt.in.SourceURL, tt.in.Checksum = src.GetURL, sum
		_, err := c.CreateAppSetup(ctx, tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: error\n got %v\nwant %s", tt.name, err, tt.want)
		}
	}
	if n := len(srv.AppSetups()); n != 0 {
		t.Errorf("%d app setups after refusals, want 0", n)
	}
}
