package policy

import (
	"errors"
	"fmt"
	"sort"
)

// Errors TrustFor wraps.
var (
	// ErrNoScope: no trust rule covers the repository.
	ErrNoScope = errors.New("no trust policy scope matches")
	// ErrAmbiguousScope: two rules cover it with equally specific scopes
	// (signet policy check reports these ties).
	ErrAmbiguousScope = errors.New("ambiguous trust policy scopes")
)

// scopeMatch is one pattern of one rule that matches a repository.
type scopeMatch struct {
	scope *Scope
	pat   Pattern
}

// matches returns every matching pattern, most specific first (file order
// among equals).
func (p *Policy) matches(repo string) []scopeMatch {
	var out []scopeMatch
	for _, s := range p.Trust {
		for _, pat := range s.Patterns {
			if pat.p.match(repo) {
				out = append(out, scopeMatch{s, pat})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].pat.p.rank.compare(out[j].pat.p.rank) > 0 })
	return out
}

// TrustFor returns the trust rule for a repository or image reference: the
// rule owning the most specific scope that matches it (see the package
// documentation for what "specific" means).
func (p *Policy) TrustFor(ref string) (*Scope, error) {
	repo, err := normalizeRepo(ref)
	if err != nil {
		return nil, err
	}
	if len(p.Trust) == 0 {
		return nil, fmt.Errorf("%w %s: policy %s has no trust rules", ErrNoScope, repo, p.File)
	}
	ms := p.matches(repo)
	if len(ms) == 0 {
		return nil, fmt.Errorf("%w %s in %s; add a scope covering it, or a rule with scopes: [\"*\"]", ErrNoScope, repo, p.File)
	}
	best := ms[0]
	for _, m := range ms[1:] {
		if m.pat.p.rank.compare(best.pat.p.rank) != 0 {
			break
		}
		if m.scope != best.scope {
			return nil, fmt.Errorf("%w for %s in %s: %q of rule %q (%s) and %q of rule %q (%s) are equally specific; make one more specific",
				ErrAmbiguousScope, repo, p.File, best.pat.Text, best.scope.Name, best.pat.Pos, m.pat.Text, m.scope.Name, m.pat.Pos)
		}
	}
	return best.scope, nil
}
