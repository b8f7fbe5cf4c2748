package batch

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Verdict statuses, from best to worst. They match the trust policy's
// statuses (policy.Status) so reports read the same with or without one.
const (
	VerdictVerified = "verified"
	VerdictAudited  = "audited"
	VerdictWarned   = "warned"
	VerdictBlocked  = "blocked"
)

func verdictRank(s string) int {
	switch s {
	case VerdictBlocked:
		return 3
	case VerdictWarned:
		return 2
	case VerdictAudited:
		return 1
	}
	return 0
}

// CheckFormat is the Format of the Outcome a Check becomes for progress:
// one outcome per manifest verified, failed when it is blocked.
const CheckFormat = "verify"

// Check is what verifying one manifest found.
type Check struct {
	Item Item
	// Status is one of the Verdict constants.
	Status string
	// Rule names the trust rule that decided ("" with a bare key).
	Rule string `json:"rule,omitempty"`
	// Verified lists the formats and attestation types that verified.
	Verified []string
	// Problems are the violations (blocking under enforce, warnings under
	// warn, recorded under audit).
	Problems []string
	// Notes break nothing.
	Notes []string
}

// Verify runs check for every item through the runner's bounded pool and
// returns the checks in plan order. A check that fails to run (a registry
// error) is the check's own business to turn into a blocked verdict.
func (r *Runner) Verify(ctx context.Context, items []Item, check func(ctx context.Context, it Item) Check) []Check {
	out := make([]Check, len(items))
	done := make([]bool, len(items))
	r.each(ctx, items, func(work context.Context, i int, it Item) {
		out[i] = check(work, it)
		out[i].Item = it
		done[i] = true
		if r.OnCheck != nil {
			r.OnCheck(out[i])
		}
	})
	kept := out[:0]
	for i, c := range out {
		if done[i] {
			kept = append(kept, c)
		}
	}
	return kept
}

// VerifyReport is what a verification run found, for --report (JSON) and
// --summary-md (Markdown).
type VerifyReport struct {
	Tool       string          `json:"tool"`
	StartedAt  time.Time       `json:"startedAt"`
	FinishedAt time.Time       `json:"finishedAt,omitzero"`
	Policy     string          `json:"policy,omitempty"`
	Counts     VerifyCounts    `json:"counts"`
	Images     []ImageVerdict  `json:"images"`
	Failures   []Failure       `json:"failures,omitempty"`
	mu         sync.Mutex      `json:"-"`
	byRef      map[string]int  `json:"-"`
	checks     map[string]bool `json:"-"`
}

// VerifyCounts are a verification report's headline numbers.
type VerifyCounts struct {
	Images    int `json:"images"`
	Manifests int `json:"manifests"`
	Verified  int `json:"verified"`
	Audited   int `json:"audited"`
	Warned    int `json:"warned"`
	Blocked   int `json:"blocked"`
	// PlanFailures are targets that could not be resolved at all.
	PlanFailures int `json:"planFailures"`
}

// ImageVerdict is one target (what the user named) and its manifests.
type ImageVerdict struct {
	Reference string            `json:"reference"`
	Status    string            `json:"status"`
	Manifests []ManifestVerdict `json:"manifests"`
}

// ManifestVerdict is one manifest's verdict.
type ManifestVerdict struct {
	Digest   string   `json:"digest"`
	Platform string   `json:"platform,omitempty"`
	Status   string   `json:"status"`
	Rule     string   `json:"rule,omitempty"`
	Verified []string `json:"verified,omitempty"`
	Problems []string `json:"problems,omitempty"`
	Notes    []string `json:"notes,omitempty"`
}

// NewVerifyReport starts a report.
func NewVerifyReport(tool, policy string, failures []Failure) *VerifyReport {
	return &VerifyReport{Tool: tool, StartedAt: time.Now().UTC(), Policy: policy, Images: []ImageVerdict{},
		Failures: failures, byRef: map[string]int{}, checks: map[string]bool{},
		Counts: VerifyCounts{PlanFailures: len(failures)}}
}

// Add records a check under the image its item was reached from. Safe for
// concurrent use.
func (r *VerifyReport) Add(c Check) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.byRef[c.Item.Ref]
	if !ok {
		i = len(r.Images)
		r.byRef[c.Item.Ref] = i
		r.Images = append(r.Images, ImageVerdict{Reference: c.Item.Ref, Status: VerdictVerified})
		r.Counts.Images++
	}
	img := &r.Images[i]
	img.Manifests = append(img.Manifests, ManifestVerdict{Digest: c.Item.Digest.String(), Platform: c.Item.Platform,
		Status: c.Status, Rule: c.Rule, Verified: c.Verified, Problems: c.Problems, Notes: c.Notes})
	if verdictRank(c.Status) > verdictRank(img.Status) {
		img.Status = c.Status
	}
	r.Counts.Manifests++
	switch c.Status {
	case VerdictVerified:
		r.Counts.Verified++
	case VerdictAudited:
		r.Counts.Audited++
	case VerdictWarned:
		r.Counts.Warned++
	case VerdictBlocked:
		r.Counts.Blocked++
	}
}

