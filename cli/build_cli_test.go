package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/signet-project/signet/attest"
	"github.com/signet-project/signet/buildkit"
	"github.com/signet-project/signet/buildkit/frontendimage"
	"github.com/signet-project/signet/internal/testenv"
)

// TestBuildSessionFlagsUsage: bad --secret and --ssh values are refused
// before anything reaches buildkitd, and a value given by mistake is not
// repeated.
func TestBuildSessionFlagsUsage(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Unsetenv("SIGNET_TEST_UNSET_SECRET")
	for _, tt := range []struct {
		flag, value, want string
	}{
		{"--secret", "id=token,value=hunter2-secret", `--secret: unknown field "value"`},
		{"--secret", "id=token,hunter2-secret", `--secret: a field without "="`},
		{"--secret", "src=/etc/hostname", "--secret: no id="},
		{"--secret", "id=token,env=SIGNET_TEST_UNSET_SECRET", "variable SIGNET_TEST_UNSET_SECRET is not set"},
		{"--ssh", "=/tmp/agent.sock", "--ssh: want default"},
	} {
		_, stderr, code := signet(t, "build", "--addr", "unix:///nonexistent/buildkitd.sock", "--tag", "127.0.0.1:5000/app:v1", tt.flag, tt.value, dir)
		if code != 1 || !strings.Contains(stderr, tt.want) {
			t.Errorf("signet build %s %s: exit %d, stderr %q; want exit 1 and %q", tt.flag, tt.value, code, stderr, tt.want)
		}
		if strings.Contains(stderr, "hunter2") {
			t.Errorf("signet build %s: stderr repeats the value: %s", tt.flag, stderr)
		}
	}
}

// TestBuildChecksBeforeBuilding: signet build refuses bad signing flags, a
// key it cannot open and signing its --policy forbids before buildkitd
// builds anything. Found after the push, they exit 1 ("nothing attempted")
// while an unsigned image is already in the registry. The Dockerfile has no
// `# signet:` lines, so no frontend checks the policy for signet.
func TestBuildChecksBeforeBuilding(t *testing.T) {
	if testing.Short() {
		t.Skip("starts buildkitd")
	}
	reg, bk := buildEnv(t)
	key := newKey(t, t.TempDir(), "release.key")
	ctxDir := buildContext(t, "")
	// Every subtest pushes to reg.Host/team/…: the key may sign there in
	// cosign only, or only somewhere else.
	signingPolicy := func(key, scope string) string {
		return writeFile(t, "policy.yaml", "apiVersion: signet.dev/v1\nkind: SigningPolicy\nsigning:\n  - key: \""+key+
			"\"\n    scopes: [\""+reg.Host+"/"+scope+"\"]\n    formats: [cosign]\n")
	}
	teamOnly := signingPolicy("file:"+key, "team/*")
	elsewhere := signingPolicy("file:"+key, "elsewhere/*")
	byFingerprint := signingPolicy(fingerprint(t, key), "team/*")

	for _, tt := range []struct {
		name string
		args []string
		want string // in stderr; "" for a build that must go through
	}{
		{"report in a missing directory", []string{"--key", key, "--report", filepath.Join(t.TempDir(), "no", "r.json")}, "--report"},
		{"no workers", []string{"--key", key, "--workers", "0"}, "--workers"},
		{"unknown format", []string{"--key", key, "--format", "gpg"}, `unknown format "gpg"`},
		{"bad attestation", []string{"--key", key, "--attest", "sbom.json"}, "--attest"},
		{"notation without a certificate chain", []string{"--key", key, "--format", "notation"}, "certificate chain"},
		{"missing key", []string{"--key", "/nonexistent/k.pem"}, "/nonexistent/k.pem"},
		{"no key at all", nil, "no signing key"},
		{"policy forbids the repository", []string{"--key", key, "--policy", elsewhere}, "may not sign " + reg.Host + "/team/policy-forbids-the-repository"},
		{"policy forbids the format", []string{"--key", key, "--policy", teamOnly, "--format", "sigstore-bundle"}, "in sigstore-bundle"},
		{"policy allows", []string{"--key", key, "--policy", teamOnly}, ""},
		// The policy is asked with the key itself, not only its reference.
		{"policy names the key by fingerprint", []string{"--key", key, "--policy", byFingerprint}, ""},
		// The same build with good flags is pushed: the refusals above
		// are signet's, not a buildkitd that cannot build.
		{"good flags", []string{"--key", key}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ref := reg.Host + "/team/" + strings.ReplaceAll(tt.name, " ", "-") + ":v1"
			args := append([]string{"build", "--addr", bk.Addr, "--progress", "plain", "--tag", ref}, append(tt.args, ctxDir)...)
			stdout, stderr, code := signet(t, args...)
			r, err := name.ParseReference(ref, name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			_, headErr := remote.Head(r)
			if tt.want == "" {
				if code != 0 || headErr != nil {
					t.Fatalf("signet build: exit %d, %s not pushed (%v)\nstdout:\n%s\nstderr:\n%s", code, ref, headErr, stdout, stderr)
				}
				if !verifies(t, key, ref) {
					t.Errorf("%s was pushed but does not verify with the key\nstdout:\n%s", ref, stdout)
				}
				return
			}
			if code != 1 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d; want 1 and %q\nstdout:\n%s\nstderr:\n%s", code, tt.want, stdout, stderr)
			}
			if headErr == nil || strings.Contains(stdout, "pushed") {
				t.Errorf("%s was pushed although signet build refused to sign it\nstdout:\n%s", ref, stdout)
			}
		})
	}
}

