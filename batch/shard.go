package batch

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Shard selects one of Count disjoint parts of a plan, so that Count CI
// jobs can sign one catalog between them. The zero Shard selects
// everything.
type Shard struct {
	Index, Count int
}

// ParseShard parses "I/N" with 0 ≤ I < N, as given to --shard.
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Shard{}, fmt.Errorf("invalid shard %q: want I/N with 0 ≤ I < N, e.g. 0/3", s)
	}
	index, err1 := strconv.Atoi(strings.TrimSpace(i))
	count, err2 := strconv.Atoi(strings.TrimSpace(n))
	switch {
	case err1 != nil || err2 != nil:
		return Shard{}, fmt.Errorf("invalid shard %q: want I/N with whole numbers, e.g. 0/3", s)
	case count < 1:
		return Shard{}, fmt.Errorf("invalid shard %q: the shard count must be at least 1", s)
	case index < 0 || index >= count:
		return Shard{}, fmt.Errorf("invalid shard %q: index must be 0 to %d for %d shards (shards count from 0)", s, count-1, count)
	}
	return Shard{Index: index, Count: count}, nil
}

// String returns "I/N", or "" for the zero Shard.
func (s Shard) String() string {
	if s.Count == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Contains reports whether the manifest digest in repo belongs to the
// shard. The hash covers "repo@digest", so one digest in two repositories
// is two independent items, and the children of one index may land in
// different shards (each manifest is signed on its own). repo should be
// the fully qualified name (name.Repository.Name()) so that every job
// computes the same answer however the catalog spelled it.
//
// The assignment is part of signet's contract across versions and
// machines: it is the first 8 bytes of SHA-256("repo@digest"), big-endian,
// modulo Count.
func (s Shard) Contains(repo, digest string) bool {
	if s.Count <= 1 {
		return true
	}
	h := sha256.Sum256([]byte(repo + "@" + digest))
	return binary.BigEndian.Uint64(h[:8])%uint64(s.Count) == uint64(s.Index)
}

// Filter returns the items in the shard, in their order. The zero Shard
// returns items itself.
func (s Shard) Filter(items []Item) []Item {
	if s.Count <= 1 {
		return items
	}
	var out []Item
	for _, it := range items {
		if s.Contains(it.Repo.Name(), it.Digest.String()) {
			out = append(out, it)
		}
	}
	return out
}
