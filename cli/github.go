package cli

// GitHub Actions support: signet speaks the runner's workflow-command
// protocol itself, so a plain `run: signet batch …` step gets annotations,
// masked secrets, step outputs and a job summary without a wrapper script.
// The composite action (action.yml) relies on this too.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/signet-project/signet/batch"
	"github.com/signet-project/signet/hsm"
)

const (
	// maxErrorAnnotations is how many ::error annotations the runner shows
	// for one step; it drops further ones silently, so signet stops there
	// and says where the rest are.
	maxErrorAnnotations = 10
	// summaryLimit is the most $GITHUB_STEP_SUMMARY may hold for one
	// step: past it GitHub drops the whole summary, not just the excess.
	summaryLimit = 1 << 20
	// minSummary is the least room worth writing a summary into: less
	// cannot hold even the headline counts, and a cut header helps nobody.
	minSummary = 1 << 10
	// maxAnnotationMessage bounds one annotation's text: a registry's HTML
	// error page is no help in a PR's annotation list; the summary and the
	// JSON report keep the full error.
	maxAnnotationMessage = 2000
)

// githubFlags decide what signet writes for GitHub Actions besides its
// annotations, which it emits whenever GITHUB_ACTIONS=true.
type githubFlags struct {
	// outputs writes step outputs to $GITHUB_OUTPUT and appends the
	// Markdown report to $GITHUB_STEP_SUMMARY.
	outputs bool
}

func (gh *githubFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&gh.outputs, "github", envTrue("SIGNET_GITHUB"),
		"under GitHub Actions, also write step outputs (signed, failed, report, digests) to $GITHUB_OUTPUT and the summary to $GITHUB_STEP_SUMMARY (default $SIGNET_GITHUB)")
}

// envTrue reads a boolean environment variable the way strconv does ("1",
// "true", …); anything else, unset included, is false.
func envTrue(name string) bool {
	v, err := strconv.ParseBool(os.Getenv(name))
	return err == nil && v
}

// inGitHubActions reports whether signet runs as a GitHub Actions step,
// where stdout is parsed for workflow commands.
func inGitHubActions() bool { return os.Getenv("GITHUB_ACTIONS") == "true" }

// mask registers every secret signet may handle with the runner
// (::add-mask::), so that the runner blanks them wherever they would
// appear in the log. It runs before anything else of the run prints. The
// secrets are the PINs of the key references (pin-value, or the content
// of the pin-source file) and the PIN and password variables. signet never
// prints them itself; masking guards against everything else in the step
// (a shell's `set -x`, a tool that echoes its environment). Outside GitHub
// Actions it prints nothing: an ::add-mask:: line on a terminal would show
// the very secret it hides.
func (gh *githubFlags) mask(w io.Writer, keyFlag string, targets []batch.Target) {
	refs := []string{keyFlag, os.Getenv("SIGNET_KEY")}
	for _, t := range targets {
		// A target's own reference is a command-line argument or a catalog
		// line, where a key URI pasted in place of an image brings its PIN.
		refs = append(refs, t.Settings.Key, t.Ref)
	}
	maskRefs(w, refs)
}

// maskRefs is mask for any references: those carrying a PIN have it
// masked, in the form the URI spells it and as the token gets it.
func maskRefs(w io.Writer, refs []string) {
	if !inGitHubActions() {
		return
	}
	var secrets [][]byte
	seen := map[string]bool{}
	for _, ref := range refs {
		if ref == "" || seen[ref] {
			continue
		}
		seen[ref] = true
		if strings.HasPrefix(strings.ToLower(ref), "pkcs11:") {
			// PIN falls back to SIGNET_PKCS11_PIN, masked below anyway.
			if u, err := hsm.ParseURI(ref); err == nil {
				if pin, err := u.PIN(); err == nil && len(pin) > 0 {
					secrets = append(secrets, pin)
				}
			}
		}
		// Also as written, percent-encoded: what an echo of the command
		// line shows, and all there is when the URI does not parse.
		for _, v := range batch.PINValues(ref) {
			secrets = append(secrets, []byte(v))
		}
	}
	for _, v := range []string{"SIGNET_PKCS11_PIN", "SIGNET_KEY_PASSWORD", "COSIGN_PASSWORD"} {
		if s := os.Getenv(v); s != "" {
			secrets = append(secrets, []byte(s))
		}
	}
	masked := map[string]bool{}
	for _, s := range secrets {
		if !masked[string(s)] {
			masked[string(s)] = true
			writeMask(w, s)
		}
	}
}

