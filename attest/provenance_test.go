package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	slsapb "github.com/in-toto/attestation/go/predicates/provenance/v1"
	ita1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/dsse"
)

const testHex = "4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec"

func testSubject(t testing.TB) signature.Subject {
	t.Helper()
	repo, err := name.NewRepository("registry.example/team/app")
	if err != nil {
		t.Fatal(err)
	}
	return signature.Subject{Repo: repo, Digest: v1.Hash{Algorithm: "sha256", Hex: testHex}, Identity: "registry.example/team/app:1.4.0"}
}

// decode turns JSON into generic values for path lookups.
func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := decodeJSON(b, &m); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return m
}

// at follows a dotted path through decoded JSON.
func at(v any, path string) any {
	for _, seg := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[seg]
		case []any:
			i := 0
			for _, c := range seg {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// noEmpty fails for any "", {}, [] or null anywhere in b: unknown facts
// are left out, never written empty. BuildKit's build configuration is
// kept verbatim, empty LLB constraints and all, so it is not walked.
func noEmpty(t *testing.T, what string, b []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		if path == "$.buildDefinition.internalParameters.buildConfig" {
			return
		}
		switch x := v.(type) {
		case nil:
			t.Errorf("%s: %s is null", what, path)
		case string:
			if x == "" {
				t.Errorf("%s: %s is an empty string", what, path)
			}
		case map[string]any:
			if len(x) == 0 {
				t.Errorf("%s: %s is an empty object", what, path)
			}
			for k, c := range x {
				walk(path+"."+k, c)
			}
		case []any:
			if len(x) == 0 {
				t.Errorf("%s: %s is an empty array", what, path)
			}
			for i, c := range x {
				walk(path+"."+string(rune('0'+i)), c)
			}
		}
	}
	walk("$", v)
}

func TestStatementJSON(t *testing.T) {
	s := testSubject(t)
	st := NewStatement(s, SLSAProvenanceV1, json.RawMessage(`{"buildDefinition":{"buildType":"https://example.com/t"}}`))
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, b)
	for path, want := range map[string]any{
		"_type":                               "https://in-toto.io/Statement/v1",
		"predicateType":                       "https://slsa.dev/provenance/v1",
		"subject.0.name":                      "registry.example/team/app",
		"subject.0.digest.sha256":             testHex,
		"predicate.buildDefinition.buildType": "https://example.com/t",
	} {
		if got := at(m, path); got != want {
			t.Errorf("statement %s = %v; want %v", path, got, want)
		}
	}
	if n := len(m["subject"].([]any)); n != 1 {
		t.Errorf("statement has %d subjects; want 1", n)
	}
	// The in-toto project's own validator accepts it.
	var pb ita1.Statement
	if err := protojson.Unmarshal(b, &pb); err != nil {
		t.Fatalf("decoding the statement as in-toto's protobuf Statement: %v", err)
	}
	if err := pb.Validate(); err != nil {
		t.Errorf("in-toto Statement.Validate() = %v", err)
	}
	back, err := ParseStatement(b)
	if err != nil {
		t.Fatalf("ParseStatement(NewStatement()) = %v", err)
	}
	if !back.About(s.Digest) {
		t.Errorf("About(%s) = false", s.Digest)
	}
	if back.About(v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}) {
		t.Error("About(other digest) = true")
	}

	for name, bad := range map[string]string{
		"old type":   `{"_type":"https://in-toto.io/Statement/v0.2","predicateType":"x","subject":[{"name":"a","digest":{"sha256":"00"}}]}`,
		"no subject": `{"_type":"https://in-toto.io/Statement/v1","predicateType":"x","subject":[]}`,
		"no type":    `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"00"}}]}`,
		"array pred": `{"_type":"https://in-toto.io/Statement/v1","predicateType":"x","subject":[{"name":"a","digest":{"sha256":"00"}}],"predicate":[1]}`,
		"not json":   `{"_type":`,
	} {
		if _, err := ParseStatement([]byte(bad)); err == nil {
			t.Errorf("ParseStatement(%s) = nil error", name)
		}
	}
	// cosign attest writes in-toto v0.1 statements; they are read too.
	if _, err := ParseStatement([]byte(`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"x","subject":[{"name":"a","digest":{"sha256":"00"}}],"predicate":{}}`)); err != nil {
		t.Errorf("ParseStatement(v0.1) = %v", err)
	}
}

