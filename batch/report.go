package batch

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Report is what a batch run did, for --report (JSON) and --summary-md
// (Markdown). Add is safe for concurrent use; set the exported run fields
// (Key, Workers, …, FinishedAt) before the run starts or after it ends.
type Report struct {
	// Tool is "signet <version>".
	Tool        string    `json:"tool"`
	StartedAt   time.Time `json:"startedAt"`
	FinishedAt  time.Time `json:"finishedAt,omitzero"`
	Key         string    `json:"key,omitempty"`
	Workers     int       `json:"workers,omitempty"`
	HSMSessions int       `json:"hsmSessions,omitempty"`
	Shard       string    `json:"shard,omitempty"`
	DryRun      bool      `json:"dryRun,omitempty"`

	Counts Counts `json:"counts"`
	// Manifests are in plan order, each with its formats in the order
	// their outcomes arrived. A decoded report has them here; a report
	// being built keeps its outcomes compactly and lists them through
	// All (and in its JSON), so this stays empty.
	Manifests []ManifestReport `json:"manifests"`
	// Failures are the targets that could not be planned.
	Failures []Failure `json:"failures,omitempty"`

	mu sync.Mutex
	// items are the manifests of a report being built: the plan's own
	// items (shared, not copied), then any that arrived unplanned. recs
	// holds each item's first outcome and more the rare later ones (a
	// second format): a plan of tens of thousands of manifests keeps one
	// small record per manifest, and the plan's strings, for the run.
	items []Item
	recs  []outcomeRec
	more  map[int32][]outcomeRec
	// pos finds an item whose outcome does not carry its position (built
	// on first need).
	pos   map[reportKey]int32
	names []string              // format names; outcomeRec.format-1 indexes them
	repos map[reportRepo]string // one Name() per repository, for output
}

// outcomeRec is one format's outcome as a report being built keeps it.
type outcomeRec struct {
	// text is the error of a failure, or a signature digest that is not
	// sha256 (which sig cannot hold).
	text     string
	sig      [sha256.Size]byte
	micros   uint32 // duration
	attempts uint16
	format   uint16 // index+1 into Report.names; 0: no outcome
	status   uint8  // index into statuses
	hasSig   bool
}

var statuses = [...]string{StatusSigned, StatusPresent, StatusJournal, StatusFailed}

// reportKey identifies a manifest by its repository and digest, as
// JournalSubject does, without building that string.
type reportKey struct {
	reportRepo
	digest v1.Hash
}

type reportRepo struct{ registry, repository string }

// Counts are a report's headline numbers.
type Counts struct {
	Targets int `json:"targets"`
	// Manifests and Indexes count planned manifests (after --shard); a
	// manifest planned under two keys counts twice.
	Manifests int `json:"manifests"`
	Indexes   int `json:"indexes"`
	// Signatures are new signatures written, Present those found already
	// there, FromJournal those an earlier run recorded.
	Signatures  int `json:"signatures"`
	Present     int `json:"present"`
	FromJournal int `json:"fromJournal"`
	// Failed counts manifests with at least one failed format.
	Failed int `json:"failed"`
	// Unfinished counts manifests that never started (the run was
	// interrupted); always 0 in a dry run. A report being built brings it
	// up to date in ExitCode, WriteJSON and WriteMarkdown.
	Unfinished   int `json:"unfinished,omitempty"`
	PlanFailures int `json:"planFailures"`
	Duplicates   int `json:"duplicates"`
}

// ManifestReport is one planned manifest and what each format did to it.
type ManifestReport struct {
	// Reference is the reference the user named that led here.
	Reference  string `json:"reference"`
	Repository string `json:"repository"`
	// Digest is set in a decoded report; a report being built keeps the
	// hash instead (see DigestString) and formats it only when encoded,
	// because a catalog of tens of thousands of manifests would otherwise
	// carry one formatted copy of each digest for the whole run.
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType,omitempty"`
	Platform  string `json:"platform,omitempty"`
	Parent    string `json:"parent,omitempty"`
	Source    string `json:"source,omitempty"`
	// Key is the key the catalog entry named for this manifest (PIN
	// removed), when it named one; the run's key otherwise.
	Key     string         `json:"key,omitempty"`
	Formats []FormatReport `json:"formats"`

	digest v1.Hash
}

