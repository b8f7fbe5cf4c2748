package policy

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// A scope pattern is "host[:port]/path" where each '/'-separated part is a
// glob: '*' matches any run of characters inside one part, and a part that
// is exactly "**" matches any number (zero included) of whole parts. The
// pattern "*" on its own matches every repository. Patterns compile to a
// small NFA over bytes, so that matching at run time and the overlap and
// shadowing analysis of Lint agree by construction.

// pattern is one compiled scope pattern.
type pattern struct {
	text   string // as written
	norm   string // after docker.io normalisation
	global bool
	nfa    *nfa
	rank   rank
}

// maxPatternLen bounds a scope pattern; real repository names are far
// shorter, and the analysis is quadratic in pattern size.
const maxPatternLen = 256

// compilePattern validates and compiles a scope pattern.
func compilePattern(s string) (*pattern, error) {
	if s == "*" {
		return &pattern{text: s, norm: s, global: true, nfa: globalNFA(), rank: rank{global: true}}, nil
	}
	if s == "" {
		return nil, errors.New("empty scope")
	}
	if len(s) > maxPatternLen {
		return nil, fmt.Errorf("scope is %d characters long (at most %d)", len(s), maxPatternLen)
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 {
		return nil, fmt.Errorf("scope %q names no repository: write host/repository, host/** for a whole registry, or \"*\" for everything", s)
	}
	for i, part := range parts {
		if part == "" {
			return nil, fmt.Errorf("scope %q has an empty part", s)
		}
		if part == "**" {
			if i == 0 {
				return nil, fmt.Errorf("scope %q: \"**\" cannot stand for the registry host; use \"*\"", s)
			}
			continue
		}
		if strings.Contains(part, "**") {
			return nil, fmt.Errorf("scope %q: \"**\" must be a whole part (as in host/team/**)", s)
		}
		for _, c := range []byte(part) {
			if err := checkPatternChar(s, c, i == 0); err != nil {
				return nil, err
			}
		}
	}
	host := parts[0]
	if !strings.ContainsAny(host, ".:*") && host != "localhost" {
		return nil, fmt.Errorf("scope %q: %q is not a registry host: scopes start with the registry (docker.io/library/*, registry.example.com/team/*)", s, host)
	}
	if !strings.Contains(host, "*") {
		// A host go-containerregistry refuses can be in no reference, so
		// the scope could never match.
		if _, err := name.NewRegistry(host); err != nil {
			return nil, fmt.Errorf("scope %q: %q is not a valid registry host[:port]", s, host)
		}
	}
	// Normalise Docker Hub the way go-containerregistry names repositories,
	// so "docker.io/library/ubuntu" matches what a reference resolves to.
	// It puts every one-part Docker Hub name under library/, so a one-part
	// scope goes there too, wildcards or not, or it would match nothing:
	// "docker.io/*" is docker.io/library/*, the official images, as
	// "docker.io/ubuntu" is docker.io/library/ubuntu.
	if host == "docker.io" || host == name.DefaultRegistry {
		parts[0] = name.DefaultRegistry
		if len(parts) == 2 && parts[1] != "**" {
			parts = []string{parts[0], "library", parts[1]}
		}
	}
	norm := strings.Join(parts, "/")
	return &pattern{text: s, norm: norm, nfa: buildNFA(parts), rank: rankOf(norm)}, nil
}

func checkPatternChar(s string, c byte, host bool) error {
	switch {
	case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '-', c == '_', c == '*':
		return nil
	case c >= 'A' && c <= 'Z':
		return fmt.Errorf("scope %q: repository names are lowercase", s)
	case host && (c == ':' || c == '[' || c == ']'):
		return nil
	case c == '?' || c == '[' || c == '{':
		return fmt.Errorf("scope %q: only '*' and '**' are wildcards", s)
	default:
		return fmt.Errorf("scope %q: character %q is not allowed in a repository name", s, c)
	}
}

// match reports whether the normalised repository repo matches.
func (p *pattern) match(repo string) bool { return p.nfa.match(repo) }

// rank orders patterns by specificity; the most specific matching pattern
// decides which trust rule applies. In order of precedence:
//
//  1. a pattern without wildcards beats any pattern with one;
//  2. a longer literal prefix (text before the first '*') wins;
//  3. more literal characters in total ('/' not counted) win;
//  4. fewer "**" parts win;
//  5. fewer '*' win.
//
// "*" alone ranks below everything. Two patterns of different rules that
// rank equal and can match the same repository are a tie, which Lint
// reports and TrustFor refuses to guess about.
type rank struct {
	global  bool
	exact   bool
	prefix  int
	literal int
	doubles int
	singles int
}

func rankOf(norm string) rank {
	r := rank{prefix: len(norm)}
	if i := strings.IndexByte(norm, '*'); i >= 0 {
		r.prefix = i
	} else {
		r.exact = true
	}
	r.literal = len(norm) - strings.Count(norm, "*") - strings.Count(norm, "/")
	for _, part := range strings.Split(norm, "/") {
		if part == "**" {
			r.doubles++
		} else {
			r.singles += strings.Count(part, "*")
		}
	}
	return r
}

// compare returns >0 when a is more specific than b, <0 when less, 0 on a tie.
func (a rank) compare(b rank) int {
	switch {
	case a.global != b.global:
		return boolCmp(b.global, a.global)
	case a.exact != b.exact:
		return boolCmp(a.exact, b.exact)
	case a.prefix != b.prefix:
		return a.prefix - b.prefix
	case a.literal != b.literal:
		return a.literal - b.literal
	case a.doubles != b.doubles:
		return b.doubles - a.doubles
	default:
		return b.singles - a.singles
	}
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}

// normalizeRepo turns a repository or image reference into the repository
// name patterns are matched against: "host[:port]/path", Docker Hub spelled
// index.docker.io/library/… as go-containerregistry spells it.
func normalizeRepo(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty image reference")
	}
	// go-containerregistry recognises Docker Hub (docker.io →
	// index.docker.io, then library/ for one-part names) only in lowercase,
	// so a host is lowercased before it parses: "Docker.io/ubuntu" must not
	// escape every docker.io scope. The first part is a host on the same
	// terms as go-containerregistry's: it holds '.' or ':' or is localhost.
	if host, rest, ok := strings.Cut(s, "/"); ok && (strings.ContainsAny(host, ".:") || strings.EqualFold(host, "localhost")) {
		s = strings.ToLower(host) + "/" + rest
	}
	var repo name.Repository
	if ref, err := name.ParseReference(s); err == nil {
		repo = ref.Context()
	} else if r, err2 := name.NewRepository(s); err2 == nil {
		repo = r
	} else {
		return "", fmt.Errorf("parsing image reference %q: %w", s, err)
	}
	return repo.RegistryStr() + "/" + repo.RepositoryStr(), nil
}

