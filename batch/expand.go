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
// tag) becomes a Failure naming its catalog line; the rest go on.
func (c *Catalog) Targets(ctx context.Context, l Lister, workers int, opts ...name.Option) ([]Target, []Failure) {
	if workers < 1 {
		workers = 1
	}
	per := make([][]Target, len(c.Entries))
	fails := make([][]Failure, len(c.Entries))
	var g errgroup.Group
	g.SetLimit(workers)
	for i, e := range c.Entries {
		settings, recursive := c.merge(e)
		mk := func(ref string) Target {
			return Target{Ref: ref, Source: e.Source, Recursive: recursive, Settings: settings}
		}
		switch {
		case e.Ref != "":
			per[i] = []Target{mk(e.Ref)}
		case e.Repository != "":
			g.Go(func() error {
				refs, err := expandRepository(ctx, l, e.Repository, e.Tags, opts)
				if err != nil {
					fails[i] = []Failure{{Ref: e.Repository, Source: e.Source, Error: err.Error()}}
					return nil
				}
				for _, r := range refs {
					per[i] = append(per[i], mk(r))
				}
				return nil
			})
		case e.Registry != "":
			g.Go(func() error {
				refs, fl := expandRegistry(ctx, l, workers, e, opts)
				for _, r := range refs {
					per[i] = append(per[i], mk(r))
				}
				fails[i] = fl
				return nil
			})
		}
	}
	_ = g.Wait()
	var targets []Target
	var failures []Failure
	for i := range c.Entries {
		targets = append(targets, per[i]...)
		failures = append(failures, fails[i]...)
	}
	return targets, failures
}

// merge applies the catalog defaults to an entry. Recursion defaults to on:
// signing an index without its children leaves podman unable to verify the
// platform it pulls.
func (c *Catalog) merge(e Entry) (Settings, bool) {
	s := c.Defaults.Settings
	if e.Key != "" {
		s.Key = e.Key
	}
	if len(e.Formats) > 0 {
		s.Formats = e.Formats
	}
	if e.Attest != nil { // "attest: []" is an entry's way to ask for none
		s.Attest = e.Attest
	}
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

func expandRegistry(ctx context.Context, l Lister, workers int, e Entry, opts []name.Option) ([]string, []Failure) {
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
			matched = append(matched, r)
		}
	}
	if len(matched) == 0 {
		return nil, []Failure{{Ref: e.Registry, Source: e.Source,
			Error: fmt.Sprintf("no repository of %s matches %s (%d repositories)", reg, strings.Join(e.Repositories, ", "), len(repos))}}
	}
	per := make([][]string, len(matched))
	var mu sync.Mutex
	var fails []Failure
	var g errgroup.Group
	g.SetLimit(workers)
	for i, r := range matched {
		g.Go(func() error {
			refs, err := expandRepository(ctx, l, reg.RegistryStr()+"/"+r, e.Tags, opts)
			if err != nil {
				mu.Lock()
				fails = append(fails, Failure{Ref: reg.RegistryStr() + "/" + r, Source: e.Source, Error: err.Error()})
				mu.Unlock()
				return nil
			}
			per[i] = refs
			return nil
		})
	}
	_ = g.Wait()
	var refs []string
	for _, p := range per {
		refs = append(refs, p...)
	}
	return refs, fails
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
