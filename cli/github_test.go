package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-project/signet/batch"
	"github.com/signet-project/signet/internal/testenv"
)

// unsetGitHub clears the runner's variables for the test, so that a test
// run inside GitHub Actions starts from the same place as one outside.
func unsetGitHub(t *testing.T) {
	t.Helper()
	for _, v := range []string{"GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "SIGNET_GITHUB",
		"SIGNET_KEY", "SIGNET_PKCS11_PIN", "SIGNET_KEY_PASSWORD", "COSIGN_PASSWORD"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, data, prop string }{
		{"plain", "plain", "plain"},
		{"100%", "100%25", "100%25"},
		{"%0A literal", "%250A literal", "%250A literal"},
		{"a\nb\r\nc", "a%0Ab%0D%0Ac", "a%0Ab%0D%0Ac"},
		{"host:5000/app,v1", "host:5000/app,v1", "host%3A5000/app%2Cv1"},
		{"::error::x", "::error::x", "%3A%3Aerror%3A%3Ax"},
	}
	for _, tt := range tests {
		if got := escapeData(tt.in); got != tt.data {
			t.Errorf("escapeData(%q) = %q; want %q", tt.in, got, tt.data)
		}
		if got := escapeProperty(tt.in); got != tt.prop {
			t.Errorf("escapeProperty(%q) = %q; want %q", tt.in, got, tt.prop)
		}
	}
}

func TestAnnotationString(t *testing.T) {
	tests := []struct {
		a    annotation
		want string
	}{
		{annotation{level: "error", msg: "boom"}, "::error::boom\n"},
		{annotation{level: "error", title: "signet: cannot sign r:1", msg: "a\nb"}, "::error title=signet%3A cannot sign r%3A1::a%0Ab\n"},
		{annotation{level: "error", file: "ci/images.yaml", line: 7, title: "t", msg: "m"}, "::error file=ci/images.yaml,line=7,title=t::m\n"},
		{annotation{level: "warning", file: "a,b.txt", msg: "m"}, "::warning file=a%2Cb.txt::m\n"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("%+v.String() = %q; want %q", tt.a, got, tt.want)
		}
	}
	long := annotation{level: "error", msg: strings.Repeat("é", maxAnnotationMessage)}.String()
	if len(long) > maxAnnotationMessage+len("::error::\n") || !strings.HasSuffix(long, "…\n") {
		t.Errorf("a long message is not cut to %d bytes: %d bytes, ends %q", maxAnnotationMessage, len(long), long[len(long)-8:])
	}
}

func TestSourceLocation(t *testing.T) {
	tests := []struct {
		src  string
		file string
		line int
	}{
		{"ci/catalog.yaml:12", "ci/catalog.yaml", 12},
		{"./images.txt:3", "images.txt", 3},
		{"/tmp/signet.x/images.txt:3", "", 0}, // the action's temporary list
		{"argument 2", "", 0},
		{"-:4", "", 0},
		{"catalog.yaml", "", 0},
		{"catalog.yaml:x", "", 0},
		{"", "", 0},
	}
	for _, tt := range tests {
		if f, l := sourceLocation(tt.src); f != tt.file || l != tt.line {
			t.Errorf("sourceLocation(%q) = %q, %d; want %q, %d", tt.src, f, l, tt.file, tt.line)
		}
	}
}

// failingReport has plans plan failures and manifests manifests, each with
// a failed cosign format, plus one signed manifest.
func failingReport(plans, manifests int) *batch.Report {
	r := batch.NewReport("signet test", nil)
	for i := range plans {
		r.Failures = append(r.Failures, batch.Failure{Ref: fmt.Sprintf("reg.example/app:t%d", i),
			Source: fmt.Sprintf("catalog.yaml:%d", i+1), Error: "MANIFEST_UNKNOWN"})
	}
	for i := range manifests {
		r.Manifests = append(r.Manifests, batch.ManifestReport{
			Reference: "reg.example/app:v1", Repository: "reg.example/app", Digest: fmt.Sprintf("sha256:%064x", i),
			Platform: "linux/arm64", Formats: []batch.FormatReport{{Format: "cosign", Status: batch.StatusFailed, Error: "pushing: 500"}},
		})
	}
	r.Manifests = append(r.Manifests, batch.ManifestReport{Repository: "reg.example/ok", Digest: "sha256:" + strings.Repeat("a", 64),
		Formats: []batch.FormatReport{{Format: "cosign", Status: batch.StatusSigned}}})
	return r
}

