package cosign_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/certs"
	"github.com/signet-project/signet/signature/cosign"
)

// cosignVerify runs the real cosign's offline, key-based verify of ref.
func cosignVerify(t *testing.T, bin, pub, ref string) (string, error) {
	t.Helper()
	args := []string{"verify", "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry", "--allow-insecure-registry"}
	if strings.HasSuffix(bin, "cosign-v3") {
		// A bundle would hide the legacy .sig from v3 (cosign-format.md §5).
		args = append(args, "--new-bundle-format=false")
	}
	cmd := exec.Command(bin, append(args, ref)...)
	cmd.Env = cosignEnv(t)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// cosignEnv keeps cosign's TUF cache and config inside the test, and off
// the network.
func cosignEnv(t *testing.T) []string {
	home := t.TempDir()
	return append(os.Environ(), "HOME="+home, "TUF_ROOT="+filepath.Join(home, "tuf"), "COSIGN_PASSWORD=", "SIGSTORE_NO_CACHE=true")
}

func writePub(t *testing.T, k testenv.Key) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key.pub")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// signIndex signs an index and every child the way signet sign does, with
// the index's tag as identity for all of them.
func signIndex(t *testing.T, reg *registry.Client, key testenv.Key, tagRef string, children map[string]string) []signature.Subject {
	t.Helper()
	ctx := context.Background()
	idx := subject(t, reg, tagRef)
	subjects := []signature.Subject{idx}
	for _, d := range children {
		s := subject(t, reg, idx.Repo.String()+"@"+d)
		s.Identity = idx.Identity
		subjects = append(subjects, s)
	}
	f := cosign.NewFormat(cosign.NewStore(reg), key, nil, nil)
	for _, s := range subjects {
		if _, err := f.Sign(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	return subjects
}

func TestCosignVerifiesSignet(t *testing.T) {
	tr := testenv.DockerRegistry(t)
	reg, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	_, children := testenv.SeedImage(t, tr.Host, "interop/app", "v1", []string{"linux/amd64", "linux/arm64", "linux/arm/v7"})
	key := testenv.NewKey(t)
	subjects := signIndex(t, reg, key, tr.Host+"/interop/app:v1", children)
	pub := writePub(t, key)
	wrong := writePub(t, testenv.NewKey(t))
	for _, bin := range []string{testenv.Tool(t, "cosign-v2"), testenv.Tool(t, "cosign-v3")} {
		t.Run(filepath.Base(bin), func(t *testing.T) {
			for _, s := range subjects {
				out, err := cosignVerify(t, bin, pub, s.Name().String())
				if !strings.Contains(out, "The signatures were verified against the specified public key") {
					t.Errorf("%s verify output lacks the verification line:\n%s", filepath.Base(bin), out)
				}
				if err != nil {
					t.Errorf("%s verify %s (%s): %v\n%s", filepath.Base(bin), s.Name(), s.MediaType, err, out)
				}
				if out, err := cosignVerify(t, bin, wrong, s.Name().String()); err == nil {
					t.Errorf("%s verify with the wrong key accepted %s:\n%s", filepath.Base(bin), s.Name(), out)
				}
			}
		})
	}
}

// TestSignetVerifiesCosign has the real cosign sign (v2, and v3 in legacy
// mode), then signet verify, append its own signature, and cosign verify
// both keys afterwards: appends in either direction keep the other's layer.
func TestSignetVerifiesCosign(t *testing.T) {
	ctx := context.Background()
	tr := testenv.DockerRegistry(t)
	reg, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	for i, bin := range []string{testenv.Tool(t, "cosign-v2"), testenv.Tool(t, "cosign-v3")} {
		t.Run(filepath.Base(bin), func(t *testing.T) {
			repo := "fromcosign/v" + string(rune('2'+i))
			testenv.SeedSingle(t, tr.Host, repo, "v1")
			s := subject(t, reg, tr.Host+"/"+repo+":v1")
			dir := t.TempDir()
			gen := exec.Command(bin, "generate-key-pair")
			gen.Dir, gen.Env = dir, cosignEnv(t)
			if out, err := gen.CombinedOutput(); err != nil {
				t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
			}
			args := []string{"sign", "--key", filepath.Join(dir, "cosign.key"), "--tlog-upload=false", "-y",
				"--allow-http-registry", "--allow-insecure-registry"}
			if strings.HasSuffix(bin, "cosign-v3") {
				args = append(args, "--new-bundle-format=false", "--use-signing-config=false")
			}
			sign := exec.Command(bin, append(args, s.Name().String())...)
			sign.Env = cosignEnv(t)
			if out, err := sign.CombinedOutput(); err != nil {
				t.Fatalf("cosign sign: %v\n%s", err, out)
			}
			cosignPub := readPub(t, filepath.Join(dir, "cosign.pub"))
			store := cosign.NewStore(reg)
			if _, err := cosign.NewVerifier(store, signature.KeyTrust{Key: cosignPub}).Verify(ctx, s); err != nil {
				t.Fatalf("signet verify of cosign's signature: %v", err)
			}
			key := testenv.NewKey(t)
			if r, err := cosign.NewFormat(store, key, nil, nil).Sign(ctx, s); err != nil || r.Skipped {
				t.Fatalf("signet append = %+v, %v", r, err)
			}
			for _, p := range []string{filepath.Join(dir, "cosign.pub"), writePub(t, key)} {
				if out, err := cosignVerify(t, bin, p, s.Name().String()); err != nil {
					t.Errorf("cosign verify after signet appended (%s): %v\n%s", p, err, out)
				}
			}
			// And cosign appending to a .sig signet wrote.
			s2repo := repo + "-b"
			testenv.SeedSingle(t, tr.Host, s2repo, "v1")
			s2 := subject(t, reg, tr.Host+"/"+s2repo+":v1")
			if _, err := cosign.NewFormat(store, key, nil, nil).Sign(ctx, s2); err != nil {
				t.Fatal(err)
			}
			sign = exec.Command(bin, append(args, s2.Name().String())...)
			sign.Env = cosignEnv(t)
			if out, err := sign.CombinedOutput(); err != nil {
				t.Fatalf("cosign sign on signet's .sig: %v\n%s", err, out)
			}
			att, err := store.Fetch(ctx, s2.Repo, s2.Digest, cosign.SignatureSuffix)
			if err != nil || len(att.Layers) != 2 {
				t.Fatalf("after cosign appended: %+v, %v; want 2 layers", att, err)
			}
			for _, k := range []any{key.Public(), cosignPub} {
				if _, err := cosign.NewVerifier(store, signature.KeyTrust{Key: k}).Verify(ctx, s2); err != nil {
					t.Errorf("signet verify after cosign appended: %v", err)
				}
			}
		})
	}
}

func readPub(t *testing.T, path string) any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM", path)
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// TestPodmanVerifiesSignet runs containers/image's policy evaluation (the
// code podman, skopeo and CRI-O run) with podman's default signedIdentity,
// pulling by tag, for the index and every platform instance.
func TestPodmanVerifiesSignet(t *testing.T) {
	bin := testenv.Tool(t, "podman-verify")
	tr := testenv.DockerRegistry(t)
	reg, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	_, children := testenv.SeedImage(t, tr.Host, "podman/app", "v1", []string{"linux/amd64", "linux/arm64"})
	testenv.SeedImage(t, tr.Host, "podman/app", "unsigned", []string{"linux/amd64", "linux/arm64"})
	key := testenv.NewKey(t)
	signIndex(t, reg, key, tr.Host+"/podman/app:v1", children)
	pub := writePub(t, key)

	run := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"--key", pub, "--insecure", "--identity", "default"}, args...)...).CombinedOutput()
		return string(out), err
	}
	out, err := run(tr.Host + "/podman/app:v1")
	if err != nil {
		t.Fatalf("podman policy rejected signet's signatures:\n%s", out)
	}
	if n := strings.Count(out, `"allowed":true`); n != 3 {
		t.Errorf("allowed instances = %d; want 3 (index + 2 platforms):\n%s", n, out)
	}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		if out, err := run("--platform", p, tr.Host+"/podman/app:v1"); err != nil {
			t.Errorf("podman pull --platform %s rejected: %v\n%s", p, err, out)
		}
	}
	out, err = run(tr.Host + "/podman/app:unsigned")
	if err == nil || !strings.Contains(out, "no signature exists") {
		t.Errorf("podman policy accepted an unsigned image (err %v):\n%s", err, out)
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() != 1 {
		t.Errorf("podman-verify exit = %d; want 1 (denied)\n%s", ee.ExitCode(), out)
	}
}

