package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/signet-project/signet/hsm"
	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature/cosign"
)

// runAttestCLI runs signet with args, the attestation commands registered
// if the root does not have them yet, and returns stdout and the exit code.
func runAttestCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	g := &globals{stdout: &out, stderr: &errOut}
	root := newRoot(g)
	for name, mk := range map[string]func(*globals) *cobra.Command{"attest": newAttestCmd, "verify-attestation": newVerifyAttestationCmd} {
		if c, _, err := root.Find([]string{name}); err != nil || c == root {
			root.AddCommand(mk(g))
		}
	}
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(context.Background())
	code := ExitOK
	if err != nil {
		code = ExitUsage
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		errOut.WriteString("signet: " + err.Error() + "\n")
	}
	t.Logf("signet %s → %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return out.String(), code
}

func TestAttestValues(t *testing.T) {
	got, err := attestValues(nil, nil)
	if err != nil || !reflect.DeepEqual(got, []string{"provenance"}) {
		t.Errorf("attestValues(none) = %q, %v; want provenance", got, err)
	}
	got, err = attestValues([]string{"spdxjson", "provenance", "vuln"}, []string{"sbom.json", "scan.json"})
	want := []string{"sbom.json=spdxjson", "provenance", "scan.json=vuln"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("attestValues() = %q, %v; want %q", got, err, want)
	}
	for _, tt := range []struct{ types, preds []string }{
		{[]string{"spdxjson"}, nil},
		{[]string{"provenance"}, []string{"x.json"}},
		{[]string{"nonsense"}, []string{"x.json"}},
		{[]string{"provenance", "provenance"}, nil},
	} {
		if _, err := attestValues(tt.types, tt.preds); err == nil {
			t.Errorf("attestValues(%q, %q) = nil error", tt.types, tt.preds)
		}
	}
}

func TestAttestAndVerifyAttestationCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	reg := testenv.DockerRegistry(t)
	testenv.SeedImage(t, reg.Host, "team/app", "v1", nil)
	image := reg.Host + "/team/app:v1"

	dir := t.TempDir()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	keyFile := filepath.Join(dir, "signet.key")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pubFile := filepath.Join(dir, "signet.pub")
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644)
	sbom := filepath.Join(dir, "sbom.json")
	os.WriteFile(sbom, []byte(`{"spdxVersion":"SPDX-2.3"}`), 0o644)

	for k, v := range map[string]string{
		"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "example/app",
		"GITHUB_WORKFLOW_REF": "example/app/.github/workflows/release.yml@refs/heads/main",
		"GITHUB_SHA":          "6c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d", "GITHUB_REF": "refs/heads/main",
		"GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "1", "RUNNER_ENVIRONMENT": "github-hosted",
	} {
		t.Setenv(k, v)
	}

	out, code := runAttestCLI(t, "attest", "--key", keyFile, "--type", "provenance", "--type", "spdxjson", "--predicate", sbom, image)
	if code != ExitOK {
		t.Fatalf("attest exited %d", code)
	}
	if n := strings.Count(out, "signed   attest:"); n != 6 {
		t.Errorf("attest printed %d attested lines; want 6 (index + 2 images, 2 types)", n)
	}
	out, code = runAttestCLI(t, "attest", "--key", keyFile, "--type", "provenance", "--type", "spdxjson", "--predicate", sbom, image)
	if code != ExitOK || strings.Count(out, "present  attest:") != 6 {
		t.Errorf("rerun exited %d and did not report all 6 attestations present", code)
	}

	builder := "predicate.runDetails.builder.id=https://github.com/example/app/.github/workflows/release.yml@refs/heads/main"
	out, code = runAttestCLI(t, "verify-attestation", "--key", pubFile, "--type", "slsaprovenance1", "--require", builder,
		"--require", "predicate.buildDefinition.externalParameters.workflow.repository=https://github.com/example/app", image)
	if code != ExitOK || strings.Count(out, "verified  ") != 3 {
		t.Errorf("verify-attestation exited %d, want 0 with 3 verified manifests", code)
	}
	out, code = runAttestCLI(t, "verify-attestation", "--key", pubFile, "--type", "spdxjson", image)
	if code != ExitOK || strings.Count(out, "verified  ") != 3 {
		t.Errorf("verify-attestation --type spdxjson exited %d, want 0 with 3 verified manifests", code)
	}

	out, code = runAttestCLI(t, "verify-attestation", "--key", pubFile, "--type", "provenance",
		"--require", "predicate.runDetails.builder.id=https://evil.example/builder", image)
	if code != ExitFailed || strings.Count(out, "FAILED    ") != 3 || !strings.Contains(out, `want "https://evil.example/builder"`) {
		t.Errorf("verify-attestation with an unmet requirement exited %d; want 2 and 3 FAILED lines naming the wanted value", code)
	}
	out, code = runAttestCLI(t, "verify-attestation", "--key", pubFile, "--type", "cyclonedx", image)
	if code != ExitFailed || !strings.Contains(out, "missing-attestation: no attestation of type https://cyclonedx.org/bom (found: https://slsa.dev/provenance/v1, https://spdx.dev/Document)") {
		t.Errorf("verify-attestation of a missing type exited %d; want 2 and the types found", code)
	}

	for _, args := range [][]string{
		{"attest", "--key", keyFile, "--type", "spdxjson", image},
		{"attest", "--key", keyFile, "--builder-id", "not a uri", image},
		{"attest", "--key", keyFile, "--source-digest", "abc", image},
		{"attest", "--key", keyFile, "--type", "spdxjson", "--predicate", filepath.Join(dir, "missing.json"), image},
		{"verify-attestation", "--key", pubFile, image},
		{"verify-attestation", "--key", pubFile, "--type", "provenance", "--require", "nofield", image},
	} {
		if _, code := runAttestCLI(t, args...); code != ExitUsage {
			t.Errorf("signet %s exited %d; want %d (usage)", strings.Join(args, " "), code, ExitUsage)
		}
	}
}

func TestAttestSetForItem(t *testing.T) {
	dir := t.TempDir()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	keyFile := filepath.Join(dir, "k.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	key, err := hsm.Open(context.Background(), keyFile)
	if err != nil {
		t.Fatal(err)
	}
	defer key.Close()
	sbom := filepath.Join(dir, "sbom.json")
	os.WriteFile(sbom, []byte(`{"spdxVersion":"SPDX-2.3"}`), 0o644)

	reg, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	set, err := newAttestSet(reg, cosign.NewStore(reg), &provenanceFlags{builderID: "https://ci.example/b"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := set.forItem(key, []string{"provenance", sbom + "=spdxjson"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range first {
		names = append(names, f.Name())
	}
	if want := []string{"attest:https://slsa.dev/provenance/v1", "attest:https://spdx.dev/Document"}; !reflect.DeepEqual(names, want) {
		t.Errorf("forItem() names = %q; want %q", names, want)
	}
	again, err := set.forItem(key, []string{sbom + "=https://spdx.dev/Document"})
	if err != nil || len(again) != 1 || again[0] != first[1] {
		t.Errorf("forItem() built the SBOM format twice")
	}
	for _, bad := range [][]string{{"nonsense"}, {filepath.Join(dir, "missing.json") + "=spdxjson"}} {
		if _, err := set.forItem(key, bad); err == nil {
			t.Errorf("forItem(%q) = nil error", bad)
		}
	}
	if _, err := newAttestSet(reg, cosign.NewStore(reg), &provenanceFlags{buildType: "relative"}); err == nil {
		t.Error("newAttestSet(bad --build-type) = nil error")
	}
}
