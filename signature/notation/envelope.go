package notation

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/certs"
)

// Media types and values of the format.
const (
	// EnvelopeMediaType is the media type of the signature layer (JWS).
	EnvelopeMediaType = "application/jose+json"
	// PayloadContentType is the protected cty header: the payload type.
	PayloadContentType = "application/vnd.cncf.notary.payload.v1+json"
	// ArtifactType is the signature manifest's config media type (and
	// artifactType in referrer listings), which notation filters on.
	ArtifactType = "application/vnd.cncf.notary.signature"
	// SchemeX509 is the signing scheme signet writes: the signer's own
	// certificate chain, with an unauthenticated signing time.
	SchemeX509 = "notary.x509"
	// SchemeX509SigningAuthority is the scheme of signing services (AWS
	// Signer), whose signing time is authenticated; signet reads it.
	SchemeX509SigningAuthority = "notary.x509.signingAuthority"
)

// Header names of the JWS envelope.
const (
	hdrAlg                  = "alg"
	hdrCty                  = "cty"
	hdrCrit                 = "crit"
	hdrSigningScheme        = "io.cncf.notary.signingScheme"
	hdrSigningTime          = "io.cncf.notary.signingTime"
	hdrExpiry               = "io.cncf.notary.expiry"
	hdrAuthenticSigningTime = "io.cncf.notary.authenticSigningTime"
)

// MaxEnvelopeSize bounds an envelope read from a registry, as notation does.
const MaxEnvelopeSize = 32 << 20

// Errors wrapped by envelope failures, so verifiers can tell why.
var (
	// ErrMalformed: the envelope cannot be decoded or breaks the format.
	ErrMalformed = errors.New("malformed notation signature envelope")
	// ErrTampered: the signature does not verify with the envelope's own
	// leaf certificate, so the envelope was changed after signing.
	ErrTampered = errors.New("envelope signature does not verify with its signing certificate (altered after signing)")
	// ErrBadChain: the certificate chain breaks notation's certificate
	// rules (wraps certs.ErrInvalidChain).
	ErrBadChain = errors.New("certificate chain breaks notation's rules")
)

// Header is the decoded protected header.
type Header struct {
	Alg           string
	ContentType   string
	Critical      []string
	SigningScheme string
	// SigningTime is io.cncf.notary.signingTime (notary.x509) or
	// io.cncf.notary.authenticSigningTime (signingAuthority).
	SigningTime time.Time
	// Expiry is the zero time when the signature does not expire.
	Expiry time.Time
	// Extra holds the protected headers this package does not know.
	Extra map[string]json.RawMessage
}

// Envelope is a decoded JWS envelope. The encoded parts are kept as found,
// since the signature covers them, not their decoded form.
type Envelope struct {
	Header    Header
	Payload   []byte
	Signature []byte
	// Chain is x5c, leaf first.
	Chain        []*x509.Certificate
	SigningAgent string
	// TimestampSignature is an RFC 3161 token over the signature, if any.
	// signet neither writes nor checks one.
	TimestampSignature []byte

	protected string // base64url, as found
	payload   string // base64url, as found
}

// wireEnvelope is the flattened JWS JSON serialization, fields in the order
// notation-core-go writes them.
type wireEnvelope struct {
	Payload   string     `json:"payload"`
	Protected string     `json:"protected"`
	Header    wireHeader `json:"header"`
	Signature string     `json:"signature"`
}

type wireHeader struct {
	// The code's name; the spec's sample says io.cncf.notary.timestamp.
	TimestampSignature []byte   `json:"io.cncf.notary.timestampSignature,omitempty"`
	X5c                [][]byte `json:"x5c"`
	SigningAgent       string   `json:"io.cncf.notary.signingAgent,omitempty"`
}

var b64 = base64.RawURLEncoding

