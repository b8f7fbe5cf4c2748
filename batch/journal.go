package batch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/hsm"
)

// JournalRecord is one line of a journal: a signature the registry has
// confirmed, or found already present.
type JournalRecord struct {
	Time time.Time `json:"time"`
	// Subject is "registry/repo@sha256:…" (see JournalSubject).
	Subject string `json:"subject"`
	Format  string `json:"format"`
	// Key is the key reference, never a PIN: Record strips a pkcs11
	// pin-value.
	Key string `json:"key"`
	// Signature is the digest of the signature manifest.
	Signature string `json:"signature,omitempty"`
	// Skipped is true when the signature already existed.
	Skipped bool `json:"skipped,omitempty"`
}

// JournalSubject returns the Subject a journal records for it,
// "registry/repo@sha256:…" with the repository fully qualified, the same
// key the planner deduplicates by. (it.Ref is the reference the user
// wrote, not this.)
func JournalSubject(it Item) string { return it.Repo.Name() + "@" + it.Digest.String() }

// ErrJournalClosed is returned by Record after Close.
var ErrJournalClosed = errors.New("journal is closed")

// Journal is an append-only file of JSON lines, one per signature written,
// that lets an interrupted run resume: a rerun skips every (subject,
// format, key) it lists. Callers record a signature only after the
// registry confirmed it (RecordOutcome does this), and Record returns only
// once the record is on disk, so a crash can at worst lose the record of a
// signature that was written (which the rerun then finds present and does
// not write again), never record one that was not.
//
// Journal does not lock the file: two runs sharing one journal at the same
// time may both sign what neither has recorded yet.
type Journal struct {
	path string
	f    *os.File

	mu     sync.RWMutex // guards closed; held shared while sending on reqs
	closed bool
	reqs   chan journalWrite
	done   chan struct{} // closed when the writer goroutine exits

	setMu sync.Mutex
	set   map[journalKey]bool
	n     int
	err   error // sticky: the first write or sync failure
}

type journalKey struct{ subject, format, key string }

type journalWrite struct {
	line  []byte
	key   journalKey
	reply chan error
}

// maxJournalBatch bounds how many records one write and fsync carries, so
// a burst does not build one huge write.
const maxJournalBatch = 256

// OpenJournal opens the journal at path for appending, creating it (mode
// 0600) if need be, and loads the records it holds.
//
// A last line that is not valid JSON and has no trailing newline is a
// record torn by a crash mid-write: it is dropped, and truncated away so
// the file stays valid JSON lines. Any other bad line is an error naming
// path:line, since guessing what a damaged journal meant could sign
// something twice or not at all.
func OpenJournal(path string) (*Journal, error) {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening journal: %w", err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		// A new file's name is durable only once its directory is synced;
		// without this, a crash could lose the whole journal.
		if err := syncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, fmt.Errorf("creating journal %s: %w", path, err)
		}
	}
	j := &Journal{path: path, f: f, set: make(map[journalKey]bool)}
	if err := j.load(); err != nil {
		f.Close()
		return nil, err
	}
	j.reqs = make(chan journalWrite, maxJournalBatch)
	j.done = make(chan struct{})
	go j.writer()
	return j, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (j *Journal) load() error {
	r := bufio.NewReader(j.f)
	var off int64
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading journal %s: %w", j.path, err)
		}
		if len(line) == 0 {
			return nil
		}
		torn := line[len(line)-1] != '\n'
		if text := bytes.TrimSpace(line); len(text) > 0 {
			rec, perr := parseJournalLine(text)
			switch {
			case perr != nil && torn:
				if err := j.f.Truncate(off); err != nil {
					return fmt.Errorf("truncating torn record at %s:%d: %w", j.path, n, err)
				}
				return nil
			case perr != nil:
				return fmt.Errorf("%s:%d: %w", j.path, n, perr)
			}
			j.set[journalKey{rec.Subject, rec.Format, rec.Key}] = true
			j.n++
		}
		if torn {
			// A complete record cut just before its newline: keep it, and
			// end the line so the next record starts on its own.
			if _, err := j.f.Write([]byte("\n")); err != nil {
				return fmt.Errorf("repairing journal %s: %w", j.path, err)
			}
			return nil
		}
		off += int64(len(line))
	}
}