func countPrefix(out, prefix string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func TestWriteAnnotationsLimit(t *testing.T) {
	tests := []struct {
		plans, manifests  int
		errors, warnMore  int
		firstErrorContain string
	}{
		{0, 0, 0, 0, ""},
		{1, 2, 3, 0, "file=catalog.yaml,line=1,title=signet%3A cannot sign reg.example/app%3At0::MANIFEST_UNKNOWN"},
		{0, 10, 10, 0, "title=signet%3A cosign signing failed::reg.example/app@sha256:"},
		{3, 12, 10, 5, "file=catalog.yaml,line=1"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d+%d", tt.plans, tt.manifests), func(t *testing.T) {
			var b bytes.Buffer
			writeAnnotations(&b, failingReport(tt.plans, tt.manifests))
			out := b.String()
			if n := countPrefix(out, "::error "); n != tt.errors {
				t.Errorf("%d ::error annotations; want %d:\n%s", n, tt.errors, out)
			}
			warn := countPrefix(out, "::warning ")
			if tt.warnMore == 0 && warn != 0 {
				t.Errorf("a ::warning with only %d failures:\n%s", tt.errors, out)
			}
			if tt.warnMore > 0 && (warn != 1 || !strings.Contains(out, fmt.Sprintf("::%d more failures are not annotated", tt.warnMore))) {
				t.Errorf("want one ::warning about %d more failures:\n%s", tt.warnMore, out)
			}
			if tt.firstErrorContain != "" && !strings.Contains(strings.SplitN(out, "\n", 2)[0], tt.firstErrorContain) {
				t.Errorf("first annotation lacks %q:\n%s", tt.firstErrorContain, out)
			}
		})
	}
}

// parseCommandFile reads $GITHUB_OUTPUT or $GITHUB_ENV as the runner does:
// "name=value" lines and "name<<DELIM" … "DELIM" blocks.
func parseCommandFile(t *testing.T, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var vals []string
			closed := false
			for sc.Scan() {
				if sc.Text() == delim {
					closed = true
					break
				}
				vals = append(vals, sc.Text())
			}
			if !closed {
				t.Fatalf("delimiter %q of %s is never closed", delim, name)
			}
			out[name] = strings.Join(vals, "\n")
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("malformed line %q", line)
		}
		out[name] = val
	}
	return out
}

func TestWriteOutput(t *testing.T) {
	var b strings.Builder
	writeOutput(&b, "one", "a=b c")
	writeOutput(&b, "empty", "")
	if got, want := b.String(), "one=a=b c\nempty=\n"; got != want {
		t.Errorf("single-line outputs = %q; want %q", got, want)
	}

	b.Reset()
	value := "[\n  \"x\",\n  \"y\"\n]"
	writeOutput(&b, "list", value)
	lines := strings.Split(b.String(), "\n")
	name, delim, _ := strings.Cut(lines[0], "<<")
	if name != "list" || !strings.HasPrefix(delim, "ghadelimiter_") || len(delim) != len("ghadelimiter_")+32 {
		t.Fatalf("multi-line output starts %q; want list<<ghadelimiter_<32 hex digits>", lines[0])
	}
	if got := parseCommandFile(t, b.String())["list"]; got != value {
		t.Errorf("multi-line output reads back as %q; want %q", got, value)
	}
	b.Reset()
	writeOutput(&b, "list", value)
	if strings.SplitN(b.String(), "\n", 2)[0] == lines[0] {
		t.Errorf("two outputs share the delimiter %q; it must be random", lines[0])
	}

	// A value that contains the first delimiter drawn gets another one.
	orig := newDelimiter
	t.Cleanup(func() { newDelimiter = orig })
	draws := []string{"ghadelimiter_same", "ghadelimiter_same", "ghadelimiter_other"}
	newDelimiter = func() string { d := draws[0]; draws = draws[1:]; return d }
	b.Reset()
	tricky := "line\nghadelimiter_same\nmore"
	writeOutput(&b, "tricky", tricky)
	if got := parseCommandFile(t, b.String())["tricky"]; got != tricky {
		t.Errorf("value holding a delimiter reads back as %q; want %q\n%s", got, tricky, b.String())
	}
}