// gitHubEnv is a push to main in a GitHub-hosted run.
var gitHubEnv = map[string]string{
	"GITHUB_SERVER_URL":          "https://github.com",
	"GITHUB_REPOSITORY":          "example/app",
	"GITHUB_SHA":                 "6c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d",
	"GITHUB_REF":                 "refs/heads/main",
	"GITHUB_RUN_ID":              "9876543210",
	"GITHUB_RUN_ATTEMPT":         "2",
	"GITHUB_WORKFLOW_REF":        "example/app/.github/workflows/release.yml@refs/heads/main",
	"RUNNER_ENVIRONMENT":         "github-hosted",
	"GITHUB_EVENT_NAME":          "push",
	"GITHUB_REPOSITORY_ID":       "123456",
	"GITHUB_REPOSITORY_OWNER_ID": "7890",
}

// setGitHubEnv sets the fixture, with the variables in unset left empty,
// and every other variable GitHubProvenance reads cleared, so a run inside
// GitHub Actions does not leak into the test.
func setGitHubEnv(t *testing.T, unset ...string) {
	for k, v := range gitHubEnv {
		t.Setenv(k, v)
	}
	for _, k := range unset {
		t.Setenv(k, "")
	}
}

func TestGitHubProvenance(t *testing.T) {
	setGitHubEnv(t)
	p := GitHubProvenance(os.Getenv)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	noEmpty(t, "GitHub provenance", b)
	m := decode(t, b)
	for path, want := range map[string]any{
		"buildDefinition.buildType":                                     "https://actions.github.io/buildtypes/workflow/v1",
		"buildDefinition.externalParameters.workflow.ref":               "refs/heads/main",
		"buildDefinition.externalParameters.workflow.repository":        "https://github.com/example/app",
		"buildDefinition.externalParameters.workflow.path":              ".github/workflows/release.yml",
		"buildDefinition.internalParameters.github.runner_environment":  "github-hosted",
		"buildDefinition.internalParameters.github.event_name":          "push",
		"buildDefinition.internalParameters.github.repository_id":       "123456",
		"buildDefinition.internalParameters.github.repository_owner_id": "7890",
		"buildDefinition.resolvedDependencies.0.uri":                    "git+https://github.com/example/app@refs/heads/main",
		"buildDefinition.resolvedDependencies.0.digest.gitCommit":       "6c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d",
		"runDetails.builder.id":                                         "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main",
		"runDetails.metadata.invocationId":                              "https://github.com/example/app/actions/runs/9876543210/attempts/2",
	} {
		if got := at(m, path); got != want {
			t.Errorf("%s = %v; want %q", path, got, want)
		}
	}
	// With what GitHub Actions tells, the provenance has every field SLSA
	// Build L1 requires, by the in-toto project's own validator.
	var pb slsapb.Provenance
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &pb); err != nil {
		t.Fatalf("decoding as in-toto's protobuf Provenance: %v", err)
	}
	if err := pb.Validate(); err != nil {
		t.Errorf("in-toto Provenance.Validate() = %v", err)
	}
	// The environment says nothing about when the build ran.
	for _, path := range []string{"runDetails.metadata.startedOn", "runDetails.metadata.finishedOn"} {
		if got := at(m, path); got != nil {
			t.Errorf("%s = %v; want it left out", path, got)
		}
	}
}

