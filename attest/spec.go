package attest

import (
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/in-toto/in-toto-golang/in_toto"
	slsav02 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v0.2"
	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"
)

// Predicate types signet names itself.
const (
	// SLSAProvenanceV1 is the predicate type signet's own provenance uses.
	SLSAProvenanceV1 = slsa1.PredicateSLSAProvenance
	// SLSAProvenanceV02 is the older SLSA provenance BuildKit writes unless
	// asked for v1; signet reads it and translates it to v1.
	SLSAProvenanceV02 = slsav02.PredicateSLSAProvenance
	// CustomPredicate is cosign's type for predicates of no declared kind,
	// and its default --type.
	CustomPredicate = "https://cosign.sigstore.dev/attestation/v1"
)

// ProvenanceSpec is the --attest value that asks signet to build SLSA
// provenance itself, rather than sign a predicate read from a file.
const ProvenanceSpec = "provenance"

// shortTypes are the predicate type names cosign's --type accepts (cosign
// attest --help lists them), so that a command line written for cosign
// means the same to signet.
var shortTypes = map[string]string{
	"slsaprovenance":   SLSAProvenanceV02,
	"slsaprovenance02": SLSAProvenanceV02,
	"slsaprovenance1":  SLSAProvenanceV1,
	"link":             in_toto.PredicateLinkV1,
	"spdx":             in_toto.PredicateSPDX,
	"spdxjson":         in_toto.PredicateSPDX,
	"cyclonedx":        in_toto.PredicateCycloneDX,
	"vuln":             "https://cosign.sigstore.dev/attestation/vuln/v1",
	"openvex":          "https://openvex.dev/ns",
	"custom":           CustomPredicate,
}

// ResolveType turns a predicate type as a user writes it into its URI: one
// of cosign's short names (slsaprovenance1, spdxjson, cyclonedx, vuln,
// custom, …) or an absolute URI, returned unchanged.
func ResolveType(s string) (string, error) {
	if uri, ok := shortTypes[s]; ok {
		return uri, nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
		names := make([]string, 0, len(shortTypes))
		for n := range shortTypes {
			names = append(names, n)
		}
		sort.Strings(names)
		return "", fmt.Errorf("predicate type %q is neither an absolute URI nor one of %s", s, strings.Join(names, ", "))
	}
	return s, nil
}

// Spec is one attestation to make for every signed manifest.
type Spec struct {
	// Type is the predicate type URI.
	Type string
	// File is the predicate file of a custom predicate; it is empty for the
	// provenance signet builds itself.
	File string
}

// Provenance reports whether the spec asks for signet-built provenance.
func (s Spec) Provenance() bool { return s.File == "" }

// String returns the spec as --attest takes it.
func (s Spec) String() string {
	if s.Provenance() {
		return ProvenanceSpec
	}
	return s.File + "=" + s.Type
}

// ParseSpecs parses --attest values: "provenance" for signet-built SLSA
// provenance, or FILE=TYPE for a predicate read from FILE (any JSON object:
// an SBOM, a vulnerability scan) under TYPE, a URI or a cosign short name.
// FILE ends at the first "=", since type URIs may carry queries. A type may
// appear once per run: the journal and the dedupe rule know an attestation
// by its type.
func ParseSpecs(list []string) ([]Spec, error) {
	var specs []Spec
	seen := map[string]string{}
	for i, v := range list {
		v = strings.TrimSpace(v)
		var s Spec
		switch {
		case v == ProvenanceSpec:
			s = Spec{Type: SLSAProvenanceV1}
		case v == "":
			return nil, fmt.Errorf("attestation %d is empty: want %q or FILE=TYPE", i+1, ProvenanceSpec)
		default:
			file, typ, ok := strings.Cut(v, "=")
			if !ok || file == "" || typ == "" {
				return nil, fmt.Errorf("attestation %q: want %q or FILE=TYPE (e.g. sbom.json=spdxjson)", v, ProvenanceSpec)
			}
			uri, err := ResolveType(typ)
			if err != nil {
				return nil, fmt.Errorf("attestation %q: %w", v, err)
			}
			s = Spec{Type: uri, File: file}
		}
		if prev, ok := seen[s.Type]; ok {
			return nil, fmt.Errorf("attestation %q: type %s is already given by %q; one attestation per type per run", v, s.Type, prev)
		}
		seen[s.Type] = v
		specs = append(specs, s)
	}
	return specs, nil
}
