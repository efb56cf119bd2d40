package heroku_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
)

// TestFakeFirBuildAndPromotion: on a Fir pipeline the client reads the generation, a build's
// release names its OCI image (no slug), Code reads the image's commit and release phase (with the
// Accept variant the Heroku CLI uses there), and a promotion by release is followed to prod's
// release of the same image.
func TestFakeFirBuildAndPromotion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, c := startFake(t, herokuapi.Options{})
	srv.AddPipeline("fir-flow")
	srv.AddApp("fir-staging", "fir-flow", "staging")
	srv.AddApp("fir-prod", "fir-flow", "production")
	srv.SetReleasePhase("fir-staging", true)
	srv.SetFir("fir-flow")

	pl, err := c.Pipeline(ctx, "fir-flow")
	if err != nil {
		t.Fatal(err)
	}
	stg, err := c.AppAtStage(ctx, pl.ID, "staging")
	if err != nil {
		t.Fatal(err)
	}
	app, err := c.App(ctx, stg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if pl.Generation != heroku.Fir || app.Generation != heroku.Fir {
		t.Fatalf("pipeline generation %q, app generation %q, want fir", pl.Generation, app.Generation)
	}
	src, sum := upload(t, ctx, c)
	commit := "89abcdef0123456789abcdef0123456789abcdef"
	b, err := c.CreateBuild(ctx, stg.ID, heroku.BuildCreate{SourceURL: src.GetURL, Checksum: sum, Version: commit})
	if err != nil {
		t.Fatal(err)
	}
	if b, err = c.WaitBuild(ctx, stg.ID, b.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitRelease(ctx, stg.ID, b.ReleaseID, nil); err != nil {
		t.Fatal(err)
	}
	cur, err := c.CurrentRelease(ctx, stg.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cur.SlugID != "" || cur.ImageID == "" || cur.CodeID() != cur.ImageID {
		t.Fatalf("Fir release = %+v, want an OCI image and no slug", cur)
	}
	code, err := c.Code(ctx, stg.ID, cur)
	if err != nil {
		t.Fatal(err)
	}
	if code.Commit != commit || code.ProcessTypes["release"] != herokuapi.ReleaseCommand {
		t.Errorf("OCI image = %+v, want commit %s and the release phase %q", code, commit, herokuapi.ReleaseCommand)
	}
	var sdk bool
	for _, r := range srv.Requests() {
		if strings.Contains(r.Path, "/oci-images/") {
			sdk = strings.HasSuffix(r.Header.Get("Accept"), "version=3.sdk")
		}
	}
	if !sdk {
		t.Error("the OCI image was not read with Accept version=3.sdk")
	}

	prod, err := c.AppAtStage(ctx, pl.ID, "production")
	if err != nil {
		t.Fatal(err)
	}
	_, before, err := c.CurrentAndNewestRelease(ctx, prod.ID)
	if err != nil && !errors.Is(err, heroku.ErrNoRelease) {
		t.Fatal(err)
	}
	pr, err := c.Promote(ctx, pl.ID, stg.ID, cur.ID, []string{prod.ID})
	if err != nil {
		t.Fatal(err)
	}
	promoted, err := c.WaitPromotion(ctx, pr.ID, heroku.PromotedRelease{App: prod.ID, CodeID: cur.CodeID(), After: before}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if promoted.ImageID != cur.ImageID || promoted.Version <= before {
		t.Errorf("promoted release = %+v, want one above v%d running image %s", promoted, before, cur.ImageID)
	}
}
