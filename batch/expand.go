package batch

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/errgroup"
)

// Lister is what catalog expansion needs from a registry.
type Lister interface {
	Tags(ctx context.Context, repo name.Repository) ([]string, error)
	Catalog(ctx context.Context, reg name.Registry) ([]string, error)
}

// Targets expands the catalog into targets: references pass through,
// repository entries become one target per matching tag, registry entries
// one per tag of every matching repository. Defaults fill what an entry
// leaves unset. An entry that cannot be expanded (unknown host, no matching
// tag) becomes a Failure naming its catalog line; the rest go on. At most
// workers listings run at once, whatever mix of entries asks for them.
func (c *Catalog) Targets(ctx context.Context, l Lister, workers int, opts ...name.Option) ([]Target, []Failure) {
	if workers < 1 {
		workers = 1
	}
	// First the repositories each entry lists (a registry entry's come
	// from its catalog), then the tags of all of them in one pool: a
	// registry entry's repositories get no pool of their own, which would
	// multiply the requests in flight by the workers.
	repos := make([][]string, len(c.Entries))
	fails := make([][]Failure, len(c.Entries))
	var g errgroup.Group
	g.SetLimit(workers)
	for i, e := range c.Entries {
		switch {
		case e.Repository != "":
			repos[i] = []string{e.Repository}
		case e.Registry != "":
			g.Go(func() error {
				repos[i], fails[i] = registryRepositories(ctx, l, e, opts)
				return nil
			})
		}
	}
	_ = g.Wait()

	tags := make([][][]string, len(c.Entries))
	var mu sync.Mutex
	for i, e := range c.Entries {
		tags[i] = make([][]string, len(repos[i]))
		for j, r := range repos[i] {
			g.Go(func() error {
				refs, err := expandRepository(ctx, l, r, e.Tags, opts)
				if err != nil {
					mu.Lock()
					fails[i] = append(fails[i], Failure{Ref: r, Source: e.Source, Error: err.Error()})
					mu.Unlock()
				}
				tags[i][j] = refs
				return nil
			})
		}
	}
	_ = g.Wait()

	var targets []Target
	var failures []Failure
	for i, e := range c.Entries {
		settings, recursive := c.merge(e)
		mk := func(ref string) Target {
			return Target{Ref: ref, Source: e.Source, Recursive: recursive, Settings: settings}
		}
		if e.Ref != "" {
			targets = append(targets, mk(e.Ref))
		}
		for _, refs := range tags[i] {
			for _, r := range refs {
				targets = append(targets, mk(r))
			}
		}
		// Failures in the order of the entry's repositories, whatever
		// order the listings finished in.
		sort.SliceStable(fails[i], func(a, b int) bool { return fails[i][a].Ref < fails[i][b].Ref })
		failures = append(failures, fails[i]...)
	}
	return targets, failures
}

// merge applies the catalog defaults to an entry. Recursion defaults to on:
// signing an index without its children leaves podman unable to verify the
// platform it pulls.
func (c *Catalog) merge(e Entry) (Settings, bool) {
	s := Effective(&e.Settings, c.Defaults.Settings)
	recursive := true
	if c.Defaults.Recursive != nil {
		recursive = *c.Defaults.Recursive
	}
	if e.Recursive != nil {
		recursive = *e.Recursive
	}
	return s, recursive
}

// expandRepository lists repo's tags and keeps those matching any glob (all
// when there are none). Signature, attestation and referrers-index tags are
// never images and are left out.
func expandRepository(ctx context.Context, l Lister, repository string, globs []string, opts []name.Option) ([]string, error) {
	repo, err := name.NewRepository(repository, opts...)
	if err != nil {
		return nil, fmt.Errorf("parsing repository %q: %w", repository, err)
	}
	tags, err := l.Tags(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("listing tags of %s: %w", repo, err)
	}
	sort.Strings(tags)
	var refs []string
	for _, t := range tags {
		if isSignatureTag(t) || !matchAny(globs, t) {
			continue
		}
		refs = append(refs, repo.Tag(t).String())
	}
	if len(refs) == 0 {
		if len(globs) == 0 {
			return nil, fmt.Errorf("repository %s has no image tags", repo)
		}
		return nil, fmt.Errorf("no tag of %s matches %s (tags present: %d)", repo, strings.Join(globs, ", "), len(tags))
	}
	return refs, nil
}

// registryRepositories lists the repositories of e's registry that match
// its globs, as "host/repo", sorted.
func registryRepositories(ctx context.Context, l Lister, e Entry, opts []name.Option) ([]string, []Failure) {
	reg, err := name.NewRegistry(e.Registry, opts...)
	if err != nil {
		return nil, []Failure{{Ref: e.Registry, Source: e.Source, Error: fmt.Sprintf("parsing registry %q: %v", e.Registry, err)}}
	}
	repos, err := l.Catalog(ctx, reg)
	if err != nil {
		return nil, []Failure{{Ref: e.Registry, Source: e.Source, Error: fmt.Sprintf("listing repositories of %s: %v", reg, err)}}
	}
	sort.Strings(repos)
	var matched []string
	for _, r := range repos {
		if matchAny(e.Repositories, r) {
			matched = append(matched, reg.RegistryStr()+"/"+r)
		}
	}
	if len(matched) == 0 {
		return nil, []Failure{{Ref: e.Registry, Source: e.Source,
			Error: fmt.Sprintf("no repository of %s matches %s (%d repositories)", reg, strings.Join(e.Repositories, ", "), len(repos))}}
	}
	return matched, nil
}

func matchAny(globs []string, s string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if MatchGlob(g, s) {
			return true
		}
	}
	return false
}

// isSignatureTag reports tags signet, cosign and notation write next to
// images: "sha256-<hex>.sig|.att|.sbom" and the referrers fallback index
// "sha256-<hex>".
func isSignatureTag(t string) bool {
	rest, ok := strings.CutPrefix(t, "sha256-")
	if !ok || len(rest) < 64 {
		return false
	}
	for _, c := range rest[:64] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return len(rest) == 64 || rest[64] == '.'
}
