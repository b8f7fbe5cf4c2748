package cosign

import (
	"context"
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/signature"
)

// Hash is the digest algorithm of every cosign-format signature. podman
// hard-codes SHA-256 and cosign's legacy verify defaults to it, so P-384 and
// RSA keys sign SHA-256 here too.
const Hash = crypto.SHA256

// Sign makes a signature layer for digest, vouched for under identity (the
// docker-reference, "registry/repo:tag" when a tag is known). certPEM and
// chainPEM, when set, go into cosign's certificate annotations.
func Sign(ctx context.Context, s signature.Signer, identity string, digest v1.Hash, certPEM, chainPEM []byte) (Layer, error) {
	payload := Payload(identity, digest, nil)
	sig, err := signature.SignMessage(ctx, s, Hash, payload)
	if err != nil {
		return Layer{}, fmt.Errorf("signing %s: %w", digest, err)
	}
	ann := map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)}
	if len(certPEM) > 0 {
		ann[CertificateAnnotation] = string(certPEM)
		ann[ChainAnnotation] = string(chainPEM)
	}
	return NewLayer(SimpleSigningMediaType, payload, ann), nil
}

// VerifyLayer checks that a simple-signing layer carries a valid signature by
// pub over its payload, that the payload is the blob the layer names, and
// that it vouches for digest. It returns the decoded payload. Errors wrap
// signature.ErrMismatch when the signature is not pub's, and say which check
// failed otherwise.
func VerifyLayer(pub crypto.PublicKey, l Layer, digest v1.Hash) (*SimpleSigning, error) {
	if l.MediaType != SimpleSigningMediaType {
		return nil, fmt.Errorf("layer %s has media type %q, not a simple-signing signature", l.Digest, l.MediaType)
	}
	b64, ok := l.Annotations[SignatureAnnotation]
	if !ok {
		return nil, fmt.Errorf("layer %s lacks the %q annotation", l.Digest, SignatureAnnotation)
	}
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("layer %s: decoding signature annotation: %w: %w", l.Digest, errMalformed, err)
	}
	if l.Payload == nil {
		return nil, fmt.Errorf("layer %s: payload not fetched", l.Digest)
	}
	if got := NewLayer(l.MediaType, l.Payload, nil).Digest; got != l.Digest {
		return nil, fmt.Errorf("layer %s: payload blob hashes to %s: %w", l.Digest, got, errTampered)
	}
	if err := signature.VerifyMessage(pub, Hash, l.Payload, sig); err != nil {
		if errors.Is(err, signature.ErrMismatch) {
			// The key did not sign these bytes: either another key signed
			// them, or they were changed after signing. A payload that
			// still decodes and names this digest points at a foreign key.
			return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		return nil, fmt.Errorf("layer %s: %w: %w", l.Digest, errMalformed, err)
	}
	p, err := ParsePayload(l.Payload)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w: %w", l.Digest, errMalformed, err)
	}
	got, _ := p.Digest()
	if got != digest {
		return nil, fmt.Errorf("layer %s: signature is for %s, not %s: %w", l.Digest, got, digest, errOtherSubject)
	}
	return p, nil
}

var (
	errTampered     = errors.New("tampered payload (its digest no longer matches the layer)")
	errOtherSubject = errors.New("signature copied from another manifest")
	errMalformed    = errors.New("malformed signature")
	errRevoked      = errors.New("key revoked by the trust policy")
)

// classify maps a VerifyLayer error to a reason, ranked by how much it tells
// a user: a valid signature for another manifest says more than a tampered
// payload, which says more than a foreign key.
func classify(err error) (signature.Reason, int) {
	switch {
	case errors.Is(err, errRevoked):
		return signature.ReasonRevoked, 5
	case errors.Is(err, signature.ErrUntrustedChain):
		return signature.ReasonUntrustedCert, 4
	case errors.Is(err, errOtherSubject):
		return signature.ReasonWrongSubject, 4
	case errors.Is(err, errTampered):
		return signature.ReasonTampered, 3
	case errors.Is(err, signature.ErrMismatch):
		return signature.ReasonUntrustedKey, 2
	default:
		return signature.ReasonMalformed, 1
	}
}
