package solve_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/crypto/ssh"

	"github.com/signet-project/signet/attest"
	"github.com/signet-project/signet/buildkit/solve"
	"github.com/signet-project/signet/internal/testenv"
)

const (
	regUser = "builder"
	regPass = "pa55word-not-a-secret-mount"
)

// authRegistry serves go-containerregistry's in-memory registry on
// loopback behind HTTP basic auth, as a registry needing `docker login`
// does. It counts the requests it turned away.
func authRegistry(t *testing.T) (host string, refused *atomic.Int64) {
	t.Helper()
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	refused = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != regUser || p != regPass {
			refused.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="signet-test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), refused
}

// dockerConfig writes a docker config dir holding creds for host (none when
// user is empty) and points DOCKER_CONFIG at it.
func dockerConfig(t *testing.T, host, user, pass string) {
	t.Helper()
	dir := t.TempDir()
	cfg := `{"auths":{}}`
	if user != "" {
		cfg = `{"auths":{"` + host + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)) + `"}}}`
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
}

// pushHelperBase compiles testdata/bkhelper statically for the machine's
// platform and pushes a FROM-scratch image holding it at /helper to ref,
// with the registry's credentials.
func pushHelperBase(t *testing.T, ref string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "helper")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./testdata/bkhelper")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the helper: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "helper", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(data)
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	// The config keeps the layer's diff ID; BuildKit needs the platform.
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithAuth(&authn.Basic{Username: regUser, Password: regPass})); err != nil {
		t.Fatalf("pushing the helper base image: %v", err)
	}
}

// files returns the regular files of img's layers by path.
func files(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out[strings.TrimPrefix(h.Name, "/")] = string(b)
		}
	}
}

// TestBuildSession builds against a real buildkitd with a base image and a
// push target on a registry that needs a login, a secret and an SSH key:
// buildkitd gets the credentials of the docker config, the secret and the
// agent through the client's session, and the secret's value shows up
// nowhere but in the RUN step that mounts it.
func TestBuildSession(t *testing.T) {
	if testing.Short() {
		t.Skip("starts buildkitd and compiles a helper")
	}
	host, refused := authRegistry(t)
	bk := testenv.Buildkitd(t, host)
	pushHelperBase(t, host+"/base/helper:v1")

	secret := "s3cr3t-" + hex.EncodeToString(func() []byte { b := make([]byte, 12); rand.Read(b); return b }())
	t.Setenv("SIGNET_TEST_BUILD_SECRET", secret)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "deploy_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}

	ctxDir := filepath.Join(dir, "context")
	if err := os.MkdirAll(ctxDir, 0o755); err != nil {
		t.Fatal(err)
	}
	dockerfile := "FROM " + host + "/base/helper:v1\n" +
		`RUN --mount=type=secret,id=token,required=true ["/helper", "secret", "/run/secrets/token", "/secret.sha256"]` + "\n" +
		`RUN --mount=type=ssh,id=deploy,required=true ["/helper", "ssh", "/ssh.keys"]` + "\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	sec, err := solve.ParseSecret("id=token,env=SIGNET_TEST_BUILD_SECRET")
	if err != nil {
		t.Fatal(err)
	}
	agent, err := solve.ParseSSH("deploy=" + keyFile)
	if err != nil {
		t.Fatal(err)
	}
	tag := host + "/team/app:v1"
	build := func(progress io.Writer) (*solve.Result, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		return solve.Build(ctx, solve.Request{
			Addr: bk.Addr, Context: ctxDir, Tags: []string{tag}, Insecure: true,
			Secrets: []solve.Secret{sec}, SSH: []solve.SSH{agent},
			Progress: progress, ProgressMode: "plain",
		})
	}

	// Without credentials buildkitd is turned away: the session is what
	// carries them.
	dockerConfig(t, host, "", "")
	var anon bytes.Buffer
	if _, err := build(&anon); err == nil {
		t.Fatalf("a build pulling from a registry that needs a login succeeded without credentials:\n%s", anon.String())
	} else if !strings.Contains(err.Error(), "401") && !strings.Contains(strings.ToLower(err.Error()), "unauthorized") {
		t.Errorf("the anonymous build failed for another reason than the login: %v", err)
	} else {
		t.Logf("without credentials: %v", err)
	}

	dockerConfig(t, host, regUser, regPass)
	before := refused.Load()
	var progress bytes.Buffer
	res, err := build(&progress)
	if err != nil {
		t.Fatalf("build: %v\nprogress:\n%s\nbuildkitd:\n%s", err, progress.String(), bk.LogTail(30))
	}
	if strings.Contains(progress.String(), secret) || strings.Contains(progress.String(), regPass) {
		t.Errorf("the progress display shows the secret or the registry password:\n%s", progress.String())
	}
	t.Logf("pushed %s@%s; the registry turned away %d unauthenticated requests before buildkitd logged in", tag, res.Digest, refused.Load()-before)

	opt := remote.WithAuth(&authn.Basic{Username: regUser, Password: regPass})
	r, err := name.ParseReference(tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r, opt)
	if err != nil {
		t.Fatalf("reading the pushed index: %v", err)
	}
	if d, _ := idx.Digest(); d != res.Digest {
		t.Errorf("the tag names %s; the exporter reported %s", d, res.Digest)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var checked int
	for _, m := range im.Manifests {
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if m.Annotations[attest.ReferenceTypeAnnotation] == attest.AttestationManifestType {
			// BuildKit's provenance records the build's secrets by id;
			// their values must not be there.
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range layers {
				rc, err := l.Uncompressed()
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte(regPass)) {
					t.Errorf("attestation manifest %s holds the secret or the registry password", m.Digest)
				}
			}
			continue
		}
		got := files(t, img)
		for p, content := range got {
			if strings.Contains(content, secret) {
				t.Errorf("%s (%s) holds the secret's value", p, m.Digest)
			}
		}
		checked++
		sum := sha256.Sum256([]byte(secret))
		if want := hex.EncodeToString(sum[:]) + "\n"; got["secret.sha256"] != want {
			t.Errorf("the RUN step saw a secret with SHA-256 %q; want %q, the variable's", got["secret.sha256"], want)
		}
		if want := string(ssh.MarshalAuthorizedKey(sshPub)); got["ssh.keys"] != want {
			t.Errorf("the RUN step's SSH agent offered %q; want the key file's %q", got["ssh.keys"], want)
		}
	}
	if checked != 1 {
		t.Errorf("the index lists %d images; want 1", checked)
	}
}