// DigestString returns the manifest's digest, "sha256:…".
func (m ManifestReport) DigestString() string {
	if m.Digest == "" && m.digest != (v1.Hash{}) {
		return m.digest.String()
	}
	return m.Digest
}

// Name returns the manifest as "registry/repo@sha256:…".
func (m ManifestReport) Name() string { return m.Repository + "@" + m.DigestString() }

// MarshalJSON fills Digest from the hash the report was built with.
func (m ManifestReport) MarshalJSON() ([]byte, error) {
	type plain ManifestReport
	m.Digest = m.DigestString()
	return json.Marshal(plain(m))
}

// FormatReport is one outcome.
type FormatReport struct {
	Format string `json:"format"`
	// Status is one of StatusSigned, StatusPresent, StatusJournal or
	// StatusFailed.
	Status string `json:"status"`
	// Signature is the signature manifest's digest; like
	// ManifestReport.Digest it is set in decoded reports and formatted
	// from the hash when a report being built is encoded (SignatureString).
	Signature  string  `json:"signature,omitempty"`
	Attempts   int     `json:"attempts,omitempty"`
	DurationMS float64 `json:"durationMs,omitempty"`
	Error      string  `json:"error,omitempty"`

	// sig holds a sha256 signature digest as bytes: half the memory of its
	// hex form, for as many of them as the plan has manifests.
	sig    [sha256.Size]byte
	hasSig bool
}

// SignatureString returns the signature manifest's digest, or "".
func (f FormatReport) SignatureString() string {
	if f.Signature == "" && f.hasSig {
		return "sha256:" + hex.EncodeToString(f.sig[:])
	}
	return f.Signature
}

// MarshalJSON fills Signature from the hash the report was built with.
func (f FormatReport) MarshalJSON() ([]byte, error) {
	type plain FormatReport
	f.Signature = f.SignatureString()
	return json.Marshal(plain(f))
}

// FormatReport statuses.
const (
	StatusSigned  = "signed"  // a new signature was written
	StatusPresent = "present" // an equivalent signature already existed
	StatusJournal = "journal" // an earlier run's journal lists it
	StatusFailed  = "failed"
)

// MarkdownLimit is the default size bound of WriteMarkdown: GitHub accepts
// at most 1 MiB of $GITHUB_STEP_SUMMARY per step, and the margin leaves
// room for whatever else the step appends.
const MarkdownLimit = 1<<20 - 32<<10

// NewReport returns a report for plan, listing its manifests in plan order
// and its planning failures. plan may be nil (nothing planned yet); Add
// then lists manifests as their outcomes arrive. The report keeps plan's
// items, which must not change while it is used.
func NewReport(tool string, plan *Plan) *Report {
	r := &Report{Tool: tool, StartedAt: time.Now().UTC(), Manifests: []ManifestReport{}}
	if plan == nil {
		return r
	}
	r.Counts.Targets = plan.Targets
	r.Counts.Duplicates = plan.Duplicates
	r.Counts.PlanFailures = len(plan.Failures)
	r.Failures = append(r.Failures, plan.Failures...)
	// Clipped, so that an unplanned item appended later never writes
	// into the plan's array.
	r.items = slices.Clip(plan.Items)
	r.recs = make([]outcomeRec, len(plan.Items))
	r.Counts.Manifests = len(plan.Items)
	for _, it := range plan.Items {
		if it.Index {
			r.Counts.Indexes++
		}
	}
	return r
}

// find returns the position of o's manifest, adding it when it was not
// planned. r.mu is held.
func (r *Report) find(o Outcome) int {
	k := keyOf(o.Item)
	if o.Pos >= 0 && o.Pos < len(r.items) && keyOf(r.items[o.Pos]) == k {
		return o.Pos
	}
	if r.pos == nil {
		r.pos = make(map[reportKey]int32, len(r.items))
		for i, it := range r.items {
			r.pos[keyOf(it)] = int32(i)
		}
	}
	if i, ok := r.pos[k]; ok {
		return int(i)
	}
	r.items = append(r.items, o.Item)
	r.recs = append(r.recs, outcomeRec{})
	r.pos[k] = int32(len(r.items) - 1)
	r.Counts.Manifests++
	if o.Item.Index {
		r.Counts.Indexes++
	}
	return len(r.items) - 1
}

