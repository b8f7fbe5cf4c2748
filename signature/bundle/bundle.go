package bundle

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/certs"
	"github.com/signet-project/signet/signature/dsse"
)

// Media and payload types of the format.
const (
	// MediaType is the bundle's own mediaType, its layer's media type and
	// the referrer's artifactType.
	MediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// PayloadType is the DSSE payload type of an in-toto statement.
	PayloadType = "application/vnd.in-toto+json"
	// StatementType is the in-toto Statement v1 _type.
	StatementType = "https://in-toto.io/Statement/v1"
	// statementTypeV01 is the older statement type cosign attest wrote.
	statementTypeV01 = "https://in-toto.io/Statement/v0.1"
	// PredicateType marks a cosign signature (as opposed to an
	// attestation) in a bundle.
	PredicateType = "https://sigstore.dev/cosign/sign/v1"
)

// MaxBundleSize bounds a bundle read from a registry. A keyed bundle is
// well under 4 KiB; certificate chains and log entries add a few KiB each.
const MaxBundleSize = 4 << 20

// Errors wrapped by bundle failures.
var (
	// ErrMalformed: the bundle cannot be decoded or breaks the format.
	ErrMalformed = errors.New("malformed sigstore bundle")
	// ErrTampered: the signature does not verify with the key the bundle
	// names (by hint or certificate), so it was changed after signing.
	ErrTampered = errors.New("bundle signature does not verify with its own key (altered after signing)")
)

// b64 is protobuf-JSON bytes: standard base64 with padding when written;
// any of the four base64 alphabets and paddings when read, as protojson
// accepts.
type b64 []byte

func (b b64) MarshalJSON() ([]byte, error) {
	return json.Marshal(base64.StdEncoding.EncodeToString(b))
}

func (b *b64) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if d, err := enc.DecodeString(s); err == nil {
			*b = d
			return nil
		}
	}
	return fmt.Errorf("value of %d characters is not base64", len(s))
}

// Bundle is a sigstore bundle (dev.sigstore.bundle.v1.Bundle in its
// protobuf-JSON form). Fields signet does not use are kept raw so a bundle
// read and re-encoded loses nothing that matters to signet's checks.
type Bundle struct {
	MediaType            string               `json:"mediaType"`
	VerificationMaterial VerificationMaterial `json:"verificationMaterial"`
	// MessageSignature is the other content kind (cosign sign-blob);
	// image signatures use DSSEEnvelope.
	MessageSignature json.RawMessage     `json:"messageSignature,omitempty"`
	DSSEEnvelope     *dsse.ProtoEnvelope `json:"dsseEnvelope,omitempty"`
}

// VerificationMaterial names what verifies the signature: exactly one of
// PublicKey, Certificate, X509CertificateChain.
type VerificationMaterial struct {
	PublicKey            *PublicKeyIdentifier `json:"publicKey,omitempty"`
	X509CertificateChain *CertificateChain    `json:"x509CertificateChain,omitempty"`
	Certificate          *Certificate         `json:"certificate,omitempty"`
	// Transparency log entries and RFC 3161 timestamps: signet writes
	// neither and does not check them.
	TlogEntries               []json.RawMessage `json:"tlogEntries,omitempty"`
	TimestampVerificationData json.RawMessage   `json:"timestampVerificationData,omitempty"`
}

// PublicKeyIdentifier names a key out of band by a hint.
type PublicKeyIdentifier struct {
	Hint string `json:"hint,omitempty"`
}

// Certificate is one DER certificate.
type Certificate struct {
	RawBytes b64 `json:"rawBytes"`
}

// CertificateChain is a leaf-first list of certificates.
type CertificateChain struct {
	Certificates []Certificate `json:"certificates"`
}