func TestGitHubProvenancePartial(t *testing.T) {
	tests := []struct {
		name    string
		unset   []string
		absent  []string
		present map[string]any
	}{
		{
			name:    "no server",
			unset:   []string{"GITHUB_SERVER_URL"},
			absent:  []string{"runDetails.builder", "runDetails.metadata", "buildDefinition.externalParameters.workflow.repository", "buildDefinition.resolvedDependencies.0.uri"},
			present: map[string]any{"buildDefinition.resolvedDependencies.0.digest.gitCommit": gitHubEnv["GITHUB_SHA"], "buildDefinition.externalParameters.workflow.path": ".github/workflows/release.yml"},
		},
		{
			name:    "no run attempt, ref or sha",
			unset:   []string{"GITHUB_RUN_ATTEMPT", "GITHUB_REF", "GITHUB_SHA", "GITHUB_EVENT_NAME", "GITHUB_REPOSITORY_ID", "GITHUB_REPOSITORY_OWNER_ID"},
			absent:  []string{"buildDefinition.resolvedDependencies.0.digest", "buildDefinition.internalParameters.github.event_name"},
			present: map[string]any{"runDetails.metadata.invocationId": "https://github.com/example/app/actions/runs/9876543210", "buildDefinition.resolvedDependencies.0.uri": "git+https://github.com/example/app"},
		},
		{
			name:    "no workflow ref",
			unset:   []string{"GITHUB_WORKFLOW_REF"},
			absent:  []string{"runDetails.builder", "buildDefinition.externalParameters.workflow.ref", "buildDefinition.externalParameters.workflow.path"},
			present: map[string]any{"buildDefinition.externalParameters.workflow.repository": "https://github.com/example/app"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setGitHubEnv(t, tt.unset...)
			b, err := json.Marshal(GitHubProvenance(os.Getenv))
			if err != nil {
				t.Fatal(err)
			}
			noEmpty(t, tt.name, b)
			m := decode(t, b)
			for _, path := range tt.absent {
				if got := at(m, path); got != nil {
					t.Errorf("%s = %v; want it left out", path, got)
				}
			}
			for path, want := range tt.present {
				if got := at(m, path); got != want {
					t.Errorf("%s = %v; want %v", path, got, want)
				}
			}
		})
	}
	t.Run("outside Actions", func(t *testing.T) {
		if p := GitHubProvenance(func(string) string { return "" }); p != nil {
			t.Errorf("GitHubProvenance(empty environment) = %+v; want nil", p)
		}
	})
}

func readFixture(t testing.TB, file, subjectHex string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(b, []byte("SUBJECT_HEX"), []byte(subjectHex))
}

