package cli_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/signet-project/signet/internal/testenv"
)

// TestVerifyCatalogRecursive: --recursive=false reaches the images of a
// catalog as it reaches those on the command line (and in batch), so an
// index signed without its children verifies either way.
func TestVerifyCatalogRecursive(t *testing.T) {
	reg := testenv.MemRegistry(t, false)
	testenv.SeedImage(t, reg.Host, "app", "v1", nil)
	ref := reg.Host + "/app:v1"
	dir := t.TempDir()
	key := newKey(t, dir, "k.pem")
	pub := key + ".pub"
	mustSignet(t, "sign", "--key", key, "--recursive=false", ref)

	out := mustSignet(t, "verify", "--key", pub, "--recursive=false", ref)
	if n := lines(out, "verified"); n != 1 {
		t.Errorf("verify --recursive=false IMG: %d verdicts; want 1 (the index):\n%s", n, out)
	}
	cat := writeFile(t, "cat.txt", ref+"\n")
	out, errOut, code := signet(t, "verify", "--key", pub, "--recursive=false", "--catalog", cat)
	if code != 0 {
		t.Errorf("verify --recursive=false --catalog: exit %d; want 0, as with the image as an argument\n%s\n%s", code, out, errOut)
	}
	// Without the flag the catalog's own default (recursive) still holds.
	if out, _, code := signet(t, "verify", "--key", pub, "--catalog", cat); code != 2 {
		t.Errorf("verify --catalog (recursive by default): exit %d; want 2, the children are unsigned\n%s", code, out)
	}
	// And an entry's own setting wins over the flag, as in batch.
	yamlCat := writeFile(t, "cat.yaml", "images:\n  - ref: "+ref+"\n    recursive: true\n")
	if out, _, code := signet(t, "verify", "--key", pub, "--recursive=false", "--catalog", yamlCat); code != 2 {
		t.Errorf("entry with recursive: true under --recursive=false: exit %d; want 2\n%s", code, out)
	}
}

// TestVerifyPolicyRefusesKeyFlags: --format and --attestation, which only
// the --key path reads, are a usage error with --policy instead of being
// ignored while every manifest prints "verified".
func TestVerifyPolicyRefusesKeyFlags(t *testing.T) {
	reg := testenv.MemRegistry(t, false)
	testenv.SeedSingle(t, reg.Host, "app", "v1")
	ref := reg.Host + "/app:v1"
	key := newKey(t, t.TempDir(), "k.pem")
	mustSignet(t, "sign", "--key", key, ref) // cosign only
	pol := writeFile(t, "policy.yaml", `apiVersion: signet.dev/v1
kind: TrustPolicy
trust:
  - name: all
    scopes: ["*"]
    level: enforce
    keys: ["`+key+`.pub"]
`)
	mustSignet(t, "verify", "--policy", pol, ref)
	for _, extra := range [][]string{
		{"--format", "notation"},
		{"--format", "cosign"}, // even the default, once given
		{"--attestation", "provenance"},
	} {
		args := append([]string{"verify", "--policy", pol}, append(extra, ref)...)
		out, errOut, code := signet(t, args...)
		if code != 1 || strings.Contains(out, "verified") || !strings.Contains(errOut, "require.formats") {
			t.Errorf("verify --policy %s: exit %d; want 1, no verdicts and a pointer to the rule's require.*\nstdout:\n%s\nstderr:\n%s",
				strings.Join(extra, " "), code, out, errOut)
		}
	}
}