func keyOf(it Item) reportKey {
	return reportKey{reportRepo{it.Repo.RegistryStr(), it.Repo.RepositoryStr()}, it.Digest}
}

// record makes the compact form of o. r.mu is held.
func (r *Report) record(o Outcome) outcomeRec {
	f := slices.Index(r.names, o.Format)
	if f < 0 {
		r.names = append(r.names, o.Format)
		f = len(r.names) - 1
	}
	rec := outcomeRec{
		format:   uint16(min(f+1, math.MaxUint16)),
		status:   uint8(slices.Index(statuses[:], Status(o))),
		attempts: uint16(min(max(o.Attempts, 0), math.MaxUint16)),
		micros:   uint32(min(max(o.Duration.Microseconds(), 0), math.MaxUint32)),
	}
	if o.Err != nil {
		rec.text = o.Err.Error()
		return rec
	}
	switch d := o.Result.Digest; {
	case d == v1.Hash{}:
	case d.Algorithm == "sha256" && len(d.Hex) == 2*sha256.Size:
		if _, err := hex.Decode(rec.sig[:], []byte(d.Hex)); err == nil {
			rec.hasSig = true
			break
		}
		rec.text = d.String()
	default:
		rec.text = d.String()
	}
	return rec
}

// formatReport expands a record. r.mu is held.
func (r *Report) formatReport(rec outcomeRec) FormatReport {
	f := FormatReport{
		Format: r.names[rec.format-1], Status: statuses[rec.status], Attempts: int(rec.attempts),
		DurationMS: float64(rec.micros) / 1000, sig: rec.sig, hasSig: rec.hasSig,
	}
	if f.Status == StatusFailed {
		f.Error = rec.text
	} else {
		f.Signature = rec.text
	}
	return f
}

// manifestAt expands the manifest at position i. r.mu is held.
func (r *Report) manifestAt(i int) ManifestReport {
	it := r.items[i]
	repo := keyOf(it).reportRepo
	name, ok := r.repos[repo]
	if !ok {
		if r.repos == nil {
			r.repos = make(map[reportRepo]string)
		}
		name = it.Repo.Name()
		r.repos[repo] = name
	}
	m := ManifestReport{
		Reference: it.Ref, Repository: name, digest: it.Digest, MediaType: it.MediaType,
		Platform: it.Platform, Parent: it.Parent, Source: it.Source, Formats: []FormatReport{},
	}
	if it.Settings != nil && it.Key != "" {
		m.Key = redactKey(it.Key)
	}
	if r.recs[i].format != 0 {
		m.Formats = append(m.Formats, r.formatReport(r.recs[i]))
		for _, rec := range r.more[int32(i)] {
			m.Formats = append(m.Formats, r.formatReport(rec))
		}
	}
	return m
}

// All lists the report's manifests in plan order: a decoded report's, or
// those of a report being built, expanded one at a time. Outcomes added
// during the iteration may or may not be seen.
func (r *Report) All() iter.Seq[ManifestReport] {
	return func(yield func(ManifestReport) bool) {
		for i := 0; ; i++ {
			r.mu.Lock()
			m, ok := r.at(i)
			r.mu.Unlock()
			if !ok || !yield(m) {
				return
			}
		}
	}
}

// all is All for callers holding r.mu.
func (r *Report) all() iter.Seq[ManifestReport] {
	return func(yield func(ManifestReport) bool) {
		for i := 0; ; i++ {
			if m, ok := r.at(i); !ok || !yield(m) {
				return
			}
		}
	}
}

// at returns the i-th manifest: decoded ones first, then built ones.
// r.mu is held.
func (r *Report) at(i int) (ManifestReport, bool) {
	if i < len(r.Manifests) {
		return r.Manifests[i], true
	}
	if i -= len(r.Manifests); i < len(r.items) {
		return r.manifestAt(i), true
	}
	return ManifestReport{}, false
}

