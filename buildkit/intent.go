package buildkit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-project/signet/policy"
)

// SignRequestPredicate is the in-toto predicate type of the attestation the
// frontend attaches to every platform. It is not an SLSA type on purpose:
// BuildKit refuses provenance from frontends.
const SignRequestPredicate = "https://signet.dev/sign-request/v1"

// ProvenanceAttest is the only attestation a Dockerfile may ask for:
// signet builds SLSA provenance from BuildKit's own. Other predicates need
// a file on the signing machine, which a Dockerfile cannot name.
const ProvenanceAttest = "provenance"

// DefaultFormats are the formats an intent that names none asks for.
var DefaultFormats = []string{"cosign"}

// Build args the frontend reads. Any other SIGNET_* build arg is an error,
// so that a misspelt one does not silently leave an image unsigned.
const (
	ArgFormats    = "SIGNET_FORMATS"
	ArgAttest     = "SIGNET_ATTEST"
	ArgKey        = "SIGNET_KEY"
	ArgRepository = "SIGNET_REPOSITORY"
	ArgPolicy     = "SIGNET_POLICY"
	ArgPolicyFile = "SIGNET_POLICY_FILE"
)

// PolicyContext is the named build context that carries a signing policy
// to the frontend.
const PolicyContext = "signet-policy"

// intentFields maps `# signet:NAME=` names to the build args overriding
// them.
var intentFields = map[string]string{
	"formats":    ArgFormats,
	"attest":     ArgAttest,
	"key":        ArgKey,
	"repository": ArgRepository,
}

var knownArgs = []string{ArgFormats, ArgAttest, ArgKey, ArgRepository, ArgPolicy, ArgPolicyFile}

// SignRequest is the predicate of a SignRequestPredicate attestation: what
// the build asked signet to do with the image.
type SignRequest struct {
	// Formats are the signature formats to write (cosign, notation,
	// sigstore-bundle).
	Formats []string `json:"formats"`
	// Attest lists the attestations to sign beside the signatures
	// ("provenance").
	Attest []string `json:"attest,omitempty"`
	// Key names the signing key without any PIN: a pkcs11: URI, a key
	// file, or sha256:<fingerprint of the public key>. Empty leaves the
	// choice to whoever signs.
	Key string `json:"key,omitempty"`
	// Repository is the repository the image is meant for, when the build
	// named it.
	Repository string `json:"repository,omitempty"`
	// Dockerfile is the Dockerfile that declared the request.
	Dockerfile File `json:"dockerfile"`
	// Policy is the signing policy the request was checked against, if
	// any.
	Policy *File `json:"policy,omitempty"`
	// Origins says where each field came from: "Dockerfile:3" or
	// "build-arg:SIGNET_KEY".
	Origins map[string]string `json:"origins,omitempty"`
}

// File names a file and its digest, in in-toto's digest-set form.
type File struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// FileOf returns the File for data read from name.
func FileOf(name string, data []byte) File {
	sum := sha256.Sum256(data)
	return File{Name: name, Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])}}
}

// IntentError is a signing intent that cannot be used. Its message names
// the line or build arg, never the value of one that holds a PIN.
type IntentError struct {
	// Where is "Dockerfile:3" or "build-arg:SIGNET_KEY".
	Where string
	Msg   string
}

func (e *IntentError) Error() string { return e.Where + ": " + e.Msg }