// nfa is a Thompson automaton over bytes. Edges are epsilon, one literal
// byte, or any byte except '/'.
type nfa struct {
	out    [][]edge
	accept int
	// all marks the global pattern, which accepts every repository.
	all bool
}

type edgeKind uint8

const (
	edgeEps edgeKind = iota
	edgeLit
	edgeAny
)

type edge struct {
	kind edgeKind
	c    byte
	to   int
}

func (n *nfa) state() int {
	n.out = append(n.out, nil)
	return len(n.out) - 1
}

func (n *nfa) link(from int, e edge) { n.out[from] = append(n.out[from], e) }

func globalNFA() *nfa {
	n := &nfa{all: true}
	s := n.state()
	n.link(s, edge{kind: edgeAny, to: s})
	n.link(s, edge{kind: edgeLit, c: '/', to: s})
	n.accept = s
	return n
}

// buildNFA compiles validated pattern parts. A "**" part contributes
// ("/" [^/]+)* in place of "/" and the part, so "a/**/b" matches "a/b",
// "a/x/b" and "a/x/y/b", and "a/**" matches "a", "a/x", "a/x/y".
func buildNFA(parts []string) *nfa {
	n := &nfa{}
	cur := n.state()
	lit := func(c byte) {
		next := n.state()
		n.link(cur, edge{kind: edgeLit, c: c, to: next})
		cur = next
	}
	for i, part := range parts {
		if part == "**" {
			loop := n.state()
			n.link(cur, edge{kind: edgeEps, to: loop})
			slash, seg := n.state(), n.state()
			n.link(loop, edge{kind: edgeLit, c: '/', to: slash})
			n.link(slash, edge{kind: edgeAny, to: seg})
			n.link(seg, edge{kind: edgeAny, to: seg})
			n.link(seg, edge{kind: edgeEps, to: loop})
			cur = loop
			continue
		}
		if i > 0 {
			lit('/')
		}
		for j := 0; j < len(part); j++ {
			if part[j] != '*' {
				lit(part[j])
				continue
			}
			star := n.state()
			n.link(cur, edge{kind: edgeEps, to: star})
			n.link(star, edge{kind: edgeAny, to: star})
			cur = star
		}
	}
	n.accept = cur
	return n
}

