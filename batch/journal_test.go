package batch

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-project/signet/signature"
)

func openJournal(t testing.TB, path string) *Journal {
	t.Helper()
	j, err := OpenJournal(path)
	if err != nil {
		t.Fatalf("OpenJournal(%s): %v", path, err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func subject(i int) string { return fmt.Sprintf("ghcr.io/acme/app@sha256:%064x", i) }

func TestJournalRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j := openJournal(t, path)
	recs := []JournalRecord{
		{Subject: subject(1), Format: "cosign", Key: "cosign.key", Signature: dig1},
		{Subject: subject(1), Format: "notation", Key: "cosign.key", Skipped: true},
		{Subject: subject(2), Format: "cosign", Key: "pkcs11:token=t;object=k?pin-value=1234&module-name=softhsm2"},
	}
	for _, r := range recs {
		if err := j.Record(r); err != nil {
			t.Fatalf("Record(%+v): %v", r, err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Record(recs[0]); !errors.Is(err, ErrJournalClosed) {
		t.Errorf("Record after Close = %v; want ErrJournalClosed", err)
	}

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "1234") {
		t.Errorf("journal holds the PIN:\n%s", data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode = %v; want 0600", fi.Mode().Perm())
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("journal has %d lines; want 3:\n%s", len(lines), data)
	}
	var first JournalRecord
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.Time.IsZero() || first.Signature != dig1 || first.Subject != subject(1) {
		t.Errorf("first record = %+v", first)
	}

	j2 := openJournal(t, path)
	if j2.Len() != 3 {
		t.Errorf("Len() = %d; want 3", j2.Len())
	}
	tests := []struct {
		subject, format, key string
		want                 bool
	}{
		{subject(1), "cosign", "cosign.key", true},
		{subject(1), "notation", "cosign.key", true}, // skipped counts as done
		{subject(1), "cosign", "other.key", false},
		{subject(1), "sigstore-bundle", "cosign.key", false},
		{subject(3), "cosign", "cosign.key", false},
		// The PIN is not part of the key's identity.
		{subject(2), "cosign", "pkcs11:token=t;object=k?pin-value=1234&module-name=softhsm2", true},
		{subject(2), "cosign", "pkcs11:token=t;object=k?module-name=softhsm2", true},
	}
	for _, tt := range tests {
		if got := j2.Done(tt.subject, tt.format, tt.key); got != tt.want {
			t.Errorf("Done(%s, %s, %s) = %v; want %v", tt.subject, tt.format, tt.key, got, tt.want)
		}
	}

	// Reopening appends.
	if err := j2.Record(JournalRecord{Subject: subject(3), Format: "cosign", Key: "k"}); err != nil {
		t.Fatal(err)
	}
	if !j2.Done(subject(3), "cosign", "k") || j2.Len() != 4 {
		t.Errorf("after Record: Done = %v, Len = %d; want true, 4", j2.Done(subject(3), "cosign", "k"), j2.Len())
	}
	j2.Close()
	if j3 := openJournal(t, path); j3.Len() != 4 {
		t.Errorf("reopened Len() = %d; want 4", j3.Len())
	}
}

func TestJournalConcurrentRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	j := openJournal(t, path)
	const goroutines, each = 32, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				if err := j.Record(JournalRecord{Subject: subject(g*each + i), Format: "cosign", Key: "k"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j2 := openJournal(t, path)
	if j2.Len() != goroutines*each {
		t.Errorf("Len() = %d; want %d", j2.Len(), goroutines*each)
	}
	for i := range goroutines * each {
		if !j2.Done(subject(i), "cosign", "k") {
			t.Fatalf("Done(%s) = false; want true", subject(i))
		}
	}
}

func TestJournalDamage(t *testing.T) {
	good := func(i int) string {
		b, _ := json.Marshal(JournalRecord{Time: time.Unix(0, 0).UTC(), Subject: subject(i), Format: "cosign", Key: "k"})
		return string(b) + "\n"
	}
	tests := []struct {
		name     string
		content  string
		wantErr  string // substring; "" for no error
		wantLen  int
		wantFile string // content after opening and recording subject(9)
	}{{
		name:     "torn last line is dropped",
		content:  good(1) + good(2)[:30],
		wantLen:  1,
		wantFile: good(1) + good(9),
	}, {
		name:     "complete last record without newline is kept",
		content:  good(1) + strings.TrimSuffix(good(2), "\n"),
		wantLen:  2,
		wantFile: good(1) + good(2) + good(9),
	}, {
		name:     "blank lines are ignored",
		content:  good(1) + "\n" + good(2),
		wantLen:  2,
		wantFile: good(1) + "\n" + good(2) + good(9),
	}, {
		name:    "corrupt middle line",
		content: good(1) + "{not json\n" + good(2),
		wantErr: "journal.jsonl:2: bad journal record",
	}, {
		name:    "corrupt last line with newline",
		content: good(1) + good(2)[:30] + "\n",
		wantErr: "journal.jsonl:2: bad journal record",
	}, {
		name:    "record without subject",
		content: `{"format":"cosign"}` + "\n",
		wantErr: "journal.jsonl:1: bad journal record: no subject",
	}, {
		name:    "unknown field",
		content: `{"subject":"x","format":"cosign","sig":"y"}` + "\n",
		wantErr: "journal.jsonl:1: bad journal record",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal.jsonl")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			j, err := OpenJournal(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("OpenJournal() error = %v; want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenJournal(): %v", err)
			}
			if j.Len() != tt.wantLen {
				t.Errorf("Len() = %d; want %d", j.Len(), tt.wantLen)
			}
			if err := j.Record(JournalRecord{Time: time.Unix(0, 0).UTC(), Subject: subject(9), Format: "cosign", Key: "k"}); err != nil {
				t.Fatal(err)
			}
			j.Close()
			got, _ := os.ReadFile(path)
			if string(got) != tt.wantFile {
				t.Errorf("file =\n%s\nwant\n%s", got, tt.wantFile)
			}
		})
	}
}

func TestRedactKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"cosign.key", "cosign.key"},
		{"pkcs11:token=t;object=k", "pkcs11:token=t;object=k"},
		{"pkcs11:token=t?pin-value=1234", "pkcs11:token=t"},
		{"pkcs11:token=t?module-name=x&pin-value=1234", "pkcs11:token=t?module-name=x"},
		{"pkcs11:token=t?pin-source=/run/pin", "pkcs11:token=t?pin-source=/run/pin"},
		{"pkcs11:token=t?pin-value=s3c;ret&module-name=x", "pkcs11:token=t?module-name=x"},
		{"pkcs11:token=t?pin-value=a&pin-value=b", "pkcs11:token=t"},
		// In the path, where ParseURI refuses it, the PIN may hold the
		// ";" or "?": everything to the next "&" goes.
		{"PKCS11:pin-value=1234;token=t", "PKCS11:"},
		{"pkcs11:token=t;pin-value=s3c;ret?x=y&module-name=x", "pkcs11:token=t?module-name=x"},
	}
	for _, tt := range tests {
		if got := redactKey(tt.in); got != tt.want {
			t.Errorf("redactKey(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// mutexJournal is the simple design Journal is measured against: each
// Record writes and fsyncs under a mutex.
type mutexJournal struct {
	mu sync.Mutex
	f  *os.File
}

func (m *mutexJournal) Record(r JournalRecord) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.f.Write(append(line, '\n')); err != nil {
		return err
	}
	return m.f.Sync()
}

// BenchmarkJournalRecord compares group commit (Journal) with one fsync
// per record under a mutex, with as many concurrent callers as
// b.SetParallelism gives (GOMAXPROCS × p).
func BenchmarkJournalRecord(b *testing.B) {
	type recorder interface{ Record(JournalRecord) error }
	impls := []struct {
		name string
		open func(b *testing.B, path string) recorder
	}{
		{"group", func(b *testing.B, path string) recorder { return openJournal(b, path) }},
		{"mutex", func(b *testing.B, path string) recorder {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { f.Close() })
			return &mutexJournal{f: f}
		}},
	}
	for _, impl := range impls {
		for _, par := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/callers=%dxGOMAXPROCS", impl.name, par), func(b *testing.B) {
				j := impl.open(b, filepath.Join(b.TempDir(), "journal.jsonl"))
				var n atomic.Int64
				b.SetParallelism(par)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := n.Add(1)
						if err := j.Record(JournalRecord{Subject: subject(int(i)), Format: "cosign", Key: "k"}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

func TestJournalRecordOutcome(t *testing.T) {
	j := openJournal(t, filepath.Join(t.TempDir(), "journal.jsonl"))
	it := testItem(t, "ghcr.io/acme/app", 1, "")
	outcomes := []Outcome{
		{Item: it, Format: "cosign", Result: signature.Result{Digest: sigHash(1)}},
		{Item: it, Format: "notation", Result: signature.Result{Digest: sigHash(2), Skipped: true}},
		{Item: it, Format: "sigstore-bundle", Err: errors.New("denied")},
		{Item: it, Format: "other", Journal: true, Result: signature.Result{Skipped: true}},
	}
	for _, o := range outcomes {
		if err := j.RecordOutcome(o, "cosign.key"); err != nil {
			t.Fatal(err)
		}
	}
	s := JournalSubject(it)
	if s != "ghcr.io/acme/app@sha256:"+strings.Repeat("0", 63)+"1" {
		t.Errorf("JournalSubject() = %q", s)
	}
	for format, want := range map[string]bool{"cosign": true, "notation": true, "sigstore-bundle": false, "other": false} {
		if got := j.Done(s, format, "cosign.key"); got != want {
			t.Errorf("Done(%s) = %v; want %v", format, got, want)
		}
	}
	if j.Len() != 2 {
		t.Errorf("Len() = %d; want 2", j.Len())
	}
}
