package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Explain describes, for a repository or image reference, which trust
// rule applies and why (every matching scope, most specific first), what
// that rule trusts and requires, and which signing rules cover it. It is
// what signet policy explain prints.
func (p *Policy) Explain(ref string) (string, error) {
	repo, err := normalizeRepo(ref)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", ref)
	if repo != ref {
		fmt.Fprintf(&b, "  repository %s\n", repo)
	}
	p.explainTrust(&b, ref, repo)
	p.explainSigning(&b, repo)
	return b.String(), nil
}

func (p *Policy) explainTrust(b *strings.Builder, ref, repo string) {
	if len(p.Trust) == 0 {
		fmt.Fprintf(b, "trust: %s has no trust rules\n", p.File)
		return
	}
	s, err := p.TrustFor(ref)
	ms := p.matches(repo)
	switch {
	case errors.Is(err, ErrNoScope):
		fmt.Fprintf(b, "trust: no rule applies: verification with this policy fails (%v)\n", err)
		return
	case err != nil:
		fmt.Fprintf(b, "trust: %v\n", err)
	default:
		fmt.Fprintf(b, "trust: rule %q (%s), level %s: %s\n", s.Name, s.Pos, s.Level, levelMeaning(s.Level))
	}
	fmt.Fprintf(b, "  matching scopes, most specific first:\n")
	for i, m := range ms {
		mark := " "
		if i == 0 && err == nil {
			mark = "*"
		}
		fmt.Fprintf(b, "   %s %-32q rule %q (%s)\n", mark, m.pat.Text, m.scope.Name, m.pat.Pos)
	}
	if err != nil {
		return
	}
	if len(s.keys) == 0 {
		fmt.Fprintf(b, "  keys: none\n")
	}
	for _, k := range s.keys {
		state := ""
		if _, revoked := s.revokedKeys[k.fp]; revoked {
			state = " (revoked)"
		}
		fmt.Fprintf(b, "  key: %s %s%s\n", k.source, k.fp, state)
	}
	if len(s.roots) == 0 {
		fmt.Fprintf(b, "  roots: none (certificate chains are not trusted)\n")
	}
	for _, r := range s.roots {
		fmt.Fprintf(b, "  root: %s %q %s (valid %s to %s)\n", r.source, r.cert.Subject.String(), r.fp,
			r.cert.NotBefore.UTC().Format(time.DateOnly), r.cert.NotAfter.UTC().Format(time.DateOnly))
	}
	if len(s.roots) > 0 {
		if len(s.Identities) == 0 {
			fmt.Fprintf(b, "  identities: any certificate the roots issue for code signing\n")
		} else {
			fmt.Fprintf(b, "  identities: %s\n", quoteList(s.Identities))
		}
	}
	if n := len(s.revokedKeys) + len(s.revokedCerts) + len(s.revokedSerials); n > 0 {
		fmt.Fprintf(b, "  revoked: keys %d, certificates %d, serial numbers %d\n", len(s.revokedKeys), len(s.revokedCerts), len(s.revokedSerials))
	}
	if len(s.RequiredFormats) == 0 {
		fmt.Fprintf(b, "  requires: a trusted signature in at least one format\n")
	} else if len(s.RequiredFormats) == 1 {
		fmt.Fprintf(b, "  requires: a trusted %s signature\n", s.RequiredFormats[0])
	} else {
		fmt.Fprintf(b, "  requires: a trusted signature in each of %s\n", strings.Join(s.RequiredFormats, ", "))
	}
	if len(s.RequiredAttestations) > 0 {
		fmt.Fprintf(b, "  requires attestations: %s\n", strings.Join(s.RequiredAttestations, ", "))
	}
}

func levelMeaning(l Level) string {
	switch l {
	case LevelEnforce:
		return "violations block (verify exits non-zero)"
	case LevelWarn:
		return "violations are allowed with a warning"
	default:
		return "violations are only recorded in the report"
	}
}

func (p *Policy) explainSigning(b *strings.Builder, repo string) {
	if len(p.Signing) == 0 {
		fmt.Fprintf(b, "signing: %s has no signing rules\n", p.File)
		return
	}
	found := false
	for _, r := range p.Signing {
		for _, pat := range r.Patterns {
			if pat.p.match(repo) {
				if !found {
					fmt.Fprintf(b, "signing: keys that may sign here:\n")
				}
				found = true
				fmt.Fprintf(b, "  %s in %s (%s: scope %q)\n", r.Key, strings.Join(r.Formats, ", "), r, pat.Text)
				break
			}
		}
	}
	if !found {
		fmt.Fprintf(b, "signing: no rule covers this repository: no key may sign it\n")
	}
}
