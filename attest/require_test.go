package attest

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRequirements(t *testing.T) {
	st := NewStatement(testSubject(t), SLSAProvenanceV1, json.RawMessage(`{
		"buildDefinition": {
			"externalParameters": {"workflow": {"repository": "https://github.com/example/app"}},
			"resolvedDependencies": [{"uri": "pkg:docker/alpine"}, {"uri": "git+https://github.com/example/app@refs/heads/main"}]
		},
		"runDetails": {"builder": {"id": "https://github.com/example/app/.github/workflows/r.yml@refs/heads/main"}, "metadata": {"n": 3, "ok": true}},
		"tags": ["a", "b"]
	}`))
	tests := []struct {
		req  string
		want string // "" for met, else a substring of the error
	}{
		{"predicate.runDetails.builder.id=https://github.com/example/app/.github/workflows/r.yml@refs/heads/main", ""},
		{"predicate.buildDefinition.externalParameters.workflow.repository=https://github.com/example/app", ""},
		{"predicate.buildDefinition.resolvedDependencies.uri=git+https://github.com/example/app@refs/heads/main", ""},
		{"predicate.buildDefinition.resolvedDependencies.0.uri=pkg:docker/alpine", ""},
		{"subject.name=registry.example/team/app", ""},
		{"subject.0.digest.sha256=" + testHex, ""},
		{"predicateType=https://slsa.dev/provenance/v1", ""},
		{"predicate.runDetails.metadata.n=3", ""},
		{"predicate.runDetails.metadata.ok=true", ""},
		{"predicate.tags=b", ""},
		{"predicate.runDetails.builder.id=https://evil.example/b", `is "https://github.com/example/app/.github/workflows/r.yml@refs/heads/main", want "https://evil.example/b"`},
		{"predicate.runDetails.builder.version=1", "predicate.runDetails.builder.version is absent"},
		{"predicate.buildDefinition.resolvedDependencies.1.uri=x", `is "git+https://`},
		{"predicate.buildDefinition.resolvedDependencies.uri=x", "is one of"},
		{"predicate.buildDefinition.resolvedDependencies.7.uri=x", "absent"},
	}
	for _, tt := range tests {
		r, err := ParseRequirement(tt.req)
		if err != nil {
			t.Fatalf("ParseRequirement(%q) = %v", tt.req, err)
		}
		err = r.Check(st)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Check(%s) = %v; want met", tt.req, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Check(%s) = %v; want an error containing %q", tt.req, err, tt.want)
		}
	}
	for _, bad := range []string{"", "novalue", "=x", "a..b=x", ".a=x"} {
		if _, err := ParseRequirement(bad); err == nil {
			t.Errorf("ParseRequirement(%q) = nil error", bad)
		}
	}
	if r, _ := ParseRequirement("a.b=c=d"); r.Value != "c=d" || r.String() != "a.b=c=d" {
		t.Errorf("ParseRequirement(a.b=c=d) = %+v", r)
	}
}
