package policy

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/signet-project/signet/internal/yamlnode"
)

// Parse parses a policy. filename is used in messages and to resolve the
// relative paths of key and certificate files, which are read here, once:
// a missing or malformed file is an error naming the file and the rule.
// JSON is accepted as the YAML subset it is. Every problem found is
// reported, each with file:line, in an *Error.
func Parse(ctx context.Context, data []byte, filename string, opts ...Option) (*Policy, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	p := &parser{ctx: ctx, file: filename, dir: filepath.Dir(filename), opts: o}
	if len(data) > maxPolicySize {
		p.errorf(nil, "", "policy is %d bytes, larger than the %d allowed", len(data), maxPolicySize)
		return nil, p.probs.Err()
	}
	root := p.decode(data)
	var pol *Policy
	if root != nil {
		pol = p.policy(root)
	}
	p.probs.sort()
	if err := p.probs.Err(); err != nil {
		return nil, err
	}
	return pol, nil
}

// maxNodes bounds the YAML nodes visited, aliases counted each time they
// are followed, so that an alias bomb cannot make Parse run for ever.
const maxNodes = 100000

type parser struct {
	ctx    context.Context
	file   string
	dir    string
	opts   *options
	probs  Problems
	nodes  int
	tooBig bool
}

func (p *parser) pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: p.file}
	}
	return Pos{File: p.file, Line: n.Line, Column: n.Column}
}

func (p *parser) errorf(n *yaml.Node, rule, format string, a ...any) {
	p.probs = append(p.probs, Problem{Pos: p.pos(n), Severity: SeverityError, Rule: rule, Msg: fmt.Sprintf(format, a...)})
}

func (p *parser) decode(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(nil, "", "empty policy: want apiVersion: %s, kind and trust or signing rules", APIVersion)
			return nil
		}
		p.yamlErr(data, err)
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		p.yamlErr(data, err)
		return nil
	default:
		p.errorf(&extra, "", "a policy file holds one YAML document; use kind: Policy to hold trust and signing rules together")
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		p.errorf(&doc, "", "empty policy")
		return nil
	}
	return doc.Content[0]
}

func (p *parser) yamlErr(data []byte, err error) {
	line, msg := yamlnode.ErrorLineIn(data, err)
	if strings.Contains(msg, "alias") || strings.Contains(msg, "did not find expected alphabetic or numeric character") {
		msg += ` (a value starting with '*' must be quoted: "*")`
	}
	p.probs = append(p.probs, Problem{Pos: Pos{File: p.file, Line: line}, Severity: SeverityError, Msg: "invalid YAML: " + msg})
}

// resolve follows aliases and counts nodes; nil means "stop".
func (p *parser) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 64; i++ {
		n = n.Alias
	}
	if n == nil || n.Kind == yaml.AliasNode {
		return nil
	}
	p.nodes++
	if p.nodes > maxNodes {
		if !p.tooBig {
			p.tooBig = true
			p.errorf(n, "", "policy has more than %d YAML nodes (aliases counted each time they are used)", maxNodes)
		}
		return nil
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return "a string"
	}
	return "something else"
}

// mapping returns the fields of a mapping node; unknown and repeated
// fields are errors.
func (p *parser) mapping(n *yaml.Node, rule, what string, known ...string) map[string]*yaml.Node {
	n = p.resolve(n)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, rule, "%s: want a mapping, got %s", what, kindName(n))
		return nil
	}
	// Keys count toward the node budget, as values do when they are read.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if p.resolve(n.Content[i]) == nil {
			return nil
		}
	}
	out, probs := yamlnode.Fields(n, known)
	for _, pr := range probs {
		switch pr.Kind {
		case yamlnode.NotString:
			p.errorf(pr.Key, rule, "%s: field names are strings", what)
		case yamlnode.MergeKey:
			p.errorf(pr.Key, rule, "%s: YAML merge keys (<<) are not supported; repeat the fields or use an alias for a whole value", what)
		case yamlnode.Unknown:
			hint := ""
			if pr.Suggestion != "" {
				hint = fmt.Sprintf("; did you mean %q?", pr.Suggestion)
			}
			p.errorf(pr.Key, rule, "%s: unknown field %q (known: %s)%s", what, pr.Key.Value, strings.Join(known, ", "), hint)
		case yamlnode.Repeated:
			p.errorf(pr.Key, rule, "%s: field %q appears twice", what, pr.Key.Value)
		}
	}
	return out
}

