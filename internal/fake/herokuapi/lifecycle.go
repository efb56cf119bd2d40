package herokuapi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/url"
	"strings"
)

// outputLog is a build or release log that grows while its process runs:
// readers of the output stream follow it until it is finished.
type outputLog struct {
	data []byte
	done bool
	wake chan struct{} // closed and replaced whenever data or done change
}

func (s *Server) newLog() *outputLog {
	l := &outputLog{wake: make(chan struct{})}
	s.logs = append(s.logs, l)
	if s.closed {
		l.finish()
	}
	return l
}

func (l *outputLog) write(format string, args ...any) {
	if l.done {
		return
	}
	l.data = append(l.data, fmt.Sprintf(format, args...)...)
	close(l.wake)
	l.wake = make(chan struct{})
}

func (l *outputLog) finish() {
	if l.done {
		return
	}
	l.done = true
	close(l.wake)
	l.wake = make(chan struct{})
}

func shortCommit(c string) string {
	if len(c) > 8 {
		return c[:8]
	}
	return c
}

// newRelease creates a release running slugID with the app's current config.
// When the slug names a release process type, the release stays pending while
// the release phase runs and then succeeds or fails (as the app's
// SetReleasePhase says). The caller holds the lock.
func (s *Server) newRelease(a *appRec, slugID, description string) *releaseRec {
	now := s.now()
	r := &releaseRec{
		id: newID(), appID: a.id, version: a.nextVersion, description: description,
		slugID: slugID, config: maps.Clone(a.config), created: now, updated: now,
	}
	a.nextVersion++
	a.releaseIDs = append(a.releaseIDs, r.id)
	s.releases[r.id] = r
	if sl := s.slugs[slugID]; sl == nil || sl.releaseCmd == "" {
		r.status = "succeeded"
		a.releasedAt = now
		return r
	}
	r.status = "pending"
	r.log = s.newLog()
	r.log.write("Running release command...\n\n")
	ok := a.releaseOK
	s.after(s.opt.ReleaseTime, func() {
		r.updated = s.now()
		if ok {
			r.log.write("Migrations complete.\n")
			r.status = "succeeded"
			a.releasedAt = r.updated
		} else {
			r.log.write("Error: release command exited with status 1\n")
			r.status = "failed"
		}
		s.settle("release", r.id, r.status)
		r.log.finish()
		for _, f := range r.onDone {
			f(r)
		}
	})
	return r
}

// whenSettled runs f once the release is no longer pending. The caller holds the lock.
func (r *releaseRec) whenSettled(f func(*releaseRec)) {
	if r.status != "pending" {
		f(r)
		return
	}
	r.onDone = append(r.onDone, f)
}

// startBuild creates a pending build that fetches its source from the blob
// store, checks its checksum and, after BuildTime, fails or makes a slug and
// a release. The caller holds the lock.
func (s *Server) startBuild(a *appRec, blobURL, checksum string, hasChecksum bool, version string, hasVersion bool) *buildRec {
	now := s.now()
	b := &buildRec{
		id: newID(), appID: a.id, status: "pending",
		blobURL: blobURL, checksum: checksum, hasChecksum: hasChecksum, version: version, hasVersion: hasVersion,
		created: now, updated: now, log: s.newLog(),
	}
	s.builds[b.id] = b
	a.buildIDs = append(a.buildIDs, b.id)
	b.log.write("-----> Building on the Heroku-24 stack\n")

	fail := func(format string, args ...any) {
		b.log.write(" !     "+format+"\n", args...)
		b.log.write(" !     Push rejected, failed to compile app.\n")
		b.status = "failed"
		b.updated = s.now()
		s.settle("build", b.id, b.status)
		b.log.finish()
		if b.onDone != nil {
			b.onDone(b)
		}
	}
	failMsg := a.failBuild
	s.after(s.opt.BuildTime/3, func() {
		blob, err := s.blobFor(blobURL)
		if err != nil {
			s.after(s.opt.BuildTime*2/3, func() { fail("Failed to download the source: %v", err) })
			return
		}
		sum := sha256.Sum256(blob.data)
		got := "SHA256:" + hex.EncodeToString(sum[:])
		if hasChecksum && !strings.EqualFold(checksum, got) {
			s.after(s.opt.BuildTime*2/3, func() {
				fail("Checksum mismatch: the source blob is %s, the build asked for %s", got, checksum)
			})
			return
		}
		b.log.write("-----> Fetching source (%d bytes)\n-----> Python app detected\n-----> Installing requirements with pip\n", len(blob.data))
		for _, w := range s.buildPrint {
			b.log.write("%s", w)
		}
		s.after(s.opt.BuildTime*2/3, s.heldUntilReleased(version, func() {
			if failMsg != "" {
				fail("%s", failMsg)
				return
			}
			b.log.write("-----> Discovering process types\n-----> Compressing...\n       Done: 64.2M\n-----> Launching...\n")
			sl := &slugRec{id: newID(), appID: a.id, commit: version, hasCommit: hasVersion, oci: a.fir, checksum: got, size: 64_200_000 + len(blob.data), created: s.now()}
			if a.releasePhase {
				sl.releaseCmd = ReleaseCommand
			}
			s.slugs[sl.id] = sl
			b.slugID = sl.id
			if a.deleted {
				fail("The app was deleted during the build")
				return
			}
			if a.releasePhase {
				b.log.write(" !     Release command declared: this new release will not be available until the command succeeds.\n")
			}
			rel := s.newRelease(a, sl.id, "Deploy "+shortCommit(version))
			b.releaseID = rel.id
			b.log.write("       Released v%d\n       %s deployed to Heroku\n", rel.version, a.webURL)
			b.status = "succeeded"
			b.updated = s.now()
			s.settle("build", b.id, b.status)
			b.log.finish()
			if b.onDone != nil {
				rel.whenSettled(func(*releaseRec) { b.onDone(b) })
			}
		}))
	})
	return b
}

