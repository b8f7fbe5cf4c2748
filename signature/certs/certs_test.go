package certs_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-project/signet/signature/certs"
)

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func dn(cn string) pkix.Name { return pkix.Name{CommonName: cn, Organization: []string{"signet"}} }

// threeLevels returns leaf, intermediate, root for leafKey.
func threeLevels(t testing.TB, leafKey crypto.Signer) []*x509.Certificate {
	t.Helper()
	root, err := certs.NewRootCA(newKey(t), dn("root"), 0)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.IssueIntermediate(newKey(t), dn("intermediate"), 0)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := inter.IssueLeaf(leafKey.Public(), certs.LeafOptions{Subject: dn("leaf"), SANs: []string{"https://signet.example/ci", "ci@signet.example", "signer.example"}})
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

func TestIssuedProfile(t *testing.T) {
	key := newKey(t)
	chain := threeLevels(t, key)
	if len(chain) != 3 {
		t.Fatalf("IssueLeaf chain = %d certificates; want 3", len(chain))
	}
	leaf, inter, root := chain[0], chain[1], chain[2]
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature || !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}) || leaf.IsCA {
		t.Errorf("leaf KU %v EKU %v CA %v; want digitalSignature, codeSigning only, not a CA", leaf.KeyUsage, leaf.ExtKeyUsage, leaf.IsCA)
	}
	if len(leaf.URIs) != 1 || len(leaf.EmailAddresses) != 1 || len(leaf.DNSNames) != 1 {
		t.Errorf("leaf SANs: URIs %v, e-mail %v, DNS %v; want one each", leaf.URIs, leaf.EmailAddresses, leaf.DNSNames)
	}
	if !inter.IsCA || !inter.MaxPathLenZero || inter.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("intermediate = CA %v pathlen0 %v KU %v", inter.IsCA, inter.MaxPathLenZero, inter.KeyUsage)
	}
	if !certs.SelfSigned(root) || !root.IsCA {
		t.Error("root is not a self-signed CA")
	}
	for _, c := range chain {
		if len(c.OCSPServer) > 0 || len(c.CRLDistributionPoints) > 0 {
			t.Errorf("%s names revocation services; notation would have to reach them", c.Subject)
		}
		if c.NotAfter.After(root.NotAfter) {
			t.Errorf("%s outlives the root", c.Subject)
		}
	}
	if err := certs.ValidateCodeSigningChain(chain, time.Now()); err != nil {
		t.Errorf("ValidateCodeSigningChain(issued) = %v", err)
	}
}

// mk makes a certificate from tmpl signed by parent's key (self-signed when
// parent is nil), for rule-breaking chains the CA helpers refuse to make.
func mk(t *testing.T, tmpl *x509.Certificate, key crypto.Signer, parent *x509.Certificate, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
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
	return c
}

func TestValidateCodeSigningChainRules(t *testing.T) {
	rootKey, leafKey := newKey(t), newKey(t)
	caTmpl := func() *x509.Certificate {
		return &x509.Certificate{Subject: dn("root"), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	}
	root := mk(t, caTmpl(), rootKey, nil, nil)
	leafTmpl := func() *x509.Certificate {
		return &x509.Certificate{Subject: dn("leaf"), BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	}
	leaf := func(mod func(*x509.Certificate)) *x509.Certificate {
		tm := leafTmpl()
		if mod != nil {
			mod(tm)
		}
		return mk(t, tm, leafKey, root, rootKey)
	}
	good := leaf(nil)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallRSA := func() *x509.Certificate {
		tm := leafTmpl()
		tm.SerialNumber = big.NewInt(7)
		tm.NotBefore, tm.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, tm, root, rsaKey.Public(), rootKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}()
	noKUroot := mk(t, &x509.Certificate{Subject: dn("root2"), IsCA: true, BasicConstraintsValid: true}, rootKey, nil, nil)
	otherRoot := mk(t, caTmpl(), newKey(t), nil, nil)
	tests := []struct {
		name  string
		chain []*x509.Certificate
		at    time.Time
		want  string // "" = valid
	}{
		{"leaf and root", []*x509.Certificate{good, root}, time.Now(), ""},
		{"zero signing time skips validity", []*x509.Certificate{good, root}, time.Time{}, ""},
		{"empty", nil, time.Now(), "empty"},
		{"no root", []*x509.Certificate{good}, time.Now(), "self-signed"},
		{"wrong order", []*x509.Certificate{root, good}, time.Now(), "self-signed but not last"},
		{"another root", []*x509.Certificate{good, otherRoot}, time.Now(), "not issued by"},
		{"expired at signing time", []*x509.Certificate{good, root}, time.Now().Add(2 * time.Hour), "valid from"},
		{"leaf is a CA", []*x509.Certificate{leaf(func(c *x509.Certificate) { c.IsCA = true; c.KeyUsage |= x509.KeyUsageCertSign }), root}, time.Now(), "is a CA"},
		{"leaf without digitalSignature", []*x509.Certificate{leaf(func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageContentCommitment }), root}, time.Now(), "lacks digitalSignature"},
		{"leaf with keyEncipherment", []*x509.Certificate{leaf(func(c *x509.Certificate) { c.KeyUsage |= x509.KeyUsageKeyEncipherment }), root}, time.Now(), "keyEncipherment"},
		{"leaf with serverAuth", []*x509.Certificate{leaf(func(c *x509.Certificate) { c.ExtKeyUsage = append(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) }), root}, time.Now(), "serverAuth"},
		{"leaf without keyUsage", []*x509.Certificate{leaf(func(c *x509.Certificate) { c.KeyUsage = 0 }), root}, time.Now(), "critical keyUsage"},
		{"RSA 1024 leaf", []*x509.Certificate{smallRSA, root}, time.Now(), "1024 bits"},
		{"CA without keyUsage", []*x509.Certificate{mk(t, leafTmpl(), leafKey, noKUroot, rootKey), noKUroot}, time.Now(), "critical keyUsage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := certs.ValidateCodeSigningChain(tt.chain, tt.at)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateCodeSigningChain() = %v", err)
				}
				return
			}
			if !errors.Is(err, certs.ErrInvalidChain) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ValidateCodeSigningChain() = %v; want ErrInvalidChain mentioning %q", err, tt.want)
			}
		})
	}
}

