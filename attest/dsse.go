package attest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/signet-project/signet/signature"
)

// PayloadType is the DSSE payload type of an in-toto Statement; cosign
// rejects attestations of any other type.
const PayloadType = "application/vnd.in-toto+json"

// Hash is the digest algorithm signet signs envelopes with, whatever the
// key: cosign's legacy attestations are SHA-256 (cosign-format.md §2-3), and
// P-256 keys are what the reference recommends.
const Hash = crypto.SHA256

// Envelope is a DSSE envelope as cosign stores it in an .att layer.
type Envelope struct {
	PayloadType string `json:"payloadType"`
	// Payload is the base64 (standard, padded) statement.
	Payload    string              `json:"payload"`
	Signatures []EnvelopeSignature `json:"signatures"`
}

// EnvelopeSignature is one signature of an envelope.
type EnvelopeSignature struct {
	// KeyID is a hint only and is ignored when verifying. signet writes
	// "" as cosign v2 does: go-securesystemslib's verifier skips a key
	// whose computed id differs from a non-empty hint, so any other value
	// risks cosign never trying the right key. cosign v3 omits the field;
	// both forms decode to "".
	KeyID string `json:"keyid"`
	// Sig is the base64 ASN.1 DER ECDSA (or PKCS#1 v1.5 RSA) signature
	// over PAE(payloadType, payload).
	Sig string `json:"sig"`
}

// PAE is DSSE's pre-authentication encoding, the bytes actually signed:
// "DSSEv1" SP len(type) SP type SP len(body) SP body, lengths in decimal.
// Signing this rather than the payload binds the payload type too.
func PAE(payloadType string, payload []byte) []byte {
	b := make([]byte, 0, 32+len(payloadType)+len(payload))
	b = append(b, "DSSEv1 "...)
	b = strconv.AppendInt(b, int64(len(payloadType)), 10)
	b = append(b, ' ')
	b = append(b, payloadType...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	b = append(b, ' ')
	return append(b, payload...)
}

// SignEnvelope signs payload as a DSSE envelope of payloadType with key.
func SignEnvelope(ctx context.Context, key signature.Signer, payloadType string, payload []byte) (*Envelope, error) {
	sig, err := signature.SignMessage(ctx, key, Hash, PAE(payloadType, payload))
	if err != nil {
		return nil, fmt.Errorf("signing DSSE envelope: %w", err)
	}
	return &Envelope{
		PayloadType: payloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures:  []EnvelopeSignature{{Sig: base64.StdEncoding.EncodeToString(sig)}},
	}, nil
}

// ParseEnvelope decodes an envelope and its payload's base64. It does not
// verify anything.
func ParseEnvelope(b []byte) (*Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decoding DSSE envelope: %w", err)
	}
	if e.PayloadType == "" {
		return nil, errors.New("decoding DSSE envelope: no payloadType")
	}
	if _, err := decodeB64(e.Payload); err != nil {
		return nil, fmt.Errorf("decoding DSSE envelope payload: %w", err)
	}
	return &e, nil
}

// DecodedPayload returns the payload bytes.
func (e *Envelope) DecodedPayload() ([]byte, error) {
	p, err := decodeB64(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("decoding DSSE envelope payload: %w", err)
	}
	return p, nil
}

// ErrNoSignatures is returned by Verify for an envelope that carries no
// signature at all.
var ErrNoSignatures = errors.New("DSSE envelope carries no signatures")

// Verify checks that one of the envelope's signatures is by one of keys,
// whatever its keyid says, and returns the payload. A signature that does
// not verify wraps signature.ErrMismatch.
func (e *Envelope) Verify(keys []crypto.PublicKey) ([]byte, error) {
	payload, err := e.DecodedPayload()
	if err != nil {
		return nil, err
	}
	if len(e.Signatures) == 0 {
		return nil, ErrNoSignatures
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no trusted keys to check the envelope with: %w", signature.ErrMismatch)
	}
	pae := PAE(e.PayloadType, payload)
	var firstErr error
	for i, s := range e.Signatures {
		sig, err := decodeB64(s.Sig)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("decoding DSSE signature %d: %w", i+1, err)
			}
			continue
		}
		for _, k := range keys {
			for _, h := range hashesFor(k) {
				err := signature.VerifyMessage(k, h, pae, sig)
				if err == nil {
					return payload, nil
				}
				if !errors.Is(err, signature.ErrMismatch) && firstErr == nil {
					firstErr = fmt.Errorf("checking DSSE signature %d: %w", i+1, err)
				}
			}
		}
	}
	if firstErr != nil && !errors.Is(firstErr, signature.ErrMismatch) {
		// A key of an unsupported kind or an undecodable signature says
		// more than "no match", but it is still no match.
		return nil, errors.Join(signature.ErrMismatch, firstErr)
	}
	return nil, signature.ErrMismatch
}

// hashesFor lists the digests a signature by k may be over. signet and
// cosign v2 hash with SHA-256 for every key; cosign v3.1 derives the hash
// from the curve (sigstore/cosign#5019), so P-384 and P-521 envelopes it
// makes are over SHA-384 and SHA-512.
func hashesFor(k crypto.PublicKey) []crypto.Hash {
	if ec, ok := k.(*ecdsa.PublicKey); ok {
		switch ec.Curve.Params().BitSize {
		case 384:
			return []crypto.Hash{crypto.SHA256, crypto.SHA384}
		case 521:
			return []crypto.Hash{crypto.SHA256, crypto.SHA512}
		}
	}
	return []crypto.Hash{crypto.SHA256}
}

// decodeB64 accepts standard and URL-safe base64, padded or not, as the
// DSSE specification asks of verifiers.
func decodeB64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%d characters that are not base64", len(s))
}
