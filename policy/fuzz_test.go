package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary bytes to the policy parser, then exercises
// whatever parsed: nothing may panic, and every failure is an *Error with
// at least one problem.
func FuzzParse(f *testing.F) {
	dir, err := filepath.Abs("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, pattern := range []string{"*.yaml", "*.json"} {
		files, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte(fullYAML))
	f.Add([]byte(fullJSON))
	f.Add([]byte("a: &a [*a, *a]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n"))
	f.Add([]byte("apiVersion: signet.dev/v1\nkind: Policy\ntrust:\n  - &r {name: a, scopes: ['*'], level: audit}\n  - *r\n"))
	f.Add([]byte("{\"apiVersion\": \"signet.dev/v1\", \"kind\": \"SigningPolicy\", \"signing\": [{\"key\": \"pkcs11:token=%zz\"}]}"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte{0xff, 0xfe, 0x00})
	refs := []string{"127.0.0.1:5000/prod/app:v1", "registry.example.com/team/a/b", "alpine", "localhost:5000/ci/x"}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(context.Background(), data, filepath.Join(dir, "fuzz.yaml"))
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || len(pe.Problems) == 0 {
				t.Fatalf("Parse() error %T %v; want *Error with problems", err, err)
			}
			_ = err.Error()
			return
		}
		if p == nil {
			t.Fatal("Parse() = nil, nil")
		}
		for _, pr := range p.Lint() {
			_ = pr.String()
		}
		for _, ref := range refs {
			if s, err := p.TrustFor(ref); err == nil {
				s.Keys()
				s.RevokedKeys()
				_ = s.Chain(nil, time.Time{})
				v := s.Decide(Evidence{Findings: []Finding{{Format: "cosign"}}, Attestations: []string{"x"}})
				_ = v.String()
			}
			if _, err := p.Explain(ref); err != nil {
				t.Fatalf("Explain(%q) = %v", ref, err)
			}
			_ = p.CheckSigning(SigningRequest{Key: "pkcs11:token=release;object=prod-key", Repo: ref, Formats: []string{"cosign"}})
		}
	})
}

// FuzzPattern checks the scope glob engine against itself: witnesses the
// overlap and coverage searches return must match (or not) as claimed, and
// a repository both patterns match means they overlap.
func FuzzPattern(f *testing.F) {
	f.Add("registry.example.com/team/*", "registry.example.com/**", "registry.example.com/team/app")
	f.Add("127.0.0.1:*/app/**", "*/app/x", "127.0.0.1:5000/app/x")
	f.Add("r.io/*/a/*", "r.io/*/*/a", "r.io/x/a/a")
	f.Add("*", "*/**", "docker.io/library/ubuntu")
	f.Add("docker.io/ubuntu", "docker.io/library/*", "ubuntu")
	f.Fuzz(func(t *testing.T, a, b, repo string) {
		pa, errA := compilePattern(a)
		pb, errB := compilePattern(b)
		if errA != nil || errB != nil {
			return
		}
		if c1, c2 := pa.rank.compare(pb.rank), pb.rank.compare(pa.rank); (c1 > 0) != (c2 < 0) || (c1 == 0) != (c2 == 0) {
			t.Fatalf("rank compare not antisymmetric: %q vs %q: %d, %d", a, b, c1, c2)
		}
		both := false
		if norm, err := normalizeRepo(repo); err == nil {
			both = pa.match(norm) && pb.match(norm)
		}
		r := search(pa, []*pattern{pb}, true)
		if r.found && !(pa.match(r.witness) && pb.match(r.witness)) {
			t.Fatalf("overlap(%q, %q) witness %q not matched by both", a, b, r.witness)
		}
		if both && r.complete && !r.found {
			t.Fatalf("overlap(%q, %q) = none, but both match %q", a, b, repo)
		}
		c := search(pa, []*pattern{pb}, false)
		if c.found && (!pa.match(c.witness) || pb.match(c.witness)) {
			t.Fatalf("uncovered(%q, %q) witness %q wrong", a, b, c.witness)
		}
		if c.found && strings.Contains(c.witness, "//") {
			t.Fatalf("witness %q has an empty part", c.witness)
		}
	})
}
