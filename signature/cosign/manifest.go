package cosign

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types and annotation keys of cosign attachments.
const (
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	DSSEMediaType          = "application/vnd.dsse.envelope.v1+json"

	SignatureAnnotation   = "dev.cosignproject.cosign/signature"
	CertificateAnnotation = "dev.sigstore.cosign/certificate"
	ChainAnnotation       = "dev.sigstore.cosign/chain"
	BundleAnnotation      = "dev.sigstore.cosign/bundle"
	// PredicateTypeAnnotation names an attestation layer's predicate type.
	PredicateTypeAnnotation = "predicateType"
)

// Suffixes of the attachment tags.
const (
	SignatureSuffix   = "sig"
	AttestationSuffix = "att"
)

// Tag returns the tag cosign stores an attachment of digest under, for
// example "sha256-<hex>.sig".
func Tag(digest v1.Hash, suffix string) string {
	return digest.Algorithm + "-" + digest.Hex + "." + suffix
}

// Layer is one signature or attestation in an attachment manifest. Payload
// holds the blob when it is known (always for layers signet makes; for
// layers read from a registry, once fetched).
type Layer struct {
	MediaType   string
	Digest      v1.Hash
	Size        int64
	Annotations map[string]string
	Payload     []byte
}

// NewLayer makes a layer for payload with the given annotations.
func NewLayer(mediaType string, payload []byte, annotations map[string]string) Layer {
	sum := sha256.Sum256(payload)
	return Layer{
		MediaType:   mediaType,
		Digest:      v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])},
		Size:        int64(len(payload)),
		Annotations: annotations,
		Payload:     payload,
	}
}

// Signature returns the base64 signature annotation of the layer.
func (l Layer) Signature() string { return l.Annotations[SignatureAnnotation] }

// Attachment is a decoded .sig or .att manifest: an OCI image manifest whose
// layers are signatures and whose config lists them as rootfs diff_ids.
type Attachment struct {
	Layers []Layer
}

// ParseAttachment decodes an attachment manifest. containers/image refuses
// anything but an OCI manifest here, so signet does too.
func ParseAttachment(body []byte) (*Attachment, error) {
	var m v1.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("decoding attachment manifest: %w", err)
	}
	if m.MediaType != types.OCIManifestSchema1 {
		return nil, fmt.Errorf("attachment manifest has media type %q, want %q", m.MediaType, types.OCIManifestSchema1)
	}
	a := &Attachment{Layers: make([]Layer, 0, len(m.Layers))}
	for _, d := range m.Layers {
		a.Layers = append(a.Layers, Layer{
			MediaType:   string(d.MediaType),
			Digest:      d.Digest,
			Size:        d.Size,
			Annotations: d.Annotations,
		})
	}
	return a, nil
}

// emptyTime is the creation time of go-containerregistry's empty image,
// which cosign signs on top of; keeping it makes signet's config bytes
// identical to cosign's for the same layers.
const emptyTime = "0001-01-01T00:00:00Z"

// Config returns the attachment's config blob: go-containerregistry's empty
// image config with one history entry and one diff_id per layer. No verifier
// reads it, but cosign and podman append new layers through it, and both
// expect rootfs.diff_ids to match the layers.
func (a *Attachment) Config() []byte {
	var b bytes.Buffer
	b.Grow(160 + len(a.Layers)*110)
	b.WriteString(`{"architecture":"","created":"` + emptyTime + `","history":[`)
	for i := range a.Layers {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"created":"` + emptyTime + `"}`)
	}
	b.WriteString(`],"os":"","rootfs":{"type":"layers","diff_ids":[`)
	for i, l := range a.Layers {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + l.Digest.String() + `"`)
	}
	b.WriteString(`]},"config":{}}`)
	return b.Bytes()
}

// Manifest returns the attachment's manifest for the given config blob:
// the bytes encoding/json writes for the v1.Manifest (an OCI image
// manifest with an OCI config, one descriptor per layer, annotations with
// sorted keys, HTML-escaped strings), written directly because a batch
// writes one per signature (TestManifestBytesMatchJSON holds the two to
// the same bytes).
func (a *Attachment) Manifest(config []byte) ([]byte, error) {
	sum := sha256.Sum256(config)
	n := 256
	for _, l := range a.Layers {
		n += 160 + len(l.MediaType)
		for k, v := range l.Annotations {
			n += len(k) + len(v) + 8
		}
	}
	b := make([]byte, 0, n)
	b = append(b, `{"schemaVersion":2,"mediaType":"`+string(types.OCIManifestSchema1)+`","config":{"mediaType":"`+string(types.OCIConfigJSON)+`","size":`...)
	b = strconv.AppendInt(b, int64(len(config)), 10)
	b = append(b, `,"digest":"sha256:`...)
	b = hex.AppendEncode(b, sum[:])
	b = append(b, `"},"layers":[`...)
	var keys []string
	for i, l := range a.Layers {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"mediaType":`...)
		b = appendJSONString(b, l.MediaType)
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, l.Size, 10)
		b = append(b, `,"digest":`...)
		b = appendJSONString(b, l.Digest.Algorithm+":"+l.Digest.Hex)
		if len(l.Annotations) > 0 {
			keys = keys[:0]
			for k := range l.Annotations {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			b = append(b, `,"annotations":{`...)
			for j, k := range keys {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, k)
				b = append(b, ':')
				b = appendJSONString(b, l.Annotations[k])
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

// appendJSONString appends s as encoding/json writes it. Strings of plain
// printable ASCII (digests, media types, base64 signatures) are quoted as
// they are; anything else goes through encoding/json, whose escaping
// (HTML characters, control characters, invalid UTF-8, U+2028/9) is the
// one to match.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// IsAttachmentTag reports whether tag names a cosign attachment
// ("sha256-<64 hex>.sig", ".att" or ".sbom") rather than an image.
func IsAttachmentTag(tag string) bool {
	alg, rest, ok := strings.Cut(tag, "-")
	if !ok || alg != "sha256" {
		return false
	}
	hexPart, suffix, ok := strings.Cut(rest, ".")
	if !ok || len(hexPart) != 64 {
		return false
	}
	switch suffix {
	case SignatureSuffix, AttestationSuffix, "sbom":
		return true
	}
	return false
}