// heldUntilReleased is f, or when HoldBuilds holds builds of version, f put off until the hold is
// released. The caller holds the lock.
func (s *Server) heldUntilReleased(version string, f func()) func() {
	return func() {
		if h := s.holds[version]; h != nil && !h.released {
			h.waiting = append(h.waiting, f)
			return
		}
		f()
	}
}

// blobFor finds the uploaded blob a source_blob.url names. Heroku downloads
// any URL; this server has no network, so it serves only its own blob store.
func (s *Server) blobFor(raw string) (*blobRec, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("the URL does not parse")
	}
	if u.Scheme+"://"+u.Host != s.base || !strings.HasPrefix(u.Path, blobPrefix) {
		return nil, fmt.Errorf("the test server can only fetch its own source blobs (from POST /sources), not %s://%s", u.Scheme, u.Host)
	}
	blob := s.blobs[strings.TrimPrefix(u.Path, blobPrefix)]
	switch {
	case blob == nil:
		return nil, fmt.Errorf("404 Not Found")
	case u.Query().Get("X-Amz-Signature") != blob.getSig:
		return nil, fmt.Errorf("403 Forbidden (not the source's get_url)")
	case !blob.uploaded:
		return nil, fmt.Errorf("404 Not Found (nothing was uploaded to the put_url)")
	}
	return blob, nil
}

// createReviewApp runs review-app creation: pending, then creating (the app
// exists, coupled at "review", with the environment as config vars), then a
// build and its release, then created or errored. The caller holds the lock.
func (s *Server) createReviewApp(ra *reviewAppRec, p *pipelineRec) {
	step := s.opt.BuildTime / 3
	s.after(step, func() {
		if ra.status != "pending" {
			return
		}
		a := s.createApp(reviewAppName(p.name, ra.pr), ra.env)
		a.fir = p.fir
		a.reviewApp = ra.id
		s.couple(p.id, a.id, "review")
		ra.appID = a.id
		ra.status = "creating"
		ra.updated = s.now()
		errored := func(status, msg string) {
			if ra.status != "creating" {
				return
			}
			ra.status, ra.errorStatus, ra.message = "errored", status, msg
			ra.updated = s.now()
			s.settle("review-app", ra.id, ra.status)
		}
		if p.failReview != "" {
			msg := p.failReview
			s.after(step, func() { errored("postdeploy_failed", msg) })
			return
		}
		b := s.startBuild(a, ra.blobURL, "", false, ra.version, ra.version != "")
		b.onDone = func(b *buildRec) {
			if b.status != "succeeded" {
				errored("build_failed", "Build failed. See the build output for details.")
				return
			}
			if rel := s.releases[b.releaseID]; rel != nil && rel.status != "succeeded" {
				errored("release_failed", "The release phase failed.")
				return
			}
			if ra.status == "creating" {
				ra.status = "created"
				ra.updated = s.now()
				s.settle("review-app", ra.id, ra.status)
			}
		}
	})
}

// deleteReviewApp tears a review app down: deleting, then its app is gone
// and the review app deleted. The caller holds the lock.
func (s *Server) deleteReviewApp(ra *reviewAppRec) {
	ra.status = "deleting"
	ra.updated = s.now()
	s.after(s.opt.BuildTime/3, func() {
		if a := s.apps[ra.appID]; a != nil {
			s.deleteApp(a)
		}
		ra.status = "deleted"
		ra.updated = s.now()
	})
}

// promote gives every target a release of the source release's slug, with
// the target's own config vars; the promotion then completes. The caller
// holds the lock.
func (s *Server) promote(pr *promotionRec, source *releaseRec) {
	src := s.apps[source.appID]
	s.after(s.opt.ReleaseTime, func() {
		for _, tid := range pr.targetIDs {
			t := s.targets[tid]
			a := s.apps[t.appID]
			if a == nil {
				t.status, t.errorMessage = "failed", "The target app was deleted."
				continue
			}
			srcName := source.appID
			if src != nil {
				srcName = src.name
			}
			desc := fmt.Sprintf("Promote %s v%d %s", srcName, source.version, shortCommit(s.slugCommit(source.slugID)))
			rel := s.newRelease(a, source.slugID, strings.TrimSpace(desc))
			t.releaseID, t.status = rel.id, "succeeded"
		}
		pr.status = "completed"
		pr.updated = s.now()
		s.settle("promotion", pr.id, pr.status)
	})
}
