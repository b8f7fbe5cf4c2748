// Package yamlnode holds the rules signet's strict YAML readers share:
// batch's catalogs and policy's trust and signing policies. Both read
// yaml.v3 node trees rather than decoding into structs, so that every
// problem is reported at its line, and both reject unknown and repeated
// fields with a guess at the field that was meant. Which keys a mapping
// accepts, what counts as a likely typo, and where yaml.v3 says a syntax
// error is are decided here once; the wording of each message stays with
// its reader, whose users and tests rely on it.
//
// Imports: the standard library and go.yaml.in/yaml/v3.
package yamlnode

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ProblemKind says why Fields did not take a key.
type ProblemKind int

// Kinds of FieldProblem.
const (
	// Unknown: the key is not one of the known names.
	Unknown ProblemKind = iota + 1
	// Repeated: the key was given before; the first occurrence wins.
	Repeated
	// NotString: the key is a mapping or a list, not a name.
	NotString
	// MergeKey: the key is YAML's merge key "<<", which would splice in
	// fields the reader never sees as keys of this mapping.
	MergeKey
)

// FieldProblem is a key of a mapping that Fields did not take.
type FieldProblem struct {
	Kind ProblemKind
	// Key is the key node, aliases followed: its Value and Line are what
	// messages name.
	Key *yaml.Node
	// Suggestion is, for Unknown, the known name the key is likely a typo
	// of, or "".
	Suggestion string
	// First is, for Repeated, the key's first occurrence.
	First *yaml.Node
}

// Fields returns the values of mapping m by key, for the keys that are
// among known, and a problem for every other key, in document order. Values
// are returned as written; aliases among them are the caller's to follow.
func Fields(m *yaml.Node, known []string) (map[string]*yaml.Node, []FieldProblem) {
	out := make(map[string]*yaml.Node)
	first := make(map[string]*yaml.Node)
	var probs []FieldProblem
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := resolve(m.Content[i]), m.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode:
			probs = append(probs, FieldProblem{Kind: NotString, Key: k})
		case k.ShortTag() == "!!merge":
			probs = append(probs, FieldProblem{Kind: MergeKey, Key: k})
		case !slices.Contains(known, k.Value):
			probs = append(probs, FieldProblem{Kind: Unknown, Key: k, Suggestion: Suggest(k.Value, known)})
		case first[k.Value] != nil:
			probs = append(probs, FieldProblem{Kind: Repeated, Key: k, First: first[k.Value]})
		default:
			first[k.Value] = k
			out[k.Value] = v
		}
	}
	return out, probs
}

// resolve follows an alias key to its anchor. yaml.v3 rejects undefined
// and self-containing anchors, so the chain ends; the bound is for trees
// built by hand.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 64; i++ {
		n = n.Alias
	}
	return n
}

// Suggest returns the word of known that s is likely a typo of: the closest
// one at most two edits away, ignoring case. It returns "" when none is.
func Suggest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(s), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, in bytes. Words
// longer than 64 bytes are never typos of a field name, and are not
// compared, so that a hostile key costs nothing.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// yamlLine matches the "line N" yaml.v3 puts in its syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ErrorLine splits a yaml.v3 decoding error into the line it names, 0 when
// it names none, and its message without the "yaml: line N: " (or "yaml: ")
// prefix. yaml.v3 stops at the first syntax error and names the line of
// the construct it was parsing, often the line before the mistake; readers
// may know better for some errors.
func ErrorLine(err error) (line int, msg string) {
	msg = err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		return line, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}
