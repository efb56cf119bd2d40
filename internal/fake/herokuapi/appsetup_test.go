package herokuapi

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tgz packs files (name -> content) as a gzipped tarball, the form sources take.
func tgz(t *testing.T, files ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadManifest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		src     []byte
		want    manifest
		wantErr string
	}{
		{
			name: "strings and objects",
			src: tgz(t, [2]string{"app.json", `{"addons": ["heroku-postgresql:in-dyno", {"plan": "heroku-redis:mini"}],
				"env": {"A": "1", "B": {"value": "2"}, "C": {"required": false}, "D": {"description": "x"}},
				"scripts": {"postdeploy": {"command": "make seed"}}}`}),
			want: manifest{
				addons:     []string{"heroku-postgresql:in-dyno", "heroku-redis:mini"},
				env:        map[string]envSpec{"A": {value: "1"}, "B": {value: "2", required: true}, "C": {}, "D": {required: true}},
				postdeploy: "make seed",
			},
		},
		{
			name: "inside the tarball's top directory",
			src:  tgz(t, [2]string{"repo-abc/Procfile", "web: x"}, [2]string{"repo-abc/app.json", `{"scripts": {"postdeploy": "make seed"}}`}),
			want: manifest{env: map[string]envSpec{}, postdeploy: "make seed"},
		},
		{
			name: "no app.json",
			src:  tgz(t, [2]string{"Procfile", "web: x"}, [2]string{"sub/dir/app.json", `{"addons": ["x:y"]}`}),
			want: manifest{},
		},
		{name: "not JSON", src: tgz(t, [2]string{"app.json", "{"}), wantErr: "app.json is not valid JSON"},
		{name: "not a tarball", src: []byte("plain"), wantErr: "not a gzipped tarball"},
		{name: "bad add-on", src: tgz(t, [2]string{"app.json", `{"addons": [3]}`}), wantErr: "neither a plan name nor an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readManifest(tt.src)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(manifest{}, envSpec{})); diff != "" {
				t.Errorf("manifest (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAppSetupStates follows setups to their end and checks each answer against the schema.
func TestAppSetupStates(t *testing.T) {
	t.Parallel()
	manifest := `{"addons": ["heroku-postgresql:in-dyno"], "scripts": {"postdeploy": "make seed"}}`
	tests := []struct {
		name       string
		prepare    func(s *Server)
		status     string
		failure    string
		postdeploy any
	}{
		{name: "succeeded", status: "succeeded", postdeploy: map[string]any{"exit_code": float64(0), "output": "Running make seed\n"}},
		{name: "add-on fails", prepare: func(s *Server) { s.FailAddon("heroku-postgresql:in-dyno", "sold out") }, status: "failed",
			failure: "The add-on heroku-postgresql:in-dyno could not be provisioned: sold out"},
		{name: "postdeploy fails", prepare: func(s *Server) { s.SetPostdeploy(1, "boom\n") }, status: "failed",
			failure: "The postdeploy script failed with exit code 1.", postdeploy: map[string]any{"exit_code": float64(1), "output": "Running make seed\nboom\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, Options{})
			s.AddPipeline("flow")
			s.SetPipelineTeam("flow", "pangeo-forge")
			if tt.prepare != nil {
				tt.prepare(s)
			}
			url, sum := upload(t, s, tgz(t, [2]string{"app.json", manifest}))
			r := call(t, s, "POST", "/app-setups", map[string]any{
				"app":         map[string]any{"name": "pforge-pr-9", "organization": "pangeo-forge"},
				"source_blob": map[string]any{"url": url, "checksum": sum, "version": "beef"},
			})
			wantStatus(t, r, http.StatusCreated)
			id := r.json(t)["id"].(string)
			var got map[string]any
			eventually(t, "the setup ends", func() bool {
				got = call(t, s, "GET", "/app-setups/"+id, nil).json(t)
				return got["status"] != "pending"
			})
			if got["status"] != tt.status || (got["failure_message"] != nil) != (tt.failure != "") || (tt.failure != "" && got["failure_message"] != tt.failure) {
				t.Errorf("setup = %v, want status %s, failure %q", got, tt.status, tt.failure)
			}
			if diff := cmp.Diff(tt.postdeploy, got["postdeploy"]); diff != "" {
				t.Errorf("postdeploy (-want +got):\n%s", diff)
			}
			for path, def := range map[string]string{"/app-setups/" + id: "app-setup", "/apps/pforge-pr-9": "app", "/pipelines/flow": "pipeline", "/teams/pangeo-forge": "team"} {
				r := call(t, s, "GET", path, nil)
				wantStatus(t, r, http.StatusOK)
				schema, err := s.schema.definition("#/definitions/" + def)
				if err != nil {
					t.Fatal(err)
				}
				doc, err := decodeJSON(r.body)
				if err != nil {
					t.Fatal(err)
				}
				if err := schema.Validate(doc); err != nil {
					t.Errorf("GET %s does not match #/definitions/%s: %v", path, def, err)
				}
			}
			app := call(t, s, "GET", "/apps/pforge-pr-9", nil).json(t)
			if team, _ := app["team"].(map[string]any); team["name"] != "pangeo-forge" {
				t.Errorf("app team = %v, want pangeo-forge", app["team"])
			}
			if owner := call(t, s, "GET", "/pipelines/flow", nil).json(t)["owner"].(map[string]any); owner["type"] != "team" {
				t.Errorf("pipeline owner = %v, want the team", owner)
			}
		})
	}
}

func TestDisableReviewApps(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{})
	p := s.AddPipeline("flow")
	s.EnableReviewApps("flow", "o/r")
	wantStatus(t, call(t, s, "GET", "/pipelines/"+p.ID+"/review-app-config", nil), http.StatusOK)
	s.DisableReviewApps("flow")
	wantStatus(t, call(t, s, "GET", "/pipelines/"+p.ID+"/review-app-config", nil), http.StatusNotFound)
}