// KeyHint returns the hint cosign and sigstore-go write for a key:
// standard base64 of the SHA-256 of its PKIX DER encoding.
func KeyHint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// Parse decodes a bundle and checks its shape: the v0.3 media type (v0.1
// and v0.2 are accepted for reading), exactly one kind of verification
// material with parseable certificates, and a DSSE envelope with a payload
// and at least one signature. It never panics, whatever the input. Errors
// wrap ErrMalformed.
func Parse(b []byte) (*Bundle, error) {
	if len(b) > MaxBundleSize {
		return nil, fmt.Errorf("%w: %d bytes, over the %d-byte limit", ErrMalformed, len(b), MaxBundleSize)
	}
	var bd Bundle
	if err := json.Unmarshal(b, &bd); err != nil {
		return nil, fmt.Errorf("%w: decoding JSON: %w", ErrMalformed, err)
	}
	switch bd.MediaType {
	case MediaType, "application/vnd.dev.sigstore.bundle+json;version=0.2", "application/vnd.dev.sigstore.bundle+json;version=0.1":
	default:
		return nil, fmt.Errorf("%w: media type %q, want %q", ErrMalformed, bd.MediaType, MediaType)
	}
	vm := bd.VerificationMaterial
	n := 0
	for _, set := range []bool{vm.PublicKey != nil, vm.Certificate != nil, vm.X509CertificateChain != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("%w: verification material names %d of publicKey, certificate, x509CertificateChain; want exactly one", ErrMalformed, n)
	}
	if _, err := bd.Chain(); err != nil {
		return nil, err
	}
	if bd.DSSEEnvelope == nil {
		if len(bd.MessageSignature) > 0 {
			return nil, fmt.Errorf("%w: a message signature (cosign sign-blob), not a DSSE envelope", ErrMalformed)
		}
		return nil, fmt.Errorf("%w: no dsseEnvelope", ErrMalformed)
	}
	// protojson rejects a bundle whose bytes fields are not base64, so a
	// signature that does not decode makes the whole bundle malformed here,
	// where a bare DSSE envelope would only skip it.
	env := bd.DSSEEnvelope
	if p, err := env.DecodedPayload(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	} else if len(p) == 0 {
		return nil, fmt.Errorf("%w: empty DSSE payload", ErrMalformed)
	}
	if len(env.Signatures) == 0 {
		return nil, fmt.Errorf("%w: DSSE envelope has no signature", ErrMalformed)
	}
	for i, s := range env.Signatures {
		if sig, err := s.DecodedSig(); err != nil {
			return nil, fmt.Errorf("%w: DSSE signature %d: %w", ErrMalformed, i, err)
		} else if len(sig) == 0 {
			return nil, fmt.Errorf("%w: DSSE signature %d is empty", ErrMalformed, i)
		}
	}
	return &bd, nil
}

// Chain returns the bundle's certificates, leaf first, or nil for a keyed
// bundle.
func (b *Bundle) Chain() ([]*x509.Certificate, error) {
	var raw []Certificate
	switch vm := b.VerificationMaterial; {
	case vm.Certificate != nil:
		raw = []Certificate{*vm.Certificate}
	case vm.X509CertificateChain != nil:
		raw = vm.X509CertificateChain.Certificates
		if len(raw) == 0 {
			return nil, fmt.Errorf("%w: empty x509CertificateChain", ErrMalformed)
		}
	default:
		return nil, nil
	}
	out := make([]*x509.Certificate, 0, len(raw))
	for i, c := range raw {
		cert, err := x509.ParseCertificate(c.RawBytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %w", ErrMalformed, i, err)
		}
		out = append(out, cert)
	}
	return out, nil
}

// Statement is an in-toto statement, the DSSE payload.
type Statement struct {
	Type          string             `json:"_type"`
	Subject       []StatementSubject `json:"subject"`
	PredicateType string             `json:"predicateType"`
	Predicate     json.RawMessage    `json:"predicate"`
}

// StatementSubject is one subject of a statement.
type StatementSubject struct {
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest"`
}

// NewStatement returns the statement cosign v3 signs for an image: subject
// the manifest digest (no name), predicate type PredicateType, predicate {}.
func NewStatement(digest v1.Hash) ([]byte, error) {
	return json.Marshal(Statement{
		Type:          StatementType,
		Subject:       []StatementSubject{{Digest: map[string]string{digest.Algorithm: digest.Hex}}},
		PredicateType: PredicateType,
		Predicate:     json.RawMessage("{}"),
	})
}

