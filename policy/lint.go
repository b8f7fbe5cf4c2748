package policy

import (
	"fmt"
	"strings"
	"time"
)

// Lint reports mistakes a policy can parse with: scopes of two rules that
// tie or repeat, rules no repository can reach, rules that can never
// verify anything, identities without roots, unusable roots, and signing
// rules broader than least privilege asks. signet policy check prints
// them; a policy with error-severity problems should not be used.
func (p *Policy) Lint() Problems {
	l := &linter{p: p, now: time.Now(), budget: maxLintWork}
	l.scopes()
	for _, s := range p.Trust {
		l.trustRule(s)
	}
	for i, r := range p.Signing {
		l.signingRule(r, i)
	}
	l.probs.sort()
	return l.probs
}

type linter struct {
	p      *Policy
	now    time.Time
	probs  Problems
	budget int // work left for scope searches
}

// search runs a scope search on the linter's budget, capped per search.
func (l *linter) search(a *pattern, bs []*pattern, want bool) searchResult {
	one := min(l.budget, maxSearchWork)
	left := one
	r := searchBudget(a, bs, want, &left)
	l.budget -= one - max(left, 0)
	return r
}

func (l *linter) add(pos Pos, sev Severity, rule, format string, a ...any) {
	l.probs = append(l.probs, Problem{Pos: pos, Severity: sev, Rule: rule, Msg: fmt.Sprintf(format, a...)})
}

type lintPattern struct {
	scope *Scope
	pat   Pattern
}

// scopes checks how the trust rules' scopes interact.
func (l *linter) scopes() {
	var all []lintPattern
	for _, s := range l.p.Trust {
		seen := map[string]bool{}
		for _, pat := range s.Patterns {
			if seen[pat.p.norm] {
				l.add(pat.Pos, SeverityWarning, s.Name, "scope %q is listed twice", pat.Text)
				continue
			}
			seen[pat.p.norm] = true
			all = append(all, lintPattern{s, pat})
		}
	}
	for i, a := range all {
		for _, b := range all[i+1:] {
			if a.scope == b.scope {
				continue
			}
			if a.pat.p.norm == b.pat.p.norm {
				l.add(b.pat.Pos, SeverityError, b.scope.Name, "scope %q is also a scope of rule %q (%s): a scope belongs to one rule",
					b.pat.Text, a.scope.Name, a.pat.Pos)
				continue
			}
			if a.pat.p.rank.compare(b.pat.p.rank) != 0 {
				continue
			}
			r := l.search(a.pat.p, []*pattern{b.pat.p}, true)
			switch {
			case r.found:
				l.add(b.pat.Pos, SeverityError, b.scope.Name,
					"scope %q ties with scope %q of rule %q (%s): both match %s and neither is more specific; make one more specific",
					b.pat.Text, a.pat.Text, a.scope.Name, a.pat.Pos, r.witness)
			case !r.complete:
				l.add(b.pat.Pos, SeverityWarning, b.scope.Name,
					"could not decide whether scope %q ties with scope %q of rule %q (%s)", b.pat.Text, a.pat.Text, a.scope.Name, a.pat.Pos)
			}
		}
	}
	// A scope is shadowed when more specific scopes of other rules match
	// every repository it matches; a rule whose scopes are all shadowed
	// is unreachable.
	for _, s := range l.p.Trust {
		if len(s.Patterns) == 0 {
			continue
		}
		shadowed := 0
		var notes []string
		for _, pat := range s.Patterns {
			var over []*pattern
			var names []string
			for _, o := range all {
				if o.scope != s && o.pat.p.rank.compare(pat.p.rank) > 0 {
					over = append(over, o.pat.p)
					names = append(names, fmt.Sprintf("%q (rule %q)", o.pat.Text, o.scope.Name))
				}
			}
			if len(over) == 0 {
				continue
			}
			r := l.search(pat.p, over, false)
			if r.found || !r.complete {
				continue
			}
			shadowed++
			notes = append(notes, fmt.Sprintf("scope %q is covered by %s", pat.Text, strings.Join(names, ", ")))
		}
		switch {
		case shadowed == len(s.Patterns):
			l.add(s.Pos, SeverityError, s.Name, "rule is unreachable: more specific scopes of other rules match every repository it covers (%s)",
				strings.Join(notes, "; "))
		case shadowed > 0:
			for _, n := range notes {
				l.add(s.Pos, SeverityWarning, s.Name, "%s, so it never selects this rule", n)
			}
		}
	}
}