// writeMask writes ::add-mask:: for each line of secret: the runner masks
// a value line by line, so a multi-line secret registered whole would
// still show.
func writeMask(w io.Writer, secret []byte) {
	for _, line := range bytes.Split(secret, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		io.WriteString(w, "::add-mask::"+escapeData(string(line))+"\n")
	}
}

// finish reports a finished run to GitHub Actions: annotations for the
// failures, and with --github the step outputs and the summary. Outside
// GitHub Actions it does nothing.
func (gh *githubFlags) finish(w io.Writer, r *batch.Report, reportPath string) error {
	if !inGitHubActions() {
		return nil
	}
	writeAnnotations(w, r)
	if !gh.outputs {
		return nil
	}
	if path := os.Getenv("GITHUB_OUTPUT"); path != "" {
		if err := appendFile(path, stepOutputs(r, reportPath)); err != nil {
			return fmt.Errorf("writing step outputs to $GITHUB_OUTPUT: %w", err)
		}
	}
	if path := os.Getenv("GITHUB_STEP_SUMMARY"); path != "" {
		if err := appendSummary(w, path, r); err != nil {
			return fmt.Errorf("writing the step summary to $GITHUB_STEP_SUMMARY: %w", err)
		}
	}
	return nil
}

// annotation is one ::error or ::warning workflow command.
type annotation struct {
	level string // error or warning
	title string
	file  string
	line  int
	msg   string
}

func (a annotation) String() string {
	var props []string
	if a.file != "" {
		props = append(props, "file="+escapeProperty(a.file))
		if a.line > 0 {
			props = append(props, "line="+strconv.Itoa(a.line))
		}
	}
	if a.title != "" {
		props = append(props, "title="+escapeProperty(a.title))
	}
	s := "::" + a.level
	if len(props) > 0 {
		s += " " + strings.Join(props, ",")
	}
	return s + "::" + escapeData(truncateText(a.msg, maxAnnotationMessage)) + "\n"
}

// failureAnnotations lists one ::error per failure: targets that could not
// be planned first (a wrong tag in the catalog is the likeliest mistake),
// then each failed format of each manifest, in plan order.
func failureAnnotations(r *batch.Report) []annotation {
	var out []annotation
	for _, f := range r.Failures {
		a := annotation{level: "error", title: "signet: cannot sign " + f.Ref, msg: f.Error}
		a.file, a.line = sourceLocation(f.Source)
		out = append(out, a)
	}
	for m := range r.All() {
		for _, f := range m.Formats {
			if f.Status != batch.StatusFailed {
				continue
			}
			subject := m.Name()
			if m.Platform != "" {
				subject += " (" + m.Platform + ")"
			}
			a := annotation{level: "error", title: "signet: " + f.Format + " signing failed", msg: subject + ": " + f.Error}
			if m.Reference != "" && m.Reference != m.Name() {
				a.msg = subject + " from " + m.Reference + ": " + f.Error
			}
			a.file, a.line = sourceLocation(m.Source)
			out = append(out, a)
		}
	}
	return out
}

// writeAnnotations writes the first maxErrorAnnotations failures as
// ::error and, when there are more, one ::warning saying so: the runner
// would drop the rest without a word.
func writeAnnotations(w io.Writer, r *batch.Report) {
	all := failureAnnotations(r)
	var b strings.Builder
	for i, a := range all {
		if i == maxErrorAnnotations {
			break
		}
		b.WriteString(a.String())
	}
	if n := len(all) - maxErrorAnnotations; n > 0 {
		b.WriteString(annotation{level: "warning", title: "signet: more failures",
			msg: fmt.Sprintf("%d more failures are not annotated (GitHub shows %d per step); the step summary and the JSON report list every failure", n, maxErrorAnnotations)}.String())
	}
	io.WriteString(w, b.String())
}

// sourceLocation turns a catalog location "file:line" into annotation
// properties, so that GitHub marks the catalog line in a pull request's
// diff. Absolute paths are left out: they are temporary files (the
// action's list of images), not files of the repository.
func sourceLocation(src string) (file string, line int) {
	i := strings.LastIndexByte(src, ':')
	if i <= 0 {
		return "", 0
	}
	n, err := strconv.Atoi(src[i+1:])
	if err != nil || n < 1 {
		return "", 0
	}
	file = src[:i]
	if filepath.IsAbs(file) || file == "-" || strings.HasPrefix(file, "argument ") {
		return "", 0
	}
	return filepath.ToSlash(filepath.Clean(file)), n
}

