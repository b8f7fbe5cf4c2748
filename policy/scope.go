package policy

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/signet-project/signet/signature"
)

// Errors Scope.Chain wraps, besides signature.ErrUntrustedChain, so callers
// and reports can tell the failures apart.
var (
	// ErrRevoked: a key or certificate the rule revokes.
	ErrRevoked = errors.New("revoked")
	// ErrUnknownAuthority: the chain does not lead to one of the rule's roots.
	ErrUnknownAuthority = errors.New("not issued by a trusted root")
	// ErrExpired: a certificate is outside its validity now, or at the
	// signing time the signature records.
	ErrExpired = errors.New("certificate expired or not yet valid")
	// ErrKeyUsage: the leaf is not a code-signing certificate.
	ErrKeyUsage = errors.New("certificate not for code signing")
	// ErrIdentity: the leaf's subject is not a trusted identity.
	ErrIdentity = errors.New("untrusted identity")
)

// Scope is one trust rule: the repositories it covers, what it trusts
// there, and how hard it enforces. It implements signature.Trust, so every
// format verifies against it the same way, and decides the verdict for a
// subject from the formats' findings.
type Scope struct {
	// Name is the rule's name, unique in its file.
	Name string
	// Pos is where the rule starts.
	Pos Pos
	// Level says what a violation does.
	Level Level
	// Patterns are the scopes the rule covers.
	Patterns []Pattern
	// Identities are the trusted subject DN patterns as written; empty
	// means any identity a trusted root issued.
	Identities []string
	// RequiredFormats must each carry a trusted signature; when empty, one
	// trusted signature in any format suffices.
	RequiredFormats []string
	// RequiredAttestations are in-toto predicate types that must each be
	// attested by a trusted signer.
	RequiredAttestations []string

	keys           []trustedKey
	roots          []trustedRoot
	rootPool       *x509.CertPool
	identities     []*identity
	revokedKeys    map[string]string // fingerprint → where it was listed
	revokedCerts   map[string]string
	revokedSerials map[string]string
	revokedPubs    []crypto.PublicKey // keys loaded from revoked.keys files
	// revokedCertKeys maps the key fingerprint of each certificate read
	// from a revoked.certificates file to that certificate.
	revokedCertKeys map[string]*x509.Certificate
}

var _ signature.Trust = (*Scope)(nil)

// Keys returns the trusted public keys, revoked ones excluded: a key
// revoked.keys lists, and the key of a certificate the rule revokes (see
// keyRevocation).
func (s *Scope) Keys() []crypto.PublicKey {
	return s.keysWhere(false)
}

// RevokedKeys returns the public keys the rule lists as revoked that it
// could load (fingerprint-only entries have no key), and the keys listed
// under keys that revocation removes from Keys. A verifier that finds a
// signature by no trusted key may try these to report "revoked" rather
// than "untrusted key".
func (s *Scope) RevokedKeys() []crypto.PublicKey {
	out := s.keysWhere(true)
	for _, k := range s.revokedPubs {
		if !slices.ContainsFunc(out, func(o crypto.PublicKey) bool { return sameKey(o, k) }) {
			out = append(out, k)
		}
	}
	return out
}

// keysWhere returns each listed key once, those revoked or those not.
func (s *Scope) keysWhere(revoked bool) []crypto.PublicKey {
	var out []crypto.PublicKey
	seen := map[string]bool{}
	for _, k := range s.keys {
		if seen[k.fp] {
			continue
		}
		seen[k.fp] = true
		if (s.keyRevocation(k.fp) != "") == revoked {
			out = append(out, k.pub)
		}
	}
	return out
}

