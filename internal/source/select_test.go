package source

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustPatterns(t *testing.T, text string) Patterns {
	t.Helper()
	p, problems := ParsePatterns(text)
	if len(problems) > 0 {
		t.Fatalf("ParsePatterns(%q): %v", text, problems)
	}
	return p
}

// TestPackSelection: only tracked files and the untracked ones asked for are packed, less what
// .slugignore excludes; what was left out is counted and the largest named.
func TestPackSelection(t *testing.T) {
	t.Parallel()
	tree := []node{
		{Name: "app.json", Mode: 0o644, Content: "{}"},
		{Name: "web/index.html", Mode: 0o644, Content: "<p>"},
		{Name: "gha-creds-5f1b.json", Mode: 0o600, Content: `{"type":"external_account"}`},
		{Name: ".env", Mode: 0o644, Content: "TOKEN=x"},
		{Name: "node_modules/big/index.js", Mode: 0o644, Content: string(pseudoRandom(3000))},
		{Name: "static/dist/app.min.js", Mode: 0o644, Content: "built"},
		{Name: "static/dist/app.min.js.map", Mode: 0o644, Content: "map"},
		{Name: "docs/design.psd", Mode: 0o644, Content: "psd"},
		{Name: "docs/readme.md", Mode: 0o644, Content: "md"},
		{Name: "test/test_app.py", Mode: 0o644, Content: "def test(): pass"},
		{Name: ".slugignore", Mode: 0o644, Content: "# heroku removes these\n*.psd\n/test\n!keep.psd\n"},
	}
	tracked := []string{".slugignore", "app.json", "docs/design.psd", "docs/readme.md", "test/test_app.py", "web/index.html"}
	tests := []struct {
		name    string
		include string
		want    []node
		leftOut int
		largest string
	}{
		{
			name: "tracked only",
			want: []node{
				{Name: ".slugignore", Mode: 0o644, Content: "# heroku removes these\n*.psd\n/test\n!keep.psd\n"},
				{Name: "app.json", Mode: 0o644, Content: "{}"},
				{Name: "docs/", Mode: 0o755},
				{Name: "docs/readme.md", Mode: 0o644, Content: "md"},
				{Name: "web/", Mode: 0o755},
				{Name: "web/index.html", Mode: 0o644, Content: "<p>"},
			},
			leftOut: 5, largest: "node_modules/big/index.js",
		},
		{
			name:    "built assets included",
			include: "static/dist/\n*.map\n",
			want: []node{
				{Name: ".slugignore", Mode: 0o644, Content: "# heroku removes these\n*.psd\n/test\n!keep.psd\n"},
				{Name: "app.json", Mode: 0o644, Content: "{}"},
				{Name: "docs/", Mode: 0o755},
				{Name: "docs/readme.md", Mode: 0o644, Content: "md"},
				{Name: "static/", Mode: 0o755},
				{Name: "static/dist/", Mode: 0o755},
				{Name: "static/dist/app.min.js", Mode: 0o644, Content: "built"},
				{Name: "static/dist/app.min.js.map", Mode: 0o644, Content: "map"},
				{Name: "web/", Mode: 0o755},
				{Name: "web/index.html", Mode: 0o644, Content: "<p>"},
			},
			leftOut: 3, largest: "node_modules/big/index.js",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := makeTree(t, tree)
			a, err := Pack(t.Context(), dir, t.TempDir(), Selection{Tracked: tracked, Include: mustPatterns(t, tt.include)})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, unpack(t, a)); diff != "" {
				t.Errorf("archive entries (-want +got):\n%s", diff)
			}
			got := [4]any{a.LeftOut, a.Largest, a.SlugIgnored, len(a.SlugProblems)}
			if want := [4]any{tt.leftOut, tt.largest, 2, 1}; got != want {
				t.Errorf("left out, largest, slug-ignored, .slugignore problems = %v, want %v (%v)", got, want, a.SlugProblems)
			}
		})
	}
}

// TestPackNeverFollowsSymlinks: a tracked symlink pointing out of the tree is packed as a link
// (git stores links as links), and a tracked path under a directory that was replaced by a
// symlink to somewhere else is not packed at all.
func TestPackNeverFollowsSymlinks(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "credentials.json"), []byte("outside secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := makeTree(t, []node{
		{Name: "app.json", Mode: 0o644, Content: "{}"},
		{Name: "home", Link: outside},
		{Name: "config", Link: filepath.Join(outside, "credentials.json")},
	})
	tracked := []string{"app.json", "config", "home/credentials.json"}
	a, err := Pack(t.Context(), dir, t.TempDir(), Selection{Tracked: tracked})
	if err != nil {
		t.Fatal(err)
	}
	want := []node{
		{Name: "app.json", Mode: 0o644, Content: "{}"},
		{Name: "config", Mode: 0o777, Link: filepath.Join(outside, "credentials.json")},
	}
	if diff := cmp.Diff(want, unpack(t, a)); diff != "" {
		t.Errorf("archive entries (-want +got):\n%s", diff)
	}
}

func TestPatterns(t *testing.T) {
	t.Parallel()
	p := mustPatterns(t, "*.psd\n/tmp\nbuild/\ndocs/*.md\nstatic/**/*.map\n\\#notes\nname{1}\n")
	tests := []struct {
		name  string
		isDir bool
		want  bool
	}{
		{"art/logo.psd", false, true},
		{"logo.psd", false, true},
		{"tmp/cache/x", false, true},
		{"web/tmp/x", false, false}, // /tmp is anchored
		{"build", false, false},     // build/ matches directories only
		{"build/out.js", false, true},
		{"web/build/out.js", false, true},
		{"docs/a.md", false, true},
		{"docs/sub/a.md", false, false},
		{"static/js/deep/app.js.map", false, true},
		{"static/app.js.map", false, true},
		{"#notes", false, true},
		{"name{1}", false, true},
		{"app.json", false, false},
	}
	for _, tt := range tests {
		if got := p.Match(tt.name, tt.isDir); got != tt.want {
			t.Errorf("Match(%q, %v) = %v, want %v", tt.name, tt.isDir, got, tt.want)
		}
	}
	if _, problems := ParsePatterns("!keep\n[abc\n"); len(problems) != 2 {
		t.Errorf("problems = %v, want the negation and the unclosed bracket", problems)
	}
}

func TestUnder(t *testing.T) {
	t.Parallel()
	files := []string{"README.md", "services/api/app.json", "services/api/web/x", "services/apix/y", "services/other/z"}
	if diff := cmp.Diff([]string{"app.json", "web/x"}, Under(files, "services/api")); diff != "" {
		t.Errorf("Under (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(files, Under(files, ".")); diff != "" {
		t.Errorf("Under . (-want +got):\n%s", diff)
	}
}