// str returns a string scalar.
func (p *parser) str(n *yaml.Node, rule, what string) (string, *yaml.Node, bool) {
	n = p.resolve(n)
	if n == nil {
		return "", nil, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		p.errorf(n, rule, "%s: want a string, got %s", what, kindName(n))
		return "", n, false
	}
	return n.Value, n, true
}

type item struct {
	s string
	n *yaml.Node
}

// strList returns a list of strings.
func (p *parser) strList(n *yaml.Node, rule, what string) []item {
	n = p.resolve(n)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, rule, "%s: want a list of strings, got %s", what, kindName(n))
		return nil
	}
	var out []item
	for i, e := range n.Content {
		s, en, ok := p.str(e, rule, fmt.Sprintf("%s[%d]", what, i))
		if !ok {
			if p.tooBig {
				return out
			}
			continue
		}
		out = append(out, item{s, en})
	}
	return out
}

func (p *parser) policy(root *yaml.Node) *Policy {
	f := p.mapping(root, "", "policy", "apiVersion", "kind", "trust", "signing")
	if f == nil {
		return nil
	}
	pol := &Policy{File: p.file, formats: p.opts.formats}
	if v, ok := f["apiVersion"]; !ok {
		p.errorf(root, "", "missing apiVersion: want apiVersion: %s", APIVersion)
	} else if s, n, ok := p.str(v, "", "apiVersion"); ok && s != APIVersion {
		p.errorf(n, "", "apiVersion %q is not supported: want %s", s, APIVersion)
	}
	if v, ok := f["kind"]; !ok {
		p.errorf(root, "", "missing kind: want %s, %s or %s", KindTrust, KindSigning, KindPolicy)
	} else if s, n, ok := p.str(v, "", "kind"); ok {
		switch k := Kind(s); k {
		case KindTrust, KindSigning, KindPolicy:
			pol.Kind = k
		default:
			p.errorf(n, "", "kind %q: want %s, %s or %s", s, KindTrust, KindSigning, KindPolicy)
		}
	}
	trustNode, hasTrust := f["trust"]
	signNode, hasSign := f["signing"]
	switch pol.Kind {
	case KindTrust:
		if hasSign {
			p.errorf(signNode, "", "kind %s holds no signing rules; use kind: %s for both", KindTrust, KindPolicy)
		}
		if !hasTrust {
			p.errorf(root, "", "kind %s needs trust rules", KindTrust)
		}
	case KindSigning:
		if hasTrust {
			p.errorf(trustNode, "", "kind %s holds no trust rules; use kind: %s for both", KindSigning, KindPolicy)
		}
		if !hasSign {
			p.errorf(root, "", "kind %s needs signing rules", KindSigning)
		}
	case KindPolicy:
		if !hasTrust && !hasSign {
			p.errorf(root, "", "kind %s needs trust or signing rules", KindPolicy)
		}
	}
	if hasTrust {
		pol.Trust = rules(p, trustNode, "trust", "rule", p.trustRule)
	}
	if hasSign {
		pol.Signing = rules(p, signNode, "signing", "signing rule", p.signingRule)
	}
	return pol
}

func (p *parser) list(n *yaml.Node, what string) []*yaml.Node {
	n = p.resolve(n)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "", "%s: want a list of rules, got %s", what, kindName(n))
		return nil
	}
	if len(n.Content) == 0 {
		p.errorf(n, "", "%s: no rules", what)
	}
	return n.Content
}

var ruleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// namedRule is a trust or a signing rule: names are unique within each
// kind.
type namedRule interface {
	*Scope | *SigningRule
	ident() (name string, at Pos)
}

func (s *Scope) ident() (string, Pos)       { return s.Name, s.Pos }
func (r *SigningRule) ident() (string, Pos) { return r.Name, r.Pos }

// rules parses the list of rules n (kind "trust" or "signing") with parse,
// skipping rules that fail and reporting a name given to two rules.
func rules[R namedRule](p *parser, n *yaml.Node, kind, noun string, parse func(*yaml.Node, int) R) []R {
	var out []R
	names := map[string]Pos{}
	for i, rn := range p.list(n, kind) {
		r := parse(rn, i)
		if r == nil {
			continue
		}
		if name, at := r.ident(); name != "" {
			if first, dup := names[name]; dup {
				p.probs = append(p.probs, Problem{Pos: at, Severity: SeverityError, Rule: name,
					Msg: fmt.Sprintf("name already used by the %s at %s", noun, first)})
			}
			names[name] = at
		}
		out = append(out, r)
	}
	return out
}

