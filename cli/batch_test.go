package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/signet-project/signet/batch"
	"github.com/signet-project/signet/demo"
	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature/cosign"
)

// seeded is one pushed test image.
type seeded struct {
	repo, tag string
	index     v1.Hash
	children  map[string]v1.Hash
}

// seedMany pushes n multi-arch images (2–4 platforms) spread over repos,
// concurrently, and returns them in order.
func seedMany(t *testing.T, host, prefix string, repos, n int) []seeded {
	t.Helper()
	platforms := []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x"}
	out := make([]seeded, n)
	var g errgroup.Group
	g.SetLimit(8)
	for i := range n {
		g.Go(func() error {
			img := demo.Image{
				Repo:      fmt.Sprintf("%s/r%02d", prefix, i%repos),
				Tag:       fmt.Sprintf("v1.%d", i/repos),
				Platforms: platforms[:2+i%3],
			}
			idx, ch, err := demo.Push(context.Background(), host, img)
			out[i] = seeded{repo: img.Repo, tag: img.Tag, index: idx, children: ch}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return out
}

func manifestsOf(imgs []seeded) int {
	n := 0
	for _, s := range imgs {
		n += 1 + len(s.children)
	}
	return n
}

// sigLayers returns, for every manifest of imgs, how many layers its .sig
// holds (0 when there is none).
func sigLayers(t *testing.T, host string, imgs []seeded) map[string]int {
	t.Helper()
	reg, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var mu sync.Mutex
	out := map[string]int{}
	var g errgroup.Group
	g.SetLimit(16)
	for _, s := range imgs {
		repo, err := name.NewRepository(host + "/" + s.repo)
		if err != nil {
			t.Fatal(err)
		}
		ds := []v1.Hash{s.index}
		for _, d := range s.children {
			ds = append(ds, d)
		}
		for _, d := range ds {
			g.Go(func() error {
				m, err := reg.Manifest(ctx, repo.Tag(cosign.Tag(d, "sig")))
				n := 0
				if err == nil {
					a, perr := cosign.ParseAttachment(m.Body)
					if perr != nil {
						return perr
					}
					n = len(a.Layers)
				} else if !registry.IsNotFound(err) {
					return err
				}
				mu.Lock()
				out[repo.String()+"@"+d.String()] = n
				mu.Unlock()
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return out
}

// exactlyOnce fails the test unless every manifest of imgs carries exactly
// one signature layer.
func exactlyOnce(t *testing.T, host string, imgs []seeded) {
	t.Helper()
	bad := 0
	for m, n := range sigLayers(t, host, imgs) {
		if n != 1 {
			bad++
			if bad <= 10 {
				t.Errorf("%s has %d signature layers; want exactly 1", m, n)
			}
		}
	}
	if bad > 10 {
		t.Errorf("… %d manifests in all without exactly one signature", bad)
	}
}

func readReport(t *testing.T, path string) *batch.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r batch.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	return &r
}

func journalLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		n++
	}
	return n
}

// TestBatchCatalog signs a catalog of 200 multi-arch images that mixes
// tags, digests, duplicates and repository and registry globs, completely,
// once per manifest.
func TestBatchCatalog(t *testing.T) {
	if testing.Short() {
		t.Skip("200-image catalog")
	}
	reg := testenv.DockerRegistry(t)
	tok := testenv.SoftHSM(t)
	tok.GenerateKey(t, "release", "EC:prime256v1", "01")
	imgs := seedMany(t, reg.Host, "cat", 10, 200)
	// A second tag on one digest: planned once.
	if _, _, err := demo.Push(context.Background(), reg.Host, demo.Image{Repo: "cat/alias", Tag: "a", Platforms: []string{"linux/amd64"}}); err != nil {
		t.Fatal(err)
	}

	var b strings.Builder
	b.WriteString("defaults:\n  formats: [cosign]\nimages:\n")
	for _, s := range imgs {
		switch s.repo {
		case "cat/r00", "cat/r01": // by tag, each listed twice
			fmt.Fprintf(&b, "  - %s/%s:%s\n  - %s/%s:%s\n", reg.Host, s.repo, s.tag, reg.Host, s.repo, s.tag)
		case "cat/r02", "cat/r03": // by digest, and by tag too
			fmt.Fprintf(&b, "  - %s/%s@%s\n  - %s/%s:%s\n", reg.Host, s.repo, s.index, reg.Host, s.repo, s.tag)
		}
	}
	fmt.Fprintf(&b, "  - repository: %s/cat/r04\n", reg.Host)
	fmt.Fprintf(&b, "  - repository: %s/cat/r05\n    tags: [\"v1.1*\"]\n", reg.Host)
	fmt.Fprintf(&b, "  - repository: %s/cat/r05\n    tags: [\"v1.[02-9]\"]\n", reg.Host)
	fmt.Fprintf(&b, "  - registry: %s\n    repositories: [\"cat/r0[6-9]\"]\n", reg.Host)
	cat := writeFile(t, "catalog.yaml", b.String())
	dir := t.TempDir()
	report, summary, journal := filepath.Join(dir, "r.json"), filepath.Join(dir, "s.md"), filepath.Join(dir, "j.jsonl")

	out, errOut, code := signet(t, "batch", "--catalog", cat, "--key", tok.URI("release"), "--workers", "16",
		"--hsm-sessions", "4", "--journal", journal, "--report", report, "--summary-md", summary)
	if code != 0 {
		t.Fatalf("batch: exit %d\n%s\n%s", code, out, tail(errOut, 40))
	}
	r := readReport(t, report)
	want := manifestsOf(imgs)
	if r.Counts.Manifests != want || r.Counts.Signatures != want || r.Counts.Failed != 0 || r.Counts.Indexes != 200 {
		t.Errorf("counts = %+v; want %d manifests (200 indexes) signed, none failed", r.Counts, want)
	}
	if r.Counts.Duplicates == 0 {
		t.Errorf("no duplicates merged; the catalog lists many images twice: %+v", r.Counts)
	}
	if md, _ := os.ReadFile(summary); !strings.Contains(string(md), fmt.Sprint(want)) {
		t.Errorf("Markdown summary lacks the manifest count %d:\n%s", want, md)
	}
	if n := journalLines(journal); n != want {
		t.Errorf("journal has %d records; want %d", n, want)
	}
	if pool := sessionPoolLog(errOut); pool.Sessions != 4 || pool.Signatures != want || !strings.HasPrefix(pool.Key, "pkcs11:token=") || pool.Held <= 0 {
		t.Errorf("session pool log = %+v; want the key's pool of 4 sessions with %d signatures, each holding a session some time:\n%s", pool, want, tail(errOut, 10))
	}
	exactlyOnce(t, reg.Host, imgs)

	// Every manifest verifies with signet; a sample with the real cosign.
	var refs []string
	for _, s := range imgs {
		refs = append(refs, reg.Host+"/"+s.repo+":"+s.tag)
	}
	out = mustSignet(t, append([]string{"verify", "--key", tok.URI("release"), "--workers", "16"}, refs...)...)
	if n := lines(out, "verified"); n != want {
		t.Errorf("verified %d manifests; want %d", n, want)
	}
	pub := writeFile(t, "k.pub", mustSignet(t, "keys", "public", "--key", tok.URI("release")))
	cosignBin := testenv.Tool(t, "cosign-v2")
	for _, s := range []seeded{imgs[0], imgs[57], imgs[199]} {
		for _, d := range append([]v1.Hash{s.index}, childDigests(s)...) {
			cmd := exec.Command(cosignBin, "verify", "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry",
				"--allow-insecure-registry", reg.Host+"/"+s.repo+"@"+d.String())
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("cosign verify %s@%s: %v\n%s", s.repo, d, err, b)
			}
		}
	}

	// A rerun with the journal touches nothing; without it, the dedupe
	// rule finds every signature present.
	signet(t, "batch", "--catalog", cat, "--key", tok.URI("release"), "--journal", journal, "--report", report)
	if r := readReport(t, report); r.Counts.FromJournal != want || r.Counts.Signatures != 0 {
		t.Errorf("rerun with journal: %+v; want all %d from the journal", r.Counts, want)
	}
	signet(t, "batch", "--catalog", cat, "--key", tok.URI("release"), "--report", report)
	if r := readReport(t, report); r.Counts.Present != want || r.Counts.Signatures != 0 {
		t.Errorf("rerun without journal: %+v; want all %d present", r.Counts, want)
	}
	exactlyOnce(t, reg.Host, imgs)
}

func childDigests(s seeded) []v1.Hash {
	var out []v1.Hash
	for _, d := range s.children {
		out = append(out, d)
	}
	return out
}

func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func textCatalog(t *testing.T, host string, imgs []seeded) string {
	var b strings.Builder
	for _, s := range imgs {
		fmt.Fprintf(&b, "%s/%s:%s\n", host, s.repo, s.tag)
	}
	return writeFile(t, "catalog.txt", b.String())
}

// TestBatchRegistryRestart kills the registry mid-batch, restarts it, and
// reruns with the same journal: every manifest ends signed exactly once. The
// restart removes what the kill left half-written in the registry's store
// (testenv.RepairCrashedStorage); without that, an empty tag link fails its
// image in every rerun with the registry's 500, as docs/scale-out.md says.
func TestBatchRegistryRestart(t *testing.T) {
	reg := testenv.DockerRegistry(t)
	tok := testenv.SoftHSM(t)
	tok.GenerateKey(t, "release", "EC:prime256v1", "01")
	imgs := seedMany(t, reg.Host, "kill", 4, 60)
	cat := textCatalog(t, reg.Host, imgs)
	journal := filepath.Join(t.TempDir(), "j.jsonl")
	args := []string{"batch", "--catalog", cat, "--key", tok.URI("release"), "--workers", "4", "--journal", journal, "--retries", "0"}

	done := make(chan int, 1)
	go func() {
		_, _, code := signet(t, args...)
		done <- code
	}()
	waitFor(t, func() bool { return journalLines(journal) >= 20 }, done)
	reg.Stop()
	// Down long enough to outlast the client's request retries, so some
	// items fail in the first run and the rerun has work to do.
	time.Sleep(5 * time.Second)
	if err := reg.Start(); err != nil {
		t.Fatal(err)
	}
	first := <-done
	t.Logf("first run exit %d with %d journal records of %d manifests", first, journalLines(journal), manifestsOf(imgs))
	if first != 2 {
		t.Errorf("first run exit %d; want 2 (items failed while the registry was down)", first)
	}
	out, errOut, code := signet(t, args...)
	if code != 0 {
		t.Fatalf("rerun: exit %d\n%s\n%s", code, out, tail(errOut, 20))
	}
	exactlyOnce(t, reg.Host, imgs)
}

// waitFor polls cond (bounded) until it holds; done reports an early end.
func waitFor(t *testing.T, cond func() bool, done chan int) {
	t.Helper()
	for range 600 {
		if cond() {
			return
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("the batch ended (exit %d) before the fault could be injected", code)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("condition not reached in 30s")
}

var signetBin struct {
	once sync.Once
	path string
	err  error
}

// buildSignet builds the signet binary once for tests that need a real
// process to kill.
func buildSignet(t *testing.T) string {
	t.Helper()
	signetBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "signet-bin")
		if err != nil {
			signetBin.err = err
			return
		}
		signetBin.path = filepath.Join(dir, "signet")
		out, err := exec.Command("go", "build", "-o", signetBin.path, "github.com/signet-project/signet/cmd/signet").CombinedOutput()
		if err != nil {
			signetBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if signetBin.err != nil {
		t.Fatal(signetBin.err)
	}
	return signetBin.path
}

// TestBatchKilledSigner SIGKILLs the signer mid-batch, then SIGINTs a
// second run, and reruns to the end: every manifest is signed exactly once,
// and the interrupted run flushed its journal and report.
func TestBatchKilledSigner(t *testing.T) {
	bin := buildSignet(t)
	reg := testenv.DockerRegistry(t)
	tok := testenv.SoftHSM(t)
	tok.GenerateKey(t, "release", "EC:prime256v1", "01")
	imgs := seedMany(t, reg.Host, "sigkill", 4, 80)
	cat := textCatalog(t, reg.Host, imgs)
	dir := t.TempDir()
	journal, report := filepath.Join(dir, "j.jsonl"), filepath.Join(dir, "r.json")
	args := []string{"batch", "--catalog", cat, "--key", tok.URI("release"), "--workers", "2", "--journal", journal, "--report", report}
	total := manifestsOf(imgs)

	var stdout, stderr strings.Builder // the interrupted run's; read after it exits
	start := func(args []string) (*exec.Cmd, chan int) {
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan int, 1)
		go func() {
			cmd.Wait()
			done <- cmd.ProcessState.ExitCode()
		}()
		return cmd, done
	}

	cmd, done := start(args)
	waitFor(t, func() bool { return journalLines(journal) >= total/5 }, done)
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	killedAt := journalLines(journal)

	// No --report this time: the closing lines must count by themselves
	// (they once read the count of manifests not started before anything
	// had computed it, and said 0).
	stdout.Reset()
	stderr.Reset()
	cmd, done = start(args[:len(args)-2])
	waitFor(t, func() bool { return journalLines(journal) >= killedAt+total/5 }, done)
	cmd.Process.Signal(syscall.SIGINT)
	if code := <-done; code != 2 {
		t.Errorf("interrupted run exit %d; want 2", code)
	}
	var c batch.Counts
	if _, err := fmt.Sscanf(lastLine(stdout.String(), "manifests ("), "%d manifests (%d indexes): %d signatures written, %d already present, %d from journal, %d failed",
		&c.Manifests, &c.Indexes, &c.Signatures, &c.Present, &c.FromJournal, &c.Failed); err != nil {
		t.Fatalf("interrupted run's summary line: %v\n%s", err, tail(stdout.String(), 5))
	}
	if _, err := fmt.Sscanf(lastLine(stderr.String(), "interrupted: "), "signet: interrupted: %d manifests not started", &c.Unfinished); err != nil {
		t.Fatalf("interrupted run's closing line: %v\n%s", err, tail(stderr.String(), 5))
	}
	if c.Unfinished == 0 || c.Signatures == 0 || c.Failed != 0 || c.Signatures+c.Present+c.FromJournal+c.Unfinished != total {
		t.Errorf("interrupted run: %+v; want some signed, some not started, and every one of the %d manifests in one count", c, total)
	}
	interruptedAt := journalLines(journal)

	out, errOut, code := signet(t, args...)
	if code != 0 {
		t.Fatalf("final run: exit %d\n%s\n%s", code, out, tail(errOut, 20))
	}
	r := readReport(t, report)
	if r.Counts.FromJournal < interruptedAt || r.Counts.FromJournal+r.Counts.Signatures+r.Counts.Present != total {
		t.Errorf("final run: %+v; want the %d journaled skipped and the rest (of %d) signed", r.Counts, interruptedAt, total)
	}
	t.Logf("killed at %d, interrupted at %d, final %+v", killedAt, interruptedAt, r.Counts)
	exactlyOnce(t, reg.Host, imgs)
}

// lastLine returns the last line of out that contains substr.
func lastLine(out, substr string) string {
	var last string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, substr) {
			last = l
		}
	}
	return last
}

// TestBatchFaultyRegistry runs a batch through a proxy that answers 429
// (with Retry-After), 500 and 502 and resets connections for a share of
// requests: everything is signed, exactly once.
func TestBatchFaultyRegistry(t *testing.T) {
	reg := testenv.DockerRegistry(t)
	tok := testenv.SoftHSM(t)
	tok.GenerateKey(t, "release", "EC:prime256v1", "01")
	imgs := seedMany(t, reg.Host, "faulty", 4, 40)
	kinds := []testenv.Fault{testenv.TooMany, testenv.ServerError, testenv.BadGateway, testenv.ResetBefore,
		testenv.ResetAfter, testenv.BadGatewayAfter, testenv.TooManyWait}
	proxy := testenv.NewFaultProxy(t, reg.Host, func(_ *http.Request, n int) testenv.Fault {
		// One request in six goes wrong, cycling through every kind.
		if n%6 == 5 {
			return kinds[(n/6)%len(kinds)]
		}
		return testenv.Pass
	})
	cat := textCatalog(t, proxy.Host, imgs)
	report := filepath.Join(t.TempDir(), "r.json")
	out, errOut, code := signet(t, "batch", "--catalog", cat, "--key", tok.URI("release"), "--workers", "8", "--report", report)
	if code != 0 {
		t.Fatalf("batch through faults: exit %d\n%s\n%s", code, out, tail(errOut, 30))
	}
	seen := map[testenv.Fault]int{}
	for _, r := range proxy.Requests(nil) {
		seen[r.Fault]++
	}
	for _, k := range kinds {
		if seen[k] == 0 {
			t.Errorf("the proxy never injected %v; the test did not exercise it", k)
		}
	}
	t.Logf("requests by fault: %v", seen)
	r := readReport(t, report)
	retried := 0
	for _, m := range r.Manifests {
		for _, f := range m.Formats {
			if f.Attempts > 1 {
				retried++
			}
		}
	}
	t.Logf("counts %+v, %d items needed an item-level retry", r.Counts, retried)
	exactlyOnce(t, reg.Host, imgs)
}

// TestBatchBadInputs mixes good images with an unreachable host, a missing
// tag, a non-image artifact and a manifest over 4 MiB: each is a clear
// error in the report, and the rest are signed.
func TestBatchBadInputs(t *testing.T) {
	reg := testenv.DockerRegistry(t)
	mem := testenv.MemRegistry(t, false)
	tok := testenv.SoftHSM(t)
	tok.GenerateKey(t, "release", "EC:prime256v1", "01")
	imgs := seedMany(t, reg.Host, "bad", 2, 6)
	ctx := context.Background()
	rc, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}

	// A Helm-chart-like artifact: an OCI manifest whose config is not an
	// image config.
	cfg := []byte(`{"name":"chart"}`)
	cfgDesc := cosign.NewLayer("", cfg, nil)
	chartRepo, _ := name.NewRepository(reg.Host + "/bad/chart")
	if err := rc.UploadBlob(ctx, chartRepo, cfgDesc.Digest, cfg); err != nil {
		t.Fatal(err)
	}
	chart := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"%s","size":%d},"layers":[]}`, cfgDesc.Digest, len(cfg))
	if _, err := rc.PutManifest(ctx, chartRepo.Tag("1.0"), "application/vnd.oci.image.manifest.v1+json", []byte(chart)); err != nil {
		t.Fatal(err)
	}
	// An index over 4 MiB on the in-memory registry (distribution refuses
	// to store one), written with a raw PUT: signet's own client refuses to.
	huge := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"annotations":{"pad":"` + strings.Repeat("x", 5<<20) + `"}}`
	req, _ := http.NewRequest(http.MethodPut, "http://"+mem.Host+"/v2/huge/manifests/v1", strings.NewReader(huge))
	req.Header.Set("Content-Type", "application/vnd.oci.image.index.v1+json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("pushing the huge index: %v %v", resp, err)
	}
	closed := closedPort(t)

	var b strings.Builder
	for _, s := range imgs {
		fmt.Fprintf(&b, "%s/%s:%s\n", reg.Host, s.repo, s.tag)
	}
	bad := map[string]string{
		closed + "/app:v1":           "connect",
		reg.Host + "/bad/r00:nosuch": "MANIFEST_UNKNOWN",
		reg.Host + "/bad/chart:1.0":  "not a container image",
		mem.Host + "/huge:v1":        "4194304",
	}
	for ref := range bad {
		b.WriteString(ref + "\n")
	}
	cat := writeFile(t, "catalog.txt", b.String())
	report := filepath.Join(t.TempDir(), "r.json")
	out, errOut, code := signet(t, "batch", "--catalog", cat, "--key", tok.URI("release"), "--report", report, "--retries", "0")
	if code != 2 {
		t.Errorf("exit %d; want 2 (some failed)\n%s\n%s", code, out, tail(errOut, 20))
	}
	r := readReport(t, report)
	if r.Counts.Signatures != manifestsOf(imgs) || len(r.Failures) != len(bad) {
		t.Errorf("counts %+v, %d failures; want %d signed and %d failures", r.Counts, len(r.Failures), manifestsOf(imgs), len(bad))
	}
	for _, f := range r.Failures {
		want, ok := bad[f.Ref]
		if !ok {
			t.Errorf("unexpected failure %+v", f)
			continue
		}
		if !strings.Contains(f.Error, want) || !strings.Contains(f.Source, "catalog.txt:") {
			t.Errorf("failure for %s = %q (source %q); want it to mention %q and name catalog.txt:line", f.Ref, f.Error, f.Source, want)
		}
	}
	exactlyOnce(t, reg.Host, imgs)
}

