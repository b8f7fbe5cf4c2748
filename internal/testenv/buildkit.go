package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildkitdStartTimeout bounds waiting for a fresh buildkitd to list its
// worker. It answers within a few seconds; the margin is for a 2-core
// machine that is compiling at the same time.
const buildkitdStartTimeout = 90 * time.Second

// buildkitdStopTimeout is how long buildkitd gets to shut down after
// SIGTERM (it unmounts and releases its bolt databases) before SIGKILL.
const buildkitdStopTimeout = 15 * time.Second

// BuildkitDaemon is a buildkitd running for one test: the OCI worker with runc
// and the native snapshotter, its state in a temporary directory, listening
// on a unix socket in that directory.
type BuildkitDaemon struct {
	// Addr is the daemon's address as BuildKit clients take it,
	// "unix:///…/buildkitd.sock".
	Addr string
	// Root is the daemon's state directory, which also holds its config
	// and log.
	Root string
	// Buildctl is the path of the cached buildctl of the same version.
	Buildctl string

	log string
}

// Buildkitd starts the cached buildkitd (tools/install.sh builds it) as
// root with the OCI worker (runc, native snapshotter) and no containerd
// worker, and stops it when the test ends. Each of registries
// ("127.0.0.1:PORT") is configured for plain HTTP, so builds pull frontend
// images from and push results to loopback registries; nothing else is
// configured, and tests must use FROM scratch or images on those registries,
// since the daemon never needs the internet then.
//
// Missing parts (not root, no runc, no cached buildkitd/buildctl) end the
// test through Missing.
func Buildkitd(t testing.TB, registries ...string) *BuildkitDaemon {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "root (buildkitd's OCI worker runs runc as root)", "run the buildkit tests as root")
	}
	LookPath(t, "runc", "apt-get install runc")
	bin := Tool(t, "buildkitd")
	ctl := Tool(t, "buildctl")

	// A unix socket path is limited to 108 bytes, which t.TempDir under a
	// long test name can exceed; a short directory of our own avoids that.
	dir, err := os.MkdirTemp("", "bkd")
	if err != nil {
		t.Fatalf("making a buildkitd directory: %v", err)
	}
	b := &BuildkitDaemon{
		Addr:     "unix://" + filepath.Join(dir, "buildkitd.sock"),
		Root:     dir,
		Buildctl: ctl,
		log:      filepath.Join(dir, "buildkitd.log"),
	}
	config := filepath.Join(dir, "buildkitd.toml")
	if err := os.WriteFile(config, []byte(buildkitdConfig(registries)), 0o600); err != nil {
		t.Fatalf("writing %s: %v", config, err)
	}
	logFile, err := os.Create(b.log)
	if err != nil {
		t.Fatalf("creating %s: %v", b.log, err)
	}
	cmd := exec.Command(bin,
		"--root", filepath.Join(dir, "state"),
		"--addr", b.Addr,
		"--oci-worker=true",
		"--containerd-worker=false",
		"--oci-worker-snapshotter=native",
		"--config", config,
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		os.RemoveAll(dir)
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(buildkitdStopTimeout):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("buildkitd log (last lines):\n%s", b.LogTail(40))
		}
		os.RemoveAll(dir)
	})
	if err := b.waitReady(exited); err != nil {
		t.Fatalf("starting buildkitd: %v\nlog:\n%s", err, b.LogTail(40))
	}
	return b
}

// buildkitdConfig is a buildkitd.toml reaching each registry over plain
// HTTP.
func buildkitdConfig(registries []string) string {
	var sb strings.Builder
	for _, r := range registries {
		fmt.Fprintf(&sb, "[registry.%q]\n  http = true\n  insecure = true\n\n", r)
	}
	return sb.String()
}

// waitReady polls `buildctl debug workers` until the daemon lists a
// worker, the daemon exits, or buildkitdStartTimeout passes.
func (b *BuildkitDaemon) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(buildkitdStartTimeout)
	sock := strings.TrimPrefix(b.Addr, "unix://")
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("buildkitd exited before answering")
		default:
		}
		if _, err := os.Stat(sock); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			out, err := exec.CommandContext(ctx, b.Buildctl, "--addr", b.Addr, "debug", "workers").CombinedOutput()
			cancel()
			if err == nil && strings.Count(strings.TrimSpace(string(out)), "\n") >= 1 {
				return nil
			}
			last = strings.TrimSpace(string(out))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("no worker listed on %s within %s (last answer: %q)", b.Addr, buildkitdStartTimeout, last)
}

// BuildctlCmd returns a buildctl command talking to this daemon, run in dir.
func (b *BuildkitDaemon) BuildctlCmd(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, b.Buildctl, append([]string{"--addr", b.Addr}, args...)...)
	cmd.Dir = dir
	return cmd
}

// LogTail returns the last n lines of the daemon's log.
func (b *BuildkitDaemon) LogTail(n int) string {
	data, err := os.ReadFile(b.log)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", b.log, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
