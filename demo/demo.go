// Package demo runs signet end to end on an embedded default, with nothing
// installed beyond Go: go-containerregistry's registry in process on
// 127.0.0.1, a sample catalog of multi-arch images pushed to it, an
// ephemeral key (a throwaway SoftHSM token when softhsm2 is installed, an
// in-memory file key otherwise), then the same batch signing and
// verification a release would run, and a report.
package demo

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/signet-project/signet/hsm"
)

// Env is what the demo set up: a registry, a catalog file, a key.
type Env struct {
	// Host is the embedded registry's host:port.
	Host string
	// Catalog is the path of the sample catalog.
	Catalog string
	// Key is the signing key reference (no PIN in it: the PIN is in a file
	// the URI points at).
	Key string
	// KeyKind says what Key is, for the summary.
	KeyKind string
	// Images are the pushed images.
	Images []Image
	// Dir holds the demo's files.
	Dir string

	close func()
}

// Close stops the registry and removes the demo's files.
func (e *Env) Close() { e.close() }

// Setup starts the registry, pushes the sample catalog and makes a key.
func Setup(ctx context.Context) (*Env, error) {
	dir, err := os.MkdirTemp("", "signet-demo-")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting the embedded registry: %w", err)
	}
	srv := &http.Server{
		Handler:           ggcrregistry.New(ggcrregistry.WithReferrersSupport(true), ggcrregistry.Logger(log.New(io.Discard, "", 0))),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go srv.Serve(l)
	env := &Env{Host: l.Addr().String(), Dir: dir, Images: Catalog()}
	env.close = func() {
		srv.Close()
		os.RemoveAll(dir)
	}

	var catalog strings.Builder
	catalog.WriteString("# signet demo catalog: tags, a digest, a duplicate tag and a repository glob\n")
	for i, img := range env.Images {
		d, _, err := Push(ctx, env.Host, img)
		if err != nil {
			env.Close()
			return nil, err
		}
		switch {
		case img.Repo == "demo/api":
			// Covered by the repository glob below.
		case i == 0:
			fmt.Fprintf(&catalog, "%s/%s@%s\n", env.Host, img.Repo, d)
		default:
			fmt.Fprintf(&catalog, "%s/%s:%s\n", env.Host, img.Repo, img.Tag)
		}
	}
	// A second tag on web:1.1: planned once, signed once.
	if err := retag(ctx, env.Host+"/demo/web:1.1", "latest"); err != nil {
		env.Close()
		return nil, err
	}
	fmt.Fprintf(&catalog, "%s/demo/web:latest\n", env.Host)
	yaml := "images:\n"
	for _, line := range strings.Split(strings.TrimSpace(catalog.String()), "\n") {
		if !strings.HasPrefix(line, "#") {
			yaml += "  - " + line + "\n"
		}
	}
	yaml += fmt.Sprintf("  - repository: %s/demo/api\n    tags: [\"2.*\"]\n", env.Host)
	env.Catalog = filepath.Join(dir, "catalog.yaml")
	if err := os.WriteFile(env.Catalog, []byte(yaml), 0o644); err != nil {
		env.Close()
		return nil, err
	}

	if env.Key, env.KeyKind, err = makeKey(ctx, dir); err != nil {
		env.Close()
		return nil, err
	}
	return env, nil
}

func retag(ctx context.Context, src, tag string) error {
	ref, err := name.ParseReference(src)
	if err != nil {
		return err
	}
	desc, err := remote.Get(ref, remote.WithContext(ctx))
	if err != nil {
		return err
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return err
	}
	return remote.WriteIndex(ref.Context().Tag(tag), idx, remote.WithContext(ctx))
}

// softhsmModules are where Debian and others install SoftHSM2's module.
var softhsmModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// makeKey generates the demo's key inside a throwaway SoftHSM token when
// SoftHSM is installed, so the demo shows the real path (the key never
// leaves the token), and falls back to an in-memory key written to a file
// otherwise.
func makeKey(ctx context.Context, dir string) (ref, kind string, err error) {
	module := ""
	for _, m := range softhsmModules {
		if _, err := os.Stat(m); err == nil {
			module = m
			break
		}
	}
	why := "softhsm2 is not installed"
	if module != "" {
		ref, err := softhsmKey(ctx, dir, module)
		if err == nil {
			return ref, "ECDSA P-256 key generated inside a throwaway SoftHSM2 token (" + module + ")", nil
		}
		why = err.Error()
	}
	path, err := fileKey(dir)
	if err != nil {
		return "", "", err
	}
	return path, "ephemeral ECDSA P-256 key file, because " + why, nil
}

// fileKey writes a fresh, unencrypted P-256 key to dir/demo.key.
func fileKey(dir string) (string, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "demo.key")
	return path, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

func softhsmKey(ctx context.Context, dir, module string) (string, error) {
	tokens := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return "", err
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		return "", err
	}
	// SoftHSM reads its configuration when the module is initialised, which
	// happens below, in this process.
	os.Setenv("SOFTHSM2_CONF", conf)
	pin, so := randomPIN(), randomPIN()
	pinFile := filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, pin, 0o600); err != nil {
		return "", err
	}
	if err := hsm.InitToken(ctx, module, "signet-demo", so, pin); err != nil {
		return "", err
	}
	ref := "pkcs11:token=signet-demo;object=demo-key?module-path=" + module + "&pin-source=file:" + pinFile
	k, err := hsm.Generate(ctx, ref, hsm.AlgECDSAP256)
	if err != nil {
		return "", err
	}
	return ref, k.Close()
}

func randomPIN() []byte {
	b := make([]byte, 8)
	rand.Read(b)
	return []byte(hex.EncodeToString(b))
}
