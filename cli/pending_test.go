package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-project/signet/attest"
	"github.com/signet-project/signet/buildkit"
	"github.com/signet-project/signet/hsm"
	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/policy"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/cosign"
)

// pushRequest pushes to r a one-platform index laid out as BuildKit
// writes it: the image, and an attestation manifest about it holding the
// sign request req and a BuildKit SLSA v1 provenance that names no
// builder. It returns the image's digest.
func pushRequest(t *testing.T, r name.Reference, req *buildkit.SignRequest) v1.Hash {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	subject := []any{map[string]any{"name": "pkg:docker/x", "digest": map[string]string{"sha256": d.Hex}}}
	pred, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := json.Marshal(map[string]any{"_type": "https://in-toto.io/Statement/v1", "subject": subject,
		"predicateType": buildkit.SignRequestPredicate, "predicate": json.RawMessage(pred)})
	prov, _ := json.Marshal(map[string]any{"_type": "https://in-toto.io/Statement/v1", "subject": subject,
		"predicateType": attest.SLSAProvenanceV1, "predicate": map[string]any{
			"buildDefinition": map[string]any{"buildType": attest.BuildKitBuildTypeV1, "externalParameters": map[string]any{"request": map[string]any{"frontend": "gateway.v0"}}},
			"runDetails":      map[string]any{"metadata": map[string]any{"invocationId": "bk-123"}}}})
	am := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	am, err = mutate.Append(am,
		mutate.Addendum{Layer: static.NewLayer(st, types.MediaType(attest.InTotoLayerMediaType)),
			Annotations: map[string]string{attest.InTotoPredicateAnnotation: buildkit.SignRequestPredicate}},
		mutate.Addendum{Layer: static.NewLayer(prov, types.MediaType(attest.InTotoLayerMediaType)),
			Annotations: map[string]string{attest.InTotoPredicateAnnotation: attest.SLSAProvenanceV1}})
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	idx = mutate.AppendManifests(idx,
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: am, Descriptor: v1.Descriptor{Annotations: map[string]string{
			attest.ReferenceTypeAnnotation: attest.AttestationManifestType, attest.ReferenceDigestAnnotation: d.String()}}})
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	return d
}

// newKey generates a key file and returns its path.
func newKey(t *testing.T, dir, base string) string {
	t.Helper()
	p := filepath.Join(dir, base)
	mustSignet(t, "keys", "generate", "--key-file", p)
	return p
}

