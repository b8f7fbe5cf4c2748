package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/signature"
)

func testItem(t testing.TB, repo string, i int, platform string) Item {
	t.Helper()
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	d, err := v1.NewHash(fmt.Sprintf("sha256:%064x", i))
	if err != nil {
		t.Fatal(err)
	}
	it := Item{
		Subject: signature.Subject{Repo: r, Digest: d, MediaType: "application/vnd.oci.image.manifest.v1+json", Platform: platform},
		Ref:     repo + ":v1", Source: "catalog.yaml:3",
	}
	if platform != "" {
		it.Parent = fmt.Sprintf("sha256:%064x", 999)
	}
	return it
}

func sigHash(i int) v1.Hash {
	h, _ := v1.NewHash(fmt.Sprintf("sha256:%064x", 1000+i))
	return h
}

// testReport builds a plan of an index with two children in one repository
// and one image in another, and adds one outcome of every status.
func testReport(t *testing.T) *Report {
	idx := testItem(t, "ghcr.io/acme/app", 1, "")
	idx.Index, idx.MediaType = true, "application/vnd.oci.image.index.v1+json"
	amd := testItem(t, "ghcr.io/acme/app", 2, "linux/amd64")
	arm := testItem(t, "ghcr.io/acme/app", 3, "linux/arm64")
	other := testItem(t, "ghcr.io/acme/tools", 4, "")
	plan := &Plan{
		Items:      []Item{idx, amd, arm, other},
		Failures:   []Failure{{Ref: "ghcr.io/acme/gone:1", Source: "catalog.yaml:9", Error: "resolving: MANIFEST_UNKNOWN"}},
		Targets:    3,
		Duplicates: 1,
	}
	r := NewReport("signet 1.0.0", plan)
	r.Key, r.Workers, r.Shard = "pkcs11:token=t?pin-value=1234", 4, "0/2"

	// Outcomes arrive out of plan order, from many goroutines.
	outcomes := []Outcome{
		{Item: other, Format: "cosign", Result: signature.Result{Format: "cosign", Digest: sigHash(4)}, Attempts: 1, Duration: 1500 * time.Microsecond},
		{Item: arm, Format: "cosign", Err: errors.New("cosign: pushing signature: 500 | internal\nerror <html>"), Attempts: 3},
		{Item: idx, Format: "cosign", Result: signature.Result{Format: "cosign", Digest: sigHash(1), Skipped: true}},
		{Item: amd, Format: "cosign", Journal: true, Result: signature.Result{Format: "cosign", Skipped: true}},
		{Item: arm, Format: "notation", Err: errors.New("notation: timeout")},
		{Item: idx, Format: "notation", Result: signature.Result{Format: "notation", Digest: sigHash(2)}, Attempts: 1},
	}
	var wg sync.WaitGroup
	for _, o := range outcomes {
		wg.Go(func() { r.Add(o) })
	}
	wg.Wait()
	r.FinishedAt = r.StartedAt.Add(95 * time.Second)
	return r
}