func (p *parser) trustRule(n *yaml.Node, idx int) *Scope {
	label := fmt.Sprintf("trust[%d]", idx)
	f := p.mapping(n, "", label, "name", "scopes", "level", "keys", "roots", "identities", "revoked", "require")
	if f == nil {
		return nil
	}
	n = p.resolve(n)
	if n == nil {
		return nil
	}
	s := &Scope{
		Pos:             p.pos(n),
		revokedKeys:     map[string]string{},
		revokedCerts:    map[string]string{},
		revokedSerials:  map[string]string{},
		revokedCertKeys: map[string]*x509.Certificate{},
	}
	rule := ""
	if v, ok := f["name"]; !ok {
		p.errorf(n, "", "%s: missing name", label)
	} else if name, vn, ok := p.str(v, "", label+".name"); ok {
		if !ruleName.MatchString(name) {
			p.errorf(vn, "", "%s: name %q: use letters, digits, '.', '_' and '-' (at most 128)", label, name)
		} else {
			s.Name, rule = name, name
		}
	}
	if v, ok := f["level"]; !ok {
		p.errorf(n, rule, "missing level: want enforce, warn or audit")
	} else if lv, vn, ok := p.str(v, rule, "level"); ok {
		switch Level(lv) {
		case LevelEnforce, LevelWarn, LevelAudit:
			s.Level = Level(lv)
		default:
			hint := ""
			switch lv {
			case "strict", "block", "Enforce":
				hint = `; did you mean "enforce"?`
			case "permissive", "warning", "Warn":
				hint = `; did you mean "warn"?`
			case "log", "Audit":
				hint = `; did you mean "audit"?`
			}
			p.errorf(vn, rule, "level %q: want enforce, warn or audit%s", lv, hint)
		}
	}
	if v, ok := f["scopes"]; !ok {
		p.errorf(n, rule, "missing scopes: list the repositories the rule covers (host/repo globs, or \"*\")")
	} else {
		s.Patterns = p.patterns(v, rule)
	}
	if v, ok := f["keys"]; ok {
		for i, it := range p.strList(v, rule, "keys") {
			for _, k := range p.loadKeys(it, rule, fmt.Sprintf("keys[%d]", i)) {
				// The same key may come bare and as certificates: each
				// certificate is kept, since revoking one revokes the key.
				if !slices.ContainsFunc(s.keys, func(o trustedKey) bool { return o.fp == k.fp && sameCert(o.cert, k.cert) }) {
					s.keys = append(s.keys, k)
				}
			}
		}
	}
	if v, ok := f["roots"]; ok {
		s.rootPool = x509.NewCertPool()
		for i, it := range p.strList(v, rule, "roots") {
			what := fmt.Sprintf("roots[%d] %q", i, it.s)
			data, path, err := p.readRel(it.s)
			if err != nil {
				p.errorf(it.n, rule, "%s: %v", what, err)
				continue
			}
			certs, err := parseCertificates(data)
			if err != nil {
				p.errorf(it.n, rule, "%s: %s: %v", what, path, err)
				continue
			}
			for _, c := range certs {
				fp := CertFingerprint(c)
				if slices.ContainsFunc(s.roots, func(o trustedRoot) bool { return o.fp == fp }) {
					continue
				}
				s.roots = append(s.roots, trustedRoot{cert: c, fp: fp, source: it.s, pos: p.pos(it.n)})
				s.rootPool.AddCert(c)
			}
		}
	}
	if v, ok := f["identities"]; ok {
		for i, it := range p.strList(v, rule, "identities") {
			id, err := parseIdentity(it.s)
			if err != nil {
				p.errorf(it.n, rule, "identities[%d]: %v", i, err)
				continue
			}
			id.pos = p.pos(it.n)
			s.identities = append(s.identities, id)
			s.Identities = append(s.Identities, it.s)
		}
	}
	if v, ok := f["revoked"]; ok {
		p.revoked(v, rule, s)
	}
	if v, ok := f["require"]; ok {
		rf := p.mapping(v, rule, "require", "formats", "attestations")
		if fv, ok := rf["formats"]; ok {
			s.RequiredFormats = p.formats(fv, rule, "require.formats")
		}
		if av, ok := rf["attestations"]; ok {
			for i, it := range p.strList(av, rule, "require.attestations") {
				typ, err := p.predicateType(it.s)
				if err != nil {
					p.errorf(it.n, rule, "require.attestations[%d]: %v", i, err)
					continue
				}
				if !slices.Contains(s.RequiredAttestations, typ) {
					s.RequiredAttestations = append(s.RequiredAttestations, typ)
				}
			}
		}
	}
	return s
}

