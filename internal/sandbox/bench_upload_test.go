package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pangeo-forge/deploy-action/internal/gitrepo"
	"github.com/pangeo-forge/deploy-action/internal/gitrepo/gittest"
	"github.com/pangeo-forge/deploy-action/internal/heroku"
	"github.com/pangeo-forge/deploy-action/internal/source"
)

// The upload benchmark packs and uploads a workspace in a child process (this test binary run
// again with only TestUploadHelper), so that the child's peak RSS is the packer's and uploader's
// alone, not the benchmark's. These variables are how the parent tells the child what to do.
const (
	helperDirEnv = "DEPLOY_ACTION_UPLOAD_HELPER_DIR" // the tree to pack; set only in the child
	helperURLEnv = "DEPLOY_ACTION_UPLOAD_HELPER_URL" // the loopback Heroku stand-in
	largeEnv     = "DEPLOY_ACTION_BENCH_LARGE"       // 1: a 1 GiB tree instead of 64 MiB
)

// BenchmarkUpload: packing and uploading a workspace, against `tar | gzip` of the same tree, and
// the peak RSS of the process doing it.
func BenchmarkUpload(b *testing.B) {
	for _, tool := range []string{"sh", "tar", "gzip"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s is not installed: no yardstick to compare with", tool)
		}
	}
	size := int64(64 << 20)
	if os.Getenv(largeEnv) == "1" {
		size = 1 << 30
	}
	tree := filepath.Join(b.TempDir(), "tree")
	genStart := time.Now()
	files := writeTree(b, tree, size)
	// Checked out as by actions/checkout: the upload packs what the git index tracks, all of it.
	if err := gittest.IndexTree(tree, nil); err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d files, %s, in %s", files, mib(size), time.Since(genStart).Round(time.Millisecond))

	var received atomic.Int64
	srv := uploadServer(&received)
	defer srv.Close()

	var tarTime, ourTime time.Duration
	var hwmKB, baseKB int64
	for b.Loop() {
		start := time.Now()
		tg := exec.CommandContext(b.Context(), "sh", "-c", `tar -cf - --exclude=.git . | gzip > /dev/null`)
		tg.Dir = tree
		if out, err := tg.CombinedOutput(); err != nil {
			b.Fatalf("tar | gzip: %v\n%s", err, out)
		}
		tarTime = time.Since(start)

		received.Store(0)
		start = time.Now()
		child := exec.CommandContext(b.Context(), os.Args[0], "-test.run=^TestUploadHelper$", "-test.count=1")
		child.Env = append(os.Environ(), helperDirEnv+"="+tree, helperURLEnv+"="+srv.URL)
		out, err := child.CombinedOutput()
		ourTime = time.Since(start)
		if err != nil {
			b.Fatalf("upload helper: %v\n%s", err, out)
		}
		if hwmKB, baseKB, err = helperHWM(out); err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		if received.Load() == 0 {
			b.Fatal("the upload helper uploaded nothing")
		}
	}
	ratio := tarTime.Seconds() / ourTime.Seconds()
	b.ReportMetric(float64(hwmKB)/1024, "peak-rss-MB")
	b.ReportMetric(ratio, "throughput-vs-tar-gzip")
	b.Logf("%s tree: pack + upload %s (%.0f MB/s, %s uploaded), tar | gzip %s (%.0f MB/s): throughput %.2f x tar | gzip (target >= 0.8); peak RSS %.1f MB (target <= 64 MB), of which %.1f MB before packing (runtime and package init); GOMAXPROCS %d",
		mib(size), ourTime.Round(time.Millisecond), float64(size)/1e6/ourTime.Seconds(), mib(received.Load()),
		tarTime.Round(time.Millisecond), float64(size)/1e6/tarTime.Seconds(), ratio, float64(hwmKB)/1024, float64(baseKB)/1024, runtime.GOMAXPROCS(0))
}

