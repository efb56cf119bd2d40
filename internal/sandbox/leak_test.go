package sandbox

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/pangeo-forge/deploy-action/internal/fake/herokuapi"
)

// findLeaks returns where any of values, in any of its encodings, occurs in texts.
func findLeaks(values, texts []string) []string {
	var out []string
	for _, text := range texts {
		for _, v := range values {
			for _, enc := range encodings(v) {
				if strings.Contains(text, enc) {
					out = append(out, fmt.Sprintf("a secret (%d bytes) was written out:\n%.300s", len(v), text))
				}
			}
		}
	}
	return out
}

// writtenBy is everything the runs wrote where a reader can see it: their logs as the runner shows
// them (Shown: masks applied, commands consumed),
// stderr, summaries and outputs, and every request to GitHub and to Heroku, less the Heroku requests
// that must carry config vars (carries).
func writtenBy(w *World, runs []*Run, carries func(herokuapi.Request) bool) []string {
	var out []string
	for _, run := range runs {
		out = append(out, Shown(run.Log), run.Stderr, run.Summary)
		for k, v := range run.Outputs {
			out = append(out, k+"="+v)
		}
	}
	for _, r := range w.Heroku.Requests() {
		if !carries(r) {
			out = append(out, r.Method+" "+r.Path+"\n"+string(r.Body))
		}
	}
	for _, r := range w.GitHub.Requests() {
		out = append(out, r.Method+" "+r.Path+"\n"+string(r.Body))
	}
	return out
}

// signatures are the signatures of the source URLs the action was given (put_url on upload,
// get_url in builds and review apps): whoever has one can read or replace the app's source, so
// they must not reach the log, the outputs or GitHub.
func signatures(w *World) []string {
	var out []string
	for _, r := range w.Heroku.Requests() {
		for _, s := range []string{r.Path, string(r.Body)} {
			for _, part := range strings.Split(s, "X-Amz-Signature=")[1:] {
				sig, _, _ := strings.Cut(part, "\"")
				sig, _, _ = strings.Cut(sig, "&")
				if sig, err := url.QueryUnescape(sig); err == nil && len(sig) >= 16 {
					out = append(out, sig)
				}
			}
		}
	}
	return out
}