// keyRevocation says why the listed key with fingerprint fp is revoked, or
// returns "" when it is not. Besides revoked.keys, a key is revoked when a
// certificate carrying it is: a certificate listed under keys that
// revoked.certificates names by file, fingerprint or serial, or a
// certificate in a revoked.certificates file. This holds even when another
// entry lists the same key bare or in another certificate: a revoked
// certificate usually means a compromised key, and which entry was meant
// cannot be told, so the rule fails closed (Lint warns about each).
func (s *Scope) keyRevocation(fp string) string {
	if src, ok := s.revokedKeys[fp]; ok {
		return "it is listed by " + src
	}
	for _, k := range s.keys {
		if k.fp != fp || k.cert == nil {
			continue
		}
		if why := s.certRevocation(k.cert); why != "" {
			return "it is the key of " + why
		}
	}
	if c, ok := s.revokedCertKeys[fp]; ok {
		return "it is the key of " + s.certRevocation(c)
	}
	return ""
}

// Revoked reports whether pub is revoked by this rule, with the revocation
// entry's source for messages.
func (s *Scope) Revoked(pub crypto.PublicKey) (bool, string) {
	fp, err := KeyFingerprint(pub)
	if err != nil {
		return false, ""
	}
	src, ok := s.revokedKeys[fp]
	return ok, src
}

// sameCert reports whether a and b are the same certificate, or both nil.
func sameCert(a, b *x509.Certificate) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b)
}

func sameKey(a, b crypto.PublicKey) bool {
	if k, ok := a.(interface{ Equal(crypto.PublicKey) bool }); ok {
		return k.Equal(b)
	}
	return false
}