// closure adds the epsilon closure of set to itself.
func (n *nfa) closure(set []bool) {
	stack := make([]int, 0, len(set))
	for s, in := range set {
		if in {
			stack = append(stack, s)
		}
	}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, e := range n.out[s] {
			if e.kind == edgeEps && !set[e.to] {
				set[e.to] = true
				stack = append(stack, e.to)
			}
		}
	}
}

func (n *nfa) start() []bool {
	set := make([]bool, len(n.out))
	set[0] = true
	n.closure(set)
	return set
}

// step returns the states reached from set on byte c (closure included).
func (n *nfa) step(set []bool, c byte) []bool {
	next := make([]bool, len(n.out))
	for s, in := range set {
		if !in {
			continue
		}
		for _, e := range n.out[s] {
			if (e.kind == edgeLit && e.c == c) || (e.kind == edgeAny && c != '/') {
				next[e.to] = true
			}
		}
	}
	n.closure(next)
	return next
}

func (n *nfa) match(s string) bool {
	if n.all {
		return true
	}
	set := n.start()
	for i := 0; i < len(s); i++ {
		set = n.step(set, s[i])
		if !anyTrue(set) {
			return false
		}
	}
	return set[n.accept]
}

func anyTrue(set []bool) bool {
	for _, b := range set {
		if b {
			return true
		}
	}
	return false
}

// maxSearchStates and maxSearchWork bound the product automaton explored
// by one search (states, and states × alphabet × automaton size), and
// maxLintWork all of Lint's searches together; what needs more is reported
// as "could not decide" instead of hanging signet policy check. Real scopes
// need a few hundred states.
const (
	maxSearchStates = 20000
	maxSearchWork   = 20_000_000
	maxLintWork     = 100_000_000
)

// searchResult is the outcome of a language search.
type searchResult struct {
	found    bool
	witness  string
	complete bool // false: the search gave up (state bound); found is false
}

// search looks for a valid repository name r (host/path, no empty parts)
// with a.match(r) and want(any of bs matches r). With want = true it finds
// a repository both sides match (overlap); with want = false one that a
// matches and none of bs does (a is not covered by bs).
func search(a *pattern, bs []*pattern, want bool) searchResult {
	budget := maxSearchWork
	return searchBudget(a, bs, want, &budget)
}