// closedPort returns a loopback host:port nobody listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestBatchMalformedCatalog: every bad line is named file:line, exit 1,
// and nothing is signed.
func TestBatchMalformedCatalog(t *testing.T) {
	reg := testenv.DockerRegistry(t)
	testenv.SeedSingle(t, reg.Host, "ok", "v1")
	cat := writeFile(t, "catalog.yaml", "images:\n  - "+reg.Host+"/ok:v1\n  - \"UPPER/Case:!!\"\n  - repository: "+reg.Host+"/ok\n    tags: [\"[\"]\n  - formts: [cosign]\n")
	out, errOut, code := signet(t, "batch", "--catalog", cat, "--key", "/nonexistent")
	if code != 1 {
		t.Errorf("exit %d; want 1", code)
	}
	for _, want := range []string{"catalog.yaml:3", "catalog.yaml:5", "catalog.yaml:6", "nothing was signed"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error output lacks %q:\n%s", want, errOut)
		}
	}
	if lines(out, "signed") > 0 {
		t.Errorf("something was signed:\n%s", out)
	}
}

// TestBatchShards signs one catalog as three shards: together they cover
// every planned manifest, with no overlap.
func TestBatchShards(t *testing.T) {
	reg := testenv.DockerRegistry(t)
	tok := testenv.SoftHSM(t)
	tok.GenerateKey(t, "release", "EC:prime256v1", "01")
	imgs := seedMany(t, reg.Host, "shard", 3, 30)
	cat := textCatalog(t, reg.Host, imgs)
	dir := t.TempDir()
	seen := map[string]string{}
	for i := range 3 {
		shard := fmt.Sprintf("%d/3", i)
		report := filepath.Join(dir, fmt.Sprintf("r%d.json", i))
		mustSignet(t, "batch", "--catalog", cat, "--key", tok.URI("release"), "--shard", shard, "--report", report)
		r := readReport(t, report)
		if r.Counts.Signatures == 0 {
			t.Errorf("shard %s signed nothing: %+v", shard, r.Counts)
		}
		for _, m := range r.Manifests {
			k := m.Repository + "@" + m.Digest
			if prev, dup := seen[k]; dup {
				t.Errorf("%s is in shard %s and in shard %s", k, prev, shard)
			}
			seen[k] = shard
		}
	}
	if len(seen) != manifestsOf(imgs) {
		t.Errorf("shards covered %d manifests; want %d", len(seen), manifestsOf(imgs))
	}
	exactlyOnce(t, reg.Host, imgs)
}

