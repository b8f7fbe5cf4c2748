package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		repo    string
		want    bool
	}{
		{"*", "registry.example.com/team/app", true},
		{"*", "ubuntu", true},
		{"registry.example.com/team/app", "registry.example.com/team/app", true},
		{"registry.example.com/team/app", "registry.example.com/team/app:v1", true},
		{"registry.example.com/team/app", "registry.example.com/team/app@sha256:" + strings.Repeat("a", 64), true},
		{"registry.example.com/team/app", "registry.example.com/team/app2", false},
		{"registry.example.com/team/*", "registry.example.com/team/app", true},
		{"registry.example.com/team/*", "registry.example.com/team/a/b", false},
		{"registry.example.com/team/*", "registry.example.com/team", false},
		{"registry.example.com/team/**", "registry.example.com/team", true},
		{"registry.example.com/team/**", "registry.example.com/team/a/b/c", true},
		{"registry.example.com/team/**", "registry.example.com/teams/a", false},
		{"registry.example.com/**/app", "registry.example.com/app", true},
		{"registry.example.com/**/app", "registry.example.com/x/y/app", true},
		{"registry.example.com/**/app", "registry.example.com/x/y/app2", false},
		{"registry.example.com/team/app-*", "registry.example.com/team/app-web", true},
		{"registry.example.com/team/app-*", "registry.example.com/team/web", false},
		{"127.0.0.1:*/app/**", "127.0.0.1:5000/app/x", true},
		{"127.0.0.1:*/app/**", "127.0.0.1/app/x", false},
		{"127.0.0.1:5000/prod/*", "127.0.0.1:5001/prod/x", false},
		{"*/team/app", "ghcr.io/team/app", true},
		{"*.example.com/team/app", "registry.example.com/team/app", true},
		{"*.example.com/team/app", "example.com/team/app", false},
		{"docker.io/library/ubuntu", "ubuntu", true},
		{"docker.io/ubuntu", "ubuntu:22.04", true},
		{"docker.io/library/*", "index.docker.io/library/alpine", true},
		{"localhost/app", "localhost/app", true},
	}
	for _, tt := range tests {
		p, err := compilePattern(tt.pattern)
		if err != nil {
			t.Errorf("compilePattern(%q) = %v", tt.pattern, err)
			continue
		}
		pat := Pattern{Text: tt.pattern, p: p}
		if got := pat.Matches(tt.repo); got != tt.want {
			t.Errorf("Pattern(%q).Matches(%q) = %v; want %v", tt.pattern, tt.repo, got, tt.want)
		}
	}
}

func TestCompilePatternErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                                 "empty scope",
		"registry.example.com":             "names no repository",
		"registry.example.com/":            "empty part",
		"r.io//a":                          "empty part",
		"**/a":                             "cannot stand for the registry host",
		"r.io/a**":                         "must be a whole part",
		"r.io/***":                         "must be a whole part",
		"R.io/a":                           "lowercase",
		"r.io/a b":                         "not allowed",
		"team/app":                         "not a registry host",
		"r.io/a?":                          "only '*' and '**'",
		"r.io:abc/a":                       "not a valid registry host",
		"r.io/" + strings.Repeat("a", 300): "at most",
	} {
		if _, err := compilePattern(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("compilePattern(%q) = %v; want error containing %q", in, err, want)
		}
	}
}

func TestRankOrder(t *testing.T) {
	// Each pattern is strictly more specific than the next.
	order := []string{
		"r.io/team/app",
		"r.io/team/app-*",
		"r.io/team/*",
		"r.io/team/**",
		"r.io/*/app",
		"r.io/**/b/**",
		"r.io/**",
		"*/team/app",
		"*/**",
		"*",
	}
	for i := 0; i+1 < len(order); i++ {
		a, _ := compilePattern(order[i])
		b, _ := compilePattern(order[i+1])
		if c := a.rank.compare(b.rank); c <= 0 {
			t.Errorf("rank(%q).compare(rank(%q)) = %d; want > 0", order[i], order[i+1], c)
		}
		if c := b.rank.compare(a.rank); c >= 0 {
			t.Errorf("rank(%q).compare(rank(%q)) = %d; want < 0", order[i+1], order[i], c)
		}
	}
}

