package batch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"go.yaml.in/yaml/v3"

	"github.com/signet-project/signet/internal/yamlnode"
)

// Catalog is a parsed, validated list of what to sign. Entries hold only
// what each entry itself says; expanding repositories and registries and
// layering entries over Defaults is the planner's job, because it needs the
// registry.
type Catalog struct {
	Defaults Defaults
	Entries  []Entry
}

// Defaults apply to every entry that does not override them.
type Defaults struct {
	Settings
	// Recursive, when set, says whether index children are signed too.
	Recursive *bool
}

// Entry is one item of a catalog: exactly one of Ref, Repository or
// Registry is set.
type Entry struct {
	// Source locates the entry for error messages: "file:line", with
	// "stdin" as the file when the catalog was read from "-".
	Source string

	// Ref is a tag or digest reference. A reference may carry both
	// ("repo:tag@sha256:…", which buildx metadata yields); see Tag.
	Ref string
	// Tag is the tag Ref names, if any: "v1" for "repo:v1" and for
	// "repo:v1@sha256:…", "latest" for a bare "repo", and "" for
	// "repo@sha256:…". ggcr's name.ParseReference accepts "repo:tag@digest"
	// as a name.Digest whose Context() drops the tag (only String() keeps
	// the original text), so the tag is kept here: it is what a signature
	// should name as the image's identity (docker-reference "repo:tag")
	// while the digest pins what is signed.
	Tag string

	// Repository is "host/repo"; every tag matching one of Tags is signed.
	Repository string
	// Tags are tag globs in MatchGlob syntax for Repository, or for every
	// repository of Registry; empty means every tag.
	Tags []string

	// Registry is "host[:port]"; every repository the registry's catalog
	// API lists that matches one of Repositories (and of those, every tag
	// matching Tags) is signed.
	Registry string
	// Repositories are repository globs in MatchGlob syntax; empty means
	// every repository.
	Repositories []string

	// Settings holds only the overrides the entry itself gives.
	Settings
	// Recursive, when set, overrides Defaults.Recursive.
	Recursive *bool
}

// Problem is one thing wrong with a catalog.
type Problem struct {
	// Source is "file:line", or just the file for problems with the
	// whole catalog.
	Source string
	Msg    string
}

func (p Problem) String() string { return p.Source + ": " + p.Msg }

// CatalogError lists every problem found in a catalog, so that a user can
// fix them all at once rather than one per run.
type CatalogError struct {
	Problems []Problem
}