// attLayers counts, per manifest of imgs, the layers of its .att tag.
func attLayers(t *testing.T, host string, imgs []seeded) map[string]int {
	t.Helper()
	reg, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, s := range imgs {
		repo, _ := name.NewRepository(host + "/" + s.repo)
		for _, d := range append([]v1.Hash{s.index}, childDigests(s)...) {
			m, err := reg.Manifest(context.Background(), repo.Tag(cosign.Tag(d, "att")))
			if err != nil {
				out[repo.String()+"@"+d.String()] = 0
				continue
			}
			a, err := cosign.ParseAttachment(m.Body)
			if err != nil {
				t.Fatal(err)
			}
			out[repo.String()+"@"+d.String()] = len(a.Layers)
		}
	}
	return out
}

// TestBatchAttest signs and attests 100 multi-arch images in one run, with
// a GitHub Actions environment providing the provenance facts; the real
// cosign verifies a sample, and a rerun adds nothing.
func TestBatchAttest(t *testing.T) {
	if testing.Short() {
		t.Skip("100-image catalog")
	}
	reg := testenv.DockerRegistry(t)
	tok := testenv.SoftHSM(t)
	tok.GenerateKey(t, "release", "EC:prime256v1", "01")
	for k, v := range map[string]string{
		"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "example/app",
		"GITHUB_WORKFLOW_REF": "example/app/.github/workflows/release.yml@refs/tags/v1",
		"GITHUB_SHA":          "0123456789abcdef0123456789abcdef01234567", "GITHUB_REF": "refs/tags/v1",
		"GITHUB_RUN_ID": "777", "GITHUB_RUN_ATTEMPT": "2", "RUNNER_ENVIRONMENT": "github-hosted",
	} {
		t.Setenv(k, v)
	}
	imgs := seedMany(t, reg.Host, "att", 5, 100)
	cat := textCatalog(t, reg.Host, imgs)
	report := filepath.Join(t.TempDir(), "r.json")
	want := manifestsOf(imgs)

	out, errOut, code := signet(t, "batch", "--catalog", cat, "--key", tok.URI("release"), "--attest", "provenance", "--workers", "16", "--report", report)
	if code != 0 {
		t.Fatalf("batch --attest: exit %d\n%s\n%s", code, out, tail(errOut, 20))
	}
	if r := readReport(t, report); r.Counts.Signatures != 2*want || r.Counts.Failed != 0 {
		t.Errorf("counts %+v; want %d new (a signature and an attestation per manifest)", r.Counts, 2*want)
	}
	check := func() {
		exactlyOnce(t, reg.Host, imgs)
		for m, n := range attLayers(t, reg.Host, imgs) {
			if n != 1 {
				t.Errorf("%s has %d attestation layers; want 1", m, n)
			}
		}
	}
	check()

	pub := writeFile(t, "k.pub", mustSignet(t, "keys", "public", "--key", tok.URI("release")))
	for _, bin := range []string{testenv.Tool(t, "cosign-v2"), testenv.Tool(t, "cosign-v3")} {
		s := imgs[42]
		for _, d := range append([]v1.Hash{s.index}, childDigests(s)...) {
			args := []string{"verify-attestation", "--key", pub, "--insecure-ignore-tlog=true", "--type", "slsaprovenance1",
				"--allow-http-registry", "--allow-insecure-registry"}
			if strings.HasSuffix(bin, "v3") {
				args = append(args, "--new-bundle-format=false")
			}
			cmd := exec.Command(bin, append(args, reg.Host+"/"+s.repo+"@"+d.String())...)
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
			b, err := cmd.Output()
			if err != nil {
				t.Errorf("%s verify-attestation %s: %v\n%s", filepath.Base(bin), d, err, b)
				continue
			}
			var env struct{ Payload []byte }
			if err := json.Unmarshal([]byte(strings.SplitN(string(b), "\n", 2)[0]), &env); err != nil {
				t.Fatalf("decoding cosign's output: %v\n%s", err, b)
			}
			st := string(env.Payload)
			for _, want := range []string{`"sha256":"` + d.Hex + `"`, "https://slsa.dev/provenance/v1", "example/app", "0123456789abcdef0123456789abcdef01234567", "777"} {
				if !strings.Contains(st, want) {
					t.Errorf("statement for %s lacks %q:\n%s", d, want, st)
				}
			}
		}
	}

	_, errOut, code = signet(t, "batch", "--catalog", cat, "--key", tok.URI("release"), "--attest", "provenance", "--report", report)
	if r := readReport(t, report); code != 0 || r.Counts.Signatures != 0 || r.Counts.Present != 2*want {
		t.Errorf("rerun: exit %d, counts %+v; want nothing new, %d present\n%s", code, r.Counts, 2*want, tail(errOut, 10))
	}
	check()
}