func TestSearch(t *testing.T) {
	compile := func(s string) *pattern {
		p, err := compilePattern(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	overlap := []struct {
		a, b string
		want bool
	}{
		{"r.io/a/*/x", "r.io/a/x/*", true},
		{"r.io/team/*", "r.io/other/*", false},
		{"r.io/team/*", "*", true},
		{"r.io/a*", "r.io/*b", true},
		{"r.io/a/*", "r.io/a/**", true},
		{"r.io/*", "r.io/*/*", false},
		{"*/app", "r.io/**", true},
		{"q.io/**", "r.io/**", false},
	}
	for _, tt := range overlap {
		a, b := compile(tt.a), compile(tt.b)
		r := search(a, []*pattern{b}, true)
		if !r.complete || r.found != tt.want {
			t.Errorf("overlap(%q, %q) = %+v; want found=%v", tt.a, tt.b, r, tt.want)
			continue
		}
		if r.found && (!a.match(r.witness) || !b.match(r.witness)) {
			t.Errorf("overlap(%q, %q) witness %q is not matched by both", tt.a, tt.b, r.witness)
		}
	}
	covered := []struct {
		a    string
		bs   []string
		want bool
	}{
		{"r.io/team/*", []string{"r.io/**"}, true},
		{"r.io/**", []string{"r.io/team/*"}, false},
		{"r.io/**/b/**", []string{"r.io/**"}, true},
		{"r.io/a*", []string{"r.io/ab*", "r.io/a"}, false},
		{"r.io/*/**", []string{"r.io/*", "r.io/*/*/**"}, true},
		{"r.io/*/**", []string{"r.io/*/*/**"}, false},
		{"r.io/*", []string{"*"}, true},
		{"*", []string{"*/**"}, true},
		{"*", []string{"r.io/**"}, false},
	}
	for _, tt := range covered {
		var bs []*pattern
		for _, b := range tt.bs {
			bs = append(bs, compile(b))
		}
		a := compile(tt.a)
		r := search(a, bs, false)
		if !r.complete {
			t.Errorf("covered(%q, %q) gave up", tt.a, tt.bs)
			continue
		}
		if got := !r.found; got != tt.want {
			t.Errorf("covered(%q, %q) = %v (witness %q); want %v", tt.a, tt.bs, got, r.witness, tt.want)
		}
		if r.found {
			if !a.match(r.witness) {
				t.Errorf("covered(%q, %q): witness %q not matched by %q", tt.a, tt.bs, r.witness, tt.a)
			}
			for _, b := range bs {
				if b.match(r.witness) {
					t.Errorf("covered(%q, %q): witness %q matched by %q", tt.a, tt.bs, r.witness, b.text)
				}
			}
		}
	}
}

func TestTrustFor(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t)
	writeFile(t, dir, "k.pub", pubPEM(t, k.Public()))
	p := mustParse(t, dir, dedent(`
		apiVersion: signet.dev/v1
		kind: TrustPolicy
		trust:
		  - name: exact
		    scopes: ["registry.example.com/team/app"]
		    level: enforce
		    keys: [k.pub]
		  - name: team
		    scopes: ["registry.example.com/team/*"]
		    level: enforce
		    keys: [k.pub]
		  - name: team-tree
		    scopes: ["registry.example.com/team/**"]
		    level: warn
		    keys: [k.pub]
		  - name: registry
		    scopes: ["registry.example.com/**"]
		    level: warn
		    keys: [k.pub]
		  - name: local
		    scopes: ["127.0.0.1:*/app/**", "localhost:5000/app/**"]
		    level: audit
		    keys: [k.pub]
		  - name: hub
		    scopes: ["docker.io/library/*"]
		    level: audit
		    keys: [k.pub]
		  - name: fallback
		    scopes: ["*"]
		    level: audit
		    keys: [k.pub]
		`))
	tests := []struct{ ref, want string }{
		{"registry.example.com/team/app", "exact"},
		{"registry.example.com/team/app:v1", "exact"},
		{"registry.example.com/team/web", "team"},
		{"registry.example.com/team/web/api", "team-tree"},
		{"registry.example.com/team", "team-tree"},
		{"registry.example.com/other/x", "registry"},
		{"127.0.0.1:5000/app/x", "local"},
		{"127.0.0.1:5000/app", "local"},
		{"localhost:5000/app/y@sha256:" + strings.Repeat("b", 64), "local"},
		{"127.0.0.1:5000/other", "fallback"},
		{"alpine", "hub"},
		{"ghcr.io/x/y", "fallback"},
	}
	for _, tt := range tests {
		s, err := p.TrustFor(tt.ref)
		if err != nil {
			t.Errorf("TrustFor(%q) = %v", tt.ref, err)
			continue
		}
		if s.Name != tt.want {
			t.Errorf("TrustFor(%q) = rule %q; want %q", tt.ref, s.Name, tt.want)
		}
	}
	if probs := p.Lint(); probs.Err() != nil {
		t.Errorf("Lint() = %v", probs.Err())
	}
	if _, err := p.TrustFor("Not A Reference"); err == nil {
		t.Error("TrustFor(invalid) = nil error")
	}
}

func TestTrustForNoScopeAndTie(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t)
	writeFile(t, dir, "k.pub", pubPEM(t, k.Public()))
	p := mustParse(t, dir, dedent(`
		apiVersion: signet.dev/v1
		kind: TrustPolicy
		trust:
		  - name: a
		    scopes: ["r.io/*/a/*"]
		    level: enforce
		    keys: [k.pub]
		  - name: b
		    scopes: ["r.io/*/*/a"]
		    level: enforce
		    keys: [k.pub]
		`))
	_, err := p.TrustFor("q.io/app")
	if !errors.Is(err, ErrNoScope) || !strings.Contains(err.Error(), `add a scope covering it, or a rule with scopes: ["*"]`) {
		t.Errorf("TrustFor(uncovered) = %v; want ErrNoScope with advice", err)
	}
	_, err = p.TrustFor("r.io/x/a/a")
	if !errors.Is(err, ErrAmbiguousScope) || !strings.Contains(err.Error(), `"r.io/*/a/*" of rule "a"`) {
		t.Errorf("TrustFor(tie) = %v; want ErrAmbiguousScope naming both", err)
	}
	if s, err := p.TrustFor("r.io/x/a/b"); err != nil || s.Name != "a" {
		t.Errorf("TrustFor(r.io/x/a/b) = %v, %v; want rule a", s, err)
	}
	probs := p.Lint()
	if err := probs.Err(); err == nil || !strings.Contains(err.Error(), "ties with scope") || !strings.Contains(err.Error(), "both match r.io/") {
		t.Errorf("Lint() = %v; want a tie with an example repository", err)
	}
}

