package secrets_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pangeo-forge/deploy-action/internal/secrets"
)

func TestFlatten(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		doc     map[string]any
		want    map[string]string
		wantErr []string // each must appear in the error
	}{
		{
			name: "nested keys join with underscores and upper-case",
			doc: map[string]any{
				"fastapi":    map[string]any{"PANGEO_FORGE_API_KEY": "k"},
				"github_app": map[string]any{"private_key": "a\nb\n", "id": 42, "nested": map[string]any{"deep": "d"}},
			},
			want: map[string]string{
				"FASTAPI_PANGEO_FORGE_API_KEY": "k",
				"GITHUB_APP_PRIVATE_KEY":       "a\nb\n",
				"GITHUB_APP_ID":                "42",
				"GITHUB_APP_NESTED_DEEP":       "d",
			},
		},
		{
			name: "scalars become their YAML text",
			doc: map[string]any{
				"t": true, "f": false, "i": -7, "big": int64(1) << 40, "half": 0.5,
				"large": 1e21, "whole": 3.0, "empty": "",
				"when": time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
			},
			want: map[string]string{
				"T": "true", "F": "false", "I": "-7", "BIG": "1099511627776", "HALF": "0.5",
				"LARGE": "1000000000000000000000", "WHOLE": "3", "EMPTY": "",
				"WHEN": "2024-05-01T12:00:00Z",
			},
		},
		{
			name: "the unencrypted suffix stays in the name",
			doc:  map[string]any{"region_unencrypted": "us-central1"},
			want: map[string]string{"REGION_UNENCRYPTED": "us-central1"},
		},
		{
			name: "an empty mapping gives no vars",
			doc:  map[string]any{"unused": map[string]any{}},
			want: map[string]string{},
		},
		{
			name:    "nested key collides with a flat one",
			doc:     map[string]any{"github_app": map[string]any{"id": "1"}, "github_app_id": "2"},
			wantErr: []string{"keys github_app.id and github_app_id both become config var GITHUB_APP_ID"},
		},
		{
			name:    "keys differing only in case collide",
			doc:     map[string]any{"token": "1", "TOKEN": "2"},
			wantErr: []string{"keys TOKEN and token both become config var TOKEN"},
		},
		{
			name:    "a list is an error naming its key",
			doc:     map[string]any{"bakery": map[string]any{"targets": []any{"a", "b"}}},
			wantErr: []string{"key bakery.targets holds a list"},
		},
		{
			name:    "a null is an error naming its key",
			doc:     map[string]any{"orphan": nil},
			wantErr: []string{"key orphan has no value"},
		},
		{
			name:    "names Heroku would refuse",
			doc:     map[string]any{"api-key": "x", "db": map[string]any{"host.name": "y"}},
			wantErr: []string{`key api-key becomes config var name "API-KEY"`, `key db.host.name becomes config var name "DB_HOST.NAME"`},
		},
		{
			name:    "every problem is reported at once",
			doc:     map[string]any{"a": []any{1}, "b": nil},
			wantErr: []string{"key a holds a list", "key b has no value"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := secrets.Flatten(tc.doc)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Flatten: %v", err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("Flatten mismatch (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("Flatten = %v, want an error", got)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			for _, v := range []string{`"1"`, `"2"`, `"x"`, `"y"`} {
				if strings.Contains(err.Error(), "value "+v) {
					t.Errorf("error %q quotes a value", err)
				}
			}
		})
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values []string
		in     string
		want   string
	}{
		{"none", nil, "plain text", "plain text"},
		{"every occurrence", []string{"s3cr3t"}, "a s3cr3t and s3cr3ts", "a *** and ***s"},
		{"a value containing another", []string{"key", "the-key-value"}, "the-key-value, key", "***, ***"},
		{"overlapping values leave no end behind", []string{"abcdef", "defghi"}, "xabcdefghiy", "x***y"},
		{"touching values are one", []string{"abc", "def"}, "abcdef", "***"},
		{"non-ASCII", []string{"pässwörd✓"}, "→pässwörd✓←", "→***←"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := secrets.NewRedactor(tc.values).Redact(tc.in); got != tc.want {
				t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSafePrefix(t *testing.T) {
	t.Parallel()
	r := secrets.NewRedactor([]string{"abcdef", "xyz"})
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"0123456789", 5},    // "56789" could still start "abcdef"
		{"0123abcdef", 4},    // the value ends exactly at the end: its start is the limit
		{"012abcdef789", 3},  // the value straddles the limit: cut before it
		{"abcdef0123456", 8}, // the value is whole before the limit
		{"0123456abcdef", 7},
		{"abc", 0},
	}
	for _, tc := range tests {
		if got := r.SafePrefix(tc.in); got != tc.want {
			t.Errorf("SafePrefix(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestMaskLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		value string
		want  []string
	}{
		{name: "single line", value: "s3cr3t", want: []string{"s3cr3t"}},
		{name: "empty", value: "", want: nil},
		{name: "blank", value: "   ", want: nil},
		{name: "surrounding spaces", value: " s3cr3t ", want: []string{" s3cr3t ", "s3cr3t"}},
		{
			name:  "multi-line PEM",
			value: "-----BEGIN RSA PRIVATE KEY-----\nMIIabc\nMIIdef\n-----END RSA PRIVATE KEY-----\n",
			want:  []string{"-----BEGIN RSA PRIVATE KEY-----", "MIIabc", "MIIdef", "-----END RSA PRIVATE KEY-----"},
		},
		{
			name:  "CRLF lines, blanks and duplicates",
			value: "line1\r\n\r\nline2\r\nline1\r\n   \r\n",
			want:  []string{"line1", "line2"},
		},
		{
			// The runner ends a log line at a bare \r too (a progress bar's redraw): each piece
			// between carriage returns is a line of its own in the log.
			name:  "bare carriage returns",
			value: "first-part\rsecond-part\r\nthird",
			want:  []string{"first-part", "second-part", "third"},
		},
		{
			name:  "indented lines are masked as written and trimmed",
			value: "key:\n  nested\n",
			want:  []string{"key:", "  nested", "nested"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, secrets.MaskLines(tc.value)); diff != "" {
				t.Errorf("MaskLines(%q) mismatch (-want +got):\n%s", tc.value, diff)
			}
		})
	}
}
