package certs

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"
)

// clockSkew backdates NotBefore, so a certificate made a moment ago is
// already valid on a machine whose clock runs slightly behind.
const clockSkew = 5 * time.Minute

// DefaultValidity is how long certificates made here last unless told
// otherwise: a year, long enough for a demo or a test run, short enough that
// a forgotten throwaway CA dies on its own.
const DefaultValidity = 365 * 24 * time.Hour

// CA is a certificate authority able to issue certificates: its certificate,
// the certificates above it (up to and including the root; empty for a
// root), and a signer for its key, which may live in an HSM.
//
// CAs made here carry no OCSP or CRL URLs, so notation treats what they
// issue as "non-revokable", which passes even under a strict trust policy.
type CA struct {
	Cert    *x509.Certificate
	Parents []*x509.Certificate
	Key     crypto.Signer
}

// Chain returns the CA's certificate followed by its parents: what follows
// a certificate it issues in a leaf-first chain.
func (ca *CA) Chain() []*x509.Certificate {
	return append([]*x509.Certificate{ca.Cert}, ca.Parents...)
}

// Root returns the self-signed certificate at the top of the CA's chain:
// what verifiers put in their trust store.
func (ca *CA) Root() *x509.Certificate {
	c := ca.Chain()
	return c[len(c)-1]
}

// NewRootCA makes a self-signed root CA certificate for key, valid for
// validity (DefaultValidity when zero) from now. The certificate has
// basicConstraints cA=true (critical) and a critical keyUsage of keyCertSign
// and cRLSign, as notation wants of every CA.
func NewRootCA(key crypto.Signer, subject pkix.Name, validity time.Duration) (*CA, error) {
	if key == nil {
		return nil, errors.New("making root CA: no key")
	}
	tmpl, err := template(subject, validity)
	if err != nil {
		return nil, fmt.Errorf("making root CA %q: %w", subject.String(), err)
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.MaxPathLen = -1 // unlimited: the root may sign intermediates
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	c, err := create(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("making root CA %q: %w", subject.String(), err)
	}
	return &CA{Cert: c, Key: key}, nil
}

// LeafOptions describe a code-signing certificate to issue.
type LeafOptions struct {
	Subject pkix.Name
	// Validity defaults to DefaultValidity, and is cut to end no later than
	// the CA's own certificate.
	Validity time.Duration
	// SANs are subject alternative names: an e-mail address (with "@"), a
	// URI (with "://") or else a DNS name. notation ignores them; cosign's
	// certificate verification needs one to match --certificate-identity.
	SANs []string
}

// IssueLeaf issues a code-signing certificate for pub: keyUsage
// digitalSignature (critical), extKeyUsage codeSigning only, and
// basicConstraints cA=false, the profile notation-format.md §7 recommends.
// It returns the full chain, leaf first and root last.
func (ca *CA) IssueLeaf(pub crypto.PublicKey, o LeafOptions) ([]*x509.Certificate, error) {
	if err := CheckKey(pub); err != nil {
		return nil, fmt.Errorf("issuing certificate %q: %w", o.Subject.String(), err)
	}
	tmpl, err := template(o.Subject, o.Validity)
	if err != nil {
		return nil, fmt.Errorf("issuing certificate %q: %w", o.Subject.String(), err)
	}
	tmpl.BasicConstraintsValid = true
	tmpl.IsCA = false
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	for _, san := range o.SANs {
		switch {
		case strings.Contains(san, "://"):
			u, err := url.Parse(san)
			if err != nil {
				return nil, fmt.Errorf("issuing certificate %q: subject alternative name: %w", o.Subject.String(), err)
			}
			tmpl.URIs = append(tmpl.URIs, u)
		case strings.Contains(san, "@"):
			tmpl.EmailAddresses = append(tmpl.EmailAddresses, san)
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, san)
		}
	}
	clampTo(tmpl, ca.Cert)
	c, err := create(tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issuing certificate %q: %w", o.Subject.String(), err)
	}
	return append([]*x509.Certificate{c}, ca.Chain()...), nil
}