func parseJournalLine(text []byte) (JournalRecord, error) {
	var rec JournalRecord
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return rec, fmt.Errorf("bad journal record: %w", err)
	}
	if dec.More() {
		return rec, errors.New("bad journal record: text after the JSON object")
	}
	if rec.Subject == "" || rec.Format == "" {
		return rec, errors.New("bad journal record: no subject or format")
	}
	return rec, nil
}

// Done reports whether the journal holds a record for subject in format
// with key.
func (j *Journal) Done(subject, format, key string) bool {
	j.setMu.Lock()
	defer j.setMu.Unlock()
	return j.set[journalKey{subject, format, redactKey(key)}]
}

// Len returns how many records the journal holds.
func (j *Journal) Len() int {
	j.setMu.Lock()
	defer j.setMu.Unlock()
	return j.n
}

// Record appends r (Time defaults to now) and returns once it is on disk.
// It is safe for concurrent use. After a failed write or sync every later
// Record fails too: what reached the disk is then unknown (fsync errors
// are not reliably retryable), and a rerun should start from the file.
func (j *Journal) Record(r JournalRecord) error {
	if r.Subject == "" || r.Format == "" {
		return errors.New("recording to journal: record needs a subject and a format")
	}
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	r.Key = redactKey(r.Key)
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("recording to journal: %w", err)
	}
	w := journalWrite{line: append(line, '\n'), key: journalKey{r.Subject, r.Format, r.Key}, reply: make(chan error, 1)}
	j.mu.RLock()
	if j.closed {
		j.mu.RUnlock()
		return ErrJournalClosed
	}
	j.reqs <- w
	j.mu.RUnlock()
	return <-w.reply
}

// writer is the one goroutine that writes the file. It takes every record
// pending at once, writes them with one write and one fsync, and only then
// releases their callers (group commit). With one fsync per record,
// workers would queue on the disk's sync latency; batching lets N workers
// share each sync.
func (j *Journal) writer() {
	defer close(j.done)
	var buf []byte
	batch := make([]journalWrite, 0, maxJournalBatch)
	for w := range j.reqs {
		batch = append(batch[:0], w)
	more:
		for len(batch) < maxJournalBatch {
			select {
			case w, ok := <-j.reqs:
				if !ok {
					break more
				}
				batch = append(batch, w)
			default:
				break more
			}
		}
		err := j.err
		if err == nil {
			buf = buf[:0]
			for _, w := range batch {
				buf = append(buf, w.line...)
			}
			if _, werr := j.f.Write(buf); werr != nil {
				err = fmt.Errorf("writing journal %s: %w", j.path, werr)
			} else if serr := j.f.Sync(); serr != nil {
				err = fmt.Errorf("syncing journal %s: %w", j.path, serr)
			}
		}
		j.setMu.Lock()
		if err != nil {
			j.err = err
		} else {
			for _, w := range batch {
				j.set[w.key] = true
				j.n++
			}
		}
		j.setMu.Unlock()
		for _, w := range batch {
			w.reply <- err
		}
	}
}

// RecordOutcome records a successful outcome signed with key: a signature
// written (or found present) and so confirmed by the registry. Failures,
// and outcomes the journal itself supplied, are not recorded.
func (j *Journal) RecordOutcome(o Outcome, key string) error {
	if o.Err != nil || o.Journal {
		return nil
	}
	r := JournalRecord{Subject: JournalSubject(o.Item), Format: o.Format, Key: key, Skipped: o.Result.Skipped}
	if o.Result.Digest != (v1.Hash{}) {
		r.Signature = o.Result.Digest.String()
	}
	return j.Record(r)
}

// Close waits for pending records and closes the file.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	close(j.reqs)
	j.mu.Unlock()
	<-j.done
	if err := j.f.Close(); err != nil {
		return fmt.Errorf("closing journal %s: %w", j.path, err)
	}
	return nil
}

// hasPIN reports whether a key reference embeds a PKCS#11 PIN.
func hasPIN(key string) bool {
	return strings.HasPrefix(strings.ToLower(key), "pkcs11:") && strings.Contains(strings.ToLower(key), "pin-value=")
}

// redactKey drops pin-value attributes from a key reference so that
// journals and reports never hold a PIN (hsm.RedactPIN says how); other
// references pass through.
func redactKey(key string) string { return hsm.RedactPIN(key) }

