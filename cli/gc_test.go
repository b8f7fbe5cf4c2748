package cli

import "testing"

func TestGCPercent(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 100},                    // unknown: the runtime's default
		{4 << 20, 100},              // small plans: never above the default
		{gcHeadroom, 100},           // headroom floor equals the live heap
		{2 * gcHeadroom, 50},        // the floor, as a share of the live heap
		{gcHeadroom * 100 / 41, 41}, // rounding down stays above 40
		{gcHeadroom * 100 / 40, 40}, // from here on 40%
		{400 << 20, 40},             // large catalogs: peak about 1.4x live
	} {
		if got := gcPercent(tc.live); got != tc.want {
			t.Errorf("gcPercent(%d MiB) = %d; want %d", tc.live>>20, got, tc.want)
		}
	}
}
