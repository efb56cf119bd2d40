package deploy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ptr(s string) *string { return &s }

func TestDiffVars(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		current   map[string]string
		desired   map[string]string
		wantSet   []string
		wantUnset []string
		wantPatch map[string]*string
		wantLater map[string]*string
	}{
		{
			name:      "first deploy sets everything and records the names",
			current:   map[string]string{"DATABASE_URL": "postgres://db"},
			desired:   map[string]string{"A": "1", "B": "2"},
			wantSet:   []string{"A", "B"},
			wantPatch: map[string]*string{"A": ptr("1"), "B": ptr("2"), ManagedVar: ptr("A,B")},
		},
		{
			name:      "unchanged vars are not sent",
			current:   map[string]string{"A": "1", "B": "2", ManagedVar: "A,B"},
			desired:   map[string]string{"A": "1", "B": "2"},
			wantPatch: map[string]*string{},
		},
		{
			name:      "only the changed var is sent",
			current:   map[string]string{"A": "1", "B": "2", ManagedVar: "A,B"},
			desired:   map[string]string{"A": "1", "B": "3"},
			wantSet:   []string{"B"},
			wantPatch: map[string]*string{"B": ptr("3")},
		},
		{
			name:      "a managed var that left the file is unset later, an add-on var is kept",
			current:   map[string]string{"A": "1", "B": "2", "DATABASE_URL": "postgres://db", ManagedVar: "A,B"},
			desired:   map[string]string{"A": "1"},
			wantUnset: []string{"B"},
			wantPatch: map[string]*string{},
			wantLater: map[string]*string{"B": nil, ManagedVar: ptr("A")},
		},
		{
			name:      "a var added while another leaves: the first step keeps the leaving name managed",
			current:   map[string]string{"A": "1", "B": "2", ManagedVar: "A,B"},
			desired:   map[string]string{"A": "1", "C": "3"},
			wantSet:   []string{"C"},
			wantUnset: []string{"B"},
			wantPatch: map[string]*string{"C": ptr("3"), ManagedVar: ptr("A,B,C")},
			wantLater: map[string]*string{"B": nil, ManagedVar: ptr("A,C")},
		},
		{
			name:      "a var someone else set is taken over when the file names it",
			current:   map[string]string{"A": "old"},
			desired:   map[string]string{"A": "new"},
			wantSet:   []string{"A"},
			wantPatch: map[string]*string{"A": ptr("new"), ManagedVar: ptr("A")},
		},
		{
			name:      "a managed name already gone from the app is not unset again",
			current:   map[string]string{"A": "1", ManagedVar: "A,GONE"},
			desired:   map[string]string{"A": "1"},
			wantPatch: map[string]*string{ManagedVar: ptr("A")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DiffVars(tt.current, tt.desired)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantSet, got.Set); diff != "" {
				t.Errorf("set (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantUnset, got.Unset); diff != "" {
				t.Errorf("unset (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantPatch, got.Patch); diff != "" {
				t.Errorf("patch (-want +got):\n%s", diff)
			}
			if tt.wantLater == nil {
				tt.wantLater = map[string]*string{}
			}
			if diff := cmp.Diff(tt.wantLater, got.Later); diff != "" {
				t.Errorf("later (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDiffVarsRejectsBeforeAnyWrite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		desired map[string]string
		want    string
	}{
		{"bad name", map[string]string{"BAD-NAME": "x"}, `"BAD-NAME"`},
		{"too large", map[string]string{"BIG": strings.Repeat("x", configSizeLimit)}, "over Heroku's limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DiffVars(nil, tt.desired)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DiffVars error = %v, want one containing %q", err, tt.want)
			}
			for _, v := range tt.desired {
				if len(v) > 0 && strings.Contains(err.Error(), v) {
					t.Fatal("the error message contains a value")
				}
			}
		})
	}
}
