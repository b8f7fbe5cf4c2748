package attest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"time"
)

// Provenance is an SLSA Provenance v1 predicate
// (https://slsa.dev/provenance/v1).
//
// in-toto-golang's slsa1.ProvenancePredicate would write "buildType":"",
// "externalParameters":null, "builder":{"id":""} and "metadata":{} for
// facts signet does not know; the SLSA spec calls those fields required,
// but signet leaves out what it cannot vouch for rather than write empty
// placeholders, so every field here is omitted when empty.
type Provenance struct {
	BuildDefinition BuildDefinition `json:"buildDefinition,omitzero"`
	RunDetails      RunDetails      `json:"runDetails,omitzero"`
}

// ResourceDescriptor names an artifact by URI and digests (in-toto's
// ResourceDescriptor). in-toto-golang's Go struct of this shape is
// deprecated in favour of a protobuf type that encoding/json cannot write
// faithfully, hence this one; every field is omitted when empty.
type ResourceDescriptor struct {
	URI              string            `json:"uri,omitempty"`
	Digest           map[string]string `json:"digest,omitempty"`
	Name             string            `json:"name,omitempty"`
	DownloadLocation string            `json:"downloadLocation,omitempty"`
	MediaType        string            `json:"mediaType,omitempty"`
	Content          []byte            `json:"content,omitempty"`
	Annotations      map[string]any    `json:"annotations,omitempty"`
}

// BuildDefinition says what was built from what.
type BuildDefinition struct {
	// BuildType names the schema of the parameters below.
	BuildType string `json:"buildType,omitempty"`
	// ExternalParameters are the inputs a build's caller controlled (the
	// workflow, the build request, the source to build).
	ExternalParameters map[string]any `json:"externalParameters,omitempty"`
	// InternalParameters are set by the build platform (BuildKit's build
	// configuration, the runner environment).
	InternalParameters map[string]any `json:"internalParameters,omitempty"`
	// ResolvedDependencies are the artifacts the build fetched: source
	// commits, base images.
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies,omitempty"`
}

// IsZero reports whether nothing is known about the build definition.
func (b BuildDefinition) IsZero() bool {
	return b.BuildType == "" && len(b.ExternalParameters) == 0 && len(b.InternalParameters) == 0 && len(b.ResolvedDependencies) == 0
}

// RunDetails says who ran the build, and when.
type RunDetails struct {
	Builder    Builder              `json:"builder,omitzero"`
	Metadata   Metadata             `json:"metadata,omitzero"`
	Byproducts []ResourceDescriptor `json:"byproducts,omitempty"`
}

// IsZero reports whether nothing is known about the run.
func (r RunDetails) IsZero() bool {
	return r.Builder.IsZero() && r.Metadata.IsZero() && len(r.Byproducts) == 0
}

// Builder identifies the build platform.
type Builder struct {
	ID                  string               `json:"id,omitempty"`
	Version             map[string]string    `json:"version,omitempty"`
	BuilderDependencies []ResourceDescriptor `json:"builderDependencies,omitempty"`
}

// IsZero reports whether the builder is unknown.
func (b Builder) IsZero() bool {
	return b.ID == "" && len(b.Version) == 0 && len(b.BuilderDependencies) == 0
}

// Metadata is the run's identity and timing. Fields a builder adds beyond
// the spec's three (BuildKit's buildkit_metadata, buildkit_completeness,
// buildkit_hermetic, buildkit_reproducible) are kept verbatim in Extra, so
// BuildKit's provenance loses nothing on its way through signet.
type Metadata struct {
	InvocationID string
	StartedOn    *time.Time
	FinishedOn   *time.Time
	Extra        map[string]json.RawMessage
}

// Keys of Metadata's spec fields.
const (
	invocationIDKey = "invocationId"
	startedOnKey    = "startedOn"
	finishedOnKey   = "finishedOn"
)

// IsZero reports whether no run metadata is known.
func (m Metadata) IsZero() bool {
	return m.InvocationID == "" && m.StartedOn == nil && m.FinishedOn == nil && len(m.Extra) == 0
}