// ParseIntent reads the signing intent of a Dockerfile (filename is used in
// messages) from its `# signet:NAME=VALUE` comment lines and from the
// build args (without their "build-arg:" prefix), which win. It returns nil
// and no error when neither says anything about signing. Every problem is
// an *IntentError; a value carrying a PIN is one, and its message does not
// repeat the value.
func ParseIntent(filename string, dockerfile []byte, buildArgs map[string]string) (*SignRequest, error) {
	values := map[string]string{}
	origins := map[string]string{}

	sc := bufio.NewScanner(bytes.NewReader(dockerfile))
	sc.Buffer(make([]byte, 0, 64<<10), len(dockerfile)+1)
	for line := 1; sc.Scan(); line++ {
		field, value, ok := signetComment(sc.Text())
		if !ok {
			continue
		}
		where := fmt.Sprintf("%s:%d", filename, line)
		if err := refusePIN(where, value); err != nil {
			return nil, err
		}
		if field == "" {
			return nil, &IntentError{Where: where, Msg: "want `# signet:NAME=VALUE` with NAME one of " + fieldNames()}
		}
		if _, ok := intentFields[field]; !ok {
			return nil, &IntentError{Where: where, Msg: fmt.Sprintf("unknown signet field %q: want one of %s", field, fieldNames())}
		}
		if prev, ok := origins[field]; ok {
			return nil, &IntentError{Where: where, Msg: fmt.Sprintf("signet:%s is already set at %s", field, prev)}
		}
		values[field], origins[field] = value, where
	}
	if err := sc.Err(); err != nil {
		return nil, &IntentError{Where: filename, Msg: "reading: " + err.Error()}
	}

	argNames := make([]string, 0, len(buildArgs))
	for k := range buildArgs {
		argNames = append(argNames, k)
	}
	sort.Strings(argNames)
	for _, k := range argNames {
		if !strings.HasPrefix(k, "SIGNET_") {
			continue
		}
		where := "build-arg:" + k
		if err := refusePIN(where, buildArgs[k]); err != nil {
			return nil, err
		}
		if !slices.Contains(knownArgs, k) {
			return nil, &IntentError{Where: where, Msg: "unknown signet build arg: want one of " + strings.Join(knownArgs, ", ")}
		}
	}
	for field, arg := range intentFields {
		// An empty build arg is unset: CI templates pass every arg.
		if v := strings.TrimSpace(buildArgs[arg]); v != "" {
			values[field], origins[field] = v, "build-arg:"+arg
		}
	}
	if len(values) == 0 {
		return nil, nil
	}

	req := &SignRequest{Dockerfile: FileOf(filename, dockerfile), Origins: origins}
	var err error
	if v, ok := values["formats"]; ok {
		if req.Formats, err = parseList(origins["formats"], "formats", v, policy.DefaultFormats); err != nil {
			return nil, err
		}
	}
	if len(req.Formats) == 0 {
		req.Formats = slices.Clone(DefaultFormats)
	}
	if v, ok := values["attest"]; ok {
		if req.Attest, err = parseList(origins["attest"], "attest", v, []string{ProvenanceAttest}); err != nil {
			return nil, err
		}
	}
	if v := values["key"]; v != "" {
		if err := checkKey(origins["key"], v); err != nil {
			return nil, err
		}
		req.Key = v
	}
	if v := values["repository"]; v != "" {
		repo, err := name.NewRepository(v)
		if err != nil {
			return nil, &IntentError{Where: origins["repository"], Msg: fmt.Sprintf("repository %q: %v (want host/path, no tag or digest)", v, err)}
		}
		req.Repository = repo.Name()
	}
	return req, nil
}

// signetComment returns the field and value of a `# signet:NAME=VALUE`
// line; ok is false for every other line. A signet line without "=" has an
// empty field.
func signetComment(line string) (field, value string, ok bool) {
	s := strings.TrimSpace(line)
	if !strings.HasPrefix(s, "#") {
		return "", "", false
	}
	s = strings.TrimSpace(s[1:])
	rest, ok := strings.CutPrefix(s, "signet:")
	if !ok {
		return "", "", false
	}
	k, v, found := strings.Cut(rest, "=")
	if !found {
		return "", strings.TrimSpace(rest), true
	}
	return strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v), true
}

