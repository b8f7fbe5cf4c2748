package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalidChain is wrapped by every ValidateCodeSigningChain failure, so
// callers can tell a chain that breaks the rules from other errors.
var ErrInvalidChain = errors.New("invalid code-signing certificate chain")

// ParsePEM returns every CERTIFICATE block of data in file order. Other PEM
// blocks (a private key in the same file, say) are skipped; data with no
// certificate at all is an error, since a caller that read a file wanted
// one.
func ParsePEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := data; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing PEM certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	return out, nil
}

// EncodePEM writes certs as consecutive CERTIFICATE blocks.
func EncodePEM(certs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		// Encoding into a bytes.Buffer cannot fail.
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// Describe names a certificate in messages: its subject and the start of its
// SHA-256 fingerprint, which tells apart certificates sharing a name.
func Describe(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return fmt.Sprintf("%q (sha256 %s…)", c.Subject.String(), hex.EncodeToString(sum[:6]))
}

// Thumbprints returns the lowercase hex SHA-256 of each certificate's DER,
// in chain order: the value notation writes, JSON-encoded, in the
// io.cncf.notary.x509chain.thumbprint#S256 annotation.
func Thumbprints(chain []*x509.Certificate) []string {
	out := make([]string, len(chain))
	for i, c := range chain {
		sum := sha256.Sum256(c.Raw)
		out[i] = hex.EncodeToString(sum[:])
	}
	return out
}

// SelfSigned reports whether c names itself as issuer and its signature
// verifies with its own key. Unlike x509's CheckSignatureFrom it does not
// require c to be a CA, so a self-signed leaf counts too.
func SelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// issuedBy reports whether parent signed child.
func issuedBy(child, parent *x509.Certificate) bool {
	return bytes.Equal(child.RawIssuer, parent.RawSubject) &&
		parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature) == nil
}

// SamePublicKey reports whether a and b are the same public key.
func SamePublicKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

// Order returns certs leaf first, each certificate followed by its issuer.
// The leaf is the certificate for pub; with pub nil, the one certificate that
// issued none of the others. Duplicates are dropped. Tokens and PEM files
// hold certificates in no particular order, while notation's x5c and
// cosign's chains want leaf to root.
//
// A certificate that is not on the leaf's path is an error rather than
// silently kept or dropped: a stray certificate in a chain file usually
// means the wrong file.
func Order(certs []*x509.Certificate, pub crypto.PublicKey) ([]*x509.Certificate, error) {
	var uniq []*x509.Certificate
	for _, c := range certs {
		dup := false
		for _, u := range uniq {
			if bytes.Equal(u.Raw, c.Raw) {
				dup = true
				break
			}
		}
		if !dup {
			uniq = append(uniq, c)
		}
	}
	if len(uniq) == 0 {
		return nil, errors.New("ordering certificate chain: no certificates")
	}
	leaf := -1
	if pub != nil {
		for i, c := range uniq {
			if SamePublicKey(c.PublicKey, pub) {
				leaf = i
				break
			}
		}
		if leaf < 0 {
			return nil, fmt.Errorf("ordering certificate chain: none of the %d certificates is for the key", len(uniq))
		}
	} else {
		var candidates []int
		for i, c := range uniq {
			issuesAnother := false
			for j, d := range uniq {
				if i != j && !SelfSigned(d) && issuedBy(d, c) {
					issuesAnother = true
					break
				}
			}
			if !issuesAnother {
				candidates = append(candidates, i)
			}
		}
		if len(candidates) != 1 {
			return nil, fmt.Errorf("ordering certificate chain: cannot tell the leaf among %d certificates (%d candidates)", len(uniq), len(candidates))
		}
		leaf = candidates[0]
	}
	used := make([]bool, len(uniq))
	used[leaf] = true
	out := []*x509.Certificate{uniq[leaf]}
	for cur := uniq[leaf]; !SelfSigned(cur); {
		next := -1
		for j, d := range uniq {
			if !used[j] && issuedBy(cur, d) {
				next = j
				break
			}
		}
		if next < 0 {
			break
		}
		used[next] = true
		cur = uniq[next]
		out = append(out, cur)
	}
	for i, c := range uniq {
		if !used[i] {
			return nil, fmt.Errorf("ordering certificate chain: certificate %s is not on the path from the leaf %s", Describe(c), Describe(out[0]))
		}
	}
	return out, nil
}