// MarshalJSON writes the spec fields that are set and the extras, keys
// sorted.
func (m Metadata) MarshalJSON() ([]byte, error) {
	out := make(map[string]any, 3+len(m.Extra))
	for k, v := range m.Extra {
		out[k] = v
	}
	if m.InvocationID != "" {
		out[invocationIDKey] = m.InvocationID
	}
	if m.StartedOn != nil {
		out[startedOnKey] = m.StartedOn
	}
	if m.FinishedOn != nil {
		out[finishedOnKey] = m.FinishedOn
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads the spec fields and keeps every other field in Extra.
func (m *Metadata) UnmarshalJSON(b []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	*m = Metadata{}
	if raw, ok := all[invocationIDKey]; ok {
		if err := json.Unmarshal(raw, &m.InvocationID); err != nil {
			return fmt.Errorf("decoding metadata.%s: %w", invocationIDKey, err)
		}
		delete(all, invocationIDKey)
	}
	for key, dst := range map[string]**time.Time{startedOnKey: &m.StartedOn, finishedOnKey: &m.FinishedOn} {
		raw, ok := all[key]
		if !ok {
			continue
		}
		delete(all, key)
		if bytes.Equal(raw, []byte("null")) {
			continue
		}
		var t time.Time
		if err := json.Unmarshal(raw, &t); err != nil {
			return fmt.Errorf("decoding metadata.%s: %w", key, err)
		}
		*dst = &t
	}
	if len(all) > 0 {
		m.Extra = all
	}
	return nil
}

// IsZero reports whether the provenance states nothing at all.
func (p *Provenance) IsZero() bool {
	return p == nil || (p.BuildDefinition.IsZero() && p.RunDetails.IsZero())
}

// ParseProvenance decodes an SLSA v1 predicate. Numbers are kept as
// written (json.Number), so large integers in BuildKit's build
// configuration survive a round trip exactly.
func ParseProvenance(b []byte) (*Provenance, error) {
	var p Provenance
	if err := decodeJSON(b, &p); err != nil {
		return nil, fmt.Errorf("decoding SLSA v1 provenance: %w", err)
	}
	return &p, nil
}

func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("unexpected data after the JSON value")
	}
	return nil
}

// Merge combines provenance from several sources, most trusted first: a
// field set by an earlier source is kept, a later source only fills what
// is still unknown. Parameter maps merge key by key the same way; resolved
// dependencies, builder dependencies and byproducts are the union of all
// sources. nil sources are skipped.
func Merge(sources ...*Provenance) *Provenance {
	out := &Provenance{}
	for _, p := range sources {
		if p == nil {
			continue
		}
		bd, rd := &out.BuildDefinition, &out.RunDetails
		bd.BuildType = first(bd.BuildType, p.BuildDefinition.BuildType)
		bd.ExternalParameters = fill(bd.ExternalParameters, p.BuildDefinition.ExternalParameters)
		bd.InternalParameters = fill(bd.InternalParameters, p.BuildDefinition.InternalParameters)
		bd.ResolvedDependencies = union(bd.ResolvedDependencies, p.BuildDefinition.ResolvedDependencies)
		rd.Builder.ID = first(rd.Builder.ID, p.RunDetails.Builder.ID)
		rd.Builder.Version = fill(rd.Builder.Version, p.RunDetails.Builder.Version)
		rd.Builder.BuilderDependencies = union(rd.Builder.BuilderDependencies, p.RunDetails.Builder.BuilderDependencies)
		rd.Metadata.InvocationID = first(rd.Metadata.InvocationID, p.RunDetails.Metadata.InvocationID)
		if rd.Metadata.StartedOn == nil {
			rd.Metadata.StartedOn = p.RunDetails.Metadata.StartedOn
		}
		if rd.Metadata.FinishedOn == nil {
			rd.Metadata.FinishedOn = p.RunDetails.Metadata.FinishedOn
		}
		rd.Metadata.Extra = fill(rd.Metadata.Extra, p.RunDetails.Metadata.Extra)
		rd.Byproducts = union(rd.Byproducts, p.RunDetails.Byproducts)
	}
	return out
}

