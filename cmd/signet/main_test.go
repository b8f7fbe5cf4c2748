package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/signet-project/signet/cli"
	"github.com/signet-project/signet/internal/testenv"
)

// runMainEnv makes the test binary run main instead of the tests: the
// signal handling under test is main's own, so it needs a process of its
// own, and this spares building one.
const runMainEnv = "SIGNET_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// TestSecondSignal signs against a registry that never answers a push, so
// the first signal leaves an item in flight for the whole grace period. A
// second signal must end the process at once; a single one must still stop
// it gracefully, by exiting rather than being killed.
func TestSecondSignal(t *testing.T) {
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	var block atomic.Bool
	var blocked atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if block.Load() && (r.Method == http.MethodPost || r.Method == http.MethodPut) {
			blocked.Add(1)
			// The server notices a client gone only once the body is read.
			io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer close(release)
	host := strings.TrimPrefix(srv.URL, "http://")
	testenv.SeedSingle(t, host, "app", "v1")
	block.Store(true)
	key := filepath.Join(t.TempDir(), "k.pem")
	var out bytes.Buffer
	if code := cli.Main(context.Background(), []string{"keys", "generate", "--key-file", key}, &out, &out); code != 0 {
		t.Fatalf("keys generate: exit %d\n%s", code, out.String())
	}

	tests := []struct {
		name    string
		signals []syscall.Signal
		gap     time.Duration // between signals
		grace   string
		killed  bool // by the last signal, rather than exiting
	}{
		{"SIGINT twice", []syscall.Signal{syscall.SIGINT, syscall.SIGINT}, 500 * time.Millisecond, "60s", true},
		{"SIGTERM twice", []syscall.Signal{syscall.SIGTERM, syscall.SIGTERM}, 500 * time.Millisecond, "60s", true},
		{"SIGINT then SIGTERM", []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}, 500 * time.Millisecond, "60s", true},
		// The second signal arrives while the first is being handled: it
		// must not be lost on the way from one handler to the next. Only
		// different signals go back to back: the kernel merges a signal
		// with one of its kind still pending, and the process would see
		// one. Signals handled on two threads at once may reach signet in
		// either order, so either may be the one it dies of.
		{"SIGINT then SIGTERM, back to back", []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}, 0, "60s", true},
		{"one SIGINT", []syscall.Signal{syscall.SIGINT}, 0, "1s", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "sign", "--key", key, "--grace", tt.grace, "--retries", "0", host+"/app:v1")
			cmd.Env = append(os.Environ(), runMainEnv+"=1")
			var errOut bytes.Buffer
			cmd.Stderr = &errOut
			was := blocked.Load()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			defer func() {
				cmd.Process.Kill()
				<-done
			}()
			for deadline := time.Now().Add(30 * time.Second); blocked.Load() == was; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("signing never reached the registry\n%s", errOut.String())
				}
			}

			for i, sig := range tt.signals {
				if i > 0 && tt.gap > 0 {
					// The graceful stop keeps it running meanwhile.
					select {
					case err := <-done:
						done <- err
						t.Fatalf("exited (%v) before signal %d: the item in flight had --grace %s", err, i+1, tt.grace)
					case <-time.After(tt.gap):
					}
				}
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
			}
			last := tt.signals[len(tt.signals)-1]
			var err error
			select {
			case err = <-done:
				done <- err
			case <-time.After(10 * time.Second):
				t.Fatalf("still running 10s after %v (signals %v, --grace %s)\n%s", last, tt.signals, tt.grace, errOut.String())
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("exit: %v; want a failed run", err)
			}
			ws := ee.Sys().(syscall.WaitStatus)
			killers := []syscall.Signal{last}
			if tt.gap == 0 {
				killers = tt.signals
			}
			switch {
			case tt.killed && (!ws.Signaled() || !slices.Contains(killers, ws.Signal())):
				t.Errorf("exit %v; want killed by one of %v", err, killers)
			case !tt.killed && ws.Signaled():
				t.Errorf("killed by %v; want a graceful exit\n%s", ws.Signal(), errOut.String())
			}
		})
	}
}
