package markdown

import "testing"

func TestCodeAndLink(t *testing.T) {
	t.Parallel()
	tests := []struct{ got, want string }{
		{Code(""), ""},
		{Code("abc123"), "`abc123`"},
		{Link("", "https://x.invalid"), ""},
		{Link("app", ""), "app"},
		{Link("app", "https://app.herokuapp.com/"), "[app](https://app.herokuapp.com/)"},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("case %d: got %q, want %q", i, tt.got, tt.want)
		}
	}
}
