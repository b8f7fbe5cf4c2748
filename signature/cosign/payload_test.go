package cosign

import (
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const testDigest = "sha256:4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec"

func TestPayloadGolden(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: strings.TrimPrefix(testDigest, "sha256:")}
	tests := []struct {
		name     string
		identity string
		optional map[string]string
		want     string
	}{{
		// cosign's own golden payload (sigstore/cosign pkg/cosign/obsolete_test.go).
		name:     "cosign golden",
		identity: "index.docker.io/namespace/image",
		want:     `{"critical":{"identity":{"docker-reference":"index.docker.io/namespace/image"},"image":{"docker-manifest-digest":"` + testDigest + `"},"type":"cosign container image signature"},"optional":null}`,
	}, {
		name:     "tagged identity",
		identity: "127.0.0.1:5000/app:v1",
		want:     `{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/app:v1"},"image":{"docker-manifest-digest":"` + testDigest + `"},"type":"cosign container image signature"},"optional":null}`,
	}, {
		name:     "optional annotations sorted",
		identity: "r/a",
		optional: map[string]string{"z": "1", "a": "2"},
		want:     `{"critical":{"identity":{"docker-reference":"r/a"},"image":{"docker-manifest-digest":"` + testDigest + `"},"type":"cosign container image signature"},"optional":{"a":"2","z":"1"}}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(Payload(tt.identity, d, tt.optional)); got != tt.want {
				t.Errorf("Payload() =\n%s\nwant\n%s", got, tt.want)
			}
			p, err := ParsePayload(Payload(tt.identity, d, tt.optional))
			if err != nil {
				t.Fatalf("ParsePayload(Payload()) = %v", err)
			}
			if got, _ := p.Digest(); got != d || p.Critical.Identity.DockerReference != tt.identity {
				t.Errorf("round trip = %v %q; want %v %q", got, p.Critical.Identity.DockerReference, d, tt.identity)
			}
		})
	}
}

func TestParsePayloadStrict(t *testing.T) {
	good := `{"critical":{"identity":{"docker-reference":"r/a"},"image":{"docker-manifest-digest":"` + testDigest + `"},"type":"cosign container image signature"},"optional":null}`
	tests := []struct {
		name    string
		payload string
		wantErr string
	}{
		{"good", good, ""},
		{"extra top-level field", strings.Replace(good, `"optional":null`, `"optional":null,"x":1`, 1), "exactly"},
		{"missing optional", strings.Replace(good, `,"optional":null`, ``, 1), "exactly"},
		{"extra critical field", strings.Replace(good, `"type":`, `"x":1,"type":`, 1), "exactly"},
		{"wrong type", strings.Replace(good, "cosign container image signature", "atomic container signature", 1), "payload type"},
		{"bad digest", strings.Replace(good, testDigest, "sha256:nothex", 1), "digest"},
		{"not json", "{", "decoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePayload([]byte(tt.payload))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParsePayload() = %v; want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParsePayload() = %v; want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestAttachmentBytes(t *testing.T) {
	payload := Payload("r/a:v1", v1.Hash{Algorithm: "sha256", Hex: strings.TrimPrefix(testDigest, "sha256:")}, nil)
	l := NewLayer(SimpleSigningMediaType, payload, map[string]string{SignatureAnnotation: "c2ln"})
	a := &Attachment{Layers: []Layer{l}}
	cfg := a.Config()
	wantCfg := `{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["` + l.Digest.String() + `"]},"config":{}}`
	if string(cfg) != wantCfg {
		t.Errorf("Config() =\n%s\nwant\n%s", cfg, wantCfg)
	}
	// cosign's config for one layer is 233 bytes (cosign-format.md §2).
	if len(cfg) != 233 {
		t.Errorf("len(Config()) = %d; want 233", len(cfg))
	}
	m, err := a.Manifest(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cd := NewLayer("", cfg, nil).Digest
	wantM := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":233,"digest":"` + cd.String() +
		`"},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":` + itoa(len(payload)) + `,"digest":"` + l.Digest.String() + `","annotations":{"dev.cosignproject.cosign/signature":"c2ln"}}]}`
	if string(m) != wantM {
		t.Errorf("Manifest() =\n%s\nwant\n%s", m, wantM)
	}
	back, err := ParseAttachment(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Layers) != 1 || back.Layers[0].Digest != l.Digest || back.Layers[0].Signature() != "c2ln" {
		t.Errorf("ParseAttachment(Manifest()) = %+v", back.Layers)
	}

	two := &Attachment{Layers: []Layer{l, NewLayer(SimpleSigningMediaType, []byte("x"), nil)}}
	if c := string(two.Config()); strings.Count(c, `{"created"`) != 2 || strings.Count(c, "sha256:") != 2 {
		t.Errorf("two-layer config lacks one history entry or diff_id per layer: %s", c)
	}
}

func TestParseAttachmentRejectsDockerMediaType(t *testing.T) {
	_, err := ParseAttachment([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","layers":[]}`))
	if err == nil || !strings.Contains(err.Error(), "media type") {
		t.Fatalf("ParseAttachment(docker manifest) = %v; want media type error", err)
	}
}

func TestTags(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: strings.TrimPrefix(testDigest, "sha256:")}
	if got, want := Tag(d, SignatureSuffix), "sha256-"+d.Hex+".sig"; got != want {
		t.Errorf("Tag() = %q; want %q", got, want)
	}
	tests := map[string]bool{
		Tag(d, "sig"):              true,
		Tag(d, "att"):              true,
		Tag(d, "sbom"):             true,
		"sha256-" + d.Hex:          false, // referrers fallback index, not a cosign attachment
		"v1":                       false,
		"sha256-abc.sig":           false,
		"sha512-" + d.Hex + ".sig": false,
	}
	for tag, want := range tests {
		if got := IsAttachmentTag(tag); got != want {
			t.Errorf("IsAttachmentTag(%q) = %v; want %v", tag, got, want)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
