package attest

import (
	"reflect"
	"strings"
	"testing"
)

func TestResolveType(t *testing.T) {
	tests := map[string]string{
		"slsaprovenance1":                 "https://slsa.dev/provenance/v1",
		"slsaprovenance":                  "https://slsa.dev/provenance/v0.2",
		"slsaprovenance02":                "https://slsa.dev/provenance/v0.2",
		"spdxjson":                        "https://spdx.dev/Document",
		"cyclonedx":                       "https://cyclonedx.org/bom",
		"vuln":                            "https://cosign.sigstore.dev/attestation/vuln/v1",
		"custom":                          "https://cosign.sigstore.dev/attestation/v1",
		"https://example.com/scan/v1?x=1": "https://example.com/scan/v1?x=1",
		"urn:example:predicate":           "urn:example:predicate",
	}
	for in, want := range tests {
		got, err := ResolveType(in)
		if err != nil || got != want {
			t.Errorf("ResolveType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "sbom", "example.com/x", "/abs/path"} {
		if got, err := ResolveType(bad); err == nil {
			t.Errorf("ResolveType(%q) = %q; want an error", bad, got)
		}
	}
}

func TestParseSpecs(t *testing.T) {
	got, err := ParseSpecs([]string{"provenance", "sbom.spdx.json=spdxjson", "scan.json=https://example.com/scan?v=1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Spec{
		{Type: SLSAProvenanceV1},
		{Type: "https://spdx.dev/Document", File: "sbom.spdx.json"},
		{Type: "https://example.com/scan?v=1", File: "scan.json"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseSpecs() = %+v; want %+v", got, want)
	}
	if !got[0].Provenance() || got[1].Provenance() {
		t.Error("Provenance() is wrong")
	}
	if s := got[1].String(); s != "sbom.spdx.json=https://spdx.dev/Document" {
		t.Errorf("String() = %q", s)
	}
	if specs, err := ParseSpecs(nil); err != nil || specs != nil {
		t.Errorf("ParseSpecs(nil) = %v, %v; want nil, nil", specs, err)
	}

	for _, tt := range []struct {
		in   []string
		want string
	}{
		{[]string{""}, "empty"},
		{[]string{"sbom.json"}, "FILE=TYPE"},
		{[]string{"=spdxjson"}, "FILE=TYPE"},
		{[]string{"sbom.json="}, "FILE=TYPE"},
		{[]string{"sbom.json=sbom"}, "neither an absolute URI"},
		{[]string{"provenance", "p.json=slsaprovenance1"}, "already given"},
		{[]string{"a.json=spdx", "b.json=spdxjson"}, "already given"},
	} {
		if _, err := ParseSpecs(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSpecs(%q) = %v; want an error containing %q", tt.in, err, tt.want)
		}
	}
}

func TestParseDigestSet(t *testing.T) {
	got, err := ParseDigestSet("gitCommit:abc, sha256:def")
	if err != nil || !reflect.DeepEqual(got, map[string]string{"gitCommit": "abc", "sha256": "def"}) {
		t.Errorf("ParseDigestSet() = %v, %v", got, err)
	}
	for _, bad := range []string{"", "abc", ":abc", "sha1:", "a:1,a:2"} {
		if _, err := ParseDigestSet(bad); err == nil {
			t.Errorf("ParseDigestSet(%q) = nil error", bad)
		}
	}
}
