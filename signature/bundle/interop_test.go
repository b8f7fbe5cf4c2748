package bundle_test

import (
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-project/signet/hsm"
	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/bundle"
	"github.com/signet-project/signet/signature/certs"
)

// cosignVerify runs cosign v3's offline key-based verify with its default
// (bundle) format.
func cosignVerify(t *testing.T, pub, ref string) (string, error) {
	t.Helper()
	cmd := exec.Command(testenv.Tool(t, "cosign-v3"), "verify", "--key", pub, "--insecure-ignore-tlog=true",
		"--allow-http-registry", "--allow-insecure-registry", ref)
	cmd.Env = testenv.CosignEnv(t)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func interopRegistries(t *testing.T) map[string]*testenv.Registry {
	return map[string]*testenv.Registry{
		"distribution":   testenv.DockerRegistry(t),
		"ggcr-referrers": testenv.MemRegistry(t, true),
	}
}

// signIndex signs an index and every child, one Sign per subject as the
// batch engine does.
func signIndex(t *testing.T, reg *registry.Client, f *bundle.Format, host, repo string) []signature.Subject {
	t.Helper()
	_, children := testenv.SeedImage(t, host, repo, "v1", []string{"linux/amd64", "linux/arm64"})
	idx := subject(t, reg, host+"/"+repo+":v1")
	subjects := []signature.Subject{idx}
	for _, d := range children {
		subjects = append(subjects, subject(t, reg, host+"/"+repo+"@"+d))
	}
	for _, s := range subjects {
		r, err := f.Sign(testCtx(t), s)
		if err != nil || r.Skipped || r.Format != "sigstore-bundle" {
			t.Fatalf("Sign(%s) = %+v, %v", s.Name(), r, err)
		}
	}
	return subjects
}

// TestCosignVerifiesSignet: cosign v3.1.3's default verify accepts signet's
// bundles on an index and each child, through the referrers API and
// through the sha256-<hex> tag fallback on distribution, and rejects them
// for another key.
func TestCosignVerifiesSignet(t *testing.T) {
	reg := newClient(t)
	key := testenv.NewKey(t)
	f, err := bundle.NewFormat(reg, key)
	if err != nil {
		t.Fatal(err)
	}
	pub, wrong := writePub(t, key.Public()), writePub(t, testenv.NewKey(t).Public())
	for regName, tr := range interopRegistries(t) {
		t.Run(regName, func(t *testing.T) {
			for _, s := range signIndex(t, reg, f, tr.Host, "bundle/app") {
				out, err := cosignVerify(t, pub, s.Name().String())
				if err != nil || !strings.Contains(out, "The signatures were verified against the specified public key") {
					t.Errorf("cosign verify %s (%s): %v\n%s", s.Name(), s.MediaType, err, out)
				}
				if out, err := cosignVerify(t, wrong, s.Name().String()); err == nil {
					t.Errorf("cosign verify with another key accepted %s:\n%s", s.Name(), out)
				}
			}
		})
	}
}

// TestSignetVerifiesCosign has cosign v3 sign in its default bundle format,
// offline: --tlog-upload=false is refused with signing configs, so it gets
// an empty signing config (no Rekor, no TSA) from `cosign signing-config
// create`. signet then verifies the bundle, and signing with the same
// (cosign-encrypted) key is a no-op.
func TestSignetVerifiesCosign(t *testing.T) {
	bin := testenv.Tool(t, "cosign-v3")
	for regName, tr := range interopRegistries(t) {
		t.Run(regName, func(t *testing.T) {
			ctx := testCtx(t)
			reg := newClient(t)
			dir := t.TempDir()
			env := testenv.CosignEnv(t)
			run := func(args ...string) {
				t.Helper()
				cmd := exec.Command(bin, args...)
				cmd.Dir, cmd.Env = dir, env
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("cosign %s: %v\n%s", args[0], err, out)
				}
			}
			run("generate-key-pair")
			run("signing-config", "create", "--out", "signing-config.json")
			testenv.SeedSingle(t, tr.Host, "fromcosign/app", "v1")
			s := subject(t, reg, tr.Host+"/fromcosign/app:v1")
			run("sign", "--key", "cosign.key", "--signing-config", "signing-config.json", "-y",
				"--allow-http-registry", "--allow-insecure-registry", s.Name().String())

			t.Setenv("COSIGN_PASSWORD", "")
			key, err := hsm.Open(ctx, filepath.Join(dir, "cosign.key"))
			if err != nil {
				t.Fatal(err)
			}
			v, err := bundle.NewVerifier(reg, signature.KeyTrust{Key: key.Public()})
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(ctx, s)
			if err != nil {
				t.Fatalf("signet verify of cosign's bundle: %v", err)
			}
			f, err := bundle.NewFormat(reg, key)
			if err != nil {
				t.Fatal(err)
			}
			if r, err := f.Sign(ctx, s); err != nil || !r.Skipped || r.Digest != got.Manifest {
				t.Errorf("Sign after cosign signed = %+v, %v; want skipped naming %s", r, err, got.Manifest)
			}
			if _, err := mustVerifier(t, reg, signature.KeyTrust{Key: testenv.NewKey(t).Public()}).Verify(ctx, s); signature.ReasonOf(err) != signature.ReasonUntrustedKey {
				t.Errorf("Verify(other key) = %v; want untrusted-key", err)
			}
		})
	}
}