// ValidateCodeSigningChain applies the Notary Project's certificate rules
// (notation-core-go's code-signing chain validation, notation-format.md §7)
// to chain, leaf first:
//
//   - the chain ends with a self-signed root, which must be included; a
//     single self-signed certificate is allowed if it also passes the leaf
//     rules;
//   - each certificate is issued by the next (names and signature), and no
//     certificate but the last is self-signed;
//   - CA certificates have basicConstraints cA=true, a path length that
//     admits the certificates below them, and a critical keyUsage with
//     keyCertSign;
//   - the leaf is not a CA, has a critical keyUsage with digitalSignature and
//     none of the encipherment, agreement or CA bits, no EKU for TLS, e-mail,
//     timestamping or OCSP, and an RSA 2048/3072/4096 or ECDSA
//     P-256/P-384/P-521 key;
//   - every certificate is valid at signingTime (unchecked when zero).
//
// Certificates signed with SHA-1 fail the signature checks, since Go's x509
// refuses SHA-1 signatures. Errors wrap ErrInvalidChain and name the
// certificate.
func ValidateCodeSigningChain(chain []*x509.Certificate, signingTime time.Time) error {
	if len(chain) == 0 {
		return fmt.Errorf("%w: empty", ErrInvalidChain)
	}
	for i, c := range chain {
		if c == nil {
			return fmt.Errorf("%w: certificate %d is missing", ErrInvalidChain, i)
		}
	}
	if len(chain) == 1 {
		c := chain[0]
		if !SelfSigned(c) {
			return fmt.Errorf("%w: a single certificate %s must be self-signed; the chain must end with its root", ErrInvalidChain, Describe(c))
		}
		if err := validAt(c, signingTime); err != nil {
			return err
		}
		return validateLeaf(c)
	}
	for i, c := range chain {
		if err := validAt(c, signingTime); err != nil {
			return err
		}
		last := i == len(chain)-1
		switch {
		case last && !SelfSigned(c):
			return fmt.Errorf("%w: the last certificate %s is not a self-signed root; notation requires the root in the chain", ErrInvalidChain, Describe(c))
		case !last && SelfSigned(c):
			return fmt.Errorf("%w: certificate %d %s is self-signed but not last", ErrInvalidChain, i, Describe(c))
		case !last && !issuedBy(c, chain[i+1]):
			return fmt.Errorf("%w: certificate %d %s is not issued by the next one, %s", ErrInvalidChain, i, Describe(c), Describe(chain[i+1]))
		}
		if i == 0 {
			if err := validateLeaf(c); err != nil {
				return err
			}
		} else if err := validateCA(c, i-1); err != nil {
			return err
		}
	}
	return nil
}

// ValidAt checks only that every certificate of chain is valid at t: the
// cheap part of ValidateCodeSigningChain, for a chain whose structure was
// validated once already and that is used again at another time. Errors
// wrap ErrInvalidChain.
func ValidAt(chain []*x509.Certificate, t time.Time) error {
	for _, c := range chain {
		if err := validAt(c, t); err != nil {
			return err
		}
	}
	return nil
}

func validAt(c *x509.Certificate, t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if t.Before(c.NotBefore) || t.After(c.NotAfter) {
		return fmt.Errorf("%w: certificate %s is valid from %s to %s, not at %s", ErrInvalidChain, Describe(c),
			c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), t.UTC().Format(time.RFC3339))
	}
	return nil
}

var oidKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 15}

func keyUsageCritical(c *x509.Certificate) (present, critical bool) {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidKeyUsage) {
			return true, e.Critical
		}
	}
	return false, false
}