// TestDryRunPlanFailure: a dry run exits 2 when a target cannot be
// resolved, as the real run does, and gives GitHub Actions the same
// annotation and outputs.
func TestDryRunPlanFailure(t *testing.T) {
	reg := testenv.MemRegistry(t, false)
	testenv.SeedImage(t, reg.Host, "app", "v1", nil)
	key := newKey(t, t.TempDir(), "k.pem")
	good, missing := reg.Host+"/app:v1", reg.Host+"/app:nope"

	if out := mustSignet(t, "sign", "--key", key, "--dry-run", good); lines(out, "plan ") != 3 {
		t.Errorf("clean dry run: want 3 plan lines:\n%s", out)
	}

	dir := t.TempDir()
	outputs := filepath.Join(dir, "output")
	t.Setenv("GITHUB_ACTIONS", "true")
	t.Setenv("GITHUB_OUTPUT", outputs)
	t.Setenv("GITHUB_STEP_SUMMARY", filepath.Join(dir, "summary.md"))
	t.Setenv("SIGNET_GITHUB", "1")
	report := filepath.Join(dir, "r.json")
	out, errOut, code := signet(t, "sign", "--key", key, "--dry-run", "--report", report, good, missing)
	if code != 2 {
		t.Errorf("dry run with an unresolvable target: exit %d; want 2\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "::error title=signet%3A cannot sign "+strings.ReplaceAll(missing, ":", "%3A")+"::") {
		t.Errorf("dry run wrote no annotation for the unresolvable target:\n%s", out)
	}
	b, _ := os.ReadFile(outputs)
	if s := string(b); !strings.Contains(s, "failed=1\n") || !strings.Contains(s, "signed=0\n") || !strings.Contains(s, "report="+report+"\n") {
		t.Errorf("dry run step outputs = %q; want signed=0, failed=1 and the report", s)
	}
	if r := readReport(t, report); !r.DryRun || r.Counts.PlanFailures != 1 {
		t.Errorf("dry run report: dryRun %v, %d plan failures; want true, 1", r.DryRun, r.Counts.PlanFailures)
	}
	if verifies(t, key+".pub", good) {
		t.Error("the dry run signed")
	}

	os.Remove(outputs)
	_, _, realCode := signet(t, "sign", "--key", key, good, missing)
	if realCode != code {
		t.Errorf("unresolvable target: the dry run exits %d, the real run %d", code, realCode)
	}
}

// TestEmptyFormat: --format "" without --attest would sign nothing; it is
// a usage error, while with --attest it asks for attestations alone.
func TestEmptyFormat(t *testing.T) {
	reg := testenv.MemRegistry(t, false)
	testenv.SeedSingle(t, reg.Host, "app", "v1")
	key := newKey(t, t.TempDir(), "k.pem")
	ref := reg.Host + "/app:v1"
	out, errOut, code := signet(t, "sign", "--key", key, "--format", "", ref)
	if code != 1 || lines(out, "signed ") > 0 || !strings.Contains(errOut, "nothing would be signed") {
		t.Errorf("--format '' without --attest: exit %d; want 1 (usage)\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if out := mustSignet(t, "sign", "--key", key, "--format", "", "--attest", "provenance", "--dry-run", ref); !strings.Contains(out, "[provenance]") {
		t.Errorf("--format '' --attest provenance does not plan the attestation alone:\n%s", out)
	}
}

// TestAttestRefusesSigningFlags: attest's hidden --attest, --format and
// --cert-chain are refused, not ignored while provenance is signed.
func TestAttestRefusesSigningFlags(t *testing.T) {
	reg := testenv.MemRegistry(t, false)
	testenv.SeedSingle(t, reg.Host, "app", "v1")
	key := newKey(t, t.TempDir(), "k.pem")
	ref := reg.Host + "/app:v1"
	pred := writeFile(t, "sbom.json", `{"spdxVersion":"SPDX-2.3"}`)
	for _, extra := range [][]string{
		{"--attest", pred + "=spdxjson"},
		{"--format", "notation"},
		{"--cert-chain", pred},
	} {
		args := append([]string{"attest", "--key", key, "--dry-run"}, append(extra, ref)...)
		out, errOut, code := signet(t, args...)
		if code != 1 || strings.Contains(out, "plan ") || !strings.Contains(errOut, extra[0]) {
			t.Errorf("attest %s: exit %d; want 1, no plan, an error naming the flag\nstdout:\n%s\nstderr:\n%s",
				strings.Join(extra, " "), code, out, errOut)
		}
	}
	if out := mustSignet(t, "attest", "--key", key, "--type", "spdxjson", "--predicate", pred, "--dry-run", ref); !strings.Contains(out, "=spdxjson]") {
		t.Errorf("attest --type spdxjson --predicate: plan does not show the SBOM:\n%s", out)
	}
}

// TestReportPathChecked: an unwritable --report or --summary-md is a usage
// error before anything is signed or checked.
func TestReportPathChecked(t *testing.T) {
	reg := testenv.MemRegistry(t, false)
	testenv.SeedImage(t, reg.Host, "app", "v1", nil)
	ref := reg.Host + "/app:v1"
	key := newKey(t, t.TempDir(), "k.pem")
	dir := t.TempDir()
	missingDir := filepath.Join(dir, "no", "such", "dir", "r.json")
	for _, tc := range []struct{ name, flag, path string }{
		{"report in a missing directory", "--report", missingDir},
		{"summary in a missing directory", "--summary-md", missingDir},
		{"report is a directory", "--report", dir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range [][]string{
				{"sign", "--key", key},
				{"sign", "--key", key, "--dry-run"},
				{"attest", "--key", key},
				{"verify", "--key", key + ".pub"},
			} {
				args := append(cmd, tc.flag, tc.path, ref)
				out, errOut, code := signet(t, args...)
				if code != 1 || !strings.Contains(errOut, tc.flag) || lines(out, "signed ")+lines(out, "plan ")+lines(out, "BLOCKED") > 0 {
					t.Errorf("%s: exit %d; want 1 before any work, naming %s\nstdout:\n%s\nstderr:\n%s",
						strings.Join(args, " "), code, tc.flag, out, errOut)
				}
			}
		})
	}
	if verifies(t, key+".pub", ref) {
		t.Error("signed although the report could not be written")
	}
}

// TestReportWriteFailsAfterSigning: when the report directory disappears
// while signing, the run still prints its counts and the failed targets,
// writes GitHub's outputs (without a report that does not exist), reports
// the write error and exits 2, not 1 (nothing attempted).
func TestReportWriteFailsAfterSigning(t *testing.T) {
	reg := testenv.MemRegistry(t, false)
	testenv.SeedImage(t, reg.Host, "app", "v1", nil)
	key := newKey(t, t.TempDir(), "k.pem")
	reportDir := filepath.Join(t.TempDir(), "reports")
	var once sync.Once
	// The path checks run before the first request; removing the
	// directory at that request makes only the final write fail.
	proxy := testenv.NewFaultProxy(t, reg.Host, func(*http.Request, int) testenv.Fault {
		once.Do(func() { os.RemoveAll(reportDir) })
		return testenv.Pass
	})
	prep := func() {
		once = sync.Once{}
		if err := os.MkdirAll(reportDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	outputs := filepath.Join(dir, "output")
	t.Setenv("GITHUB_ACTIONS", "true")
	t.Setenv("GITHUB_OUTPUT", outputs)
	t.Setenv("GITHUB_STEP_SUMMARY", filepath.Join(dir, "summary.md"))
	t.Setenv("SIGNET_GITHUB", "1")
	report := filepath.Join(reportDir, "r.json")

	prep()
	out, errOut, code := signet(t, "sign", "--key", key, "--report", report, "--summary-md", filepath.Join(reportDir, "s.md"),
		proxy.Host+"/app:v1", proxy.Host+"/app:nope")
	if code != 2 {
		t.Errorf("signed 3, 1 target failed, report unwritable: exit %d; want 2", code)
	}
	if !strings.Contains(out, "3 manifests (1 indexes): 3 signatures written") {
		t.Errorf("the counts line is missing:\n%s", out)
	}
	if !strings.Contains(errOut, "1 targets could not be planned") || !strings.Contains(errOut, "writing report "+report) || !strings.Contains(errOut, "writing summary") {
		t.Errorf("stderr does not tell both the failure and the write errors:\n%s", errOut)
	}
	b, _ := os.ReadFile(outputs)
	if s := string(b); !strings.Contains(s, "signed=3\n") || !strings.Contains(s, "failed=1\n") || strings.Contains(s, "report=") {
		t.Errorf("step outputs = %q; want signed=3, failed=1 and no report output", s)
	}

	// Nothing failed but the report: still 2, since the pipeline's next
	// step finds no report.
	os.Remove(outputs)
	prep()
	out, errOut, code = signet(t, "sign", "--key", key, "--report", report, proxy.Host+"/app:v1")
	if code != 2 || !strings.Contains(out, "3 already present") || !strings.Contains(errOut, "writing report") {
		t.Errorf("clean run, report unwritable: exit %d; want 2 with the counts and the error\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	// Verify prints its verdicts whatever happens to the report.
	prep()
	out, errOut, code = signet(t, "verify", "--key", key+".pub", "--report", report, proxy.Host+"/app:v1")
	if code != 2 || lines(out, "verified") != 3 || !strings.Contains(errOut, "writing report") {
		t.Errorf("verify, report unwritable: exit %d; want 2 with 3 verdicts and the error\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// TestReportOnMountPoint: a report path that is a file bind-mounted on its
// own (docker run -v ./r.json:/out/r.json, a Kubernetes subPath) cannot be
// renamed over; the report is written into it instead of failing the run
// after everything was signed.
func TestReportOnMountPoint(t *testing.T) {
	mount := testenv.LookPath(t, "mount", "apt-get install mount")
	reg := testenv.MemRegistry(t, false)
	testenv.SeedImage(t, reg.Host, "app", "v1", nil)
	key := newKey(t, t.TempDir(), "k.pem")
	dir := t.TempDir()
	src, target := filepath.Join(dir, "host.json"), filepath.Join(dir, "report.json")
	for _, p := range []string{src, target} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(mount, "--bind", src, target).CombinedOutput(); err != nil {
		testenv.Missing(t, "bind mounts ("+strings.TrimSpace(string(out))+")", "run the tests as root where mount --bind is allowed")
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", target).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", target, err, out)
		}
	})

	for _, args := range [][]string{
		{"sign", "--key", key, "--report", target},
		{"sign", "--key", key, "--summary-md", target},
		{"verify", "--key", key + ".pub", "--report", target},
	} {
		if err := os.Truncate(src, 0); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := signet(t, append(args, reg.Host+"/app:v1")...)
		if code != 0 {
			t.Errorf("%s: exit %d; want 0\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
		}
		if b, _ := os.ReadFile(src); len(b) == 0 {
			t.Errorf("%s: the mounted file is empty", strings.Join(args, " "))
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files left beside the report: %v", names)
	}
}

// TestPartialReportKeepsPrevious: a report write cut short by a file-size
// limit leaves the previous report as it was, for sign and verify, and no
// temporary file behind.
func TestPartialReportKeepsPrevious(t *testing.T) {
	prlimit := testenv.LookPath(t, "prlimit", "apt-get install util-linux")
	bin := buildSignet(t)
	reg := testenv.MemRegistry(t, false)
	testenv.SeedImage(t, reg.Host, "app", "v1", []string{"linux/amd64", "linux/arm64", "linux/s390x", "linux/ppc64le"})
	ref := reg.Host + "/app:v1"
	key := newKey(t, t.TempDir(), "k.pem")
	const limit = 1000

	for _, args := range [][]string{
		{"sign", "--key", key},
		{"verify", "--key", key + ".pub"},
	} {
		t.Run(args[0], func(t *testing.T) {
			dir := t.TempDir()
			report := filepath.Join(dir, "r.json")
			mustSignet(t, append(args, "--report", report, ref)...)
			before, err := os.ReadFile(report)
			if err != nil {
				t.Fatal(err)
			}
			if len(before) <= limit {
				t.Fatalf("the report is %d bytes, within the %d-byte limit: the test proves nothing", len(before), limit)
			}
			cmd := exec.Command(prlimit, "--fsize="+strconv.Itoa(limit), bin)
			cmd.Args = append(cmd.Args, append(args, "--report", report, ref)...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "writing report") {
				t.Errorf("report write over the size limit: %v; want exit 2 and the write error\n%s", err, out)
			}
			after, _ := os.ReadFile(report)
			if string(after) != string(before) || !json.Valid(after) {
				t.Errorf("the previous report was not kept: %d bytes before, %d after", len(before), len(after))
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Errorf("files left beside the report: %v", names)
			}
		})
	}
}
