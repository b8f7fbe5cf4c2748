package cli_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature/cosign"
)

// testCA is a throwaway certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, cn string) *testCA {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: []string{"Acme"}, Country: []string{"US"}},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: k}
}

// leaf issues a certificate for pub; adjust edits the template.
func (ca *testCA) leaf(t *testing.T, pub crypto.PublicKey, cn string, adjust func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: []string{"Acme"}, Country: []string{"US"}},
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	if adjust != nil {
		adjust(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func writePEM(t *testing.T, path string, blocks ...*pem.Block) string {
	t.Helper()
	var b []byte
	for _, blk := range blocks {
		b = append(b, pem.EncodeToMemory(blk)...)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func certBlock(c *x509.Certificate) *pem.Block { return &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw} }

// newKeyFile writes a fresh P-256 key as PKCS#8 PEM and its public key.
func newKeyFile(t *testing.T, dir, nm string) (keyPath, pubPath string, pub crypto.PublicKey) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	keyPath = writePEM(t, filepath.Join(dir, nm+".key"), &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	pubPath = writePEM(t, filepath.Join(dir, nm+".pub"), &pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	return keyPath, pubPath, &k.PublicKey
}

// TestVerifyPolicy signs one image per failure kind and checks that the
// trust policy blocks each under enforce, allows it with a warning under
// warn and only reports it under audit, while the good image verifies.
func TestVerifyPolicy(t *testing.T) {
	reg := testenv.DockerRegistry(t)
	dir := t.TempDir()
	root, other := newCA(t, "Acme Root"), newCA(t, "Other Root")
	rootPEM := writePEM(t, filepath.Join(dir, "root.pem"), certBlock(root.cert))

	// chainSigned signs repo with a fresh key and a leaf from ca.
	chainSigned := func(repo string, ca *testCA, cn string, adjust func(*x509.Certificate), extra ...string) {
		key, _, pub := newKeyFile(t, dir, strings.ReplaceAll(repo, "/", "_"))
		chain := writePEM(t, filepath.Join(dir, strings.ReplaceAll(repo, "/", "_")+".chain"), certBlock(ca.leaf(t, pub, cn, adjust)), certBlock(ca.cert))
		mustSignet(t, append([]string{"sign", "--key", key, "--cert-chain", chain}, append(extra, reg.Host+"/"+repo+":v1")...)...)
	}
	one := []string{"linux/amd64"}
	for _, r := range []string{"good", "untrusted-ca", "expired", "wrong-eku", "wrong-identity", "revoked-key", "copied"} {
		testenv.SeedImage(t, reg.Host, "pol/"+r, "v1", one)
	}
	testenv.SeedImage(t, reg.Host, "pol/unsigned-child", "v1", []string{"linux/amd64", "linux/arm64"})

	chainSigned("pol/good", root, "release-signer", nil)
	chainSigned("pol/untrusted-ca", other, "release-signer", nil)
	chainSigned("pol/expired", root, "release-signer", func(c *x509.Certificate) {
		c.NotBefore, c.NotAfter = time.Now().Add(-72*time.Hour), time.Now().Add(-time.Hour)
	})
	chainSigned("pol/wrong-eku", root, "release-signer", func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	chainSigned("pol/wrong-identity", root, "intruder", nil)
	chainSigned("pol/unsigned-child", root, "release-signer", nil, "--recursive=false")
	revokedKey, revokedPub, _ := newKeyFile(t, dir, "revoked")
	mustSignet(t, "sign", "--key", revokedKey, reg.Host+"/pol/revoked-key:v1")
	copySignatures(t, reg.Host+"/pol/good:v1", reg.Host+"/pol/copied:v1")

	wantProblem := map[string]string{
		"untrusted-ca":   "trusted root",
		"expired":        "expired",
		"wrong-eku":      "codeSigning",
		"wrong-identity": "intruder",
		"revoked-key":    "revoked",
		"unsigned-child": "unsigned",
		"copied":         "wrong-subject",
	}
	var cat strings.Builder
	for r := range wantProblem {
		fmt.Fprintf(&cat, "%s/pol/%s:v1\n", reg.Host, r)
	}
	fmt.Fprintf(&cat, "%s/pol/good:v1\n", reg.Host)
	catalog := writeFile(t, "catalog.txt", cat.String())

	for _, level := range []string{"enforce", "warn", "audit"} {
		t.Run(level, func(t *testing.T) {
			pol := writeFile(t, "policy.yaml", fmt.Sprintf(`apiVersion: signet.dev/v1
kind: TrustPolicy
trust:
  - name: acme
    scopes: ["%s/pol/*"]
    level: %s
    roots: [%s]
    identities: ["CN=release-signer, O=Acme, C=US"]
    revoked:
      keys: [%s]
`, reg.Host, level, rootPEM, revokedPub))
			report := filepath.Join(t.TempDir(), "verify.json")
			out, errOut, code := signet(t, "verify", "--policy", pol, "--catalog", catalog, "--report", report)
			wantCode, wantStatus := 2, "blocked"
			switch level {
			case "warn":
				wantCode, wantStatus = 0, "warned"
			case "audit":
				wantCode, wantStatus = 0, "audited"
			}
			if code != wantCode {
				t.Errorf("exit %d; want %d\n%s\n%s", code, wantCode, out, errOut)
			}
			for r, problem := range wantProblem {
				line := findLine(out, "/pol/"+r+":v1 ")
				if !strings.Contains(line, wantStatus) {
					t.Errorf("%s: verdict line %q; want %s", r, line, wantStatus)
				}
				if !strings.Contains(detail(out, "/pol/"+r+":v1"), problem) {
					t.Errorf("%s: the details do not mention %q:\n%s", r, problem, out)
				}
			}
			if line := findLine(out, "/pol/good:v1 "); !strings.Contains(line, "verified") {
				t.Errorf("good image: %q; want verified", line)
			}
			if level == "warn" && !strings.Contains(errOut, "warning:") {
				t.Errorf("warn level printed no warning:\n%s", errOut)
			}
			if level != "warn" && strings.Contains(errOut, "warning:") {
				t.Errorf("%s level printed warnings:\n%s", level, errOut)
			}
			if b, err := os.ReadFile(report); err != nil || !strings.Contains(string(b), `"`+wantStatus+`"`) {
				t.Errorf("report lacks %s verdicts: %v", wantStatus, err)
			}
		})
	}
}

// findLine returns the first line of out containing s.
func findLine(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// detail returns the indented problem lines about image.
func detail(out, image string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  ") && strings.Contains(l, image) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// copySignatures copies the .sig of every manifest of from onto the
// matching manifest of to (same position), as an attacker re-using valid
// signatures would.
func copySignatures(t *testing.T, from, to string) {
	t.Helper()
	ctx := context.Background()
	rc, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	src, _ := name.ParseReference(from)
	dst, _ := name.ParseReference(to)
	sd, err := rc.Resolve(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	dd, err := rc.Resolve(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	m, err := rc.Manifest(ctx, src.Context().Tag(cosign.Tag(sd.Digest, "sig")))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := cosign.ParseAttachment(m.Body)
	for _, l := range a.Layers {
		b, err := rc.Blob(ctx, src.Context(), l.Digest, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if err := rc.UploadBlob(ctx, dst.Context(), l.Digest, b); err != nil {
			t.Fatal(err)
		}
	}
	cfg := a.Config()
	if err := rc.UploadBlob(ctx, dst.Context(), cosign.NewLayer("", cfg, nil).Digest, cfg); err != nil {
		t.Fatal(err)
	}
	body, _ := a.Manifest(cfg)
	if _, err := rc.PutManifest(ctx, dst.Context().Tag(cosign.Tag(dd.Digest, "sig")), m.MediaType, body); err != nil {
		t.Fatal(err)
	}
}