func TestStepOutputs(t *testing.T) {
	r := failingReport(2, 3)
	r.Manifests = append(r.Manifests,
		batch.ManifestReport{Repository: "reg.example/ok", Digest: "sha256:" + strings.Repeat("b", 64),
			Formats: []batch.FormatReport{{Format: "cosign", Status: batch.StatusPresent}, {Format: "notation", Status: batch.StatusJournal}}},
		batch.ManifestReport{Repository: "reg.example/ok", Digest: "sha256:" + strings.Repeat("c", 64)}, // never started
	)
	out := parseCommandFile(t, stepOutputs(r, "report.json"))
	if out["signed"] != "2" || out["failed"] != "6" {
		t.Errorf("signed=%s failed=%s; want 2 and 6 (2 plan failures, 3 failed manifests, 1 not started)", out["signed"], out["failed"])
	}
	if !filepath.IsAbs(out["report"]) || filepath.Base(out["report"]) != "report.json" {
		t.Errorf("report = %q; want the absolute path of report.json", out["report"])
	}
	var digests []string
	if err := json.Unmarshal([]byte(out["digests"]), &digests); err != nil {
		t.Fatalf("digests %q: %v", out["digests"], err)
	}
	want := []string{"reg.example/ok@sha256:" + strings.Repeat("a", 64), "reg.example/ok@sha256:" + strings.Repeat("b", 64)}
	if fmt.Sprint(digests) != fmt.Sprint(want) {
		t.Errorf("digests = %v; want %v", digests, want)
	}

	empty := parseCommandFile(t, stepOutputs(batch.NewReport("t", nil), ""))
	if empty["digests"] != "[]" || empty["signed"] != "0" {
		t.Errorf("outputs of an empty run = %v; want digests [] and signed 0", empty)
	}
	if _, ok := empty["report"]; ok {
		t.Errorf("a report output without --report: %v", empty)
	}
}

func TestAppendSummaryBudget(t *testing.T) {
	// Far more failures than fit in a summary: the Markdown writer cuts
	// the table at whatever limit it is given.
	big := failingReport(0, 20000)
	tests := []struct {
		name     string
		existing int
		wantAdd  bool
	}{
		{"empty", 0, true},
		{"half full", summaryLimit / 2, true},
		{"nearly full", summaryLimit - minSummary/2, false},
		{"full", summaryLimit, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "summary.md")
			prior := strings.Repeat("x", tt.existing)
			if err := os.WriteFile(path, []byte(prior), 0o644); err != nil {
				t.Fatal(err)
			}
			var w bytes.Buffer
			if err := appendSummary(&w, path, big); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(got, []byte(prior)) {
				t.Fatal("the summary's earlier content was changed")
			}
			added := string(got[len(prior):])
			switch {
			case len(got) > summaryLimit:
				t.Errorf("summary is %d bytes; GitHub accepts at most %d", len(got), summaryLimit)
			case tt.wantAdd && !strings.Contains(added, "## signet batch"):
				t.Errorf("no report appended (%d bytes added); warnings: %s", len(added), w.String())
			case tt.wantAdd && !strings.Contains(added, "more (see the JSON report)"):
				t.Errorf("a 20,000-failure table was not cut")
			case tt.wantAdd && len(added) > batch.MarkdownLimit+1:
				t.Errorf("appended %d bytes; at most %d", len(added), batch.MarkdownLimit+1)
			case tt.wantAdd && tt.existing > 0 && !strings.HasPrefix(added, "\n## signet batch"):
				t.Errorf("the report does not start on a line of its own: %q", added[:20])
			case !tt.wantAdd && (added != "" || !strings.HasPrefix(w.String(), "::warning title=signet%3A step summary full::")):
				t.Errorf("appended %d bytes to a full summary (want none and a warning); warnings: %q", len(added), w.String())
			}
		})
	}
}

