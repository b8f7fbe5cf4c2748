package cosign

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// SignatureType is the critical.type of every cosign simple-signing payload.
const SignatureType = "cosign container image signature"

// Payload returns the simple-signing payload for a manifest digest, byte for
// byte as cosign writes it: field order critical{identity, image, type},
// then optional, written as null when empty. The bytes are the signed
// message, so they are built by hand rather than by a marshaller whose
// field order or escaping could drift.
func Payload(identity string, digest v1.Hash, optional map[string]string) []byte {
	var b bytes.Buffer
	b.Grow(256)
	b.WriteString(`{"critical":{"identity":{"docker-reference":`)
	writeJSONString(&b, identity)
	b.WriteString(`},"image":{"docker-manifest-digest":`)
	writeJSONString(&b, digest.String())
	b.WriteString(`},"type":"` + SignatureType + `"},"optional":`)
	if len(optional) == 0 {
		b.WriteString("null}")
		return b.Bytes()
	}
	opt, _ := json.Marshal(optional) // map keys come out sorted, as cosign's do
	b.Write(opt)
	b.WriteByte('}')
	return b.Bytes()
}

func writeJSONString(b *bytes.Buffer, s string) {
	b.Write(appendJSONString(b.AvailableBuffer(), s))
}

// SimpleSigning is a decoded simple-signing payload.
type SimpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// Digest returns the manifest digest the payload vouches for.
func (s *SimpleSigning) Digest() (v1.Hash, error) {
	h, err := v1.NewHash(s.Critical.Image.DockerManifestDigest)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("payload names digest %q: %w", s.Critical.Image.DockerManifestDigest, err)
	}
	return h, nil
}

// ParsePayload decodes a simple-signing payload with the strictness of
// containers/image: exactly "critical" and "optional" at the top, exactly
// "identity", "image" and "type" in critical, and the cosign type string.
// cosign itself is laxer; signet holds payloads it accepts to the stricter
// reader so that what signet verifies, podman verifies too.
func ParsePayload(b []byte) (*SimpleSigning, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("decoding simple-signing payload: %w", err)
	}
	if err := exactKeys("payload", top, "critical", "optional"); err != nil {
		return nil, err
	}
	var crit map[string]json.RawMessage
	if err := json.Unmarshal(top["critical"], &crit); err != nil {
		return nil, fmt.Errorf("decoding payload critical section: %w", err)
	}
	if err := exactKeys("payload critical section", crit, "identity", "image", "type"); err != nil {
		return nil, err
	}
	var s SimpleSigning
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decoding simple-signing payload: %w", err)
	}
	if s.Critical.Type != SignatureType {
		return nil, fmt.Errorf("payload type is %s, want %q", strconv.Quote(s.Critical.Type), SignatureType)
	}
	if _, err := s.Digest(); err != nil {
		return nil, err
	}
	return &s, nil
}

func exactKeys(what string, m map[string]json.RawMessage, keys ...string) error {
	if len(m) != len(keys) {
		return fmt.Errorf("%s has %d fields, want exactly %q", what, len(m), keys)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return fmt.Errorf("%s lacks the %q field", what, k)
		}
	}
	return nil
}