// go-containerregistry puts every one-part Docker Hub name under library/,
// so a one-part Docker Hub scope means the same, wildcards included; and a
// host in any case is the same host.
func TestDockerHubScopes(t *testing.T) {
	tests := []struct {
		scope string
		norm  string
		match []string
		miss  []string
	}{
		{scope: "docker.io/*", norm: "index.docker.io/library/*",
			match: []string{"ubuntu", "ubuntu:24.04", "docker.io/ubuntu", "docker.io/library/ubuntu", "index.docker.io/ubuntu",
				"Docker.io/ubuntu", "DOCKER.IO/library/alpine:3"},
			miss: []string{"bitnami/nginx", "docker.io/bitnami/nginx", "ghcr.io/ubuntu", "docker.io/library/a/b"}},
		{scope: "index.docker.io/*", norm: "index.docker.io/library/*", match: []string{"alpine"}, miss: []string{"bitnami/nginx"}},
		{scope: "docker.io/ubuntu*", norm: "index.docker.io/library/ubuntu*",
			match: []string{"ubuntu", "ubuntu-debootstrap:latest", "docker.io/library/ubuntu"},
			miss:  []string{"alpine", "docker.io/ubuntu/x", "canonical/ubuntu"}},
		{scope: "docker.io/**", norm: "index.docker.io/**", match: []string{"ubuntu", "bitnami/nginx", "a/b/c"}, miss: []string{"ghcr.io/a/b"}},
		{scope: "docker.io/*/*", norm: "index.docker.io/*/*", match: []string{"ubuntu", "bitnami/nginx"}, miss: []string{"a/b/c"}},
		{scope: "docker.io/library/ubuntu", norm: "index.docker.io/library/ubuntu",
			match: []string{"ubuntu", "Docker.io/library/ubuntu", "INDEX.DOCKER.IO/ubuntu", "DOCKER.IO/ubuntu:24.04", " docker.io/ubuntu "}},
		{scope: "r.io/team/*", norm: "r.io/team/*", match: []string{"R.IO/team/x", "r.io/team/x"}, miss: []string{"r.io/TEAM/x"}},
		{scope: "localhost:5000/app", norm: "localhost:5000/app", match: []string{"LOCALHOST:5000/app"}},
		{scope: "localhost/app", norm: "localhost/app", match: []string{"localhost/app", "LocalHost/app"}},
	}
	for _, tt := range tests {
		p, err := compilePattern(tt.scope)
		if err != nil {
			t.Errorf("compilePattern(%q) = %v", tt.scope, err)
			continue
		}
		if p.norm != tt.norm {
			t.Errorf("compilePattern(%q).norm = %q; want %q", tt.scope, p.norm, tt.norm)
		}
		pat := Pattern{Text: tt.scope, p: p}
		for _, ref := range tt.match {
			if !pat.Matches(ref) {
				n, err := normalizeRepo(ref)
				t.Errorf("%q does not match %q (normalised %q, %v)", tt.scope, ref, n, err)
			}
		}
		for _, ref := range tt.miss {
			if pat.Matches(ref) {
				t.Errorf("%q matches %q", tt.scope, ref)
			}
		}
	}
}