func TestMask(t *testing.T) {
	unsetGitHub(t)
	dir := t.TempDir()
	pinFile := filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte("from-file-77\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	uriValue := "pkcs11:token=t;object=k?module-path=/x.so&pin-value=12%2534"
	uriSource := "pkcs11:token=t;object=k?module-path=/x.so&pin-source=file:" + pinFile
	targets := []batch.Target{
		{Ref: "r", Settings: batch.Settings{Key: uriSource}},
		{Ref: "r2", Settings: batch.Settings{Key: "pkcs11:bad;;"}},
		// Key URIs given where an image belongs (a forgotten --key).
		{Ref: "pkcs11:token=t;object=k?module-path=/x.so&pin-value=arg-pin-5", Source: "argument 1"},
		{Ref: "pkcs11:bad;;?pin-value=unparsed-6", Source: "argument 2"},
	}

	var b bytes.Buffer
	(&githubFlags{}).mask(&b, uriValue, targets)
	if b.Len() != 0 {
		t.Fatalf("outside GitHub Actions mask printed %q; it must print nothing", b.String())
	}

	t.Setenv("GITHUB_ACTIONS", "true")
	t.Setenv("SIGNET_PKCS11_PIN", "env-pin\nsecond line\n")
	t.Setenv("COSIGN_PASSWORD", "pw,with:colons")
	(&githubFlags{}).mask(&b, uriValue, targets)
	want := []string{
		"::add-mask::12%2534",   // pin-value "12%34", escaped as data
		"::add-mask::12%252534", // and as the URI spells it, "12%2534"
		"::add-mask::from-file-77",
		"::add-mask::arg-pin-5",
		"::add-mask::unparsed-6",
		"::add-mask::env-pin",
		"::add-mask::second line",
		"::add-mask::pw,with:colons",
	}
	got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("mask printed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestGitHubBatchRun runs signet batch in-process as a GitHub Actions step
// would, with a catalog of tags that do not exist: every target fails to
// plan, so no key is needed.
func TestGitHubBatchRun(t *testing.T) {
	unsetGitHub(t)
	reg := testenv.MemRegistry(t, false)
	dir := t.TempDir()
	t.Chdir(dir)
	var cat strings.Builder
	for i := range 12 {
		fmt.Fprintf(&cat, "%s/missing/app:v%d\n", reg.Host, i)
	}
	if err := os.WriteFile("images.txt", []byte(cat.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	outFile, summary := filepath.Join(dir, "output"), filepath.Join(dir, "summary.md")
	if err := os.WriteFile(summary, []byte("# Release\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pinFile := filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte("s3cret-pin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GITHUB_ACTIONS", "true")
	t.Setenv("GITHUB_OUTPUT", outFile)
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	args := []string{"batch", "--catalog", "images.txt", "--report", "r.json",
		"--key", "pkcs11:token=t;object=k?module-path=/nonexistent.so&pin-source=file:" + pinFile}

	run := func(extra ...string) (string, int) {
		var o, e bytes.Buffer
		code := Main(context.Background(), append(args, extra...), &o, &e)
		if strings.Contains(o.String()+e.String(), "s3cret-pin") && !strings.HasPrefix(o.String(), "::add-mask::s3cret-pin\n") {
			t.Errorf("the PIN is printed, but not first in a mask command:\n%s\n%s", o.String(), e.String())
		}
		return o.String(), code
	}

	// Without --github: annotations only.
	out, code := run()
	if code != ExitFailed {
		t.Fatalf("exit %d; want %d\n%s", code, ExitFailed, out)
	}
	if !strings.HasPrefix(out, "::add-mask::s3cret-pin\n") {
		t.Errorf("output does not start by masking the pin-source PIN:\n%s", out)
	}
	if n := countPrefix(out, "::error "); n != 10 {
		t.Errorf("%d ::error annotations; want 10:\n%s", n, out)
	}
	if !strings.Contains(out, "::error file=images.txt,line=1,title=signet%3A cannot sign "+strings.ReplaceAll(reg.Host, ":", "%3A")+"/missing/app%3Av0::") {
		t.Errorf("first annotation does not point at images.txt line 1:\n%s", out)
	}
	if !strings.Contains(out, "::2 more failures are not annotated") {
		t.Errorf("no warning about the 2 failures past the limit:\n%s", out)
	}
	if b, _ := os.ReadFile(outFile); len(b) != 0 {
		t.Errorf("outputs written without --github: %q", b)
	}

	// With SIGNET_GITHUB=1 (as --github): outputs and the summary too.
	t.Setenv("SIGNET_GITHUB", "1")
	if _, code = run(); code != ExitFailed {
		t.Fatalf("exit %d with SIGNET_GITHUB=1; want %d", code, ExitFailed)
	}
	b, _ := os.ReadFile(outFile)
	outs := parseCommandFile(t, string(b))
	if outs["signed"] != "0" || outs["failed"] != "12" || outs["digests"] != "[]" || outs["report"] != filepath.Join(dir, "r.json") {
		t.Errorf("outputs = %v; want signed 0, failed 12, digests [], report %s", outs, filepath.Join(dir, "r.json"))
	}
	md, _ := os.ReadFile(summary)
	if !strings.HasPrefix(string(md), "# Release\n\n## signet batch\n") || !strings.Contains(string(md), "missing/app:v11") {
		t.Errorf("summary was not appended after the existing content:\n%s", md)
	}

	// --github=false overrides the variable.
	os.Truncate(outFile, 0)
	run("--github=false")
	if b, _ := os.ReadFile(outFile); len(b) != 0 {
		t.Errorf("outputs written with --github=false: %q", b)
	}
}