// Error lists the problems, one per line.
func (e *CatalogError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Formats a catalog may name.
var knownFormats = []string{"cosign", "notation", "sigstore-bundle"}

// maxCatalogSize bounds what ParseCatalog reads. A catalog of 100,000
// references is about 10 MB; anything much larger is almost certainly the
// wrong file (an image tarball piped to stdin, say).
const maxCatalogSize = 64 << 20

// ParseCatalog reads a catalog and validates every entry, reporting all
// problems at once as a *CatalogError. filename only names the input in
// messages; "-" shows as "stdin".
//
// The form is detected from the first line that is neither blank nor a
// "#" comment:
//
//   - YAML or JSON (a line starting with "{", "[", "---", "%", "- ", or a
//     "key:" mapping key): either signet's schema, a mapping with
//     "defaults" and "images", or the metadata file that
//     "docker buildx build --metadata-file" and "buildctl --metadata-file"
//     write (recognised by "containerimage.digest"), including the form
//     "docker buildx bake" writes, an object keyed by target name. JSON is
//     parsed as YAML, which gives line numbers for both.
//   - Otherwise plain text: one reference per line, optionally followed by
//     whitespace and a "# comment".
//
// Unknown fields are errors, so that a typo ("formts:") is never silently
// ignored; buildx metadata is the exception, since buildx writes many keys
// signet has no use for. An empty catalog is an error too: it is far more
// often a failed step upstream ("jq … | signet batch --catalog -") than a
// request to sign nothing.
func ParseCatalog(r io.Reader, filename string) (*Catalog, error) {
	file := filename
	switch file {
	case "-":
		file = "stdin"
	case "":
		file = "catalog"
	}
	data, err := io.ReadAll(io.LimitReader(r, maxCatalogSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading catalog %s: %w", file, err)
	}
	if len(data) > maxCatalogSize {
		return nil, &CatalogError{Problems: []Problem{{Source: file,
			Msg: fmt.Sprintf("catalog is larger than %d MiB; is it the right file?", maxCatalogSize>>20)}}}
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff")) // editors on Windows add a BOM

	p := &catalogParser{file: file}
	if isStructured(data) {
		p.parseStructured(data)
	} else {
		p.parseText(data)
	}
	if len(p.problems) == 0 && len(p.cat.Entries) == 0 {
		p.add(0, "the catalog lists no images")
	}
	if len(p.problems) > 0 {
		return nil, &CatalogError{Problems: p.problems}
	}
	return &p.cat, nil
}

// keyLine matches a YAML mapping key at the start of a line ("images:",
// "defaults: {}"). A reference never has whitespace or the end of the line
// right after a colon ("localhost:5000/app", "app:v1").
var keyLine = regexp.MustCompile(`^[^\s:#]+:(\s|$)`)

func isStructured(data []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		for _, prefix := range []string{"{", "[", "---", "%", "- "} {
			if strings.HasPrefix(t, prefix) {
				return true
			}
		}
		return t == "-" || keyLine.MatchString(t)
	}
	return false
}

type catalogParser struct {
	file     string
	cat      Catalog
	problems []Problem
}

func (p *catalogParser) source(line int) string {
	if line <= 0 {
		return p.file
	}
	return p.file + ":" + strconv.Itoa(line)
}

func (p *catalogParser) add(line int, format string, args ...any) {
	p.problems = append(p.problems, Problem{Source: p.source(line), Msg: ScrubPIN(fmt.Sprintf(format, args...))})
}

func (p *catalogParser) parseText(data []byte) {
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) > 1 && !strings.HasPrefix(fields[1], "#") {
			if len(PINValues(line)) > 0 {
				// A PIN may hold the blank that split the line, and then
				// the word after it, which nothing marks as a PIN, is
				// part of it: quote no word of the line.
				p.add(n, "the line carries a pin-value; a catalog lists images, not keys (keep PINs out of catalogs: use pin-source, or SIGNET_PKCS11_PIN)")
				continue
			}
			p.add(n, "unexpected %q after the reference (want one reference per line, optionally followed by \"# comment\")", fields[1])
			continue
		}
		p.addRef(n, fields[0], Entry{})
	}
}

// addRef validates ref and, if it is good, appends e with Ref, Tag and
// Source filled in.
func (p *catalogParser) addRef(line int, ref string, e Entry) bool {
	tag, err := parseRef(ref)
	if err != nil {
		p.add(line, "%v", err)
		return false
	}
	e.Source, e.Ref, e.Tag = p.source(line), ref, tag
	p.cat.Entries = append(p.cat.Entries, e)
	return true
}

// parseRef validates a reference and returns its tag (see Entry.Tag).
func parseRef(ref string) (tag string, err error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		// ParseReference only says "could not parse reference"; the
		// specific parser says what is wrong.
		if strings.Contains(ref, "@") {
			_, err = name.NewDigest(ref)
		} else {
			_, err = name.NewTag(ref)
		}
		if err == nil { // cannot happen; keep the generic message
			_, err = name.ParseReference(ref)
		}
		return "", fmt.Errorf("invalid reference %q: %v (want host/repo:tag or host/repo@sha256:…)", ref, err)
	}
	switch r := r.(type) {
	case name.Tag:
		return r.TagStr(), nil
	case name.Digest:
		return explicitTag(ref[:strings.Index(ref, "@")]), nil
	}
	return "", nil
}

// explicitTag returns the tag a name spells out, with ggcr's rule for
// telling a tag from a registry port (the part after the last colon must
// not contain a slash), or "" if there is none.
func explicitTag(s string) string {
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.Contains(s[i+1:], "/") {
		return ""
	}
	return s[i+1:]
}

