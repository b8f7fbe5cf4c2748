package policy

import (
	"crypto"
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
			message: []string{"expired at verification time", "(valid "}},
		// The signing time is the signer's claim: backdating it into the
		// validity of an expired certificate must not help.
		{name: "expired leaf, signing time claims it was valid", chain: p.chain(f.leaves["expired"]), at: longAgo, kind: ErrExpired,
			message: []string{"expired at verification time", "without a trusted timestamp the chain must be valid now"}},
		{name: "signed before the leaf was valid", chain: p.chain(p.leaf), at: time.Now().Add(-48 * time.Hour), kind: ErrExpired,
			message: []string{"not yet valid at signing time"}},
		{name: "signing time after the leaf expires", chain: p.chain(p.leaf), at: time.Now().Add(48 * time.Hour), kind: ErrExpired,
			message: []string{"expired at signing time"}},
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

// A certificate listed under keys is trusted as a bare key; revoking the
// certificate, in any of the ways revoked.certificates names one, must
// revoke that key too, whatever other entries list it.
func TestKeysOfRevokedCertificate(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t, "Acme")
	leaf, leafKey := p.issueLeaf(t, certSpec{subject: leafSubject("release-signer"), serial: big.NewInt(0x3fa109)})
	renewed, _ := p.issueLeaf(t, certSpec{subject: leafSubject("release-signer"), key: leafKey})
	other, _ := p.issueLeaf(t, certSpec{subject: leafSubject("other"), serial: big.NewInt(0x77)})
	writeFile(t, dir, "certs/signer.pem", certPEM(leaf))
	writeFile(t, dir, "certs/renewed.pem", certPEM(renewed))
	writeFile(t, dir, "certs/other.pem", certPEM(other))
	writeFile(t, dir, "keys/signer.pub", pubPEM(t, leafKey.Public()))
	tests := []struct {
		name    string
		keys    string
		revoked string
		trusted bool
		lint    []string // substrings of the warnings, one per entry listing the key
	}{
		{name: "certificate revoked by file", keys: "[certs/signer.pem]", revoked: "certificates: [certs/signer.pem]",
			lint: []string{"key certs/signer.pem (sha256:", "is also revoked: it is the key of revoked certificate sha256:", "listed by revoked.certificates[0]"}},
		{name: "certificate revoked by serial", keys: "[certs/signer.pem]", revoked: `certificates: ["serial:3f:a1:09"]`,
			lint: []string{"key certs/signer.pem", "revoked certificate serial 3fa109"}},
		{name: "certificate revoked by fingerprint", keys: "[certs/signer.pem]", revoked: fmt.Sprintf("certificates: [%q]", CertFingerprint(leaf)),
			lint: []string{"key certs/signer.pem", "revoked certificate " + CertFingerprint(leaf)}},
		{name: "key revoked", keys: "[certs/signer.pem]", revoked: "keys: [keys/signer.pub]",
			lint: []string{"key certs/signer.pem", "it is listed by revoked.keys[0]"}},
		// Which of two entries for one key was meant cannot be told: the
		// revocation wins either way round.
		{name: "also listed bare, bare first", keys: "[keys/signer.pub, certs/signer.pem]", revoked: "certificates: [certs/signer.pem]",
			lint: []string{"key keys/signer.pub", "key certs/signer.pem"}},
		{name: "also listed bare, certificate first", keys: "[certs/signer.pem, keys/signer.pub]", revoked: `certificates: ["serial:3fa109"]`,
			lint: []string{"key keys/signer.pub", "key certs/signer.pem"}},
		{name: "renewed certificate with the same key", keys: "[certs/renewed.pem, certs/signer.pem]", revoked: `certificates: ["serial:3fa109"]`,
			lint: []string{"key certs/renewed.pem", "key certs/signer.pem"}},
		{name: "bare key of a revoked certificate file", keys: "[keys/signer.pub]", revoked: "certificates: [certs/signer.pem]",
			lint: []string{"key keys/signer.pub", "it is the key of revoked certificate"}},
		{name: "another certificate revoked by file", keys: "[certs/signer.pem]", revoked: "certificates: [certs/other.pem]", trusted: true},
		{name: "another certificate revoked by serial", keys: "[certs/signer.pem]", revoked: `certificates: ["serial:77"]`, trusted: true},
		// A serial names no key: a bare key cannot be tied to it.
		{name: "bare key, serial of its certificate", keys: "[keys/signer.pub]", revoked: `certificates: ["serial:3fa109"]`, trusted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := mustParse(t, dir, dedent(`
				apiVersion: signet.dev/v1
				kind: TrustPolicy
				trust:
				  - name: prod
				    scopes: ["*"]
				    level: enforce
				    keys: `+tt.keys+`
				    revoked: {`+tt.revoked+`}
				`))
			s := pol.Trust[0]
			has := func(keys []crypto.PublicKey) int {
				n := 0
				for _, k := range keys {
					if sameKey(k, leafKey.Public()) {
						n++
					}
				}
				return n
			}
			want := map[bool]int{true: 1, false: 0}
			if got := has(s.Keys()); got != want[tt.trusted] {
				t.Errorf("Keys() lists the key %d times; want %d", got, want[tt.trusted])
			}
			if got := has(s.RevokedKeys()); got != want[!tt.trusted] {
				t.Errorf("RevokedKeys() lists the key %d times; want %d", got, want[!tt.trusted])
			}
			var warnings []string
			for _, pr := range pol.Lint() {
				if strings.Contains(pr.Msg, "is also revoked") {
					if pr.Severity != SeverityWarning {
						t.Errorf("%s: severity %s; want warning", pr, pr.Severity)
					}
					warnings = append(warnings, pr.String())
				}
			}
			all := strings.Join(warnings, "\n")
			if tt.trusted && len(warnings) > 0 {
				t.Errorf("Lint() =\n%s\nwant no revoked key", all)
			}
			for _, w := range tt.lint {
				if !strings.Contains(all, w) {
					t.Errorf("Lint() =\n%s\nwant a warning containing %q", all, w)
				}
			}
		})
	}
}

