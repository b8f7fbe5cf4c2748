package batch

import (
	"context"
	"fmt"
	"math/rand/v2"
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
	Item     Item
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
	// OnCheck, when set, sees every verification check as it completes
	// (progress, report), from many goroutines at once.
	OnCheck func(Check)
}

// Run signs every item in every format it asks for. A failing item never
// stops the others. When ctx is cancelled Run stops taking items, lets
// in-flight ones finish within Grace, and returns; items never started
// have no outcome.
func (r *Runner) Run(ctx context.Context, items []Item) []Outcome {
	out := make([][]Outcome, len(items))
	r.each(ctx, items, func(work context.Context, i int, it Item) { out[i] = r.one(work, it) })
	var all []Outcome
	for _, o := range out {
		all = append(all, o...)
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

func (r *Runner) one(ctx context.Context, it Item) []Outcome {
	formats, err := r.Formats(it)
	if err != nil {
		return []Outcome{r.emit(Outcome{Item: it, Format: "-", Err: err})}
	}
	outs := make([]Outcome, 0, len(formats))
	for _, f := range formats {
		if r.Done != nil && r.Done(it, f.Name()) {
			outs = append(outs, r.emit(Outcome{Item: it, Format: f.Name(), Journal: true,
				Result: signature.Result{Format: f.Name(), Skipped: true}}))
			continue
		}
		outs = append(outs, r.emit(r.sign(ctx, it, f)))
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