// ParseEnvelope decodes a JWS envelope. It checks the encoding only (every
// part decodes, the protected header is a JSON object with the types the
// format gives its fields, x5c holds certificates); Verify checks the
// meaning. It never panics, whatever the input. Errors wrap ErrMalformed.
func ParseEnvelope(b []byte) (*Envelope, error) {
	if len(b) > MaxEnvelopeSize {
		return nil, fmt.Errorf("%w: %d bytes, over the %d-byte limit", ErrMalformed, len(b), MaxEnvelopeSize)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("%w: decoding JSON: %w", ErrMalformed, err)
	}
	for k := range top {
		switch k {
		case "payload", "protected", "header", "signature":
		default:
			// A general JWS JSON serialization ("signatures": [...]) or
			// anything else notation never writes.
			return nil, fmt.Errorf("%w: unexpected top-level member %q (only the flattened JWS JSON serialization is used)", ErrMalformed, k)
		}
	}
	var w wireEnvelope
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: decoding JSON: %w", ErrMalformed, err)
	}
	e := &Envelope{protected: w.Protected, payload: w.Payload, SigningAgent: w.Header.SigningAgent, TimestampSignature: w.Header.TimestampSignature}
	var err error
	if e.Payload, err = b64.DecodeString(w.Payload); err != nil {
		return nil, fmt.Errorf("%w: decoding payload: %w", ErrMalformed, err)
	}
	if e.Signature, err = b64.DecodeString(w.Signature); err != nil {
		return nil, fmt.Errorf("%w: decoding signature: %w", ErrMalformed, err)
	}
	if len(e.Signature) == 0 {
		return nil, fmt.Errorf("%w: empty signature", ErrMalformed)
	}
	rawHeader, err := b64.DecodeString(w.Protected)
	if err != nil {
		return nil, fmt.Errorf("%w: decoding protected header: %w", ErrMalformed, err)
	}
	if e.Header, err = parseHeader(rawHeader); err != nil {
		return nil, err
	}
	if len(w.Header.X5c) == 0 {
		return nil, fmt.Errorf("%w: no x5c certificate chain", ErrMalformed)
	}
	for i, der := range w.Header.X5c {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: x5c certificate %d: %w", ErrMalformed, i, err)
		}
		e.Chain = append(e.Chain, c)
	}
	return e, nil
}

func parseHeader(raw []byte) (Header, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		return Header{}, fmt.Errorf("%w: decoding protected header: %w", ErrMalformed, err)
	}
	if all == nil {
		return Header{}, fmt.Errorf("%w: protected header is not a JSON object", ErrMalformed)
	}
	h := Header{Extra: map[string]json.RawMessage{}}
	str := func(key string, dst *string) error {
		v, ok := all[key]
		if !ok {
			return nil
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("%w: protected header %q: %w", ErrMalformed, key, err)
		}
		return nil
	}
	tm := func(key string, dst *time.Time) error {
		var s string
		if err := str(key, &s); err != nil {
			return err
		}
		if _, ok := all[key]; !ok {
			return nil
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return fmt.Errorf("%w: protected header %q: %w", ErrMalformed, key, err)
		}
		*dst = t
		return nil
	}
	var authentic time.Time
	for _, err := range []error{
		str(hdrAlg, &h.Alg), str(hdrCty, &h.ContentType), str(hdrSigningScheme, &h.SigningScheme),
		tm(hdrSigningTime, &h.SigningTime), tm(hdrExpiry, &h.Expiry), tm(hdrAuthenticSigningTime, &authentic),
	} {
		if err != nil {
			return Header{}, err
		}
	}
	if v, ok := all[hdrCrit]; ok {
		if err := json.Unmarshal(v, &h.Critical); err != nil {
			return Header{}, fmt.Errorf("%w: protected header %q: %w", ErrMalformed, hdrCrit, err)
		}
	}
	switch h.SigningScheme {
	case SchemeX509:
		if _, ok := all[hdrAuthenticSigningTime]; ok {
			return Header{}, fmt.Errorf("%w: %q must not appear with scheme %s", ErrMalformed, hdrAuthenticSigningTime, SchemeX509)
		}
	case SchemeX509SigningAuthority:
		if _, ok := all[hdrSigningTime]; ok {
			return Header{}, fmt.Errorf("%w: %q must not appear with scheme %s", ErrMalformed, hdrSigningTime, SchemeX509SigningAuthority)
		}
		h.SigningTime = authentic
	case "":
		return Header{}, fmt.Errorf("%w: protected header lacks %q", ErrMalformed, hdrSigningScheme)
	default:
		return Header{}, fmt.Errorf("%w: unsupported signing scheme %q", ErrMalformed, h.SigningScheme)
	}
	for k, v := range all {
		switch k {
		case hdrAlg, hdrCty, hdrCrit, hdrSigningScheme, hdrSigningTime, hdrExpiry, hdrAuthenticSigningTime:
		default:
			h.Extra[k] = v
		}
	}
	return h, nil
}

// Algorithm is a JWS algorithm with what it takes to compute it.
type Algorithm struct {
	// Name is the JWS alg: PS256, PS384, PS512, ES256, ES384 or ES512.
	Name string
	Hash crypto.Hash
}

// AlgorithmFor returns the only algorithm notation accepts for pub: the
// key type and size decide it (notation-format.md §6), so a signature can
// never name a weaker one than its certificate's key implies.
func AlgorithmFor(pub crypto.PublicKey) (Algorithm, error) {
	if err := certs.CheckKey(pub); err != nil {
		return Algorithm{}, err
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			return Algorithm{"PS256", crypto.SHA256}, nil
		case 3072:
			return Algorithm{"PS384", crypto.SHA384}, nil
		default:
			return Algorithm{"PS512", crypto.SHA512}, nil
		}
	case *ecdsa.PublicKey:
		switch signature.CurveSize(k) {
		case 32:
			return Algorithm{"ES256", crypto.SHA256}, nil
		case 48:
			return Algorithm{"ES384", crypto.SHA384}, nil
		default:
			return Algorithm{"ES512", crypto.SHA512}, nil
		}
	}
	return Algorithm{}, fmt.Errorf("unsupported key type %T", pub)
}