// Chain checks a certificate chain (leaf first) a signature carries,
// against this rule: nothing in it is revoked; it leads to one of the
// rule's roots, with the rest of the presented certificates as
// intermediates; every certificate on the path is valid now and, unless
// signingTime is zero, at signingTime; the leaf has keyUsage
// digitalSignature (critical) and extKeyUsage codeSigning, and is not a
// CA; and the leaf's subject matches a trusted identity. Errors wrap
// signature.ErrUntrustedChain and one of ErrRevoked, ErrUnknownAuthority,
// ErrExpired, ErrKeyUsage, ErrIdentity.
func (s *Scope) Chain(chain []*x509.Certificate, signingTime time.Time) error {
	if len(chain) == 0 || chain[0] == nil {
		return s.chainErr(nil, "no certificate chain")
	}
	for i, c := range chain {
		if c == nil {
			return s.chainErr(nil, fmt.Sprintf("certificate %d of the chain is missing", i))
		}
		if err := s.revokedCert(c, i == 0); err != nil {
			return err
		}
	}
	if len(s.roots) == 0 {
		return s.chainErr(ErrUnknownAuthority, "the rule trusts no certificate authority (it lists no roots)")
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	// The signing time is the signer's own claim, and signet verifies no
	// timestamp that could vouch for it; checking the path only then would
	// let whoever holds an expired certificate's key backdate signatures
	// for ever. So, as notation and cosign do without a trusted timestamp,
	// the path must be valid now.
	now := time.Now()
	paths, err := leaf.Verify(x509.VerifyOptions{
		Roots:         s.rootPool,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	})
	if err != nil {
		return s.verifyErr(leaf, err, now)
	}
	// A revoked certificate may sit on the verified path without having
	// been presented (a root, or an intermediate from the pool).
	for _, p := range paths {
		for _, c := range p {
			if err := s.revokedCert(c, false); err != nil {
				return err
			}
		}
	}
	if !signingTime.IsZero() {
		if err := s.validAtSigning(paths, signingTime); err != nil {
			return err
		}
	}
	if err := checkLeafUsage(leaf); err != nil {
		return s.chainErr(ErrKeyUsage, fmt.Sprintf("certificate %s: %v", describeCert(leaf), err))
	}
	if len(s.identities) == 0 {
		return nil
	}
	for _, id := range s.identities {
		if id.matches(leaf.Subject) {
			return nil
		}
	}
	return s.chainErr(ErrIdentity, fmt.Sprintf("identity %q of certificate %s is not among the trusted identities [%s]",
		leaf.Subject.String(), CertFingerprint(leaf), quoteList(s.Identities)))
}

func (s *Scope) revokedCert(c *x509.Certificate, leaf bool) error {
	if why := s.certRevocation(c); why != "" {
		return s.chainErr(ErrRevoked, why)
	}
	if leaf {
		if revoked, src := s.Revoked(c.PublicKey); revoked {
			kfp, _ := KeyFingerprint(c.PublicKey)
			return s.chainErr(ErrRevoked, fmt.Sprintf("certificate %s carries revoked key %s, listed by %s", describeCert(c), kfp, src))
		}
	}
	return nil
}

// certRevocation names the entry revoking c by fingerprint or serial, or
// returns "" when none does.
func (s *Scope) certRevocation(c *x509.Certificate) string {
	fp := CertFingerprint(c)
	if src, ok := s.revokedCerts[fp]; ok {
		return fmt.Sprintf("revoked certificate %s (%s), listed by %s", fp, c.Subject.String(), src)
	}
	if src, ok := s.revokedSerials[serialKey(c.SerialNumber)]; ok {
		return fmt.Sprintf("revoked certificate serial %s (%s, %s), listed by %s", serialKey(c.SerialNumber), c.Subject.String(), fp, src)
	}
	return ""
}

func (s *Scope) chainErr(kind error, msg string) error {
	return &ChainError{Rule: s.Name, Kind: kind, Msg: msg}
}

// ChainError is a certificate chain a trust rule rejects. It wraps
// signature.ErrUntrustedChain and, when one applies, the sentinel saying
// what failed (ErrRevoked, ErrUnknownAuthority, ErrExpired, ErrKeyUsage,
// ErrIdentity).
type ChainError struct {
	// Rule names the trust rule.
	Rule string
	// Kind is the sentinel for the failure, or nil.
	Kind error
	// Msg says precisely what failed.
	Msg string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("certificate chain not trusted by rule %q: %s", e.Rule, e.Msg)
}

// Unwrap returns signature.ErrUntrustedChain and Kind.
func (e *ChainError) Unwrap() []error {
	if e.Kind == nil {
		return []error{signature.ErrUntrustedChain}
	}
	return []error{signature.ErrUntrustedChain, e.Kind}
}

// validAtSigning requires a verified path to be valid at the signing time
// the signature records too, as notation does: a certificate cannot vouch
// for a signature made outside its validity.
func (s *Scope) validAtSigning(paths [][]*x509.Certificate, at time.Time) error {
	var bad *x509.Certificate
	for _, p := range paths {
		i := slices.IndexFunc(p, func(c *x509.Certificate) bool { return at.Before(c.NotBefore) || at.After(c.NotAfter) })
		if i < 0 {
			return nil
		}
		if bad == nil {
			bad = p[i]
		}
	}
	return s.chainErr(ErrExpired, validityMsg(bad, at, "signing time", ""))
}

func validityMsg(c *x509.Certificate, at time.Time, when, why string) string {
	state := "expired"
	if at.Before(c.NotBefore) {
		state = "not yet valid"
	}
	return fmt.Sprintf("certificate %s %s at %s %s (valid %s to %s%s)", describeCert(c), state, when, at.UTC().Format(time.RFC3339),
		c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), why)
}

// verifyErr turns crypto/x509's verdict at time at (now) into one that
// says what failed.
func (s *Scope) verifyErr(leaf *x509.Certificate, err error, at time.Time) error {
	var inv x509.CertificateInvalidError
	var unk x509.UnknownAuthorityError
	switch {
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		c := inv.Cert
		if c == nil {
			c = leaf
		}
		return s.chainErr(ErrExpired, validityMsg(c, at, "verification time", "; without a trusted timestamp the chain must be valid now"))
	case errors.As(err, &inv) && inv.Reason == x509.IncompatibleUsage:
		return s.chainErr(ErrKeyUsage, fmt.Sprintf("certificate %s: extended key usage lacks codeSigning (has %s)",
			describeCert(leaf), ekuNames(leaf)))
	case errors.As(err, &unk):
		issuer := leaf.Issuer.String()
		if unk.Cert != nil {
			issuer = unk.Cert.Issuer.String()
		}
		return s.chainErr(ErrUnknownAuthority, fmt.Sprintf("certificate %s does not chain to a trusted root (unknown issuer %q; trusted roots: %s)",
			describeCert(leaf), issuer, s.rootNames()))
	default:
		return s.chainErr(nil, fmt.Sprintf("certificate %s: %v", describeCert(leaf), err))
	}
}

