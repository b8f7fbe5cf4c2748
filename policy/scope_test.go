package policy

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/signet-project/signet/signature"
)

// chainFixture is a trust rule over a real PKI, with leaves for every way a
// chain can fail.
type chainFixture struct {
	scope  *Scope
	pki    *testPKI
	evil   *testPKI
	leaves map[string]*x509.Certificate
}

const yearDur = 365 * 24 * time.Hour

func newChainFixture(t *testing.T) *chainFixture {
	t.Helper()
	dir := t.TempDir()
	f := &chainFixture{pki: newPKI(t, "Acme"), evil: newPKI(t, "Evil"), leaves: map[string]*x509.Certificate{}}
	p := f.pki
	issueLeaf := func(name string, spec certSpec) *x509.Certificate {
		if spec.subject.CommonName == "" {
			spec.subject = leafSubject("release-signer")
		}
		c, _ := p.issueLeaf(t, spec)
		f.leaves[name] = c
		return c
	}
	issueLeaf("expired", certSpec{notBefore: time.Now().Add(-2 * yearDur), notAfter: time.Now().Add(-yearDur)})
	issueLeaf("server", certSpec{eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	issueLeaf("no-eku", certSpec{eku: []x509.ExtKeyUsage{}})
	issueLeaf("code+client", certSpec{eku: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning, x509.ExtKeyUsageClientAuth}})
	issueLeaf("no-digitalsignature", certSpec{ku: x509.KeyUsageContentCommitment})
	issueLeaf("intruder", certSpec{subject: leafSubject("intruder")})
	leaked := issueLeaf("leaked", certSpec{})
	issueLeaf("serial-revoked", certSpec{serial: big.NewInt(0x5eed)})
	revokedKey := newKey(t)
	issueLeaf("revoked-key", certSpec{key: revokedKey})
	issueLeaf("ca-as-leaf", certSpec{ca: true, ku: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign})

	writeFile(t, dir, "ca/root.pem", certPEM(p.root))
	writeFile(t, dir, "certs/leaked.pem", certPEM(leaked))
	writeFile(t, dir, "keys/revoked.pub", pubPEM(t, revokedKey.Public()))
	pol := mustParse(t, dir, dedent(`
		apiVersion: signet.dev/v1
		kind: TrustPolicy
		trust:
		  - name: prod
		    scopes: ["*"]
		    level: enforce
		    roots: [ca/root.pem]
		    identities: ["CN=release-signer, O=Acme, C=US"]
		    revoked:
		      keys: [keys/revoked.pub]
		      certificates: [certs/leaked.pem, "serial:5E:ED"]
		`))
	f.scope = pol.Trust[0]
	return f
}

func TestChain(t *testing.T) {
	f := newChainFixture(t)
	p := f.pki
	longAgo := time.Now().Add(-18 * 30 * 24 * time.Hour) // inside the expired leaf's validity
	tests := []struct {
		name    string
		chain   []*x509.Certificate
		at      time.Time
		kind    error    // nil: trusted
		message []string // substrings of the error
	}{
		{name: "trusted", chain: p.chain(p.leaf)},
		{name: "trusted without the root presented", chain: []*x509.Certificate{p.leaf, p.inter}},
		{name: "trusted at an explicit signing time", chain: p.chain(p.leaf), at: time.Now().Add(-time.Minute)},
		{name: "untrusted CA", chain: f.evil.chain(f.evil.leaf), kind: ErrUnknownAuthority,
			message: []string{`certificate chain not trusted by rule "prod"`, "does not chain to a trusted root", `unknown issuer "CN=Evil`, `trusted roots: "CN=Acme Root CA,O=Acme"`}},
		{name: "missing intermediate", chain: []*x509.Certificate{p.leaf}, kind: ErrUnknownAuthority},
		{name: "expired leaf, signed now", chain: p.chain(f.leaves["expired"]), kind: ErrExpired,
			message: []string{"expired at signing time", "(valid "}},
		{name: "expired leaf, signed while valid", chain: p.chain(f.leaves["expired"]), at: longAgo},
		{name: "signed before the leaf was valid", chain: p.chain(p.leaf), at: time.Now().Add(-48 * time.Hour), kind: ErrExpired,
			message: []string{"not yet valid at signing time"}},
		{name: "serverAuth EKU", chain: p.chain(f.leaves["server"]), kind: ErrKeyUsage,
			message: []string{"extended key usage lacks codeSigning (has serverAuth)"}},
		{name: "no EKU", chain: p.chain(f.leaves["no-eku"]), kind: ErrKeyUsage, message: []string{"lacks codeSigning (has none)"}},
		{name: "codeSigning with clientAuth", chain: p.chain(f.leaves["code+client"]), kind: ErrKeyUsage, message: []string{"includes clientAuth"}},
		{name: "keyUsage without digitalSignature", chain: p.chain(f.leaves["no-digitalsignature"]), kind: ErrKeyUsage,
			message: []string{"keyUsage lacks digitalSignature"}},
		{name: "CA certificate as leaf", chain: p.chain(f.leaves["ca-as-leaf"]), kind: ErrKeyUsage, message: []string{"is a CA certificate"}},
		{name: "wrong identity", chain: p.chain(f.leaves["intruder"]), kind: ErrIdentity,
			message: []string{`identity "CN=intruder,O=Acme,ST=WA,C=US"`, `not among the trusted identities ["CN=release-signer, O=Acme, C=US"]`}},
		{name: "revoked by fingerprint", chain: p.chain(f.leaves["leaked"]), kind: ErrRevoked,
			message: []string{"revoked certificate sha256:", "listed by revoked.certificates[0]"}},
		{name: "revoked by serial", chain: p.chain(f.leaves["serial-revoked"]), kind: ErrRevoked,
			message: []string{"revoked certificate serial 5eed", "revoked.certificates[1]"}},
		{name: "revoked key", chain: p.chain(f.leaves["revoked-key"]), kind: ErrRevoked,
			message: []string{"carries revoked key sha256:", "revoked.keys[0]"}},
		{name: "empty chain", chain: nil, kind: signature.ErrUntrustedChain, message: []string{"no certificate chain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.scope.Chain(tt.chain, tt.at)
			if tt.kind == nil {
				if err != nil {
					t.Fatalf("Chain() = %v; want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Chain() = nil; want %v", tt.kind)
			}
			if !errors.Is(err, signature.ErrUntrustedChain) || !errors.Is(err, tt.kind) {
				t.Errorf("Chain() = %v; want it to wrap ErrUntrustedChain and %v", err, tt.kind)
			}
			for _, m := range tt.message {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("Chain() = %v\nwant it to contain %q", err, m)
				}
			}
		})
	}
}

func TestChainRevokedIntermediateAndRoot(t *testing.T) {
	p := newPKI(t, "Acme")
	dir := t.TempDir()
	writeFile(t, dir, "root.pem", certPEM(p.root))
	base := dedent(`
		apiVersion: signet.dev/v1
		kind: TrustPolicy
		trust:
		  - name: r
		    scopes: ["*"]
		    level: enforce
		    roots: [root.pem]
		    identities: ["*"]
		`)
	for name, entry := range map[string]string{
		"intermediate by serial": fmt.Sprintf("serial:%x", p.inter.SerialNumber),
		"root by fingerprint":    CertFingerprint(p.root),
	} {
		t.Run(name, func(t *testing.T) {
			s := mustParse(t, dir, base+fmt.Sprintf("    revoked: {certificates: [%q]}\n", entry)).Trust[0]
			// Present only the leaf and intermediate: the root is found in
			// the pool, and must still be checked.
			err := s.Chain([]*x509.Certificate{p.leaf, p.inter}, time.Time{})
			if !errors.Is(err, ErrRevoked) {
				t.Errorf("Chain() = %v; want ErrRevoked", err)
			}
		})
	}
}

func TestChainSelfSignedLeafAsRoot(t *testing.T) {
	dir := t.TempDir()
	leaf, _ := issue(t, certSpec{subject: leafSubject("solo"), ku: x509.KeyUsageDigitalSignature,
		eku: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}, nil, nil)
	writeFile(t, dir, "solo.pem", certPEM(leaf))
	s := mustParse(t, dir, dedent(`
		apiVersion: signet.dev/v1
		kind: TrustPolicy
		trust:
		  - name: solo
		    scopes: ["*"]
		    level: enforce
		    roots: [solo.pem]
		    identities: ["CN=solo"]
		`)).Trust[0]
	if err := s.Chain([]*x509.Certificate{leaf}, time.Time{}); err != nil {
		t.Errorf("Chain(self-signed leaf that is a root) = %v; want nil", err)
	}
}

func TestChainNoRootsAndWildcardIdentity(t *testing.T) {
	p := newPKI(t, "Acme")
	dir := t.TempDir()
	k := newKey(t)
	writeFile(t, dir, "k.pub", pubPEM(t, k.Public()))
	writeFile(t, dir, "root.pem", certPEM(p.root))
	pol := mustParse(t, dir, dedent(`
		apiVersion: signet.dev/v1
		kind: TrustPolicy
		trust:
		  - name: keys-only
		    scopes: ["a.io/**"]
		    level: enforce
		    keys: [k.pub]
		  - name: wildcard
		    scopes: ["b.io/**"]
		    level: enforce
		    roots: [root.pem]
		    identities: ["CN=release-*, O=Acme"]
		`))
	if err := pol.Trust[0].Chain(p.chain(p.leaf), time.Time{}); !errors.Is(err, ErrUnknownAuthority) || !strings.Contains(err.Error(), "trusts no certificate authority") {
		t.Errorf("Chain(keys-only rule) = %v; want ErrUnknownAuthority (no roots)", err)
	}
	if err := pol.Trust[1].Chain(p.chain(p.leaf), time.Time{}); err != nil {
		t.Errorf("Chain(CN=release-*) = %v; want nil", err)
	}
	other, _ := p.issueLeaf(t, certSpec{subject: pkix.Name{CommonName: "build-signer", Organization: []string{"Acme"}}})
	if err := pol.Trust[1].Chain(p.chain(other), time.Time{}); !errors.Is(err, ErrIdentity) {
		t.Errorf("Chain(CN=build-signer) = %v; want ErrIdentity", err)
	}
}