// TestPodmanDocsPolicy loads the policy.json and registries.d snippet from
// docs/enforce.md (docs/examples), with only the registry host and the key
// path substituted, into containers/image and checks it admits a
// signet-signed image, by tag and by digest, on every platform, and blocks
// an unsigned one.
func TestPodmanDocsPolicy(t *testing.T) {
	bin := testenv.Tool(t, "podman-verify")
	tr := testenv.DockerRegistry(t)
	reg, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	idx, children := testenv.SeedImage(t, tr.Host, "prod/app", "1.0", []string{"linux/amd64", "linux/arm64"})
	testenv.SeedImage(t, tr.Host, "prod/unsigned", "1.0", []string{"linux/amd64"})
	key := testenv.NewKey(t)
	signIndex(t, reg, key, tr.Host+"/prod/app:1.0", children)
	pub := writePub(t, key)

	dir := t.TempDir()
	subst := strings.NewReplacer("registry.example.com", tr.Host, "/etc/containers/keys/signet-release.pub", pub)
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "docs", "examples", p))
		if err != nil {
			t.Fatal(err)
		}
		return subst.Replace(string(b))
	}
	policy := filepath.Join(dir, "policy.json")
	os.WriteFile(policy, []byte(read("podman-policy.json")), 0o600)
	regD := filepath.Join(dir, "registries.d")
	os.Mkdir(regD, 0o700)
	os.WriteFile(filepath.Join(regD, "signet.yaml"), []byte(read("registries.d/signet.yaml")), 0o600)

	run := func(image string) (string, error) {
		out, err := exec.Command(bin, "--policy-file", policy, "--registries-d", regD, "--insecure", image).CombinedOutput()
		return string(out), err
	}
	for _, image := range []string{tr.Host + "/prod/app:1.0", tr.Host + "/prod/app@" + idx} {
		out, err := run(image)
		if err != nil || strings.Count(out, `"allowed":true`) != 3 {
			t.Errorf("documented policy rejected signet-signed %s (%v):\n%s", image, err, out)
		}
	}
	if out, err := run(tr.Host + "/prod/unsigned:1.0"); err == nil || !strings.Contains(out, `"allowed":false`) {
		t.Errorf("documented policy admitted an unsigned image (%v):\n%s", err, out)
	}
}