func (p *catalogParser) parseStructured(data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		p.syntaxError(data, err)
		return
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.add(extra.Line, "a second YAML document; a catalog is one document")
		return
	} else if !errors.Is(err, io.EOF) {
		p.syntaxError(data, err)
		return
	}
	root := resolve(&doc)
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return // only comments: reported as an empty catalog
		}
		root = resolve(root.Content[0])
	}
	if root.Kind != yaml.MappingNode {
		p.add(root.Line, "found %s at the top level; want a mapping with \"images\" (and optionally \"defaults\"), or buildx metadata", kindName(root))
		return
	}
	if lookup(root, "containerimage.digest") != nil {
		p.buildxTarget(root, "")
		return
	}
	if isBake(root) {
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := root.Content[i], resolve(root.Content[i+1])
			if v.Kind != yaml.MappingNode {
				continue // "buildx.build.warnings" and the like
			}
			if lookup(v, "containerimage.digest") == nil && lookup(v, "image.name") == nil {
				continue // a target with no image output (type=local, cacheonly)
			}
			p.buildxTarget(v, k.Value)
		}
		return
	}
	p.signetCatalog(root)
}

// syntaxError reports a syntax error at the best line available. yaml.v3
// stops at the first syntax error and names the start of the construct it
// was parsing, often lines before the mistake, so the line is where it
// stopped (yamlnode.ErrorLineIn); for JSON, encoding/json gives the exact
// offset, and for a tab in the indentation (the classic YAML mistake) the
// first such line is the culprit.
func (p *catalogParser) syntaxError(data []byte, err error) {
	line, msg := yamlnode.ErrorLineIn(data, err)
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		var v any
		var se *json.SyntaxError
		if jerr := json.Unmarshal(data, &v); errors.As(jerr, &se) {
			line = 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
			msg = se.Error()
		}
	} else if strings.Contains(msg, "tab character") {
		for i, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimLeft(l, " "), "\t") {
				line, msg = i+1, "a tab in the indentation (YAML indents with spaces)"
				break
			}
		}
	}
	p.add(line, "syntax error: %s", msg)
}

func isBake(root *yaml.Node) bool {
	for i := 1; i < len(root.Content); i += 2 {
		if v := resolve(root.Content[i]); v.Kind == yaml.MappingNode && lookup(v, "containerimage.digest") != nil {
			return true
		}
	}
	return false
}

// buildxTarget reads one buildx metadata object: one entry per name in
// "image.name" (a comma-separated list), each as "name@digest".
func (p *catalogParser) buildxTarget(m *yaml.Node, target string) {
	where := ""
	if target != "" {
		where = fmt.Sprintf("target %q: ", target)
	}
	dig, names := lookup(m, "containerimage.digest"), lookup(m, "image.name")
	if dig == nil {
		p.add(m.Line, "%shas image.name but no containerimage.digest (was the image pushed?)", where)
		return
	}
	if names == nil {
		p.add(m.Line, "%shas containerimage.digest but no image.name (build with --tag, or --output type=image,name=…,push=true)", where)
		return
	}
	d, ok := p.scalar(dig, "containerimage.digest")
	if !ok {
		return
	}
	list, ok := p.scalar(names, "image.name")
	if !ok {
		return
	}
	for n := range strings.SplitSeq(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if strings.Contains(n, "@") {
			p.add(names.Line, "%simage.name %q already has a digest; want names without one", where, n)
			continue
		}
		p.addRef(names.Line, n+"@"+d, Entry{})
	}
}

var (
	topFields      = []string{"defaults", "images"}
	defaultsFields = []string{"key", "formats", "attest", "recursive"}
	entryFields    = []string{"ref", "repository", "tags", "registry", "repositories", "key", "formats", "attest", "recursive"}
)

