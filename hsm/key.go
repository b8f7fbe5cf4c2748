package hsm

import (
	"context"
	"crypto"
	"crypto/x509"
	"io"
	"time"
)

// Signer signs digests. Implementations are safe for concurrent use by many
// goroutines; a PKCS#11 signer makes a caller wait for a free session, and the
// wait ends early when ctx is done.
type Signer interface {
	// Public returns the public half of the key.
	Public() crypto.PublicKey
	// SignDigest signs digest, which the caller has already hashed with
	// opts.HashFunc(). ECDSA signatures are ASN.1 DER; RSA signatures are
	// PKCS#1 v1.5, or PSS when opts is *rsa.PSSOptions (salt length
	// rsa.PSSSaltLengthAuto is treated as the hash length).
	SignDigest(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

// Key is an open signing key.
type Key interface {
	Signer
	// Sign implements crypto.Signer (x509.CreateCertificateRequest and the
	// like need one); it is SignDigest with a background context.
	Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error)
	// Ref names the key for reports, journals and logs: the pkcs11 URI with
	// every PIN attribute removed, or "file:" and the absolute path.
	Ref() string
	// Certificates returns the certificate chain stored with the key (leaf
	// first), or nil when there is none.
	Certificates() []*x509.Certificate
	// Close releases the key's sessions; the module is finalised when its
	// last key closes.
	Close() error
}

// PoolStats are a PKCS#11 key's session-pool counters since Open.
type PoolStats struct {
	Sessions   int   // sessions in the pool (fixed at Open)
	InUse      int   // sessions signing right now
	Waits      int64 // signatures that found no free session and waited
	Replaced   int64 // sessions closed and reopened after a session or device error
	Relogins   int64 // logins made again after the token logged the process out
	Refinds    int64 // key lookups after CKR_KEY_HANDLE_INVALID / CKR_OBJECT_HANDLE_INVALID
	Signatures int64 // signatures made
	// Held is how long signatures kept sessions, summed: from the signer
	// taking one from the pool to giving it back, so it includes the time
	// the signing thread waited for a CPU. Held ÷ Signatures is the round
	// trip that sessions ÷ round trip turns into a rate.
	Held time.Duration
}
