package policy

import (
	"crypto"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/signet-project/signet/hsm"
)

// SigningRule lets one key sign some repositories in some formats. Rules
// only allow: what no rule allows is forbidden.
type SigningRule struct {
	// Name is the rule's name; optional, so a rule may be known only by
	// its position.
	Name string
	Pos  Pos
	// Key names the key as written: a pkcs11: URI (without PIN), file:PATH
	// or a bare path of a key file, or sha256:<fingerprint> of the public key.
	Key string
	// Patterns are the repositories the key may sign.
	Patterns []Pattern
	// Formats are the signature formats the key may write there.
	Formats []string

	key keyMatcher
}

func (r *SigningRule) String() string {
	if r.Name != "" {
		return fmt.Sprintf("rule %q (%s)", r.Name, r.Pos)
	}
	return fmt.Sprintf("rule at %s", r.Pos)
}

func (r *SigningRule) patternList() string {
	texts := make([]string, len(r.Patterns))
	for i, p := range r.Patterns {
		texts[i] = p.Text
	}
	return strings.Join(texts, ", ")
}

type keyKind int

const (
	keyPKCS11 keyKind = iota + 1
	keyFile
	keyFingerprint
)

// keyMatcher decides whether a signing key is the one a rule names.
type keyMatcher struct {
	kind  keyKind
	attrs map[string]string // pkcs11 path attributes, decoded
	query map[string]string // pkcs11 query attributes, decoded
	path  string            // absolute, cleaned
	fp    string
}

// pinAttrs never belong in a policy (and are dropped from messages).
var pinAttrs = map[string]bool{"pin-value": true, "pin-source": true}

// parseKeyMatcher parses a signing rule's key; dir resolves relative paths.
func parseKeyMatcher(s, dir string) (keyMatcher, error) {
	switch {
	case s == "":
		return keyMatcher{}, errors.New("empty key")
	case strings.HasPrefix(s, "pkcs11:"):
		attrs, query, err := parsePKCS11(s)
		if err != nil {
			return keyMatcher{}, err
		}
		for k := range attrs {
			if pinAttrs[k] {
				return keyMatcher{}, fmt.Errorf("key URI carries %s: PINs never belong in a policy; name the key by token and object only", k)
			}
		}
		for k := range query {
			if pinAttrs[k] {
				return keyMatcher{}, fmt.Errorf("key URI carries %s: PINs never belong in a policy; name the key by token and object only", k)
			}
		}
		if len(attrs) == 0 {
			return keyMatcher{}, fmt.Errorf("key URI %q names no token or object", s)
		}
		return keyMatcher{kind: keyPKCS11, attrs: attrs, query: query}, nil
	case strings.HasPrefix(s, "sha256:"):
		fp, err := parseFingerprint(s)
		if err != nil {
			return keyMatcher{}, err
		}
		return keyMatcher{kind: keyFingerprint, fp: fp}, nil
	case strings.Contains(s, "://"):
		return keyMatcher{}, fmt.Errorf("key %q: name KMS keys by their public key fingerprint (sha256:…)", s)
	default:
		p := strings.TrimPrefix(s, "file:")
		if p == "" {
			return keyMatcher{}, errors.New("empty key path")
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return keyMatcher{}, fmt.Errorf("key path %q: %w", s, err)
		}
		return keyMatcher{kind: keyFile, path: filepath.Clean(abs)}, nil
	}
}

// parsePKCS11 splits an RFC 7512 URI into decoded path and query
// attributes.
func parsePKCS11(s string) (attrs, query map[string]string, err error) {
	rest := strings.TrimPrefix(s, "pkcs11:")
	pathPart, queryPart, _ := strings.Cut(rest, "?")
	attrs, query = map[string]string{}, map[string]string{}
	split := func(part, sep string, into map[string]string) error {
		if part == "" {
			return nil
		}
		for _, kv := range strings.Split(part, sep) {
			if kv == "" {
				continue
			}
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return fmt.Errorf("pkcs11 URI attribute %q is not name=value", kv)
			}
			dv, err := url.PathUnescape(v)
			if err != nil {
				return fmt.Errorf("pkcs11 URI attribute %q: %w", k, err)
			}
			k = strings.ToLower(k)
			if _, dup := into[k]; dup {
				return fmt.Errorf("pkcs11 URI repeats attribute %q", k)
			}
			into[k] = dv
		}
		return nil
	}
	if err := split(pathPart, ";", attrs); err != nil {
		return nil, nil, err
	}
	if err := split(queryPart, "&", query); err != nil {
		return nil, nil, err
	}
	return attrs, query, nil
}

