package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-project/signet/internal/testenv"
)

// TestAllFormats signs a catalog in cosign, Notary and sigstore-bundle
// formats at once with a SoftHSM key whose chain signet's own throwaway CA
// issued and stored in the token, on a registry without the referrers API
// and on one with it; the real notation and cosign verify the results, and
// a trust policy requiring all three formats allows them.
func TestAllFormats(t *testing.T) {
	notationBin := testenv.Tool(t, "notation")
	cosign2, cosign3 := testenv.Tool(t, "cosign-v2"), testenv.Tool(t, "cosign-v3")
	tok := testenv.SoftHSM(t)
	tok.GenerateKey(t, "release", "EC:prime256v1", "01")
	key := tok.URI("release")
	dir := t.TempDir()
	caKey, caCert := filepath.Join(dir, "ca.key"), filepath.Join(dir, "ca.pem")
	mustSignet(t, "cert", "ca", "--key", caKey, "--subject", "CN=Test Root,O=Acme,ST=WA,C=US", "--out", caCert)
	mustSignet(t, "cert", "issue", "--ca-cert", caCert, "--ca-key", caKey, "--key", key,
		"--subject", "CN=release-signer,O=Acme,ST=WA,C=US", "--import")
	pub := writeFile(t, "k.pub", mustSignet(t, "keys", "public", "--key", key))
	emptyRoot := writeFile(t, "trusted_root.json", `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`)

	// notation's trust store and policy, as a user would set them up.
	notationHome := t.TempDir()
	notation := func(args ...string) (string, error) {
		cmd := exec.Command(notationBin, args...)
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+notationHome, "HOME="+notationHome)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	if out, err := notation("cert", "add", "--type", "ca", "--store", "signet", caCert); err != nil {
		t.Fatalf("notation cert add: %v\n%s", err, out)
	}
	os.MkdirAll(filepath.Join(notationHome, "notation"), 0o700)
	os.WriteFile(filepath.Join(notationHome, "notation", "trustpolicy.json"), []byte(`{"version":"1.0","trustPolicies":[{"name":"signet","registryScopes":["*"],
"signatureVerification":{"level":"strict"},"trustStores":["ca:signet"],"trustedIdentities":["x509.subject: CN=release-signer, O=Acme, ST=WA, C=US"]}]}`), 0o600)

	for regName, reg := range map[string]*testenv.Registry{"distribution": testenv.DockerRegistry(t), "referrers-api": testenv.MemRegistry(t, true)} {
		t.Run(regName, func(t *testing.T) {
			imgs := seedMany(t, reg.Host, "fmt", 2, 4)
			cat := textCatalog(t, reg.Host, imgs)
			report := filepath.Join(t.TempDir(), "r.json")
			journal := filepath.Join(t.TempDir(), "j.jsonl")
			out, errOut, code := signet(t, "batch", "--catalog", cat, "--key", key, "--format", "cosign,notation,sigstore-bundle",
				"--report", report, "--journal", journal)
			if code != 0 {
				t.Fatalf("batch: exit %d\n%s\n%s", code, out, tail(errOut, 20))
			}
			n := manifestsOf(imgs)
			if r := readReport(t, report); r.Counts.Signatures != 3*n {
				t.Errorf("counts %+v; want %d signatures (3 formats × %d manifests)", r.Counts, 3*n, n)
			}
			if got := journalLines(journal); got != 3*n {
				t.Errorf("journal has %d records; want one per format per manifest (%d)", got, 3*n)
			}
			for _, s := range imgs {
				for _, d := range append(childDigests(s), s.index) {
					ref := reg.Host + "/" + s.repo + "@" + d.String()
					if out, err := notation("verify", "--insecure-registry", ref); err != nil {
						t.Errorf("notation verify %s: %v\n%s", ref, err, out)
					}
					env := append(os.Environ(), "HOME="+t.TempDir())
					c := exec.Command(cosign3, "verify", "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry", "--allow-insecure-registry", ref)
					c.Env = env
					if b, err := c.CombinedOutput(); err != nil {
						t.Errorf("cosign v3 verify (bundle) %s: %v\n%s", ref, err, b)
					}
					// cosign v2.6 switches to the bundle whenever one exists
					// (--new-bundle-format=false does not stop it) and then
					// wants a trusted root; offline, an empty one will do.
					c = exec.Command(cosign2, "verify", "--key", pub, "--insecure-ignore-tlog=true", "--trusted-root", emptyRoot, "--allow-http-registry", "--allow-insecure-registry", ref)
					c.Env = env
					if b, err := c.CombinedOutput(); err != nil {
						t.Errorf("cosign v2 verify (bundle, trusted root given) %s: %v\n%s", ref, err, b)
					}
				}
			}
			// A rerun adds nothing in any format.
			signet(t, "batch", "--catalog", cat, "--key", key, "--format", "cosign,notation,sigstore-bundle", "--report", report)
			if r := readReport(t, report); r.Counts.Signatures != 0 || r.Counts.Present != 3*n {
				t.Errorf("rerun: %+v; want all %d present", r.Counts, 3*n)
			}

			pol := writeFile(t, "policy.yaml", fmt.Sprintf(`apiVersion: signet.dev/v1
kind: TrustPolicy
trust:
  - name: all-formats
    scopes: ["%s/fmt/*"]
    level: enforce
    keys: [%s]
    roots: [%s]
    identities: ["CN=release-signer, O=Acme, ST=WA, C=US"]
    require:
      formats: [cosign, notation, sigstore-bundle]
`, reg.Host, pub, caCert))
			out, errOut, code = signet(t, "verify", "--policy", pol, "--catalog", cat)
			if code != 0 || !strings.Contains(out, "all manifests verified") {
				t.Errorf("verify --policy requiring 3 formats: exit %d\n%s\n%s", code, out, tail(errOut, 10))
			}
		})
	}
}

