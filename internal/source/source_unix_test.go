//go:build unix

package source

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestPackSkipsSpecialFiles checks that a named pipe is reported, not opened: opening one would block
// until something writes to it.
func TestPackSkipsSpecialFiles(t *testing.T) {
	t.Parallel()
	dir := makeTree(t, []node{{Name: "app.json", Mode: 0o644, Content: "{}"}, {Name: "run/", Mode: 0o755}})
	if err := syscall.Mkfifo(filepath.Join(dir, "run", "pipe"), 0o644); err != nil {
		t.Skipf("cannot make a named pipe here: %v", err)
	}
	a := mustPack(t, dir)
	if diff := cmp.Diff([]string{"run/pipe"}, a.Skipped); diff != "" {
		t.Errorf("Skipped (-want +got):\n%s", diff)
	}
	want := []node{{Name: "app.json", Mode: 0o644, Content: "{}"}} // run/ holds nothing packed
	if diff := cmp.Diff(want, unpack(t, a)); diff != "" {
		t.Errorf("archive entries (-want +got):\n%s", diff)
	}
}

func TestPackUnreadableFile(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root reads files whatever their mode")
	}
	dir := makeTree(t, []node{{Name: "secret.key", Mode: 0o000, Content: "x"}})
	tmp := t.TempDir()
	_, err := Pack(t.Context(), dir, tmp, everything)
	if err == nil || !containsAll(err.Error(), "secret.key", "permission denied") {
		t.Errorf("Pack of an unreadable file: %v, want an error naming the file", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}
}

// TestPackBoundedMemory packs a file much larger than the heap Pack may use, watching the heap's
// peak. It is not parallel, so that the heap holds nothing of other tests.
func TestPackBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("packs 96 MB")
	}
	const size = 96 << 20
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), pseudoRandom(size), 0o644); err != nil {
		t.Fatal(err)
	}
	// Collect often, so that the peak measures what Pack holds rather than garbage awaiting a GC.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	base := stats.HeapAlloc
	var peak uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	a, err := Pack(t.Context(), dir, t.TempDir(), everything)
	close(done)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	if a.Size < size {
		t.Fatalf("random data compressed to %d bytes, want at least %d", a.Size, size)
	}
	if grown := peak - min(peak, base); grown > size/3 {
		t.Errorf("the heap grew by %d MB while packing a %d MB file, want it streamed", grown>>20, size>>20)
	} else {
		t.Logf("heap peak %d MB above the baseline for a %d MB file", grown>>20, size>>20)
	}
}

func TestPackDefaultTempDir(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	a := mustPackIn(t, makeTree(t, []node{{Name: "app.json", Mode: 0o644, Content: "{}"}}), "")
	if got := filepath.Dir(a.Path); got != tmp {
		t.Errorf("archive written to %s, want the temporary directory %s", got, tmp)
	}
}
