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
	"bytes"
	"errors"
	"io"
	"regexp"
	"slices"
	"sort"
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

// parserProblems are the problems yaml.v3's parser (parserc.go) reports.
// yaml.v3 (decode.go, parser.fail) prints the line of an error's context
// mark, or of its problem mark when the context mark is on the first line,
// and adds 1 to it only for scanner errors: the line it prints for these
// is 0-based.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found undefined tag handle":             true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// scannerProblems are the problems yaml.v3's scanner (scannerc.go)
// reports, and for which it prints a 1-based line; besides these there is
// "exceeded max depth of N".
var scannerProblems = map[string]bool{
	"block sequence entries are not allowed in this context":       true,
	"could not find expected ':'":                                  true,
	"could not find expected directive name":                       true,
	"did not find URI escaped octet":                               true,
	"did not find expected '!'":                                    true,
	"did not find expected alphabetic or numeric character":        true,
	"did not find expected comment or line break":                  true,
	"did not find expected digit or '.' character":                 true,
	"did not find expected hexdecimal number":                      true,
	"did not find expected tag URI":                                true,
	"did not find expected version number":                         true,
	"did not find expected whitespace or line break":               true,
	"did not find expected whitespace":                             true,
	"did not find the expected '>'":                                true,
	"found a tab character that violates indentation":              true,
	"found a tab character where an indentation space is expected": true,
	"found an incorrect leading UTF-8 octet":                       true,
	"found an incorrect trailing UTF-8 octet":                      true,
	"found an indentation indicator equal to 0":                    true,
	"found character that cannot start any token":                  true,
	"found extremely long version number":                          true,
	"found invalid Unicode character escape code":                  true,
	"found unexpected document indicator":                          true,
	"found unexpected end of stream":                               true,
	"found unexpected non-alphabetical character":                  true,
	"found unknown directive name":                                 true,
	"found unknown escape character":                               true,
	"mapping keys are not allowed in this context":                 true,
	"mapping values are not allowed in this context":               true,
}

// enclosing names, for the problems whose context mark is the start of
// the construct the parser was reading rather than the place it stopped,
// that construct.
var enclosing = map[string]string{
	"did not find expected key":                                    "mapping",
	"did not find expected '-' indicator":                          "list",
	"did not find expected ',' or ']'":                             "[ ] list",
	"did not find expected ',' or '}'":                             "{ } mapping",
	"found unexpected end of stream":                               "quoted string",
	"found unexpected document indicator":                          "quoted string",
	"found a tab character that violates indentation":              "value",
	"found a tab character where an indentation space is expected": "block scalar",
}

// splitError splits a yaml.v3 error message into the line number it
// prints, whether it prints one, and the problem.
func splitError(s string) (n int, named bool, problem string) {
	if m := yamlLine.FindStringSubmatch(s); m != nil {
		n, _ = strconv.Atoi(m[1])
		return n, true, m[2]
	}
	return 0, false, strings.TrimPrefix(s, "yaml: ")
}

// syntaxLine returns the 1-based line a yaml.v3 error printed as n (when
// named) is about, or 0 for an error with no position (an encoding error,
// an unknown anchor).
func syntaxLine(n int, named bool, problem string) int {
	switch {
	case named && parserProblems[problem]:
		return n + 1
	case named:
		return n
	case isSyntax(problem):
		return 1 // yaml.v3 leaves out "line N" when both marks are on line 1
	}
	return 0
}

// isSyntax reports whether problem is one of yaml.v3's parser or scanner
// problems, which have a position, as its reader's and decoder's do not.
func isSyntax(problem string) bool {
	return parserProblems[problem] || scannerProblems[problem] ||
		strings.HasPrefix(problem, "exceeded max depth of ")
}

// ErrorLine splits a yaml.v3 decoding error into the 1-based line it is
// about, 0 when it names none, and its message without the "yaml: line N: "
// (or "yaml: ") prefix.
//
// The line is the one yaml.v3 names, corrected to count from 1 (yaml.v3
// prints parser errors' lines from 0 and scanner errors' from 1). That is
// the line where the construct being read starts: for "did not find
// expected key" the mapping, for an unterminated quote the opening quote.
// When that construct starts on the first line, yaml.v3 names the place it
// stopped instead, which for an error at the end of the input can be the
// line after the last. The message says so for the errors that name the
// start of a construct ("... (in the list that starts at or above this
// line)"), as the error alone does not tell the two apart; ErrorLineIn,
// given the input, does, and names the line where the parser stopped.
func ErrorLine(err error) (line int, msg string) {
	n, named, problem := splitError(err.Error())
	line, msg = syntaxLine(n, named, problem), problem
	if c := enclosing[problem]; c != "" && named {
		msg += " (in the " + c + " that starts at or above this line)"
	}
	return line, msg
}