func fieldNames() string {
	names := make([]string, 0, len(intentFields))
	for k := range intentFields {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// parseList splits a comma list, refusing empty, unknown and repeated
// entries.
func parseList(where, field, v string, known []string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
			return nil, &IntentError{Where: where, Msg: fmt.Sprintf("signet:%s %q has an empty entry", field, v)}
		case !slices.Contains(known, s):
			return nil, &IntentError{Where: where, Msg: fmt.Sprintf("signet:%s: unknown value %q: want %s", field, s, strings.Join(known, ", "))}
		case slices.Contains(out, s):
			return nil, &IntentError{Where: where, Msg: fmt.Sprintf("signet:%s names %q twice", field, s)}
		}
		out = append(out, s)
	}
	return out, nil
}

// refusePIN fails on anything that carries a PIN. The value is not quoted:
// the message must not become a second place the PIN is written.
func refusePIN(where, v string) error {
	if strings.Contains(strings.ToLower(v), "pin-value=") {
		return &IntentError{Where: where, Msg: "carries a PIN (pin-value=): BuildKit records build args and the Dockerfile in its provenance, " +
			"so name the key without its PIN and give the PIN to the signer (SIGNET_PKCS11_PIN, or --key with pin-source)"}
	}
	return nil
}

// checkKey refuses key references that say where a PIN is: the intent
// names a key, the signer decides how to log in.
func checkKey(where, v string) error {
	if strings.Contains(strings.ToLower(v), "pin-source=") {
		return &IntentError{Where: where, Msg: "the key names a PIN source (pin-source=): name the key by token and object only; the signer supplies the PIN"}
	}
	if strings.ContainsFunc(v, unicode.IsSpace) {
		return &IntentError{Where: where, Msg: "the key reference contains white space"}
	}
	return nil
}

// Predicate returns the request as predicate JSON.
func (r *SignRequest) Predicate() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding sign request: %w", err)
	}
	return b, nil
}

// ParseSignRequest decodes a SignRequestPredicate predicate. It refuses
// anything ParseIntent would not have produced: a request is read back from
// a registry that whoever can push there may write to, and it must not ask
// `signet batch --pending` for more than a Dockerfile can, such as naming
// the PIN source the signing host logs in with.
func ParseSignRequest(predicate []byte) (*SignRequest, error) {
	var r SignRequest
	if err := json.Unmarshal(predicate, &r); err != nil {
		return nil, fmt.Errorf("decoding sign request: %w", err)
	}
	if len(r.Formats) == 0 {
		return nil, fmt.Errorf("sign request names no formats")
	}
	if err := checkRequested("format", r.Formats, policy.DefaultFormats); err != nil {
		return nil, err
	}
	if err := checkRequested("attestation", r.Attest, []string{ProvenanceAttest}); err != nil {
		return nil, err
	}
	const where = "sign request key"
	if err := refusePIN(where, r.Key); err != nil {
		return nil, err
	}
	if err := checkKey(where, r.Key); err != nil {
		return nil, err
	}
	if r.Repository != "" {
		// ParseIntent records the repository as name.Repository.Name()
		// spells it; any other spelling was not written by the frontend.
		repo, err := name.NewRepository(r.Repository)
		if err != nil {
			return nil, fmt.Errorf("sign request names repository %q: %w", r.Repository, err)
		}
		if repo.Name() != r.Repository {
			return nil, fmt.Errorf("sign request names repository %q, not in its canonical form %q", r.Repository, repo.Name())
		}
	}
	return &r, nil
}

// checkRequested refuses the list entries parseList would not let through:
// unknown and repeated ones.
func checkRequested(what string, list, known []string) error {
	for i, s := range list {
		if !slices.Contains(known, s) {
			return fmt.Errorf("sign request names unknown %s %q", what, s)
		}
		if slices.Contains(list[:i], s) {
			return fmt.Errorf("sign request names %s %q twice", what, s)
		}
	}
	return nil
}

// Equal reports whether two requests ask for the same signatures: the same
// formats, attestations, key and repository.
func (r *SignRequest) Equal(o *SignRequest) bool {
	return slices.Equal(sorted(r.Formats), sorted(o.Formats)) && slices.Equal(sorted(r.Attest), sorted(o.Attest)) &&
		r.Key == o.Key && r.Repository == o.Repository
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}
