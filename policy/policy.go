package policy

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// APIVersion is the only apiVersion this package reads.
const APIVersion = "signet.dev/v1"

// Kind says which sections a policy file holds.
type Kind string

// Kinds of policy file.
const (
	// KindTrust holds only trust rules (signet verify --policy).
	KindTrust Kind = "TrustPolicy"
	// KindSigning holds only signing rules (least privilege for signet sign).
	KindSigning Kind = "SigningPolicy"
	// KindPolicy holds both.
	KindPolicy Kind = "Policy"
)

// Level is what a trust rule does with a violation.
type Level string

// Levels, strongest first. They correspond to notation's strict, permissive
// and audit, but apply to every check: under warn even an untrusted signer
// is only a warning (notation's permissive still enforces authenticity).
const (
	// LevelEnforce blocks: the image fails verification (non-zero exit).
	LevelEnforce Level = "enforce"
	// LevelWarn allows the image and prints a warning per violation.
	LevelWarn Level = "warn"
	// LevelAudit allows the image and only records violations in reports.
	LevelAudit Level = "audit"
)

// DefaultFormats are the signature format names a policy may require or a
// signing rule may allow, unless WithFormats says otherwise.
var DefaultFormats = []string{"cosign", "notation", "sigstore-bundle"}

// Pos locates something in a policy file.
type Pos struct {
	File   string
	Line   int
	Column int
}

func (p Pos) String() string {
	switch {
	case p.File == "":
		return fmt.Sprintf("line %d", p.Line)
	case p.Line == 0:
		return p.File
	default:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
}

// Severity grades a Problem.
type Severity string

// Severities.
const (
	// SeverityError makes a policy unusable (Parse) or wrong (Lint):
	// signet policy check exits non-zero.
	SeverityError Severity = "error"
	// SeverityWarning is suspicious but allowed.
	SeverityWarning Severity = "warning"
)

// Problem is one finding about a policy file.
type Problem struct {
	Pos      Pos
	Severity Severity
	// Rule names the rule concerned ("" for the file as a whole).
	Rule string
	Msg  string
}

func (p Problem) String() string {
	var sb strings.Builder
	sb.WriteString(p.Pos.String())
	sb.WriteString(": ")
	sb.WriteString(string(p.Severity))
	sb.WriteString(": ")
	if p.Rule != "" {
		fmt.Fprintf(&sb, "rule %q: ", p.Rule)
	}
	sb.WriteString(p.Msg)
	return sb.String()
}

// Problems is a list of findings, in file order.
type Problems []Problem

// Errors returns only the problems of severity error.
func (ps Problems) Errors() Problems {
	var out Problems
	for _, p := range ps {
		if p.Severity == SeverityError {
			out = append(out, p)
		}
	}
	return out
}

// Err returns an *Error holding the error-severity problems, or nil.
func (ps Problems) Err() error {
	if errs := ps.Errors(); len(errs) > 0 {
		return &Error{Problems: errs}
	}
	return nil
}

func (ps Problems) sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Pos.Line != ps[j].Pos.Line {
			return ps[i].Pos.Line < ps[j].Pos.Line
		}
		return ps[i].Pos.Column < ps[j].Pos.Column
	})
}

// Error is returned by Parse and Load when a policy cannot be used, and by
// Problems.Err; it lists every problem found, each with file:line.
type Error struct {
	Problems Problems
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	if len(lines) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%d problems:\n  %s", len(lines), strings.Join(lines, "\n  "))
}

// Policy is a loaded policy file: trust rules for verification and signing
// rules for least-privilege signing. It is immutable and safe for
// concurrent use.
type Policy struct {
	// File is the path the policy was read from (as given).
	File string
	Kind Kind
	// Trust holds the trust rules in file order.
	Trust []*Scope
	// Signing holds the signing rules in file order.
	Signing []*SigningRule

	formats []string
}

// HasTrust reports whether the policy has trust rules.
func (p *Policy) HasTrust() bool { return len(p.Trust) > 0 }

// HasSigning reports whether the policy has signing rules. A signing
// policy with no rules allows nothing; callers decide whether a policy
// without a signing section applies to signing at all.
func (p *Policy) HasSigning() bool { return len(p.Signing) > 0 }

// Pattern is one scope glob of a rule.
type Pattern struct {
	// Text is the pattern as written.
	Text string
	Pos  Pos
	p    *pattern
}

// Matches reports whether the pattern matches a repository or image
// reference (Docker Hub names normalised as go-containerregistry does).
func (p Pattern) Matches(ref string) bool {
	repo, err := normalizeRepo(ref)
	return err == nil && p.p.match(repo)
}

// KeyLoader returns the public key a key reference names (a pkcs11: URI, a
// KMS URI): hsm.LoadPublicKey has this shape.
type KeyLoader func(ctx context.Context, ref string) (crypto.PublicKey, error)

// Option configures Load and Parse.
type Option func(*options) error

type options struct {
	keyLoader   KeyLoader
	formats     []string
	resolveType func(string) (string, error)
}

// WithKeyLoader lets trust rules name keys by reference ("pkcs11:…") as
// well as by file. Without it (the default) such entries are errors.
func WithKeyLoader(l KeyLoader) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("policy: WithKeyLoader(nil)")
		}
		o.keyLoader = l
		return nil
	}
}

// WithFormats sets the format names a policy may mention (default
// DefaultFormats), so a typo in require.formats is an error at load time
// instead of blocking every image.
func WithFormats(names ...string) Option {
	return func(o *options) error {
		if len(names) == 0 {
			return errors.New("policy: WithFormats() needs at least one name")
		}
		o.formats = append([]string(nil), names...)
		return nil
	}
}

// WithTypeResolver lets require.attestations name predicate types by short
// name ("slsaprovenance1"): each entry is replaced by what resolve returns
// (attest.ResolveType has this shape). Without it (the default) entries
// must be absolute URIs.
func WithTypeResolver(resolve func(string) (string, error)) Option {
	return func(o *options) error {
		if resolve == nil {
			return errors.New("policy: WithTypeResolver(nil)")
		}
		o.resolveType = resolve
		return nil
	}
}

func makeOptions(opts []Option) (*options, error) {
	o := &options{formats: DefaultFormats}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// maxPolicySize bounds a policy file; real ones are a few kilobytes.
const maxPolicySize = 1 << 20

// Load reads and parses the policy file at path. Key and certificate files
// it names are read relative to the policy file's directory.
func Load(ctx context.Context, path string, opts ...Option) (*Policy, error) {
	data, err := readFileLimited(path, maxPolicySize)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	return Parse(ctx, data, path, opts...)
}

// readFileLimited reads a regular file of at most max bytes. Devices and
// FIFOs are refused so that a policy naming /dev/stdin cannot hang a run.
func readFileLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s is %d bytes, larger than the %d allowed", path, st.Size(), max)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than the %d bytes allowed", path, max)
	}
	return data, nil
}

// trustedKey is a public key a trust rule accepts.
type trustedKey struct {
	pub    crypto.PublicKey
	fp     string            // sha256:… of the PKIX DER
	cert   *x509.Certificate // the certificate the key was listed as, or nil
	source string            // file or reference it came from
	pos    Pos
}

// trustedRoot is a CA certificate a trust rule accepts.
type trustedRoot struct {
	cert   *x509.Certificate
	fp     string
	source string
	pos    Pos
}