// ErrorLineIn is ErrorLine for an error yaml.v3 returned decoding data as
// a stream of yaml.Node documents. It names the line where yaml.v3
// stopped: the first line, from the start of the construct being read on,
// such that the input up to and including it already fails with the same
// error (for an error without a position, from the first line on). For a
// list or mapping item that does not line up, that is the item's line; for
// an unclosed bracket or quote, the line that opens it. When the construct
// starts on an earlier line, the message names that line too: "did not
// find expected key (in the mapping that starts at line 2)". Lines are
// counted as yaml.v3 counts them (CRLF is one line break). An error it
// cannot reproduce from data, or UTF-16 input, gets ErrorLine's answer.
//
// It decodes data a few times more; for input larger than 4 MiB whose
// error it cannot place that way, it names the start of the construct.
func ErrorLineIn(data []byte, err error) (line int, msg string) {
	line, msg = ErrorLine(err)
	_, _, problem := splitError(err.Error())
	in := newInput(data)
	if in == nil {
		return line, msg
	}
	// With a blank line put first every mark moves down one, so that
	// yaml.v3 always prints the context mark's line: ctx is that line of
	// data, 1-based, or 0 for an error without a position.
	whole := in.decode(0, in.lines(), true)
	if whole == nil {
		return line, msg
	}
	n, named, got := splitError(whole.Error())
	if got != problem {
		return line, msg
	}
	ctx := 0
	if named && isSyntax(problem) {
		ctx = min(syntaxLine(n, true, problem)-1, in.lines())
	}
	lo := max(ctx, 1)
	same := func(k int) bool {
		e := in.decode(0, k, true)
		return e != nil && e.Error() == whole.Error()
	}
	stop := 0
	if ctx > 0 {
		// A guess, checked: read from line ctx on, the construct starts on
		// the first line, so yaml.v3 prints where it stopped.
		if e := in.decode(ctx-1, in.lines(), false); e != nil {
			if n, named, got := splitError(e.Error()); got == problem {
				p := ctx
				if named {
					p += syntaxLine(n, true, problem) - 1
				}
				if p >= lo && p <= in.lines() && same(p) && (p == lo || !same(p-1)) {
					stop = p
				}
			}
		}
	}
	if stop == 0 && len(data) <= 4<<20 {
		stop = lo + sort.Search(in.lines()-lo, func(i int) bool { return same(lo + i) })
	}
	c := enclosing[problem]
	switch {
	case stop == 0 && ctx == 0:
		return line, msg
	case stop == 0 && c != "":
		return ctx, problem + " (in the " + c + " that starts at this line)"
	case stop == 0:
		return ctx, problem
	case c != "" && ctx > 0 && ctx < stop:
		return stop, problem + " (in the " + c + " that starts at line " + strconv.Itoa(ctx) + ")"
	}
	return stop, problem
}

// input is a YAML text cut at its line breaks.
type input struct {
	bom  []byte
	text []byte
	ends []int // the offset after each line
}

// newInput returns data cut into lines as yaml.v3 counts them, or nil for
// empty or UTF-16 data.
func newInput(data []byte) *input {
	in := &input{text: data}
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xfe")), bytes.HasPrefix(data, []byte("\xfe\xff")):
		return nil
	case bytes.HasPrefix(data, []byte("\xef\xbb\xbf")):
		in.bom, in.text = data[:3], data[3:]
	}
	t := in.text
	for i := 0; i < len(t); i++ {
		switch {
		case t[i] == '\r' && i+1 < len(t) && t[i+1] == '\n':
			i++
			in.ends = append(in.ends, i+1)
		case t[i] == '\r', t[i] == '\n':
			in.ends = append(in.ends, i+1)
		case t[i] == 0xc2 && i+1 < len(t) && t[i+1] == 0x85: // NEL
			i++
			in.ends = append(in.ends, i+1)
		case t[i] == 0xe2 && i+2 < len(t) && t[i+1] == 0x80 && (t[i+2] == 0xa8 || t[i+2] == 0xa9): // LS, PS
			i += 2
			in.ends = append(in.ends, i+1)
		}
	}
	if len(t) == 0 {
		return nil
	}
	if len(in.ends) == 0 || in.ends[len(in.ends)-1] < len(t) {
		in.ends = append(in.ends, len(t))
	}
	return in
}

// lines returns the number of lines, the last one counted if it does not
// end in a line break.
func (in *input) lines() int { return len(in.ends) }

// decode decodes the lines after the first skip up to line k (1-based), as
// yaml.v3 node documents, after a blank line if shift, and returns the
// first error.
func (in *input) decode(skip, k int, shift bool) error {
	from := 0
	if skip > 0 {
		from = in.ends[skip-1]
	}
	buf := make([]byte, 0, len(in.bom)+1+in.ends[k-1]-from)
	buf = append(buf, in.bom...)
	if shift {
		buf = append(buf, '\n')
	}
	buf = append(buf, in.text[from:in.ends[k-1]]...)
	dec := yaml.NewDecoder(bytes.NewReader(buf))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}