// predicateType resolves a required attestation type.
func (p *parser) predicateType(s string) (string, error) {
	if p.opts.resolveType != nil {
		return p.opts.resolveType(s)
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
		return "", fmt.Errorf("predicate type %q is not an absolute URI (such as https://slsa.dev/provenance/v1)", s)
	}
	return s, nil
}

func (p *parser) patterns(v *yaml.Node, rule string) []Pattern {
	items := p.strList(v, rule, "scopes")
	if len(items) == 0 {
		if vn := p.resolve(v); vn != nil && vn.Kind == yaml.SequenceNode {
			p.errorf(vn, rule, "scopes: empty list: a rule must cover at least one repository glob")
		}
		return nil
	}
	var out []Pattern
	for i, it := range items {
		cp, err := compilePattern(it.s)
		if err != nil {
			p.errorf(it.n, rule, "scopes[%d]: %v", i, err)
			continue
		}
		out = append(out, Pattern{Text: it.s, Pos: p.pos(it.n), p: cp})
	}
	return out
}

func (p *parser) formats(v *yaml.Node, rule, what string) []string {
	var out []string
	for i, it := range p.strList(v, rule, what) {
		if !slices.Contains(p.opts.formats, it.s) {
			hint := ""
			if s := yamlnode.Suggest(it.s, p.opts.formats); s != "" {
				hint = fmt.Sprintf("; did you mean %q?", s)
			}
			p.errorf(it.n, rule, "%s[%d]: unknown format %q (known: %s)%s", what, i, it.s, strings.Join(p.opts.formats, ", "), hint)
			continue
		}
		if !slices.Contains(out, it.s) {
			out = append(out, it.s)
		}
	}
	return out
}

// readRel reads a file named relative to the policy file.
func (p *parser) readRel(name string) ([]byte, string, error) {
	if name == "" {
		return nil, "", errors.New("empty path")
	}
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(p.dir, path)
	}
	const maxKeyFile = 1 << 20
	data, err := readFileLimited(path, maxKeyFile)
	if err != nil {
		return nil, path, fmt.Errorf("reading %s: %w", path, unwrapPathErr(err))
	}
	return data, path, nil
}

// unwrapPathErr drops the path an *fs.PathError repeats.
func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// loadKeys loads the public keys a trust rule's key entry names.
func (p *parser) loadKeys(it item, rule, what string) []trustedKey {
	what = fmt.Sprintf("%s %q", what, it.s)
	if isKeyReference(it.s) {
		if p.opts.keyLoader == nil {
			p.errorf(it.n, rule, "%s: key references need a key loader here; name a PEM public key file", what)
			return nil
		}
		pub, err := p.opts.keyLoader(p.ctx, it.s)
		if err != nil {
			p.errorf(it.n, rule, "%s: loading public key: %v", what, err)
			return nil
		}
		fp, err := KeyFingerprint(pub)
		if err != nil {
			p.errorf(it.n, rule, "%s: %v", what, err)
			return nil
		}
		return []trustedKey{{pub: pub, fp: fp, source: redactKey(it.s), pos: p.pos(it.n)}}
	}
	data, path, err := p.readRel(it.s)
	if err != nil {
		p.errorf(it.n, rule, "%s: %v", what, err)
		return nil
	}
	pubs, err := parsePublicKeys(data)
	if err != nil {
		p.errorf(it.n, rule, "%s: %s: %v", what, path, err)
		return nil
	}
	var out []trustedKey
	for _, k := range pubs {
		fp, err := KeyFingerprint(k.pub)
		if err != nil {
			p.errorf(it.n, rule, "%s: %s: %v", what, path, err)
			continue
		}
		out = append(out, trustedKey{pub: k.pub, fp: fp, cert: k.cert, source: it.s, pos: p.pos(it.n)})
	}
	return out
}

