package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestBuildkitd starts buildkitd with a loopback registry configured,
// builds a FROM scratch image with buildctl and pushes it there, which
// checks the worker, the snapshotter and the registry configuration.
func TestBuildkitd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts buildkitd")
	}
	reg := DockerRegistry(t)
	bk := Buildkitd(t, reg.Host)
	if !strings.HasPrefix(bk.Addr, "unix://") {
		t.Fatalf("Addr = %q; want a unix:// address", bk.Addr)
	}
	toml, err := os.ReadFile(filepath.Join(bk.Root, "buildkitd.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `[registry."` + reg.Host + `"]`; !strings.Contains(string(toml), want) {
		t.Fatalf("buildkitd.toml = %q; want a %s section", toml, want)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY hello /hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hello"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := bk.BuildctlCmd(ctx, dir, "build", "--frontend", "dockerfile.v0",
		"--local", "context=.", "--local", "dockerfile=.",
		"--output", "type=image,name="+reg.Host+"/testenv/hello:v1,push=true").CombinedOutput()
	if err != nil {
		t.Fatalf("buildctl build: %v\n%s", err, out)
	}
	if _, err := remote.Head(seedRef(t, reg.Host, "testenv/hello", "v1"), remote.WithContext(ctx)); err != nil {
		t.Fatalf("the pushed image is not on the registry: %v", err)
	}
}
