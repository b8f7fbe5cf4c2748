package cli_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-project/signet/internal/testenv"
)

// TestSignVerifyHSM signs a multi-arch catalog with a SoftHSM key on
// Debian's docker-registry, verifies it with signet and with the real
// cosign, and checks the per-manifest verdicts of the negative cases.
func TestSignVerifyHSM(t *testing.T) {
	reg := testenv.DockerRegistry(t)
	tok := testenv.SoftHSM(t)
	tok.GenerateKey(t, "release", "EC:prime256v1", "01")
	tok.GenerateKey(t, "other", "EC:prime256v1", "02")
	key := tok.URI("release")

	web, webChildren := testenv.SeedImage(t, reg.Host, "team/web", "1.0", []string{"linux/amd64", "linux/arm64", "linux/arm/v7"})
	api, _ := testenv.SeedImage(t, reg.Host, "team/api", "2.0", []string{"linux/amd64", "linux/arm64"})
	nested, _ := testenv.SeedImage(t, reg.Host, "team/db", "15", []string{"linux/amd64"})
	_ = nested

	out := mustSignet(t, "sign", "--key", key, "--hsm-sessions", "2",
		reg.Host+"/team/web:1.0", reg.Host+"/team/api@"+api, reg.Host+"/team/db:15")
	if n := lines(out, "signed "); n != 3+1+2+1+1+1 {
		t.Errorf("signed %d manifests; want 9 (3 indexes + 6 children):\n%s", n, out)
	}
	// Signing again is a no-op: every manifest is already signed by this key.
	out = mustSignet(t, "sign", "--key", key, reg.Host+"/team/web:1.0")
	if lines(out, "present") != 4 || lines(out, "signed ") > 0 {
		t.Errorf("second sign was not a no-op:\n%s", out)
	}

	pub := filepath.Join(t.TempDir(), "release.pub")
	pemOut := mustSignet(t, "keys", "public", "--key", key)
	writeTo(t, pub, pemOut)
	out = mustSignet(t, "verify", "--key", pub, reg.Host+"/team/web:1.0", reg.Host+"/team/api:2.0", reg.Host+"/team/db:15")
	if n := lines(out, "verified"); n != 9 {
		t.Errorf("verified %d manifests; want 9:\n%s", n, out)
	}
	// A key reference works as the verification key too.
	mustSignet(t, "verify", "--key", key, reg.Host+"/team/web@"+web)

	for _, bin := range []string{testenv.Tool(t, "cosign-v2"), testenv.Tool(t, "cosign-v3")} {
		args := []string{"verify", "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry", "--allow-insecure-registry"}
		if strings.HasSuffix(bin, "v3") {
			args = append(args, "--new-bundle-format=false")
		}
		for _, d := range append([]string{web}, values(webChildren)...) {
			cmd := exec.Command(bin, append(args, reg.Host+"/team/web@"+d)...)
			cmd.Env = append(cmd.Environ(), "HOME="+t.TempDir())
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s verify %s: %v\n%s", filepath.Base(bin), d, err, b)
			}
		}
	}

	t.Run("wrong key", func(t *testing.T) {
		out, _, code := signet(t, "verify", "--key", tok.URI("other"), reg.Host+"/team/web:1.0")
		if code != 2 || strings.Count(out, "untrusted-key") != 4 {
			t.Errorf("verify with another key: exit %d; want 2 and 4 untrusted-key verdicts:\n%s", code, out)
		}
	})
	t.Run("unsigned child", func(t *testing.T) {
		testenv.SeedImage(t, reg.Host, "team/half", "1", []string{"linux/amd64", "linux/arm64"})
		mustSignet(t, "sign", "--key", key, "--recursive=false", reg.Host+"/team/half:1")
		out, _, code := signet(t, "verify", "--key", pub, reg.Host+"/team/half:1")
		if code != 2 || lines(out, "verified") != 1 || strings.Count(out, "unsigned") != 2 {
			t.Errorf("verify of an index with unsigned children: exit %d; want 2, index verified, 2 children unsigned:\n%s", code, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.HasPrefix(line, "BLOCKED") && !strings.Contains(line, "linux/") {
				t.Errorf("a failing child's verdict does not name its platform: %s", line)
			}
		}
	})
}

