package batch

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"
)

// Progress follows a run. Add is safe for concurrent use.
type Progress interface {
	// Start begins the display; total is how many outcomes are expected
	// (items times their formats).
	Start(total int)
	// Add counts one outcome.
	Add(o Outcome)
	// Finish shows the final state and stops any refreshing.
	Finish()
}

// NewProgress returns a progress display. On a terminal it is a one-line
// bar on w, redrawn at most ten times a second, with failures printed
// above it. Otherwise it logs through log (slog.Default when nil): a
// "progress" record every five seconds and at the end, and one error
// record per failure, which reads well in CI logs and parses as JSON with
// a JSON handler.
func NewProgress(w io.Writer, log *slog.Logger, terminal bool) Progress {
	if terminal {
		return newProgress(w, log, true, time.Now, 100*time.Millisecond, time.Second)
	}
	return newProgress(w, log, false, time.Now, 5*time.Second, 5*time.Second)
}

// newProgress is NewProgress with its clock and timing exposed for tests:
// every is the least time between two outputs triggered by Add, and tick,
// if positive, the period of a background refresh that keeps the rate and
// ETA (or the log) moving while no outcome arrives.
func newProgress(w io.Writer, log *slog.Logger, terminal bool, now func() time.Time, every, tick time.Duration) *progress {
	if log == nil {
		log = slog.Default()
	}
	return &progress{w: w, log: log, terminal: terminal, now: now, every: every, tick: tick}
}

type progress struct {
	w        io.Writer
	log      *slog.Logger
	terminal bool
	now      func() time.Time
	every    time.Duration
	tick     time.Duration

	mu       sync.Mutex
	total    int
	done     int
	failed   int
	journal  int // outcomes taken from the journal: instant, so not in the rate
	started  time.Time
	last     time.Time // last output
	shown    int       // failures printed on the terminal
	running  bool      // between Start and Finish
	ended    bool
	stop     chan struct{}
	finished chan struct{}
}

// maxShownFailures bounds failures printed above the bar: when a registry
// is down every item fails, and the report lists them all anyway.
const maxShownFailures = 20

func (p *progress) Start(total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total, p.started, p.running = total, p.now(), true
	p.output(true)
	if p.tick > 0 {
		p.stop, p.finished = make(chan struct{}), make(chan struct{})
		go p.refresh(p.stop, p.finished)
	}
}

func (p *progress) refresh(stop, finished chan struct{}) {
	defer close(finished)
	t := time.NewTicker(p.tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.mu.Lock()
			if p.running {
				p.output(false)
			}
			p.mu.Unlock()
		}
	}
}

func (p *progress) Add(o Outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started.IsZero() {
		p.started = p.now()
	}
	p.done++
	if o.Journal && o.Err == nil {
		p.journal++
	}
	if o.Err != nil {
		p.failed++
		p.failure(o)
	}
	p.output(o.Err != nil && p.terminal)
}

func (p *progress) failure(o Outcome) {
	it := o.Item
	if !p.terminal {
		msg := "signing failed"
		if o.Format == CheckFormat {
			msg = "verification failed"
		}
		p.log.Error(msg, "reference", it.Ref, "subject", JournalSubject(it),
			"platform", it.Platform, "format", o.Format, "error", o.Err.Error())
		return
	}
	p.shown++
	switch {
	case p.shown <= maxShownFailures:
		where := it.Ref
		if it.Platform != "" || it.Parent != "" {
			where = JournalSubject(it)
		}
		if it.Platform != "" {
			where += " (" + it.Platform + ")"
		}
		msg := strings.ReplaceAll(o.Err.Error(), "\n", " ")
		fmt.Fprintf(p.w, "\r\x1b[Kfailed: %s %s: %s\n", where, o.Format, msg)
	case p.shown == maxShownFailures+1:
		fmt.Fprintf(p.w, "\r\x1b[Kmore failures: see the report\n")
	}
}

func (p *progress) Finish() {
	p.mu.Lock()
	if p.ended || p.started.IsZero() {
		p.mu.Unlock()
		return
	}
	p.ended, p.running = true, false
	stop, finished := p.stop, p.finished
	p.mu.Unlock()
	if stop != nil {
		close(stop)
		<-finished
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminal {
		fmt.Fprintf(p.w, "\r%s\x1b[K\n", p.bar())
		return
	}
	p.logProgress(true)
}

// output draws the bar or logs, unless the last output was too recent;
// p.mu is held.
func (p *progress) output(force bool) {
	now := p.now()
	if !force && now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	if p.terminal {
		fmt.Fprintf(p.w, "\r%s\x1b[K", p.bar())
		return
	}
	p.logProgress(false)
}

// rate returns outcomes per second, leaving out journal skips: a resumed
// run skips thousands in a second, which says nothing about how fast the
// rest will go. ok is false until there is something to measure.
func (p *progress) rate() (perSec float64, ok bool) {
	elapsed := p.now().Sub(p.started).Seconds()
	work := p.done - p.journal
	if elapsed <= 0 || work <= 0 {
		return 0, false
	}
	return float64(work) / elapsed, true
}

func (p *progress) eta() (time.Duration, bool) {
	r, ok := p.rate()
	if !ok {
		return 0, false
	}
	left := max(p.total-p.done, 0)
	return time.Duration(float64(left) / r * float64(time.Second)), true
}

const barWidth = 20

// bar renders "[=====>    ] 412/2000  21%  37.5/s  ETA 42s  failed 3",
// under 80 columns so that "\r" redraws one terminal line.
func (p *progress) bar() string {
	total := max(p.total, p.done)
	fill, pct := barWidth, 100
	if total > 0 {
		fill, pct = p.done*barWidth/total, p.done*100/total
	}
	bar := strings.Repeat("=", fill)
	if fill < barWidth {
		bar += ">" + strings.Repeat(" ", barWidth-fill-1)
	}
	s := fmt.Sprintf("[%s] %d/%d %3d%%", bar, p.done, total, pct)
	if r, ok := p.rate(); ok {
		s += fmt.Sprintf("  %.1f/s", r)
	} else {
		s += "  --/s"
	}
	if d, ok := p.eta(); ok && p.running {
		s += "  ETA " + formatETA(d)
	} else if p.running {
		s += "  ETA --"
	} else {
		s += "  in " + formatETA(p.now().Sub(p.started))
	}
	if p.failed > 0 {
		s += fmt.Sprintf("  failed %d", p.failed)
	}
	return s
}

func (p *progress) logProgress(final bool) {
	r, _ := p.rate()
	attrs := []any{"done", p.done, "total", max(p.total, p.done), "failed", p.failed,
		"rate", math.Round(r*100) / 100}
	if final {
		attrs = append(attrs, "elapsedSeconds", math.Round(p.now().Sub(p.started).Seconds()*10)/10)
	} else if d, ok := p.eta(); ok {
		attrs = append(attrs, "etaSeconds", int(d.Round(time.Second).Seconds()))
	}
	p.log.Info("progress", attrs...)
}

// formatETA renders d as "42s", "3m20s" or "2h05m".
func formatETA(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