// matches reports whether the signing key (its reference and, if known,
// its public key) is the one the rule names. A pkcs11 rule matches a key
// whose URI has every attribute the rule gives, with equal values.
func (m keyMatcher) matches(ref string, pub crypto.PublicKey) bool {
	switch m.kind {
	case keyPKCS11:
		if !strings.HasPrefix(ref, "pkcs11:") {
			return false
		}
		attrs, query, err := parsePKCS11(ref)
		if err != nil {
			return false
		}
		for k, v := range m.attrs {
			if got, ok := attrs[k]; !ok || got != v {
				return false
			}
		}
		for k, v := range m.query {
			if got, ok := query[k]; !ok || got != v {
				return false
			}
		}
		return true
	case keyFile:
		if strings.HasPrefix(ref, "pkcs11:") || strings.HasPrefix(ref, "sha256:") || strings.Contains(ref, "://") {
			return false
		}
		p := strings.TrimPrefix(ref, "file:")
		abs, err := filepath.Abs(p)
		return err == nil && filepath.Clean(abs) == m.path
	case keyFingerprint:
		if strings.HasPrefix(ref, "sha256:") {
			if fp, err := parseFingerprint(ref); err == nil && fp == m.fp {
				return true
			}
		}
		if pub == nil {
			return false
		}
		fp, err := KeyFingerprint(pub)
		return err == nil && fp == m.fp
	}
	return false
}

// redactKey drops PIN attributes from a key reference before it reaches a
// message: every pin-value as hsm.RedactPIN drops it, and pin-source,
// no secret, as an attribute.
func redactKey(ref string) string {
	ref = hsm.RedactPIN(ref)
	const scheme = "pkcs11:"
	if len(ref) < len(scheme) || !strings.EqualFold(ref[:len(scheme)], scheme) {
		return ref
	}
	pathPart, queryPart, hasQuery := strings.Cut(ref[len(scheme):], "?")
	keep := func(part, sep string) string {
		var out []string
		for _, kv := range strings.Split(part, sep) {
			k, _, _ := strings.Cut(kv, "=")
			if !pinAttrs[strings.ToLower(k)] {
				out = append(out, kv)
			}
		}
		return strings.Join(out, sep)
	}
	s := ref[:len(scheme)] + keep(pathPart, ";")
	if hasQuery {
		if q := keep(queryPart, "&"); q != "" {
			s += "?" + q
		}
	}
	return s
}

// SigningRequest is one thing a signing run wants to do: sign a
// repository's manifests with a key in some formats.
type SigningRequest struct {
	// Key is the key reference as the run names it: hsm's Key.Ref() (a
	// pkcs11: URI without PIN, or file: and an absolute path). PIN
	// attributes, if any, are dropped from messages.
	Key string
	// Public is the key's public half; needed for rules that name keys by
	// fingerprint, optional otherwise.
	Public crypto.PublicKey
	// Repo is the repository, or an image reference in it.
	Repo string
	// Formats are the signature formats to write.
	Formats []string
	// Source locates the request for messages ("catalog.yaml:12").
	Source string
}

// Denial says why a signing request was refused.
type Denial string

// Denials.
const (
	// DenyNoRules: the policy has no signing rules at all.
	DenyNoRules Denial = "no-rules"
	// DenyUnknownKey: no rule names the key.
	DenyUnknownKey Denial = "unknown-key"
	// DenyScope: the key's rules do not cover the repository.
	DenyScope Denial = "scope"
	// DenyFormat: the key may sign the repository, but not in every
	// requested format.
	DenyFormat Denial = "format"
	// DenyBadRepository: the repository cannot be parsed.
	DenyBadRepository Denial = "bad-repository"
)

// SigningError is a refused signing request. Its message names the key,
// the repository, the rules considered and what they allow instead.
type SigningError struct {
	Policy  string
	Request SigningRequest
	Denial  Denial
	// Rules are the rules that name the key (for DenyScope), or that name
	// it and cover the repository (for DenyFormat).
	Rules []*SigningRule
	// Formats are the requested formats no applicable rule allows.
	Formats []string
	msg     string
}

func (e *SigningError) Error() string {
	if e.Request.Source != "" {
		return e.Request.Source + ": " + e.msg
	}
	return e.msg
}

