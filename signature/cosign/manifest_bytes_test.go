package cosign

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// manifestViaJSON is what Manifest wrote before it wrote bytes directly:
// encoding/json over go-containerregistry's v1.Manifest.
func manifestViaJSON(a *Attachment, config []byte) []byte {
	sum := sha256.Sum256(config)
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config: v1.Descriptor{
			MediaType: types.OCIConfigJSON,
			Size:      int64(len(config)),
			Digest:    v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])},
		},
		Layers: make([]v1.Descriptor, 0, len(a.Layers)),
	}
	for _, l := range a.Layers {
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.MediaType(l.MediaType), Size: l.Size, Digest: l.Digest, Annotations: l.Annotations})
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func TestManifestBytesMatchJSON(t *testing.T) {
	payload := Payload("registry.example/app:v1", v1.Hash{Algorithm: "sha256", Hex: "4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec"}, nil)
	pem := "-----BEGIN CERTIFICATE-----\nMIIB<x>&y\n-----END CERTIFICATE-----\n"
	tests := map[string][]Layer{
		"one signature":   {NewLayer(SimpleSigningMediaType, payload, map[string]string{SignatureAnnotation: "MEUCIQ+/="})},
		"certificate":     {NewLayer(SimpleSigningMediaType, payload, map[string]string{SignatureAnnotation: "c2ln", CertificateAnnotation: pem, ChainAnnotation: ""})},
		"no annotations":  {NewLayer(SimpleSigningMediaType, payload, nil), NewLayer(DSSEMediaType, []byte("x"), map[string]string{})},
		"odd strings":     {NewLayer("a\"b\\c", payload, map[string]string{"\u2028k\x01": "é\xff<\t>", "b": "", "a": "&"})},
		"attestation":     {NewLayer(DSSEMediaType, []byte("{}"), map[string]string{SignatureAnnotation: "", PredicateTypeAnnotation: "https://slsa.dev/provenance/v1"})},
		"no layers":       {},
		"zero digest":     {{MediaType: SimpleSigningMediaType}},
		"several layers ": {NewLayer(SimpleSigningMediaType, payload, map[string]string{SignatureAnnotation: "a"}), NewLayer(SimpleSigningMediaType, []byte("p"), map[string]string{SignatureAnnotation: "b"})},
	}
	for name, layers := range tests {
		t.Run(name, func(t *testing.T) {
			a := &Attachment{Layers: layers}
			for _, cfg := range [][]byte{a.Config(), sharedConfigBlob} {
				got, err := a.Manifest(cfg)
				if err != nil {
					t.Fatal(err)
				}
				if want := manifestViaJSON(a, cfg); !bytes.Equal(got, want) {
					t.Errorf("Manifest() =\n%s\nencoding/json writes\n%s", got, want)
				}
			}
		})
	}
}

func FuzzManifestBytes(f *testing.F) {
	f.Add(SimpleSigningMediaType, SignatureAnnotation, "MEUCIQ==", []byte("payload"))
	f.Add("m<t>", "k\u2028", "v\x00\xff&", []byte{})
	f.Fuzz(func(t *testing.T, mediaType, key, value string, payload []byte) {
		a := &Attachment{Layers: []Layer{NewLayer(mediaType, payload, map[string]string{key: value, "z" + key: value + "z"})}}
		cfg := a.Config()
		got, err := a.Manifest(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if want := manifestViaJSON(a, cfg); !bytes.Equal(got, want) {
			t.Errorf("Manifest() =\n%q\nencoding/json writes\n%q", got, want)
		}
	})
}
