package heroku

import (
	"context"
	"fmt"

	heroku "github.com/heroku/heroku-go/v5"
)

// Heroku's platform generations (the v6 schema's app.generation and pipeline.generation names).
// Fir apps build with Cloud Native Buildpacks into OCI images instead of slugs, and some features
// of Cedar's are not (yet) offered on Fir: docs/heroku.md, "Fir", has the sources.
const (
	Cedar = "cedar"
	Fir   = "fir"
)

// Artifact types of a release's artifacts (v6 schema, release.artifacts; the Heroku CLI's test
// fixtures name the Fir type "oci-image").
const (
	ArtifactSlug     = "slug"
	ArtifactOCIImage = "oci-image"
)

// CodeID identifies the code the release runs: its slug on Cedar, its OCI image on Fir; "" for a
// release without code (config vars set before the first build). Two releases with the same
// CodeID run the same build (a promotion copies it, a config change keeps it).
func (r Release) CodeID() string {
	if r.SlugID != "" {
		return r.SlugID
	}
	return r.ImageID
}

// The heroku-go v5 types predate what the v6 schema adds; these decode the additions beside them.

type generationRef struct {
	Name string `json:"name"`
}

type apiApp struct {
	heroku.App
	Generation *generationRef `json:"generation"`
}

type apiPipeline struct {
	heroku.Pipeline
	Generation *generationRef `json:"generation"`
}

type apiRelease struct {
	heroku.Release
	Artifacts []struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"artifacts"`
}

// generationName is the generation Heroku names, "" when the answer has none (a server that
// predates the field): the flows treat anything but Fir as Cedar.
func generationName(g *generationRef) string {
	if g == nil {
		return ""
	}
	return g.Name
}

// ociImage is the part of the oci-image resource the action reads (v6 schema, definition
// oci-image).
type ociImage struct {
	ID           string `json:"id"`
	Commit       string `json:"commit"`
	ProcessTypes map[string]struct {
		DisplayCmd string `json:"display_cmd"`
		Command    string `json:"command"`
	} `json:"process_types"`
}

// Code reads what a release runs, for the commit it was built from and its process types: the slug
// of a Cedar release, the OCI image of a Fir release (GET /apps/{app}/oci-images/{id}, which
// answers a list, as the Heroku CLI's pipelines:diff reads it). The OCI image's process types are
// given by their display commands, the commands as the Procfile wrote them.
func (c *Client) Code(ctx context.Context, app string, rel Release) (Slug, error) {
	if rel.SlugID != "" || rel.ImageID == "" {
		return c.Slug(ctx, app, rel.SlugID)
	}
	var images []ociImage
	if err := c.get(ctx, &images, p("/apps/", app, "/oci-images/", rel.ImageID)); err != nil {
		return Slug{}, fmt.Errorf("reading OCI image %s of app %q: %w", rel.ImageID, app, err)
	}
	for _, im := range images {
		if im.ID != rel.ImageID {
			continue
		}
		out := Slug{ID: im.ID, Commit: im.Commit, ProcessTypes: map[string]string{}}
		for name, pt := range im.ProcessTypes {
			cmd := pt.DisplayCmd
			if cmd == "" {
				cmd = pt.Command
			}
			out.ProcessTypes[name] = cmd
		}
		return out, nil
	}
	return Slug{}, fmt.Errorf("reading OCI image %s of app %q: heroku's answer does not include it", rel.ImageID, app)
}
