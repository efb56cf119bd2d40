package sandbox

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestCheckRunByteLimit runs a review app whose creation Heroku fails with a long multi-byte
// message, as the entry point does: the message, under GitHub's 65535 characters but over its
// 65535 bytes, goes into the check run's summary. The check run must still be concluded (GitHub
// refuses an oversized update, which left it in_progress), its summary cut on a character boundary.
func TestCheckRunByteLimit(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	msg := "アドオンを用意できませんでした: " + strings.Repeat("データベースの準備に失敗。", 2500)
	if utf8.RuneCountInString(msg) >= 65535 || len(msg) <= 65535 {
		t.Fatalf("message: %d characters, %d bytes; want fewer characters and more bytes than 65535", utf8.RuneCountInString(msg), len(msg))
	}
	w.Heroku.FailReviewApps(Pipeline, msg)
	run, err := w.Run(context.Background(), Lifecycle()[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if run.Code != 1 {
		t.Fatalf("exit code %d, want 1\n%s", run.Code, run.Log)
	}
	if v := w.GitHub.Violations(); len(v) > 0 {
		t.Errorf("GitHub refused requests: %v", v)
	}
	runs := w.GitHub.CheckRuns(Repository)
	if len(runs) != 1 || runs[0].Status != "completed" || runs[0].Conclusion != "failure" {
		t.Fatalf("check runs = %+v, want one completed with failure", runs)
	}
	s := runs[0].Summary
	if len(s) > 65535 || !utf8.ValidString(s) || !strings.Contains(s, "アドオンを用意できませんでした") || !strings.HasSuffix(s, "…") {
		t.Errorf("summary: %d bytes, valid UTF-8 %v; want the message cut to at most 65535 bytes with a mark", len(s), utf8.ValidString(s))
	}
	if strings.Contains(run.Log, "could not") && strings.Contains(run.Log, "check run") {
		t.Errorf("the log warns about the check run:\n%s", run.Log[max(len(run.Log)-2000, 0):])
	}
}