// SignRequest is what to put in an envelope.
type SignRequest struct {
	// Payload is the JSON payload (see NewPayload).
	Payload []byte
	// Chain is the signing certificate chain, leaf (the key's certificate)
	// first, self-signed root last.
	Chain []*x509.Certificate
	// SigningTime is truncated to whole seconds and written in UTC.
	SigningTime time.Time
	// Expiry, when not zero, makes the signature expire then; it must be
	// after SigningTime.
	Expiry time.Time
	// SigningAgent names the software that signed ("signet/1.2.3").
	SigningAgent string
}

// Sign makes a JWS envelope over req.Payload with key. The chain must be
// key's and pass notation's certificate rules at the signing time; the
// algorithm follows from the key.
func Sign(ctx context.Context, key signature.Signer, req SignRequest) ([]byte, error) {
	return sign(ctx, key, req, false)
}

// sign is Sign; with chainChecked the chain's structure is taken as
// validated (Format does it once, not per signature) and only its validity
// at the signing time is checked.
func sign(ctx context.Context, key signature.Signer, req SignRequest, chainChecked bool) ([]byte, error) {
	if len(req.Chain) == 0 {
		return nil, errors.New("signing notation envelope: no certificate chain: notation signatures carry the signer's certificate chain")
	}
	if !certs.SamePublicKey(req.Chain[0].PublicKey, key.Public()) {
		return nil, fmt.Errorf("signing notation envelope: the first certificate %s is not for the signing key", certs.Describe(req.Chain[0]))
	}
	alg, err := AlgorithmFor(key.Public())
	if err != nil {
		return nil, fmt.Errorf("signing notation envelope: %w", err)
	}
	signingTime := req.SigningTime.Truncate(time.Second).UTC()
	if signingTime.IsZero() {
		return nil, errors.New("signing notation envelope: no signing time")
	}
	check := certs.ValidateCodeSigningChain
	if chainChecked {
		check = certs.ValidAt
	}
	if err := check(req.Chain, signingTime); err != nil {
		return nil, fmt.Errorf("signing notation envelope: %w", err)
	}
	if !isJSONObject(req.Payload) {
		return nil, errors.New("signing notation envelope: the payload must be a JSON object")
	}
	hdr := map[string]any{
		hdrAlg:           alg.Name,
		hdrCty:           PayloadContentType,
		hdrSigningScheme: SchemeX509,
		hdrSigningTime:   signingTime.Format(time.RFC3339),
	}
	crit := []string{hdrSigningScheme}
	if !req.Expiry.IsZero() {
		expiry := req.Expiry.Truncate(time.Second).UTC()
		if !expiry.After(signingTime) {
			return nil, fmt.Errorf("signing notation envelope: expiry %s is not after the signing time %s", expiry.Format(time.RFC3339), signingTime.Format(time.RFC3339))
		}
		hdr[hdrExpiry] = expiry.Format(time.RFC3339)
		crit = append(crit, hdrExpiry)
	}
	hdr[hdrCrit] = crit
	// encoding/json writes map keys sorted, as notation-go's map does.
	rawHeader, err := json.Marshal(hdr)
	if err != nil {
		return nil, fmt.Errorf("encoding protected header: %w", err)
	}
	protected := b64.EncodeToString(rawHeader)
	payload := b64.EncodeToString(req.Payload)
	sig, err := signInput(ctx, key, alg, []byte(protected+"."+payload))
	if err != nil {
		return nil, fmt.Errorf("signing notation envelope: %w", err)
	}
	w := wireEnvelope{
		Payload:   payload,
		Protected: protected,
		Header:    wireHeader{SigningAgent: req.SigningAgent},
		Signature: b64.EncodeToString(sig),
	}
	for _, c := range req.Chain {
		w.Header.X5c = append(w.Header.X5c, c.Raw)
	}
	return json.Marshal(w)
}

func signInput(ctx context.Context, key signature.Signer, alg Algorithm, input []byte) ([]byte, error) {
	if strings.HasPrefix(alg.Name, "PS") {
		// Salt = hash length: what PKCS#11 CKM_RSA_PKCS_PSS tokens do
		// and what notation's COSE verifier insists on.
		return signature.SignMessage(ctx, key, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: alg.Hash}, input)
	}
	der, err := signature.SignMessage(ctx, key, alg.Hash, input)
	if err != nil {
		return nil, err
	}
	// JWS wants fixed-length r||s; keys return ASN.1 DER.
	return signature.DERToRaw(der, signature.CurveSize(key.Public()))
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

