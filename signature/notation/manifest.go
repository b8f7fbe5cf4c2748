package notation

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/certs"
	"github.com/signet-project/signet/signature/referrer"
)

// Annotation keys of the signature manifest.
const (
	// ThumbprintAnnotation holds a JSON array, as a string, of the
	// lowercase hex SHA-256 of each x5c certificate, leaf first. notation's
	// verifier ignores it; notation list and inspect show it, and signet
	// uses it to recognise its own signatures without fetching envelopes.
	ThumbprintAnnotation = "io.cncf.notary.x509chain.thumbprint#S256"
	// CreatedAnnotation is the signing time, RFC 3339 UTC.
	CreatedAnnotation = "org.opencontainers.image.created"
	// ExpiryAnnotation is signet's own: the envelope's expiry, RFC 3339
	// UTC, or NoExpiry. It puts the envelope's expiry in the referrers
	// listing, so that re-signing can tell an expired signature of its
	// chain from a live one without reading each envelope. Verifiers
	// ignore it, notation's included; a signature without it (notation's,
	// or an older signet's) has its envelope read instead.
	ExpiryAnnotation = "dev.signet.notation.expiry"
	// NoExpiry is ExpiryAnnotation's value for a signature that does not
	// expire.
	NoExpiry = "none"
)

// descriptor is an OCI descriptor with the fields in the order the OCI
// specification lists them (and oras-go writes them).
type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        descriptor        `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Subject       *descriptor       `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// ThumbprintsJSON returns the value of ThumbprintAnnotation for chain.
func ThumbprintsJSON(chain []*x509.Certificate) string {
	b, _ := json.Marshal(certs.Thumbprints(chain)) // []string always encodes
	return string(b)
}

// SignatureManifest is a signature manifest ready to push: its bytes, the
// descriptor a referrers listing shows for it, and the envelope it holds.
type SignatureManifest struct {
	Body       []byte
	Descriptor v1.Descriptor
	Envelope   []byte
}

// NewSignatureManifest wraps envelope (signed with chain at signingTime) in
// the legacy manifest variant every notation release reads: no
// artifactType, config of media type ArtifactType and content "{}", the
// envelope as its only layer, subject s, and the thumbprint and creation
// annotations, and ExpiryAnnotation when the envelope decodes and was
// signed at signingTime.
func NewSignatureManifest(envelope []byte, s signature.Subject, chain []*x509.Certificate, signingTime time.Time) (*SignatureManifest, error) {
	signingTime = signingTime.Truncate(time.Second).UTC()
	ann := map[string]string{
		ThumbprintAnnotation: ThumbprintsJSON(chain),
		CreatedAnnotation:    signingTime.Format(time.RFC3339),
	}
	// The dedupe takes the expiry from the listing without reading the
	// envelope, so it is recorded only for an envelope known to be the
	// one described: it decodes and agrees on the signing time.
	if e, err := ParseEnvelope(envelope); err == nil && e.Header.SigningTime.Equal(signingTime) {
		ann[ExpiryAnnotation] = NoExpiry
		if !e.Header.Expiry.IsZero() {
			ann[ExpiryAnnotation] = e.Header.Expiry.UTC().Format(time.RFC3339)
		}
	}
	config := referrer.ConfigDescriptor(ArtifactType)
	m := manifest{
		SchemaVersion: 2,
		MediaType:     string(types.OCIManifestSchema1),
		Config:        descriptor{MediaType: string(config.MediaType), Digest: config.Digest.String(), Size: config.Size},
		Layers:        []descriptor{{MediaType: EnvelopeMediaType, Digest: referrer.Digest(envelope).String(), Size: int64(len(envelope))}},
		Subject:       &descriptor{MediaType: s.MediaType, Digest: s.Digest.String(), Size: s.Size},
		Annotations:   ann,
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding notation signature manifest for %s: %w", s.Digest, err)
	}
	return &SignatureManifest{
		Body: body,
		Descriptor: v1.Descriptor{
			MediaType:    types.OCIManifestSchema1,
			Digest:       referrer.Digest(body),
			Size:         int64(len(body)),
			ArtifactType: ArtifactType,
			Annotations:  ann,
		},
		Envelope: envelope,
	}, nil
}

// parsedManifest is what the verifier needs from a signature manifest.
type parsedManifest struct {
	envelope    v1.Descriptor
	subject     string
	annotations map[string]string
}

// parseSignatureManifest accepts both manifest variants (legacy, and the
// artifactType one newer notation-go writes) with exactly one layer, as
// notation's verifier does. Errors wrap ErrMalformed.
func parseSignatureManifest(body []byte) (*parsedManifest, error) {
	var m manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: decoding signature manifest: %w", ErrMalformed, err)
	}
	if m.ArtifactType != ArtifactType && m.Config.MediaType != ArtifactType {
		return nil, fmt.Errorf("%w: manifest is neither of artifactType nor of config type %s", ErrMalformed, ArtifactType)
	}
	if len(m.Layers) != 1 {
		return nil, fmt.Errorf("%w: signature manifest has %d layers, want exactly one envelope", ErrMalformed, len(m.Layers))
	}
	l := m.Layers[0]
	if l.MediaType != EnvelopeMediaType {
		if strings.HasPrefix(l.MediaType, "application/cose") {
			return nil, fmt.Errorf("%w: COSE envelopes (%s) are not supported; sign with --signature-format jws", ErrMalformed, l.MediaType)
		}
		return nil, fmt.Errorf("%w: envelope media type %q, want %q", ErrMalformed, l.MediaType, EnvelopeMediaType)
	}
	h, err := v1.NewHash(l.Digest)
	if err != nil {
		return nil, fmt.Errorf("%w: envelope digest: %w", ErrMalformed, err)
	}
	if l.Size < 0 || l.Size > MaxEnvelopeSize {
		return nil, fmt.Errorf("%w: envelope of %d bytes, over the %d-byte limit", ErrMalformed, l.Size, MaxEnvelopeSize)
	}
	p := &parsedManifest{envelope: v1.Descriptor{MediaType: types.MediaType(l.MediaType), Digest: h, Size: l.Size}, annotations: m.Annotations}
	if m.Subject != nil {
		p.subject = m.Subject.Digest
	}
	return p, nil
}