// Without a trusted timestamp the signing time is only the signer's
// claim: every certificate on the path must be valid now, including a root
// the signature did not carry, whatever signing time it records.
func TestChainValidNow(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	root, rootKey := issue(t, certSpec{subject: pkix.Name{CommonName: "Old Root", Organization: []string{"Acme"}}, ca: true,
		ku: x509.KeyUsageCertSign, notBefore: now.Add(-3 * yearDur), notAfter: now.Add(-yearDur)}, nil, nil)
	inter, interKey := issue(t, certSpec{subject: pkix.Name{CommonName: "Old Signing CA", Organization: []string{"Acme"}}, ca: true,
		ku: x509.KeyUsageCertSign, notBefore: now.Add(-3 * yearDur), notAfter: now.Add(yearDur)}, root, rootKey)
	leaf, _ := issue(t, certSpec{subject: leafSubject("release-signer"), ku: x509.KeyUsageDigitalSignature,
		eku: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, notBefore: now.Add(-2 * yearDur), notAfter: now.Add(yearDur)}, inter, interKey)
	writeFile(t, dir, "old-root.pem", certPEM(root))
	s := mustParse(t, dir, dedent(`
		apiVersion: signet.dev/v1
		kind: TrustPolicy
		trust:
		  - name: prod
		    scopes: ["*"]
		    level: enforce
		    roots: [old-root.pem]
		    identities: ["CN=release-signer"]
		`)).Trust[0]
	whileRootValid := now.Add(-18 * 30 * 24 * time.Hour)
	tests := []struct {
		name  string
		chain []*x509.Certificate
		at    time.Time
	}{
		{"root not carried, signing time while it was valid", []*x509.Certificate{leaf, inter}, whileRootValid},
		{"root carried, signing time while it was valid", []*x509.Certificate{leaf, inter, root}, whileRootValid},
		{"no signing time", []*x509.Certificate{leaf, inter}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Chain(tt.chain, tt.at)
			if !errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), `certificate "CN=Old Root,O=Acme"`) ||
				!strings.Contains(err.Error(), "expired at verification time") {
				t.Errorf("Chain() = %v; want ErrExpired for the root at verification time", err)
			}
		})
	}
}
