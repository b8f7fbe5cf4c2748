package policy

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var serialCounter atomic.Int64

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// certSpec describes a certificate to issue.
type certSpec struct {
	subject   pkix.Name
	ca        bool
	notBefore time.Time
	notAfter  time.Time
	ku        x509.KeyUsage
	eku       []x509.ExtKeyUsage
	serial    *big.Int
	key       *ecdsa.PrivateKey
}

// issue creates a certificate for spec, signed by parent/parentKey, or
// self-signed when parent is nil.
func issue(t testing.TB, spec certSpec, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key := spec.key
	if key == nil {
		key = newKey(t)
	}
	if spec.notBefore.IsZero() {
		spec.notBefore = time.Now().Add(-time.Hour)
	}
	if spec.notAfter.IsZero() {
		spec.notAfter = time.Now().Add(24 * time.Hour)
	}
	serial := spec.serial
	if serial == nil {
		serial = big.NewInt(1000 + serialCounter.Add(1))
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               spec.subject,
		NotBefore:             spec.notBefore,
		NotAfter:              spec.notAfter,
		KeyUsage:              spec.ku,
		ExtKeyUsage:           spec.eku,
		BasicConstraintsValid: true,
		IsCA:                  spec.ca,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// testPKI is a root, an intermediate and a code-signing leaf, the way a
// corporate CA issues signing certificates.
type testPKI struct {
	root, inter, leaf          *x509.Certificate
	rootKey, interKey, leafKey *ecdsa.PrivateKey
}

func leafSubject(cn string) pkix.Name {
	return pkix.Name{CommonName: cn, Organization: []string{"Acme"}, Country: []string{"US"}, Province: []string{"WA"}}
}

func newPKI(t testing.TB, name string) *testPKI {
	t.Helper()
	p := &testPKI{}
	p.root, p.rootKey = issue(t, certSpec{
		subject: pkix.Name{CommonName: name + " Root CA", Organization: []string{"Acme"}},
		ca:      true, ku: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		notBefore: time.Now().Add(-10 * 365 * 24 * time.Hour), notAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
	}, nil, nil)
	p.inter, p.interKey = issue(t, certSpec{
		subject: pkix.Name{CommonName: name + " Signing CA", Organization: []string{"Acme"}},
		ca:      true, ku: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		notBefore: time.Now().Add(-5 * 365 * 24 * time.Hour), notAfter: time.Now().Add(5 * 365 * 24 * time.Hour),
	}, p.root, p.rootKey)
	p.leaf, p.leafKey = p.issueLeaf(t, certSpec{subject: leafSubject("release-signer")})
	return p
}

// issueLeaf issues a code-signing leaf from the intermediate; unset usages
// default to critical digitalSignature and EKU codeSigning.
func (p *testPKI) issueLeaf(t testing.TB, spec certSpec) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	if spec.ku == 0 {
		spec.ku = x509.KeyUsageDigitalSignature
	}
	if spec.eku == nil {
		spec.eku = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	}
	return issue(t, spec, p.inter, p.interKey)
}

func (p *testPKI) chain(leaf *x509.Certificate) []*x509.Certificate {
	return []*x509.Certificate{leaf, p.inter, p.root}
}

func certPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

func pubPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func privPEM(t testing.TB, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func fingerprint(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	fp, err := KeyFingerprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

// parseText parses policy text as if read from dir/policy.yaml.
func parseText(t testing.TB, dir, text string, opts ...Option) (*Policy, error) {
	t.Helper()
	return Parse(context.Background(), []byte(text), filepath.Join(dir, "policy.yaml"), opts...)
}

func mustParse(t testing.TB, dir, text string, opts ...Option) *Policy {
	t.Helper()
	p, err := parseText(t, dir, text, opts...)
	if err != nil {
		t.Fatalf("Parse() = %v", err)
	}
	return p
}

// dedent strips the common leading tabs of a raw string literal, so tests
// can indent YAML with the code around it.
func dedent(s string) string {
	s = strings.TrimPrefix(s, "\n")
	lines := strings.Split(s, "\n")
	prefix := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, "\t"))
		if prefix < 0 || n < prefix {
			prefix = n
		}
	}
	for i, l := range lines {
		if len(l) >= prefix && prefix > 0 {
			lines[i] = l[prefix:]
		}
	}
	return strings.Join(lines, "\n")
}
