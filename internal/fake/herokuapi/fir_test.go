package herokuapi

import (
	"net/http"
	"testing"
	"time"
)

// TestFirApps: on a Fir pipeline apps say so, a build makes an OCI image (no slug), the release's
// artifact is that image, the image is read where the Heroku CLI reads it, slug endpoints do not
// know it, a Cedar app cannot join the pipeline, a release promotes by its ID, and Heroku CI is off.
func TestFirApps(t *testing.T) {
	t.Parallel()
	s := newServer(t, Options{BuildTime: 30 * time.Millisecond})
	p := s.AddPipeline("flow")
	stg := s.AddApp("flow-staging", "flow", "staging")
	prod := s.AddApp("flow-prod", "flow", "production")
	s.EnableReviewApps("flow", "o/r")
	s.SetFir("flow")

	for _, path := range []string{"/apps/" + stg.Name, "/pipelines/" + p.ID} {
		if g := call(t, s, "GET", path, nil).json(t)["generation"].(map[string]any)["name"]; g != "fir" {
			t.Errorf("%s: generation = %v, want fir", path, g)
		}
	}
	getURL, sum := upload(t, s, []byte("source"))
	r := call(t, s, "POST", "/apps/"+stg.Name+"/builds", map[string]any{"source_blob": map[string]any{"url": getURL, "checksum": sum, "version": "c0ffee"}})
	wantStatus(t, r, http.StatusCreated)
	eventually(t, "the build succeeded", func() bool {
		b := s.Builds(stg.Name)
		return len(b) == 1 && b[0].Status == "succeeded"
	})
	b := s.Builds(stg.Name)[0]
	if b.SlugID != "" || b.ImageID == "" {
		t.Fatalf("Fir build = %+v, want an OCI image and no slug", b)
	}
	build := call(t, s, "GET", "/apps/"+stg.Name+"/builds/"+b.ID, nil).json(t)
	if build["slug"] != nil || build["buildpacks"] != nil {
		t.Errorf("Fir build answers slug %v and buildpacks %v, want null (Cedar-only fields)", build["slug"], build["buildpacks"])
	}
	rel := call(t, s, "GET", "/apps/"+stg.Name+"/releases/"+b.ReleaseID, nil).json(t)
	arts, _ := rel["artifacts"].([]any)
	if rel["slug"] != nil || len(arts) != 1 || arts[0].(map[string]any)["type"] != "oci-image" || arts[0].(map[string]any)["id"] != b.ImageID {
		t.Errorf("Fir release: slug %v, artifacts %v; want no slug and the OCI image %s", rel["slug"], arts, b.ImageID)
	}
	wantStatus(t, call(t, s, "GET", "/apps/"+stg.Name+"/slugs/"+b.ImageID, nil), http.StatusNotFound)
	images := call(t, s, "GET", "/apps/"+stg.Name+"/oci-images/"+b.ImageID, nil).list(t)
	if len(images) != 1 || images[0]["commit"] != "c0ffee" {
		t.Errorf("OCI image = %v, want one image of commit c0ffee", images)
	}
	wantStatus(t, call(t, s, "POST", "/apps/"+stg.Name+"/releases", map[string]any{"slug": b.ImageID}), http.StatusNotFound)

	if g := call(t, s, "GET", "/apps/"+s.AddApp("flow-dev", "flow", "development").Name, nil).json(t)["generation"].(map[string]any)["name"]; g != "fir" {
		t.Errorf("an app seeded into the Fir pipeline is of generation %v, want fir", g)
	}
	cedar := s.AddApp("cedar-app", "", "")
	r = call(t, s, "POST", "/pipeline-couplings", map[string]any{"app": cedar.ID, "pipeline": p.ID, "stage": "development"})
	wantStatus(t, r, http.StatusUnprocessableEntity)

	r = call(t, s, "POST", "/pipeline-promotions", map[string]any{
		"pipeline": map[string]any{"id": p.ID}, "source": map[string]any{"app": map[string]any{"id": stg.ID}, "release": map[string]any{"id": b.ReleaseID}},
		"targets": []any{map[string]any{"app": map[string]any{"id": prod.ID}}},
	})
	wantStatus(t, r, http.StatusCreated)
	eventually(t, "production runs the image", func() bool {
		rels := s.Releases(prod.Name)
		return rels[len(rels)-1].ImageID == b.ImageID && rels[len(rels)-1].Status == "succeeded"
	})

	r = call(t, s, "POST", "/test-runs", map[string]any{"pipeline": p.ID, "commit_branch": "main", "commit_message": "m", "commit_sha": "c0ffee", "source_blob_url": getURL})
	wantStatus(t, r, http.StatusNotFound)
	if v := s.Violations(); len(v) != 0 {
		t.Errorf("violations: %q", v)
	}
}
