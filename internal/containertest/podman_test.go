package containertest

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pangeo-forge/deploy-action/internal/sandbox"
)

// enableVar turns the tests on: `make test` has no container runtime to rely on.
const enableVar = "DEPLOY_ACTION_CONTAINER_TEST"

// testVersion is stamped into the test image, so a test can tell the image's binary ran.
const testVersion = "v0.0.0-containertest"

// The runner's mount points for a container action (docker run -v ... in a job's log).
const (
	containerWorkspace    = "/github/workspace"
	containerWorkflow     = "/github/workflow"
	containerFileCommands = "/github/file_commands"
	containerHome         = "/github/home"
)

// caBundles are where Linux distributions keep the system's CA bundle (the list crypto/x509 reads);
// SSL_CERT_FILE overrides them as it does for Go programs.
var caBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
}

// engine runs a container CLI: podman by default, the way that works on Debian machines without
// systemd (runc, cgroupfs, and a containers.conf without default ulimits, which cannot be raised in a
// nested sandbox); or docker, as on GitHub's runners (DEPLOY_ACTION_CONTAINER_RUNTIME=docker).
type engine struct {
	bin   string
	flags []string // before the subcommand
	env   []string // the CLI's own environment
}

func newEngine(bin, confDir string) (*engine, error) {
	e := &engine{bin: bin, env: []string{"PATH=" + os.Getenv("PATH")}}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DOCKER_") {
			e.env = append(e.env, kv)
		}
	}
	if filepath.Base(bin) != "podman" {
		return e, nil
	}
	conf := filepath.Join(confDir, "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o644); err != nil {
		return nil, err
	}
	e.flags = []string{"--runtime", "runc", "--cgroup-manager", "cgroupfs"}
	e.env = append(e.env, "CONTAINERS_CONF="+conf)
	return e, nil
}

// command is the CLI with args; env is added to its environment, where `--env NAME` finds values.
func (e *engine) command(ctx context.Context, env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, e.bin, append(append([]string{}, e.flags...), args...)...)
	cmd.Env = append([]string{}, e.env...)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// run runs the CLI and returns its standard output; a failure carries its standard error.
func (e *engine) run(ctx context.Context, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := e.command(ctx, nil, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", filepath.Base(e.bin), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// Environment variables that point the tests at another engine or image.
const (
	runtimeVar      = "DEPLOY_ACTION_CONTAINER_RUNTIME" // podman (default) or docker
	imageVar        = "DEPLOY_ACTION_IMAGE"             // an image built elsewhere, e.g. from the Dockerfile
	imageVersionVar = "DEPLOY_ACTION_IMAGE_VERSION"     // the version that image was stamped with
)

// image is the image under test, built once for the package (or given by DEPLOY_ACTION_IMAGE), and
// removed by TestMain when the tests built it.
var image struct {
	once    sync.Once
	engine  *engine
	ref     string
	version string // what --version prints after "deploy-action "; "" when not known
	built   bool
	dir     string
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if image.built {
		if _, err := image.engine.run(context.Background(), "rmi", "--force", image.ref); err != nil {
			fmt.Fprintln(os.Stderr, "containertest: removing the test image:", err)
		}
	}
	if image.dir != "" {
		os.RemoveAll(image.dir)
	}
	os.Exit(code)
}

// testImage skips the test unless container tests are enabled and the container CLI is installed,
// and returns the engine and the image to run.
func testImage(t *testing.T) (*engine, string) {
	t.Helper()
	if os.Getenv(enableVar) != "1" {
		t.Skipf("container tests are off: run `make test-container` (sets %s=1; needs podman)", enableVar)
	}
	name := os.Getenv(runtimeVar)
	if name == "" {
		name = "podman"
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed: apt-get install -y podman runc (.ci/run installs it)", name)
	}
	image.once.Do(func() {
		if image.dir, image.err = os.MkdirTemp("", "deploy-action-image-"); image.err != nil {
			return
		}
		if image.engine, image.err = newEngine(bin, image.dir); image.err != nil {
			return
		}
		if ref := os.Getenv(imageVar); ref != "" {
			image.ref, image.version = ref, os.Getenv(imageVersionVar)
			return
		}
		image.ref, image.err = buildImage(context.Background(), image.engine, filepath.Join(image.dir, "context"))
		image.built, image.version = image.err == nil, testVersion
	})
	if image.err != nil {
		t.Fatal(image.err)
	}
	return image.engine, image.ref
}

// buildImage builds the static binary as the Dockerfile does and assembles an image FROM scratch with
// it and the host's CA bundle: no registry is reachable, so the Dockerfile's distroless base cannot be
// pulled, but the final stage holds nothing else that the binary uses.
func buildImage(ctx context.Context, e *engine, dir string) (string, error) {
	root, err := sandbox.FindRoot()
	if err != nil {
		return "", err
	}
	for _, d := range []string{"etc/ssl/certs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", err
		}
	}
	// The action writes its source tarball to the temporary directory; distroless has a world-
	// writable /tmp, and so must this image.
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "deploy-action")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", "-s -w -X github.com/pangeo-forge/deploy-action/internal/cli.Version="+testVersion,
		"-o", bin, "./cmd/deploy-action")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("failed to build the binary: %w\n%s", err, out)
	}
	if err := checkStatic(bin); err != nil {
		return "", err
	}
	bundle, err := caBundle()
	if err != nil {
		return "", err
	}
	if err := copyFile(bundle, filepath.Join(dir, "etc/ssl/certs/ca-certificates.crt")); err != nil {
		return "", err
	}
	containerfile := strings.Join([]string{
		"FROM scratch",
		"COPY etc /etc",
		"COPY tmp /tmp",
		"COPY deploy-action /deploy-action",
		`ENTRYPOINT ["/deploy-action"]`,
		"",
	}, "\n")
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(containerfile), 0o644); err != nil {
		return "", err
	}
	// A tag of its own, so that parallel test runs do not remove each other's image.
	ref := "localhost/deploy-action-containertest:" + strings.TrimPrefix(filepath.Base(filepath.Dir(dir)), "deploy-action-image-")
	if _, err := e.run(ctx, "build", "--quiet", "--tag", ref, "--file", filepath.Join(dir, "Containerfile"), dir); err != nil {
		return "", fmt.Errorf("failed to build the test image: %w", err)
	}
	return ref, nil
}