// TestBatchDryRunAndOverrides: --dry-run plans without signing; catalog
// entries override the key, the formats and recursion.
func TestBatchDryRunAndOverrides(t *testing.T) {
	reg := testenv.DockerRegistry(t)
	tok := testenv.SoftHSM(t)
	tok.GenerateKey(t, "release", "EC:prime256v1", "01")
	tok.GenerateKey(t, "team", "EC:prime256v1", "02")
	imgs := seedMany(t, reg.Host, "ovr", 3, 3)
	cat := writeFile(t, "catalog.yaml", fmt.Sprintf(`defaults:
  formats: [cosign]
images:
  - %s/%s:%s
  - ref: %s/%s:%s
    key: "%s"
    formats: [cosign, sigstore-bundle]
    attest: []
  - ref: %s/%s:%s
    recursive: false
`, reg.Host, imgs[0].repo, imgs[0].tag,
		reg.Host, imgs[1].repo, imgs[1].tag, tok.URI("team"),
		reg.Host, imgs[2].repo, imgs[2].tag))

	out := mustSignet(t, "batch", "--catalog", cat, "--key", tok.URI("release"), "--dry-run")
	want := 1 + len(imgs[0].children) + 1 + len(imgs[1].children) + 1
	if n := lines(out, "plan "); n != want || !strings.Contains(out, fmt.Sprintf("%d manifests", want)) {
		t.Errorf("dry run planned %d lines; want %d:\n%s", n, want, out)
	}
	if !strings.Contains(out, "[cosign,sigstore-bundle]") {
		t.Errorf("dry run does not show the entry's formats:\n%s", out)
	}
	// --attest applies to every entry but the one with "attest: []".
	out = mustSignet(t, "batch", "--catalog", cat, "--key", tok.URI("release"), "--attest", "provenance", "--dry-run")
	if n, m := strings.Count(out, "[cosign,provenance]"), strings.Count(out, "[cosign,sigstore-bundle]"); n != want-1-len(imgs[1].children) || m != 1+len(imgs[1].children) {
		t.Errorf("dry run with --attest: %d manifests attested, %d not; want all but the opted-out entry's %d:\n%s", n, m, 1+len(imgs[1].children), out)
	}
	for m, n := range sigLayers(t, reg.Host, imgs) {
		if n != 0 {
			t.Errorf("dry run signed %s", m)
		}
	}

	mustSignet(t, "batch", "--catalog", cat, "--key", tok.URI("release"))
	mustSignet(t, "verify", "--key", tok.URI("release"), reg.Host+"/"+imgs[0].repo+":"+imgs[0].tag)
	mustSignet(t, "verify", "--key", tok.URI("team"), "--format", "cosign,sigstore-bundle", reg.Host+"/"+imgs[1].repo+":"+imgs[1].tag)
	if _, _, code := signet(t, "verify", "--key", tok.URI("release"), reg.Host+"/"+imgs[1].repo+":"+imgs[1].tag); code != 2 {
		t.Errorf("entry with its own key verified with the default key (exit %d)", code)
	}
	out, _, code := signet(t, "verify", "--key", tok.URI("release"), reg.Host+"/"+imgs[2].repo+":"+imgs[2].tag)
	if code != 2 || lines(out, "verified") != 1 {
		t.Errorf("recursive: false entry: exit %d; want only the index signed:\n%s", code, out)
	}
}

