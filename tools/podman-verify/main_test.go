package main

// End-to-end checks against a real registry (Debian docker-registry, plain
// HTTP on 127.0.0.1) and real cosign v2 signatures. They skip when either is
// missing. Run with:
//
//	CGO_ENABLED=0 go test -tags containers_image_openpgp .

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// missing ends the test for want of a real part: a failure under CI=true
// (as signet's own testenv.Missing; this module cannot import it), a skip
// elsewhere.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format+" (CI=true makes this a failure)", args...)
	}
	t.Skipf(format, args...)
}

// cosignV2 returns the cached cosign v2 binary built by tools/install.sh.
func cosignV2(t *testing.T) string {
	t.Helper()
	p := os.Getenv("COSIGN_V2")
	if p == "" {
		cache := os.Getenv("SIGNET_CACHE")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				missing(t, "no home directory: %v", err)
			}
			cache = filepath.Join(home, ".cache", "signet")
		}
		p = filepath.Join(cache, "bin", "cosign-v2")
	}
	if _, err := os.Stat(p); err != nil {
		missing(t, "cosign v2 not installed (%s); run tools/install.sh cosign", p)
	}
	return p
}

// startRegistry runs docker-registry on a free loopback port and returns host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		missing(t, "docker-registry not installed; run tools/install.sh apt")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry on %s did not answer: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sha256Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// pushBlob uploads b to repo with a monolithic POST+PUT.
func pushBlob(t *testing.T, reg, repo string, b []byte) string {
	t.Helper()
	d := sha256Digest(b)
	resp, err := http.Post("http://"+reg+"/v2/"+repo+"/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("starting upload to %s: %s", repo, resp.Status)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "http") {
		loc = "http://" + reg + loc
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	req, _ := http.NewRequest(http.MethodPut, loc+sep+"digest="+d, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("uploading blob %s to %s: %s", d, repo, resp.Status)
	}
	return d
}

func pushManifest(t *testing.T, reg, repo, tag, mediaType string, b []byte) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, "http://"+reg+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(b))
	req.Header.Set("Content-Type", mediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("pushing manifest %s:%s: %s %s", repo, tag, resp.Status, body)
	}
	return sha256Digest(b)
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Size        int               `json:"size"`
	Digest      string            `json:"digest"`
	Platform    map[string]string `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// pushImage pushes a one-layer OCI image for os/arch and returns its descriptor.
func pushImage(t *testing.T, reg, repo, tag, osName, arch string) descriptor {
	t.Helper()
	layer := []byte("layer for " + repo + " " + osName + "/" + arch)
	ld := pushBlob(t, reg, repo, layer)
	cfg, _ := json.Marshal(map[string]any{
		"architecture": arch, "os": osName,
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{ld}},
	})
	cd := pushBlob(t, reg, repo, cfg)
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Size: len(cfg), Digest: cd},
		"layers":        []descriptor{{MediaType: "application/vnd.oci.image.layer.v1.tar", Size: len(layer), Digest: ld}},
	})
	mt := "application/vnd.oci.image.manifest.v1+json"
	d := pushManifest(t, reg, repo, tag, mt, m)
	return descriptor{MediaType: mt, Size: len(m), Digest: d, Platform: map[string]string{"os": osName, "architecture": arch}}
}

// pushIndex pushes an OCI index of linux/amd64 and linux/arm64 and returns
// the digests of the index and its children. With attestation, a BuildKit-style
// attestation manifest for the amd64 image is appended as a third child.
func pushIndex(t *testing.T, reg, repo, tag string, attestation bool) (index string, children []string) {
	t.Helper()
	ms := []descriptor{
		pushImage(t, reg, repo, "amd64", "linux", "amd64"),
		pushImage(t, reg, repo, "arm64", "linux", "arm64"),
	}
	if attestation {
		att := pushImage(t, reg, repo, "att", "unknown", "unknown")
		att.Annotations = map[string]string{
			"vnd.docker.reference.type":   "attestation-manifest",
			"vnd.docker.reference.digest": ms[0].Digest,
		}
		ms = append(ms, att)
	}
	idx, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     ms,
	})
	for _, m := range ms {
		children = append(children, m.Digest)
	}
	return pushManifest(t, reg, repo, tag, "application/vnd.oci.image.index.v1+json", idx), children
}

type cosignCLI struct {
	bin, dir string
}

func newCosign(t *testing.T) cosignCLI {
	t.Helper()
	c := cosignCLI{bin: cosignV2(t), dir: t.TempDir()}
	c.run(t, "generate-key-pair")
	return c
}

func (c cosignCLI) run(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=", "TUF_ROOT="+filepath.Join(c.dir, "tuf"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// sign signs ref (by digest) with cosign's legacy .sig tag; identity, when
// set, is written as the payload's docker-reference instead of the repository.
func (c cosignCLI) sign(t *testing.T, ref, identity string, recursive bool) {
	t.Helper()
	args := []string{"sign", "--key", "cosign.key", "--tlog-upload=false", "-y",
		"--allow-insecure-registry", "--allow-http-registry"}
	if identity != "" {
		args = append(args, "--sign-container-identity", identity)
	}
	if recursive {
		args = append(args, "-r")
	}
	c.run(t, append(args, ref)...)
}

func (c cosignCLI) pub() string { return filepath.Join(c.dir, "cosign.pub") }

// verifyRun calls the command in-process and decodes its output lines.
func verifyRun(t *testing.T, args ...string) (int, []result, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	var rs []result
	dec := json.NewDecoder(&stdout)
	for dec.More() {
		var r result
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("decoding output of %v: %v\n%s", args, err, stdout.String())
		}
		rs = append(rs, r)
	}
	return code, rs, stderr.String()
}

func TestPodmanVerify(t *testing.T) {
	reg := startRegistry(t)
	cos := newCosign(t)

	// Repository-only identity (cosign's default payload) on a single image.
	plain := pushImage(t, reg, "plain", "v1", "linux", "amd64").Digest
	cos.sign(t, reg+"/plain@"+plain, "", false)
	// Tag identity, as podman and skopeo write it.
	tagged := pushImage(t, reg, "tagged", "v1", "linux", "amd64").Digest
	cos.sign(t, reg+"/tagged@"+tagged, reg+"/tagged:v1", false)
	unsigned := pushImage(t, reg, "unsigned", "v1", "linux", "amd64").Digest
	// Index signed alone, and index signed recursively.
	idxOnly, idxOnlyKids := pushIndex(t, reg, "idxonly", "v1", false)
	cos.sign(t, reg+"/idxonly@"+idxOnly, reg+"/idxonly:v1", false)
	idxAll, idxAllKids := pushIndex(t, reg, "idxall", "v1", false)
	cos.sign(t, reg+"/idxall@"+idxAll, reg+"/idxall:v1", true)
	// Index and platform images signed, BuildKit attestation manifest not.
	idxAtt, idxAttKids := pushIndex(t, reg, "idxatt", "v1", true)
	for _, d := range append([]string{idxAtt}, idxAttKids[:2]...) {
		cos.sign(t, reg+"/idxatt@"+d, reg+"/idxatt:v1", false)
	}

	type want struct {
		instance, platform string
		allowed            bool
		errContains        string
	}
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		wants []want
	}{
		{"repo identity, matchRepository, by digest", []string{"--identity", "matchRepository", reg + "/plain@" + plain},
			0, []want{{plain, "", true, ""}}},
		{"repo identity, matchRepository, by tag", []string{"--identity", "matchRepository", reg + "/plain:v1"},
			0, []want{{plain, "", true, ""}}},
		{"repo identity, default identity rejects", []string{reg + "/plain@" + plain},
			1, []want{{plain, "", false, `Signature for identity "` + reg + `/plain" is not accepted`}}},
		{"tag identity, default, by tag", []string{reg + "/tagged:v1"},
			0, []want{{tagged, "", true, ""}}},
		{"tag identity, default, by digest", []string{reg + "/tagged@" + tagged},
			0, []want{{tagged, "", true, ""}}},
		{"unsigned", []string{"--identity", "matchRepository", reg + "/unsigned@" + unsigned},
			1, []want{{unsigned, "", false, "A signature was required, but no signature exists"}}},
		{"index-only signature, platform child unsigned", []string{"--platform", "linux/arm64", reg + "/idxonly:v1"},
			1, []want{{idxOnly, "", true, ""}, {idxOnlyKids[1], "linux/arm64", false, "no signature exists"}}},
		{"recursive signature, every child", []string{reg + "/idxall:v1"},
			0, []want{{idxAll, "", true, ""}, {idxAllKids[0], "linux/amd64", true, ""}, {idxAllKids[1], "linux/arm64", true, ""}}},
		{"unsigned attestation manifest evaluated", []string{reg + "/idxatt:v1"},
			1, []want{{idxAtt, "", true, ""}, {idxAttKids[0], "linux/amd64", true, ""}, {idxAttKids[1], "linux/arm64", true, ""},
				{idxAttKids[2], "unknown/unknown", false, "no signature exists"}}},
		{"unsigned attestation manifest skipped", []string{"--skip-attestation-manifests", reg + "/idxatt:v1"},
			0, []want{{idxAtt, "", true, ""}, {idxAttKids[0], "linux/amd64", true, ""}, {idxAttKids[1], "linux/arm64", true, ""}}},
		{"platform choice skips the attestation manifest", []string{"--platform", "linux/amd64", reg + "/idxatt:v1"},
			0, []want{{idxAtt, "", true, ""}, {idxAttKids[0], "linux/amd64", true, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--key", cos.pub(), "--insecure"}, tc.args...)
			code, rs, stderr := verifyRun(t, args...)
			if code != tc.code {
				t.Errorf("exit = %d; want %d (stderr: %s)", code, tc.code, stderr)
			}
			if len(rs) != len(tc.wants) {
				t.Fatalf("got %d results %+v; want %d", len(rs), rs, len(tc.wants))
			}
			for i, w := range tc.wants {
				r := rs[i]
				if r.Instance != w.instance || r.Platform != w.platform || r.Allowed != w.allowed || !strings.Contains(r.Error, w.errContains) ||
					(w.errContains == "" && r.Error != "") {
					t.Errorf("result[%d] = %+v; want %+v", i, r, w)
				}
			}
		})
	}

	t.Run("plain https refused without --insecure", func(t *testing.T) {
		code, _, stderr := verifyRun(t, "--key", cos.pub(), reg+"/tagged:v1")
		if code != exitUsage || !strings.Contains(stderr, "server gave HTTP response to HTTPS client") {
			t.Errorf("exit = %d, stderr %q; want %d and an HTTPS error", code, stderr, exitUsage)
		}
	})
}

func TestUsage(t *testing.T) {
	key := filepath.Join(t.TempDir(), "k.pub")
	if err := os.WriteFile(key, []byte("unused"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{},
		{"127.0.0.1:1/r:v1"},
		{"--key", key},
		{"--key", key, "--identity", "bogus", "127.0.0.1:1/r:v1"},
		{"--key", key, "--scope", "bogus", "127.0.0.1:1/r:v1"},
		{"--key", filepath.Join(t.TempDir(), "missing.pub"), "127.0.0.1:1/r:v1"},
		{"--key", key, "Not A Reference"},
	} {
		if code, _, _ := verifyRun(t, args...); code != exitUsage {
			t.Errorf("run(%q) = %d; want %d", args, code, exitUsage)
		}
	}
}

func TestPolicyJSON(t *testing.T) {
	for _, tc := range []struct {
		identity, want string
	}{
		{"default", `{"default":[{"type":"reject"}],"transports":{"docker":{"r.test:5000/a":[{"keyPath":"/k.pub","type":"sigstoreSigned"}]}}}`},
		{"matchRepository", `{"default":[{"type":"reject"}],"transports":{"docker":{"r.test:5000/a":[{"keyPath":"/k.pub","signedIdentity":{"type":"matchRepository"},"type":"sigstoreSigned"}]}}}`},
		{"exact:r.test:5000/a:v1", `{"default":[{"type":"reject"}],"transports":{"docker":{"r.test:5000/a":[{"keyPath":"/k.pub","signedIdentity":{"dockerReference":"r.test:5000/a:v1","type":"exactReference"},"type":"sigstoreSigned"}]}}}`},
	} {
		id, err := signedIdentity(tc.identity)
		if err != nil {
			t.Fatal(err)
		}
		b, err := policyJSON("r.test:5000/a", "/k.pub", id)
		if err != nil {
			t.Fatal(err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, b); err != nil {
			t.Fatal(err)
		}
		if compact.String() != tc.want {
			t.Errorf("policyJSON(%s) = %s; want %s", tc.identity, compact.String(), tc.want)
		}
	}
}
