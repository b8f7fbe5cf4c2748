// Package dsse owns DSSE envelopes (the Dead Simple Signing Envelope,
// secure-systems-lab/dsse v1): the pre-authentication encoding a signature
// covers, signing through a signature.Signer, and verifying against public
// keys.
//
// Two formats carry envelopes, in two JSON layouts of the same fields:
// attest stores Envelope in cosign's .att layers, laid out as
// go-securesystemslib writes it (cosign v2), and signature/bundle embeds
// ProtoEnvelope in sigstore bundles, laid out as protojson writes
// io.intoto.Envelope (cosign v3). Signing and verifying are the same for
// both, so they live here once.
//
// Imports: signature and the standard library.
package dsse

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

// Envelope is a DSSE envelope. Its JSON is go-securesystemslib's layout,
// field order included, which cosign v2 writes into .att layers.
//
// Payload and Sig hold the base64 text as written rather than the decoded
// bytes, as go-securesystemslib does: an envelope read and re-encoded keeps
// its bytes, and a signature that is not base64 is a signature that does
// not verify (DSSE verifiers skip it and try the others), not an envelope
// that cannot be read.
type Envelope struct {
	PayloadType string `json:"payloadType"`
	// Payload is the base64 of the signed body; Sign writes standard
	// padded base64, and every base64 alphabet is read.
	Payload    string      `json:"payload"`
	Signatures []Signature `json:"signatures"`
}

// Signature is one signature of an envelope.
type Signature struct {
	// KeyID is a hint only and is ignored when verifying. Envelope writes
	// it even when empty, as cosign v2 does: go-securesystemslib's verifier
	// skips a key whose computed id differs from a non-empty hint, so any
	// other value risks cosign never trying the right key. cosign v3 omits
	// the field; both forms decode to "".
	KeyID string `json:"keyid"`
	// Sig is the base64 ASN.1 DER ECDSA (or PKCS#1 v1.5 RSA) signature
	// over PAE(payloadType, payload).
	Sig string `json:"sig"`
}

// ProtoEnvelope is an Envelope in the layout protojson gives
// io.intoto.Envelope, the form sigstore bundles embed (cosign v3 writes
// it): fields in the message's field-number order (payload, payloadType,
// signatures; sig, keyid) and an empty keyid left out. Only encoding
// differs; the fields and methods are Envelope's. Decoding accepts either
// layout.
type ProtoEnvelope struct {
	Envelope
}

// MarshalJSON writes the protojson layout.
func (p ProtoEnvelope) MarshalJSON() ([]byte, error) {
	type protoSig struct {
		Sig   string `json:"sig"`
		KeyID string `json:"keyid,omitempty"`
	}
	type protoEnv struct {
		Payload     string     `json:"payload"`
		PayloadType string     `json:"payloadType"`
		Signatures  []protoSig `json:"signatures"`
	}
	out := protoEnv{Payload: p.Payload, PayloadType: p.PayloadType}
	if p.Signatures != nil {
		out.Signatures = make([]protoSig, len(p.Signatures))
		for i, s := range p.Signatures {
			out.Signatures[i] = protoSig{Sig: s.Sig, KeyID: s.KeyID}
		}
	}
	return json.Marshal(out)
}

// Sign signs payload as an envelope of payloadType with key, hashing the
// pre-authentication encoding with hash. The signature carries no keyid.
func Sign(ctx context.Context, key signature.Signer, hash crypto.Hash, payloadType string, payload []byte) (*Envelope, error) {
	sig, err := signature.SignMessage(ctx, key, hash, PAE(payloadType, payload))
	if err != nil {
		return nil, fmt.Errorf("signing DSSE envelope: %w", err)
	}
	return &Envelope{
		PayloadType: payloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures:  []Signature{{Sig: base64.StdEncoding.EncodeToString(sig)}},
	}, nil
}

// Parse decodes an envelope and its payload's base64. It does not verify
// anything.
func Parse(b []byte) (*Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decoding DSSE envelope: %w", err)
	}
	if e.PayloadType == "" {
		return nil, errors.New("decoding DSSE envelope: no payloadType")
	}
	if _, err := e.DecodedPayload(); err != nil {
		return nil, err
	}
	return &e, nil
}

// DecodedPayload returns the payload bytes.
func (e *Envelope) DecodedPayload() ([]byte, error) {
	p, err := decodeBase64(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("decoding DSSE envelope payload: %w", err)
	}
	return p, nil
}

// DecodedSig returns the signature bytes.
func (s Signature) DecodedSig() ([]byte, error) { return decodeBase64(s.Sig) }

// ErrNoSignatures is returned by Verify for an envelope that carries no
// signature at all.
var ErrNoSignatures = errors.New("DSSE envelope carries no signatures")

// Verify checks that one of the envelope's signatures is by one of keys,
// whatever its keyid says, and returns the payload. Each key is tried with
// every hash Hashes lists for it. A signature that does not verify wraps
// signature.ErrMismatch; when a signature could not even be checked (not
// base64, a key of an unsupported kind) the error wraps that too.
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
		sig, err := s.DecodedSig()
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("decoding DSSE signature %d: %w", i+1, err)
			}
			continue
		}
		for _, k := range keys {
			for _, h := range Hashes(k) {
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
	if firstErr != nil {
		// A key of an unsupported kind or an undecodable signature says
		// more than "no match", but it is still no match.
		return nil, errors.Join(signature.ErrMismatch, firstErr)
	}
	return nil, signature.ErrMismatch
}

// HashFor returns the digest algorithm sigstore's default verifier pairs
// with pub: SHA-384 for P-384, SHA-512 for P-521, SHA-256 otherwise (RSA
// signs PKCS#1 v1.5). cosign v3.1 picks the hash from the key the same way
// (sigstore/cosign#5019).
func HashFor(pub crypto.PublicKey) crypto.Hash {
	if k, ok := pub.(*ecdsa.PublicKey); ok {
		switch signature.CurveSize(k) {
		case 48:
			return crypto.SHA384
		case 66:
			return crypto.SHA512
		}
	}
	return crypto.SHA256
}

// Hashes lists the digests a signature by pub may be over: HashFor(pub),
// then SHA-256 when that differs, which signet's .att envelopes and cosign
// v3.0 and earlier use for every key.
func Hashes(pub crypto.PublicKey) []crypto.Hash {
	if h := HashFor(pub); h != crypto.SHA256 {
		return []crypto.Hash{h, crypto.SHA256}
	}
	return []crypto.Hash{crypto.SHA256}
}

// decodeBase64 accepts standard and URL-safe base64, padded or not, as the
// DSSE specification asks of verifiers (and protojson of bytes fields).
func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%d characters that are not base64", len(s))
}
