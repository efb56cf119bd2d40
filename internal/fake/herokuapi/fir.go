package herokuapi

import "net/http"

// Heroku's Fir generation, as the v6 schema and Heroku's published clients describe it
// (docs/heroku.md, "Fir"): apps and pipelines name their generation; a Fir build makes an OCI
// image, not a slug (build.slug is "only applicable for Cedar-generation apps"), so its release's
// artifact is of type "oci-image" and its slug is null; the image is read at
// GET /apps/{app}/oci-images/{id}, which answers a list; a pipeline's apps are all of one
// generation; Heroku CI is not available on Fir pipelines.

// firID identifies the Fir generation here (made up: the schema only asks for a UUID).
const firID = "3c9e1f7a-5b2d-4a8e-9f60-7d1b2c4e8a95"

// generationJSON is the {id, name} a Fir or Cedar app or pipeline reports.
func generationJSON(fir bool) map[string]any {
	if fir {
		return map[string]any{"id": firID, "name": "fir"}
	}
	return generation()
}

// SetFir makes the pipeline and every app coupled to it of the Fir generation, as if they had been
// made in a Fir space: their builds make OCI images, review apps made later are Fir apps too, and
// Heroku CI is off (Fir pipelines cannot have it). Seed it before the apps build.
func (s *Server) SetFir(pipeline string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPipeline(pipeline)
	p.fir = true
	s.ciOf(p).enabled = false
	for _, c := range s.couplings {
		if c.pipelineID == p.id {
			s.apps[c.appID].fir = true
		}
	}
}

func (s *Server) ociImageJSON(sl *slugRec) []any {
	procs := map[string]any{}
	for name, cmd := range processTypes(sl) {
		procs[name] = map[string]any{
			"name": name, "display_cmd": cmd, "command": "/cnb/process/" + name,
			"working_dir": "/workspace", "default": name == "web",
		}
	}
	return []any{map[string]any{
		"id": sl.id, "architecture": "arm64", "base_image_name": "heroku/heroku:24-cnb",
		"base_top_layer": "sha256:" + sl.checksum[len("SHA256:"):], "commit": strOrNil(sl.commit, sl.hasCommit),
		"commit_description": nil, "image_repo": "registry.heroku.com/" + sl.appID, "digest": "sha256:" + randHex(64),
		"stack": map[string]any{"id": stackID, "name": "cnb"}, "process_types": procs,
		"buildpacks": []any{map[string]any{"id": "heroku/python", "version": "1.0.0", "homepage": "https://github.com/heroku/buildpacks-python"}},
		"created_at": ts(sl.created), "updated_at": ts(sl.created),
	}}
}

// getOCIImage answers the OCI image a Fir build made. Like slugs, an image can run on any app of
// the pipeline (promotions copy it), so the app in the path need not be the one that built it.
func (s *Server) getOCIImage(_ *http.Request, p []string, _ []byte) (reply, *apiError) {
	if _, e := s.app(p[0]); e != nil {
		return reply{}, e
	}
	if sl := s.slugs[p[1]]; sl != nil && sl.oci {
		return ok(s.ociImageJSON(sl))
	}
	return reply{}, notFound("oci-image", p[1])
}

// generationMismatch refuses to put an app in a pipeline of another generation ("all apps in a
// pipeline must use the same generation": Heroku's Terraform provider, heroku_pipeline). The
// message is ours.
func generationMismatch(a *appRec, p *pipelineRec) *apiError {
	if a.fir == p.fir {
		return nil
	}
	return errorf(http.StatusUnprocessableEntity, "invalid_params", "App %s is a %s-generation app and pipeline %s is of the %s generation: a pipeline's apps are all of its generation.", a.name, genName(a.fir), p.name, genName(p.fir))
}

func genName(fir bool) string {
	if fir {
		return "fir"
	}
	return "cedar"
}

// codeArtifacts is a release's artifacts: its slug on Cedar, its OCI image on Fir.
func (s *Server) codeArtifacts(id string) []any {
	if id == "" {
		return []any{}
	}
	kind := "slug"
	if sl := s.slugs[id]; sl != nil && sl.oci {
		kind = "oci-image"
	}
	return []any{map[string]any{"type": kind, "id": id}}
}

// slugRef is the release's or build's slug reference: null for an OCI image.
func (s *Server) slugRef(id string) any {
	if sl := s.slugs[id]; sl != nil && sl.oci {
		return nil
	}
	return refOrNil(id)
}

// buildpacks is what a build reports it ran: classic buildpacks on Cedar, null on Fir, where the
// field is "only applicable to Cedar-generation apps" (Cloud Native Buildpacks are the OCI image's).
func (s *Server) buildpacks(b *buildRec) any {
	if a := s.apps[b.appID]; a != nil && a.fir {
		return nil
	}
	return []any{map[string]any{"name": "heroku/python", "url": "heroku/python"}}
}