// Status maps an outcome to a FormatReport status: an error is
// StatusFailed; Outcome.Journal (the runner found it in the journal and
// sent nothing) is StatusJournal; Result.Skipped (the format found an
// equivalent signature) is StatusPresent; anything else wrote a signature,
// StatusSigned.
func Status(o Outcome) string {
	switch {
	case o.Err != nil:
		return StatusFailed
	case o.Journal:
		return StatusJournal
	case o.Result.Skipped:
		return StatusPresent
	}
	return StatusSigned
}

// Add records an outcome under its manifest. Safe for concurrent use.
func (r *Report) Add(o Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.find(o)
	rec := r.record(o)
	switch statuses[rec.status] {
	case StatusFailed:
		if !r.failedAt(i) {
			r.Counts.Failed++
		}
	case StatusJournal:
		r.Counts.FromJournal++
	case StatusPresent:
		r.Counts.Present++
	case StatusSigned:
		r.Counts.Signatures++
	}
	if r.recs[i].format == 0 {
		r.recs[i] = rec
		return
	}
	if r.more == nil {
		r.more = make(map[int32][]outcomeRec)
	}
	r.more[int32(i)] = append(r.more[int32(i)], rec)
}

// failedAt reports whether the manifest at i has a failed format. r.mu is
// held.
func (r *Report) failedAt(i int) bool {
	if r.recs[i].format != 0 && statuses[r.recs[i].status] == StatusFailed {
		return true
	}
	for _, rec := range r.more[int32(i)] {
		if statuses[rec.status] == StatusFailed {
			return true
		}
	}
	return false
}

// finish brings the derived fields up to date; r.mu is held.
func (r *Report) finish() {
	r.Key = redactKey(r.Key)
	r.Counts.Unfinished = 0
	if r.DryRun {
		return
	}
	for _, m := range r.Manifests {
		if len(m.Formats) == 0 {
			r.Counts.Unfinished++
		}
	}
	for _, rec := range r.recs {
		if rec.format == 0 {
			r.Counts.Unfinished++
		}
	}
}

// ExitCode returns 0 when every planned manifest was signed (or already
// was) and 2 when anything failed: a format, a target that could not be
// planned, or a manifest an interrupted run never reached.
func (r *Report) ExitCode() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finish()
	if r.Counts.Failed > 0 || r.Counts.PlanFailures > 0 || r.Counts.Unfinished > 0 {
		return 2
	}
	return 0
}

// WriteJSON writes the report as indented JSON, one manifest at a time: a
// report of tens of thousands of manifests is never whole in memory.
func (r *Report) WriteJSON(w io.Writer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finish()
	if err := r.writeJSON(w); err != nil {
		return fmt.Errorf("writing JSON report: %w", err)
	}
	return nil
}

func (r *Report) writeJSON(w io.Writer) error {
	// The head is the report itself with no manifests and no failures:
	// "manifests" is then its last field, null, and the list is written
	// in its place.
	manifests, failures := r.Manifests, r.Failures
	r.Manifests, r.Failures = nil, nil
	head, err := json.MarshalIndent(r, "", "  ")
	r.Manifests, r.Failures = manifests, failures
	if err != nil {
		return err
	}
	const tail = "\"manifests\": null\n}"
	if !bytes.HasSuffix(head, []byte(tail)) {
		return errors.New("report head does not end with its manifests")
	}
	bw := bufio.NewWriter(w)
	bw.Write(head[:len(head)-len(tail)])
	bw.WriteString("\"manifests\": [")
	n := 0
	for m := range r.all() {
		b, err := json.MarshalIndent(m, "    ", "  ")
		if err != nil {
			return err
		}
		if n > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		bw.Write(b)
		n++
	}
	if n > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteByte(']')
	if len(r.Failures) > 0 {
		b, err := json.MarshalIndent(r.Failures, "  ", "  ")
		if err != nil {
			return err
		}
		bw.WriteString(",\n  \"failures\": ")
		bw.Write(b)
	}
	bw.WriteString("\n}\n")
	return bw.Flush()
}

