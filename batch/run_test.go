package batch

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/signature"
)

// countFormat "signs" by counting: the runner's bookkeeping is what these
// tests are about, and the formats have tests of their own on real
// registries.
type countFormat struct {
	name string
	n    atomic.Int64
}

func (f *countFormat) Name() string { return f.name }
func (f *countFormat) Sign(_ context.Context, s signature.Subject) (signature.Result, error) {
	f.n.Add(1)
	return signature.Result{Format: f.name, Digest: s.Digest}, nil
}

func runnerItems(n int) []Item {
	items := make([]Item, n)
	for i := range items {
		items[i].Digest = v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%064x", i)}
	}
	return items
}

func TestRunnerOutcomes(t *testing.T) {
	a, b := &countFormat{name: "a"}, &countFormat{name: "b"}
	items := runnerItems(50)
	tests := []struct {
		name    string
		formats func(Item) ([]Format, error)
		discard bool
		want    int // outcomes returned
		seen    int // outcomes OnOutcome sees
	}{
		{"one format", func(Item) ([]Format, error) { return []Format{a}, nil }, false, 50, 50},
		{"two formats", func(Item) ([]Format, error) { return []Format{a, b}, nil }, false, 100, 100},
		{"some items two", func(it Item) ([]Format, error) {
			if it.Digest.Hex[63] == '3' {
				return []Format{a, b}, nil
			}
			return []Format{a}, nil
		}, false, 53, 53}, // items 3, 19 and 35 have two
		{"no formats", func(Item) ([]Format, error) { return nil, nil }, false, 0, 0},
		{"formats fail", func(Item) ([]Format, error) { return nil, errors.New("no key") }, false, 50, 50},
		{"discard", func(Item) ([]Format, error) { return []Format{a, b}, nil }, true, 0, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen, misplaced atomic.Int64
			r := &Runner{Workers: 4, Formats: tt.formats, Discard: tt.discard,
				OnOutcome: func(o Outcome) error {
					seen.Add(1)
					// Reports find the manifest by Pos.
					if o.Pos < 0 || o.Pos >= len(items) || items[o.Pos].Digest != o.Item.Digest {
						misplaced.Add(1)
					}
					return nil
				}}
			outs := r.Run(context.Background(), items)
			if len(outs) != tt.want || int(seen.Load()) != tt.seen {
				t.Fatalf("Run() = %d outcomes, OnOutcome saw %d; want %d and %d", len(outs), seen.Load(), tt.want, tt.seen)
			}
			if n := misplaced.Load(); n > 0 {
				t.Errorf("%d outcomes have a Pos that is not their item's position", n)
			}
			// Outcomes come in item order, each item's formats together.
			last := -1
			for _, o := range outs {
				var i int
				fmt.Sscanf(o.Item.Digest.Hex, "%x", &i)
				if i < last {
					t.Fatalf("outcome for item %d after item %d", i, last)
				}
				last = i
			}
		})
	}
}

func TestRunnerCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := &countFormat{name: "a"}
	outs := (&Runner{Workers: 2, Formats: func(Item) ([]Format, error) { return []Format{a}, nil }}).Run(ctx, runnerItems(10))
	if len(outs) != 0 || a.n.Load() != 0 {
		t.Fatalf("Run(cancelled) = %d outcomes, %d signed; want none", len(outs), a.n.Load())
	}
}
