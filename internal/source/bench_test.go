package source

import (
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
)

// benchTree writes a workspace-like tree: a few hundred source files that compress well and some
// binaries that do not, about 80 MB in all. It returns the directory and the bytes of file content.
func benchTree(b *testing.B) (string, int64) {
	b.Helper()
	root := b.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("def class return import from self async await yield if else for in " +
		"while try except raise with as lambda None True False pangeo forge recipe bakery feedstock " +
		"dataset zarr xarray dask orchestrator heroku deploy config secret github app pull request")
	var total int64
	write := func(name string, data []byte) {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(data))
	}
	for i := range 300 {
		var sb strings.Builder
		for sb.Len() < 100_000+rng.IntN(100_000) {
			sb.WriteString(words[rng.IntN(len(words))])
			if rng.IntN(8) == 0 {
				sb.WriteString("\n    ")
			} else {
				sb.WriteByte(' ')
			}
		}
		write(fmt.Sprintf("pkg%02d/module%03d.py", i%20, i), []byte(sb.String()))
	}
	for i := range 20 {
		data := make([]byte, 1<<20+rng.IntN(1<<20))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		write(fmt.Sprintf("static/blob%02d.bin", i), data)
	}
	return root, total
}

func BenchmarkPack(b *testing.B) {
	dir, size := benchTree(b)
	compressors := []struct {
		name string
		c    compressor
	}{
		{"pgzip", parallelGzip},
		{"compress-gzip", func(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriter(w), nil }},
		{"klauspost-gzip", func(w io.Writer) (io.WriteCloser, error) { return kgzip.NewWriter(w), nil }},
	}
	for _, c := range compressors {
		b.Run(c.name, func(b *testing.B) {
			tmp := b.TempDir()
			b.SetBytes(size)
			var out int64
			for b.Loop() {
				a, err := pack(b.Context(), dir, tmp, everything, c.c)
				if err != nil {
					b.Fatal(err)
				}
				out = a.Size
				if err := a.Remove(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(out)/float64(size), "ratio")
		})
	}
	// The same tree through the system's tar and gzip, as a yardstick for the ratios above.
	b.Run("tar-gzip-exec", func(b *testing.B) {
		for _, tool := range []string{"sh", "tar", "gzip"} {
			if _, err := exec.LookPath(tool); err != nil {
				b.Skipf("%s is not installed", tool)
			}
		}
		out := filepath.Join(b.TempDir(), "out.tar.gz")
		b.SetBytes(size)
		for b.Loop() {
			cmd := exec.CommandContext(b.Context(), "sh", "-c", `tar -cf - --exclude=.git . | gzip > "$1"`, "sh", out)
			cmd.Dir = dir
			if msg, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("tar | gzip: %v\n%s", err, msg)
			}
		}
		info, err := os.Stat(out)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(info.Size())/float64(size), "ratio")
	})
}