func (p *catalogParser) signetCatalog(root *yaml.Node) {
	fields := p.fields(root, "top level", topFields)
	if d := fields["defaults"]; d != nil && !isNull(d) {
		if d.Kind != yaml.MappingNode {
			p.add(d.Line, "defaults: found %s, want a mapping (key, formats, attest, recursive)", kindName(d))
		} else {
			f := p.fields(d, "defaults", defaultsFields)
			p.settings(f, &p.cat.Defaults.Settings)
			p.cat.Defaults.Recursive = p.boolean(f["recursive"], "recursive")
		}
	}
	images := fields["images"]
	if images == nil {
		p.add(root.Line, "no \"images\" list (want images: [ref, {repository: …}, {registry: …}])")
		return
	}
	if isNull(images) {
		return
	}
	if images.Kind != yaml.SequenceNode {
		p.add(images.Line, "images: found %s, want a list", kindName(images))
		return
	}
	for _, n := range images.Content {
		p.entry(resolve(n))
	}
}

func (p *catalogParser) entry(n *yaml.Node) {
	switch n.Kind {
	case yaml.ScalarNode:
		if s, ok := p.scalar(n, "image"); ok {
			p.addRef(n.Line, s, Entry{})
		}
		return
	case yaml.MappingNode:
	default:
		p.add(n.Line, "found %s in images; want a reference or a mapping with ref, repository or registry", kindName(n))
		return
	}
	f := p.fields(n, "image entry", entryFields)
	var e Entry
	p.settings(f, &e.Settings)
	e.Recursive = p.boolean(f["recursive"], "recursive")
	var kinds []string
	for _, k := range []string{"ref", "repository", "registry"} {
		if f[k] != nil {
			kinds = append(kinds, k)
		}
	}
	switch len(kinds) {
	case 0:
		p.add(n.Line, "entry has none of ref, repository or registry")
		return
	case 1:
	default:
		p.add(n.Line, "entry has both %s and %s; give one per entry", kinds[0], kinds[1])
		return
	}
	if f["tags"] != nil && kinds[0] == "ref" {
		p.add(f["tags"].Line, "tags applies only to a repository or registry entry")
	}
	if f["repositories"] != nil && kinds[0] != "registry" {
		p.add(f["repositories"].Line, "repositories applies only to a registry entry")
	}
	bad := len(p.problems)
	switch kinds[0] {
	case "ref":
		if s, ok := p.scalar(f["ref"], "ref"); ok {
			tag, err := parseRef(s)
			if err != nil {
				p.add(f["ref"].Line, "%v", err)
			}
			e.Ref, e.Tag = s, tag
		}
	case "repository":
		s, ok := p.scalar(f["repository"], "repository")
		if ok {
			if strings.Contains(s, "@") || explicitTag(s) != "" {
				p.add(f["repository"].Line, "repository %q has a tag or digest; use tags: [...] or a ref entry", s)
			} else if _, err := name.NewRepository(s); err != nil {
				p.add(f["repository"].Line, "invalid repository %q: %v (want host/repo)", s, err)
			}
		}
		e.Repository = s
		e.Tags = p.globs(f["tags"], "tags")
	case "registry":
		s, ok := p.scalar(f["registry"], "registry")
		if ok {
			if _, err := name.NewRegistry(s, name.StrictValidation); err != nil || strings.Contains(s, "/") {
				p.add(f["registry"].Line, "invalid registry %q (want host or host:port)", s)
			}
		}
		e.Registry = s
		e.Repositories = p.globs(f["repositories"], "repositories")
		e.Tags = p.globs(f["tags"], "tags")
	}
	if len(p.problems) == bad {
		e.Source = p.source(n.Line)
		p.cat.Entries = append(p.cat.Entries, e)
	}
}