// WriteMarkdown writes a summary for $GITHUB_STEP_SUMMARY: the headline
// counts, a table of failures, and a table per repository, in at most
// limit bytes (MarkdownLimit when limit ≤ 0). A table that does not fit
// is cut, ending with "… and N more (see the JSON report)"; failures come
// first, so they are the last to be cut.
func (r *Report) WriteMarkdown(w io.Writer, limit int) error {
	if limit <= 0 {
		limit = MarkdownLimit
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finish()

	var b strings.Builder
	r.markdownHeader(&b)

	var fails []string
	for _, f := range r.Failures {
		ref := mdCode(f.Ref)
		if f.Source != "" {
			ref += " (" + mdCell(f.Source, 200) + ")"
		}
		fails = append(fails, mdRow(ref, "", "plan", mdCell(f.Error, maxCell)))
	}
	for m := range r.all() {
		for _, f := range m.Formats {
			if f.Status == StatusFailed {
				fails = append(fails, mdRow(mdCode(manifestRef(m)), mdCell(m.Platform, 100), mdCell(f.Format, 100), mdCell(f.Error, maxCell)))
			}
		}
	}
	if len(fails) > 0 {
		writeTable(&b, limit, "\n### Failures\n\n", "| Reference | Platform | Format | Error |\n|---|---|---|---|\n", fails)
	}

	type repoCounts struct{ manifests, signed, present, journal, failed int }
	repos := map[string]*repoCounts{}
	for m := range r.all() {
		c := repos[m.Repository]
		if c == nil {
			c = &repoCounts{}
			repos[m.Repository] = c
		}
		c.manifests++
		failed := false
		for _, f := range m.Formats {
			switch f.Status {
			case StatusSigned:
				c.signed++
			case StatusPresent:
				c.present++
			case StatusJournal:
				c.journal++
			case StatusFailed:
				failed = true
			}
		}
		if failed {
			c.failed++
		}
	}
	names := make([]string, 0, len(repos))
	for n := range repos {
		names = append(names, n)
	}
	sort.Strings(names)
	var rows []string
	for _, n := range names {
		c := repos[n]
		rows = append(rows, mdRow(mdCode(n), fmt.Sprint(c.manifests), fmt.Sprint(c.signed),
			fmt.Sprint(c.present), fmt.Sprint(c.journal), fmt.Sprint(c.failed)))
	}
	if len(rows) > 0 {
		writeTable(&b, limit, "\n### By repository\n\n", "| Repository | Manifests | New signatures | Already present | From journal | Failed manifests |\n|---|---:|---:|---:|---:|---:|\n", rows)
	}

	out := b.String()
	if len(out) > limit { // only a limit smaller than the header gets here
		out = truncateUTF8(out, limit)
	}
	if _, err := io.WriteString(w, out); err != nil {
		return fmt.Errorf("writing Markdown summary: %w", err)
	}
	return nil
}

func (r *Report) markdownHeader(b *strings.Builder) {
	c := r.Counts
	b.WriteString("## signet batch\n\n")
	switch {
	case r.DryRun:
		fmt.Fprintf(b, "**Dry run:** %s planned, nothing signed.\n", plural(c.Manifests, "manifest"))
	case c.Failed > 0 || c.PlanFailures > 0 || c.Unfinished > 0:
		var parts []string
		if c.Failed > 0 {
			parts = append(parts, fmt.Sprintf("%d of %s failed", c.Failed, plural(c.Manifests, "manifest")))
		}
		if c.PlanFailures > 0 {
			parts = append(parts, fmt.Sprintf("%s could not be planned", plural(c.PlanFailures, "target")))
		}
		if c.Unfinished > 0 {
			parts = append(parts, fmt.Sprintf("%s not started", plural(c.Unfinished, "manifest")))
		}
		fmt.Fprintf(b, "❌ **%s**\n", strings.Join(parts, ", "))
	default:
		fmt.Fprintf(b, "✅ **All %s signed**\n", plural(c.Manifests, "manifest"))
	}
	b.WriteString("\n| | Count |\n|---|---:|\n")
	row := func(label string, n int) { fmt.Fprintf(b, "| %s | %d |\n", label, n) }
	row("Targets", c.Targets)
	row("Manifests", c.Manifests)
	row("of which indexes", c.Indexes)
	row("New signatures", c.Signatures)
	row("Already present", c.Present)
	row("From journal", c.FromJournal)
	row("Failed manifests", c.Failed)
	if c.Unfinished > 0 {
		row("Not started", c.Unfinished)
	}
	row("Plan failures", c.PlanFailures)
	row("Duplicates", c.Duplicates)

	var info []string
	if r.Tool != "" {
		info = append(info, mdCell(r.Tool, 100))
	}
	if r.Key != "" {
		info = append(info, "key "+mdCode(r.Key))
	}
	if r.Workers > 0 {
		info = append(info, plural(r.Workers, "worker"))
	}
	if r.HSMSessions > 0 {
		info = append(info, plural(r.HSMSessions, "HSM session"))
	}
	if r.Shard != "" {
		info = append(info, "shard "+mdCell(r.Shard, 20))
	}
	if !r.FinishedAt.IsZero() && !r.StartedAt.IsZero() {
		info = append(info, r.FinishedAt.Sub(r.StartedAt).Round(time.Second).String())
	}
	if len(info) > 0 {
		fmt.Fprintf(b, "\n%s\n", strings.Join(info, " · "))
	}
}

// maxCell bounds one error cell, so that one very long error (a registry's
// HTML error page, say) cannot crowd out every other row.
const maxCell = 1000

// writeTable appends a titled table with as many rows as fit in limit,
// then, if rows were left out, a line saying how many. If not even the
// table's head fits, the title and that line stand alone.
func writeTable(b *strings.Builder, limit int, title, head string, rows []string) {
	size := len(title) + len(head)
	for _, r := range rows {
		size += len(r)
	}
	if b.Len()+size <= limit {
		b.WriteString(title)
		b.WriteString(head)
		for _, r := range rows {
			b.WriteString(r)
		}
		return
	}
	more := func(n int) string { return fmt.Sprintf("… and %d more (see the JSON report)\n", n) }
	reserve := len(more(len(rows))) + 1
	if b.Len()+len(title)+len(head)+reserve > limit {
		if b.Len()+len(title)+reserve <= limit {
			b.WriteString(title)
			b.WriteString(more(len(rows)))
		}
		return
	}
	b.WriteString(title)
	b.WriteString(head)
	n := 0
	for _, r := range rows {
		if b.Len()+len(r)+reserve > limit {
			break
		}
		b.WriteString(r)
		n++
	}
	// A table ends at a blank line; without one GFM would read the note as
	// another row.
	b.WriteString("\n" + more(len(rows)-n))
}

func manifestRef(m ManifestReport) string {
	if m.Reference != "" && (m.Platform == "" && m.Parent == "") {
		return m.Reference
	}
	// A child of an index: its parent's reference is ambiguous without
	// the platform column, but the digest is not.
	return m.Name()
}

func mdRow(cells ...string) string { return "| " + strings.Join(cells, " | ") + " |\n" }

// mdCell makes s safe inside a table cell: "|" would end the cell, a
// newline the row, and "<" could start an HTML tag that swallows the
// text.
func mdCell(s string, max int) string {
	s = truncateUTF8(strings.TrimSpace(s), max)
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '|':
			b.WriteString(`\|`)
		case '\n':
			b.WriteString("<br>")
		case '\r':
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// mdCode shows a reference as code; references hold no backticks or
// pipes, but a report is no place to trust that.
func mdCode(s string) string {
	if s == "" {
		return ""
	}
	return "`" + strings.NewReplacer("`", "'", "|", `\|`, "\n", " ").Replace(truncateUTF8(s, 500)) + "`"
}

// truncateUTF8 cuts s to at most n bytes without splitting a character,
// ending with "…" when it cut.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ell = "…"
	if n < len(ell) {
		return ""
	}
	cut := n - len(ell)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
