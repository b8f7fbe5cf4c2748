package batch

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
)

// Format signs one subject in one signature format and stores the result.
// Implementations are safe for concurrent use.
type Format interface {
	Name() string
	Sign(ctx context.Context, s signature.Subject) (signature.Result, error)
}

// Outcome is what happened to one item in one format.
type Outcome struct {
	Item Item
	// Pos is Item's position in the items Run was given; a report finds
	// the manifest by it without a lookup (and checks that it matches).
	Pos      int
	Format   string
	Result   signature.Result
	Err      error
	Attempts int
	Duration time.Duration
	// Journal is true when the journal showed the work done by an earlier
	// run, so nothing was sent to the registry.
	Journal bool
}

// Runner signs planned items through a bounded pool of workers.
type Runner struct {
	// Workers bounds concurrent items (default 1). Workers share whatever
	// the formats share, in particular one pool of HSM sessions: a worker
	// waits for a free session, so sessions may be fewer than workers.
	Workers int
	// Formats returns the formats to sign item in, resolved from the item's
	// settings (its key and format names).
	Formats func(Item) ([]Format, error)
	// OnOutcome, when set, sees every outcome as it happens, from many
	// goroutines at once (journal, report, progress). An error it returns
	// (a journal that cannot be written) is recorded as the outcome's error.
	OnOutcome func(Outcome) error
	// Done, when set, reports that item was signed in format by an earlier
	// run (the journal), so it is not touched again.
	Done func(item Item, format string) bool
	// Retries is how many more times an item is tried after a transient
	// failure that outlived the registry client's own request retries (a
	// registry restarting, say). Default 0.
	Retries int
	// Grace bounds how long in-flight items may run once ctx is cancelled
	// (SIGINT, SIGTERM): no new item starts, and those started get this long
	// to finish and be journaled before their requests are cancelled too.
	// Zero cancels them at once.
	Grace time.Duration
	// Discard makes Run keep no outcome and return nil: OnOutcome is then
	// the only way to see them. A caller that records outcomes as they
	// happen (a report, a journal) sets it so that a run over a catalog
	// of many thousands of manifests does not also hold an Outcome, and
	// the Item inside it, per manifest until the end.
	Discard bool
	// OnCheck, when set, sees every verification check as it completes
	// (progress, report), from many goroutines at once.
	OnCheck func(Check)
}

// Run signs every item in every format it asks for. A failing item never
// stops the others. When ctx is cancelled Run stops taking items, lets
// in-flight ones finish within Grace, and returns; items never started
// have no outcome.
func (r *Runner) Run(ctx context.Context, items []Item) []Outcome {
	if r.Discard {
		r.each(ctx, items, func(work context.Context, i int, it Item) { r.one(work, i, it) })
		return nil
	}
	// Nearly every item has one outcome (one format), so each item's first
	// outcome goes into one flat slice, returned as it is when no item had
	// more: a run keeps one Outcome per item, not a small slice per item
	// and then a copy of them all.
	first := make([]Outcome, len(items))
	var (
		mu   sync.Mutex
		more map[int][]Outcome
	)
	r.each(ctx, items, func(work context.Context, i int, it Item) {
		outs := r.one(work, i, it)
		if len(outs) == 0 {
			return
		}
		first[i] = outs[0]
		if len(outs) > 1 {
			mu.Lock()
			if more == nil {
				more = map[int][]Outcome{}
			}
			more[i] = outs[1:]
			mu.Unlock()
		}
	})
	// An item with outcomes has a Format ("-" when its formats could not
	// be resolved); items never started or without formats have none.
	if len(more) == 0 {
		n := 0
		for i := range first {
			if first[i].Format != "" {
				first[n] = first[i]
				n++
			}
		}
		clear(first[n:])
		if n == 0 {
			return nil
		}
		return first[:n]
	}
	var all []Outcome
	for i := range first {
		if first[i].Format != "" {
			all = append(all, first[i])
			all = append(all, more[i]...)
		}
	}
	return all
}

// each runs fn for every item through the bounded pool, with Run's
// cancellation rules: no item starts once ctx is done, and started ones
// run on a context that outlives ctx by Grace.
func (r *Runner) each(ctx context.Context, items []Item, fn func(work context.Context, i int, it Item)) {
	workers := max(r.Workers, 1)
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopGrace := context.AfterFunc(ctx, func() {
		if r.Grace <= 0 {
			cancelWork()
			return
		}
		t := time.AfterFunc(r.Grace, cancelWork)
		context.AfterFunc(work, func() { t.Stop() })
	})
	defer stopGrace()

	var g errgroup.Group
	g.SetLimit(workers)
	for i, it := range items {
		if ctx.Err() != nil {
			break
		}
		// Go blocks while all workers are busy; a cancellation during that
		// wait must not start one more item.
		g.Go(func() error {
			if ctx.Err() != nil {
				return nil
			}
			fn(work, i, it)
			return nil
		})
	}
	_ = g.Wait()
}

func (r *Runner) one(ctx context.Context, pos int, it Item) []Outcome {
	formats, err := r.Formats(it)
	if err != nil {
		return []Outcome{r.emit(Outcome{Item: it, Pos: pos, Format: "-", Err: err})}
	}
	outs := make([]Outcome, 0, len(formats))
	for _, f := range formats {
		if r.Done != nil && r.Done(it, f.Name()) {
			outs = append(outs, r.emit(Outcome{Item: it, Pos: pos, Format: f.Name(), Journal: true,
				Result: signature.Result{Format: f.Name(), Skipped: true}}))
			continue
		}
		o := r.sign(ctx, it, f)
		o.Pos = pos
		outs = append(outs, r.emit(o))
	}
	return outs
}

func (r *Runner) sign(ctx context.Context, it Item, f Format) Outcome {
	start := time.Now()
	o := Outcome{Item: it, Format: f.Name()}
	backoff := 500 * time.Millisecond
	for {
		o.Attempts++
		o.Result, o.Err = f.Sign(ctx, it.Subject)
		if o.Err == nil || o.Attempts > r.Retries || !registry.IsTemporary(o.Err) || ctx.Err() != nil {
			break
		}
		// Full jitter: many workers failing together (a registry restart)
		// must not come back together.
		d := time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	if o.Err != nil {
		o.Err = fmt.Errorf("%s: %w", f.Name(), o.Err)
	}
	o.Duration = time.Since(start)
	return o
}

func (r *Runner) emit(o Outcome) Outcome {
	if r.OnOutcome != nil {
		if err := r.OnOutcome(o); err != nil && o.Err == nil {
			o.Err = err
		}
	}
	return o
}