// TestUploadHelper is the child process of BenchmarkUpload; run on its own it does nothing.
func TestUploadHelper(t *testing.T) {
	dir, url := os.Getenv(helperDirEnv), os.Getenv(helperURLEnv)
	if dir == "" {
		t.Skip("only runs as BenchmarkUpload's child process")
	}
	ctx := context.Background()
	// What the process holds before packing: the Go runtime and the init of every package the
	// action links (sops brings the AWS, GCP and Azure SDKs), which the real binary pays too.
	baseline := procStatusKB("VmHWM:")
	tracked, err := gitrepo.TrackedFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := source.Pack(ctx, dir, t.TempDir(), source.Selection{Tracked: tracked})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Remove()
	f, err := a.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := heroku.New(heroku.Options{BaseURL: url, Token: "upload-helper-token"})
	if _, err := c.UploadSource(ctx, f, a.Size); err != nil {
		t.Fatal(err)
	}
	peak := procStatusKB("VmHWM:")
	if peak < 0 {
		t.Skip("no /proc/self/status to read the peak RSS from")
	}
	fmt.Printf("UPLOAD-HELPER hwm_kb=%d baseline_kb=%d\n", peak, baseline)
}

// procStatusKB reads a kB field of /proc/self/status, -1 when there is none.
func procStatusKB(field string) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// helperHWM reads the child's peak RSS and its RSS before packing, in kB.
func helperHWM(out []byte) (peak, baseline int64, err error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "UPLOAD-HELPER hwm_kb=%d baseline_kb=%d", &peak, &baseline); err == nil {
			return peak, baseline, nil
		}
	}
	return 0, 0, fmt.Errorf("the upload helper printed no peak RSS")
}

// uploadServer stands in for Heroku's POST /sources and the S3 PUT: it hashes and counts what is
// uploaded and keeps none of it, so that the benchmark's own memory stays small too.
func uploadServer(received *atomic.Int64) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/sources":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]any{"source_blob": map[string]string{
				"get_url": srv.URL + "/blob?sig=get", "put_url": srv.URL + "/blob?sig=put",
			}})
		case r.Method == http.MethodPut && r.URL.Path == "/blob":
			h := sha256.New()
			n, err := io.Copy(h, r.Body)
			if err != nil || n != r.ContentLength {
				http.Error(w, "short upload", http.StatusBadRequest)
				return
			}
			received.Add(n)
			w.WriteHeader(http.StatusOK)
		default:
			http.NotFound(w, r)
		}
	}))
	return srv
}

// writeTree writes about size bytes of files under dir: half Python-like text that compresses
// well, half random bytes (wheels, images) that do not, in files of 256 KiB to 4 MiB.
func writeTree(b *testing.B, dir string, size int64) int {
	b.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	words := strings.Fields("def class return import from self async await yield if else for in while try " +
		"except raise with as lambda None True False pangeo forge recipe bakery feedstock dataset zarr xarray")
	var text bytes.Buffer
	for text.Len() < 8<<20 {
		text.WriteString(words[rng.IntN(len(words))])
		if rng.IntN(8) == 0 {
			text.WriteString("\n    ")
		} else {
			text.WriteByte(' ')
		}
	}
	corpus := text.Bytes()
	random := make([]byte, 4<<20)
	files := 0
	for written := int64(0); written < size; files++ {
		n := int64(256<<10 + rng.IntN(4<<20-256<<10))
		n = min(n, size-written)
		var data []byte
		if files%2 == 0 {
			off := rng.IntN(len(corpus) - int(n))
			data = corpus[off : off+int(n)]
		} else {
			for i := 0; i+8 <= len(random); i += 8 {
				v := rng.Uint64()
				for k := range 8 {
					random[i+k] = byte(v >> (8 * k))
				}
			}
			data = random[:n]
		}
		path := filepath.Join(dir, fmt.Sprintf("pkg%02d", files%16), fmt.Sprintf("file%05d.dat", files))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			b.Fatal(err)
		}
		written += n
	}
	return files
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