func TestReportJSON(t *testing.T) {
	r := testReport(t)
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "1234") {
		t.Errorf("report holds the PIN")
	}
	var got struct {
		Tool      string           `json:"tool"`
		Key       string           `json:"key"`
		Shard     string           `json:"shard"`
		Workers   int              `json:"workers"`
		Counts    Counts           `json:"counts"`
		Manifests []ManifestReport `json:"manifests"`
		Failures  []Failure        `json:"failures"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, buf.String())
	}
	wantCounts := Counts{Targets: 3, Manifests: 4, Indexes: 1, Signatures: 2, Present: 1, FromJournal: 1,
		Failed: 1, PlanFailures: 1, Duplicates: 1}
	if got.Counts != wantCounts {
		t.Errorf("counts = %+v; want %+v", got.Counts, wantCounts)
	}
	if got.Tool != "signet 1.0.0" || got.Key != "pkcs11:token=t" || got.Shard != "0/2" || got.Workers != 4 {
		t.Errorf("run fields = %q %q %q %d", got.Tool, got.Key, got.Shard, got.Workers)
	}
	if len(got.Manifests) != 4 {
		t.Fatalf("%d manifests; want 4", len(got.Manifests))
	}
	// Plan order, whatever the order of the outcomes.
	for i, want := range []string{"", "linux/amd64", "linux/arm64", ""} {
		if got.Manifests[i].Platform != want {
			t.Errorf("manifest %d platform = %q; want %q", i, got.Manifests[i].Platform, want)
		}
	}
	status := func(m ManifestReport, format string) FormatReport {
		for _, f := range m.Formats {
			if f.Format == format {
				return f
			}
		}
		return FormatReport{}
	}
	tests := []struct {
		m      int
		format string
		want   FormatReport
	}{
		{0, "cosign", FormatReport{Format: "cosign", Status: StatusPresent, Signature: sigHash(1).String()}},
		{0, "notation", FormatReport{Format: "notation", Status: StatusSigned, Signature: sigHash(2).String(), Attempts: 1}},
		{1, "cosign", FormatReport{Format: "cosign", Status: StatusJournal}},
		{2, "cosign", FormatReport{Format: "cosign", Status: StatusFailed, Attempts: 3, Error: "cosign: pushing signature: 500 | internal\nerror <html>"}},
		{3, "cosign", FormatReport{Format: "cosign", Status: StatusSigned, Signature: sigHash(4).String(), Attempts: 1, DurationMS: 1.5}},
	}
	for _, tt := range tests {
		if got := status(got.Manifests[tt.m], tt.format); got != tt.want {
			t.Errorf("manifest %d %s = %+v; want %+v", tt.m, tt.format, got, tt.want)
		}
	}
	m := got.Manifests[1]
	if m.Repository != "ghcr.io/acme/app" || m.Digest != fmt.Sprintf("sha256:%064x", 2) || m.Parent == "" || m.Source != "catalog.yaml:3" || m.Reference != "ghcr.io/acme/app:v1" {
		t.Errorf("manifest 1 = %+v", m)
	}
	if len(got.Failures) != 1 || got.Failures[0].Source != "catalog.yaml:9" {
		t.Errorf("failures = %+v", got.Failures)
	}
}

func TestReportMarkdown(t *testing.T) {
	r := testReport(t)
	var buf bytes.Buffer
	if err := r.WriteMarkdown(&buf, 0); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{
		"❌ **1 of 4 manifests failed, 1 target could not be planned**",
		"| Manifests | 4 |",
		"| New signatures | 2 |",
		"| Already present | 1 |",
		"| From journal | 1 |",
		"| Failed manifests | 1 |",
		"| Plan failures | 1 |",
		"key `pkcs11:token=t`",
		"shard 0/2",
		"1m35s",
		// Pipes, newlines and HTML in errors cannot break the table.
		"| linux/arm64 | cosign | cosign: pushing signature: 500 \\| internal<br>error &lt;html&gt; |",
		"| `ghcr.io/acme/gone:1` (catalog.yaml:9) |  | plan | resolving: MANIFEST_UNKNOWN |",
		"| `ghcr.io/acme/app` | 3 | 1 | 1 | 1 | 1 |",
		"| `ghcr.io/acme/tools` | 1 | 1 | 0 | 0 | 0 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "1234") || strings.Contains(md, "more (see") {
		t.Errorf("Markdown holds the PIN or a truncation note:\n%s", md)
	}
}

func TestReportMarkdownTruncates(t *testing.T) {
	var items []Item
	for i := range 500 {
		items = append(items, testItem(t, fmt.Sprintf("ghcr.io/acme/app%03d", i), i, ""))
	}
	r := NewReport("signet", &Plan{Items: items, Targets: 500})
	for _, it := range items {
		r.Add(Outcome{Item: it, Format: "cosign", Err: errors.New(strings.Repeat("registry unavailable ", 10))})
	}
	for _, limit := range []int{4 << 10, 20 << 10, 60 << 10, 200} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			var buf bytes.Buffer
			if err := r.WriteMarkdown(&buf, limit); err != nil {
				t.Fatal(err)
			}
			md := buf.String()
			if len(md) > limit {
				t.Errorf("Markdown is %d bytes; want at most %d", len(md), limit)
			}
			if limit < 1000 {
				return // only the cut headline fits
			}
			if !strings.Contains(md, "**500 of 500 manifests failed**") {
				t.Errorf("Markdown lacks the headline")
			}
			rows := strings.Count(md, "| cosign | registry unavailable")
			want := fmt.Sprintf("\n\n… and %d more (see the JSON report)\n", 500-rows)
			if !strings.Contains(md, want) {
				t.Errorf("Markdown with %d failure rows lacks %q:\n%s", rows, want, md[max(0, len(md)-500):])
			}
		})
	}
	// Unlimited (the default) keeps every row.
	var buf bytes.Buffer
	if err := r.WriteMarkdown(&buf, 0); err != nil {
		t.Fatal(err)
	}
	if rows := strings.Count(buf.String(), "| cosign | registry unavailable"); rows != 500 {
		t.Errorf("default limit: %d failure rows; want 500", rows)
	}
}

func TestReportExitCode(t *testing.T) {
	it := testItem(t, "ghcr.io/acme/app", 1, "")
	ok := Outcome{Item: it, Format: "cosign", Result: signature.Result{Digest: sigHash(1)}}
	tests := []struct {
		name     string
		plan     *Plan
		dryRun   bool
		outcomes []Outcome
		want     int
	}{
		{"all signed", &Plan{Items: []Item{it}}, false, []Outcome{ok}, 0},
		{"journal and present count as done", &Plan{Items: []Item{it}}, false, []Outcome{
			{Item: it, Format: "cosign", Journal: true, Result: signature.Result{Skipped: true}},
			{Item: it, Format: "notation", Result: signature.Result{Skipped: true, Digest: sigHash(2)}}}, 0},
		{"failed format", &Plan{Items: []Item{it}}, false, []Outcome{ok, {Item: it, Format: "notation", Err: errors.New("x")}}, 2},
		{"plan failure", &Plan{Items: []Item{it}, Failures: []Failure{{Ref: "x"}}}, false, []Outcome{ok}, 2},
		{"interrupted before an item", &Plan{Items: []Item{it}}, false, nil, 2},
		{"dry run", &Plan{Items: []Item{it}}, true, nil, 0},
		{"nothing planned", nil, false, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReport("signet", tt.plan)
			r.DryRun = tt.dryRun
			for _, o := range tt.outcomes {
				r.Add(o)
			}
			if got := r.ExitCode(); got != tt.want {
				t.Errorf("ExitCode() = %d; want %d (counts %+v)", got, tt.want, r.Counts)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		o    Outcome
		want string
	}{
		{Outcome{Err: errors.New("x"), Journal: true}, StatusFailed},
		{Outcome{Journal: true, Result: signature.Result{Skipped: true}}, StatusJournal},
		{Outcome{Result: signature.Result{Skipped: true, Digest: sigHash(1)}}, StatusPresent},
		{Outcome{Result: signature.Result{Digest: sigHash(1)}}, StatusSigned},
	}
	for _, tt := range tests {
		if got := Status(tt.o); got != tt.want {
			t.Errorf("Status(%+v) = %q; want %q", tt.o, got, tt.want)
		}
	}
}

// TestReportJSONStream: the JSON written manifest by manifest is the JSON
// encoding/json makes of the same report decoded, byte for byte, for a
// report with and without manifests and plan failures, and with a
// signature digest that is not sha256.
func TestReportJSONStream(t *testing.T) {
	odd := testItem(t, "ghcr.io/acme/odd", 9, "")
	withOdd := NewReport("signet", &Plan{Items: []Item{odd}, Targets: 1})
	withOdd.Add(Outcome{Item: odd, Format: "cosign", Result: signature.Result{Digest: v1.Hash{Algorithm: "sha512", Hex: strings.Repeat("ab", 64)}}})
	for _, tt := range []struct {
		name string
		r    *Report
	}{
		{"outcomes of every status", testReport(t)},
		{"nothing planned", NewReport("signet", nil)},
		{"planned, nothing done", NewReport("signet", &Plan{Items: []Item{testItem(t, "ghcr.io/acme/app", 1, "")}, Failures: []Failure{{Ref: "x", Error: "y"}}})},
		{"sha512 signature", withOdd},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var streamed bytes.Buffer
			if err := tt.r.WriteJSON(&streamed); err != nil {
				t.Fatal(err)
			}
			var decoded Report
			if err := json.Unmarshal(streamed.Bytes(), &decoded); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, streamed.String())
			}
			whole, err := json.MarshalIndent(&decoded, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := streamed.String(), string(whole)+"\n"; got != want {
				t.Errorf("streamed JSON differs from encoding/json's:\n%s\nwant:\n%s", got, want)
			}
			if n := len(slices.Collect(decoded.All())); n != tt.r.Counts.Manifests {
				t.Errorf("decoded report lists %d manifests; want %d", n, tt.r.Counts.Manifests)
			}
		})
	}
	var b bytes.Buffer
	if err := withOdd.WriteJSON(&b); err != nil || !strings.Contains(b.String(), `"signature": "sha512:abab`) {
		t.Errorf("a sha512 signature digest is lost (%v):\n%s", err, b.String())
	}
}
