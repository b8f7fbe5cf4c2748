package attest_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	slsapb "github.com/in-toto/attestation/go/predicates/provenance/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/signet-project/signet/attest"
	"github.com/signet-project/signet/batch"
	"github.com/signet-project/signet/hsm"
	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/cosign"
	"github.com/signet-project/signet/signature/dsse"
)

// testKey is a signing key opened through hsm, and its public key as a PEM
// file for the real cosign.
type testKey struct {
	hsm.Key
	pubFile string
}

// fileKey writes a fresh P-256 PKCS#8 key to a temporary file and opens it
// with hsm.Open, as signet --key FILE does.
func fileKey(t *testing.T) testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "signet.key")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := hsm.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("hsm.Open(%s) = %v", path, err)
	}
	t.Cleanup(func() { key.Close() })
	return testKey{Key: key, pubFile: writePub(t, key)}
}

// softHSMKey generates a P-256 key on a fresh SoftHSM token and opens it
// through signet's session pool.
func softHSMKey(t *testing.T) testKey {
	t.Helper()
	tok := testenv.SoftHSM(t)
	tok.GenerateKey(t, "attest", "EC:prime256v1", "01")
	key, err := hsm.Open(context.Background(), tok.URI("attest"), hsm.WithSessions(2))
	if err != nil {
		t.Fatalf("hsm.Open(SoftHSM key) = %v", err)
	}
	t.Cleanup(func() { key.Close() })
	return testKey{Key: key, pubFile: writePub(t, key)}
}

