package attest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// BuildKit's build types. Its v0.2 provenance names the first; the same
// build described as SLSA v1 names the second, whose page defines the
// parameter layout (configSource, request, buildConfig, builderPlatform).
const (
	BuildKitBuildTypeV02 = "https://mobyproject.org/buildkit@v1"
	BuildKitBuildTypeV1  = "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md"
)

// BuildKit's metadata extensions: the v0.2 keys are URIs, the v1 keys are
// prefixed names.
var buildKitMetadataKeys = map[string]string{
	"https://mobyproject.org/buildkit@v1#metadata": "buildkit_metadata",
	"https://mobyproject.org/buildkit@v1#hermetic": "buildkit_hermetic",
}

// slsa02 is the part of an SLSA v0.2 predicate signet translates. The open
// parts (parameters, environment, build config, metadata) stay raw so that
// nothing BuildKit wrote is lost or renumbered.
type slsa02 struct {
	Builder struct {
		ID string `json:"id"`
	} `json:"builder"`
	BuildType  string `json:"buildType"`
	Invocation struct {
		ConfigSource struct {
			URI        string            `json:"uri"`
			Digest     map[string]string `json:"digest"`
			EntryPoint string            `json:"entryPoint"`
		} `json:"configSource"`
		Parameters  json.RawMessage            `json:"parameters"`
		Environment map[string]json.RawMessage `json:"environment"`
	} `json:"invocation"`
	BuildConfig json.RawMessage            `json:"buildConfig"`
	Metadata    map[string]json.RawMessage `json:"metadata"`
	Materials   []struct {
		URI    string            `json:"uri"`
		Digest map[string]string `json:"digest"`
	} `json:"materials"`
}

// FromSLSA02 translates an SLSA v0.2 provenance predicate to v1, the way
// BuildKit lays out the same facts when asked for v1:
//
//	materials                       → buildDefinition.resolvedDependencies
//	invocation.configSource         → externalParameters.configSource (entryPoint → path)
//	invocation.parameters           → externalParameters.request
//	invocation.environment.platform → internalParameters.builderPlatform (other keys alongside)
//	buildConfig                     → internalParameters.buildConfig
//	builder.id                      → runDetails.builder.id
//	metadata.buildInvocationID      → runDetails.metadata.invocationId
//	metadata.buildStartedOn/…On     → runDetails.metadata.startedOn/finishedOn
//	metadata.completeness           → runDetails.metadata.buildkit_completeness
//	BuildKit's #metadata, #hermetic → buildkit_metadata, buildkit_hermetic
//
// BuildKit's v0.2 build type becomes its v1 build type; another producer's
// is kept. Empty values are dropped, never carried over as "".
func FromSLSA02(b []byte) (*Provenance, error) {
	var in slsa02
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("decoding SLSA v0.2 provenance: %w", err)
	}
	p := &Provenance{}
	bd, rd := &p.BuildDefinition, &p.RunDetails
	bd.BuildType = in.BuildType
	buildKit := in.BuildType == BuildKitBuildTypeV02
	if buildKit {
		bd.BuildType = BuildKitBuildTypeV1
	}

	ext := map[string]any{}
	cs := map[string]any{}
	if in.Invocation.ConfigSource.URI != "" {
		cs["uri"] = in.Invocation.ConfigSource.URI
	}
	if len(in.Invocation.ConfigSource.Digest) > 0 {
		cs["digest"] = in.Invocation.ConfigSource.Digest
	}
	if in.Invocation.ConfigSource.EntryPoint != "" {
		cs["path"] = in.Invocation.ConfigSource.EntryPoint
	}
	if len(cs) > 0 {
		ext["configSource"] = cs
	}
	if v, ok, err := rawValue(in.Invocation.Parameters); err != nil {
		return nil, fmt.Errorf("decoding SLSA v0.2 invocation.parameters: %w", err)
	} else if ok {
		ext["request"] = v
	}
	if len(ext) > 0 {
		bd.ExternalParameters = ext
	}

	internal := map[string]any{}
	if v, ok, err := rawValue(in.BuildConfig); err != nil {
		return nil, fmt.Errorf("decoding SLSA v0.2 buildConfig: %w", err)
	} else if ok {
		internal["buildConfig"] = v
	}
	for k, raw := range in.Invocation.Environment {
		v, ok, err := rawValue(raw)
		if err != nil {
			return nil, fmt.Errorf("decoding SLSA v0.2 invocation.environment.%s: %w", k, err)
		}
		if !ok {
			continue
		}
		if k == "platform" {
			k = "builderPlatform"
		}
		internal[k] = v
	}
	if len(internal) > 0 {
		bd.InternalParameters = internal
	}

	for _, m := range in.Materials {
		if m.URI == "" && len(m.Digest) == 0 {
			continue
		}
		bd.ResolvedDependencies = append(bd.ResolvedDependencies, resource(m.URI, m.Digest))
	}

	rd.Builder.ID = in.Builder.ID
	if err := translateMetadata02(in.Metadata, buildKit, &rd.Metadata); err != nil {
		return nil, err
	}
	return p, nil
}