func (l *linter) trustRule(s *Scope) {
	if len(s.keys) == 0 && len(s.roots) == 0 {
		if s.Level == LevelEnforce {
			l.add(s.Pos, SeverityError, s.Name, "rule trusts no keys and no roots: under enforce it blocks every image it covers")
		} else {
			l.add(s.Pos, SeverityWarning, s.Name, "rule trusts no keys and no roots: every image it covers is reported as unverified")
		}
	}
	if len(s.identities) > 0 && len(s.roots) == 0 {
		l.add(s.Pos, SeverityError, s.Name, "identities apply to certificates, but the rule lists no roots to validate them against")
	}
	if len(s.roots) > 0 && len(s.identities) == 0 {
		l.add(s.Pos, SeverityWarning, s.Name, `rule lists roots but no identities: any code-signing certificate the roots issue is trusted; list identities, or "*" to say so`)
	}
	for _, k := range s.keys {
		if why := s.keyRevocation(k.fp); why != "" {
			l.add(k.pos, SeverityWarning, s.Name, "key %s (%s) is also revoked: %s; revocation wins, so the rule does not trust it", k.source, k.fp, why)
		}
	}
	for _, r := range s.roots {
		c := r.cert
		switch {
		case !c.IsCA && !selfSigned(c):
			l.add(r.pos, SeverityError, s.Name, "root %s %q is neither a CA nor self-signed, so it cannot anchor a chain", r.source, c.Subject.String())
		case l.now.After(c.NotAfter):
			l.add(r.pos, SeverityWarning, s.Name, "root %s %q expired on %s: only signatures made before then can verify",
				r.source, c.Subject.String(), c.NotAfter.UTC().Format(time.DateOnly))
		case l.now.Before(c.NotBefore):
			l.add(r.pos, SeverityWarning, s.Name, "root %s %q is not valid until %s", r.source, c.Subject.String(), c.NotBefore.UTC().Format(time.DateOnly))
		}
		if why := s.certRevocation(c); why != "" {
			l.add(r.pos, SeverityWarning, s.Name, "root %s %q is revoked (%s): nothing it issued can verify", r.source, c.Subject.String(), why)
		}
	}
	for i, a := range s.identities {
		for j, b := range s.identities {
			if i == j || !a.covers(b) {
				continue
			}
			if b.covers(a) && j < i {
				continue // equal patterns: report the later one once
			}
			l.add(b.pos, SeverityWarning, s.Name, "identity %q is redundant: %q already matches every subject it matches", b.text, a.text)
		}
	}
}

func (l *linter) signingRule(r *SigningRule, idx int) {
	name := r.Name
	if name == "" {
		name = fmt.Sprintf("signing[%d]", idx)
	}
	for _, pat := range r.Patterns {
		if pat.p.global || pat.p.norm == "*/**" {
			l.add(pat.Pos, SeverityWarning, name, "scope %q lets key %s sign any repository; least privilege names the repositories", pat.Text, r.Key)
		}
	}
	if r.key.kind == keyPKCS11 {
		_, obj := r.key.attrs["object"]
		_, id := r.key.attrs["id"]
		if !obj && !id {
			l.add(r.Pos, SeverityWarning, name, "key %s names no object or id, so it matches every key on the token", r.Key)
		}
	}
}