func validateCA(c *x509.Certificate, below int) error {
	if !c.BasicConstraintsValid || !c.IsCA {
		return fmt.Errorf("%w: CA certificate %s lacks basicConstraints cA=true", ErrInvalidChain, Describe(c))
	}
	if (c.MaxPathLen > 0 || c.MaxPathLenZero) && c.MaxPathLen < below {
		return fmt.Errorf("%w: CA certificate %s has path length %d, but %d CA certificates follow below it", ErrInvalidChain, Describe(c), c.MaxPathLen, below)
	}
	present, critical := keyUsageCritical(c)
	if !present || !critical {
		return fmt.Errorf("%w: CA certificate %s must have a critical keyUsage extension", ErrInvalidChain, Describe(c))
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("%w: CA certificate %s keyUsage lacks keyCertSign", ErrInvalidChain, Describe(c))
	}
	return nil
}

// leafForbiddenUsages are keyUsage bits a code-signing leaf must not carry.
var leafForbiddenUsages = []struct {
	bit  x509.KeyUsage
	name string
}{
	{x509.KeyUsageKeyEncipherment, "keyEncipherment"},
	{x509.KeyUsageDataEncipherment, "dataEncipherment"},
	{x509.KeyUsageKeyAgreement, "keyAgreement"},
	{x509.KeyUsageCertSign, "keyCertSign"},
	{x509.KeyUsageCRLSign, "cRLSign"},
	{x509.KeyUsageEncipherOnly, "encipherOnly"},
	{x509.KeyUsageDecipherOnly, "decipherOnly"},
}

var leafForbiddenEKUs = map[x509.ExtKeyUsage]string{
	x509.ExtKeyUsageServerAuth:      "serverAuth",
	x509.ExtKeyUsageClientAuth:      "clientAuth",
	x509.ExtKeyUsageEmailProtection: "emailProtection",
	x509.ExtKeyUsageTimeStamping:    "timeStamping",
	x509.ExtKeyUsageOCSPSigning:     "OCSPSigning",
}

func validateLeaf(c *x509.Certificate) error {
	if c.BasicConstraintsValid && c.IsCA {
		return fmt.Errorf("%w: signing certificate %s is a CA (basicConstraints cA=true)", ErrInvalidChain, Describe(c))
	}
	present, critical := keyUsageCritical(c)
	if !present || !critical {
		return fmt.Errorf("%w: signing certificate %s must have a critical keyUsage extension with digitalSignature", ErrInvalidChain, Describe(c))
	}
	if c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return fmt.Errorf("%w: signing certificate %s keyUsage lacks digitalSignature", ErrInvalidChain, Describe(c))
	}
	var bad []string
	for _, u := range leafForbiddenUsages {
		if c.KeyUsage&u.bit != 0 {
			bad = append(bad, u.name)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: signing certificate %s keyUsage must not include %s", ErrInvalidChain, Describe(c), strings.Join(bad, ", "))
	}
	for _, u := range c.ExtKeyUsage {
		if name, ok := leafForbiddenEKUs[u]; ok {
			return fmt.Errorf("%w: signing certificate %s extendedKeyUsage must not include %s", ErrInvalidChain, Describe(c), name)
		}
	}
	if err := CheckKey(c.PublicKey); err != nil {
		return fmt.Errorf("%w: signing certificate %s: %w", ErrInvalidChain, Describe(c), err)
	}
	return nil
}

// CheckKey accepts the key types notation signs with: RSA of exactly 2048,
// 3072 or 4096 bits (notation-core-go accepts no other sizes) and ECDSA on
// P-256, P-384 or P-521.
func CheckKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048, 3072, 4096:
			return nil
		}
		return fmt.Errorf("RSA key of %d bits: only 2048, 3072 and 4096 are allowed", k.N.BitLen())
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("ECDSA key on curve %s: only P-256, P-384 and P-521 are allowed", k.Curve.Params().Name)
	default:
		return fmt.Errorf("unsupported key type %T: want RSA or ECDSA", pub)
	}
}
