package buildkit_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/signet-project/signet/attest"
	"github.com/signet-project/signet/buildkit"
	"github.com/signet-project/signet/buildkit/frontendimage"
	"github.com/signet-project/signet/cli"
	"github.com/signet-project/signet/hsm"
	"github.com/signet-project/signet/internal/testenv"
)

// env is what every BuildKit test needs: a loopback registry, a buildkitd
// configured for it, and signet's frontend image pushed there.
type env struct {
	reg *testenv.Registry
	// clean is a registry only the --pending walk uses, so that what other
	// subtests push does not show up in it.
	clean    *testenv.Registry
	bk       *testenv.BuildkitDaemon
	frontend string // host/signet-frontend:test
	index    v1.ImageIndex
}

// newEnv starts the registry and buildkitd and pushes the frontend, built
// for the machine's platform (a frontend runs on the daemon's platform,
// whatever the target platforms).
func newEnv(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("starts buildkitd and compiles the frontend")
	}
	reg, clean := testenv.DockerRegistry(t), testenv.DockerRegistry(t)
	bk := testenv.Buildkitd(t, reg.Host, clean.Host)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	// The first static compile of the BuildKit dependencies takes minutes
	// on two cores; the go build cache makes later ones take seconds.
	idx, err := frontendimage.Build(ctx, []v1.Platform{{OS: "linux", Architecture: runtime.GOARCH}}, "test", time.Unix(0, 0), t.TempDir())
	if err != nil {
		t.Fatalf("building the frontend image: %v", err)
	}
	e := &env{reg: reg, clean: clean, bk: bk, frontend: reg.Host + "/signet-frontend:test", index: idx}
	if _, err := frontendimage.Push(ctx, e.frontend, idx, true); err != nil {
		t.Fatalf("pushing the frontend image: %v", err)
	}
	return e
}

// writeContext writes a build context: the Dockerfile and one file to COPY.
func writeContext(t *testing.T, dockerfile string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello from signet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// body is the Dockerfile every test builds: FROM scratch, so the daemon
// pulls nothing but the frontend.
const body = "FROM scratch\nCOPY hello.txt /hello.txt\n"

// buildctl builds dir's Dockerfile for linux/amd64 and linux/arm64 and
// pushes it to ref; extra are more buildctl build arguments. It returns the
// combined output and the error.
func (e *env) buildctl(t *testing.T, dir, ref string, extra ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"build", "--progress", "plain", "--frontend", "dockerfile.v0",
		"--local", "context=.", "--local", "dockerfile=.",
		"--opt", "platform=linux/amd64,linux/arm64",
		"--opt", "build-arg:SOURCE_DATE_EPOCH=0",
		"--output", "type=image,name=" + ref + ",push=true"}, extra...)
	out, err := e.bk.BuildctlCmd(ctx, dir, args...).CombinedOutput()
	return string(out), err
}

// indexOf reads ref's index and returns it with its platform images
// ("os/arch" → digest) and attestation manifests (image digest →
// attestation manifest digest).
func indexOf(t *testing.T, ref string) (v1.Hash, map[string]string, map[string]string) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatalf("reading index %s: %v", ref, err)
	}
	d, _ := idx.Digest()
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	images, atts := map[string]string{}, map[string]string{}
	for _, m := range im.Manifests {
		if m.Annotations[attest.ReferenceTypeAnnotation] == attest.AttestationManifestType {
			atts[m.Annotations[attest.ReferenceDigestAnnotation]] = m.Digest.String()
			continue
		}
		images[m.Platform.OS+"/"+m.Platform.Architecture] = m.Digest.String()
	}
	return d, images, atts
}

