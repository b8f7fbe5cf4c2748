// Package pemkey decodes the PEM blocks that carry a public key: a PKIX
// "PUBLIC KEY", a PKCS#1 "RSA PUBLIC KEY", and a "CERTIFICATE" (its
// subject's key). hsm reads verification keys with it (LoadPublicKey) and
// policy reads trusted keys, so both accept the same blocks.
//
// It is a package of its own, below hsm, because policy cannot import hsm:
// policy is compiled into the BuildKit frontend, which is built without cgo
// (buildkit/frontendimage), and hsm needs cgo for PKCS#11.
//
// Imports: the standard library only.
package pemkey

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// Public returns the public key b holds. ok is false, with no error, for a
// block of any other type, which callers skip or reject as suits them; a
// block of a public-key type that does not decode is an error naming the
// type.
func Public(b *pem.Block) (pub crypto.PublicKey, ok bool, err error) {
	switch b.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(b.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
	case "CERTIFICATE":
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(b.Bytes); err == nil {
			pub = c.PublicKey
		}
	default:
		return nil, false, nil
	}
	if err != nil {
		return nil, true, fmt.Errorf("decoding %s: %w", b.Type, err)
	}
	return pub, true, nil
}