func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestKeyErrors checks that a wrong PIN, a malformed URI and unknown
// tokens or keys each fail before anything is signed, with a clear message
// and exit 1, and that the wrong PIN does not lock the token.
func TestKeyErrors(t *testing.T) {
	reg := testenv.DockerRegistry(t)
	tok := testenv.SoftHSM(t)
	tok.GenerateKey(t, "release", "EC:prime256v1", "01")
	testenv.SeedSingle(t, reg.Host, "app", "v1")
	img := reg.Host + "/app:v1"
	wrongPIN := writeFile(t, "pin", "999999")
	good := tok.URI("release")
	withPIN := func(uri, pinFile string) string {
		base, _, _ := strings.Cut(uri, "?")
		return base + "?module-path=" + tok.Module + "&pin-source=file:" + pinFile
	}

	tests := []struct {
		name, key string
		want      []string
	}{
		{"wrong PIN", withPIN(good, wrongPIN), []string{"PIN", "incorrect"}},
		{"malformed URI", "pkcs11:token=" + tok.Label + ";object=%zz", []string{"object"}},
		{"unknown token", strings.Replace(good, "token="+tok.Label, "token=nosuch", 1), []string{"nosuch", tok.Label}},
		{"unknown key", strings.Replace(good, "object=release", "object=nosuch", 1), []string{"nosuch"}},
		{"missing key file", "/nonexistent/cosign.key", []string{"/nonexistent/cosign.key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := signet(t, "sign", "--key", tt.key, img)
			if code != 1 {
				t.Errorf("exit %d; want 1\n%s%s", code, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("error lacks %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(errOut+out, "999999") || strings.Contains(errOut+out, tok.PIN) {
				t.Errorf("output shows a PIN:\n%s%s", out, errOut)
			}
			if lines(out, "signed ") > 0 {
				t.Errorf("something was signed:\n%s", out)
			}
		})
	}
	// Several wrong-PIN runs in a row (SoftHSM has no lockout counter,
	// real tokens lock after a few): each run tries exactly once, so the
	// right PIN still works afterwards.
	for range 3 {
		signet(t, "sign", "--key", withPIN(good, wrongPIN), img)
	}
	mustSignet(t, "sign", "--key", good, img)
}

// TestFileKey signs with a cosign-format encrypted key file generated by
// signet and checks cosign itself can use its public half.
func TestFileKey(t *testing.T) {
	reg := testenv.DockerRegistry(t)
	testenv.SeedImage(t, reg.Host, "files/app", "v1", []string{"linux/amd64", "linux/arm64"})
	dir := t.TempDir()
	t.Setenv("SIGNET_KEY_PASSWORD", "correct horse")
	keyPath := filepath.Join(dir, "signet.key")
	mustSignet(t, "keys", "generate", "--key-file", keyPath)
	out := mustSignet(t, "sign", "--key", keyPath, reg.Host+"/files/app:v1")
	if lines(out, "signed ") != 3 {
		t.Errorf("want 3 signatures:\n%s", out)
	}
	out = mustSignet(t, "verify", "--key", keyPath+".pub", reg.Host+"/files/app:v1")
	if lines(out, "verified") != 3 {
		t.Errorf("want 3 verified:\n%s", out)
	}
	t.Setenv("SIGNET_KEY_PASSWORD", "wrong")
	_, errOut, code := signet(t, "sign", "--key", keyPath, reg.Host+"/files/app:v1")
	if code != 1 || !strings.Contains(errOut, "password") || strings.Contains(errOut, "wrong") && strings.Contains(errOut, "correct horse") {
		t.Errorf("wrong password: exit %d\n%s", code, errOut)
	}
}

func writeTo(t *testing.T, path, content string) {
	t.Helper()
	if err := writeFileAt(path, content); err != nil {
		t.Fatal(err)
	}
}

// TestSignPrintsEveryOutcome signs many manifests with many workers and
// counts one line per manifest: outcomes come from all workers at once
// and the CLI's stdout here is a plain buffer. make test runs it under
// the race detector too.
func TestSignPrintsEveryOutcome(t *testing.T) {
	reg := testenv.MemRegistry(t, false)
	imgs := seedMany(t, reg.Host, "lines", 4, 16)
	t.Setenv("SIGNET_KEY_PASSWORD", "pw")
	keyPath := filepath.Join(t.TempDir(), "signet.key")
	mustSignet(t, "keys", "generate", "--key-file", keyPath)
	args := []string{"sign", "--key", keyPath, "--workers", "16"}
	for _, s := range imgs {
		args = append(args, reg.Host+"/"+s.repo+":"+s.tag)
	}
	out := mustSignet(t, args...)
	if got, want := lines(out, "signed "), manifestsOf(imgs); got != want {
		t.Errorf("%d \"signed\" lines; want one per manifest (%d):\n%s", got, want, out)
	}
}
