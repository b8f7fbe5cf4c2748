package testenv

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"
)

// Key is a key held in memory that satisfies signature.Signer (Public and
// SignDigest), for tests of encodings and formats that need a key but not a
// token. hsm's own tests, and the interop tests that name one, sign with
// SoftHSM tokens (SoftHSM) instead.
type Key struct{ crypto.Signer }

// SignDigest signs an already computed digest, as an HSM session does.
func (k Key) SignDigest(_ context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.Sign(rand.Reader, digest, opts)
}

// NewKey returns a new ECDSA P-256 key, the curve signet recommends.
func NewKey(t testing.TB) Key {
	t.Helper()
	return NewECKey(t, elliptic.P256())
}

// NewECKey returns a new ECDSA key on curve c.
func NewECKey(t testing.TB, c elliptic.Curve) Key {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Key{k}
}

// NewRSAKey returns a new RSA key of bits bits.
func NewRSAKey(t testing.TB, bits int) Key {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return Key{k}
}
