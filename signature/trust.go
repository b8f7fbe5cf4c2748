package signature

import (
	"crypto"
	"crypto/x509"
	"errors"
	"time"
)

// Trust decides which key material a verifier accepts. A single public key
// (signet verify --key) and a trust policy scope (signet verify --policy)
// both implement it, so every format verifies the same way in both cases.
type Trust interface {
	// Keys returns the trusted public keys.
	Keys() []crypto.PublicKey
	// Chain checks a certificate chain (leaf first) carried by a signature
	// made at signingTime (the zero time when the format records none). It
	// returns nil when the leaf may sign: the chain reaches a trusted root,
	// the leaf is for code signing, the chain is valid now and (when
	// given) at signingTime, the leaf names a trusted identity and nothing
	// in it is revoked. Now, because signingTime is the signer's own claim:
	// without a trusted timestamp an expired certificate's key could
	// backdate it. Errors wrap ErrUntrustedChain.
	Chain(chain []*x509.Certificate, signingTime time.Time) error
}

// ErrUntrustedChain is wrapped by Trust.Chain failures.
var ErrUntrustedChain = errors.New("certificate chain is not trusted")

// KeyTrust trusts exactly one public key and no certificate authority.
type KeyTrust struct{ Key crypto.PublicKey }

// Keys returns the key.
func (k KeyTrust) Keys() []crypto.PublicKey { return []crypto.PublicKey{k.Key} }

// Chain rejects every chain: a bare key trusts no authority.
func (KeyTrust) Chain([]*x509.Certificate, time.Time) error {
	return errors.Join(ErrUntrustedChain, errors.New("no trusted certificate authorities: verifying with a public key only"))
}

var _ Trust = KeyTrust{}

// RevokedKeys is implemented by trusts that know revoked keys (a trust
// policy scope). Verifiers try them after the trusted keys fail, only to
// tell "signed by a revoked key" apart from "signed by an unknown key".
type RevokedKeys interface {
	RevokedKeys() []crypto.PublicKey
}
