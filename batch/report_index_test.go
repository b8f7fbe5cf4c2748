package batch

import (
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-project/signet/signature"
)

// TestReportSameDigestTwoRepositories: one digest planned in two
// repositories (an image pushed twice) is two manifests, and each outcome
// lands on its own.
func TestReportSameDigestTwoRepositories(t *testing.T) {
	d := v1.Hash{Algorithm: "sha256", Hex: "4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec"}
	var items []Item
	for _, r := range []string{"reg.example/a", "reg.example/b", "other.example/a"} {
		repo, err := name.NewRepository(r)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, Item{Subject: signature.Subject{Repo: repo, Digest: d}, Ref: r + ":v1"})
	}
	r := NewReport("test", &Plan{Items: items[:2]})
	// The third arrives without having been planned.
	for i, it := range []Item{items[1], items[0], items[2], items[1]} {
		r.Add(Outcome{Item: it, Format: "cosign", Attempts: i + 1})
	}
	all := slices.Collect(r.All())
	if len(all) != 3 || r.Counts.Manifests != 3 {
		t.Fatalf("%d manifests listed, %d counted; want 3", len(all), r.Counts.Manifests)
	}
	want := map[string][]int{"reg.example/a": {2}, "reg.example/b": {1, 4}, "other.example/a": {3}}
	for _, m := range all {
		var got []int
		for _, f := range m.Formats {
			got = append(got, f.Attempts)
		}
		if len(got) != len(want[m.Repository]) || got[0] != want[m.Repository][0] {
			t.Errorf("%s formats (by attempt) = %v; want %v", m.Repository, got, want[m.Repository])
		}
	}
}