// TestSigningPolicyRefuses: a key outside its signing rule signs nothing
// and the run says why.
func TestSigningPolicyRefuses(t *testing.T) {
	reg := testenv.DockerRegistry(t)
	tok := testenv.SoftHSM(t)
	tok.GenerateKey(t, "dev", "EC:prime256v1", "01")
	testenv.SeedSingle(t, reg.Host, "dev/app", "v1")
	testenv.SeedSingle(t, reg.Host, "prod/app", "v1")
	pol := writeFile(t, "policy.yaml", fmt.Sprintf(`apiVersion: signet.dev/v1
kind: SigningPolicy
signing:
  - name: dev-key
    key: "pkcs11:token=%s;object=dev"
    scopes: ["%s/dev/*"]
    formats: [cosign]
`, tok.Label, reg.Host))
	key := tok.URI("dev")
	out, errOut, code := signet(t, "sign", "--key", key, "--policy", pol, reg.Host+"/dev/app:v1", reg.Host+"/prod/app:v1")
	if code != 1 || !strings.Contains(errOut, "prod/app") || !strings.Contains(errOut, "nothing was signed") {
		t.Errorf("exit %d; want 1 naming prod/app and saying nothing was signed\n%s\n%s", code, out, errOut)
	}
	if lines(out, "signed ") > 0 {
		t.Errorf("something was signed despite the refusal:\n%s", out)
	}
	_, errOut, code = signet(t, "sign", "--key", key, "--policy", pol, "--format", "notation", reg.Host+"/dev/app:v1")
	if code != 1 || !strings.Contains(errOut, "notation") {
		t.Errorf("format outside the rule: exit %d\n%s", code, errOut)
	}
	out = mustSignet(t, "sign", "--key", key, "--policy", pol, reg.Host+"/dev/app:v1")
	if lines(out, "signed ") != 1 {
		t.Errorf("allowed image not signed:\n%s", out)
	}
}