func writePub(t *testing.T, key hsm.Key) string {
	t.Helper()
	b, err := hsm.MarshalPublicKeyPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "signet.pub")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func newClient(t *testing.T) *registry.Client {
	t.Helper()
	c, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustHash(t testing.TB, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// buildKitImage is a multi-platform image laid out as BuildKit exports it
// with --opt attest:provenance: an index listing each image and, per image,
// an attestation manifest (artifact form) holding an unsigned provenance
// statement about it. amd64 carries SLSA v0.2 provenance, arm64 v1.
type buildKitImage struct {
	ref      string // host/repo:tag
	index    v1.Hash
	children map[string]v1.Hash // platform → image digest
	atts     []v1.Hash          // the attestation manifests
}

func seedBuildKitImage(t *testing.T, c *registry.Client, host, repoName, tag string) buildKitImage {
	t.Helper()
	ctx := context.Background()
	_, kids := testenv.SeedImage(t, host, repoName, tag, []string{"linux/amd64", "linux/arm64"})
	ref, err := name.ParseReference(host + "/" + repoName + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	repo := ref.Context()
	m, err := c.Manifest(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(m.Body, &idx); err != nil {
		t.Fatal(err)
	}
	img := buildKitImage{ref: ref.String(), children: map[string]v1.Hash{}}
	empty := []byte("{}")
	emptyDigest := sha(empty)
	if err := c.UploadBlob(ctx, repo, emptyDigest, empty); err != nil {
		t.Fatal(err)
	}
	fixtures := map[string]string{"linux/amd64": "buildkit-provenance-v02.json", "linux/arm64": "buildkit-provenance-v1.json"}
	types := map[string]string{"linux/amd64": attest.SLSAProvenanceV02, "linux/arm64": attest.SLSAProvenanceV1}
	for _, d := range append([]v1.Descriptor(nil), idx.Manifests...) {
		plat := d.Platform.String()
		img.children[plat] = d.Digest
		if kids[plat] != d.Digest.String() {
			t.Fatalf("SeedImage reported %s for %s, the index lists %s", kids[plat], plat, d.Digest)
		}
		stmt, err := os.ReadFile("testdata/" + fixtures[plat])
		if err != nil {
			t.Fatal(err)
		}
		stmt = bytes.ReplaceAll(stmt, []byte("SUBJECT_HEX"), []byte(d.Digest.Hex))
		if err := c.UploadBlob(ctx, repo, sha(stmt), stmt); err != nil {
			t.Fatal(err)
		}
		am := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.docker.attestation.manifest.v1+json",`+
			`"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},`+
			`"layers":[{"mediaType":"application/vnd.in-toto+json","digest":"%s","size":%d,"annotations":{"in-toto.io/predicate-type":"%s"}}],`+
			`"subject":{"mediaType":"%s","digest":"%s","size":%d}}`,
			emptyDigest, sha(stmt), len(stmt), types[plat], d.MediaType, d.Digest, d.Size)
		put, err := c.PutManifest(ctx, repo.Digest(sha([]byte(am)).String()), "application/vnd.oci.image.manifest.v1+json", []byte(am))
		if err != nil {
			t.Fatal(err)
		}
		img.atts = append(img.atts, put.Digest)
		idx.Manifests = append(idx.Manifests, v1.Descriptor{
			MediaType: "application/vnd.oci.image.manifest.v1+json",
			Digest:    put.Digest,
			Size:      int64(len(am)),
			Platform:  &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{
				attest.ReferenceDigestAnnotation: d.Digest.String(),
				attest.ReferenceTypeAnnotation:   attest.AttestationManifestType,
			},
		})
	}
	body, err := json.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	put, err := c.PutManifest(ctx, ref, "application/vnd.oci.image.index.v1+json", body)
	if err != nil {
		t.Fatal(err)
	}
	img.index = put.Digest
	return img
}

func sha(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// attestRun is one signet attest run over refs: plan them as signet sign
// does, tell the BuildKit source which index lists each image, and run every
// format over every image manifest.
type attestRun struct {
	c       *registry.Client
	key     hsm.Key
	specs   []attest.Spec
	options []attest.Option
}

func (r attestRun) run(t *testing.T, refs ...string) []batch.Outcome {
	t.Helper()
	ctx := context.Background()
	targets := make([]batch.Target, len(refs))
	for i, ref := range refs {
		targets[i] = batch.Target{Ref: ref, Source: fmt.Sprintf("argument %d", i+1), Recursive: true}
	}
	plan, err := batch.NewPlanner(r.c, 4).Plan(ctx, targets)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Failures) > 0 {
		t.Fatalf("planning: %+v", plan.Failures)
	}
	src := attest.NewIndexSource(r.c)
	var items []batch.Item
	for _, it := range plan.Items {
		if it.Parent != "" {
			src.AddParent(it.Subject, mustHash(t, it.Parent))
		}
	}
	for _, it := range plan.Items {
		skip, err := src.IsAttestationManifest(ctx, it.Subject)
		if err != nil {
			t.Fatal(err)
		}
		if !skip {
			items = append(items, it)
		}
	}
	store := cosign.NewStore(r.c)
	var formats []batch.Format
	for _, s := range r.specs {
		f, err := attest.NewFormat(store, r.key, s, append([]attest.Option{attest.WithProvenanceSource(src)}, r.options...)...)
		if err != nil {
			t.Fatal(err)
		}
		formats = append(formats, f)
	}
	runner := &batch.Runner{Workers: 4, Formats: func(batch.Item) ([]batch.Format, error) { return formats, nil }}
	outs := runner.Run(ctx, items)
	for _, o := range outs {
		if o.Err != nil {
			t.Errorf("%s %s: %v", o.Format, o.Item.Name(), o.Err)
		}
	}
	return outs
}

// cosignVerify runs the real cosign verify-attestation and returns the
// statements of the envelopes it printed.
func cosignVerify(t *testing.T, tool, pub, typ, ref string) []map[string]any {
	t.Helper()
	args := []string{"verify-attestation", "--key", pub, "--insecure-ignore-tlog=true", "--type", typ,
		"--allow-insecure-registry", "--allow-http-registry"}
	if tool == "cosign-v3" {
		args = append(args, "--new-bundle-format=false")
	}
	stdout, stderr, err := runTool(t, tool, append(args, ref)...)
	if err != nil {
		t.Fatalf("%s verify-attestation %s: %v\n%s", tool, ref, err, stderr)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if line == "" {
			continue
		}
		var env struct {
			PayloadType string `json:"payloadType"`
			Payload     string `json:"payload"`
		}
		if err := json.Unmarshal([]byte(line), &env); err != nil {
			t.Fatalf("%s printed a line that is not an envelope: %q", tool, line)
		}
		p, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			t.Fatal(err)
		}
		var st map[string]any
		if err := json.Unmarshal(p, &st); err != nil {
			t.Fatal(err)
		}
		out = append(out, st)
	}
	if len(out) == 0 {
		t.Fatalf("%s verify-attestation %s printed no envelope; stderr:\n%s", tool, ref, stderr)
	}
	return out
}

// cosignRefuses runs cosign verify-attestation and expects it to fail.
func cosignRefuses(t *testing.T, tool, pub, typ, ref string) {
	t.Helper()
	args := []string{"verify-attestation", "--key", pub, "--insecure-ignore-tlog=true", "--type", typ,
		"--allow-insecure-registry", "--allow-http-registry"}
	if tool == "cosign-v3" {
		args = append(args, "--new-bundle-format=false")
	}
	stdout, stderr, err := runTool(t, tool, append(args, ref)...)
	if err == nil {
		t.Errorf("%s verify-attestation --key %s --type %s %s succeeded; want a refusal\n%s", tool, pub, typ, ref, stdout)
		return
	}
	t.Logf("%s refused as expected: %s", tool, lastLine(stderr))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func runTool(t *testing.T, tool string, args ...string) (string, string, error) {
	t.Helper()
	bin := testenv.Tool(t, tool)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	// cosign keeps its TUF cache under HOME; offline it warns and goes on.
	// buildctl, the other tool run here, ignores what is cosign's.
	cmd.Env = testenv.CosignEnv(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// lookup follows a dotted path through decoded JSON.
func lookup(v any, path string) any {
	for _, seg := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[seg]
		case []any:
			var i int
			if _, err := fmt.Sscan(seg, &i); err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func hasDependency(st map[string]any, uri string) bool {
	deps, _ := lookup(st, "predicate.buildDefinition.resolvedDependencies").([]any)
	for _, d := range deps {
		if lookup(d, "uri") == uri {
			return true
		}
	}
	return false
}

var gitHubEnv = map[string]string{
	"GITHUB_SERVER_URL":          "https://github.com",
	"GITHUB_REPOSITORY":          "example/app",
	"GITHUB_SHA":                 "6c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d",
	"GITHUB_REF":                 "refs/tags/v1.4.0",
	"GITHUB_RUN_ID":              "9876543210",
	"GITHUB_RUN_ATTEMPT":         "2",
	"GITHUB_WORKFLOW_REF":        "example/app/.github/workflows/release.yml@refs/tags/v1.4.0",
	"RUNNER_ENVIRONMENT":         "github-hosted",
	"GITHUB_EVENT_NAME":          "push",
	"GITHUB_REPOSITORY_ID":       "",
	"GITHUB_REPOSITORY_OWNER_ID": "",
}

func setGitHubEnv(t *testing.T) {
	for k, v := range gitHubEnv {
		t.Setenv(k, v)
	}
}

// TestCosignVerifiesSignetProvenance signs BuildKit-built multi-arch images'
// provenance in a GitHub Actions environment and has cosign v2 and v3 verify
// the index and every image, checking each statement's subject and every
// fact that was known.
func TestCosignVerifiesSignetProvenance(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	for _, kc := range []struct {
		name string
		key  func(*testing.T) testKey
	}{{"file key", fileKey}, {"SoftHSM key", softHSMKey}} {
		t.Run(kc.name, func(t *testing.T) {
			reg := testenv.DockerRegistry(t)
			c := newClient(t)
			key := kc.key(t)
			setGitHubEnv(t)
			img := seedBuildKitImage(t, c, reg.Host, "team/app", "1.4.0")

			run := attestRun{c: c, key: key, specs: []attest.Spec{{Type: attest.SLSAProvenanceV1}},
				options: []attest.Option{attest.WithEnvironment(attest.GitHubProvenance(os.Getenv))}}
			outs := run.run(t, img.ref)
			if len(outs) != 3 {
				t.Fatalf("attested %d manifests; want the index and 2 images (attestation manifests skipped)", len(outs))
			}

			repo := reg.Host + "/team/app"
			ghBuilder := "https://github.com/example/app/.github/workflows/release.yml@refs/tags/v1.4.0"
			common := map[string]any{
				"predicate.buildDefinition.buildType":                                    attest.BuildKitBuildTypeV1,
				"predicate.buildDefinition.externalParameters.configSource.path":         "Dockerfile",
				"predicate.buildDefinition.externalParameters.workflow.repository":       "https://github.com/example/app",
				"predicate.buildDefinition.externalParameters.workflow.path":             ".github/workflows/release.yml",
				"predicate.buildDefinition.externalParameters.workflow.ref":              "refs/tags/v1.4.0",
				"predicate.buildDefinition.internalParameters.github.runner_environment": "github-hosted",
				"predicate.buildDefinition.internalParameters.builderPlatform":           "linux/amd64",
				"predicate.runDetails.metadata.invocationId":                             "yq7kz3w0n2r5t8v1x4a6c9e2g",
				"predicate.runDetails.metadata.startedOn":                                "2026-11-20T10:15:30.123456789Z",
				"predicate.runDetails.metadata.finishedOn":                               "2026-11-20T10:17:02.987654321Z",
			}
			cases := []struct {
				what   string
				digest v1.Hash
				want   map[string]any
				deps   []string
			}{
				{"index", img.index, map[string]any{"predicate.runDetails.builder.id": ghBuilder},
					[]string{"pkg:docker/golang@1.26-bookworm?platform=linux%2Famd64", "pkg:docker/golang@1.26-bookworm?platform=linux%2Farm64"}},
				{"linux/amd64 (BuildKit v0.2)", img.children["linux/amd64"], map[string]any{
					"predicate.runDetails.builder.id":                                             "https://github.com/example/app/actions/runs/9876543210/attempts/2",
					"predicate.buildDefinition.externalParameters.request.frontend":               "gateway.v0",
					"predicate.buildDefinition.internalParameters.buildConfig.llbDefinition.1.id": "step1",
					"predicate.runDetails.metadata.buildkit_completeness.request":                 true,
				}, []string{"pkg:docker/gcr.io/distroless/static-debian12@nonroot?platform=linux%2Famd64"}},
				{"linux/arm64 (BuildKit v1)", img.children["linux/arm64"], map[string]any{
					"predicate.runDetails.builder.id":                               ghBuilder,
					"predicate.buildDefinition.externalParameters.request.frontend": "gateway.v0",
					"predicate.runDetails.metadata.buildkit_metadata.vcs.source":    "https://github.com/example/app",
				}, []string{"pkg:docker/golang@1.26-bookworm?platform=linux%2Farm64"}},
			}
			other := fileKey(t)
			for _, tool := range []string{"cosign-v2", "cosign-v3"} {
				// Controls: cosign must refuse another key and another type,
				// or the checks below would prove nothing.
				t.Run(tool+" refuses", func(t *testing.T) {
					ref := repo + "@" + img.index.String()
					cosignRefuses(t, tool, other.pubFile, "slsaprovenance1", ref)
					cosignRefuses(t, tool, key.pubFile, "spdxjson", ref)
				})
				for _, tc := range cases {
					t.Run(tool+" "+tc.what, func(t *testing.T) {
						sts := cosignVerify(t, tool, key.pubFile, "slsaprovenance1", repo+"@"+tc.digest.String())
						if len(sts) != 1 {
							t.Errorf("cosign printed %d envelopes; want 1", len(sts))
						}
						st := sts[0]
						if got := lookup(st, "subject.0.digest.sha256"); got != tc.digest.Hex {
							t.Errorf("subject digest = %v; want %s", got, tc.digest.Hex)
						}
						if got := lookup(st, "subject.0.name"); got != repo {
							t.Errorf("subject name = %v; want %s", got, repo)
						}
						if got := lookup(st, "_type"); got != "https://in-toto.io/Statement/v1" {
							t.Errorf("_type = %v", got)
						}
						for _, want := range []map[string]any{common, tc.want} {
							for path, v := range want {
								if got := lookup(st, path); got != v {
									t.Errorf("%s = %#v; want %#v", path, got, v)
								}
							}
						}
						pred, _ := json.Marshal(st["predicate"])
						var pb slsapb.Provenance
						if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(pred, &pb); err != nil {
							t.Errorf("decoding as in-toto's protobuf Provenance: %v", err)
						} else if err := pb.Validate(); err != nil {
							t.Errorf("in-toto Provenance.Validate() = %v", err)
						}
						for _, d := range append(tc.deps, "git+https://github.com/example/app@refs/tags/v1.4.0") {
							if !hasDependency(st, d) {
								t.Errorf("resolvedDependencies lacks %s", d)
							}
						}
					})
				}
			}
		})
	}
}

// TestSignetVerifiesCosignAttestations has the real cosign v2 and v3 attest
// an image and its children, and signet verify them.
func TestSignetVerifiesCosignAttestations(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	reg := testenv.DockerRegistry(t)
	c := newClient(t)
	index, kids := testenv.SeedImage(t, reg.Host, "team/cosigned", "v1", nil)
	repo, err := name.NewRepository(reg.Host + "/team/cosigned")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, stderr, err := runTool(t, "cosign-v2", "generate-key-pair", "--output-key-prefix", filepath.Join(dir, "cosign")); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, stderr)
	}
	pred := filepath.Join(dir, "p.json")
	if err := os.WriteFile(pred, []byte(`{"buildDefinition":{"buildType":"https://example.com/buildtype/v1","externalParameters":{"workflow":{"repository":"https://github.com/example/app"}}},"runDetails":{"builder":{"id":"https://example.com/builder"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	attestWith := func(tool string, digest string) {
		t.Helper()
		args := []string{"attest", "--key", filepath.Join(dir, "cosign.key"), "--type", "slsaprovenance1", "--predicate", pred,
			"--tlog-upload=false", "-y", "--allow-insecure-registry", "--allow-http-registry"}
		if tool == "cosign-v3" {
			args = append(args, "--new-bundle-format=false", "--use-signing-config=false")
		}
		if _, stderr, err := runTool(t, tool, append(args, repo.Name()+"@"+digest)...); err != nil {
			t.Fatalf("%s attest %s: %v\n%s", tool, digest, err, stderr)
		}
	}
	attestWith("cosign-v2", kids["linux/amd64"])
	attestWith("cosign-v3", kids["linux/arm64"])
	attestWith("cosign-v2", index)
	attestWith("cosign-v3", index)

	pub, err := hsm.LoadPublicKey(context.Background(), filepath.Join(dir, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	v := attest.NewVerifier(cosign.NewStore(c), signature.KeyTrust{Key: pub})
	builder, err := attest.ParseRequirement("predicate.runDetails.builder.id=https://example.com/builder")
	if err != nil {
		t.Fatal(err)
	}
	repoReq, _ := attest.ParseRequirement("predicate.buildDefinition.externalParameters.workflow.repository=https://github.com/example/app")
	for what, tc := range map[string]struct {
		digest string
		want   int
	}{
		"amd64 by cosign v2": {kids["linux/amd64"], 1},
		"arm64 by cosign v3": {kids["linux/arm64"], 1},
		"index by v2 and v3": {index, 2},
	} {
		t.Run(what, func(t *testing.T) {
			s := signature.Subject{Repo: repo, Digest: mustHash(t, tc.digest)}
			sts, err := v.Verify(context.Background(), s, attest.SLSAProvenanceV1, builder, repoReq)
			if err != nil {
				t.Fatalf("Verify() = %v", err)
			}
			if len(sts) != tc.want {
				t.Errorf("Verify() returned %d statements; want %d", len(sts), tc.want)
			}
			for _, st := range sts {
				t.Logf("cosign wrote a %s statement", st.Type)
				if !st.About(s.Digest) {
					t.Errorf("statement is not about %s", s.Digest)
				}
			}
			wrong, _ := attest.ParseRequirement("predicate.runDetails.builder.id=https://evil.example/builder")
			_, err = v.Verify(context.Background(), s, attest.SLSAProvenanceV1, wrong)
			if signature.ReasonOf(err) != signature.ReasonMissingAttestation || !strings.Contains(err.Error(), `want "https://evil.example/builder"`) {
				t.Errorf("Verify(unmet requirement) = %v; want missing-attestation naming the wanted value", err)
			}
		})
	}
}

// rewriteAtt replaces the .att of digest with layers (payloads set),
// uploading their blobs and a fresh config, as a hostile or broken writer
// could.
func rewriteAtt(t *testing.T, c *registry.Client, repo name.Repository, digest v1.Hash, layers []cosign.Layer) {
	t.Helper()
	ctx := context.Background()
	att := &cosign.Attachment{Layers: layers}
	for _, l := range layers {
		if err := c.UploadBlob(ctx, repo, l.Digest, l.Payload); err != nil {
			t.Fatal(err)
		}
	}
	cfg := att.Config()
	if err := c.UploadBlob(ctx, repo, sha(cfg), cfg); err != nil {
		t.Fatal(err)
	}
	m, err := att.Manifest(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutManifest(ctx, repo.Tag(cosign.Tag(digest, cosign.AttestationSuffix)), "application/vnd.oci.image.manifest.v1+json", m); err != nil {
		t.Fatal(err)
	}
}

// fetchLayers reads the .att of digest with every payload.
func fetchLayers(t *testing.T, store *cosign.Store, repo name.Repository, digest v1.Hash) []cosign.Layer {
	t.Helper()
	att, err := store.Fetch(context.Background(), repo, digest, cosign.AttestationSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if att == nil {
		return nil
	}
	for i := range att.Layers {
		if err := store.FetchPayload(context.Background(), repo, &att.Layers[i]); err != nil {
			t.Fatal(err)
		}
	}
	return att.Layers
}

// editEnvelope decodes a layer's envelope, lets edit change it, and returns
// the re-encoded layer (same annotations).
func editEnvelope(t *testing.T, l cosign.Layer, edit func(*dsse.Envelope)) cosign.Layer {
	t.Helper()
	env, err := dsse.Parse(l.Payload)
	if err != nil {
		t.Fatal(err)
	}
	edit(env)
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return cosign.NewLayer(l.MediaType, b, l.Annotations)
}

// TestVerifyRejects checks that every way an attestation can be wrong is
// refused, with the reason and a message naming what is wrong.
func TestVerifyRejects(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	ctx := context.Background()
	reg := testenv.DockerRegistry(t)
	c := newClient(t)
	store := cosign.NewStore(c)
	key, other := fileKey(t), fileKey(t)
	repo, err := name.NewRepository(reg.Host + "/team/rejects")
	if err != nil {
		t.Fatal(err)
	}
	sbom := filepath.Join(t.TempDir(), "sbom.json")
	if err := os.WriteFile(sbom, []byte(`{"spdxVersion":"SPDX-2.3","name":"app"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// Each case gets an image of its own, attested with provenance (from
	// flags) and an SBOM, then broken.
	seed := func(tag string) signature.Subject {
		d := testenv.SeedSingle(t, reg.Host, "team/rejects", tag)
		s := signature.Subject{Repo: repo, Digest: mustHash(t, d)}
		for _, spec := range []attest.Spec{{Type: attest.SLSAProvenanceV1}, {Type: "https://spdx.dev/Document", File: sbom}} {
			f, err := attest.NewFormat(store, key, spec, attest.WithOverrides(attest.Overrides{BuilderID: "https://ci.example/builder"}))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Sign(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	provenanceLayer := func(layers []cosign.Layer) int {
		for i, l := range layers {
			if l.Annotations[cosign.PredicateTypeAnnotation] == attest.SLSAProvenanceV1 {
				return i
			}
		}
		t.Fatal("no provenance layer")
		return -1
	}
	trusted := attest.NewVerifier(store, signature.KeyTrust{Key: key.Public()})

	tests := []struct {
		name   string
		break_ func(t *testing.T, s signature.Subject) (signature.Subject, *attest.Verifier)
		typ    string
		reason signature.Reason
		msg    string
	}{
		{
			name: "no attestations",
			break_: func(t *testing.T, _ signature.Subject) (signature.Subject, *attest.Verifier) {
				d := testenv.SeedSingle(t, reg.Host, "team/rejects", "bare")
				return signature.Subject{Repo: repo, Digest: mustHash(t, d)}, trusted
			},
			reason: signature.ReasonMissingAttestation,
			msg:    ".att does not exist",
		},
		{
			name: "wrong key",
			break_: func(t *testing.T, s signature.Subject) (signature.Subject, *attest.Verifier) {
				return s, attest.NewVerifier(store, signature.KeyTrust{Key: other.Public()})
			},
			reason: signature.ReasonUntrustedKey,
			msg:    "no signature verifies with a trusted key",
		},
		{
			name: "wrong predicate type",
			break_: func(t *testing.T, s signature.Subject) (signature.Subject, *attest.Verifier) {
				return s, trusted
			},
			typ:    "https://cyclonedx.org/bom",
			reason: signature.ReasonMissingAttestation,
			msg:    "no attestation of type https://cyclonedx.org/bom (found: https://slsa.dev/provenance/v1, https://spdx.dev/Document)",
		},
		{
			name: "wrong subject",
			break_: func(t *testing.T, s signature.Subject) (signature.Subject, *attest.Verifier) {
				// The attestations of s, copied to another image.
				d := testenv.SeedSingle(t, reg.Host, "team/rejects", "victim")
				victim := signature.Subject{Repo: repo, Digest: mustHash(t, d)}
				rewriteAtt(t, c, repo, victim.Digest, fetchLayers(t, store, repo, s.Digest))
				return victim, trusted
			},
			reason: signature.ReasonWrongSubject,
			msg:    "signed statement is about",
		},
		{
			name: "tampered envelope payload",
			break_: func(t *testing.T, s signature.Subject) (signature.Subject, *attest.Verifier) {
				layers := fetchLayers(t, store, repo, s.Digest)
				i := provenanceLayer(layers)
				layers[i] = editEnvelope(t, layers[i], func(e *dsse.Envelope) {
					p, _ := e.DecodedPayload()
					p = bytes.Replace(p, []byte("https://ci.example/builder"), []byte("https://ci.example/trusted"), 1)
					e.Payload = base64.StdEncoding.EncodeToString(p)
				})
				rewriteAtt(t, c, repo, s.Digest, layers)
				return s, trusted
			},
			reason: signature.ReasonUntrustedKey,
			msg:    "changed after signing",
		},
		{
			name: "tampered envelope signature",
			break_: func(t *testing.T, s signature.Subject) (signature.Subject, *attest.Verifier) {
				layers := fetchLayers(t, store, repo, s.Digest)
				i := provenanceLayer(layers)
				layers[i] = editEnvelope(t, layers[i], func(e *dsse.Envelope) {
					sig, _ := base64.StdEncoding.DecodeString(e.Signatures[0].Sig)
					sig[len(sig)-1] ^= 1
					e.Signatures[0].Sig = base64.StdEncoding.EncodeToString(sig)
				})
				rewriteAtt(t, c, repo, s.Digest, layers)
				return s, trusted
			},
			reason: signature.ReasonUntrustedKey,
			msg:    "changed after signing",
		},
		{
			name: "tampered blob in the registry's storage",
			break_: func(t *testing.T, s signature.Subject) (signature.Subject, *attest.Verifier) {
				layers := fetchLayers(t, store, repo, s.Digest)
				d := layers[provenanceLayer(layers)].Digest
				// DockerRegistry keeps its storage in a directory of this
				// test's temporary root.
				pattern := filepath.Join(filepath.Dir(t.TempDir()), "..", "*", "*", "data", "docker", "registry", "v2", "blobs", "sha256", d.Hex[:2], d.Hex, "data")
				files, _ := filepath.Glob(pattern)
				if len(files) != 1 {
					// The storage layout is the test's own assumption: a
					// change to it must not turn this check into a skip.
					t.Fatalf("cannot find the blob in docker-registry's storage (%s): %d matches", pattern, len(files))
				}
				b, err := os.ReadFile(files[0])
				if err != nil {
					t.Fatal(err)
				}
				b = bytes.Replace(b, []byte(`"sig":"`), []byte(`"sig":"A`), 1)[:len(b)]
				if err := os.WriteFile(files[0], b, 0o644); err != nil {
					t.Fatal(err)
				}
				return s, trusted
			},
			reason: signature.ReasonTampered,
			msg:    "digest",
		},
		{
			name: "unsigned envelope",
			break_: func(t *testing.T, s signature.Subject) (signature.Subject, *attest.Verifier) {
				layers := fetchLayers(t, store, repo, s.Digest)
				i := provenanceLayer(layers)
				layers[i] = editEnvelope(t, layers[i], func(e *dsse.Envelope) { e.Signatures = nil })
				rewriteAtt(t, c, repo, s.Digest, layers)
				return s, trusted
			},
			reason: signature.ReasonUnsigned,
			msg:    "no signatures",
		},
		{
			name: "not an envelope",
			break_: func(t *testing.T, s signature.Subject) (signature.Subject, *attest.Verifier) {
				layers := fetchLayers(t, store, repo, s.Digest)
				i := provenanceLayer(layers)
				layers[i] = cosign.NewLayer(cosign.DSSEMediaType, []byte("not json"), layers[i].Annotations)
				rewriteAtt(t, c, repo, s.Digest, layers)
				return s, trusted
			},
			reason: signature.ReasonMalformed,
			msg:    "decoding DSSE envelope",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := seed(fmt.Sprintf("case%d", i))
			if _, err := trusted.Verify(ctx, s, attest.SLSAProvenanceV1); err != nil {
				t.Fatalf("Verify() before breaking = %v", err)
			}
			if types, err := trusted.VerifiedTypes(ctx, s); err != nil || strings.Join(types, " ") != "https://slsa.dev/provenance/v1 https://spdx.dev/Document" {
				t.Errorf("VerifiedTypes() before breaking = %q, %v; want both types", types, err)
			}
			s, v := tt.break_(t, s)
			typ := tt.typ
			if typ == "" {
				typ = attest.SLSAProvenanceV1
			}
			_, err := v.Verify(ctx, s, typ)
			if err == nil {
				t.Fatal("Verify() = nil error")
			}
			t.Logf("Verify() = %v", err)
			if got := signature.ReasonOf(err); got != tt.reason {
				t.Errorf("reason = %q; want %q", got, tt.reason)
			}
			if !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), s.Digest.String()) {
				t.Errorf("error %q does not name the manifest and say %q", err, tt.msg)
			}
			if tt.reason != signature.ReasonMissingAttestation {
				types, err := v.VerifiedTypes(ctx, s)
				if err != nil || slices.Contains(types, attest.SLSAProvenanceV1) {
					t.Errorf("VerifiedTypes() after breaking = %q, %v; want no provenance", types, err)
				}
			}
		})
	}
}

// TestRerunAddsNothing attests a batch of multi-arch images twice, the
// second time from another CI run (new run id and attempt), and checks that
// the second run adds no layer; then a changed SBOM is appended.
func TestRerunAddsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	for _, rc := range []struct {
		name  string
		start func(testing.TB) *testenv.Registry
	}{
		{"docker-registry", testenv.DockerRegistry},
		{"in-memory registry", func(t testing.TB) *testenv.Registry { return testenv.MemRegistry(t, true) }},
	} {
		t.Run(rc.name, func(t *testing.T) {
			reg := rc.start(t)
			c := newClient(t)
			key := fileKey(t)
			setGitHubEnv(t)
			sbom := filepath.Join(t.TempDir(), "sbom.json")
			if err := os.WriteFile(sbom, []byte(`{"spdxVersion":"SPDX-2.3","packages":[{"name":"a"}]}`), 0o644); err != nil {
				t.Fatal(err)
			}
			refs := []string{seedBuildKitImage(t, c, reg.Host, "team/bk", "1").ref}
			for i := range 3 {
				repoName := fmt.Sprintf("team/plain%d", i)
				testenv.SeedImage(t, reg.Host, repoName, "v1", []string{"linux/amd64", "linux/arm64", "linux/arm/v7"})
				refs = append(refs, reg.Host+"/"+repoName+":v1")
			}
			specs, err := attest.ParseSpecs([]string{"provenance", sbom + "=spdxjson"})
			if err != nil {
				t.Fatal(err)
			}
			newRun := func() attestRun {
				return attestRun{c: c, key: key, specs: specs,
					options: []attest.Option{attest.WithEnvironment(attest.GitHubProvenance(os.Getenv))}}
			}

			first := newRun().run(t, refs...)
			// 1 BuildKit index + 2 images, 3 plain indexes + 9 images, 2 formats each.
			if want := (3 + 3*4) * 2; len(first) != want {
				t.Fatalf("first run has %d outcomes; want %d", len(first), want)
			}
			store := cosign.NewStore(c)
			counts := map[string]int{}
			for _, o := range first {
				if o.Result.Skipped {
					t.Errorf("first run: %s %s skipped", o.Format, o.Item.Name())
				}
				counts[o.Item.Name().String()] = len(fetchLayers(t, store, o.Item.Repo, o.Item.Digest))
			}
			for ref, n := range counts {
				if n != 2 {
					t.Errorf("%s has %d attestation layers after the first run; want 2", ref, n)
				}
			}

			// Another CI run of the same workflow: the run's own metadata
			// differs, the facts about the images do not.
			t.Setenv("GITHUB_RUN_ID", "1111111111")
			t.Setenv("GITHUB_RUN_ATTEMPT", "1")
			for _, o := range newRun().run(t, refs...) {
				if !o.Result.Skipped {
					t.Errorf("rerun: %s %s was written again", o.Format, o.Item.Name())
				}
				if n := len(fetchLayers(t, store, o.Item.Repo, o.Item.Digest)); n != counts[o.Item.Name().String()] {
					t.Errorf("rerun: %s has %d layers; want %d", o.Item.Name(), n, counts[o.Item.Name().String()])
				}
			}

			// A new SBOM is a new fact: it is appended, provenance is not.
			if err := os.WriteFile(sbom, []byte(`{"spdxVersion":"SPDX-2.3","packages":[{"name":"a"},{"name":"b"}]}`), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, o := range newRun().run(t, refs...) {
				wantSkipped := o.Format == "attest:"+attest.SLSAProvenanceV1
				if o.Result.Skipped != wantSkipped {
					t.Errorf("new SBOM: %s %s skipped = %v; want %v", o.Format, o.Item.Name(), o.Result.Skipped, wantSkipped)
				}
			}
			for ref := range counts {
				d, _ := name.NewDigest(ref)
				if n := len(fetchLayers(t, store, d.Context(), mustHash(t, d.DigestStr()))); n != 3 {
					t.Errorf("%s has %d layers after a new SBOM; want 3", ref, n)
				}
			}
		})
	}
}

// startBuildKit runs the cached buildkitd (as root, OCI worker, native
// snapshotter) with plain HTTP to host, until the test ends, and returns
// its address.
func startBuildKit(t *testing.T, host string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (buildkitd's OCI worker)", "run the tests as root")
	}
	testenv.LookPath(t, "runc", "apt-get install runc")
	bin := testenv.Tool(t, "buildkitd")
	dir := t.TempDir()
	conf := filepath.Join(dir, "buildkitd.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("[registry.%q]\n  http = true\n  insecure = true\n", host)), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "unix://" + filepath.Join(dir, "bk.sock")
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--root", filepath.Join(dir, "root"), "--addr", addr, "--config", conf,
		"--oci-worker-snapshotter=native", "--containerd-worker=false")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	ctl := testenv.Tool(t, "buildctl")
	for deadline := time.Now().Add(30 * time.Second); ; {
		if exec.Command(ctl, "--addr", addr, "debug", "workers").Run() == nil {
			return addr
		}
		select {
		case <-done:
			t.Fatalf("buildkitd exited: %s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("buildkitd did not answer within 30s: %s", logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRealBuildKitProvenance builds a two-platform image with the real
// buildkitd and --opt attest:provenance in both SLSA versions, and checks
// that signet's provenance carries BuildKit's facts, with no environment
// or flags to fill in.
func TestRealBuildKitProvenance(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	reg := testenv.DockerRegistry(t)
	addr := startBuildKit(t, reg.Host)
	for k := range gitHubEnv {
		t.Setenv(k, "")
	}
	ctx := context.Background()
	c := newClient(t)
	key := fileKey(t)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "Dockerfile"), []byte("FROM scratch\nARG VERSION\nCOPY hello.txt /hello-${VERSION}.txt\n"), 0o644)
	os.WriteFile(filepath.Join(src, "hello.txt"), []byte("hello\n"), 0o644)

	for _, version := range []string{"v1", "v0.2"} {
		t.Run("provenance "+version, func(t *testing.T) {
			image := reg.Host + "/bk/app" + strings.ReplaceAll(version, ".", "") + ":1"
			if _, stderr, err := runTool(t, "buildctl", "--addr", addr, "build", "--frontend", "dockerfile.v0",
				"--local", "context="+src, "--local", "dockerfile="+src,
				"--opt", "platform=linux/amd64,linux/arm64", "--opt", "build-arg:VERSION=1.4.0",
				"--opt", "attest:provenance=mode=max,version="+version,
				"--output", "type=image,name="+image+",push=true"); err != nil {
				t.Fatalf("buildctl build: %v\n%s", err, stderr)
			}
			outs := attestRun{c: c, key: key, specs: []attest.Spec{{Type: attest.SLSAProvenanceV1}}}.run(t, image)
			if len(outs) != 3 {
				t.Fatalf("attested %d manifests; want the index and 2 images", len(outs))
			}
			v := attest.NewVerifier(cosign.NewStore(c), signature.KeyTrust{Key: key.Public()})
			invocations := map[string]bool{}
			for _, o := range outs {
				sts, err := v.Verify(ctx, o.Item.Subject, attest.SLSAProvenanceV1)
				if err != nil {
					t.Fatalf("Verify(%s) = %v", o.Item.Name(), err)
				}
				var st map[string]any
				b, _ := json.Marshal(sts[0])
				json.Unmarshal(b, &st)
				what := o.Item.Name().String() + " " + o.Item.Platform
				for path, want := range map[string]any{
					"predicate.buildDefinition.buildType":                                         attest.BuildKitBuildTypeV1,
					"predicate.buildDefinition.externalParameters.request.frontend":               "dockerfile.v0",
					"predicate.buildDefinition.externalParameters.request.args.build-arg:VERSION": "1.4.0",
				} {
					if got := lookup(st, path); got != want {
						t.Errorf("%s: %s = %#v; want %#v", what, path, got, want)
					}
				}
				for _, path := range []string{"predicate.runDetails.metadata.invocationId", "predicate.runDetails.metadata.startedOn",
					"predicate.buildDefinition.internalParameters.builderPlatform"} {
					if lookup(st, path) == nil {
						t.Errorf("%s: %s is missing", what, path)
					}
				}
				if lookup(st, "predicate.runDetails.builder") != nil {
					t.Errorf("%s: builder = %v; BuildKit knew no builder id, so it should be left out", what, lookup(st, "predicate.runDetails.builder"))
				}
				if !o.Item.Index {
					if lookup(st, "predicate.buildDefinition.internalParameters.buildConfig.llbDefinition") == nil {
						t.Errorf("%s: BuildKit's build configuration is missing", what)
					}
					if lookup(st, "predicate.runDetails.metadata.buildkit_metadata") == nil {
						t.Errorf("%s: buildkit_metadata is missing", what)
					}
					invocations[lookup(st, "predicate.runDetails.metadata.invocationId").(string)] = true
				}
			}
			if len(invocations) != 1 {
				t.Errorf("the two platforms of one build have invocation ids %v; want one", invocations)
			}
		})
	}
}
