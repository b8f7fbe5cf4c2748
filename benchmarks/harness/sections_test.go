package main

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestHSMDeviation(t *testing.T) {
	// rounds makes, for each round, a no-delay run at limits[i] and a run
	// with s sessions at rates[i] signatures/s; a limit of 0 leaves that
	// round's limit run out.
	rounds := func(s int, limits, rates []float64) []hsmResult {
		var l []hsmResult
		for i := range rates {
			if limits[i] > 0 {
				l = append(l, hsmResult{Round: i, result: result{Sigs: int(limits[i]), U: usage{Wall: time.Second}}})
			}
			l = append(l, hsmResult{Sessions: s, Round: i, result: result{Sigs: int(rates[i]), U: usage{Wall: time.Second}}})
		}
		return l
	}
	tests := []struct {
		name     string
		runs     []hsmResult
		sessions int
		want     float64
		rounds   int // per-round ratios expected (0: not capped)
	}{
		{
			// Round 1 is slow for both runs: against its own limit it
			// is -10%; against the median limit (3000) its 1800/s would
			// be -40%, and the ratio of medians -20%.
			name:     "capped: median of the per-round ratios, not of the rates",
			sessions: 64,
			runs:     rounds(64, []float64{4000, 2000, 3000}, []float64{3600, 1800, 2400}),
			want:     -0.10,
			rounds:   3,
		},
		{
			name:     "capped: a round without its limit run is left out",
			sessions: 64,
			runs:     rounds(64, []float64{4000, 0, 4000}, []float64{3000, 100, 3200}),
			want:     -0.25, // the slower middle one of -25% and -20%
			rounds:   2,
		},
		{
			name:     "below the limit: median rate against sessions ÷ delay",
			sessions: 4,
			runs:     rounds(4, []float64{4000, 4000, 4000}, []float64{380, 360, 390}),
			want:     -0.05,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &bench{sz: sizes{hsmRounds: 3}, res: &results{HSM: tt.runs}}
			got, perRound := b.hsmDeviation(tt.sessions)
			if math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("deviation = %.4f, want %.4f", got, tt.want)
			}
			if len(perRound) != tt.rounds {
				t.Errorf("per-round ratios = %v, want %d of them", perRound, tt.rounds)
			}
		})
	}
}

func TestHSMOrder(t *testing.T) {
	sessions := []int{16, 1, 64, 4}
	tests := []struct {
		round int
		want  []int
	}{
		{0, []int{0, 64, 16, 4, 1}}, // the limit first: it sizes the capped runs
		{1, []int{1, 4, 16, 64, 0}},
		{2, []int{0, 64, 16, 4, 1}},
		{7, []int{1, 4, 16, 64, 0}},
	}
	for _, tt := range tests {
		if got := hsmOrder(tt.round, sessions); !slices.Equal(got, tt.want) {
			t.Errorf("hsmOrder(%d) = %v, want %v", tt.round, got, tt.want)
		}
	}
	if !slices.Equal(sessions, []int{16, 1, 64, 4}) {
		t.Errorf("hsmOrder changed its argument: %v", sessions)
	}
}
