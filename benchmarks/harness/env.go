package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/signet-project/signet/registry"
)

// env is everything the runs share: the work directory, the tools, the
// signet binary built once, and the keys.
type env struct {
	root  string // the module's directory
	work  string
	cache string // tools/install.sh's cache ($SIGNET_CACHE)
	reg   *registry.Client

	signet        string // built binary
	verifyCatalog bool   // signet verify takes --catalog

	// SoftHSM token holding signet's P-256 key.
	softhsmConf string
	module      string
	pinFile     string
	keyURI      string
	pubPEM      string // signet's public key

	cosignKey, cosignPub string // cosign's own key pair (P-256)
	cosignHome           string

	notationConfig string // XDG_CONFIG_HOME with signingkeys.json, trust store and policy
	notationCache  string
}

func (e *env) tool(name string) string { return filepath.Join(e.cache, "bin", name) }

// missingTools lists the cached tools that are not there.
func (e *env) missingTools(names ...string) []string {
	var out []string
	for _, n := range names {
		if st, err := os.Stat(e.tool(n)); err != nil || st.Mode()&0o111 == 0 {
			out = append(out, n)
		}
	}
	return out
}

func newEnv(ctx context.Context, work string) (*env, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	e := &env{root: root, work: work, cache: os.Getenv("SIGNET_CACHE")}
	if e.cache == "" {
		home, _ := os.UserHomeDir()
		e.cache = filepath.Join(home, ".cache", "signet")
	}
	if e.reg, err = registry.New(registry.WithUserAgent("signet-bench")); err != nil {
		return nil, err
	}
	return e, nil
}

// moduleRoot finds the directory of signet's go.mod from the working
// directory (make runs the harness from the repository's root).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/signet-project/signet\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("run the harness inside the signet module (no go.mod above %s)", dir)
		}
	}
}

// buildSignet builds cmd/signet once, as `make build` does.
func (e *env) buildSignet(ctx context.Context) error {
	e.signet = filepath.Join(e.work, "signet")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", e.signet, "./cmd/signet")
	cmd.Dir = e.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/signet: %w\n%s", err, indent(string(out)))
	}
	help, _ := exec.CommandContext(ctx, e.signet, "verify", "--help").CombinedOutput()
	e.verifyCatalog = strings.Contains(string(help), "--catalog")
	return nil
}

var softHSMModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
}

// makeToken makes a SoftHSM token of the harness's own and a P-256 key in
// it with signet's own `keys generate`, and exports the public key.
func (e *env) makeToken(ctx context.Context) error {
	for _, m := range softHSMModules {
		if _, err := os.Stat(m); err == nil {
			e.module = m
			break
		}
	}
	if e.module == "" {
		return errors.New("libsofthsm2.so not found (apt-get install softhsm2)")
	}
	dir := filepath.Join(e.work, "softhsm")
	if err := os.MkdirAll(filepath.Join(dir, "tokens"), 0o700); err != nil {
		return err
	}
	e.softhsmConf = filepath.Join(dir, "softhsm2.conf")
	conf := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", filepath.Join(dir, "tokens"))
	if err := os.WriteFile(e.softhsmConf, []byte(conf), 0o600); err != nil {
		return err
	}
	const pin = "bench-pin" // a throwaway token's PIN, passed by file below
	e.pinFile = filepath.Join(dir, "user.pin")
	if err := os.WriteFile(e.pinFile, []byte(pin+"\n"), 0o600); err != nil {
		return err
	}
	// softhsm2-util reads PINs from its arguments or a terminal only.
	if _, _, err := run(ctx, job{Args: []string{"softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", pin, "--so-pin", "bench-so"},
		Env: []string{"SOFTHSM2_CONF=" + e.softhsmConf}}); err != nil {
		return err
	}
	e.keyURI = e.uriFor(e.module)
	if _, _, err := run(ctx, job{Args: []string{e.signet, "keys", "generate", "--key", e.keyURI}, Env: e.signetEnv()}); err != nil {
		return err
	}
	_, out, err := run(ctx, job{Args: []string{e.signet, "keys", "public", "--key", e.keyURI}, Env: e.signetEnv()})
	if err != nil {
		return err
	}
	e.pubPEM = filepath.Join(e.work, "signet.pub")
	return os.WriteFile(e.pubPEM, []byte(out+"\n"), 0o644)
}

