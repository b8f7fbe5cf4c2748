package policy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDocsExample parses the example of docs/policy.md, so the reference
// cannot drift from the parser.
func TestDocsExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "policy.md"))
	if os.IsNotExist(err) {
		t.Skip("docs/policy.md not present")
	}
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- policy-example:begin -->")
	block, _, ok2 := strings.Cut(rest, "<!-- policy-example:end -->")
	if !ok || !ok2 {
		t.Fatal("docs/policy.md lacks the policy-example markers")
	}
	block = strings.TrimSpace(block)
	block = strings.TrimPrefix(block, "```yaml")
	block = strings.TrimSuffix(block, "```")
	dir := t.TempDir()
	pki := newPKI(t, "Acme")
	for _, name := range []string{"keys/release.pub", "keys/old-release.pub", "keys/ci.pub"} {
		writeFile(t, dir, name, pubPEM(t, newKey(t).Public()))
	}
	writeFile(t, dir, "ca/root.pem", certPEM(pki.root))
	p := mustParse(t, dir, block)
	if probs := p.Lint(); len(probs) > 0 {
		t.Errorf("Lint(docs example) = %v; want no problems", probs)
	}
	s, err := p.TrustFor("registry.example.com/prod/team/app:v1")
	if err != nil || s.Name != "prod" {
		t.Errorf("TrustFor(prod image) = %v, %v; want rule prod", s, err)
	}
}

// TestDocsScopeTable checks the precedence table of docs/policy.md.
func TestDocsScopeTable(t *testing.T) {
	rows := map[string][]string{
		"registry.example.com/prod/app": {"registry.example.com/prod/app", "registry.example.com/prod/*",
			"registry.example.com/prod/**", "registry.example.com/**", "*/prod/app", "*"},
		"registry.example.com/prod/a/b": {"registry.example.com/prod/**", "registry.example.com/*/a/b", "registry.example.com/**", "*"},
	}
	all := []string{"*", "*/prod/app", "registry.example.com/**", "registry.example.com/prod/**",
		"registry.example.com/prod/*", "registry.example.com/prod/app", "registry.example.com/*/a/b"}
	p := &Policy{}
	for _, text := range all {
		cp, err := compilePattern(text)
		if err != nil {
			t.Fatal(err)
		}
		p.Trust = append(p.Trust, &Scope{Name: text, Patterns: []Pattern{{Text: text, p: cp}}})
	}
	for repo, want := range rows {
		var got []string
		for _, m := range p.matches(repo) {
			got = append(got, m.pat.Text)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("matches(%s) = %q; want %q", repo, got, want)
		}
	}
}

// TestDocsPodmanExample checks the containers/image files enforce.md
// points at: valid JSON and YAML of the expected shape, with a
// registries.d entry for every namespace the policy requires signatures in.
// tools/podman-verify exercises them against containers/image itself.
func TestDocsPodmanExample(t *testing.T) {
	dir := filepath.Join("..", "docs", "examples")
	raw, err := os.ReadFile(filepath.Join(dir, "podman-policy.json"))
	if os.IsNotExist(err) {
		t.Skip("docs/examples not present")
	}
	if err != nil {
		t.Fatal(err)
	}
	var pol struct {
		Default    []map[string]any                       `json:"default"`
		Transports map[string]map[string][]map[string]any `json:"transports"`
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pol); err != nil {
		t.Fatalf("podman-policy.json: %v", err)
	}
	if len(pol.Default) != 1 || pol.Default[0]["type"] != "reject" {
		t.Errorf("default = %v; want [{type: reject}]", pol.Default)
	}
	var scopes []string
	for scope, reqs := range pol.Transports["docker"] {
		scopes = append(scopes, scope)
		for _, r := range reqs {
			if r["type"] != "sigstoreSigned" || r["keyPath"] == nil || r["rekorPublicKeyPath"] != nil {
				t.Errorf("%s: requirement %v; want sigstoreSigned with keyPath and no Rekor key", scope, r)
			}
		}
	}
	if len(scopes) == 0 {
		t.Fatal("no transports.docker scopes")
	}
	raw, err = os.ReadFile(filepath.Join(dir, "registries.d", "signet.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		Docker map[string]struct {
			UseSigstoreAttachments bool `yaml:"use-sigstore-attachments"`
		} `yaml:"docker"`
	}
	if err := yaml.Unmarshal(raw, &reg); err != nil {
		t.Fatalf("registries.d/signet.yaml: %v", err)
	}
	for _, s := range scopes {
		if !reg.Docker[s].UseSigstoreAttachments {
			t.Errorf("registries.d/signet.yaml: %s lacks use-sigstore-attachments: true", s)
		}
	}
}