// CheckSigning returns nil when some signing rule lets req.Key sign
// req.Repo in every format of req.Formats, and a *SigningError otherwise.
func (p *Policy) CheckSigning(req SigningRequest) error {
	key := redactKey(req.Key)
	fail := func(d Denial, rules []*SigningRule, formats []string, format string, a ...any) error {
		shown := req
		shown.Key = key
		return &SigningError{Policy: p.File, Request: shown, Denial: d, Rules: rules, Formats: formats, msg: fmt.Sprintf(format, a...)}
	}
	repo, err := normalizeRepo(req.Repo)
	if err != nil {
		return fail(DenyBadRepository, nil, nil, "key %s may not sign %q: %v", key, req.Repo, err)
	}
	if len(p.Signing) == 0 {
		return fail(DenyNoRules, nil, nil, "key %s may not sign %s: policy %s has no signing rules", key, repo, p.File)
	}
	var mine []*SigningRule
	for _, r := range p.Signing {
		if r.key.matches(req.Key, req.Public) {
			mine = append(mine, r)
		}
	}
	if len(mine) == 0 {
		var named []string
		for _, r := range p.Signing {
			named = append(named, fmt.Sprintf("%s (%s)", redactKey(r.Key), r.Pos))
		}
		hint := ""
		if req.Public == nil && slices.ContainsFunc(p.Signing, func(r *SigningRule) bool { return r.key.kind == keyFingerprint }) {
			hint = "; rules naming a key by fingerprint need its public key"
		}
		return fail(DenyUnknownKey, nil, nil, "key %s may not sign %s: no signing rule in %s names it (the rules name %s)%s",
			key, repo, p.File, strings.Join(named, ", "), hint)
	}
	var covering []*SigningRule
	for _, r := range mine {
		for _, pat := range r.Patterns {
			if pat.p.match(repo) {
				covering = append(covering, r)
				break
			}
		}
	}
	if len(covering) == 0 {
		if len(mine) == 1 {
			return fail(DenyScope, mine, nil, "key %s may not sign %s: its %s allows only %s", key, repo, mine[0], mine[0].patternList())
		}
		parts := make([]string, len(mine))
		for i, r := range mine {
			parts[i] = fmt.Sprintf("%s: %s", r, r.patternList())
		}
		return fail(DenyScope, mine, nil, "key %s may not sign %s: its rules allow only %s", key, repo, strings.Join(parts, "; "))
	}
	allowed := map[string]bool{}
	var allowedList []string
	for _, r := range covering {
		for _, f := range r.Formats {
			if !allowed[f] {
				allowed[f] = true
				allowedList = append(allowedList, f)
			}
		}
	}
	var denied []string
	for _, f := range req.Formats {
		if !allowed[f] && !slices.Contains(denied, f) {
			denied = append(denied, f)
		}
	}
	if len(denied) > 0 {
		whose := fmt.Sprintf("its %s", covering[0])
		verb := "allows"
		if len(covering) > 1 {
			whose, verb = fmt.Sprintf("its rules covering %s", repo), "allow"
		}
		return fail(DenyFormat, covering, denied, "key %s may not sign %s in %s: %s %s only %s",
			key, repo, strings.Join(denied, ", "), whose, verb, strings.Join(allowedList, ", "))
	}
	return nil
}

// SigningErrors lists the refused requests of a plan.
type SigningErrors struct {
	Policy string
	// Requests is how many requests were checked.
	Requests int
	Errs     []*SigningError
}

func (e *SigningErrors) Error() string {
	lines := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		lines[i] = err.Error()
	}
	return fmt.Sprintf("signing policy %s forbids %d of %d signing requests:\n  %s",
		e.Policy, len(e.Errs), e.Requests, strings.Join(lines, "\n  "))
}

// Unwrap returns the individual refusals.
func (e *SigningErrors) Unwrap() []error {
	out := make([]error, len(e.Errs))
	for i, err := range e.Errs {
		out[i] = err
	}
	return out
}

// CheckSigningPlan checks every request before anything is signed, so a
// mis-scoped key signs nothing and the run can say why for each image. It
// returns nil or a *SigningErrors; identical refusals (one key, one
// repository, several tags or platforms) are reported once.
func (p *Policy) CheckSigningPlan(reqs []SigningRequest) error {
	out := &SigningErrors{Policy: p.File, Requests: len(reqs)}
	seen := map[string]bool{}
	for _, req := range reqs {
		err := p.CheckSigning(req)
		if err == nil {
			continue
		}
		var se *SigningError
		if !errors.As(err, &se) {
			continue
		}
		if seen[se.Error()] {
			continue
		}
		seen[se.Error()] = true
		out.Errs = append(out.Errs, se)
	}
	if len(out.Errs) == 0 {
		return nil
	}
	return out
}