// uriFor is the key's pkcs11 URI through module (SoftHSM, or the slow
// wrapper around it).
func (e *env) uriFor(module string) string {
	return "pkcs11:token=bench;object=signer?module-path=" + url.PathEscape(module) + "&pin-source=file:" + url.PathEscape(e.pinFile)
}

func (e *env) signetEnv() []string {
	return append([]string{"SOFTHSM2_CONF=" + e.softhsmConf, "NO_COLOR=1"}, extraSignetEnv...)
}

// extraSignetEnv is the -signet-env flag: variables added to every signet
// run, for experiments with the runtime's settings.
var extraSignetEnv []string

// makeCosignKey has cosign make its own P-256 key pair (unencrypted: an
// empty COSIGN_PASSWORD).
func (e *env) makeCosignKey(ctx context.Context) error {
	dir := filepath.Join(e.work, "cosign")
	e.cosignHome = filepath.Join(dir, "home")
	if err := os.MkdirAll(e.cosignHome, 0o700); err != nil {
		return err
	}
	if _, _, err := run(ctx, job{Args: []string{e.tool("cosign-v2"), "generate-key-pair"}, Dir: dir, Env: e.cosignEnv()}); err != nil {
		return err
	}
	e.cosignKey, e.cosignPub = filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	return nil
}

// cosignEnv keeps cosign's TUF cache and config in the work directory and
// off the network.
func (e *env) cosignEnv() []string {
	return []string{"HOME=" + e.cosignHome, "TUF_ROOT=" + filepath.Join(e.cosignHome, "tuf"), "COSIGN_PASSWORD=", "SIGSTORE_NO_CACHE=true"}
}

// makeNotationKey writes notation's configuration by hand: an unencrypted
// PKCS#8 P-256 key with a leaf certificate under a root of ours
// (signingkeys.json), the root in a trust store, and a strict trust policy
// trusting it for every registry.
func (e *env) makeNotationKey() error {
	e.notationConfig = filepath.Join(e.work, "notation", "config")
	e.notationCache = filepath.Join(e.work, "notation", "cache")
	ndir := filepath.Join(e.notationConfig, "notation")
	storeDir := filepath.Join(ndir, "truststore", "x509", "ca", "bench")
	for _, d := range []string{storeDir, filepath.Join(ndir, "localkeys"), e.notationCache} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "signet bench root", Organization: []string{"signet"}, Country: []string{"US"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return err
	}
	root, _ := x509.ParseCertificate(rootDER)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "signet bench notation signer", Organization: []string{"signet"}, Country: []string{"US"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(23 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, leafKey.Public(), rootKey)
	if err != nil {
		return err
	}
	pk8, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		return err
	}
	keyPath := filepath.Join(ndir, "localkeys", "bench.key")
	certPath := filepath.Join(ndir, "localkeys", "bench.crt")
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER})...)
	writes := map[string][]byte{
		keyPath:                             pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk8}),
		certPath:                            chain,
		filepath.Join(storeDir, "root.pem"): pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}),
		filepath.Join(ndir, "signingkeys.json"): mustJSON(map[string]any{
			"default": "bench",
			"keys":    []any{map[string]any{"name": "bench", "keyPath": keyPath, "certPath": certPath}},
		}),
		filepath.Join(ndir, "trustpolicy.json"): mustJSON(map[string]any{
			"version": "1.0",
			"trustPolicies": []any{map[string]any{
				"name": "bench", "registryScopes": []string{"*"},
				"signatureVerification": map[string]any{"level": "strict"},
				"trustStores":           []string{"ca:bench"}, "trustedIdentities": []string{"*"},
			}},
		}),
	}
	for p, b := range writes {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) notationEnv() []string {
	return []string{"XDG_CONFIG_HOME=" + e.notationConfig, "XDG_CACHE_HOME=" + e.notationCache, "HOME=" + e.notationCache,
		"NOTATION_CONFIG=", "NOTATION_CACHE="}
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}

// machine describes where the figures come from.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0]); len(f) >= 2 {
			var kb int64
			fmt.Sscan(f[1], &kb)
			mem = fmt.Sprintf(", %.1f GiB RAM", float64(kb)/(1<<20))
		}
	}
	return fmt.Sprintf("%d CPUs (nproc), %s%s, %s/%s, %s", runtime.NumCPU(), model, mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