// ParseStatement decodes an in-toto statement (v1 or v0.1). Errors wrap
// ErrMalformed.
func ParseStatement(b []byte) (*Statement, error) {
	var st Statement
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&st); err != nil {
		return nil, fmt.Errorf("%w: decoding statement: %w", ErrMalformed, err)
	}
	if st.Type != StatementType && st.Type != statementTypeV01 {
		return nil, fmt.Errorf("%w: statement _type %q, want %q", ErrMalformed, st.Type, StatementType)
	}
	return &st, nil
}

// Names reports whether the statement has digest among its subjects.
func (st *Statement) Names(digest v1.Hash) bool {
	for _, s := range st.Subject {
		if v, ok := s.Digest[digest.Algorithm]; ok && v == digest.Hex {
			return true
		}
	}
	return false
}

// SignOptions describe a bundle to make.
type SignOptions struct {
	// Chain, when set, is the key's certificate chain (leaf first); the
	// bundle then carries certificates instead of the key hint.
	Chain []*x509.Certificate
}

// Sign makes a bundle signing statement with key.
func Sign(ctx context.Context, key signature.Signer, statement []byte, o SignOptions) ([]byte, error) {
	pub := key.Public()
	env, err := dsse.Sign(ctx, key, dsse.HashFor(pub), PayloadType, statement)
	if err != nil {
		return nil, fmt.Errorf("signing sigstore bundle: %w", err)
	}
	bd := Bundle{MediaType: MediaType, DSSEEnvelope: &dsse.ProtoEnvelope{Envelope: *env}}
	if len(o.Chain) == 0 {
		hint, err := KeyHint(pub)
		if err != nil {
			return nil, fmt.Errorf("signing sigstore bundle: %w", err)
		}
		bd.VerificationMaterial.PublicKey = &PublicKeyIdentifier{Hint: hint}
	} else {
		if !certs.SamePublicKey(o.Chain[0].PublicKey, pub) {
			return nil, fmt.Errorf("signing sigstore bundle: the first certificate %s is not for the signing key", certs.Describe(o.Chain[0]))
		}
		bd.VerificationMaterial = certificateMaterial(o.Chain)
	}
	return json.Marshal(bd)
}

// certificateMaterial is the verification material of a bundle signed
// with chain (leaf first): a single certificate, or the leaf and
// intermediates. The root is left out, as cosign does: verifiers hold it.
func certificateMaterial(chain []*x509.Certificate) VerificationMaterial {
	var carried []Certificate
	for i, c := range chain {
		if i > 0 && certs.SelfSigned(c) {
			continue
		}
		carried = append(carried, Certificate{RawBytes: c.Raw})
	}
	if len(carried) == 1 {
		return VerificationMaterial{Certificate: &carried[0]}
	}
	return VerificationMaterial{X509CertificateChain: &CertificateChain{Certificates: carried}}
}

// carriesCertificates reports whether vm carries the certificates of want
// (a certificateMaterial), in the same form: byte for byte the same leaf
// and intermediates. The form counts because sigstore-go rejects a v0.3
// bundle's x509CertificateChain unless told otherwise, so a chain does not
// stand in for a single certificate.
func carriesCertificates(vm, want VerificationMaterial) bool {
	same := func(a, b Certificate) bool { return bytes.Equal(a.RawBytes, b.RawBytes) }
	switch {
	case want.Certificate != nil:
		return vm.Certificate != nil && same(*vm.Certificate, *want.Certificate)
	case want.X509CertificateChain != nil:
		return vm.X509CertificateChain != nil && slices.EqualFunc(vm.X509CertificateChain.Certificates, want.X509CertificateChain.Certificates, same)
	}
	return false
}

// VerifySignature checks that one of the envelope's signatures verifies
// with pub over PAE(payloadType, payload), with the hash dsse.HashFor(pub)
// (or SHA-256, which cosign v3.0 and earlier used for every key). A
// signature by another key, or one changed after signing, wraps
// signature.ErrMismatch.
func (b *Bundle) VerifySignature(pub crypto.PublicKey) error {
	env := b.DSSEEnvelope
	if env == nil {
		return fmt.Errorf("%w: no dsseEnvelope", ErrMalformed)
	}
	_, err := env.Verify([]crypto.PublicKey{pub})
	return err
}