// "docker.io/*" and "docker.io/library/*" are one scope; two rules
// listing them are an error, as for any scope listed twice.
func TestDockerHubWildcardScopeRules(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t)
	writeFile(t, dir, "k.pub", pubPEM(t, k.Public()))
	tests := []struct {
		name  string
		hub   string // the hub rule's scopes
		other string // the other rule's scopes
		ref   string
		rule  string // the rule TrustFor picks, when lint finds no error
		lint  string // a lint error, or "" for none
	}{
		{name: "official images", hub: `["docker.io/*"]`, other: `["*"]`, ref: "ubuntu:24.04", rule: "hub"},
		{name: "prefix", hub: `["docker.io/ubuntu*"]`, other: `["*"]`, ref: "docker.io/ubuntu-debootstrap", rule: "hub"},
		{name: "mixed-case host", hub: `["docker.io/**"]`, other: `["*"]`, ref: "Docker.io/library/ubuntu", rule: "hub"},
		{name: "not another namespace", hub: `["docker.io/*"]`, other: `["*"]`, ref: "bitnami/nginx", rule: "other"},
		{name: "same scope as docker.io/library/*", hub: `["docker.io/*"]`, other: `["docker.io/library/*"]`,
			lint: `scope "docker.io/library/*" is also a scope of rule "hub"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := mustParse(t, dir, dedent(`
				apiVersion: signet.dev/v1
				kind: TrustPolicy
				trust:
				  - name: hub
				    scopes: `+tt.hub+`
				    level: enforce
				    keys: [k.pub]
				  - name: other
				    scopes: `+tt.other+`
				    level: audit
				    keys: [k.pub]
				`))
			err := pol.Lint().Err()
			if tt.lint != "" {
				if err == nil || !strings.Contains(err.Error(), tt.lint) {
					t.Errorf("Lint() = %v; want an error containing %q", err, tt.lint)
				}
				return
			}
			if err != nil {
				t.Errorf("Lint() = %v", err)
			}
			if s, err := pol.TrustFor(tt.ref); err != nil || s.Name != tt.rule {
				t.Errorf("TrustFor(%q) = %v, %v; want rule %q", tt.ref, s, err, tt.rule)
			}
		})
	}
}