func mustVerifier(t testing.TB, reg bundle.Registry, trust signature.Trust) *bundle.Verifier {
	t.Helper()
	v, err := bundle.NewVerifier(reg, trust)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCosignVerifiesCertificateBundles: bundles carrying signet-issued
// certificates (a leaf alone as "certificate", leaf and intermediate as
// "x509CertificateChain") verify with cosign v3's certificate flow, offline:
// a trusted root made by `cosign trusted-root create` from signet's CA
// certificate, --allow-certificate-chain, identity and issuer regexps, and
// no SCT or log. cosign needs a subject alternative name to match the
// identity against, hence the SAN.
func TestCosignVerifiesCertificateBundles(t *testing.T) {
	bin := testenv.Tool(t, "cosign-v3")
	tr := testenv.MemRegistry(t, true)
	reg := newClient(t)
	for _, inter := range []bool{false, true} {
		name := map[bool]string{false: "leaf", true: "intermediate"}[inter]
		t.Run(name, func(t *testing.T) {
			key := testenv.NewKey(t)
			ca, err := certs.NewRootCA(testenv.NewKey(t), name3("cosign interop root"), 0)
			if err != nil {
				t.Fatal(err)
			}
			issuer := ca
			if inter {
				if issuer, err = ca.IssueIntermediate(testenv.NewKey(t), name3("cosign interop intermediate"), 0); err != nil {
					t.Fatal(err)
				}
			}
			chain, err := issuer.IssueLeaf(key.Public(), certs.LeafOptions{Subject: name3("signer"), SANs: []string{"https://signet.example/signer"}})
			if err != nil {
				t.Fatal(err)
			}
			f, err := bundle.NewFormat(reg, key, bundle.WithCertificateChain(chain))
			if err != nil {
				t.Fatal(err)
			}
			testenv.SeedSingle(t, tr.Host, "certs/"+name, "v1")
			s := subject(t, reg, tr.Host+"/certs/"+name+":v1")
			if _, err := f.Sign(testCtx(t), s); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			rootPEM, trustedRoot := filepath.Join(dir, "root.pem"), filepath.Join(dir, "trusted_root.json")
			if err := os.WriteFile(rootPEM, certs.EncodePEM([]*x509.Certificate{ca.Root()}), 0o644); err != nil {
				t.Fatal(err)
			}
			env := testenv.CosignEnv(t)
			create := exec.Command(bin, "trusted-root", "create", "--fulcio", "url=https://ca.invalid,certificate-chain="+rootPEM,
				"--no-default-fulcio", "--no-default-rekor", "--no-default-ctfe", "--no-default-tsa", "--out", trustedRoot)
			create.Env = env
			if out, err := create.CombinedOutput(); err != nil {
				t.Fatalf("cosign trusted-root create: %v\n%s", err, out)
			}
			verify := func(identity string) (string, error) {
				cmd := exec.Command(bin, "verify", "--trusted-root", trustedRoot, "--allow-certificate-chain",
					"--certificate-identity-regexp", identity, "--certificate-oidc-issuer-regexp", ".*",
					"--insecure-ignore-sct", "--insecure-ignore-tlog=true", "--allow-http-registry", "--allow-insecure-registry", s.Name().String())
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			if out, err := verify("^https://signet.example/signer$"); err != nil {
				t.Errorf("cosign verify (certificate bundle): %v\n%s", err, out)
			}
			if out, err := verify("^https://other.example/$"); err == nil {
				t.Errorf("cosign verify accepted another identity:\n%s", out)
			}
		})
	}
}
