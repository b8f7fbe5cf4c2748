package yamlnode_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/signet-project/signet/internal/yamlnode"
)

func mapping(t testing.TB, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

func TestFields(t *testing.T) {
	known := []string{"name", "scopes", "level"}
	m := mapping(t, `anchor: &k level
name: a
scpoes: [x]
name: b
? [list]
: 1
<<: {level: warn}
*k: enforce
colour: red
`)
	got, probs := yamlnode.Fields(m, known)
	if len(got) != 2 || got["name"].Value != "a" || got["level"].Value != "enforce" {
		t.Errorf("Fields() values = %v; want name: a (the first) and level: enforce (an alias key)", got)
	}
	type row struct {
		kind       yamlnode.ProblemKind
		key        string
		line       int
		suggestion string
		first      int
	}
	want := []row{
		{yamlnode.Unknown, "anchor", 1, "", 0},
		{yamlnode.Unknown, "scpoes", 3, "scopes", 0},
		{yamlnode.Repeated, "name", 4, "", 2},
		{yamlnode.NotString, "", 5, "", 0},
		{yamlnode.MergeKey, "<<", 7, "", 0},
		{yamlnode.Unknown, "colour", 9, "", 0},
	}
	if len(probs) != len(want) {
		t.Fatalf("Fields() problems = %+v; want %d", probs, len(want))
	}
	for i, p := range probs {
		r := row{p.Kind, p.Key.Value, p.Key.Line, p.Suggestion, 0}
		if p.First != nil {
			r.first = p.First.Line
		}
		if r != want[i] {
			t.Errorf("Fields() problem %d = %+v; want %+v", i, r, want[i])
		}
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"apiVersion", "kind", "trust", "signing"}
	tests := []struct{ in, want string }{
		{"trusts", "trust"},
		{"APIVERSION", "apiVersion"},
		{"kindd", "kind"},
		{"signign", "signing"},
		{"colour", ""},
		{string(make([]byte, 1000)), ""},
	}
	for _, tt := range tests {
		if got := yamlnode.Suggest(tt.in, known); got != tt.want {
			t.Errorf("Suggest(%.20q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// decodeErr decodes src as the readers do: yaml.Node documents until the
// end of the stream.
func decodeErr(src string) error {
	dec := yaml.NewDecoder(strings.NewReader(src))
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

// TestErrorLine checks the line of every kind of yaml.v3 syntax error:
// yaml.v3 prints the line of its parser errors counted from 0 and of its
// scanner errors counted from 1, and names the start of the construct
// being read rather than where it stopped (unless that start is on line
// 1). ErrorLine, which has only the error, corrects the count; ErrorLineIn,
// which has the input too, names the line where the parser stopped.
func TestErrorLine(t *testing.T) {
	const (
		inMapping = " (in the mapping that starts at or above this line)"
		inList    = " (in the list that starts at or above this line)"
		inFlowSeq = " (in the [ ] list that starts at or above this line)"
		inFlowMap = " (in the { } mapping that starts at or above this line)"
		inQuote   = " (in the quoted string that starts at or above this line)"
	)
	tests := []struct {
		name, in string
		line     int // ErrorLine
		msg      string
		lineIn   int // ErrorLineIn
		msgIn    string
	}{
		// Scanner errors: yaml.v3 counts from 1.
		{"tab in the indentation", "a: 1\nb:\n\t- x\n",
			3, "found character that cannot start any token",
			3, "found character that cannot start any token"},
		{"tab after a plain value", "a: 1\nb: 2\n\tc: 3\n",
			2, "found a tab character that violates indentation (in the value that starts at or above this line)",
			3, "found a tab character that violates indentation (in the value that starts at line 2)"},
		{"unterminated double quote", "a: 1\nb: \"x\nc: 2\n",
			2, "found unexpected end of stream" + inQuote,
			2, "found unexpected end of stream"},
		{"unterminated quote on the first line", "a: 'x\nb: 1\n",
			3, "found unexpected end of stream" + inQuote, // the end of the input
			1, "found unexpected end of stream"},
		{"mapping value in a plain value", "a: 1\nb: c: d\n",
			2, "mapping values are not allowed in this context",
			2, "mapping values are not allowed in this context"},
		{"mapping value on the first line", "a: b: c\n",
			1, "mapping values are not allowed in this context",
			1, "mapping values are not allowed in this context"},
		{"over-indented key", "a: 1\nb: 2\n c: 3\n",
			3, "mapping values are not allowed in this context",
			3, "mapping values are not allowed in this context"},
		{"mapping value on the last line, no final newline", "a: 1\nb: 2\nc: d: e",
			3, "mapping values are not allowed in this context",
			3, "mapping values are not allowed in this context"},

		// Parser errors: yaml.v3 counts from 0.
		{"key under a list item indented as an item", "images:\n  - ref: ghcr.io/a/b:v1\n  key: k\n",
			2, "did not find expected '-' indicator" + inList,
			3, "did not find expected '-' indicator (in the list that starts at line 2)"},
		{"list item without its space", "a:\n  - b\n  -c: 1\n",
			2, "did not find expected '-' indicator" + inList,
			3, "did not find expected '-' indicator (in the list that starts at line 2)"},
		{"mapping after a list on line 1", "- a\nb: 1\n",
			2, "did not find expected '-' indicator" + inList,
			2, "did not find expected '-' indicator (in the list that starts at line 1)"},
		{"mis-indented top-level key", "defaults:\n  key: cosign.key\n  formats: [cosign]\n images:\n  - ghcr.io/a/b:v1\n",
			4, "did not find expected key" + inMapping,
			4, "did not find expected key (in the mapping that starts at line 1)"},
		{"mis-indented top-level key after a comment", "# catalog\ndefaults:\n  key: cosign.key\n  formats: [cosign]\n images:\n",
			2, "did not find expected key" + inMapping,
			5, "did not find expected key (in the mapping that starts at line 2)"},
		{"dedented key of a nested mapping", "a:\n  b: 1\n c: 2\n",
			3, "did not find expected key" + inMapping,
			3, "did not find expected key (in the mapping that starts at line 1)"},
		{"mis-indented key on the last line", "a: 1\nb: 2\nc:\n  - d\n e: 1\n",
			5, "did not find expected key" + inMapping,
			5, "did not find expected key (in the mapping that starts at line 1)"},
		{"list item in a mapping", "a: 1\n- b\n",
			2, "did not find expected key" + inMapping,
			2, "did not find expected key (in the mapping that starts at line 1)"},
		{"unclosed flow sequence", "images:\n  - ghcr.io/a/b:v1\n  - ref: ghcr.io/a/c:v1\n    formats: [cosign\n  - ghcr.io/a/d:v1\n",
			4, "did not find expected ',' or ']'" + inFlowSeq,
			4, "did not find expected ',' or ']'"},
		{"unclosed flow sequence on the first line", "a: [x\nb: 1\n",
			2, "did not find expected ',' or ']'" + inFlowSeq, // where it stopped
			1, "did not find expected ',' or ']'"},
		{"unclosed flow mapping", "a: 1\nb: {x: 1\nc: 2\n",
			2, "did not find expected ',' or '}'" + inFlowMap,
			2, "did not find expected ',' or '}'"},
		{"unclosed flow mapping on the only line", "a: {x: 1\n",
			2, "did not find expected ',' or '}'" + inFlowMap, // the end of the input
			1, "did not find expected ',' or '}'"},
		{"stray bracket on the first line", "a: [x, y]]\n",
			1, "did not find expected key",
			1, "did not find expected key"},
		{"no value after a comma on the last line", "a: 1\nb: [x,\n",
			3, "did not find expected node content", // the end of the input
			2, "did not find expected node content"},
		{"second %YAML directive", "%YAML 1.1\n%YAML 1.1\n---\na\n",
			2, "found duplicate %YAML directive",
			2, "found duplicate %YAML directive"},
		{"error in the second document", "a: 1\n---\nb:\n  - x\n  y: 1\n",
			4, "did not find expected '-' indicator" + inList,
			5, "did not find expected '-' indicator (in the list that starts at line 4)"},
		{"CRLF", "a: 1\r\nb:\r\n  - x\r\n  y: 1\r\n",
			3, "did not find expected '-' indicator" + inList,
			4, "did not find expected '-' indicator (in the list that starts at line 3)"},
		{"byte order mark", "\ufeffa: 1\nb: [x\nc: 2\n",
			2, "did not find expected ',' or ']'" + inFlowSeq,
			2, "did not find expected ',' or ']'"},

		// Errors without a position in yaml.v3.
		{"control character", "a: 1\nb: \x01\n",
			0, "control characters are not allowed",
			2, "control characters are not allowed"},
		{"unknown anchor", "a: 1\nb: *x\n",
			0, "unknown anchor 'x' referenced",
			2, "unknown anchor 'x' referenced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := decodeErr(tt.in)
			if err == nil {
				t.Fatalf("decoding %q: no error", tt.in)
			}
			if line, msg := yamlnode.ErrorLine(err); line != tt.line || msg != tt.msg {
				t.Errorf("ErrorLine(%q) = %d, %q; want %d, %q", err, line, msg, tt.line, tt.msg)
			}
			if line, msg := yamlnode.ErrorLineIn([]byte(tt.in), err); line != tt.lineIn || msg != tt.msgIn {
				t.Errorf("ErrorLineIn(%q, %q) = %d, %q; want %d, %q", tt.in, err, line, msg, tt.lineIn, tt.msgIn)
			}
		})
	}
}

// TestErrorLineOther checks errors yaml.v3's decoder did not return for
// the data given.
func TestErrorLineOther(t *testing.T) {
	err := errors.New("yaml: control characters are not allowed")
	if line, msg := yamlnode.ErrorLine(err); line != 0 || msg != "control characters are not allowed" {
		t.Errorf("ErrorLine(no line) = %d, %q", line, msg)
	}
	// The input does not reproduce the error: ErrorLine's answer.
	err = decodeErr("a: 1\nb: [x\n")
	for _, in := range []string{"", "a: 1\n", "\xff\xfea\x00:\x00"} {
		if line, msg := yamlnode.ErrorLineIn([]byte(in), err); line != 2 || msg != "did not find expected ',' or ']' (in the [ ] list that starts at or above this line)" {
			t.Errorf("ErrorLineIn(%q, %q) = %d, %q; want ErrorLine's answer", in, err, line, msg)
		}
	}
}

// Fields decides which keys a mapping takes; the reader words the
// messages.
func ExampleFields() {
	var doc yaml.Node
	_ = yaml.Unmarshal([]byte("name: app\nlevle: warn\nname: again\n"), &doc)
	fields, probs := yamlnode.Fields(doc.Content[0], []string{"name", "level"})
	fmt.Println("name:", fields["name"].Value)
	for _, p := range probs {
		switch p.Kind {
		case yamlnode.Unknown:
			fmt.Printf("line %d: unknown field %q, did you mean %q?\n", p.Key.Line, p.Key.Value, p.Suggestion)
		case yamlnode.Repeated:
			fmt.Printf("line %d: %q again (first at line %d)\n", p.Key.Line, p.Key.Value, p.First.Line)
		}
	}
	// Output:
	// name: app
	// line 2: unknown field "levle", did you mean "level"?
	// line 3: "name" again (first at line 1)
}