// ExitCode is 2 when anything is blocked or could not be resolved, else 0:
// warnings and audit findings allow.
func (r *VerifyReport) ExitCode() int {
	if r.Counts.Blocked > 0 || r.Counts.PlanFailures > 0 {
		return 2
	}
	return 0
}

// WriteTable prints the per-image verdict table and, when details is set,
// under it every manifest that is not plainly verified.
func (r *VerifyReport) WriteTable(w io.Writer, details bool) {
	r.sortManifests()
	width := len("IMAGE")
	for _, img := range r.Images {
		width = max(width, len(img.Reference))
	}
	fmt.Fprintf(w, "%-*s  %-8s  %9s  %s\n", width, "IMAGE", "VERDICT", "MANIFESTS", "DETAIL")
	for _, img := range r.Images {
		bad := 0
		for _, m := range img.Manifests {
			if m.Status != VerdictVerified {
				bad++
			}
		}
		detail := "all manifests verified"
		if bad > 0 {
			detail = fmt.Sprintf("%d of %d manifests %s or worse", bad, len(img.Manifests), img.Status)
		}
		fmt.Fprintf(w, "%-*s  %-8s  %9d  %s\n", width, img.Reference, img.Status, len(img.Manifests), detail)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "%-*s  %-8s  %9s  %s (%s)\n", width, f.Ref, "error", "-", f.Error, f.Source)
	}
	if !details {
		return
	}
	for _, img := range r.Images {
		for _, m := range img.Manifests {
			if m.Status == VerdictVerified && len(m.Notes) == 0 {
				continue
			}
			what := m.Digest
			if m.Platform != "" {
				what += " " + m.Platform
			}
			for _, p := range m.Problems {
				fmt.Fprintf(w, "  %-8s %s %s: %s\n", m.Status, img.Reference, what, p)
			}
			for _, n := range m.Notes {
				fmt.Fprintf(w, "  note     %s %s: %s\n", img.Reference, what, n)
			}
		}
	}
}

// sortManifests puts each image's index first, then its children by
// platform, so tables are stable across runs.
func (r *VerifyReport) sortManifests() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.Images {
		ms := r.Images[i].Manifests
		sort.SliceStable(ms, func(a, b int) bool {
			if (ms[a].Platform == "") != (ms[b].Platform == "") {
				return ms[a].Platform == ""
			}
			return ms[a].Platform < ms[b].Platform
		})
	}
}

// WriteMarkdown writes the verdicts as Markdown within limit bytes.
func (r *VerifyReport) WriteMarkdown(w io.Writer, limit int) error {
	r.sortManifests()
	if limit <= 0 {
		limit = MarkdownLimit
	}
	var b strings.Builder
	c := r.Counts
	b.WriteString("## signet verify\n\n")
	switch {
	case c.Blocked > 0 || c.PlanFailures > 0:
		fmt.Fprintf(&b, "❌ **%d of %d manifests blocked**", c.Blocked, c.Manifests)
		if c.PlanFailures > 0 {
			fmt.Fprintf(&b, ", %d images could not be resolved", c.PlanFailures)
		}
		b.WriteString("\n\n")
	case c.Warned > 0:
		fmt.Fprintf(&b, "⚠️ **%d of %d manifests allowed with warnings**\n\n", c.Warned, c.Manifests)
	default:
		fmt.Fprintf(&b, "✅ **All %d manifests of %d images allowed**\n\n", c.Manifests, c.Images)
	}
	fmt.Fprintf(&b, "| Verified | Audited | Warned | Blocked | Unresolved |\n|---:|---:|---:|---:|---:|\n| %d | %d | %d | %d | %d |\n\n",
		c.Verified, c.Audited, c.Warned, c.Blocked, c.PlanFailures)
	var rows []string
	for _, img := range r.Images {
		for _, m := range img.Manifests {
			for _, p := range m.Problems {
				rows = append(rows, mdRow(mdCode(img.Reference), mdCell(m.Platform, 100), m.Status, mdCell(p, 1000)))
			}
		}
	}
	for _, f := range r.Failures {
		rows = append(rows, mdRow(mdCode(f.Ref), "", "error", mdCell(f.Error, 1000)))
	}
	writeTable(&b, limit, "Problems", "| Image | Platform | Verdict | Problem |\n|---|---|---|---|\n", rows)
	_, err := io.WriteString(w, b.String())
	return err
}
