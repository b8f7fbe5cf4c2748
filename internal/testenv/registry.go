package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// startTimeout bounds waiting for a registry to answer GET /v2/. Debian's
// docker-registry answers in well under a second; the margin is for a
// loaded 2-core machine.
const startTimeout = 20 * time.Second

// Registry is a registry running on loopback for one test. Host is
// "127.0.0.1:PORT", the same across Stop and Start, and so is the content.
type Registry struct {
	Host string

	t     testing.TB
	start func() error
	stop  func()

	mu      sync.Mutex
	running bool
}

// URL returns the registry's base URL, "http://127.0.0.1:PORT".
func (r *Registry) URL() string { return "http://" + r.Host }

// Stop stops the registry abruptly (docker-registry gets SIGKILL), as a
// crash would; clients see refused or reset connections. Start then repairs
// what the crash left half-written (see RepairCrashedStorage). It is safe to
// call from any goroutine and when already stopped.
func (r *Registry) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		r.stop()
		r.running = false
	}
}

// Start starts a stopped registry again on the same port with the same
// content, and waits until it answers. It is safe to call from any
// goroutine: a failure is reported with t.Errorf and returned.
func (r *Registry) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return nil
	}
	if err := r.start(); err != nil {
		r.t.Errorf("restarting registry %s: %v", r.Host, err)
		return err
	}
	r.running = true
	return nil
}

// DockerRegistry starts Debian's docker-registry (CNCF distribution 2.8, no
// referrers API) on a free loopback port with filesystem storage in a
// temporary directory and deletes enabled, and stops it when the test ends.
func DockerRegistry(t testing.TB) *Registry {
	t.Helper()
	bin, lookErr := exec.LookPath("docker-registry")
	if lookErr != nil {
		bin = "/usr/bin/docker-registry"
		if _, err := os.Stat(bin); err != nil {
			Missing(t, "docker-registry", "apt-get install docker-registry")
		}
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yml")
	var (
		cmd    *exec.Cmd
		exited chan struct{}
		output *lockedBuffer
	)
	r := &Registry{t: t}
	data := filepath.Join(dir, "data")
	r.start = func() error {
		removed, err := RepairCrashedStorage(data)
		if err != nil {
			return err
		}
		for _, p := range removed {
			t.Logf("docker-registry %s: removed %s, left half-written by the crash", r.Host, p)
		}
		output = &lockedBuffer{}
		cmd = exec.Command(bin, "serve", config)
		cmd.Stdout, cmd.Stderr = output, output
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("starting %s: %w", bin, err)
		}
		exited = make(chan struct{})
		go func(c *exec.Cmd, done chan struct{}) {
			c.Wait()
			close(done)
		}(cmd, exited)
		if err := WaitRegistry(r.Host, exited); err != nil {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("%w; docker-registry said: %s", err, strings.TrimSpace(output.String()))
		}
		return nil
	}
	r.stop = func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
	// The port is free when picked but may be taken before the registry
	// binds it; another port is then tried.
	var err error
	for try := 0; try < 3; try++ {
		var port int
		if port, err = FreePort(); err != nil {
			t.Fatalf("finding a free port for docker-registry: %v", err)
		}
		r.Host = fmt.Sprintf("127.0.0.1:%d", port)
		if err := WriteDockerRegistryConfig(config, data, r.Host); err != nil {
			t.Fatalf("writing docker-registry config: %v", err)
		}
		if err = r.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("starting docker-registry: %v", err)
	}
	r.running = true
	t.Cleanup(r.Stop)
	return r
}

// RepairCrashedStorage removes from a docker-registry filesystem store
// under root what a crash can leave half-written, and returns the paths it
// removed, relative to root. Distribution 2.8 writes link files and small
// blobs (manifests) in place: it truncates, then writes. A SIGKILL between
// the two leaves an empty tag or revision link, which the registry answers
// with 500 on every later read, or a blob whose content no longer matches its
// digest. No client can repair that through the API, so the harness does
// what a crash-safe store would give: an entry is either whole or absent.
// A missing root is an empty store.
func RepairCrashedStorage(root string) ([]string, error) {
	var removed []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == root {
			return fs.SkipAll
		}
		if err != nil || d.IsDir() {
			return err
		}
		var whole bool
		switch d.Name() {
		case "link":
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			_, err = v1.NewHash(string(b))
			whole = err == nil
		case "data":
			// A blob's directory is its digest's hex; an upload's "data"
			// (under _uploads) is partial by nature and left alone.
			if filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(path)))) != "sha256" {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			whole = hex.EncodeToString(sum[:]) == filepath.Base(filepath.Dir(path))
		default:
			return nil
		}
		if whole {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		removed = append(removed, rel)
		return os.Remove(path)
	})
	if err != nil {
		return removed, fmt.Errorf("repairing registry storage after a crash: %w", err)
	}
	return removed, nil
}

