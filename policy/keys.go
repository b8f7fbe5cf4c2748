package policy

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"

	// Not hsm itself: policy is built into the cgo-free BuildKit frontend.
	"github.com/signet-project/signet/hsm/pemkey"
)

// KeyFingerprint returns "sha256:" and the hex SHA-256 of the key's PKIX
// (SubjectPublicKeyInfo) DER encoding, the form policies use to name keys:
//
//	openssl pkey -pubin -in key.pub -outform DER | sha256sum
func KeyFingerprint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// CertFingerprint returns "sha256:" and the hex SHA-256 of the
// certificate's DER encoding (what notation inspect and
// openssl x509 -fingerprint -sha256 print).
func CertFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// privatePEM lists PEM block types that hold private keys; a trust policy
// naming one is a mistake worth stopping at, not a key to extract.
var privatePEM = map[string]bool{
	"PRIVATE KEY": true, "EC PRIVATE KEY": true, "RSA PRIVATE KEY": true, "ENCRYPTED PRIVATE KEY": true,
	"ENCRYPTED COSIGN PRIVATE KEY": true, "ENCRYPTED SIGSTORE PRIVATE KEY": true, "OPENSSH PRIVATE KEY": true,
}

// pemKey is a public key read from a PEM file, with the certificate that
// carried it (nil for a bare key): revoking that certificate must revoke
// the key trusted through it.
type pemKey struct {
	pub  crypto.PublicKey
	cert *x509.Certificate
}

// parsePublicKeys decodes every PEM public key ("PUBLIC KEY", "RSA PUBLIC
// KEY") and certificate (its public key) in data.
func parsePublicKeys(data []byte) ([]pemKey, error) {
	var keys []pemKey
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if privatePEM[block.Type] {
			return nil, fmt.Errorf("holds a private key (%s): a policy names public keys only (signet keys public --key KEYREF prints one)", block.Type)
		}
		if block.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("decoding CERTIFICATE: %w", err)
			}
			keys = append(keys, pemKey{pub: c.PublicKey, cert: c})
			continue
		}
		k, err := publicKey(block)
		if err != nil {
			return nil, err
		}
		keys = append(keys, pemKey{pub: k})
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM public key or certificate in it")
	}
	return keys, nil
}

// publicKey decodes a PEM block that must hold a public key.
func publicKey(block *pem.Block) (crypto.PublicKey, error) {
	k, ok, err := pemkey.Public(block)
	if err == nil && !ok {
		err = fmt.Errorf("unexpected PEM block %q (want PUBLIC KEY or CERTIFICATE)", block.Type)
	}
	return k, err
}

// parseCertificates decodes PEM certificates, or one DER certificate.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	sawPEM := false
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		sawPEM = true
		switch {
		case block.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("decoding CERTIFICATE: %w", err)
			}
			certs = append(certs, c)
		case privatePEM[block.Type]:
			return nil, fmt.Errorf("holds a private key (%s): a policy names certificates only", block.Type)
		default:
			return nil, fmt.Errorf("unexpected PEM block %q (want CERTIFICATE)", block.Type)
		}
	}
	if !sawPEM && len(data) > 0 {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, fmt.Errorf("neither PEM nor a DER certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate in it")
	}
	return certs, nil
}

// parseFingerprint normalises "sha256:<hex>" (upper or lower case, colons
// between bytes allowed, as openssl prints them) to "sha256:<lowercase hex>".
func parseFingerprint(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, "sha256:")
	if !ok {
		return "", fmt.Errorf("%q is not a sha256:<hex> fingerprint", s)
	}
	rest = strings.ToLower(strings.ReplaceAll(rest, ":", ""))
	if len(rest) != 64 {
		return "", fmt.Errorf("fingerprint %q has %d hex digits; a SHA-256 has 64", s, len(rest))
	}
	if _, err := hex.DecodeString(rest); err != nil {
		return "", fmt.Errorf("fingerprint %q is not hex", s)
	}
	return "sha256:" + rest, nil
}

// parseSerial normalises "serial:<hex>" (colons allowed, leading zeros
// ignored) to lowercase hex without leading zeros.
func parseSerial(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, "serial:")
	if !ok {
		return "", fmt.Errorf("%q is not serial:<hex>", s)
	}
	rest = strings.ReplaceAll(rest, ":", "")
	rest = strings.TrimPrefix(strings.TrimPrefix(rest, "0x"), "0X")
	if rest == "" || len(rest) > 80 {
		return "", fmt.Errorf("serial %q: want 1 to 80 hex digits", s)
	}
	n, ok := new(big.Int).SetString(rest, 16)
	if !ok {
		return "", fmt.Errorf("serial %q is not hex", s)
	}
	return n.Text(16), nil
}

// serialKey is how revoked serials are indexed.
func serialKey(n *big.Int) string {
	if n == nil {
		return ""
	}
	return new(big.Int).Abs(n).Text(16)
}

// isKeyReference reports whether a trust rule's key entry is a key
// reference for the KeyLoader rather than a file path.
func isKeyReference(s string) bool {
	return strings.HasPrefix(s, "pkcs11:") || strings.Contains(s, "://")
}

// Fingerprint describes one PEM public key or certificate in the forms a
// policy names them by.
type Fingerprint struct {
	// Key is the public key's fingerprint (KeyFingerprint).
	Key string
	// Cert is the certificate's fingerprint (CertFingerprint); "" for a
	// bare public key.
	Cert string
	// Subject is the certificate's subject DN; "" for a bare public key.
	Subject string
}

// FingerprintPEM returns the fingerprints of every public key and
// certificate in PEM data (signet policy fingerprint prints them).
func FingerprintPEM(data []byte) ([]Fingerprint, error) {
	var out []Fingerprint
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		var pub crypto.PublicKey
		var fp Fingerprint
		switch {
		case block.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("decoding CERTIFICATE: %w", err)
			}
			pub, fp.Cert, fp.Subject = c.PublicKey, CertFingerprint(c), c.Subject.String()
		case privatePEM[block.Type]:
			return nil, fmt.Errorf("holds a private key (%s); fingerprint its public half (signet keys public --key KEYREF)", block.Type)
		default:
			k, err := publicKey(block)
			if err != nil {
				return nil, err
			}
			pub = k
		}
		k, err := KeyFingerprint(pub)
		if err != nil {
			return nil, err
		}
		fp.Key = k
		out = append(out, fp)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM public key or certificate in it")
	}
	return out, nil
}