// predicateTypes returns the predicate types of attestation manifest att's
// layers, from their annotations.
func predicateTypes(t *testing.T, repo, att string) []string {
	t.Helper()
	r, err := name.ParseReference(repo+"@"+att, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("reading attestation manifest %s: %v", r, err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, l := range m.Layers {
		types = append(types, l.Annotations[attest.InTotoPredicateAnnotation])
	}
	return types
}

// signRequest reads the sign-request statement of attestation manifest att.
func signRequest(t *testing.T, repo, att string) (*attest.Statement, *buildkit.SignRequest) {
	t.Helper()
	r, err := name.ParseReference(repo+"@"+att, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		if l.Annotations[attest.InTotoPredicateAnnotation] != buildkit.SignRequestPredicate {
			continue
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := layer.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var raw json.RawMessage
		if err := json.NewDecoder(rc).Decode(&raw); err != nil {
			t.Fatal(err)
		}
		st, err := attest.ParseStatement(raw)
		if err != nil {
			t.Fatalf("sign request statement: %v", err)
		}
		req, err := buildkit.ParseSignRequest(st.Predicate)
		if err != nil {
			t.Fatalf("sign request predicate: %v", err)
		}
		return st, req
	}
	t.Fatalf("attestation manifest %s@%s has no sign request (layers of types %v)", repo, att, predicateTypes(t, repo, att))
	return nil, nil
}

// TestBuildKit runs the frontend and the signing commands against a real
// buildkitd (OCI worker, runc) and Debian's docker-registry. The subtests
// share the daemon, the registry and the frontend image, which take the
// longest to set up.
func TestBuildKit(t *testing.T) {
	e := newEnv(t)

	t.Run("identical to dockerfile.v0", func(t *testing.T) {
		// With the directive and no signing intent, the images are those
		// of the Dockerfile frontend of the same BuildKit version.
		syntaxDir := writeContext(t, "# syntax="+e.frontend+"\n"+body)
		plainDir := writeContext(t, body)
		if out, err := e.buildctl(t, syntaxDir, e.reg.Host+"/same/syntax:v1"); err != nil {
			t.Fatalf("building with the directive: %v\n%s", err, out)
		}
		if out, err := e.buildctl(t, plainDir, e.reg.Host+"/same/plain:v1"); err != nil {
			t.Fatalf("building with dockerfile.v0: %v\n%s", err, out)
		}
		_, got, gotAtt := indexOf(t, e.reg.Host+"/same/syntax:v1")
		_, want, _ := indexOf(t, e.reg.Host+"/same/plain:v1")
		if len(want) != 2 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("platform manifests with the signet frontend = %v; with dockerfile.v0 = %v; want the same two", got, want)
		}
		if len(gotAtt) != 0 {
			t.Fatalf("a build without intent carries attestation manifests %v; want none", gotAtt)
		}
	})

	t.Run("sign request", func(t *testing.T) {
		dir := writeContext(t, "# syntax="+e.frontend+"\n# signet:formats=cosign\n# signet:attest=provenance\n# signet:key=pkcs11:token=ci;object=release\n"+body)
		ref := e.reg.Host + "/req/app:v1"
		if out, err := e.buildctl(t, dir, ref, "--opt", "attest:provenance=mode=max"); err != nil {
			t.Fatalf("buildctl build: %v\n%s", err, out)
		}
		_, images, atts := indexOf(t, ref)
		if len(images) != 2 || len(atts) != 2 {
			t.Fatalf("index has images %v and attestation manifests %v; want 2 of each", images, atts)
		}
		for plat, img := range images {
			types := predicateTypes(t, e.reg.Host+"/req/app", atts[img])
			if !contains(types, buildkit.SignRequestPredicate) || !contains(types, attest.SLSAProvenanceV1) {
				t.Errorf("%s attestation manifest has predicate types %v; want the sign request and SLSA provenance v1", plat, types)
			}
			st, req := signRequest(t, e.reg.Host+"/req/app", atts[img])
			h, _ := v1.NewHash(img)
			if !st.About(h) {
				t.Errorf("%s sign request is about %v; want the image %s", plat, st.Subject, img)
			}
			if strings.Join(req.Formats, ",") != "cosign" || strings.Join(req.Attest, ",") != "provenance" ||
				req.Key != "pkcs11:token=ci;object=release" || req.Dockerfile.Name != "Dockerfile" || len(req.Dockerfile.Digest["sha256"]) != 64 {
				t.Errorf("%s sign request = %+v", plat, req)
			}
		}
	})

	t.Run("frontend from an OCI layout", func(t *testing.T) {
		// No registry needed for the frontend: the `# syntax=` image is
		// overridden by a named context reading the layout the image
		// writer makes (make frontend-image without FRONTEND_IMAGE).
		layoutDir := t.TempDir()
		d, err := frontendimage.WriteLayout(layoutDir, e.index, "signet-frontend:test")
		if err != nil {
			t.Fatal(err)
		}
		const image = "frontend.invalid/signet-frontend:layout"
		dir := writeContext(t, "# syntax="+image+"\n# signet:formats=cosign\n"+body)
		ref := e.reg.Host + "/layout/app:v1"
		if out, err := e.buildctl(t, dir, ref, "--oci-layout", "fe="+layoutDir,
			"--opt", "context:"+image+"=oci-layout://fe@"+d.String()); err != nil {
			t.Fatalf("buildctl build with the frontend from an OCI layout: %v\n%s", err, out)
		}
		_, images, atts := indexOf(t, ref)
		for plat, img := range images {
			if _, req := signRequest(t, e.reg.Host+"/layout/app", atts[img]); strings.Join(req.Formats, ",") != "cosign" {
				t.Errorf("%s sign request = %+v; want formats cosign", plat, req)
			}
		}
	})

	t.Run("subrequest", func(t *testing.T) {
		// Subrequests (outline, targets, lint) describe the build and pass
		// through untouched: no intent parsing, no policy, no attestation.
		dir := writeContext(t, "# syntax="+e.frontend+"\n# signet:formats=gpg\n"+body)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := e.bk.BuildctlCmd(ctx, dir, "build", "--progress", "plain", "--frontend", "dockerfile.v0",
			"--local", "context=.", "--local", "dockerfile=.", "--opt", "requestid=frontend.targets").CombinedOutput()
		if err != nil {
			t.Fatalf("buildctl build --opt requestid=frontend.targets: %v\n%s", err, out)
		}
		// The same Dockerfile fails a real build.
		if out, err := e.buildctl(t, dir, e.reg.Host+"/subrequest/app:v1"); err == nil || !strings.Contains(out, `unknown value "gpg"`) {
			t.Errorf("building a Dockerfile asking for format gpg: err %v; want the frontend's refusal\n%s", err, out)
		}
	})

	t.Run("pin refused", func(t *testing.T) {
		const pin = "7734-secret"
		dir := writeContext(t, "# syntax="+e.frontend+"\n"+body)
		out, err := e.buildctl(t, dir, e.reg.Host+"/pin/app:v1", "--opt", "build-arg:SIGNET_KEY=pkcs11:token=ci;object=release?pin-value="+pin)
		if err == nil {
			t.Fatalf("a build whose SIGNET_KEY carries a PIN succeeded:\n%s", out)
		}
		if !strings.Contains(out, "build-arg:SIGNET_KEY: carries a PIN") {
			t.Errorf("buildctl output does not show the frontend's message:\n%s", out)
		}
		if strings.Contains(out, pin) {
			t.Errorf("buildctl output repeats the PIN:\n%s", out)
		}
	})

	t.Run("policy violation", func(t *testing.T) {
		policyDir := t.TempDir()
		pol := `apiVersion: signet.dev/v1
kind: SigningPolicy
signing:
  - key: "pkcs11:token=ci;object=release"
    scopes: ["` + e.reg.Host + `/allowed/*"]
    formats: [cosign]
`
		if err := os.WriteFile(filepath.Join(policyDir, "policy.yaml"), []byte(pol), 0o644); err != nil {
			t.Fatal(err)
		}
		polArgs := []string{"--local", "signet-policy=" + policyDir, "--opt", "context:signet-policy=local:signet-policy"}
		dir := writeContext(t, "# syntax="+e.frontend+"\n# signet:formats=cosign,notation\n# signet:key=pkcs11:token=ci;object=release\n"+body)
		out, err := e.buildctl(t, dir, e.reg.Host+"/allowed/app:v1", polArgs...)
		if err == nil {
			t.Fatalf("a build asking for a format the policy forbids succeeded:\n%s", out)
		}
		want := "signing policy signet-policy/policy.yaml forbids this build's signing request: Dockerfile:3: key pkcs11:token=ci;object=release may sign only in cosign, not in notation"
		if !strings.Contains(out, want) {
			t.Errorf("buildctl output does not show %q:\n%s", want, out)
		}
		// The repository, when named, is checked too; what the policy
		// allows builds.
		out, err = e.buildctl(t, dir, e.reg.Host+"/other/app:v1", append(polArgs, "--opt", "build-arg:SIGNET_FORMATS=cosign", "--opt", "build-arg:SIGNET_REPOSITORY="+e.reg.Host+"/other/app")...)
		if err == nil || !strings.Contains(out, "may not sign "+e.reg.Host+"/other/app") {
			t.Errorf("a build for a repository outside the key's scope: err %v; want the scope refused:\n%s", err, out)
		}
		if out, err := e.buildctl(t, dir, e.reg.Host+"/allowed/app:v1", append(polArgs, "--opt", "build-arg:SIGNET_FORMATS=cosign")...); err != nil {
			t.Errorf("a build the policy allows failed: %v\n%s", err, out)
		}
	})

	t.Run("batch pending", func(t *testing.T) {
		// An HSM key named in the Dockerfile (no PIN: the signer has it).
		tok := testenv.SoftHSM(t)
		tok.GenerateKey(t, "release", "EC:prime256v1", "01")
		t.Setenv("SIGNET_PKCS11_MODULE", tok.Module)
		t.Setenv("SIGNET_PKCS11_PIN", tok.PIN)
		keyRef := "pkcs11:token=" + tok.Label + ";object=release"
		pub := publicKeyFile(t, keyRef)

		dir := writeContext(t, "# syntax="+e.frontend+"\n# signet:formats=cosign\n# signet:attest=provenance\n# signet:key="+keyRef+"\n"+body)
		ref := e.clean.Host + "/pending/app:v1"
		if out, err := e.buildctl(t, dir, ref, "--opt", "attest:provenance=mode=max"); err != nil {
			t.Fatalf("buildctl build: %v\n%s", err, out)
		}
		// An image built without intent is left alone.
		if out, err := e.buildctl(t, writeContext(t, body), e.clean.Host+"/pending/plain:v1"); err != nil {
			t.Fatalf("buildctl build: %v\n%s", err, out)
		}
		index, images, atts := indexOf(t, ref)

		out := mustSignet(t, "batch", "--pending", e.clean.Host)
		if !strings.Contains(out, "pending  "+ref+"@"+index.String()+": cosign missing on 5 manifests, provenance missing on 3 manifests") {
			t.Errorf("signet batch --pending did not find the build as pending:\n%s", out)
		}
		if strings.Contains(out, "pending/plain") {
			t.Errorf("signet batch --pending touched an image without a sign request:\n%s", out)
		}
		// 1 index + 2 images + 2 attestation manifests signed, and
		// provenance for the index and the 2 images.
		if !strings.Contains(out, "5 manifests (1 indexes): 8 signatures written") {
			t.Errorf("signet batch --pending summary is not 5 manifests and 8 signatures:\n%s", out)
		}
		out = mustSignet(t, "batch", "--pending", e.clean.Host+"/pending/app")
		if !strings.Contains(out, "done     "+ref+"@"+index.String()) || !strings.Contains(out, "nothing pending") {
			t.Errorf("a second signet batch --pending found work:\n%s", out)
		}

		subjects := []string{index.String()}
		for _, d := range images {
			subjects = append(subjects, d)
		}
		for _, d := range atts {
			subjects = append(subjects, d)
		}
		cosignVerifies(t, pub, e.clean.Host+"/pending/app", subjects)
		for plat, d := range images {
			for _, st := range cosignVerifyAttestation(t, pub, e.clean.Host+"/pending/app@"+d) {
				if !dependsOnFrontend(st, "signet-frontend") {
					t.Errorf("%s provenance does not list the frontend image among its resolved dependencies: %v", plat, st["predicate"])
				}
			}
		}
	})

	t.Run("signet build", func(t *testing.T) {
		keyFile := filepath.Join(t.TempDir(), "release.key")
		mustSignet(t, "keys", "generate", "--key-file", keyFile)
		pub := keyFile + ".pub"
		// The Dockerfile asks for the key by path and for provenance.
		dir := writeContext(t, "# syntax="+e.frontend+"\n# signet:attest=provenance\n# signet:key="+keyFile+"\n"+body)
		ref := e.reg.Host + "/built/app:v1"
		out := mustSignet(t, "build", "--addr", e.bk.Addr, "--progress", "plain", "--platform", "linux/amd64,linux/arm64",
			"--build-arg", "SOURCE_DATE_EPOCH=0", "--tag", ref, dir)
		index, images, atts := indexOf(t, ref)
		if !strings.Contains(out, "pushed   "+ref+"@"+index.String()) || !strings.Contains(out, "5 manifests (1 indexes): 8 signatures written") {
			t.Errorf("signet build output:\n%s", out)
		}
		subjects := []string{index.String()}
		for _, d := range images {
			subjects = append(subjects, d)
		}
		for _, d := range atts {
			subjects = append(subjects, d)
		}
		cosignVerifies(t, pub, e.reg.Host+"/built/app", subjects)
		for plat, d := range images {
			for _, st := range cosignVerifyAttestation(t, pub, e.reg.Host+"/built/app@"+d) {
				if !dependsOnFrontend(st, "signet-frontend") {
					t.Errorf("%s provenance does not list the frontend image: %v", plat, st["predicate"])
				}
			}
		}
		// --key wins over the key the Dockerfile names, with a warning.
		otherKey := filepath.Join(t.TempDir(), "other.key")
		mustSignet(t, "keys", "generate", "--key-file", otherKey)
		stdout, stderr, code := signet(t, "build", "--addr", e.bk.Addr, "--progress", "quiet", "--key", otherKey,
			"--build-arg", "SOURCE_DATE_EPOCH=0", "--tag", e.reg.Host+"/built/other:v1", dir)
		if code != 0 || !strings.Contains(stderr, "--key overrides the key the build's sign request names") {
			t.Errorf("signet build --key OTHER: exit %d; want 0 and a warning\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		otherIndex, _, _ := indexOf(t, e.reg.Host+"/built/other:v1")
		cosignVerifies(t, otherKey+".pub", e.reg.Host+"/built/other", []string{otherIndex.String()})

		// The build is done: nothing is pending.
		if out := mustSignet(t, "batch", "--pending", e.reg.Host+"/built/app"); !strings.Contains(out, "nothing pending") {
			t.Errorf("signet batch --pending after signet build:\n%s", out)
		}
	})

	t.Run("signet build policy", func(t *testing.T) {
		keyFile := filepath.Join(t.TempDir(), "release.key")
		mustSignet(t, "keys", "generate", "--key-file", keyFile)
		policyFile := filepath.Join(t.TempDir(), "policy.yaml")
		pol := "apiVersion: signet.dev/v1\nkind: SigningPolicy\nsigning:\n  - key: file:" + keyFile + "\n    scopes: [\"" + e.reg.Host + "/allowed/*\"]\n    formats: [cosign]\n"
		if err := os.WriteFile(policyFile, []byte(pol), 0o644); err != nil {
			t.Fatal(err)
		}
		dir := writeContext(t, "# syntax="+e.frontend+"\n# signet:key="+keyFile+"\n"+body)
		stdout, stderr, code := signet(t, "build", "--addr", e.bk.Addr, "--progress", "plain", "--policy", policyFile,
			"--tag", e.reg.Host+"/denied/app:v1", dir)
		if code != 1 || !strings.Contains(stderr, "may not sign "+e.reg.Host+"/denied/app") {
			t.Errorf("signet build into a repository the policy forbids: exit %d; want 1 and a refusal before the build\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if strings.Contains(stdout, "pushed") {
			t.Errorf("the forbidden build was pushed:\n%s", stdout)
		}
	})
}

// TestBuildUsage checks what signet build refuses before reaching a daemon.
func TestBuildUsage(t *testing.T) {
	dir := writeContext(t, body)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no tag", []string{"build", dir}, "pass --tag REF"},
		{"digest tag", []string{"build", "--tag", "127.0.0.1:5000/app@sha256:" + strings.Repeat("a", 64), dir}, "--tag"},
		{"pin in build arg", []string{"build", "--tag", "127.0.0.1:5000/app:v1", "--build-arg", "SIGNET_KEY=pkcs11:object=k?pin-value=4711", dir}, "--build-arg SIGNET_KEY carries a PIN"},
		{"bad build arg", []string{"build", "--tag", "127.0.0.1:5000/app:v1", "--build-arg", "NOVALUE", dir}, "want NAME=VALUE"},
		{"pending and catalog", []string{"batch", "--pending", "127.0.0.1:5000", "--catalog", "x"}, "not both"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := signet(t, tt.args...)
			if code != 1 || !strings.Contains(stderr, tt.want) {
				t.Fatalf("signet %s: exit %d, stderr %q; want exit 1 and %q", strings.Join(tt.args, " "), code, stderr, tt.want)
			}
			if strings.Contains(stderr, "4711") {
				t.Fatalf("stderr repeats the PIN: %s", stderr)
			}
		})
	}
}

// signet runs the CLI in-process and returns its output and exit code.
func signet(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = cli.Main(context.Background(), args, &o, &e)
	return o.String(), e.String(), code
}

// mustSignet runs the CLI and fails the test unless it exits 0.
func mustSignet(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := signet(t, args...)
	if code != 0 {
		t.Fatalf("signet %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// publicKeyFile writes the PEM public key of keyRef to a file.
func publicKeyFile(t *testing.T, keyRef string) string {
	t.Helper()
	pub, err := hsm.LoadPublicKey(context.Background(), keyRef)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hsm.MarshalPublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "key.pub")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// cosignTools are the real cosign versions signet's signatures must pass.
var cosignTools = []string{"cosign-v2", "cosign-v3"}

// runCosign runs a cached cosign with a HOME of its own.
func runCosign(t *testing.T, tool string, args ...string) (string, string, error) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(testenv.Tool(t, tool), args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "COSIGN_PASSWORD=")
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	return o.String(), e.String(), err
}

// cosignVerifies checks every digest of repo with both cosign versions.
func cosignVerifies(t *testing.T, pub, repo string, digests []string) {
	t.Helper()
	for _, tool := range cosignTools {
		args := []string{"verify", "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry", "--allow-insecure-registry"}
		if tool == "cosign-v3" {
			args = append(args, "--new-bundle-format=false")
		}
		for _, d := range digests {
			if _, stderr, err := runCosign(t, tool, append(args, repo+"@"+d)...); err != nil {
				t.Errorf("%s verify %s@%s: %v\n%s", tool, repo, d, err, stderr)
			}
		}
	}
}

// cosignVerifyAttestation runs cosign verify-attestation --type
// slsaprovenance1 with both versions and returns the statements the last
// one printed.
func cosignVerifyAttestation(t *testing.T, pub, ref string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, tool := range cosignTools {
		args := []string{"verify-attestation", "--key", pub, "--insecure-ignore-tlog=true", "--type", "slsaprovenance1",
			"--allow-insecure-registry", "--allow-http-registry"}
		if tool == "cosign-v3" {
			args = append(args, "--new-bundle-format=false")
		}
		stdout, stderr, err := runCosign(t, tool, append(args, ref)...)
		if err != nil {
			t.Errorf("%s verify-attestation %s: %v\n%s", tool, ref, err, stderr)
			continue
		}
		out = out[:0]
		for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
			var env struct {
				Payload string `json:"payload"`
			}
			if err := json.Unmarshal([]byte(line), &env); err != nil {
				t.Fatalf("%s printed a line that is not an envelope: %q", tool, line)
			}
			b, err := base64.StdEncoding.DecodeString(env.Payload)
			if err != nil {
				t.Fatal(err)
			}
			var st map[string]any
			if err := json.Unmarshal(b, &st); err != nil {
				t.Fatal(err)
			}
			out = append(out, st)
		}
	}
	if len(out) == 0 && !t.Failed() {
		t.Errorf("cosign verify-attestation %s printed no statement", ref)
	}
	return out
}

// dependsOnFrontend reports whether a SLSA v1 statement lists a resolved
// dependency whose URI names the frontend image, as BuildKit records it
// (pkg:docker/… or pkg:oci/…).
func dependsOnFrontend(st map[string]any, image string) bool {
	pred, _ := st["predicate"].(map[string]any)
	def, _ := pred["buildDefinition"].(map[string]any)
	deps, _ := def["resolvedDependencies"].([]any)
	for _, d := range deps {
		m, _ := d.(map[string]any)
		uri, _ := m["uri"].(string)
		if (strings.HasPrefix(uri, "pkg:docker/") || strings.HasPrefix(uri, "pkg:oci/")) && strings.Contains(uri, image) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
