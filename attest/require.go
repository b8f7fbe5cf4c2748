package attest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Requirement is a condition on a verified statement: the JSON value at a
// dotted path equals a string, e.g.
// predicate.runDetails.builder.id=https://github.com/org/app/.github/workflows/build.yml@refs/heads/main.
//
// The path starts at the statement (_type, subject, predicateType,
// predicate). A numeric segment indexes an array; any other segment on an
// array applies to each element, and one matching element is enough, so
// predicate.buildDefinition.resolvedDependencies.uri=git+https://… asks
// that some dependency has that URI. Strings compare as they are; numbers,
// booleans and null compare as their JSON text.
type Requirement struct {
	Path  []string
	Value string
}

// ParseRequirement parses FIELD=VALUE; the value may contain "=".
func ParseRequirement(s string) (Requirement, error) {
	field, value, ok := strings.Cut(s, "=")
	if !ok || field == "" {
		return Requirement{}, fmt.Errorf("requirement %q: want FIELD=VALUE, e.g. predicate.runDetails.builder.id=https://…", s)
	}
	path := strings.Split(field, ".")
	for _, seg := range path {
		if seg == "" {
			return Requirement{}, fmt.Errorf("requirement %q: field %q has an empty segment", s, field)
		}
	}
	return Requirement{Path: path, Value: value}, nil
}

// String returns the requirement as FIELD=VALUE.
func (r Requirement) String() string { return strings.Join(r.Path, ".") + "=" + r.Value }

// errUnmet marks a statement that does not meet a requirement.
var errUnmet = errors.New("requirement not met")

// Check reports whether st meets r, saying what it holds instead when not.
func (r Requirement) Check(st *Statement) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding statement to check %s: %w", r, err)
	}
	var doc any
	if err := decodeJSON(raw, &doc); err != nil {
		return fmt.Errorf("decoding statement to check %s: %w", r, err)
	}
	field := strings.Join(r.Path, ".")
	got := leaves(doc, r.Path, nil)
	if len(got) == 0 {
		return fmt.Errorf("%w: %s is absent, want %q", errUnmet, field, r.Value)
	}
	for _, v := range got {
		if v == r.Value {
			return nil
		}
	}
	if len(got) == 1 {
		return fmt.Errorf("%w: %s is %s, want %q", errUnmet, field, quoteLeaf(got[0]), r.Value)
	}
	for i := range got {
		got[i] = quoteLeaf(got[i])
	}
	return fmt.Errorf("%w: %s is one of [%s], want %q", errUnmet, field, strings.Join(got, ", "), r.Value)
}

func checkAll(st *Statement, reqs []Requirement) error {
	for _, r := range reqs {
		if err := r.Check(st); err != nil {
			return err
		}
	}
	return nil
}

// leaves collects the comparable values at path under v.
func leaves(v any, path []string, out []string) []string {
	if len(path) == 0 {
		switch x := v.(type) {
		case string:
			return append(out, x)
		case json.Number:
			return append(out, x.String())
		case bool:
			return append(out, strconv.FormatBool(x))
		case nil:
			return append(out, "null")
		case []any:
			// A list of plain values matches when one of them does.
			for _, e := range x {
				if _, nested := e.(map[string]any); !nested {
					out = leaves(e, nil, out)
				}
			}
		}
		return out
	}
	switch x := v.(type) {
	case map[string]any:
		if child, ok := x[path[0]]; ok {
			return leaves(child, path[1:], out)
		}
	case []any:
		if i, err := strconv.Atoi(path[0]); err == nil {
			if i >= 0 && i < len(x) {
				return leaves(x[i], path[1:], out)
			}
			return out
		}
		for _, e := range x {
			out = leaves(e, path, out)
		}
	}
	return out
}

func quoteLeaf(s string) string { return strconv.Quote(s) }