// IssueIntermediate issues a CA certificate for key under ca, with path
// length 0 (it may issue leaves only), and returns it as a CA.
func (ca *CA) IssueIntermediate(key crypto.Signer, subject pkix.Name, validity time.Duration) (*CA, error) {
	tmpl, err := template(subject, validity)
	if err != nil {
		return nil, fmt.Errorf("issuing intermediate CA %q: %w", subject.String(), err)
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.MaxPathLen = 0
	tmpl.MaxPathLenZero = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	clampTo(tmpl, ca.Cert)
	c, err := create(tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issuing intermediate CA %q: %w", subject.String(), err)
	}
	return &CA{Cert: c, Parents: ca.Chain(), Key: key}, nil
}

// LoadCA pairs a CA certificate file's content (PEM: the CA certificate,
// optionally followed by its parents up to the root) with its key, and
// checks that they belong together.
func LoadCA(certPEM []byte, key crypto.Signer) (*CA, error) {
	certs, err := ParsePEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("loading CA certificate: %w", err)
	}
	chain, err := Order(certs, key.Public())
	if err != nil {
		return nil, fmt.Errorf("loading CA certificate: %w", err)
	}
	if !chain[0].IsCA {
		return nil, fmt.Errorf("loading CA certificate: %s is not a CA certificate", Describe(chain[0]))
	}
	return &CA{Cert: chain[0], Parents: chain[1:], Key: key}, nil
}

func template(subject pkix.Name, validity time.Duration) (*x509.Certificate, error) {
	if validity < 0 {
		return nil, fmt.Errorf("negative validity %s", validity)
	}
	if validity == 0 {
		validity = DefaultValidity
	}
	// 128 random bits, positive: RFC 5280 allows up to 20 octets.
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("drawing a serial number: %w", err)
	}
	now := time.Now().Truncate(time.Second)
	return &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject:      subject,
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(validity),
	}, nil
}

// clampTo ends tmpl no later than its issuer: a certificate outliving its
// CA would fail verification once the CA expires anyway.
func clampTo(tmpl, issuer *x509.Certificate) {
	if tmpl.NotAfter.After(issuer.NotAfter) {
		tmpl.NotAfter = issuer.NotAfter
	}
}

func create(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// NewCSR makes a PKCS#10 certificate signing request for key's public key,
// signed by key (which proves possession to the CA). key may be an HSM key:
// only its crypto.Signer side is used.
func NewCSR(key crypto.Signer, subject pkix.Name) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, key)
	if err != nil {
		return nil, fmt.Errorf("making certificate request for %q: %w", subject.String(), err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// ParseCSR reads a PEM (or DER) certificate signing request and checks its
// self-signature, so a CA never certifies a key whose holder did not ask.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	der := data
	if blk, _ := pem.Decode(data); blk != nil {
		if blk.Type != "CERTIFICATE REQUEST" && blk.Type != "NEW CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("reading certificate request: PEM block is %q, not CERTIFICATE REQUEST", blk.Type)
		}
		der = blk.Bytes
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("reading certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("reading certificate request for %q: bad self-signature: %w", csr.Subject.String(), err)
	}
	return csr, nil
}

// ParseDN reads a distinguished name written as comma-separated attributes,
// most significant or not, e.g. "CN=batch signer,O=Acme,ST=WA,C=US". Known
// attributes are CN, O, OU, C, ST (or S), L, STREET, POSTALCODE and
// SERIALNUMBER, case-insensitively; a backslash escapes the next character
// (a comma or plus in a value). notation's trustedIdentities entries need C,
// ST and O in the subject.
func ParseDN(s string) (pkix.Name, error) {
	var n pkix.Name
	if strings.TrimSpace(s) == "" {
		return n, errors.New("parsing distinguished name: empty")
	}
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == ',':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())
	for _, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return pkix.Name{}, fmt.Errorf("parsing distinguished name %q: %q is not ATTRIBUTE=value", s, strings.TrimSpace(p))
		}
		switch strings.ToUpper(k) {
		case "CN":
			if n.CommonName != "" {
				return pkix.Name{}, fmt.Errorf("parsing distinguished name %q: CN given twice", s)
			}
			n.CommonName = v
		case "O":
			n.Organization = append(n.Organization, v)
		case "OU":
			n.OrganizationalUnit = append(n.OrganizationalUnit, v)
		case "C":
			n.Country = append(n.Country, v)
		case "ST", "S":
			n.Province = append(n.Province, v)
		case "L":
			n.Locality = append(n.Locality, v)
		case "STREET":
			n.StreetAddress = append(n.StreetAddress, v)
		case "POSTALCODE":
			n.PostalCode = append(n.PostalCode, v)
		case "SERIALNUMBER":
			n.SerialNumber = v
		default:
			return pkix.Name{}, fmt.Errorf("parsing distinguished name %q: unknown attribute %q (want CN, O, OU, C, ST, L, STREET, POSTALCODE or SERIALNUMBER)", s, k)
		}
	}
	return n, nil
}
