package yamlnode_test

import (
	"errors"
	"fmt"
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

func TestErrorLine(t *testing.T) {
	var v any
	err := yaml.Unmarshal([]byte("a: 1\nb: [\n"), &v)
	if line, msg := yamlnode.ErrorLine(err); line == 0 || msg == "" || msg == err.Error() {
		t.Errorf("ErrorLine(%q) = %d, %q; want the line and the message without the prefix", err, line, msg)
	}
	if line, msg := yamlnode.ErrorLine(errors.New("yaml: control characters are not allowed")); line != 0 || msg != "control characters are not allowed" {
		t.Errorf("ErrorLine(no line) = %d, %q", line, msg)
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