// TestSameKeyCosignCertificate has the real cosign sign with a key and a
// certificate for it (v2, and v3 in legacy mode), then signet sign with the
// same key: with the certificate and chain cosign stored it finds cosign's
// layer and writes nothing; with a renewed certificate it appends, and
// cosign still verifies the result.
func TestSameKeyCosignCertificate(t *testing.T) {
	ctx := context.Background()
	tr := testenv.DockerRegistry(t)
	reg, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	key := testenv.NewKey(t)
	root, err := certs.NewRootCA(testenv.NewKey(t), pkix.Name{CommonName: "interop root"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := issue(t, root, key, "signer"), issue(t, root, key, "signer")
	dir := t.TempDir()
	der, err := x509.MarshalPKCS8PrivateKey(key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"key.pem":   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		"cert.pem":  c1.cert,
		"chain.pem": c1.chain,
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i, bin := range []string{testenv.Tool(t, "cosign-v2"), testenv.Tool(t, "cosign-v3")} {
		t.Run(filepath.Base(bin), func(t *testing.T) {
			imp := exec.Command(bin, "import-key-pair", "--key", filepath.Join(dir, "key.pem"), "--output-key-prefix", filepath.Join(dir, "imported"+string(rune('2'+i))))
			imp.Env = cosignEnv(t)
			if out, err := imp.CombinedOutput(); err != nil {
				t.Fatalf("cosign import-key-pair: %v\n%s", err, out)
			}
			repo := "certdedupe/v" + string(rune('2'+i))
			testenv.SeedSingle(t, tr.Host, repo, "v1")
			s := subject(t, reg, tr.Host+"/"+repo+":v1")
			args := []string{"sign", "--key", filepath.Join(dir, "imported"+string(rune('2'+i))+".key"),
				"--certificate", filepath.Join(dir, "cert.pem"), "--certificate-chain", filepath.Join(dir, "chain.pem"),
				"--tlog-upload=false", "-y", "--allow-http-registry", "--allow-insecure-registry"}
			if strings.HasSuffix(bin, "cosign-v3") {
				args = append(args, "--new-bundle-format=false", "--use-signing-config=false")
			}
			sign := exec.Command(bin, append(args, s.Name().String())...)
			sign.Env = cosignEnv(t)
			if out, err := sign.CombinedOutput(); err != nil {
				t.Fatalf("cosign sign: %v\n%s", err, out)
			}
			store := cosign.NewStore(reg)
			att, err := store.Fetch(ctx, s.Repo, s.Digest, cosign.SignatureSuffix)
			if err != nil || att == nil || len(att.Layers) != 1 {
				t.Fatalf("cosign's .sig = %+v, %v; want one layer", att, err)
			}
			ann := att.Layers[0].Annotations
			if ann[cosign.CertificateAnnotation] != string(c1.cert) {
				t.Errorf("cosign's certificate annotation %q differs from the PEM signet writes %q", ann[cosign.CertificateAnnotation], c1.cert)
			}
			// cosign v3 in legacy mode writes an empty chain whatever
			// --certificate-chain names (seen with v3.1.3): its layer then
			// lacks the chain signet's carries, and by cosign's own rule
			// does not cover it.
			wantSkipped := ann[cosign.ChainAnnotation] == string(c1.chain)
			if !wantSkipped {
				t.Logf("%s wrote chain annotation %q", filepath.Base(bin), ann[cosign.ChainAnnotation])
			}
			if r, err := cosign.NewFormat(store, key, c1.cert, c1.chain).Sign(ctx, s); err != nil || r.Skipped != wantSkipped {
				t.Errorf("signet Sign(cosign's key and certificate) = %+v, %v; want skipped %v", r, err, wantSkipped)
			}
			if r, err := cosign.NewFormat(store, key, c1.cert, []byte(ann[cosign.ChainAnnotation])).Sign(ctx, s); err != nil || !r.Skipped {
				t.Errorf("signet Sign(cosign's key, certificate and chain) = %+v, %v; want skipped", r, err)
			}
			if r, err := cosign.NewFormat(store, key, c2.cert, c2.chain).Sign(ctx, s); err != nil || r.Skipped {
				t.Fatalf("signet Sign(renewed certificate) = %+v, %v; want a new layer", r, err)
			}
			if out, err := cosignVerify(t, bin, writePub(t, key), s.Name().String()); err != nil {
				t.Errorf("cosign verify after signet appended: %v\n%s", err, out)
			}
			if _, err := cosign.NewVerifier(store, leafTrust{c2.leaf}).Verify(ctx, s); err != nil {
				t.Errorf("signet verify trusting the renewed certificate: %v", err)
			}
		})
	}
}

// TestSameKeyExpiredCertificate: a layer by the key whose certificate has
// expired does not cover a bare-key signature. cosign v2 and v3 verify
// --key check the dates of a certificate the layer carries and, offline,
// reject an expired one; signet must then write a bare-key layer, which
// both accept beside the expired one.
func TestSameKeyExpiredCertificate(t *testing.T) {
	ctx := context.Background()
	tr := testenv.DockerRegistry(t)
	reg, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	bins := []string{testenv.Tool(t, "cosign-v2"), testenv.Tool(t, "cosign-v3")}
	key := testenv.NewKey(t)
	pub := writePub(t, key)
	root, err := certs.NewRootCA(testenv.NewKey(t), pkix.Name{CommonName: "expiring root"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := root.IssueLeaf(key.Public(), certs.LeafOptions{Subject: pkix.Name{CommonName: "signer"}, Validity: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	testenv.SeedSingle(t, tr.Host, "expired", "v1")
	s := subject(t, reg, tr.Host+"/expired:v1")
	store := cosign.NewStore(reg)
	if r, err := cosign.NewFormat(store, key, certs.EncodePEM(chain[:1]), certs.EncodePEM(chain[1:])).Sign(ctx, s); err != nil || r.Skipped {
		t.Fatalf("Sign(with the certificate) = %+v, %v", r, err)
	}
	// Certificate times have whole seconds: wait past the last one.
	time.Sleep(time.Until(chain[0].NotAfter.Add(time.Second)))
	for _, bin := range bins {
		if out, err := cosignVerify(t, bin, pub, s.Name().String()); err == nil || !strings.Contains(out, "expired certificate") {
			t.Fatalf("%s verify --key of a layer whose certificate expired: %v; want it refused for the expiry:\n%s", filepath.Base(bin), err, out)
		}
	}
	r, err := cosign.NewFormat(store, key, nil, nil).Sign(ctx, s)
	if err != nil || r.Skipped {
		t.Fatalf("Sign(bare key) = %+v, %v; want a second layer", r, err)
	}
	if att, err := store.Fetch(ctx, s.Repo, s.Digest, cosign.SignatureSuffix); err != nil || len(att.Layers) != 2 {
		t.Fatalf("the .sig after Sign(bare key) = %+v, %v; want 2 layers", att, err)
	}
	for _, bin := range bins {
		if out, err := cosignVerify(t, bin, pub, s.Name().String()); err != nil {
			t.Errorf("%s verify --key after the bare-key signature: %v\n%s", filepath.Base(bin), err, out)
		}
	}
	if r, err := cosign.NewFormat(store, key, nil, nil).Sign(ctx, s); err != nil || !r.Skipped {
		t.Errorf("Sign(bare key) again = %+v, %v; want skipped", r, err)
	}
}
