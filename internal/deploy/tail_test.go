package deploy

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pangeo-forge/deploy-action/internal/secrets"
)

// TestTailScrubbedBeforeCut is the property of docs/security.md, section 1: random values (a
// multi-line PEM key, one with a bare \r, non-ASCII, one containing another) written in random
// chunk sizes, at every position around the cut, never leave a piece of a value in the tail: not
// the end or the start that a cut left, nor any 8 consecutive bytes of it. Both kinds of output are
// tried: lines (cut at a line boundary) and one line longer than the tail (cut inside, after
// scrubbing).
func TestTailScrubbedBeforeCut(t *testing.T) {
	t.Parallel()
	const size = 600
	rng := rand.New(rand.NewPCG(13, 1))
	upper := func(n int) string { // values use capitals, digits and symbols; the filler never does
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	var pem strings.Builder
	pem.WriteString("-----BEGIN PRIVATE KEY-----\n")
	for range 5 {
		pem.WriteString(upper(64) + "\n")
	}
	pem.WriteString("-----END PRIVATE KEY-----\n")
	inner := upper(16)
	values := map[string]string{
		"pem":      pem.String(),
		"bare cr":  upper(20) + "\r" + upper(20),
		"crlf":     upper(12) + "\r\n" + upper(12),
		"unicode":  "CLÉ-" + upper(12) + "-ÜNÏCÖDÉ-✓€",
		"inner":    inner,
		"outer":    "OUTER-" + inner + "-" + upper(10),
		"one line": upper(48),
	}
	var pieces []string
	for _, v := range values {
		pieces = append(pieces, secrets.MaskLines(v)...)
	}
	redactor := secrets.NewRedactor(pieces)
	filler := func(n int, lines bool) string {
		const words = "building step ok compiling module linking done "
		var b strings.Builder
		for b.Len() < n {
			switch {
			case lines && rng.IntN(9) == 0:
				b.WriteByte('\n')
			case lines && rng.IntN(40) == 0:
				b.WriteByte('\r') // a progress bar redrawing its line
			default:
				b.WriteByte(words[rng.IntN(len(words))])
			}
		}
		return b.String()[:n]
	}
	for name, value := range values {
		for _, lines := range []bool{true, false} {
			for off := -len(value) - 2; off <= 2; off++ {
				// The value starts off bytes after where the last cut falls: size bytes before the end.
				suffix := filler(size-len(value)-off, lines)
				prefix := filler(3*size+rng.IntN(size), lines)
				stream := prefix + value + suffix
				tail := &tailBuffer{redactor: func() *secrets.Redactor { return redactor }, size: size}
				for rest := stream; rest != ""; {
					n := min(len(rest), 1+rng.IntN(97))
					if rng.IntN(10) == 0 {
						n = min(len(rest), rng.IntN(3*size))
					}
					if _, err := tail.Write([]byte(rest[:n])); err != nil {
						t.Fatal(err)
					}
					rest = rest[n:]
				}
				got := tail.String()
				where := fmt.Sprintf("%s, lines %v, value at cut%+d", name, lines, off)
				if len(got) > size {
					t.Errorf("%s: the tail is %d bytes, more than %d", where, len(got), size)
				}
				for _, v := range values {
					if leak := pieceOf(v, got); leak != "" {
						t.Fatalf("%s: %s\ntail: %q", where, leak, got)
					}
				}
			}
		}
	}
}

// pieceOf says how text shows a piece of v: the end of v at its start, the start of v at its end,
// or any 8 consecutive bytes of v; "" when it shows none.
func pieceOf(v, text string) string {
	for k := 1; k < len(v); k++ {
		if end := v[k:]; len(strings.TrimSpace(end)) >= 4 && strings.HasPrefix(text, end) {
			return fmt.Sprintf("the tail starts with the end of a value: %q", end)
		}
		if start := v[:k]; len(strings.TrimSpace(start)) >= 4 && strings.HasSuffix(text, start) {
			return fmt.Sprintf("the tail ends with the start of a value: %q", start)
		}
	}
	for i := 0; i+8 <= len(v); i++ {
		if w := v[i : i+8]; strings.TrimSpace(w) != "" && strings.Contains(text, w) {
			return fmt.Sprintf("the tail holds 8 bytes of a value: %q", w)
		}
	}
	return ""
}