// Verify checks the envelope's integrity, the checks notation makes before
// it looks at trust: the signing scheme and critical headers, the content
// type, the algorithm against the leaf's key (a mismatch would be an
// algorithm substitution), the chain against notation's certificate rules at
// the signing time, the signature over the protected header and payload with
// the leaf's key, and that the payload is a JSON object. It does not decide
// whether the chain is trusted, nor look at expiry against the clock.
// Errors wrap ErrMalformed, ErrBadChain or ErrTampered.
func (e *Envelope) Verify() error {
	h := e.Header
	if len(h.Critical) == 0 {
		return fmt.Errorf("%w: missing %q header", ErrMalformed, hdrCrit)
	}
	must := map[string]bool{hdrSigningScheme: true}
	if !h.Expiry.IsZero() {
		must[hdrExpiry] = true
	}
	if h.SigningScheme == SchemeX509SigningAuthority {
		must[hdrAuthenticSigningTime] = true
	}
	for _, c := range h.Critical {
		if must[c] {
			delete(must, c)
			continue
		}
		switch c {
		case hdrSigningTime, hdrAlg, hdrCty:
			// Present and understood; marking them critical is harmless.
			continue
		}
		if _, ok := h.Extra[c]; !ok {
			return fmt.Errorf("%w: header %q is marked critical but not present", ErrMalformed, c)
		}
		// A critical header signet does not process, such as
		// io.cncf.notary.verificationPlugin: JWS requires rejecting it.
		return fmt.Errorf("%w: critical header %q is not supported by signet (it needs a notation verification plugin)", ErrMalformed, c)
	}
	if len(must) > 0 {
		missing := make([]string, 0, len(must))
		for k := range must {
			missing = append(missing, k)
		}
		slices.Sort(missing)
		return fmt.Errorf("%w: headers %v must be marked critical", ErrMalformed, missing)
	}
	if h.ContentType != PayloadContentType {
		return fmt.Errorf("%w: content type %q, want %q", ErrMalformed, h.ContentType, PayloadContentType)
	}
	if h.SigningTime.IsZero() {
		return fmt.Errorf("%w: no signing time", ErrMalformed)
	}
	if !h.Expiry.IsZero() && !h.Expiry.After(h.SigningTime) {
		return fmt.Errorf("%w: expiry %s is not after the signing time %s", ErrMalformed, h.Expiry.Format(time.RFC3339), h.SigningTime.Format(time.RFC3339))
	}
	if len(e.Chain) == 0 {
		return fmt.Errorf("%w: no certificate chain", ErrMalformed)
	}
	leaf := e.Chain[0]
	alg, err := AlgorithmFor(leaf.PublicKey)
	if err != nil {
		return fmt.Errorf("%w: signing certificate %s: %w", ErrBadChain, certs.Describe(leaf), err)
	}
	if h.Alg != alg.Name {
		return fmt.Errorf("%w: alg %q does not match the signing certificate's key, which signs %s", ErrMalformed, h.Alg, alg.Name)
	}
	if err := certs.ValidateCodeSigningChain(e.Chain, h.SigningTime); err != nil {
		return fmt.Errorf("%w: %w", ErrBadChain, err)
	}
	return e.verifySignature(alg)
}

// verifySignature checks the signature with the leaf's key and that the
// payload is a JSON object.
func (e *Envelope) verifySignature(alg Algorithm) error {
	if err := verifyInput(e.Chain[0].PublicKey, alg, []byte(e.protected+"."+e.payload), e.Signature); err != nil {
		return err
	}
	if !isJSONObject(e.Payload) {
		return fmt.Errorf("%w: the payload is not a JSON object", ErrMalformed)
	}
	return nil
}

func verifyInput(pub crypto.PublicKey, alg Algorithm, input, sig []byte) error {
	d := signature.Hash(alg.Hash)
	d.Write(input)
	digest := d.Sum(nil)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		// Only the fixed-length form: golang-jwt, which notation uses,
		// rejects DER here too.
		if len(sig) != 2*signature.CurveSize(k) {
			return fmt.Errorf("%w: ECDSA signature is %d bytes, want %d (raw r||s)", ErrTampered, len(sig), 2*signature.CurveSize(k))
		}
		half := len(sig) / 2
		if !ecdsa.Verify(k, digest, new(big.Int).SetBytes(sig[:half]), new(big.Int).SetBytes(sig[half:])) {
			return ErrTampered
		}
		return nil
	case *rsa.PublicKey:
		// The JWS verifier notation uses accepts any salt length.
		if rsa.VerifyPSS(k, alg.Hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) != nil {
			return ErrTampered
		}
		return nil
	}
	return fmt.Errorf("%w: unsupported key type %T", ErrMalformed, pub)
}