// Common is the provenance of an image index made from the provenance of
// its images: what every image's provenance states alike (build type,
// parameters, builder, invocation, times), and the union of their resolved
// dependencies, since the index depends on everything its images do.
// Per-image facts that differ (the target platform, each image's build
// configuration, byproducts) are left out rather than picked from one
// image.
func Common(ps []*Provenance) *Provenance {
	var list []*Provenance
	for _, p := range ps {
		if !p.IsZero() {
			list = append(list, p)
		}
	}
	if len(list) == 0 {
		return nil
	}
	out := Merge(list[0])
	out.RunDetails.Byproducts = nil
	for _, p := range list[1:] {
		bd, rd := &out.BuildDefinition, &out.RunDetails
		if bd.BuildType != p.BuildDefinition.BuildType {
			bd.BuildType = ""
		}
		bd.ExternalParameters = intersect(bd.ExternalParameters, p.BuildDefinition.ExternalParameters)
		bd.InternalParameters = intersect(bd.InternalParameters, p.BuildDefinition.InternalParameters)
		bd.ResolvedDependencies = union(bd.ResolvedDependencies, p.BuildDefinition.ResolvedDependencies)
		if rd.Builder.ID != p.RunDetails.Builder.ID {
			rd.Builder.ID = ""
		}
		rd.Builder.Version = intersect(rd.Builder.Version, p.RunDetails.Builder.Version)
		rd.Builder.BuilderDependencies = union(rd.Builder.BuilderDependencies, p.RunDetails.Builder.BuilderDependencies)
		if rd.Metadata.InvocationID != p.RunDetails.Metadata.InvocationID {
			rd.Metadata.InvocationID = ""
		}
		if !sameTime(rd.Metadata.StartedOn, p.RunDetails.Metadata.StartedOn) {
			rd.Metadata.StartedOn = nil
		}
		if !sameTime(rd.Metadata.FinishedOn, p.RunDetails.Metadata.FinishedOn) {
			rd.Metadata.FinishedOn = nil
		}
		rd.Metadata.Extra = intersect(rd.Metadata.Extra, p.RunDetails.Metadata.Extra)
	}
	return out
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// fill returns dst with the keys of src it lacks added; dst is copied
// before its first change, so sources are never modified.
func fill[V any](dst, src map[string]V) map[string]V {
	copied := false
	for k, v := range src {
		if _, ok := dst[k]; ok {
			continue
		}
		if !copied {
			dst = maps.Clone(dst)
			if dst == nil {
				dst = make(map[string]V, len(src))
			}
			copied = true
		}
		dst[k] = v
	}
	return dst
}

// intersect keeps the entries of a whose value b holds too (compared as
// JSON).
func intersect[V any](a, b map[string]V) map[string]V {
	var out map[string]V
	for k, v := range a {
		if w, ok := b[k]; ok && jsonEqual(v, w) {
			if out == nil {
				out = map[string]V{}
			}
			out[k] = v
		}
	}
	return out
}

// union appends the descriptors of b that a lacks, in order.
func union(a, b []ResourceDescriptor) []ResourceDescriptor {
	if len(b) == 0 {
		return a
	}
	seen := make(map[string]bool, len(a)+len(b))
	out := make([]ResourceDescriptor, 0, len(a)+len(b))
	for _, list := range [][]ResourceDescriptor{a, b} {
		for _, d := range list {
			k := canonicalJSON(d)
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func jsonEqual(a, b any) bool { return canonicalJSON(a) == canonicalJSON(b) }

// canonicalJSON encodes v with encoding/json, which sorts map keys; two
// values holding the same JSON encode identically. Raw messages are
// decoded first so that their key order and spacing do not matter.
func canonicalJSON(v any) string {
	if raw, ok := v.(json.RawMessage); ok {
		var x any
		if decodeJSON(raw, &x) == nil {
			v = x
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("unencodable %T", v)
	}
	return string(b)
}

// sortedKeys returns m's keys in order, for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