// checkStatic fails for a dynamically linked binary: FROM scratch (and distroless static) have no
// loader, and the container would die with a bare "no such file or directory".
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("failed to read the binary: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("the binary is dynamically linked: build it with CGO_ENABLED=0")
		}
	}
	return nil
}

func caBundle() (string, error) {
	candidates := caBundles
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		candidates = []string{f}
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("no CA bundle found in %s: install ca-certificates or set SSL_CERT_FILE", strings.Join(candidates, ", "))
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}

// containerEnv is the step's environment as the runner hands it to a container: host paths of the
// mounted directories rewritten to their mount points, HOME and the other file commands added. It
// fails when a value still names a host path of the step, which the container could not open.
func containerEnv(p *sandbox.Prepared) (map[string]string, error) {
	mounts := hostMounts(p)
	env := map[string]string{
		"HOME":         containerHome,
		"CI":           "true",
		"RUNNER_OS":    "Linux",
		"GITHUB_ENV":   containerFileCommands + "/set_env_sandbox",
		"GITHUB_PATH":  containerFileCommands + "/add_path_sandbox",
		"GITHUB_STATE": containerFileCommands + "/save_state_sandbox",
	}
	for _, f := range []string{"set_env_sandbox", "add_path_sandbox", "save_state_sandbox"} {
		if err := os.WriteFile(filepath.Join(p.FileCommandsDir, f), nil, 0o666); err != nil {
			return nil, err
		}
	}
	for k, v := range p.Env {
		for _, m := range mounts {
			if v == m[0] || strings.HasPrefix(v, m[0]+"/") {
				v = m[1] + strings.TrimPrefix(v, m[0])
				break
			}
		}
		env[k] = v
	}
	var leaked []string
	for k, v := range env {
		for _, m := range mounts {
			if strings.Contains(v, m[0]) {
				leaked = append(leaked, k)
			}
		}
	}
	if len(leaked) > 0 {
		sort.Strings(leaked)
		return nil, fmt.Errorf("%s still name host paths that the container cannot see", strings.Join(leaked, ", "))
	}
	return env, nil
}

// hostMounts are the runner's volumes: host directory, container directory.
func hostMounts(p *sandbox.Prepared) [][2]string {
	return [][2]string{
		{p.Workspace, containerWorkspace},
		{p.WorkflowDir, containerWorkflow},
		{p.FileCommandsDir, containerFileCommands},
		{p.HomeDir, containerHome},
	}
}

// runArgs are the arguments of `run` for a step, as the runner writes its `docker run`: the
// environment by name only (values come from the CLI's own environment, so no secret is on a command
// line), the four volumes, the workspace as working directory; and the host's network, where the test
// servers listen on loopback.
func runArgs(p *sandbox.Prepared, env map[string]string, ref string, extra ...string) []string {
	args := []string{"run", "--network", "host", "--workdir", containerWorkspace}
	args = append(args, extra...)
	for _, m := range hostMounts(p) {
		args = append(args, "--volume", m[0]+":"+m[1])
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		args = append(args, "--env", k)
	}
	return append(args, ref)
}

// runStep runs a prepared step in the image and returns what it produced, like sandbox.World.Run.
func runStep(ctx context.Context, e *engine, ref string, p *sandbox.Prepared, extra ...string) (*sandbox.Run, error) {
	env, err := containerEnv(p)
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd := e.command(ctx, env, runArgs(p, env, ref, extra...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := 0
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return nil, fmt.Errorf("failed to run %s: %w", e.bin, err)
		}
		code = exit.ExitCode()
		// The engine's own failures (125: the engine, 126/127: the entry point cannot be run) are
		// not the action's exit codes.
		if code >= 125 {
			return nil, fmt.Errorf("%s could not run the container (exit %d):\n%s", filepath.Base(e.bin), code, stderr.String())
		}
	}
	return p.Result(code, stdout.String(), stderr.String())
}
