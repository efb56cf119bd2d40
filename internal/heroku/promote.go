package heroku

import (
	"context"
	"fmt"
	"io"
	"strings"

	heroku "github.com/heroku/heroku-go/v5"
)

// Promotion is a pipeline promotion. Status is pending or completed.
type Promotion struct{ ID, Status string }

// PromotionTarget is one app a promotion copies the release to. Status is pending, succeeded or
// failed; ReleaseID is the release made on the target.
type PromotionTarget struct{ AppID, Status, ReleaseID, ErrorMessage string }

// promotionBody names the source release, which heroku.PipelinePromotionCreateOpts cannot: without
// it Heroku promotes whatever the source app runs when the request lands, possibly a newer release
// than the one the action checked.
type promotionBody struct {
	Pipeline struct {
		ID string `json:"id"`
	} `json:"pipeline"`
	Source struct {
		App     idRef `json:"app"`
		Release idRef `json:"release"`
	} `json:"source"`
	Targets []struct {
		App idRef `json:"app"`
	} `json:"targets"`
}

type idRef struct {
	ID string `json:"id"`
}

// Promote copies the source app's release sourceReleaseID to the target apps.
func (c *Client) Promote(ctx context.Context, pipelineID, sourceAppID, sourceReleaseID string, targetAppIDs []string) (Promotion, error) {
	if sourceReleaseID == "" {
		return Promotion{}, fmt.Errorf("promoting on pipeline %s: no source release given; name the staging release to promote", pipelineID)
	}
	if len(targetAppIDs) == 0 {
		return Promotion{}, fmt.Errorf("promoting on pipeline %s: no target app; couple an app at the production stage", pipelineID)
	}
	var b promotionBody
	b.Pipeline.ID = pipelineID
	b.Source.App.ID = sourceAppID
	b.Source.Release.ID = sourceReleaseID
	for _, id := range targetAppIDs {
		b.Targets = append(b.Targets, struct {
			App idRef `json:"app"`
		}{App: idRef{ID: id}})
	}
	var out heroku.PipelinePromotion
	if err := c.post(ctx, &out, "/pipeline-promotions", b); err != nil {
		return Promotion{}, fmt.Errorf("promoting release %s of app %s on pipeline %s: %w", sourceReleaseID, sourceAppID, pipelineID, err)
	}
	return Promotion{ID: out.ID, Status: out.Status}, nil
}

// PromotedRelease says where a promotion's release will appear: on the app with ID App, numbered
// above After (the newest version the app had before the promotion), running the code CodeID (the
// promoted release's slug, or OCI image on Fir: Release.CodeID).
type PromotedRelease struct {
	App, CodeID string
	After       int
}

// WaitPromotion waits for the release the promotion makes on the target app, then for that
// release's release phase, streaming its output to log (as WaitRelease does). It looks first where
// the release will appear, the target app's newest release, whose read also names the output
// stream; only while the release is not there does it read the promotion's targets, to learn of a
// target that failed (a *FailedError with Heroku's message) or of a release made under another
// number.
func (c *Client) WaitPromotion(ctx context.Context, id string, on PromotedRelease, log io.Writer) (Release, error) {
	// A promotion is never over within the round trip that created it: a first look at once would
	// only ever find nothing.
	if err := c.sleep(ctx, c.pollDelay(0)); err != nil {
		return Release{}, err
	}
	var found Release
	err := c.wait(ctx, func() (bool, error) {
		newest, err := c.Releases(ctx, on.App, 1)
		if err != nil {
			return false, err
		}
		// A release someone else made on the app just after the promotion's (a config change)
		// would run the same code: following it waits for the same code to run.
		if len(newest) == 1 && newest[0].Version > on.After && newest[0].CodeID() == on.CodeID {
			found = newest[0]
			return true, nil
		}
		targets, pending, err := c.promotionTargets(ctx, id, on.App)
		if err != nil || pending {
			return false, err
		}
		for _, t := range targets {
			if t.AppID == on.App && t.ReleaseID != "" {
				found, err = c.Release(ctx, on.App, t.ReleaseID)
				return err == nil, err
			}
		}
		return false, fmt.Errorf("promotion %s completed without a release on app %s", id, on.App)
	})
	if err != nil {
		return found, err
	}
	return c.waitReleaseFrom(ctx, on.App, found, log, func() {})
}

// Promotion reads a promotion: Status is pending until every target has its release.
func (c *Client) Promotion(ctx context.Context, id string) (Promotion, error) {
	var pr heroku.PipelinePromotion
	if err := c.get(ctx, &pr, p("/pipeline-promotions/", id)); err != nil {
		return Promotion{}, fmt.Errorf("reading promotion %s: %w", id, err)
	}
	return Promotion{ID: pr.ID, Status: pr.Status}, nil
}

// promotionTargets reads the targets of a promotion and whether the target app is still pending.
// Its target's failure makes a *FailedError carrying Heroku's error message. Only app's target is
// judged: a promotion to several apps (production in the US and in the EU) succeeds or fails on
// each app apart, and each app's wait ends on its own.
func (c *Client) promotionTargets(ctx context.Context, id, app string) ([]PromotionTarget, bool, error) {
	raw, err := list[heroku.PipelinePromotionTarget](ctx, c, p("/pipeline-promotions/", id, "/promotion-targets"), idRange(), nil)
	if err != nil {
		return nil, false, fmt.Errorf("reading the targets of promotion %s: %w", id, err)
	}
	if len(raw) == 0 {
		// Targets appear with the promotion; until then only the promotion says whether it is
		// still going.
		var pr heroku.PipelinePromotion
		if err := c.get(ctx, &pr, p("/pipeline-promotions/", id)); err != nil {
			return nil, false, fmt.Errorf("reading promotion %s: %w", id, err)
		}
		return nil, pr.Status == "pending", nil
	}
	targets := make([]PromotionTarget, len(raw))
	var failed []string
	pending := false
	for i, t := range raw {
		pt := PromotionTarget{AppID: t.App.ID, Status: t.Status, ErrorMessage: deref(t.ErrorMessage)}
		if t.Release != nil {
			pt.ReleaseID = t.Release.ID
		}
		targets[i] = pt
		if pt.AppID != app {
			continue
		}
		switch pt.Status {
		case "pending":
			pending = true
		case "succeeded":
		default:
			msg := pt.ErrorMessage
			if msg == "" {
				msg = pt.Status
			}
			failed = append(failed, fmt.Sprintf("app %s: %s", pt.AppID, msg))
		}
	}
	if len(failed) > 0 {
		return targets, false, &FailedError{What: "promotion", ID: id, Status: "failed", Message: strings.Join(failed, "; ")}
	}
	return targets, pending, nil
}
