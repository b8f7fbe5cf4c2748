package notation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/signature"
)

// Descriptor is the payload's targetArtifact: the signed manifest as the
// registry describes it.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Payload is the signed JSON document.
type Payload struct {
	TargetArtifact Descriptor `json:"targetArtifact"`
}

// reservedPrefix starts annotation keys notation keeps for itself; it
// refuses user metadata using it, and so does signet.
const reservedPrefix = "io.cncf.notary"

// NewPayload returns the payload naming s. Its mediaType is s.MediaType,
// which must be the Content-Type the registry reported: notation compares
// it with what the registry says when verifying. annotations (notation's
// --user-metadata) may be nil.
func NewPayload(s signature.Subject, annotations map[string]string) ([]byte, error) {
	if s.MediaType == "" || s.Size <= 0 || s.Digest.Hex == "" {
		return nil, fmt.Errorf("making notation payload for %s: the subject needs a media type, size and digest", s.Digest)
	}
	for k := range annotations {
		if strings.HasPrefix(k, reservedPrefix) {
			return nil, fmt.Errorf("making notation payload for %s: annotation %q uses the reserved prefix %q", s.Digest, k, reservedPrefix)
		}
	}
	return json.Marshal(Payload{TargetArtifact: Descriptor{
		MediaType:   s.MediaType,
		Digest:      s.Digest.String(),
		Size:        s.Size,
		Annotations: annotations,
	}})
}

// ParsePayload decodes a payload. A payload without a well-formed digest,
// a media type or a size is an error wrapping ErrMalformed.
func ParsePayload(b []byte) (*Payload, error) {
	var p Payload
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: decoding payload: %w", ErrMalformed, err)
	}
	if _, err := v1.NewHash(p.TargetArtifact.Digest); err != nil {
		return nil, fmt.Errorf("%w: payload targetArtifact.digest %q: %w", ErrMalformed, p.TargetArtifact.Digest, err)
	}
	if p.TargetArtifact.MediaType == "" || p.TargetArtifact.Size <= 0 {
		return nil, fmt.Errorf("%w: payload targetArtifact lacks mediaType or size", ErrMalformed)
	}
	return &p, nil
}

// Matches reports why the payload does not describe s, or nil when its
// media type, digest and size are exactly s's (notation compares those three
// with the registry's descriptor).
func (p *Payload) Matches(s signature.Subject) error {
	t := p.TargetArtifact
	switch {
	case t.Digest != s.Digest.String():
		return fmt.Errorf("the signature is for %s, not %s", t.Digest, s.Digest)
	case t.MediaType != s.MediaType:
		return fmt.Errorf("the signature names media type %q for %s; the registry serves it as %q", t.MediaType, s.Digest, s.MediaType)
	case t.Size != s.Size:
		return fmt.Errorf("the signature names size %d for %s; the registry serves %d bytes", t.Size, s.Digest, s.Size)
	}
	return nil
}