func TestBuildKitV02Translation(t *testing.T) {
	digest := v1.Hash{Algorithm: "sha256", Hex: testHex}
	p, err := ParseBuildKitStatement(readFixture(t, "buildkit-provenance-v02.json", testHex), digest)
	if err != nil {
		t.Fatalf("ParseBuildKitStatement(v0.2) = %v", err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	noEmpty(t, "translated provenance", b)
	m := decode(t, b)
	for path, want := range map[string]any{
		"buildDefinition.buildType": BuildKitBuildTypeV1,
		// materials → resolvedDependencies, in order, digests kept.
		"buildDefinition.resolvedDependencies.0.uri":           "pkg:docker/docker/dockerfile@1.28?platform=linux%2Famd64",
		"buildDefinition.resolvedDependencies.1.digest.sha256": "5f3e0c8d9b1a7e6c4d2b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d",
		"buildDefinition.resolvedDependencies.3.uri":           "https://github.com/example/app.git#refs/tags/v1.4.0",
		"buildDefinition.resolvedDependencies.3.digest.sha1":   "6c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d",
		// invocation.configSource → externalParameters.configSource.
		"buildDefinition.externalParameters.configSource.uri":         "https://github.com/example/app.git#refs/tags/v1.4.0",
		"buildDefinition.externalParameters.configSource.digest.sha1": "6c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d",
		"buildDefinition.externalParameters.configSource.path":        "Dockerfile",
		// invocation.parameters → externalParameters.request.
		"buildDefinition.externalParameters.request.frontend":               "gateway.v0",
		"buildDefinition.externalParameters.request.args.build-arg:VERSION": "1.4.0",
		"buildDefinition.externalParameters.request.secrets.0.id":           "GIT_AUTH_TOKEN",
		"buildDefinition.externalParameters.request.locals.1.name":          "dockerfile",
		// buildConfig kept whole, large numbers exact.
		"buildDefinition.internalParameters.buildConfig.llbDefinition.1.id":                                                                    "step1",
		"buildDefinition.internalParameters.buildConfig.llbDefinition.1.resourceUsage.memoryPeakBytes":                                         json.Number("9007199254740993"),
		"buildDefinition.internalParameters.buildConfig.digestMapping.sha256:7d4c1b2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c": "step0",
		"buildDefinition.internalParameters.builderPlatform":                                                                                   "linux/amd64",
		// builder and metadata.
		"runDetails.builder.id":                                          "https://github.com/example/app/actions/runs/9876543210/attempts/2",
		"runDetails.metadata.invocationId":                               "yq7kz3w0n2r5t8v1x4a6c9e2g",
		"runDetails.metadata.startedOn":                                  "2026-11-20T10:15:30.123456789Z",
		"runDetails.metadata.finishedOn":                                 "2026-11-20T10:17:02.987654321Z",
		"runDetails.metadata.buildkit_completeness.request":              true,
		"runDetails.metadata.buildkit_completeness.resolvedDependencies": false,
		"runDetails.metadata.buildkit_metadata.vcs.revision":             "6c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d",
		"runDetails.metadata.buildkit_metadata.source.infos.0.filename":  "Dockerfile",
	} {
		if got := at(m, path); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v; want %#v", path, got, want)
		}
	}
	if n := len(at(m, "buildDefinition.resolvedDependencies").([]any)); n != 4 {
		t.Errorf("%d resolved dependencies; want the 4 materials", n)
	}
	// v0.2 names that have no place in v1 are gone.
	for _, key := range []string{"materials", "invocation", "buildConfig", "metadata", "builder", "buildType"} {
		if _, ok := m[key]; ok {
			t.Errorf("translated predicate keeps v0.2 field %q", key)
		}
	}
	if at(m, "runDetails.metadata.buildkit_reproducible") != nil {
		t.Error("reproducible=false became buildkit_reproducible; BuildKit omits it when false")
	}
}

func TestBuildKitV1Kept(t *testing.T) {
	digest := v1.Hash{Algorithm: "sha256", Hex: testHex}
	raw := readFixture(t, "buildkit-provenance-v1.json", testHex)
	p, err := ParseBuildKitStatement(raw, digest)
	if err != nil {
		t.Fatalf("ParseBuildKitStatement(v1) = %v", err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	noEmpty(t, "kept provenance", b)

	// Everything BuildKit wrote is still there, except the empty builder
	// id BuildKit writes when none was configured.
	var orig struct {
		Predicate map[string]any `json:"predicate"`
	}
	if err := decodeJSON(raw, &orig); err != nil {
		t.Fatal(err)
	}
	delete(orig.Predicate["runDetails"].(map[string]any), "builder")
	if got := decode(t, b); !reflect.DeepEqual(got, orig.Predicate) {
		t.Errorf("kept v1 predicate differs from BuildKit's:\n got %s\nwant %s", b, canonicalJSON(orig.Predicate))
	}

	other := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("1", 64)}
	if _, err := ParseBuildKitStatement(raw, other); err == nil || !strings.Contains(err.Error(), other.String()) {
		t.Errorf("ParseBuildKitStatement(other image) = %v; want an error naming %s", err, other)
	}
}

func TestMerge(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	built := &Provenance{
		BuildDefinition: BuildDefinition{
			BuildType:            BuildKitBuildTypeV1,
			ExternalParameters:   map[string]any{"request": map[string]any{"frontend": "dockerfile.v0"}},
			ResolvedDependencies: []slsaDep{dep("pkg:docker/alpine@3.20", "sha256", "aa")},
		},
		RunDetails: RunDetails{Metadata: Metadata{InvocationID: "bk-1", StartedOn: &t0}},
	}
	setGitHubEnv(t)
	env := GitHubProvenance(os.Getenv)
	flags := Overrides{BuilderID: "https://ci.example/builder", SourceURI: "git+https://example.com/app@refs/tags/v1", SourceDigest: map[string]string{"gitCommit": "abc"}}.Provenance()

	p := Merge(flags, built, env)
	if p.BuildDefinition.BuildType != BuildKitBuildTypeV1 {
		t.Errorf("buildType = %q; BuildKit's should win over the environment's", p.BuildDefinition.BuildType)
	}
	if p.RunDetails.Builder.ID != "https://ci.example/builder" {
		t.Errorf("builder.id = %q; the flag should win", p.RunDetails.Builder.ID)
	}
	if p.RunDetails.Metadata.InvocationID != "bk-1" {
		t.Errorf("invocationId = %q; BuildKit's should win", p.RunDetails.Metadata.InvocationID)
	}
	if _, ok := p.BuildDefinition.ExternalParameters["workflow"]; !ok {
		t.Error("externalParameters lacks the environment's workflow")
	}
	if _, ok := p.BuildDefinition.ExternalParameters["request"]; !ok {
		t.Error("externalParameters lacks BuildKit's request")
	}
	var uris []string
	for _, d := range p.BuildDefinition.ResolvedDependencies {
		uris = append(uris, d.URI)
	}
	want := []string{"git+https://example.com/app@refs/tags/v1", "pkg:docker/alpine@3.20", "git+https://github.com/example/app@refs/heads/main"}
	if !reflect.DeepEqual(uris, want) {
		t.Errorf("resolvedDependencies = %q; want %q", uris, want)
	}
	if _, ok := built.BuildDefinition.ExternalParameters["workflow"]; ok {
		t.Error("Merge modified a source's map")
	}
	if !Merge(nil, nil).IsZero() || !Merge(&Provenance{}).IsZero() {
		t.Error("Merge of nothing is not zero")
	}
}

func TestCommon(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	amd := &Provenance{
		BuildDefinition: BuildDefinition{
			BuildType:            BuildKitBuildTypeV1,
			ExternalParameters:   map[string]any{"request": map[string]any{"frontend": "dockerfile.v0"}},
			InternalParameters:   map[string]any{"builderPlatform": "linux/amd64", "buildConfig": map[string]any{"x": "amd64"}},
			ResolvedDependencies: []slsaDep{dep("pkg:docker/dockerfile@1.28", "sha256", "df"), dep("pkg:docker/alpine@3.20?platform=linux%2Famd64", "sha256", "aa")},
		},
		RunDetails: RunDetails{Metadata: Metadata{InvocationID: "bk-1", StartedOn: &t0, FinishedOn: &t1}},
	}
	arm := &Provenance{
		BuildDefinition: BuildDefinition{
			BuildType:            BuildKitBuildTypeV1,
			ExternalParameters:   map[string]any{"request": map[string]any{"frontend": "dockerfile.v0"}},
			InternalParameters:   map[string]any{"builderPlatform": "linux/amd64", "buildConfig": map[string]any{"x": "arm64"}},
			ResolvedDependencies: []slsaDep{dep("pkg:docker/dockerfile@1.28", "sha256", "df"), dep("pkg:docker/alpine@3.20?platform=linux%2Farm64", "sha256", "bb")},
		},
		RunDetails: RunDetails{Metadata: Metadata{InvocationID: "bk-1", StartedOn: &t0, FinishedOn: &t0}},
	}
	p := Common([]*Provenance{amd, nil, arm})
	if p.BuildDefinition.BuildType != BuildKitBuildTypeV1 || p.RunDetails.Metadata.InvocationID != "bk-1" || !sameTime(p.RunDetails.Metadata.StartedOn, &t0) {
		t.Errorf("Common() lost what both images agree on: %+v", p)
	}
	if p.RunDetails.Metadata.FinishedOn != nil {
		t.Errorf("Common() finishedOn = %v; the images disagree, so it should be left out", p.RunDetails.Metadata.FinishedOn)
	}
	if _, ok := p.BuildDefinition.InternalParameters["buildConfig"]; ok {
		t.Error("Common() kept one image's build configuration")
	}
	if p.BuildDefinition.InternalParameters["builderPlatform"] != "linux/amd64" {
		t.Error("Common() dropped the shared builder platform")
	}
	if n := len(p.BuildDefinition.ResolvedDependencies); n != 3 {
		t.Errorf("Common() has %d resolved dependencies; want the union, 3", n)
	}
	if Common(nil) != nil {
		t.Error("Common(nil) != nil")
	}
}

func TestFormatStatement(t *testing.T) {
	ctx := context.Background()
	s := testSubject(t)
	key := testenv.NewKey(t)

	t.Run("nothing known", func(t *testing.T) {
		f, err := NewFormat(nil, key, Spec{Type: SLSAProvenanceV1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Statement(ctx, s); err == nil || !strings.Contains(err.Error(), s.Name().String()) {
			t.Errorf("Statement() with no facts = %v; want ErrNoFacts naming the subject", err)
		}
	})
	t.Run("flags only", func(t *testing.T) {
		f, err := NewFormat(nil, key, Spec{Type: SLSAProvenanceV1}, WithOverrides(Overrides{BuilderID: "https://ci.example/b"}))
		if err != nil {
			t.Fatal(err)
		}
		st, err := f.Statement(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(st.Predicate), `{"runDetails":{"builder":{"id":"https://ci.example/b"}}}`; got != want {
			t.Errorf("predicate = %s; want %s", got, want)
		}
	})
	t.Run("bad override", func(t *testing.T) {
		if _, err := NewFormat(nil, key, Spec{Type: SLSAProvenanceV1}, WithOverrides(Overrides{BuilderID: "not a uri"})); err == nil {
			t.Error("NewFormat(builder id not a URI) = nil error")
		}
	})
	t.Run("custom predicate", func(t *testing.T) {
		dir := t.TempDir()
		file := dir + "/sbom.json"
		if err := os.WriteFile(file, []byte("{\n  \"spdxVersion\": \"SPDX-2.3\"\n}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := NewFormat(nil, key, Spec{Type: "https://spdx.dev/Document", File: file})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := f.Name(), "attest:https://spdx.dev/Document"; got != want {
			t.Errorf("Name() = %q; want %q", got, want)
		}
		st, err := f.Statement(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(st.Predicate), `{"spdxVersion":"SPDX-2.3"}`; got != want {
			t.Errorf("predicate = %s; want %s", got, want)
		}
		// The signed statement keeps the predicate's text: no HTML escaping.
		html := dir + "/html.json"
		os.WriteFile(html, []byte(`{"note":"a<b && c>d"}`), 0o600)
		hf, err := NewFormat(nil, key, Spec{Type: "https://example.com/p", File: html})
		if err != nil {
			t.Fatal(err)
		}
		hst, _ := hf.Statement(ctx, s)
		layer, err := hf.seal(ctx, s, hst)
		if err != nil {
			t.Fatal(err)
		}
		env, _ := dsse.Parse(layer.Payload)
		if p, _ := env.DecodedPayload(); !bytes.Contains(p, []byte(`"a<b && c>d"`)) {
			t.Errorf("signed statement %s escapes the predicate's text", p)
		}
		if got := layer.Annotations; got["dev.cosignproject.cosign/signature"] != "" || got["predicateType"] != "https://example.com/p" || len(got) != 2 {
			t.Errorf("layer annotations = %v; want cosign's empty signature and the predicate type", got)
		}
		if layer.MediaType != "application/vnd.dsse.envelope.v1+json" {
			t.Errorf("layer media type = %q", layer.MediaType)
		}
		for name, body := range map[string]string{"array": "[1]", "garbage": "{", "string": `"x"`} {
			bad := dir + "/" + name + ".json"
			os.WriteFile(bad, []byte(body), 0o600)
			if _, err := NewFormat(nil, key, Spec{Type: "https://example.com/p", File: bad}); err == nil || !strings.Contains(err.Error(), bad) {
				t.Errorf("NewFormat(%s predicate) = %v; want an error naming the file", name, err)
			}
		}
		if _, err := NewFormat(nil, key, Spec{Type: "https://example.com/p", File: dir + "/missing.json"}); err == nil {
			t.Error("NewFormat(missing file) = nil error")
		}
	})
}

func TestClaimKeyIgnoresRunMetadata(t *testing.T) {
	s := testSubject(t)
	mk := func(pred string) string { return claimKey(NewStatement(s, SLSAProvenanceV1, json.RawMessage(pred))) }
	a := mk(`{"runDetails":{"builder":{"id":"b"},"metadata":{"invocationId":"run-1","startedOn":"2026-01-01T00:00:00Z"}}}`)
	b := mk(`{"runDetails":{"metadata":{"finishedOn":"2026-01-02T00:00:00Z","invocationId":"run-2"},"builder":{"id":"b"}}}`)
	c := mk(`{"runDetails":{"builder":{"id":"b"}}}`)
	if a != b || a != c {
		t.Errorf("claim keys differ only by run metadata:\n%s\n%s\n%s", a, b, c)
	}
	if d := mk(`{"runDetails":{"builder":{"id":"other"}}}`); d == a {
		t.Error("claim key ignores the builder id")
	}
	// For other predicate types every field counts.
	sbom := func(pred string) string {
		return claimKey(NewStatement(s, "https://spdx.dev/Document", json.RawMessage(pred)))
	}
	if sbom(`{"metadata":{"invocationId":"1"}}`) == sbom(`{"metadata":{"invocationId":"2"}}`) {
		t.Error("claim key of a custom predicate ignores a field")
	}
}

type slsaDep = ResourceDescriptor

func dep(uri, alg, hex string) slsaDep { return resource(uri, map[string]string{alg: hex}) }