func translateMetadata02(in map[string]json.RawMessage, buildKit bool, out *Metadata) error {
	extra := map[string]json.RawMessage{}
	for k, raw := range in {
		switch k {
		case "buildInvocationID":
			if err := json.Unmarshal(raw, &out.InvocationID); err != nil {
				return fmt.Errorf("decoding SLSA v0.2 metadata.%s: %w", k, err)
			}
		case "buildStartedOn", "buildFinishedOn":
			if bytes.Equal(raw, []byte("null")) {
				continue
			}
			var t time.Time
			if err := json.Unmarshal(raw, &t); err != nil {
				return fmt.Errorf("decoding SLSA v0.2 metadata.%s: %w", k, err)
			}
			if k == "buildStartedOn" {
				out.StartedOn = &t
			} else {
				out.FinishedOn = &t
			}
		case "completeness":
			// v1 has no completeness; BuildKit keeps it as an extension
			// with the v1 names of what was complete.
			if !buildKit {
				continue
			}
			var c struct {
				Parameters bool `json:"parameters"`
				Materials  bool `json:"materials"`
			}
			if err := json.Unmarshal(raw, &c); err != nil {
				return fmt.Errorf("decoding SLSA v0.2 metadata.completeness: %w", err)
			}
			extra["buildkit_completeness"], _ = json.Marshal(map[string]bool{"request": c.Parameters, "resolvedDependencies": c.Materials})
		case "reproducible":
			if !buildKit {
				continue
			}
			var r bool
			if err := json.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("decoding SLSA v0.2 metadata.reproducible: %w", err)
			}
			if r {
				extra["buildkit_reproducible"] = json.RawMessage("true")
			}
		default:
			if _, ok, err := rawValue(raw); err != nil {
				return fmt.Errorf("decoding SLSA v0.2 metadata.%s: %w", k, err)
			} else if !ok {
				continue
			}
			if v1Key, ok := buildKitMetadataKeys[k]; ok {
				k = v1Key
			}
			extra[k] = raw
		}
	}
	if len(extra) > 0 {
		out.Extra = extra
	}
	return nil
}

// rawValue decodes raw (numbers kept exact) and reports whether it holds
// anything: null, "", {} and [] count as nothing.
func rawValue(raw json.RawMessage) (any, bool, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, false, nil
	}
	var v any
	if err := decodeJSON(raw, &v); err != nil {
		return nil, false, err
	}
	switch x := v.(type) {
	case nil:
		return nil, false, nil
	case string:
		return x, x != "", nil
	case map[string]any:
		return x, len(x) > 0, nil
	case []any:
		return x, len(x) > 0, nil
	}
	return v, true, nil
}
