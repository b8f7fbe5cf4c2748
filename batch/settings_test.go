package batch

import (
	"reflect"
	"testing"
)

// TestEffective: the one rule by which catalog defaults fill an entry's
// settings, and a run's fill a target's. Attest tells nil (inherit) from
// empty ("attest: []", none); Key and Formats inherit when empty.
func TestEffective(t *testing.T) {
	defaults := Settings{Key: "run.key", Formats: []string{"cosign"}, Attest: []string{"provenance"}}
	for _, tt := range []struct {
		name string
		s    *Settings
		want Settings
	}{
		{"nil: the defaults", nil, defaults},
		{"empty: the defaults", &Settings{}, defaults},
		{"a key", &Settings{Key: "other.key"},
			Settings{Key: "other.key", Formats: []string{"cosign"}, Attest: []string{"provenance"}}},
		{"formats", &Settings{Formats: []string{"notation", "sigstore-bundle"}},
			Settings{Key: "run.key", Formats: []string{"notation", "sigstore-bundle"}, Attest: []string{"provenance"}}},
		{"an empty formats list inherits", &Settings{Formats: []string{}}, defaults},
		{"attestations", &Settings{Attest: []string{"sbom.json=spdxjson"}},
			Settings{Key: "run.key", Formats: []string{"cosign"}, Attest: []string{"sbom.json=spdxjson"}}},
		{"attest: [] asks for none", &Settings{Attest: []string{}},
			Settings{Key: "run.key", Formats: []string{"cosign"}, Attest: []string{}}},
		{"everything", &Settings{Key: "other.key", Formats: []string{"notation"}, Attest: []string{}},
			Settings{Key: "other.key", Formats: []string{"notation"}, Attest: []string{}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// DeepEqual tells an empty list from nil, as the rule does.
			if got := Effective(tt.s, defaults); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Effective(%+v) = %#v; want %#v", tt.s, got, tt.want)
			}
		})
	}
	// Nothing to fill in: empty defaults leave the settings as they are.
	if got := Effective(&Settings{Formats: []string{"cosign"}}, Settings{}); !reflect.DeepEqual(got, Settings{Formats: []string{"cosign"}}) {
		t.Errorf("Effective with empty defaults = %#v", got)
	}
}

// TestItemSignedWith: an item is signed as Effective says, except that
// BuildKit's attestation manifests get no attestations.
func TestItemSignedWith(t *testing.T) {
	defaults := Settings{Key: "run.key", Formats: []string{"cosign"}, Attest: []string{"provenance"}}
	asked := &Settings{Formats: []string{"notation"}, Attest: []string{"sbom.json=spdxjson"}}
	for _, tt := range []struct {
		name string
		it   Item
		want Settings
	}{
		{"no settings", Item{}, defaults},
		{"the target's settings", Item{Settings: asked},
			Settings{Key: "run.key", Formats: []string{"notation"}, Attest: []string{"sbom.json=spdxjson"}}},
		{"an attestation manifest, no settings", Item{AttestationManifest: true},
			Settings{Key: "run.key", Formats: []string{"cosign"}}},
		{"an attestation manifest, the target's settings", Item{AttestationManifest: true, Settings: asked},
			Settings{Key: "run.key", Formats: []string{"notation"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.it.SignedWith(defaults); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SignedWith = %#v; want %#v", got, tt.want)
			}
		})
	}
}