func TestOrder(t *testing.T) {
	key := newKey(t)
	chain := threeLevels(t, key)
	shuffled := []*x509.Certificate{chain[2], chain[0], chain[1], chain[0]}
	for _, pub := range []crypto.PublicKey{key.Public(), nil} {
		got, err := certs.Order(shuffled, pub)
		if err != nil {
			t.Fatalf("Order(pub=%v) = %v", pub != nil, err)
		}
		if !slices.EqualFunc(got, chain, func(a, b *x509.Certificate) bool { return a.Equal(b) }) {
			t.Errorf("Order(pub=%v) = %v; want leaf, intermediate, root", pub != nil, subjects(got))
		}
	}
	if _, err := certs.Order(chain, newKey(t).Public()); err == nil {
		t.Error("Order(another key) = nil error")
	}
	stray := threeLevels(t, newKey(t))[2]
	if _, err := certs.Order(append(slices.Clone(chain), stray), key.Public()); err == nil || !strings.Contains(err.Error(), "not on the path") {
		t.Errorf("Order(stray root) = %v; want an error naming it", err)
	}
}

func subjects(cs []*x509.Certificate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Subject.CommonName)
	}
	return out
}

func TestPEMAndCSR(t *testing.T) {
	key := newKey(t)
	chain := threeLevels(t, key)
	back, err := certs.ParsePEM(append([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), certs.EncodePEM(chain)...))
	if err != nil || len(back) != 3 || !back[0].Equal(chain[0]) {
		t.Fatalf("ParsePEM(EncodePEM()) = %d, %v", len(back), err)
	}
	if _, err := certs.ParsePEM([]byte("nothing")); err == nil {
		t.Error("ParsePEM(no PEM) = nil error")
	}
	csrPEM, err := certs.NewCSR(key, dn("requester"))
	if err != nil {
		t.Fatal(err)
	}
	csr, err := certs.ParseCSR(csrPEM)
	if err != nil || csr.Subject.CommonName != "requester" || !key.PublicKey.Equal(csr.PublicKey) {
		t.Fatalf("ParseCSR(NewCSR()) = %v, %v", csr, err)
	}
	bad := []byte(strings.Replace(string(csrPEM), "A", "B", 1))
	if _, err := certs.ParseCSR(bad); err == nil {
		t.Error("ParseCSR(altered) = nil error")
	}
	ca, err := certs.LoadCA(certs.EncodePEM(chain[1:]), newKey(t))
	if err == nil {
		t.Errorf("LoadCA(wrong key) = %v; want an error", ca)
	}
}

func TestParseDN(t *testing.T) {
	n, err := certs.ParseDN(`CN=batch signer, O=Acme\, Inc.,ST=WA,S=Ignored,C=US,OU=a,OU=b`)
	if err != nil {
		t.Fatal(err)
	}
	if n.CommonName != "batch signer" || n.Organization[0] != "Acme, Inc." || !slices.Equal(n.Province, []string{"WA", "Ignored"}) ||
		n.Country[0] != "US" || len(n.OrganizationalUnit) != 2 {
		t.Errorf("ParseDN() = %+v", n)
	}
	for _, bad := range []string{"", "CN", "X=1", "CN=a,CN=b", "CN="} {
		if _, err := certs.ParseDN(bad); err == nil {
			t.Errorf("ParseDN(%q) = nil error", bad)
		}
	}
}

func ExampleParseDN() {
	n, _ := certs.ParseDN("CN=batch signer,O=Acme,ST=WA,C=US")
	fmt.Println(n.String())
	// Output: CN=batch signer,O=Acme,ST=WA,C=US
}