// searchBudget is search drawing on a work budget shared by several
// searches (Lint's), so that many patterns cannot add up to minutes.
func searchBudget(a *pattern, bs []*pattern, want bool, budget *int) searchResult {
	alphabet := alphabetFor(append([]*pattern{a}, bs...))
	size := len(a.nfa.out)
	for _, b := range bs {
		size += len(b.nfa.out)
	}
	cost := len(alphabet) * size
	type state struct {
		a      []bool
		b      [][]bool
		slash  bool // last byte was '/' (or nothing read yet)
		seen   bool // a '/' has been read
		parent int
		c      byte
	}
	key := func(st *state) string {
		var sb strings.Builder
		writeSet(&sb, st.a)
		for _, s := range st.b {
			sb.WriteByte('|')
			writeSet(&sb, s)
		}
		if st.slash {
			sb.WriteByte('s')
		}
		if st.seen {
			sb.WriteByte('p')
		}
		return sb.String()
	}
	first := &state{a: a.nfa.start(), slash: true, parent: -1}
	for _, b := range bs {
		first.b = append(first.b, b.nfa.start())
	}
	states := []*state{first}
	seen := map[string]bool{key(first): true}
	for i := 0; i < len(states); i++ {
		st := states[i]
		*budget -= cost
		if *budget < 0 {
			return searchResult{}
		}
		if !st.slash && st.seen && st.a[a.nfa.accept] {
			bAcc := false
			for j, b := range bs {
				if st.b[j][b.nfa.accept] {
					bAcc = true
					break
				}
			}
			if bAcc == want {
				var w []byte
				for k := i; states[k].parent >= 0; k = states[k].parent {
					w = append(w, states[k].c)
				}
				for l, r := 0, len(w)-1; l < r; l, r = l+1, r-1 {
					w[l], w[r] = w[r], w[l]
				}
				return searchResult{found: true, witness: string(w), complete: true}
			}
		}
		for _, c := range alphabet {
			if c == '/' && st.slash {
				continue
			}
			next := &state{a: a.nfa.step(st.a, c), slash: c == '/', seen: st.seen || c == '/', parent: i, c: c}
			if !anyTrue(next.a) {
				continue
			}
			alive := false
			for j, b := range bs {
				nb := b.nfa.step(st.b[j], c)
				next.b = append(next.b, nb)
				alive = alive || anyTrue(nb)
			}
			if want && !alive {
				continue
			}
			k := key(next)
			if seen[k] {
				continue
			}
			if len(states) >= maxSearchStates {
				return searchResult{}
			}
			seen[k] = true
			states = append(states, next)
		}
	}
	return searchResult{complete: true}
}

func writeSet(sb *strings.Builder, set []bool) {
	for s, in := range set {
		if in {
			fmt.Fprintf(sb, "%d,", s)
		}
	}
}

// alphabetFor returns a byte none of the patterns uses, which stands for
// all the bytes '*' may match, then '/' and every literal byte of the
// patterns. The order makes the shortest witness the search finds read like
// a repository name (letters before punctuation).
func alphabetFor(ps []*pattern) []byte {
	used := map[byte]bool{'/': true}
	for _, p := range ps {
		for i := 0; i < len(p.norm); i++ {
			if c := p.norm[i]; c != '*' {
				used[c] = true
			}
		}
	}
	var out []byte
	for _, c := range []byte("xyzqwkjvabcdefghilmnoprstu0123456789") {
		if !used[c] {
			out = append(out, c)
			break
		}
	}
	rank := func(c byte) int {
		switch {
		case c >= 'a' && c <= 'z':
			return 0
		case c >= '0' && c <= '9':
			return 1
		case c == '/':
			return 2
		default:
			return 3
		}
	}
	lits := make([]byte, 0, len(used))
	for c := range used {
		lits = append(lits, c)
	}
	sort.Slice(lits, func(i, j int) bool {
		if ri, rj := rank(lits[i]), rank(lits[j]); ri != rj {
			return ri < rj
		}
		return lits[i] < lits[j]
	})
	return append(out, lits...)
}
