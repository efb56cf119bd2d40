package plan

import (
	"strings"
	"testing"
)

func TestName(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"pr": "80", "user": "CIsaacStern", "branch": "feature/New_UI"}
	tests := []struct {
		template string
		vars     map[string]string
		want     string
	}{
		{"pforge-pr-{pr}", vars, "pforge-pr-80"},
		{"pforge-local-{user}", vars, "pforge-local-cisaacstern"},
		{"pangeo-forge-staging", nil, "pangeo-forge-staging"},
		{"pangeo-forge", vars, "pangeo-forge"},
		{"app-{branch}", vars, "app-feature-new-ui"},
		{"{pr}{pr}", vars, "8080"},
		{"{user}-{pr}-{branch}", vars, "cisaacstern-80-feature-new-ui"},
		{"x", nil, "x"},
		{"a-{branch}", map[string]string{"branch": "dependabot/pip/fastapi-0.95.1"}, "a-dependabot-pip-fastapi-0-95-1"},
		{"a-{branch}", map[string]string{"branch": "ümlaut"}, "a--mlaut"},
		{strings.Repeat("a", 63), nil, strings.Repeat("a", 63)},
		{"{pr}", map[string]string{"pr": "7", "extra": "ignored"}, "7"},
	}
	for _, tt := range tests {
		t.Run(tt.template, func(t *testing.T) {
			t.Parallel()
			got, err := Name(tt.template, tt.vars)
			if err != nil {
				t.Fatalf("Name(%q): %v", tt.template, err)
			}
			if got != tt.want {
				t.Errorf("Name(%q) = %q, want %q", tt.template, got, tt.want)
			}
		})
	}
}

func TestNameErrors(t *testing.T) {
	t.Parallel()
	const shape = ": a deployment name must be 1 to 63 lower-case letters, digits and dashes, not starting or ending with a dash"
	vars := map[string]string{"pr": "80", "user": "octocat", "branch": "main"}
	tests := []struct {
		template string
		vars     map[string]string
		want     string
	}{
		{"", vars, `deployment name template "" gives ""` + shape},
		{"Pangeo-Forge", vars, `deployment name template "Pangeo-Forge" gives "Pangeo-Forge"` + shape},
		{"pangeo_forge", vars, `deployment name template "pangeo_forge" gives "pangeo_forge"` + shape},
		{"-{pr}", vars, `deployment name template "-{pr}" gives "-80"` + shape},
		{"{pr}-", vars, `deployment name template "{pr}-" gives "80-"` + shape},
		{"a-{branch}", map[string]string{"branch": "fix/"}, `deployment name template "a-{branch}" gives "a-fix-"` + shape},
		{strings.Repeat("a", 64), vars, `deployment name template "` + strings.Repeat("a", 64) + `" gives "` + strings.Repeat("a", 64) + `"` + shape},
		{"{sha}", vars, `deployment name template "{sha}" uses the unknown placeholder {sha}: use {pr}, {user} or {branch}`},
		{"{PR}", vars, `deployment name template "{PR}" uses the unknown placeholder {PR}: use {pr}, {user} or {branch}`},
		{"{}", vars, `deployment name template "{}" uses the unknown placeholder {}: use {pr}, {user} or {branch}`},
		{"pr-{pr", vars, `deployment name template "pr-{pr" has an unclosed {: use placeholders {pr}, {user} or {branch}`},
		{"pr-{{pr}}", vars, `deployment name template "pr-{{pr}}" has an unclosed {: use placeholders {pr}, {user} or {branch}`},
		{"pr-pr}", vars, `deployment name template "pr-pr}" has a } without {: use placeholders {pr}, {user} or {branch}`},
		{"pr-{pr}", nil, `deployment name template "pr-{pr}" uses {pr}, which this run has no value for (only pull request runs have a PR number)`},
		{"u-{user}", map[string]string{"user": ""}, `deployment name template "u-{user}" uses {user}, which this run has no value for (no sender in the event and no GITHUB_ACTOR)`},
		{"b-{branch}", nil, `deployment name template "b-{branch}" uses {branch}, which this run has no value for (no branch in the event and no GITHUB_REF branch)`},
	}
	for _, tt := range tests {
		t.Run(tt.template, func(t *testing.T) {
			t.Parallel()
			got, err := Name(tt.template, tt.vars)
			if err == nil {
				t.Fatalf("Name(%q) = %q, want an error", tt.template, got)
			}
			if err.Error() != tt.want {
				t.Errorf("Name(%q) error\n%s\nwant\n%s", tt.template, err, tt.want)
			}
		})
	}
}

func FuzzName(f *testing.F) {
	for _, s := range []struct{ template, pr, user, branch string }{
		{"pforge-pr-{pr}", "80", "octocat", "main"},
		{"pforge-local-{user}", "", "CIsaacStern", ""},
		{"app-{branch}", "", "", "feature/New_UI"},
		{"{user}-{pr}-{branch}", "1", "a", "b"},
		{"pr-{pr", "1", "", ""},
		{"{sha}", "", "", ""},
	} {
		f.Add(s.template, s.pr, s.user, s.branch)
	}
	f.Fuzz(func(t *testing.T, template, pr, user, branch string) {
		got, err := Name(template, map[string]string{"pr": pr, "user": user, "branch": branch})
		if err != nil {
			if !strings.Contains(err.Error(), "deployment name template") {
				t.Errorf("error %q does not name the template", err)
			}
			return
		}
		if !validName.MatchString(got) {
			t.Errorf("Name(%q) = %q, not a valid deployment name", template, got)
		}
		if strings.ContainsAny(got, "{}") {
			t.Errorf("Name(%q) = %q left a placeholder", template, got)
		}
	})
}
