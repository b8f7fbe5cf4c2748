package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/signet-project/signet/internal/testenv"
)

// server is a registry running as a process of its own, so that its CPU is
// not the harness's and it can be measured on its own.
type server struct {
	Kind string // "crane" or "distribution"
	Host string // 127.0.0.1:PORT
	cmd  *exec.Cmd
	done chan struct{}
	log  string // the registry's output, a file: a pipe would cost the harness CPU per request
}

// logTail returns the end of the registry's output.
func (s *server) logTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// cpu is the registry's CPU time so far.
func (s *server) cpu() time.Duration { return procCPU(s.cmd.Process.Pid) }

// Stop kills the registry; its content is gone with it (crane keeps
// everything in memory, distribution's directory is left for the work
// directory's cleanup).
func (s *server) Stop() {
	if s == nil || s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// startCrane starts go-containerregistry's in-memory registry (`crane
// registry serve`). It logs a line per request; that goes to a bounded
// buffer, as it would go to a log in production.
func startCrane(env *env) (*server, error) {
	return startServer(env, "crane", func(host string) *exec.Cmd {
		return exec.Command(env.tool("crane"), "registry", "serve", "--address", host)
	})
}

// startDistribution starts Debian's docker-registry (CNCF distribution 2.8)
// with filesystem storage in a new directory under the work directory: a
// fresh, empty registry.
func startDistribution(env *env) (*server, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry is not installed (apt-get install docker-registry): %w", err)
	}
	dir, err := os.MkdirTemp(env.work, "distribution-")
	if err != nil {
		return nil, err
	}
	return startServer(env, "distribution", func(host string) *exec.Cmd {
		config := filepath.Join(dir, "config.yml")
		if err := testenv.WriteDockerRegistryConfig(config, filepath.Join(dir, "data"), host); err != nil {
			panic(err) // the work directory is ours; failing here is a harness bug
		}
		return exec.Command(bin, "serve", config)
	})
}

func startServer(env *env, kind string, mk func(host string) *exec.Cmd) (*server, error) {
	var lastErr error
	// A free port may be taken between the probe and the bind.
	for range 3 {
		port, err := testenv.FreePort()
		if err != nil {
			return nil, err
		}
		s := &server{Kind: kind, Host: fmt.Sprintf("127.0.0.1:%d", port), done: make(chan struct{})}
		logf, err := os.CreateTemp(env.work, kind+"-*.log")
		if err != nil {
			return nil, err
		}
		s.log = logf.Name()
		s.cmd = mk(s.Host)
		s.cmd.Stdout, s.cmd.Stderr = logf, logf
		err = s.cmd.Start()
		logf.Close()
		if err != nil {
			return nil, fmt.Errorf("starting %s: %w", kind, err)
		}
		go func() { s.cmd.Wait(); close(s.done) }()
		if lastErr = testenv.WaitRegistry(s.Host, s.done); lastErr == nil {
			return s, nil
		}
		s.Stop()
		lastErr = fmt.Errorf("%s on %s: %w\n%s", kind, s.Host, lastErr, indent(s.logTail()))
	}
	return nil, lastErr
}
