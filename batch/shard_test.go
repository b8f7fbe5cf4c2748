package batch

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParseShard(t *testing.T) {
	tests := []struct {
		in      string
		want    Shard
		wantErr string
	}{
		{in: "0/1", want: Shard{0, 1}},
		{in: "2/3", want: Shard{2, 3}},
		{in: " 1 / 4 ", want: Shard{1, 4}},
		{in: "3/3", wantErr: "index must be 0 to 2 for 3 shards"},
		{in: "-1/3", wantErr: "index must be 0 to 2"},
		{in: "0/0", wantErr: "at least 1"},
		{in: "1", wantErr: "want I/N"},
		{in: "a/3", wantErr: "whole numbers"},
		{in: "1/3/4", wantErr: "whole numbers"},
		{in: "", wantErr: "want I/N"},
	}
	for _, tt := range tests {
		got, err := ParseShard(tt.in)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseShard(%q) error = %v; want %q", tt.in, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("ParseShard(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		case tt.wantErr == "" && got.String() != fmt.Sprintf("%d/%d", tt.want.Index, tt.want.Count):
			t.Errorf("ParseShard(%q).String() = %q", tt.in, got.String())
		}
	}
}

// TestShardPartition checks that shards 0/N … N-1/N cover every item
// exactly once, roughly evenly, for N = 1 … 7.
func TestShardPartition(t *testing.T) {
	const n = 10000
	rng := rand.New(rand.NewPCG(1, 2))
	var items []Item
	for i := range n {
		repo := fmt.Sprintf("ghcr.io/acme/app%d", i%3)
		items = append(items, testItem(t, repo, int(rng.Int64()), ""))
	}
	for count := 1; count <= 7; count++ {
		t.Run(fmt.Sprint(count), func(t *testing.T) {
			seen := make(map[string]int)
			for i := range count {
				part := Shard{Index: i, Count: count}.Filter(items)
				// Expected n/count each; a hash far off that is broken.
				if want := n / count; len(part) < want*9/10 || len(part) > want*11/10 {
					t.Errorf("shard %d/%d has %d items; want about %d", i, count, len(part), want)
				}
				for _, it := range part {
					seen[JournalSubject(it)]++
				}
			}
			if len(seen) != n {
				t.Errorf("shards cover %d items; want %d", len(seen), n)
			}
			for k, c := range seen {
				if c != 1 {
					t.Fatalf("%s is in %d shards; want 1", k, c)
				}
			}
		})
	}
}

func TestShardContains(t *testing.T) {
	// The same digest in two repositories is two independent items.
	d := fmt.Sprintf("sha256:%064x", 42)
	differ := false
	for i := range 20 {
		a := Shard{Count: 2}.Contains(fmt.Sprintf("ghcr.io/acme/a%d", i), d)
		b := Shard{Count: 2}.Contains(fmt.Sprintf("ghcr.io/acme/b%d", i), d)
		differ = differ || a != b
	}
	if !differ {
		t.Errorf("the repository does not affect the shard")
	}
	// The zero Shard holds everything.
	items := []Item{testItem(t, "ghcr.io/acme/app", 1, "")}
	if got := (Shard{}).Filter(items); len(got) != 1 || !(Shard{}).Contains("x", "y") {
		t.Errorf("zero Shard filtered out items")
	}
	// The assignment is part of the contract (jobs on different signet
	// versions must agree), so pin it.
	golden := []struct {
		repo, digest string
		count, index int
	}{
		{"ghcr.io/acme/app", d, 7, 3},
		{"ghcr.io/acme/app", d, 3, 2},
		{"index.docker.io/library/ubuntu", fmt.Sprintf("sha256:%064x", 7), 7, 6},
		{"index.docker.io/library/ubuntu", fmt.Sprintf("sha256:%064x", 7), 3, 0},
	}
	for _, g := range golden {
		for i := range g.count {
			if got := (Shard{Index: i, Count: g.count}).Contains(g.repo, g.digest); got != (i == g.index) {
				t.Errorf("Shard{%d, %d}.Contains(%s, %s) = %v; want %v", i, g.count, g.repo, g.digest, got, i == g.index)
			}
		}
	}
}

func ExampleParseShard() {
	s, err := ParseShard("1/3")
	fmt.Println(s, err)
	_, err = ParseShard("3/3")
	fmt.Println(err)
	// Output:
	// 1/3 <nil>
	// invalid shard "3/3": index must be 0 to 2 for 3 shards (shards count from 0)
}