// TestBatchSameImageTwoEntries: catalog entries that reach one manifest
// with different keys sign it with each key; entries with the same key
// (named or the run's) add their formats to one signing; a plain repeat is
// a duplicate. Nothing an entry asks for is dropped.
func TestBatchSameImageTwoEntries(t *testing.T) {
	reg := testenv.DockerRegistry(t)
	tok := testenv.SoftHSM(t)
	tok.GenerateKey(t, "release", "EC:prime256v1", "01")
	tok.GenerateKey(t, "team", "EC:prime256v1", "02")
	ctx := context.Background()
	app := demo.Image{Repo: "twice/app", Tag: "v1", Platforms: []string{"linux/amd64", "linux/arm64"}}
	v1Index, v1Children, err := demo.Push(ctx, reg.Host, app)
	if err != nil {
		t.Fatal(err)
	}
	app.Tag, app.Platforms = "v2", []string{"linux/amd64", "linux/riscv64"}
	if _, _, err := demo.Push(ctx, reg.Host, app); err != nil {
		t.Fatal(err)
	}
	repo := reg.Host + "/twice/app"
	cat := writeFile(t, "catalog.yaml", fmt.Sprintf(`defaults:
  formats: [cosign]
images:
  - repository: %[1]s      # v1 and v2, the run's key
  - ref: %[1]s:v1          # v1 with the release key as well
    key: "%[2]s"
  - ref: %[1]s:v2          # the run's key named: one signing, one more format
    key: "%[3]s"
    formats: [sigstore-bundle]
  - %[1]s:v1               # a plain repeat
`, repo, tok.URI("release"), tok.URI("team")))
	dir := t.TempDir()
	report := filepath.Join(dir, "r.json")

	out := mustSignet(t, "batch", "--catalog", cat, "--key", tok.URI("team"), "--dry-run")
	if n := lines(out, "plan "); n != 9 || !strings.Contains(out, "6 duplicates merged") {
		t.Errorf("dry run: %d plan lines; want 9 (v1 and v2 with the run's key, v1 again with the release key), 6 duplicates:\n%s", n, out)
	}
	if !strings.Contains(out, "[cosign,sigstore-bundle]") {
		t.Errorf("v2's formats were not merged into one signing:\n%s", out)
	}

	out, errOut, code := signet(t, "batch", "--catalog", cat, "--key", tok.URI("team"), "--report", report)
	if code != 0 {
		t.Fatalf("batch: exit %d\n%s\n%s", code, out, tail(errOut, 20))
	}
	r := readReport(t, report)
	if c := r.Counts; c.Manifests != 9 || c.Signatures != 12 || c.Duplicates != 6 || c.Failed != 0 {
		t.Errorf("counts = %+v; want 9 signings (12 signatures: 6 by team in cosign, 3 by team in sigstore-bundle, 3 by release), 6 duplicates", c)
	}
	var keyed int
	for _, m := range r.Manifests {
		if strings.Contains(m.Key, "object=release") {
			keyed++
			if !strings.HasPrefix(m.Reference, repo+":v1") {
				t.Errorf("%s (%s) is reported under the release key; only v1 asked for it", m.Name(), m.Reference)
			}
		}
	}
	if keyed != 3 {
		t.Errorf("%d report entries name the release key; want v1's 3 manifests", keyed)
	}

	// v1 verifies with both keys (its .sig holds both signatures), v2
	// with the run's key in both formats and not with the release key.
	mustSignet(t, "verify", "--key", tok.URI("release"), repo+":v1")
	mustSignet(t, "verify", "--key", tok.URI("team"), repo+":v1")
	mustSignet(t, "verify", "--key", tok.URI("team"), "--format", "cosign,sigstore-bundle", repo+":v2")
	if _, _, code := signet(t, "verify", "--key", tok.URI("release"), repo+":v2"); code != 2 {
		t.Errorf("v2 verified with the release key (exit %d); no entry asked for it", code)
	}
	for d, n := range sigLayers(t, reg.Host, []seeded{{repo: "twice/app", index: v1Index, children: v1Children}}) {
		if n != 2 {
			t.Errorf("%s has %d signature layers; want 2, one per key", d, n)
		}
	}
	pub := writeFile(t, "release.pub", mustSignet(t, "keys", "public", "--key", tok.URI("release")))
	cmd := exec.Command(testenv.Tool(t, "cosign-v2"), "verify", "--key", pub, "--insecure-ignore-tlog=true",
		"--allow-http-registry", "--allow-insecure-registry", repo+"@"+v1Index.String())
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("cosign verify of v1 with the release key: %v\n%s", err, b)
	}
}

// sessionPoolLog finds the "HSM session pool" line among JSON log lines.
func sessionPoolLog(stderr string) (pool struct {
	Key                  string
	Sessions, Signatures int
	Waited               int64
	Held                 time.Duration `json:"held_per_signature"`
}) {
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, `"msg":"HSM session pool"`) {
			_ = json.Unmarshal([]byte(line), &pool)
		}
	}
	return pool
}
