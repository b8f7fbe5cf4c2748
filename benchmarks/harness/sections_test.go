package main

import (
	"math"
	"testing"
	"time"
)

func TestHSMDeviation(t *testing.T) {
	// run is a run that made rate signatures per second in one second.
	run := func(s, round int, rate float64) hsmResult {
		return hsmResult{Sessions: s, Round: round, result: result{Sigs: int(rate), U: usage{Wall: time.Second}}}
	}
	tests := []struct {
		name     string
		runs     []hsmResult
		sessions int
		want     float64
		rounds   int // per-round ratios expected (0: not capped)
	}{
		{
			name:     "capped: median of the per-round ratios, not of the rates",
			sessions: 64,
			// Round 1 is slow for both runs: compared with its own
			// limit it is -10%; against the median limit (3000) its
			// 1800/s would be -40%.
			runs: []hsmResult{
				run(0, 0, 4000), run(64, 0, 3600),
				run(0, 1, 2000), run(64, 1, 1800),
				run(0, 2, 3000), run(64, 2, 2400),
			},
			want:   -0.10,
			rounds: 3,
		},
		{
			name:     "capped: a round without its limit run is left out",
			sessions: 64,
			runs: []hsmResult{
				run(0, 0, 4000), run(64, 0, 3000),
				run(64, 1, 100),
				run(0, 2, 4000), run(64, 2, 3200),
			},
			want:   -0.25, // the slower middle one of -25% and -20%
			rounds: 2,
		},
		{
			name:     "below the limit: median rate against sessions ÷ delay",
			sessions: 4,
			runs: []hsmResult{
				run(0, 0, 4000), run(4, 0, 380),
				run(0, 1, 4000), run(4, 1, 360),
				run(0, 2, 4000), run(4, 2, 390),
			},
			want: -0.05,
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