// fingerprint returns the sha256: fingerprint of keyRef's public key, as
// signing policies and sign requests name keys.
func fingerprint(t *testing.T, keyRef string) string {
	t.Helper()
	pub, err := hsm.LoadPublicKey(context.Background(), keyRef)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := policy.KeyFingerprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

// verifies reports whether signet verify accepts ref's signatures with key.
func verifies(t *testing.T, key, ref string) bool {
	t.Helper()
	_, _, code := signet(t, "verify", "--key", key, ref)
	return code == 0
}

// TestPendingOperatorKey: the operator's key signs whatever key a sign
// request names, whether it was given by --key or by SIGNET_KEY, with the
// same warning; the request's key signs only when the operator gave none.
func TestPendingOperatorKey(t *testing.T) {
	t.Setenv("SIGNET_KEY", "")
	reg := testenv.MemRegistry(t, false)
	dir := t.TempDir()
	opKey, reqKey := newKey(t, dir, "operator.key"), newKey(t, dir, "requested.key")

	for _, tt := range []struct {
		name    string
		env     bool // SIGNET_KEY rather than --key
		warning string
	}{
		{"SIGNET_KEY", true, "SIGNET_KEY overrides the key the build's sign request names"},
		{"--key", false, "--key overrides the key the build's sign request names"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			repo := reg.Host + "/team/" + strings.Trim(strings.ToLower(tt.name), "-_")
			r, _ := name.ParseReference(repo+":v1", name.Insecure)
			pushRequest(t, r, &buildkit.SignRequest{Formats: []string{"cosign"}, Key: reqKey})
			args := []string{"batch", "--pending", repo}
			if tt.env {
				t.Setenv("SIGNET_KEY", opKey)
			} else {
				args = append(args, "--key", opKey)
			}
			out, errOut, code := signet(t, args...)
			if code != 0 {
				t.Fatalf("batch --pending: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			if !verifies(t, opKey, repo+":v1") {
				t.Errorf("not signed with the operator's key (%s)\nstdout:\n%s\nstderr:\n%s", tt.name, out, errOut)
			}
			if verifies(t, reqKey, repo+":v1") {
				t.Errorf("signed with the key the sign request names although %s names the operator's", tt.name)
			}
			if !strings.Contains(errOut, tt.warning) || !strings.Contains(errOut, reqKey) {
				t.Errorf("stderr does not warn %q naming the requested key:\n%s", tt.warning, errOut)
			}
			// A key a request names is never opened to compare it.
			if !strings.Contains(errOut, "not opened to compare it") {
				t.Errorf("stderr does not say the requested key was not compared:\n%s", errOut)
			}
			// A rerun checks the requested signatures with the operator's
			// key and finds nothing to do.
			if out, _, _ := signet(t, args...); !strings.Contains(out, "nothing pending") {
				t.Errorf("a second run found work:\n%s", out)
			}
		})
	}

	t.Run("request names the operator's key by fingerprint", func(t *testing.T) {
		fp := fingerprint(t, opKey)
		repo := reg.Host + "/team/fingerprint"
		r, _ := name.ParseReference(repo+":v1", name.Insecure)
		pushRequest(t, r, &buildkit.SignRequest{Formats: []string{"cosign"}, Key: fp})
		t.Setenv("SIGNET_KEY", opKey)
		out, errOut, code := signet(t, "batch", "--pending", repo)
		if code != 0 || !verifies(t, opKey, repo+":v1") {
			t.Fatalf("batch --pending: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		if strings.Contains(errOut, "overrides") {
			t.Errorf("warned although the request names the operator's key:\n%s", errOut)
		}
	})

	t.Run("no operator key", func(t *testing.T) {
		t.Setenv("SIGNET_KEY", "")
		repo := reg.Host + "/team/nokey"
		for _, tag := range []string{"v1", "v2"} {
			r, _ := name.ParseReference(repo+":"+tag, name.Insecure)
			pushRequest(t, r, &buildkit.SignRequest{Formats: []string{"cosign"}, Key: reqKey})
		}
		out, errOut, code := signet(t, "batch", "--pending", repo)
		if code != 0 || !verifies(t, reqKey, repo+":v1") || !verifies(t, reqKey, repo+":v2") {
			t.Fatalf("batch --pending without a key: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		const warning = "signing with the key a sign request names"
		if n := strings.Count(errOut, warning); n != 1 {
			t.Errorf("stderr warns %d times %q; want once for the one requested key:\n%s", n, warning, errOut)
		}
	})

	t.Run("no operator key, a policy decides", func(t *testing.T) {
		t.Setenv("SIGNET_KEY", "")
		pol := writeFile(t, "policy.yaml", "apiVersion: signet.dev/v1\nkind: SigningPolicy\nsigning:\n  - key: file:"+reqKey+
			"\n    scopes: [\""+reg.Host+"/team/allowed*\"]\n    formats: [cosign]\n")
		for _, tt := range []struct {
			repo string
			code int
		}{{"allowed", 0}, {"denied", 1}} {
			repo := reg.Host + "/team/" + tt.repo
			r, _ := name.ParseReference(repo+":v1", name.Insecure)
			pushRequest(t, r, &buildkit.SignRequest{Formats: []string{"cosign"}, Key: reqKey})
			out, errOut, code := signet(t, "batch", "--pending", repo, "--policy", pol)
			if code != tt.code || verifies(t, reqKey, repo+":v1") != (tt.code == 0) {
				t.Errorf("batch --pending %s --policy: exit %d; want %d, and signed only when allowed\nstdout:\n%s\nstderr:\n%s", repo, code, tt.code, out, errOut)
			}
			if strings.Contains(errOut, "signing with the key a sign request names") {
				t.Errorf("warned about the requested key although a policy decides:\n%s", errOut)
			}
		}
	})
}

// TestPendingProvenanceIgnoresSignerEnv: an image built elsewhere is signed
// by a scheduled --pending job in another repository's workflow; its
// provenance states what BuildKit recorded, not the signing job's
// workflow, commit and builder.
func TestPendingProvenanceIgnoresSignerEnv(t *testing.T) {
	t.Setenv("SIGNET_KEY", "")
	reg := testenv.MemRegistry(t, false)
	key := newKey(t, t.TempDir(), "k.key")
	repo := reg.Host + "/team/app"
	r, _ := name.ParseReference(repo+":v1", name.Insecure)
	img := pushRequest(t, r, &buildkit.SignRequest{Formats: []string{"cosign"}, Attest: []string{"provenance"}})
	for k, v := range map[string]string{"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "ops/nightly-signer",
		"GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567", "GITHUB_REF": "refs/heads/main",
		"GITHUB_WORKFLOW_REF": "ops/nightly-signer/.github/workflows/sign.yml@refs/heads/main", "GITHUB_RUN_ID": "9",
		"GITHUB_EVENT_NAME": "schedule", "RUNNER_ENVIRONMENT": "github-hosted"} {
		t.Setenv(k, v)
	}
	for _, v := range []string{"GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	mustSignet(t, "batch", "--pending", repo, "--key", key)

	ctx := context.Background()
	pub, err := hsm.LoadPublicKey(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	client, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	repoName, _ := name.NewRepository(repo, name.Insecure)
	sts, err := attest.NewVerifier(cosign.NewStore(client), signature.KeyTrust{Key: pub}).Verify(ctx, signature.Subject{Repo: repoName, Digest: img}, attest.SLSAProvenanceV1)
	if err != nil {
		t.Fatal(err)
	}
	pred := string(sts[0].Predicate)
	for _, s := range []string{"nightly-signer", "0123456789abcdef", "github-hosted", "schedule", attest.GitHubBuildType} {
		if strings.Contains(pred, s) {
			t.Errorf("the signed provenance states %q of the signing job's environment:\n%s", s, pred)
		}
	}
	for _, s := range []string{attest.BuildKitBuildTypeV1, "bk-123", "gateway.v0"} {
		if !strings.Contains(pred, s) {
			t.Errorf("the signed provenance lacks %q that BuildKit recorded:\n%s", s, pred)
		}
	}
}

// TestPendingLogins: --pending reaches a token at most once a run, and not
// at all for a key the signing policy does not name. A sign request is
// written by whoever can push to the registry: were the key it names opened
// before the policy is asked, anyone could make the signing host try its
// PIN (SIGNET_PKCS11_PIN) on any token, once an image, until the token
// locks. A wrong PIN for the key that would sign is a configuration error
// (exit 1), as in signet sign, not one failure per pending image.
func TestPendingLogins(t *testing.T) {
	tok := testenv.SoftHSM(t)
	t.Setenv("SIGNET_PKCS11_MODULE", "")
	// RSA without its public key object: reading the public half logs in.
	tok.GenerateKey(t, "other", "rsa:2048", "01")
	tok.DeletePublicKey(t, "other")
	module, calls := tok.Spy(t)
	reg := testenv.MemRegistry(t, false)
	tokenKey := fmt.Sprintf("pkcs11:token=%s;object=other?module-path=%s", tok.Label, module)
	fileKey := newKey(t, t.TempDir(), "release.key")
	policyFor := func(key string) string {
		return writeFile(t, "policy.yaml", "apiVersion: signet.dev/v1\nkind: SigningPolicy\nsigning:\n  - key: "+key+
			"\n    scopes: [\""+reg.Host+"/team/*\"]\n    formats: [cosign]\n")
	}

	const wrongPIN = "271828"
	for _, tt := range []struct {
		name       string
		operator   string // SIGNET_KEY
		requested  string // the key the sign requests name
		policy     string
		pin        string
		images     int
		wantLogins int
		wantCode   int
	}{
		{"requested key no rule names", "", tokenKey, policyFor("file:" + fileKey), wrongPIN, 3, 0, 1},
		{"requested key a rule names, wrong PIN", "", tokenKey, policyFor(fmt.Sprintf("pkcs11:token=%s;object=other", tok.Label)), wrongPIN, 3, 1, 1},
		{"operator key, wrong PIN", tokenKey, "", "", wrongPIN, 4, 1, 1},
		{"operator key, requests name a fingerprint, wrong PIN", tokenKey, "sha256:" + strings.Repeat("ab", 32), "", wrongPIN, 4, 1, 1},
		// Checked, then signed: one login for both.
		{"operator key, right PIN", tokenKey, "", "", tok.PIN, 2, 1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SIGNET_KEY", tt.operator)
			t.Setenv("SIGNET_PKCS11_PIN", tt.pin)
			repo := reg.Host + "/team/" + strings.NewReplacer(" ", "-", ",", "").Replace(strings.ToLower(tt.name))
			for i := range tt.images {
				r, _ := name.ParseReference(fmt.Sprintf("%s:v%d", repo, i), name.Insecure)
				pushRequest(t, r, &buildkit.SignRequest{Formats: []string{"cosign"}, Key: tt.requested})
			}
			args := []string{"batch", "--pending", repo}
			if tt.policy != "" {
				args = append(args, "--policy", tt.policy)
			}
			before := calls("C_Login")
			out, errOut, code := signet(t, args...)
			if n := calls("C_Login") - before; n != tt.wantLogins {
				t.Errorf("%d C_Login calls; want %d", n, tt.wantLogins)
			}
			if code != tt.wantCode {
				t.Errorf("exit %d; want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			if strings.Contains(out+errOut, tt.pin) {
				t.Errorf("the output shows the PIN:\n%s%s", out, errOut)
			}
		})
	}
}

// TestPendingWhere: --pending takes a registry host or a repository. Any
// other value is a usage error before the registry is asked, and a key URI
// given there (the flags swapped) is neither quoted nor written anywhere:
// it would print its PIN.
func TestPendingWhere(t *testing.T) {
	const pin = "918273645"
	uri := "pkcs11:token=release;object=signer?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=" + pin
	for _, tt := range []struct {
		name, where string
		want        string // in stderr
	}{
		{"a key URI", uri, "--pending takes"},
		{"a key URI in capitals", strings.Replace(uri, "pkcs11:", "PKCS11:", 1), "--pending takes"},
		{"a PIN", "127.0.0.1:1/team?pin-value=" + pin, "--pending takes"},
		{"a tag", "127.0.0.1:1/team/app:v1", "--pending 127.0.0.1:1/team/app:v1"},
		{"a digest", "127.0.0.1:1/team/app@sha256:" + strings.Repeat("0", 64), "--pending"},
		{"capitals in the repository", "127.0.0.1:1/Team", "--pending 127.0.0.1:1/Team"},
		{"a bad host", "bad host", "--pending"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GITHUB_ACTIONS", "")
			report := filepath.Join(t.TempDir(), "r.json")
			out, errOut, code := signet(t, "batch", "--pending", tt.where, "--key", "/nonexistent.pem", "--report", report)
			if code != 1 || out != "" || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d\nstdout: %q\nstderr: %q\nwant exit 1, no stdout, stderr naming %q", code, out, errOut, tt.want)
			}
			if strings.Contains(out+errOut, pin) {
				t.Errorf("the output shows the PIN:\n%s%s", out, errOut)
			}
			if _, err := os.Stat(report); err == nil {
				t.Errorf("a report was written")
			}
		})
	}
	t.Run("GitHub Actions masks its PIN", func(t *testing.T) {
		t.Setenv("GITHUB_ACTIONS", "true")
		out, errOut, code := signet(t, "batch", "--pending", uri, "--key", "/nonexistent.pem")
		if code != 1 || out != "::add-mask::"+pin+"\n" || strings.Contains(errOut, pin) {
			t.Errorf("exit %d\nstdout: %q\nstderr: %q\nwant exit 1 and only the PIN's ::add-mask:: on stdout", code, out, errOut)
		}
	})
}

// TestPendingReportAlwaysWritten: a --pending run writes its report,
// summary and GitHub outputs whatever it finds: a rerun with nothing left
// to sign replaces the previous report instead of leaving it to be read as
// this run's, and a run whose images all failed lists them there.
func TestPendingReportAlwaysWritten(t *testing.T) {
	t.Setenv("SIGNET_KEY", "")
	reg := testenv.MemRegistry(t, false)
	key := newKey(t, t.TempDir(), "k.pem")
	for _, tt := range []struct {
		name     string
		request  buildkit.SignRequest
		args     []string
		wantCode int
		failures int // the report's planFailures
	}{
		{"rerun, nothing pending", buildkit.SignRequest{Formats: []string{"cosign"}}, []string{"--key", key}, 0, 0},
		// The request names no key and the run gives none.
		{"every image failed", buildkit.SignRequest{Formats: []string{"cosign"}}, nil, 2, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			repo := reg.Host + "/team/" + strings.ReplaceAll(strings.ReplaceAll(tt.name, " ", "-"), ",", "")
			r, _ := name.ParseReference(repo+":v1", name.Insecure)
			pushRequest(t, r, &tt.request)
			dir := t.TempDir()
			rep, summary, outputs := filepath.Join(dir, "r.json"), filepath.Join(dir, "s.md"), filepath.Join(dir, "output")
			args := append([]string{"batch", "--pending", repo, "--report", rep, "--summary-md", summary}, tt.args...)
			if tt.wantCode == 0 {
				mustSignet(t, args...) // signs; the rerun below finds nothing
			}
			for _, p := range []string{rep, summary} {
				if err := os.WriteFile(p, []byte(`{"stale":true}`), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("GITHUB_ACTIONS", "true")
			t.Setenv("GITHUB_OUTPUT", outputs)
			t.Setenv("GITHUB_STEP_SUMMARY", filepath.Join(dir, "step-summary.md"))
			t.Setenv("SIGNET_GITHUB", "1")
			out, errOut, code := signet(t, args...)
			if code != tt.wantCode {
				t.Errorf("exit %d; want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			if b, _ := os.ReadFile(rep); strings.Contains(string(b), "stale") {
				t.Fatalf("the report was not replaced: %s", b)
			}
			if got := readReport(t, rep); got.Tool == "" || got.Counts.Manifests != 0 || got.Counts.PlanFailures != tt.failures {
				t.Errorf("report: tool %q, counts %+v; want %d plan failures and no manifests", got.Tool, got.Counts, tt.failures)
			}
			if b, _ := os.ReadFile(summary); strings.Contains(string(b), "stale") {
				t.Errorf("the summary was not replaced: %s", b)
			}
			if b, _ := os.ReadFile(outputs); !strings.Contains(string(b), "report="+rep+"\n") {
				t.Errorf("step outputs = %q; want the report", b)
			}
		})
	}
}
