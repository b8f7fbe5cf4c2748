package notation_test

import (
	"crypto/elliptic"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-project/signet/hsm"
	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/bundle"
	"github.com/signet-project/signet/signature/certs"
	"github.com/signet-project/signet/signature/notation"
)

// notationTool is the real notation CLI with a configuration of the test's
// own: a trust store "signet" holding roots, and a strict trust policy for
// every registry trusting any identity that chains to them.
type notationTool struct {
	bin    string
	config string // XDG_CONFIG_HOME
	cache  string // XDG_CACHE_HOME
}

func newNotation(t *testing.T, roots ...*x509.Certificate) *notationTool {
	t.Helper()
	n := &notationTool{bin: testenv.Tool(t, "notation"), config: t.TempDir(), cache: t.TempDir()}
	for i, r := range roots {
		p := filepath.Join(t.TempDir(), "root"+string(rune('a'+i))+".pem")
		if err := os.WriteFile(p, certs.EncodePEM([]*x509.Certificate{r}), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := n.run("cert", "add", "--type", "ca", "--store", "signet", p); err != nil {
			t.Fatalf("notation cert add: %v\n%s", err, out)
		}
	}
	policy := map[string]any{
		"version": "1.0",
		"trustPolicies": []any{map[string]any{
			"name":                  "signet",
			"registryScopes":        []string{"*"},
			"signatureVerification": map[string]any{"level": "strict"},
			"trustStores":           []string{"ca:signet"},
			"trustedIdentities":     []string{"*"},
		}},
	}
	b, _ := json.Marshal(policy)
	if err := os.WriteFile(filepath.Join(n.config, "notation", "trustpolicy.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *notationTool) run(args ...string) (string, error) {
	cmd := exec.Command(n.bin, args...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+n.config, "XDG_CACHE_HOME="+n.cache, "HOME="+n.cache,
		"NOTATION_CONFIG=", "NOTATION_CACHE=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (n *notationTool) verify(ref string) (string, error) {
	return n.run("verify", "--insecure-registry", ref)
}

// signImage signs an index and each child with f, as the batch engine does
// (one Sign per subject), and returns the subjects.
func signImage(t *testing.T, reg *registry.Client, f *notation.Format, host, repo string) []signature.Subject {
	t.Helper()
	_, children := testenv.SeedImage(t, host, repo, "v1", []string{"linux/amd64", "linux/arm64"})
	idx := subject(t, reg, host+"/"+repo+":v1")
	subjects := []signature.Subject{idx}
	for _, d := range children {
		s := subject(t, reg, host+"/"+repo+"@"+d)
		s.Identity = idx.Identity
		subjects = append(subjects, s)
	}
	for _, s := range subjects {
		r, err := f.Sign(testCtx(t), s)
		if err != nil {
			t.Fatalf("Sign(%s): %v", s.Name(), err)
		}
		if r.Skipped || r.Format != "notation" {
			t.Fatalf("Sign(%s) = %+v; want a new notation signature", s.Name(), r)
		}
	}
	return subjects
}

func interopRegistries(t *testing.T) map[string]*testenv.Registry {
	return map[string]*testenv.Registry{
		"distribution":   testenv.DockerRegistry(t),
		"ggcr-referrers": testenv.MemRegistry(t, true),
	}
}

// TestNotationVerifiesSignet: the real notation verify v1.3.2 accepts
// signet's signatures on an index and every child, through the tag
// fallback (distribution) and the referrers API (ggcr), under a strict
// policy; and rejects them when the trust store holds another root.
func TestNotationVerifiesSignet(t *testing.T) {
	reg := newClient(t)
	// A key file as `signet keys generate --key-file` writes it, with its
	// chain stored beside it as `signet cert import` does, and an RSA key
	// under an intermediate CA.
	t.Setenv("SIGNET_KEY_PASSWORD", "")
	os.Unsetenv("SIGNET_KEY_PASSWORD")
	t.Setenv("COSIGN_PASSWORD", "")
	os.Unsetenv("COSIGN_PASSWORD")
	ctx := testCtx(t)
	keyFile := filepath.Join(t.TempDir(), "signer.key")
	fk, err := hsm.Generate(ctx, keyFile, "ecdsa-p256")
	if err != nil {
		t.Fatal(err)
	}
	fk.Close()
	ca, err := certs.NewRootCA(testenv.NewECKey(t, elliptic.P256()), subjectName("signet file-key root"), 0)
	if err != nil {
		t.Fatal(err)
	}
	fileChain, err := ca.IssueLeaf(fk.Public(), certs.LeafOptions{Subject: subjectName("file signer")})
	if err != nil {
		t.Fatal(err)
	}
	if err := hsm.ImportCertificates(ctx, keyFile, fileChain); err != nil {
		t.Fatal(err)
	}
	fileKey, err := hsm.Open(ctx, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	defer fileKey.Close()
	rsaKey := testenv.NewRSAKey(t, 3072)
	rsaPKI := newPKI(t, rsaKey, true)
	keys := map[string]struct {
		key   signature.Signer
		chain []*x509.Certificate
		root  *x509.Certificate
	}{
		"file-ecdsa-p256": {fileKey, fileKey.Certificates(), ca.Root()},
		"rsa-3072":        {rsaKey, rsaPKI.chain, rsaPKI.root()},
	}
	for regName, tr := range interopRegistries(t) {
		for keyName, k := range keys {
			t.Run(regName+"/"+keyName, func(t *testing.T) {
				f, err := notation.NewFormat(reg, k.key, k.chain)
				if err != nil {
					t.Fatal(err)
				}
				subjects := signImage(t, reg, f, tr.Host, "notation/"+keyName)
				n := newNotation(t, k.root)
				other := newNotation(t, newPKI(t, testenv.NewECKey(t, elliptic.P256()), false).root())
				for _, s := range subjects {
					out, err := n.verify(s.Name().String())
					if err != nil || !strings.Contains(out, "Successfully verified") {
						t.Errorf("notation verify %s (%s): %v\n%s", s.Name(), s.MediaType, err, out)
					}
					if out, err := other.verify(s.Name().String()); err == nil {
						t.Errorf("notation verify with another root accepted %s:\n%s", s.Name(), out)
					}
				}
			})
		}
	}
}

// TestNotationVerifiesSignetSoftHSM signs with a key in a SoftHSM token
// whose chain came from signet's own CA helpers and was stored on the
// token, the path `signet cert ca/issue/import` takes.
func TestNotationVerifiesSignetSoftHSM(t *testing.T) {
	tok := testenv.SoftHSM(t)
	tok.GenerateKey(t, "notary", "EC:prime256v1", "0a")
	ctx := testCtx(t)
	ref := tok.URI("notary")
	pub, err := hsm.LoadPublicKey(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certs.NewRootCA(testenv.NewECKey(t, elliptic.P256()), subjectName("signet softhsm root"), 0)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := ca.IssueLeaf(pub, certs.LeafOptions{Subject: subjectName("softhsm signer")})
	if err != nil {
		t.Fatal(err)
	}
	if err := hsm.ImportCertificates(ctx, ref, chain); err != nil {
		t.Fatal(err)
	}
	key, err := hsm.Open(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	defer key.Close()
	if len(key.Certificates()) != len(chain) {
		t.Fatalf("token chain = %d certificates; want %d", len(key.Certificates()), len(chain))
	}
	reg := newClient(t)
	f, err := notation.NewFormat(reg, key, key.Certificates())
	if err != nil {
		t.Fatal(err)
	}
	for regName, tr := range interopRegistries(t) {
		t.Run(regName, func(t *testing.T) {
			subjects := signImage(t, reg, f, tr.Host, "notation/softhsm")
			n := newNotation(t, ca.Root())
			for _, s := range subjects {
				if out, err := n.verify(s.Name().String()); err != nil {
					t.Errorf("notation verify %s: %v\n%s", s.Name(), err, out)
				}
			}
		})
	}
}

// TestSignetVerifiesNotation has the real notation sign (with a file key in
// a hand-written signingkeys.json), then signet verify, sign (skipped: a
// signature with the same chain exists) and verify again.
func TestSignetVerifiesNotation(t *testing.T) {
	for regName, tr := range interopRegistries(t) {
		t.Run(regName, func(t *testing.T) {
			reg := newClient(t)
			ctx := testCtx(t)
			key := testenv.NewECKey(t, elliptic.P384())
			p := newPKI(t, key, true)
			n := newNotation(t, p.root())
			dir := t.TempDir()
			der, err := x509.MarshalPKCS8PrivateKey(key.Signer)
			if err != nil {
				t.Fatal(err)
			}
			keyPath, certPath := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.crt")
			if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(certPath, certs.EncodePEM(p.chain), 0o644); err != nil {
				t.Fatal(err)
			}
			sk, _ := json.Marshal(map[string]any{"default": "k", "keys": []any{map[string]string{"name": "k", "keyPath": keyPath, "certPath": certPath}}})
			if err := os.WriteFile(filepath.Join(n.config, "notation", "signingkeys.json"), sk, 0o600); err != nil {
				t.Fatal(err)
			}
			testenv.SeedSingle(t, tr.Host, "fromnotation/app", "v1")
			s := subject(t, reg, tr.Host+"/fromnotation/app:v1")
			if out, err := n.run("sign", "--insecure-registry", s.Name().String()); err != nil {
				t.Fatalf("notation sign: %v\n%s", err, out)
			}
			v, err := notation.NewVerifier(reg, chainTrust{roots: []*x509.Certificate{p.root()}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(ctx, s)
			if err != nil {
				t.Fatalf("signet verify of notation's signature: %v", err)
			}
			if !strings.HasPrefix(got.SigningAgent, "notation-go/") {
				t.Errorf("signing agent = %q; want notation-go/…", got.SigningAgent)
			}
			// The bare leaf key verifies it too (signet verify --key).
			if _, err := mustVerifier(t, reg, signature.KeyTrust{Key: key.Public()}).Verify(ctx, s); err != nil {
				t.Errorf("signet verify with the leaf key: %v", err)
			}
			f, err := notation.NewFormat(reg, key, p.chain)
			if err != nil {
				t.Fatal(err)
			}
			r, err := f.Sign(ctx, s)
			if err != nil || !r.Skipped || r.Digest != got.Manifest {
				t.Errorf("Sign after notation signed = %+v, %v; want skipped, naming %s", r, err, got.Manifest)
			}
			if out, err := n.verify(s.Name().String()); err != nil {
				t.Errorf("notation verify: %v\n%s", err, out)
			}
		})
	}
}

// TestNotationResign: signing again counts exactly the signatures the real
// notation verify accepts, on distribution without the referrers API. A
// signing time still to come (a signer's clock ahead) is accepted, so it
// counts; a signature deleted by digest stays listed in the tag index but
// cannot be fetched, so it does not, and the new signature (which also
// drops it from the index) verifies with notation and signet.
func TestNotationResign(t *testing.T) {
	tr := testenv.DockerRegistry(t)
	reg := newClient(t)
	key := testenv.NewECKey(t, elliptic.P256())
	p := newPKI(t, key, false)
	n := newNotation(t, p.root())
	for i, tc := range []struct {
		name string
		// ahead is how far the first Sign's clock runs ahead.
		ahead time.Duration
		// deleted: the first signature is deleted by digest.
		deleted     bool
		wantSkipped bool
	}{
		{name: "signing time 30 s ahead", ahead: 30 * time.Second, wantSkipped: true},
		{name: "deleted", deleted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			repo := fmt.Sprintf("resign/c%d", i)
			testenv.SeedSingle(t, tr.Host, repo, "v1")
			s := subject(t, reg, tr.Host+"/"+repo+":v1")
			ahead := notation.WithClock(func() time.Time { return time.Now().Add(tc.ahead) })
			first, err := mustFormat(t, reg, key, p.chain, ahead).Sign(ctx, s)
			if err != nil || first.Skipped {
				t.Fatalf("first Sign() = %+v, %v", first, err)
			}
			if tc.deleted {
				if err := reg.DeleteManifest(ctx, s.Repo, first.Digest); err != nil {
					t.Fatal(err)
				}
				if out, err := n.verify(s.Name().String()); err == nil {
					t.Fatalf("notation verify accepted %s with its only signature deleted:\n%s", s.Name(), out)
				}
			} else if out, err := n.verify(s.Name().String()); err != nil {
				t.Fatalf("notation verify of the first signature: %v\n%s", err, out)
			}
			r, err := mustFormat(t, reg, key, p.chain).Sign(ctx, s)
			if err != nil || r.Skipped != tc.wantSkipped || (r.Skipped && r.Digest != first.Digest) {
				t.Fatalf("second Sign() = %+v, %v; want skipped %v", r, err, tc.wantSkipped)
			}
			if out, err := n.verify(s.Name().String()); err != nil {
				t.Errorf("notation verify after the second Sign: %v\n%s", err, out)
			}
			if _, err := mustVerifier(t, reg, chainTrust{roots: []*x509.Certificate{p.root()}}).Verify(ctx, s); err != nil {
				t.Errorf("signet Verify after the second Sign: %v", err)
			}
		})
	}
}

func mustVerifier(t testing.TB, reg notation.Registry, trust signature.Trust) *notation.Verifier {
	t.Helper()
	v, err := notation.NewVerifier(reg, trust)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCoexistWithBundle: notation signatures and sigstore bundles on the
// same manifests, in one referrers index, do not disturb each other's
// verifiers: notation filters on its artifact type, cosign v3 skips
// referrers that are not bundles.
func TestCoexistWithBundle(t *testing.T) {
	cosignBin := testenv.Tool(t, "cosign-v3")
	tr := testenv.DockerRegistry(t)
	reg := newClient(t)
	key := testenv.NewECKey(t, elliptic.P256())
	p := newPKI(t, key, false)
	nf, err := notation.NewFormat(reg, key, p.chain)
	if err != nil {
		t.Fatal(err)
	}
	bf, err := bundle.NewFormat(reg, key)
	if err != nil {
		t.Fatal(err)
	}
	subjects := signImage(t, reg, nf, tr.Host, "both/app")
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(t.TempDir(), "key.pub")
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	n := newNotation(t, p.root())
	for _, s := range subjects {
		if _, err := bf.Sign(testCtx(t), s); err != nil {
			t.Fatal(err)
		}
		if out, err := n.verify(s.Name().String()); err != nil {
			t.Errorf("notation verify %s beside a bundle: %v\n%s", s.Name(), err, out)
		}
		cmd := exec.Command(cosignBin, "verify", "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry", "--allow-insecure-registry", s.Name().String())
		cmd.Env = testenv.CosignEnv(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("cosign verify %s beside a notation signature: %v\n%s", s.Name(), err, out)
		}
		ds, err := reg.ListReferrers(testCtx(t), s.Repo, s.Digest, "")
		if err != nil || len(ds) != 2 {
			t.Errorf("ListReferrers(%s) = %d, %v; want the notation signature and the bundle", s.Name(), len(ds), err)
		}
	}
}