// TestBuildPolicyWithoutIntent: `signet build --policy` of a Dockerfile
// without `# signet:` lines makes no sign request, prints no warning about
// a missing one, and signs BuildKit's provenance as a build without
// --policy does: with signet's frontend (`# syntax=`), and without it.
func TestBuildPolicyWithoutIntent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts buildkitd and compiles the frontend")
	}
	reg, bk := buildEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	fe, err := frontendimage.Build(ctx, []v1.Platform{{OS: "linux", Architecture: runtime.GOARCH}}, "test", time.Unix(0, 0), t.TempDir())
	if err != nil {
		t.Fatalf("building the frontend image: %v", err)
	}
	frontend := reg.Host + "/signet-frontend:test"
	if _, err := frontendimage.Push(ctx, frontend, fe, true); err != nil {
		t.Fatalf("pushing the frontend image: %v", err)
	}

	dir := t.TempDir()
	key := newKey(t, dir, "release.key")
	// The policy allows sigstore bundles only: the cosign a made-up
	// request would default to fails the build in the frontend.
	pol := writeFile(t, "policy.yaml", "apiVersion: signet.dev/v1\nkind: SigningPolicy\nsigning:\n  - key: file:"+key+
		"\n    scopes: [\""+reg.Host+"/team/*\"]\n    formats: [sigstore-bundle]\n")
	// The session flags go along unused: BuildKit only hands out what a
	// RUN step mounts.
	t.Setenv("SIGNET_TEST_BUILD_SECRET", "unused-secret-value")

	for _, tt := range []struct{ name, syntax string }{
		{"dockerfile.v0", ""},
		{"signet frontend", "# syntax=" + frontend + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctxDir := buildContext(t, tt.syntax)
			ref := reg.Host + "/team/" + strings.ReplaceAll(strings.ReplaceAll(tt.name, " ", "-"), ".", "") + ":v1"
			stdout, stderr, code := signet(t, "build", "--addr", bk.Addr, "--progress", "plain", "--policy", pol, "--key", key,
				"--format", "sigstore-bundle", "--secret", "id=token,env=SIGNET_TEST_BUILD_SECRET", "--tag", ref, ctxDir)
			if code != 0 {
				t.Fatalf("signet build --policy: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if strings.Contains(stderr, "carries no sign request") {
				t.Errorf("signet build --policy warns about a sign request the Dockerfile never made:\n%s", stderr)
			}
			if strings.Contains(stderr, "unused-secret-value") || strings.Contains(stdout, "unused-secret-value") {
				t.Errorf("signet build printed the secret's value")
			}
			if !strings.Contains(stdout, "pushed   "+ref+"@") {
				t.Errorf("signet build output:\n%s", stdout)
			}
			if types := predicateTypes(t, ref); slices.Contains(types, buildkit.SignRequestPredicate) {
				t.Errorf("the image carries a sign request, which its Dockerfile never made (predicate types %v)", types)
			}
			// The default signed provenance is there.
			if out, errOut, code := signet(t, "verify-attestation", "--key", key, "--type", "provenance", ref); code != 0 || !strings.Contains(out, "verified") {
				t.Errorf("verify-attestation --type provenance after signet build --policy: exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}

// buildEnv starts an in-memory registry and a buildkitd that pushes to it,
// for a signet build with no operator key and an empty docker config.
func buildEnv(t *testing.T) (*testenv.Registry, *testenv.BuildkitDaemon) {
	t.Helper()
	t.Setenv("SIGNET_KEY", "")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	reg := testenv.MemRegistry(t, false)
	return reg, testenv.Buildkitd(t, reg.Host)
}

// buildContext writes a build context whose Dockerfile, after head, copies
// a file into a scratch image, and returns its directory.
func buildContext(t *testing.T, head string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(head+"FROM scratch\nCOPY hello.txt /hello.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// predicateTypes returns the predicate types of every attestation
// manifest in ref's index.
func predicateTypes(t *testing.T, ref string) []string {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatalf("reading %s: %v", ref, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range im.Manifests {
		if d.Annotations[attest.ReferenceTypeAnnotation] != attest.AttestationManifestType {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range m.Layers {
			out = append(out, l.Annotations[attest.InTotoPredicateAnnotation])
		}
	}
	return out
}
