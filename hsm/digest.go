package hsm

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
)

// checkDigest verifies that digest has the length opts.HashFunc() promises;
// a mismatch means the caller hashed with something else, and the
// signature would not verify.
func checkDigest(digest []byte, opts crypto.SignerOpts) error {
	if len(digest) == 0 {
		return errors.New("empty digest")
	}
	if opts == nil || opts.HashFunc() == 0 {
		return nil
	}
	h := opts.HashFunc()
	if h > crypto.BLAKE2b_512 { // crypto.Hash.Size panics beyond the known hashes
		return fmt.Errorf("unsupported hash %v", h)
	}
	if len(digest) != h.Size() {
		return fmt.Errorf("digest is %d bytes but %v digests are %d", len(digest), h, h.Size())
	}
	return nil
}

// pssSaltLength resolves the salt length of opts for a key of keyBytes.
// PSSSaltLengthAuto means the hash length here (as in pkcs11key), not the
// maximum Go's rsa package picks: a token has no "auto", and verifiers
// that expect the hash length (notation, RFC 8230) are the common ones.
func pssSaltLength(opts *rsa.PSSOptions, h crypto.Hash) (int, error) {
	switch n := opts.SaltLength; {
	case n == rsa.PSSSaltLengthAuto || n == rsa.PSSSaltLengthEqualsHash:
		return h.Size(), nil
	case n > 0:
		return n, nil
	default:
		return 0, fmt.Errorf("invalid PSS salt length %d", n)
	}
}
