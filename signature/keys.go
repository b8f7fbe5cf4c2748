package signature

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"math/big"
)

// Signer is the signing primitive formats need: a digest in, a signature
// out, with ctx bounding the wait for an HSM session. *hsm keys satisfy it.
type Signer interface {
	Public() crypto.PublicKey
	SignDigest(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

// ErrMismatch is wrapped by every verification failure that means "this
// signature is not valid for this key and message", as opposed to errors
// about malformed input.
var ErrMismatch = errors.New("signature does not verify with the key (signed by another key, or altered after signing)")

// Hash returns a new hash of kind h.
func Hash(h crypto.Hash) hash.Hash {
	switch h {
	case crypto.SHA384:
		return sha512.New384()
	case crypto.SHA512:
		return sha512.New()
	default:
		return sha256.New()
	}
}

// SignMessage hashes message with opts.HashFunc() and signs the digest
// (RSA keys sign PSS when opts is *rsa.PSSOptions). Ed25519 keys sign the
// message itself, which does not fit the digest-in contract HSM sessions
// use, so they are rejected with advice.
func SignMessage(ctx context.Context, s Signer, opts crypto.SignerOpts, message []byte) ([]byte, error) {
	if _, ok := s.Public().(ed25519.PublicKey); ok {
		return nil, errors.New("ed25519 keys are not supported: use ECDSA P-256 or RSA")
	}
	d := Hash(opts.HashFunc())
	d.Write(message)
	return s.SignDigest(ctx, d.Sum(nil), opts)
}

// VerifyMessage checks sig over message with pub, hashing with h. ECDSA
// signatures may be ASN.1 DER or raw r||s (the sigstore verifier accepts
// both); RSA signatures PKCS#1 v1.5 or, failing that, PSS.
func VerifyMessage(pub crypto.PublicKey, h crypto.Hash, message, sig []byte) error {
	if k, ok := pub.(ed25519.PublicKey); ok {
		if ed25519.Verify(k, message, sig) {
			return nil
		}
		return ErrMismatch
	}
	d := Hash(h)
	d.Write(message)
	return VerifyDigest(pub, h, d.Sum(nil), sig)
}

// VerifyDigest checks sig over an already computed digest.
func VerifyDigest(pub crypto.PublicKey, h crypto.Hash, digest, sig []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if ecdsa.VerifyASN1(k, digest, sig) {
			return nil
		}
		if len(sig) == 2*coordSize(k) {
			r := new(big.Int).SetBytes(sig[:len(sig)/2])
			s := new(big.Int).SetBytes(sig[len(sig)/2:])
			if ecdsa.Verify(k, digest, r, s) {
				return nil
			}
		}
		return ErrMismatch
	case *rsa.PublicKey:
		if rsa.VerifyPKCS1v15(k, h, digest, sig) == nil {
			return nil
		}
		if rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil {
			return nil
		}
		return ErrMismatch
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
}

func coordSize(k *ecdsa.PublicKey) int { return (k.Curve.Params().BitSize + 7) / 8 }

type ecdsaSig struct{ R, S *big.Int }

// DERToRaw converts an ASN.1 DER ECDSA signature to the fixed-length r||s
// form JWS requires, for a key of the given curve size in bytes.
func DERToRaw(der []byte, size int) ([]byte, error) {
	var s ecdsaSig
	rest, err := asn1.Unmarshal(der, &s)
	if err != nil || len(rest) != 0 || s.R == nil || s.S == nil {
		return nil, fmt.Errorf("decoding ECDSA DER signature: malformed (%d bytes)", len(der))
	}
	if s.R.Sign() <= 0 || s.S.Sign() <= 0 || len(s.R.Bytes()) > size || len(s.S.Bytes()) > size {
		return nil, fmt.Errorf("decoding ECDSA DER signature: values out of range for a %d-byte curve", size)
	}
	out := make([]byte, 2*size)
	s.R.FillBytes(out[:size])
	s.S.FillBytes(out[size:])
	return out, nil
}

// CurveSize returns the coordinate size in bytes of an ECDSA public key, or
// 0 for other keys.
func CurveSize(pub crypto.PublicKey) int {
	if k, ok := pub.(*ecdsa.PublicKey); ok {
		return coordSize(k)
	}
	return 0
}