func (p *parser) revoked(v *yaml.Node, rule string, s *Scope) {
	f := p.mapping(v, rule, "revoked", "keys", "certificates")
	if kv, ok := f["keys"]; ok {
		for i, it := range p.strList(kv, rule, "revoked.keys") {
			what := fmt.Sprintf("revoked.keys[%d]", i)
			src := fmt.Sprintf("%s at %s", what, p.pos(it.n))
			if strings.HasPrefix(it.s, "sha256:") {
				fp, err := parseFingerprint(it.s)
				if err != nil {
					p.errorf(it.n, rule, "%s: %v", what, err)
					continue
				}
				s.revokedKeys[fp] = src
				continue
			}
			for _, k := range p.loadKeys(it, rule, what) {
				s.revokedKeys[k.fp] = src
				s.revokedPubs = append(s.revokedPubs, k.pub)
			}
		}
	}
	if cv, ok := f["certificates"]; ok {
		for i, it := range p.strList(cv, rule, "revoked.certificates") {
			what := fmt.Sprintf("revoked.certificates[%d]", i)
			src := fmt.Sprintf("%s at %s", what, p.pos(it.n))
			switch {
			case strings.HasPrefix(it.s, "sha256:"):
				fp, err := parseFingerprint(it.s)
				if err != nil {
					p.errorf(it.n, rule, "%s: %v", what, err)
					continue
				}
				s.revokedCerts[fp] = src
			case strings.HasPrefix(it.s, "serial:"):
				serial, err := parseSerial(it.s)
				if err != nil {
					p.errorf(it.n, rule, "%s: %v", what, err)
					continue
				}
				s.revokedSerials[serial] = src
			default:
				data, path, err := p.readRel(it.s)
				if err != nil {
					p.errorf(it.n, rule, "%s %q: %v", what, it.s, err)
					continue
				}
				certs, err := parseCertificates(data)
				if err != nil {
					p.errorf(it.n, rule, "%s %q: %s: %v", what, it.s, path, err)
					continue
				}
				for _, c := range certs {
					s.revokedCerts[CertFingerprint(c)] = src
					if fp, err := KeyFingerprint(c.PublicKey); err == nil {
						if _, dup := s.revokedCertKeys[fp]; !dup {
							s.revokedCertKeys[fp] = c
						}
					}
				}
			}
		}
	}
}

func (p *parser) signingRule(n *yaml.Node, idx int) *SigningRule {
	label := fmt.Sprintf("signing[%d]", idx)
	f := p.mapping(n, "", label, "name", "key", "scopes", "formats")
	if f == nil {
		return nil
	}
	n = p.resolve(n)
	if n == nil {
		return nil
	}
	r := &SigningRule{Pos: p.pos(n)}
	rule := ""
	if v, ok := f["name"]; ok {
		if name, vn, ok := p.str(v, "", label+".name"); ok {
			if !ruleName.MatchString(name) {
				p.errorf(vn, "", "%s: name %q: use letters, digits, '.', '_' and '-' (at most 128)", label, name)
			} else {
				r.Name, rule = name, name
			}
		}
	}
	if rule == "" {
		rule = label
	}
	if v, ok := f["key"]; !ok {
		p.errorf(n, rule, "missing key: name the key (pkcs11:token=…;object=…, file:PATH or sha256:<public key fingerprint>)")
	} else if k, vn, ok := p.str(v, rule, "key"); ok {
		m, err := parseKeyMatcher(k, p.dir)
		if err != nil {
			p.errorf(vn, rule, "key: %v", err)
		} else {
			r.Key, r.key = redactKey(k), m
		}
	}
	if v, ok := f["scopes"]; !ok {
		p.errorf(n, rule, "missing scopes: list the repositories the key may sign")
	} else {
		r.Patterns = p.patterns(v, rule)
	}
	if v, ok := f["formats"]; !ok {
		p.errorf(n, rule, "missing formats: list the formats the key may write (%s)", strings.Join(p.opts.formats, ", "))
	} else {
		r.Formats = p.formats(v, rule, "formats")
		if vn := p.resolve(v); vn != nil && vn.Kind == yaml.SequenceNode && len(vn.Content) == 0 {
			p.errorf(vn, rule, "formats: empty list: the rule would allow nothing")
		}
	}
	return r
}