func (s *Scope) rootNames() string {
	names := make([]string, len(s.roots))
	for i, r := range s.roots {
		names[i] = fmt.Sprintf("%q", r.cert.Subject.String())
	}
	return strings.Join(names, ", ")
}

// oidKeyUsage is the keyUsage extension (RFC 5280 4.2.1.3).
var oidKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 15}

// forbiddenLeafEKU are the extended key usages notation rejects on a
// signing leaf (notation-format.md §7).
var forbiddenLeafEKU = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageServerAuth:      "serverAuth",
	x509.ExtKeyUsageClientAuth:      "clientAuth",
	x509.ExtKeyUsageEmailProtection: "emailProtection",
	x509.ExtKeyUsageTimeStamping:    "timeStamping",
	x509.ExtKeyUsageOCSPSigning:     "OCSPSigning",
}

// checkLeafUsage applies the code-signing leaf rules crypto/x509 does not:
// keyUsage present, critical, digitalSignature and nothing a CA or an
// encryption key would carry; extKeyUsage naming codeSigning explicitly
// (crypto/x509 accepts a leaf with no EKU at all) and none of the TLS or
// e-mail usages; not a CA.
func checkLeafUsage(c *x509.Certificate) error {
	if c.IsCA {
		return errors.New("it is a CA certificate (basicConstraints cA=true), not a signing leaf")
	}
	critical, present := false, false
	for _, e := range c.Extensions {
		if e.Id.Equal(oidKeyUsage) {
			present, critical = true, e.Critical
		}
	}
	if !present {
		return errors.New("keyUsage is missing (want critical digitalSignature)")
	}
	if !critical {
		return errors.New("keyUsage is not marked critical")
	}
	if c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return errors.New("keyUsage lacks digitalSignature")
	}
	const bad = x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment | x509.KeyUsageKeyAgreement |
		x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageEncipherOnly | x509.KeyUsageDecipherOnly
	if c.KeyUsage&bad != 0 {
		return fmt.Errorf("keyUsage has bits a signing leaf must not carry (%#x)", int(c.KeyUsage&bad))
	}
	if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageCodeSigning) {
		return fmt.Errorf("extended key usage lacks codeSigning (has %s)", ekuNames(c))
	}
	for _, u := range c.ExtKeyUsage {
		if name, ok := forbiddenLeafEKU[u]; ok {
			return fmt.Errorf("extended key usage includes %s, which a code-signing leaf must not", name)
		}
	}
	return nil
}

func ekuNames(c *x509.Certificate) string {
	names := map[x509.ExtKeyUsage]string{
		x509.ExtKeyUsageAny: "any", x509.ExtKeyUsageCodeSigning: "codeSigning",
	}
	for k, v := range forbiddenLeafEKU {
		names[k] = v
	}
	var out []string
	for _, u := range c.ExtKeyUsage {
		if n, ok := names[u]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("eku(%d)", int(u)))
		}
	}
	for _, oid := range c.UnknownExtKeyUsage {
		out = append(out, oid.String())
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

func describeCert(c *x509.Certificate) string {
	return fmt.Sprintf("%q (%s)", c.Subject.String(), CertFingerprint(c))
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// selfSigned reports whether c names itself as issuer and its signature
// verifies with its own key.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}