// ScrubPIN removes the value of every pin-value attribute from a message
// that quotes user input: a key URI pasted where a reference or a mapping
// belongs must not carry its PIN into an error that CI logs show.
//
// refs are what the message may quote (command-line arguments, key
// references). A value that is one of their PINs, as written there or as
// %q escapes it, is cut exactly where that PIN ends, and what follows it
// in the message is kept. Any other value runs to the next "&" or the end
// of its line: hsm.ParseURI splits the query on "&" alone and takes
// ";", quotes, backslashes and blanks into a PIN, so nothing else in the
// message tells the end of the PIN from the text after the URI, and losing
// that text is better than printing half a PIN. A line break ends the
// value too: errors of several lines, one problem each, are common, while
// a PIN with a line break cannot be written on a catalog line, and from
// the command line it comes in refs (cli.Main passes its arguments).
func ScrubPIN(msg string, refs ...string) string {
	spans := pinValueSpans(msg, valueEndInMessage(pinForms(refs)))
	if len(spans) == 0 {
		return msg
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(msg[last:sp[0]])
		b.WriteString("REDACTED")
		last = sp[1]
	}
	b.WriteString(msg[last:])
	return b.String()
}

// PINValues returns the values of the pin-value attributes in ref, one
// key reference or command-line argument, as they are written there
// (percent-encoded, as in the URI) and as hsm.ParseURI reads them: each up
// to the next "&" or the end of ref. GitHub masking needs them whole.
func PINValues(ref string) []string {
	var vals []string
	for _, sp := range pinValueSpans(ref, valueEndInReference) {
		if sp[1] > sp[0] {
			vals = append(vals, ref[sp[0]:sp[1]])
		}
	}
	return vals
}

const pinAttr = "pin-value="

// pinValueSpans returns where the value of each pin-value attribute in s
// begins and ends; valueEnd, given s from where a value begins, says where
// that value ends.
func pinValueSpans(s string, valueEnd func(v string) int) [][2]int {
	var spans [][2]int
	for off := 0; ; {
		i := indexPINValue(s[off:])
		if i < 0 {
			return spans
		}
		start := off + i
		end := start + valueEnd(s[start:])
		spans = append(spans, [2]int{start, end})
		off = end
	}
}

// valueEndInReference ends a value where hsm.ParseURI does, which splits
// the query on "&" and nothing else.
func valueEndInReference(v string) int {
	if i := strings.IndexByte(v, '&'); i >= 0 {
		return i
	}
	return len(v)
}

// valueEndInMessage ends a value in a message (see ScrubPIN) after the
// longest of the known PIN forms it starts with, if the message goes on
// there as it would after a URI (next attribute, closing quote, blank,
// punctuation), and otherwise at the next "&" or line break. The check
// keeps an unknown PIN that merely starts like a known one from being cut
// short, unless it goes on with one of those characters.
func valueEndInMessage(known []string) func(v string) int {
	return func(v string) int {
		for _, k := range known {
			if rest, ok := strings.CutPrefix(v, k); ok && (rest == "" || strings.IndexByte("&\"' \t\r\n:,)", rest[0]) >= 0) {
				return len(k)
			}
		}
		if i := strings.IndexAny(v, "&\r\n"); i >= 0 {
			return i
		}
		return len(v)
	}
}

// pinForms returns the PINs of refs in the forms a message may quote them
// in: as written, and escaped as %q and %+q escape them (a quoted PIN with
// a quote or a backslash reads differently), longest first so that a PIN
// is not cut at another that begins it.
func pinForms(refs []string) []string {
	seen := map[string]bool{}
	var forms []string
	for _, ref := range refs {
		for _, v := range PINValues(ref) {
			q, qa := strconv.Quote(v), strconv.QuoteToASCII(v)
			for _, f := range []string{v, q[1 : len(q)-1], qa[1 : len(qa)-1]} { // without the quotes around it
				if !seen[f] {
					seen[f] = true
					forms = append(forms, f)
				}
			}
		}
	}
	slices.SortStableFunc(forms, func(a, b string) int { return len(b) - len(a) })
	return forms
}

// indexPINValue returns where the value of the first "pin-value="
// (in any case) in s begins, or -1. It compares byte for byte rather than
// lower-casing s, whose length lower-casing may change.
func indexPINValue(s string) int {
	for i := 0; i+len(pinAttr) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(pinAttr)], pinAttr) {
			return i + len(pinAttr)
		}
	}
	return -1
}