// escapeData escapes a workflow command's message the way the runner
// unescapes it: "%" first, so that an escape already in the text survives.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeProperty escapes a workflow command property: as data, plus ":"
// (which would end the properties) and "," (which would start the next).
func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// stepOutputs renders the outputs of a run in $GITHUB_OUTPUT's format:
//
//	signed   manifests that now carry every requested signature (new,
//	         already present, or recorded by the journal)
//	failed   manifests with a failed format, targets that could not be
//	         planned, and manifests an interrupted run never started
//	report   the absolute path of the JSON report, when --report was given
//	digests  a JSON list of the signed manifests as "repo@digest", one per
//	         line, so in the multi-line form
func stepOutputs(r *batch.Report, reportPath string) string {
	signed := signedRefs(r)
	failed := len(r.Failures)
	for m := range r.All() {
		if (len(m.Formats) == 0 && !r.DryRun) || manifestFailed(m) {
			failed++
		}
	}
	var b strings.Builder
	writeOutput(&b, "signed", strconv.Itoa(len(signed)))
	writeOutput(&b, "failed", strconv.Itoa(failed))
	if reportPath != "" {
		if abs, err := filepath.Abs(reportPath); err == nil {
			reportPath = abs
		}
		writeOutput(&b, "report", reportPath)
	}
	list, _ := json.MarshalIndent(signed, "", "  ") // []string always marshals
	writeOutput(&b, "digests", string(list))
	return b.String()
}

// signedRefs lists the manifests of r with at least one outcome and no
// failed format, in plan order.
func signedRefs(r *batch.Report) []string {
	out := []string{}
	for m := range r.All() {
		if len(m.Formats) > 0 && !manifestFailed(m) {
			out = append(out, m.Name())
		}
	}
	return out
}

func manifestFailed(m batch.ManifestReport) bool {
	for _, f := range m.Formats {
		if f.Status == batch.StatusFailed {
			return true
		}
	}
	return false
}

// writeOutput appends one name/value pair in $GITHUB_OUTPUT's format
// (also $GITHUB_ENV's): "name=value" on one line, or for a value with a
// line break the heredoc form with a random delimiter, which a value
// cannot end early by containing it.
func writeOutput(b *strings.Builder, name, value string) {
	if !strings.ContainsAny(value, "\r\n") {
		fmt.Fprintf(b, "%s=%s\n", name, value)
		return
	}
	delim := newDelimiter()
	for strings.Contains(value, delim) {
		delim = newDelimiter()
	}
	fmt.Fprintf(b, "%s<<%s\n%s\n%s\n", name, delim, value, delim)
}

// newDelimiter returns "ghadelimiter_" and 32 random hex digits, the form
// GitHub's own toolkit uses.
// It is a variable so that a test can make it repeat itself.
var newDelimiter = func() string {
	var r [16]byte
	rand.Read(r[:]) // never fails (crypto/rand panics instead)
	return "ghadelimiter_" + hex.EncodeToString(r[:])
}

// appendSummary appends r's Markdown report to the step summary file in
// what room is left of summaryLimit after what the step already wrote
// there (capped at batch.MarkdownLimit, leaving the rest of the step
// room of its own). With less than minSummary left it writes nothing, and
// says so in a warning annotation on w instead.
func appendSummary(w io.Writer, path string, r *batch.Report) error {
	var used int64
	if st, err := os.Stat(path); err == nil {
		used = st.Size()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	sep := ""
	if used > 0 {
		sep = "\n"
	}
	budget := min(int64(batch.MarkdownLimit), summaryLimit-used-int64(len(sep)))
	if budget < minSummary {
		io.WriteString(w, annotation{level: "warning", title: "signet: step summary full",
			msg: fmt.Sprintf("the step summary already holds %d of the %d bytes GitHub accepts; the report is not added to it", used, summaryLimit)}.String())
		return nil
	}
	var b strings.Builder
	b.WriteString(sep)
	if err := r.WriteMarkdown(&b, int(budget)); err != nil {
		return err
	}
	return appendFile(path, b.String())
}

// appendFile appends s to path, creating it if needed: the runner creates
// its command files, but a script testing signet may not.
func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// truncateText cuts s to at most n bytes at a character boundary, ending
// with "…" when it cut.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ell = "…"
	cut := n - len(ell)
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + ell
}