// WriteDockerRegistryConfig writes a docker-registry config serving storage
// on addr, with logging kept to errors: the access log would print a line
// per request (of every test, or of every benchmark run).
func WriteDockerRegistryConfig(path, storage, addr string) error {
	yml := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
`, storage, addr)
	return os.WriteFile(path, []byte(yml), 0o600)
}

// MemRegistry serves go-containerregistry's in-memory registry on a loopback
// port, with or without the OCI referrers API, until the test ends. It
// indexes referrers but never answers a manifest PUT with OCI-Subject.
func MemRegistry(t testing.TB, referrers bool) *Registry {
	t.Helper()
	handler := ggcrregistry.New(
		ggcrregistry.WithReferrersSupport(referrers),
		ggcrregistry.Logger(log.New(io.Discard, "", 0)),
	)
	return serveHandler(t, handler)
}

// serveHandler serves h on a loopback port as a restartable Registry: the
// handler, and so the content, outlives Stop.
func serveHandler(t testing.TB, h http.Handler) *Registry {
	t.Helper()
	srv := httptest.NewServer(h)
	addr := srv.Listener.Addr().String()
	r := &Registry{Host: addr, t: t, running: true}
	r.stop = func() {
		srv.CloseClientConnections()
		srv.Close()
	}
	r.start = func() error {
		var l net.Listener
		var err error
		// The old socket may linger for a moment after Close.
		for deadline := time.Now().Add(startTimeout); ; {
			if l, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("listening on %s again: %w", addr, err)
		}
		srv = httptest.NewUnstartedServer(h)
		srv.Listener.Close()
		srv.Listener = l
		srv.Start()
		return nil
	}
	t.Cleanup(r.Stop)
	return r
}

// WaitRegistry polls GET /v2/ on host until it answers 200, the registry
// process exits (exited closes), or startTimeout passes. The benchmark
// harness starts its registries with it too.
func WaitRegistry(host string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("the registry exited before answering")
		default:
		}
		resp, err := client.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /v2/ answered %s", resp.Status)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no answer on %s within %s: %v", host, startTimeout, last)
}

// FreePort returns a loopback TCP port that was free a moment ago, for a
// registry process that takes its address from a configuration file.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer collects a child process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Keep the start of the output: it holds the reason a start failed.
	if b.buf.Len() < 64<<10 {
		b.buf.Write(p)
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// SeedImage pushes a small random multi-platform OCI image index to
// host/repo:tag, one image of one tiny random layer per platform ("os/arch"
// or "os/arch/variant"; default linux/amd64 and linux/arm64). It returns the
// index digest and each platform's image digest.
func SeedImage(t testing.TB, host, repo, tag string, platforms []string) (indexDigest string, children map[string]string) {
	t.Helper()
	if len(platforms) == 0 {
		platforms = []string{"linux/amd64", "linux/arm64"}
	}
	ref := seedRef(t, host, repo, tag)
	var idx v1.ImageIndex = empty.Index
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	children = map[string]string{}
	for _, p := range platforms {
		plat, err := v1.ParsePlatform(p)
		if err != nil {
			t.Fatalf("SeedImage: platform %q: %v", p, err)
		}
		img := randomImage(t, plat)
		d, err := img.Digest()
		if err != nil {
			t.Fatalf("SeedImage: digest of the %s image: %v", p, err)
		}
		children[p] = d.String()
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: plat},
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx)); err != nil {
		t.Fatalf("SeedImage: pushing %s: %v", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatalf("SeedImage: digest of the index: %v", err)
	}
	return d.String(), children
}

// SeedSingle pushes a small random single-platform (linux/amd64) OCI image
// to host/repo:tag and returns its digest.
func SeedSingle(t testing.TB, host, repo, tag string) string {
	t.Helper()
	ref := seedRef(t, host, repo, tag)
	img := randomImage(t, &v1.Platform{OS: "linux", Architecture: "amd64"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		t.Fatalf("SeedSingle: pushing %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatalf("SeedSingle: digest: %v", err)
	}
	return d.String()
}

func seedRef(t testing.TB, host, repo, tag string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatalf("parsing %s/%s:%s: %v", host, repo, tag, err)
	}
	return ref
}

// randomImage is an OCI image with one random 64-byte layer and a config
// naming plat.
func randomImage(t testing.TB, plat *v1.Platform) v1.Image {
	t.Helper()
	layer, err := random.Layer(64, types.OCILayer)
	if err != nil {
		t.Fatalf("making a random layer: %v", err)
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		OS:           plat.OS,
		Architecture: plat.Architecture,
		Variant:      plat.Variant,
		RootFS:       v1.RootFS{Type: "layers"},
	})
	if err != nil {
		t.Fatalf("setting the image config: %v", err)
	}
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		t.Fatalf("appending the layer: %v", err)
	}
	return img
}
