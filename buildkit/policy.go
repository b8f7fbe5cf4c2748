package buildkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/signet-project/signet/policy"
)

// ParseSigningPolicy parses the signing rules of a policy handed to a
// build; name (e.g. "signet-policy/policy.yaml") is used in messages. The
// trust section is blanked out line for line before parsing, so messages
// keep their line numbers: its rules name key and certificate files the
// frontend cannot read, and it has nothing to say about signing. A policy
// without signing rules is an error, since checking a signing request
// against it would allow everything.
func ParseSigningPolicy(ctx context.Context, name string, data []byte) (*policy.Policy, error) {
	stripped, hasSigning := withoutTrust(data)
	if !hasSigning {
		return nil, fmt.Errorf("policy %s has no signing rules to check the signing request against", name)
	}
	p, err := policy.Parse(ctx, stripped, name)
	if err != nil {
		return nil, fmt.Errorf("parsing signing policy: %w", err)
	}
	return p, nil
}

// withoutTrust returns data with the top-level trust entry removed and
// whether a signing entry exists. Block YAML has the entry's lines blanked
// (line numbers stay true); a flow mapping (JSON) is re-encoded without
// it. Data that does not decode is returned as it is, for policy.Parse to
// report.
func withoutTrust(data []byte) ([]byte, bool) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return data, true
	}
	m := doc.Content[0]
	hasSigning := false
	trust := -1
	for i := 0; i+1 < len(m.Content); i += 2 {
		switch m.Content[i].Value {
		case "signing":
			hasSigning = true
		case "trust":
			trust = i
		}
	}
	if trust < 0 {
		return data, hasSigning
	}
	if m.Style&yaml.FlowStyle != 0 {
		m.Content = slices.Delete(m.Content, trust, trust+2)
		out, err := yaml.Marshal(&doc)
		if err != nil {
			return data, hasSigning
		}
		return out, hasSigning
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	first := m.Content[trust].Line - 1
	last := len(lines) - 1
	if trust+2 < len(m.Content) {
		last = m.Content[trust+2].Line - 2
	}
	for i := first; i <= last && i < len(lines); i++ {
		if bytes.HasSuffix(lines[i], []byte("\n")) {
			lines[i] = []byte("\n")
		} else {
			lines[i] = nil
		}
	}
	return bytes.Join(lines, nil), hasSigning
}

// PolicyError is a signing request a signing policy forbids.
type PolicyError struct {
	// Policy names the policy ("signet-policy/policy.yaml").
	Policy string
	Err    error
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("signing policy %s forbids this build's signing request: %v", e.Policy, e.Err)
}

func (e *PolicyError) Unwrap() error { return e.Err }

// unknownRepository stands in for the repository when the request does not
// name one. The .invalid TLD (RFC 2606) is never a real registry.
const unknownRepository = "repository.invalid/signet/unnamed"

// CheckPolicy checks the request against p's signing rules, the way signet
// checks a signing run (policy.CheckSigning): the key must be named by a
// rule that covers the repository and allows every format. Without a
// repository only what can be known is checked: that some rule names the
// key (when the request names one) and that the rules allow the formats
// somewhere; the repository is checked again when the image is signed.
func (r *SignRequest) CheckPolicy(p *policy.Policy) error {
	fail := func(err error) error { return &PolicyError{Policy: p.File, Err: err} }
	if !p.HasSigning() {
		return fail(errors.New("it has no signing rules"))
	}
	if r.Key != "" {
		repo := r.Repository
		if repo == "" {
			repo = unknownRepository
		}
		err := p.CheckSigning(policy.SigningRequest{Key: r.Key, Repo: repo, Formats: r.Formats, Source: r.Origins["key"]})
		var se *policy.SigningError
		if err == nil || r.Repository != "" || !errors.As(err, &se) {
			if err != nil {
				return fail(err)
			}
			return nil
		}
		switch se.Denial {
		case policy.DenyScope:
			// The key is named; whether its rules cover the image's
			// repository is unknown here, but its formats are not.
			if missing := notAllowed(r.Formats, se.Rules); len(missing) > 0 {
				return fail(fmt.Errorf("%s: key %s may sign only in %s, not in %s", r.Origins["key"], r.Key,
					strings.Join(allowedFormats(se.Rules), ", "), strings.Join(missing, ", ")))
			}
			return nil
		case policy.DenyFormat:
			// A catch-all rule of the key refuses a format that a rule
			// for the image's repository may allow: only the repository
			// can tell, so the check waits for it.
			return nil
		default:
			var named []string
			for _, rule := range p.Signing {
				named = append(named, rule.Key)
			}
			return fail(fmt.Errorf("%s: no signing rule names key %s (the rules name %s)", r.Origins["key"], r.Key, strings.Join(named, ", ")))
		}
	}
	// No key: some rule covering the repository must allow the formats.
	var rules []*policy.SigningRule
	for _, rule := range p.Signing {
		if r.Repository == "" || slices.ContainsFunc(rule.Patterns, func(pt policy.Pattern) bool { return pt.Matches(r.Repository) }) {
			rules = append(rules, rule)
		}
	}
	where := "any repository"
	if r.Repository != "" {
		where = r.Repository
	}
	if len(rules) == 0 {
		return fail(fmt.Errorf("no signing rule covers %s", where))
	}
	if missing := notAllowed(r.Formats, rules); len(missing) > 0 {
		return fail(fmt.Errorf("no signing rule allows %s for %s (they allow %s)", strings.Join(missing, ", "), where,
			strings.Join(allowedFormats(rules), ", ")))
	}
	return nil
}

func allowedFormats(rules []*policy.SigningRule) []string {
	var out []string
	for _, r := range rules {
		for _, f := range r.Formats {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

func notAllowed(formats []string, rules []*policy.SigningRule) []string {
	allowed := allowedFormats(rules)
	var out []string
	for _, f := range formats {
		if !slices.Contains(allowed, f) {
			out = append(out, f)
		}
	}
	return out
}
