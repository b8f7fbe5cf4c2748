package batch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-project/signet/signature"
)

var _ Progress = (*progress)(nil)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// lastFrame returns the last bar drawn on a terminal.
func lastFrame(s string) string {
	s = strings.TrimSuffix(s, "\n")
	if i := strings.LastIndexAny(s, "\r\n"); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSuffix(s, "\x1b[K")
}

func TestProgressTerminal(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	var buf bytes.Buffer
	p := newProgress(&buf, nil, true, clock.now, 100*time.Millisecond, 0)
	it := testItem(t, "ghcr.io/acme/app", 1, "linux/arm64")

	p.Start(10)
	if got, want := lastFrame(buf.String()), "[>                   ] 0/10   0%  --/s  ETA --"; got != want {
		t.Errorf("first frame = %q; want %q", got, want)
	}
	// Two outcomes from the journal are instant and not in the rate.
	p.Add(Outcome{Item: it, Format: "cosign", Journal: true, Result: signature.Result{Skipped: true}})
	p.Add(Outcome{Item: it, Format: "notation", Journal: true, Result: signature.Result{Skipped: true}})
	for range 2 {
		clock.advance(time.Second)
		p.Add(Outcome{Item: it, Format: "cosign"})
	}
	if got, want := lastFrame(buf.String()), "[========>           ] 4/10  40%  1.0/s  ETA 6s"; got != want {
		t.Errorf("frame = %q; want %q", got, want)
	}

	// Redraws are throttled: a burst within 100ms draws nothing more.
	before := strings.Count(buf.String(), "\r")
	p.Add(Outcome{Item: it, Format: "cosign"})
	if n := strings.Count(buf.String(), "\r"); n != before {
		t.Errorf("redrew %d times within the interval", n-before)
	}

	// A failure is printed above the bar, and the bar shows the count.
	p.Add(Outcome{Item: it, Format: "notation", Err: errors.New("notation: denied\nby policy")})
	if !strings.Contains(buf.String(), "failed: ghcr.io/acme/app@sha256:"+strings.Repeat("0", 63)+"1 (linux/arm64) notation: notation: denied by policy\n") {
		t.Errorf("no failure line in %q", buf.String())
	}
	if got := lastFrame(buf.String()); !strings.HasSuffix(got, "failed 1") || !strings.Contains(got, " 6/10 ") {
		t.Errorf("frame = %q; want 6/10 … failed 1", got)
	}

	clock.advance(2 * time.Second)
	p.Finish()
	p.Finish() // idempotent
	out := buf.String()
	if !strings.HasSuffix(out, "\n") || strings.Count(out, "in 4s") != 1 {
		t.Errorf("Finish wrote %q; want one final frame with the elapsed time and a newline", out[strings.LastIndex(out[:len(out)-1], "\r"):])
	}
	if got, want := lastFrame(out), "[============>       ] 6/10  60%  1.0/s  in 4s  failed 1"; got != want {
		t.Errorf("final frame = %q; want %q", got, want)
	}
}

// TestProgressJSONFailureNamesTheWork: a blocked manifest in a verify run
// is logged as a failed verification, not as a failed signing.
func TestProgressJSONFailureNamesTheWork(t *testing.T) {
	for format, want := range map[string]string{"cosign": "signing failed", CheckFormat: "verification failed"} {
		var buf bytes.Buffer
		p := newProgress(nil, slog.New(slog.NewJSONHandler(&buf, nil)), false, time.Now, time.Hour, 0)
		p.Start(1)
		p.Add(Outcome{Item: testItem(t, "ghcr.io/acme/app", 1, ""), Format: format, Err: errors.New("no signature")})
		p.Finish()
		if !strings.Contains(buf.String(), `"msg":"`+want+`"`) {
			t.Errorf("%s failure logged as:\n%s\nwant %q", format, buf.String(), want)
		}
	}
}

func TestProgressJSON(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	p := newProgress(nil, log, false, clock.now, 2*time.Second, 0)
	it := testItem(t, "ghcr.io/acme/app", 1, "linux/amd64")

	p.Start(4)
	for i := range 4 {
		clock.advance(time.Second)
		o := Outcome{Item: it, Format: "cosign"}
		if i == 2 {
			o.Err = errors.New("cosign: 503")
		}
		p.Add(o)
	}
	p.Finish()

	var progress, failures []map[string]any
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", sc.Text(), err)
		}
		switch rec["msg"] {
		case "progress":
			progress = append(progress, rec)
		case "signing failed":
			failures = append(failures, rec)
		default:
			t.Errorf("unexpected record %v", rec)
		}
	}
	// At Start (0), at 2s (2 done), at 4s (4 done), and at Finish.
	var done []float64
	for _, r := range progress {
		done = append(done, r["done"].(float64))
		if r["total"].(float64) != 4 {
			t.Errorf("total = %v; want 4", r["total"])
		}
	}
	if want := []float64{0, 2, 4, 4}; !equalFloats(done, want) {
		t.Errorf("progress records done = %v; want %v", done, want)
	}
	last := progress[len(progress)-1]
	if last["failed"].(float64) != 1 || last["rate"].(float64) != 1 || last["elapsedSeconds"].(float64) != 4 {
		t.Errorf("final record = %v; want failed 1, rate 1, elapsedSeconds 4", last)
	}
	if len(failures) != 1 {
		t.Fatalf("%d failure records; want 1", len(failures))
	}
	f := failures[0]
	if f["level"] != "ERROR" || f["error"] != "cosign: 503" || f["format"] != "cosign" || f["platform"] != "linux/amd64" || f["reference"] != "ghcr.io/acme/app:v1" {
		t.Errorf("failure record = %v", f)
	}
}

// TestProgressRefresh runs the real clock and background refresh, for the
// race detector.
func TestProgressRefresh(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	w := writerFunc(func(b []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(b)
	})
	p := newProgress(w, nil, true, time.Now, time.Millisecond, time.Millisecond)
	it := testItem(t, "ghcr.io/acme/app", 1, "")
	p.Start(100)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 25 {
				p.Add(Outcome{Item: it, Format: "cosign"})
				time.Sleep(100 * time.Microsecond)
			}
		})
	}
	wg.Wait()
	p.Finish()
	mu.Lock()
	defer mu.Unlock()
	if got := lastFrame(buf.String()); !strings.HasPrefix(got, "[====================] 100/100 100%") {
		t.Errorf("final frame = %q", got)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFormatETA(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{42 * time.Second, "42s"},
		{200 * time.Second, "3m20s"},
		{2*time.Hour + 5*time.Minute + 10*time.Second, "2h05m"},
	}
	for _, tt := range tests {
		if got := formatETA(tt.d); got != tt.want {
			t.Errorf("formatETA(%v) = %q; want %q", tt.d, got, tt.want)
		}
	}
}