// fields checks a mapping's keys against allowed and returns their values,
// aliases followed. Unknown and repeated keys are problems.
func (p *catalogParser) fields(m *yaml.Node, where string, allowed []string) map[string]*yaml.Node {
	out, probs := yamlnode.Fields(m, allowed)
	for _, pr := range probs {
		if pr.Kind == yamlnode.Repeated {
			p.add(pr.Key.Line, "field %q given twice (first at line %d)", pr.Key.Value, pr.First.Line)
			continue
		}
		// Unknown, and keys no catalog field can have (a list, "<<").
		msg := fmt.Sprintf("unknown field %q in %s", pr.Key.Value, where)
		if pr.Suggestion != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", pr.Suggestion)
		} else {
			msg += fmt.Sprintf(" (want %s)", strings.Join(allowed, ", "))
		}
		p.add(pr.Key.Line, "%s", msg)
	}
	for k, v := range out {
		out[k] = resolve(v)
	}
	return out
}

func (p *catalogParser) settings(f map[string]*yaml.Node, s *Settings) {
	if n := f["key"]; n != nil {
		if k, ok := p.scalar(n, "key"); ok {
			if hasPIN(k) {
				// Never echo the key: it holds a PIN.
				p.add(n.Line, "key carries a pin-value; keep PINs out of catalogs (use pin-source, or SIGNET_PKCS11_PIN)")
			}
			s.Key = k
		}
	}
	if n := f["formats"]; n != nil {
		s.Formats = p.stringList(n, "formats")
		if n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
			p.add(n.Line, "formats: empty list signs nothing; name at least one of %s, or leave formats out for the run's", strings.Join(knownFormats, ", "))
		}
		seen := map[string]bool{}
		for _, fm := range s.Formats {
			switch {
			case !slices.Contains(knownFormats, fm):
				p.add(n.Line, "unknown format %q (want %s)", fm, strings.Join(knownFormats, ", "))
			case seen[fm]:
				p.add(n.Line, "format %q listed twice", fm)
			}
			seen[fm] = true
		}
	}
	if n := f["attest"]; n != nil {
		s.Attest = p.stringList(n, "attest")
		if n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
			// "attest: []" opts the entry out of the defaults' and the
			// run's attestations: empty, but not nil (which inherits).
			s.Attest = []string{}
		}
	}
}

// scalar returns a non-empty scalar's text.
func (p *catalogParser) scalar(n *yaml.Node, field string) (string, bool) {
	switch {
	case n.Kind != yaml.ScalarNode:
		p.add(n.Line, "%s: found %s, want a string", field, kindName(n))
	case isNull(n) || strings.TrimSpace(n.Value) == "":
		p.add(n.Line, "%s: empty value", field)
	default:
		return strings.TrimSpace(n.Value), true
	}
	return "", false
}

// stringList accepts a list of strings, or a single string as a list of
// one ("formats: cosign").
func (p *catalogParser) stringList(n *yaml.Node, field string) []string {
	if n.Kind == yaml.ScalarNode {
		if s, ok := p.scalar(n, field); ok {
			return []string{s}
		}
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n.Line, "%s: found %s, want a list of strings", field, kindName(n))
		return nil
	}
	var out []string
	for _, c := range n.Content {
		if s, ok := p.scalar(resolve(c), field); ok {
			out = append(out, s)
		}
	}
	return out
}

func (p *catalogParser) globs(n *yaml.Node, field string) []string {
	if n == nil {
		return nil
	}
	list := p.stringList(n, field)
	for _, g := range list {
		if _, err := path.Match(g, ""); err != nil {
			p.add(n.Line, "%s: bad pattern %q: %v (want path.Match syntax: *, ?, [a-z], \\ to escape)", field, g, err)
		}
	}
	return list
}

func (p *catalogParser) boolean(n *yaml.Node, field string) *bool {
	if n == nil {
		return nil
	}
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		p.add(n.Line, "%s: found %q, want true or false", field, n.Value)
		return nil
	}
	return &b
}

// MatchGlob reports whether s matches pattern with path.Match semantics:
// "*" matches any run of characters except "/", "?" one such character,
// "[a-z]" a class, and "\" escapes. There is no "**": "team/*" matches
// "team/app" but not "team/app/sub", so list "team/*/*" too if needed. A
// malformed pattern matches nothing; ParseCatalog has already rejected
// those.
func MatchGlob(pattern, s string) bool {
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return resolve(m.Content[i+1])
		}
	}
	return nil
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "a YAML node"
}
