package batch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const (
	dig1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	dig2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func ptr[T any](v T) *T { return &v }

func TestParseCatalog(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		in       string
		want     *Catalog
		testdata string // read the input from testdata instead
	}{{
		name: "text",
		file: "refs.txt",
		in: "# release images\n" +
			"ghcr.io/acme/app:1.0\n" +
			"\n" +
			"   ghcr.io/acme/app@" + dig1 + "   # pinned\r\n" +
			"localhost:5000/app\n" +
			"ubuntu:22.04@" + dig2 + "\n",
		want: &Catalog{Entries: []Entry{
			{Source: "refs.txt:2", Ref: "ghcr.io/acme/app:1.0", Tag: "1.0"},
			{Source: "refs.txt:4", Ref: "ghcr.io/acme/app@" + dig1},
			{Source: "refs.txt:5", Ref: "localhost:5000/app", Tag: "latest"},
			{Source: "refs.txt:6", Ref: "ubuntu:22.04@" + dig2, Tag: "22.04"},
		}},
	}, {
		name: "stdin is named stdin",
		file: "-",
		in:   "ghcr.io/acme/app:1.0\n",
		want: &Catalog{Entries: []Entry{{Source: "stdin:1", Ref: "ghcr.io/acme/app:1.0", Tag: "1.0"}}},
	}, {
		name:     "yaml with defaults and overrides",
		file:     "catalog.yaml",
		testdata: "catalog.yaml",
		want: &Catalog{
			Defaults: Defaults{
				Settings:  Settings{Key: "pkcs11:token=release;object=signing-key", Formats: []string{"cosign", "notation"}},
				Recursive: ptr(true),
			},
			Entries: []Entry{
				{Source: "catalog.yaml:8", Ref: "ghcr.io/acme/app:1.4.2", Tag: "1.4.2"},
				{Source: "catalog.yaml:9", Ref: "ghcr.io/acme/app@" + dig1},
				{Source: "catalog.yaml:10", Ref: "ghcr.io/acme/tools:latest", Tag: "latest",
					Settings: Settings{Formats: []string{"sigstore-bundle"}}, Recursive: ptr(false)},
				{Source: "catalog.yaml:13", Repository: "ghcr.io/acme/api", Tags: []string{"v2.*", "latest"}},
				{Source: "catalog.yaml:15", Registry: "registry.internal:5000", Repositories: []string{"team/*"},
					Settings: Settings{Key: "/etc/signet/team.key", Attest: []string{"sbom"}}},
			},
		},
	}, {
		name: "json",
		file: "c.json",
		in: `{
  "defaults": {"formats": ["cosign"], "recursive": false},
  "images": [
    "ghcr.io/acme/app:1.0",
    {"repository": "ghcr.io/acme/api", "tags": "v*", "key": "cosign.key"}
  ]
}`,
		want: &Catalog{
			Defaults: Defaults{Settings: Settings{Formats: []string{"cosign"}}, Recursive: ptr(false)},
			Entries: []Entry{
				{Source: "c.json:4", Ref: "ghcr.io/acme/app:1.0", Tag: "1.0"},
				{Source: "c.json:5", Repository: "ghcr.io/acme/api", Tags: []string{"v*"}, Settings: Settings{Key: "cosign.key"}},
			},
		},
	}, {
		name: "registry entry with tag globs, no defaults",
		file: "c.yaml",
		in:   "images:\n- registry: ghcr.io\n  tags: [stable]\n",
		want: &Catalog{Entries: []Entry{{Source: "c.yaml:2", Registry: "ghcr.io", Tags: []string{"stable"}}}},
	}, {
		name:     "buildx metadata with comma-separated names",
		file:     "metadata.json",
		testdata: "buildx-metadata.json",
		want: &Catalog{Entries: []Entry{
			{Source: "metadata.json:16", Ref: "ghcr.io/acme/app:latest@" + dig1, Tag: "latest"},
			{Source: "metadata.json:16", Ref: "ghcr.io/acme/app:1.4.2@" + dig1, Tag: "1.4.2"},
		}},
	}, {
		name:     "buildx bake metadata",
		file:     "bake.json",
		testdata: "bake-metadata.json",
		want: &Catalog{Entries: []Entry{
			{Source: "bake.json:9", Ref: "ghcr.io/acme/api:v2@" + dig1, Tag: "v2"},
			{Source: "bake.json:17", Ref: "ghcr.io/acme/worker@" + dig2},
		}},
	}, {
		name: "buildctl metadata in YAML flow",
		file: "m.json",
		in:   `{"containerimage.digest": "` + dig2 + `", "image.name": "r.example/x:a, r.example/y"}`,
		want: &Catalog{Entries: []Entry{
			{Source: "m.json:1", Ref: "r.example/x:a@" + dig2, Tag: "a"},
			{Source: "m.json:1", Ref: "r.example/y@" + dig2},
		}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if tt.testdata != "" {
				b, err := os.ReadFile("testdata/" + tt.testdata)
				if err != nil {
					t.Fatal(err)
				}
				in = string(b)
			}
			got, err := ParseCatalog(strings.NewReader(in), tt.file)
			if err != nil {
				t.Fatalf("ParseCatalog() error:\n%v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseCatalog() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestParseCatalogProblems(t *testing.T) {
	tests := []struct {
		name string
		file string
		in   string
		want []string // each problem, as "source: substring of the message"
	}{{
		name: "text: every bad line",
		file: "refs.txt",
		in: "ghcr.io/acme/app:1.0\n" +
			"ghcr.io/Acme/app:1.0\n" +
			"ghcr.io/acme/app:1.0 extra\n" +
			"ghcr.io/acme/app@sha256:abc\n" +
			"ghcr.io/acme/app:\n",
		want: []string{
			"refs.txt:2: invalid reference \"ghcr.io/Acme/app:1.0\"",
			"refs.txt:3: unexpected \"extra\" after the reference",
			"refs.txt:4: invalid reference \"ghcr.io/acme/app@sha256:abc\"",
			"refs.txt:5: invalid reference \"ghcr.io/acme/app:\"",
		},
	}, {
		name: "empty text",
		file: "-",
		in:   "# nothing yet\n\n",
		want: []string{"stdin: the catalog lists no images"},
	}, {
		name: "empty input",
		file: "c.txt",
		in:   "",
		want: []string{"c.txt: the catalog lists no images"},
	}, {
		name: "an empty formats list",
		file: "c.yaml",
		in:   "images:\n  - ref: ghcr.io/acme/app:1\n    formats: []\n",
		want: []string{"c.yaml:3: formats: empty list signs nothing"},
	}, {
		name: "empty images",
		file: "c.yaml",
		in:   "images: []\n",
		want: []string{"c.yaml: the catalog lists no images"},
	}, {
		name: "yaml: unknown fields, bad values, all at once",
		file: "c.yaml",
		in: "defaults:\n" + // 1
			"  formts: [cosign]\n" + // 2
			"  recursive: maybe\n" + // 3
			"images:\n" + // 4
			"  - ghcr.io/acme/APP:1\n" + // 5
			"  - ref: ghcr.io/acme/app:1\n" + // 6
			"    formats: [cosign, gpg]\n" + // 7
			"  - repository: ghcr.io/acme/app\n" + // 8
			"    tags: [\"v[1\"]\n" + // 9
			"  - registry: ghcr.io\n" + // 10
			"    repository: ghcr.io/x\n" + // 11
			"  - tags: [a]\n" + // 12
			"  - ref: ghcr.io/a:1\n" + // 13
			"    tags: [a]\n" + // 14
			"    colour: blue\n" + // 15
			"  - registry: ghcr.io/x\n" + // 16
			"  - repository: ghcr.io/acme/app:v1\n" + // 17
			"  - [a, b]\n" + // 18
			"  - ref: ghcr.io/a:1\n" + // 19
			"    ref: ghcr.io/a:2\n" + // 20
			"  - ref: ghcr.io/a:1\n" + // 21
			"    key: \"pkcs11:token=t;object=k?pin-value=1234\"\n" + // 22
			"  - ref: ghcr.io/a:1\n" + // 23
			"    formats: [cosign, cosign]\n", // 24
		want: []string{
			"c.yaml:2: unknown field \"formts\" in defaults (did you mean \"formats\"?)",
			"c.yaml:3: recursive: found \"maybe\", want true or false",
			"c.yaml:5: invalid reference \"ghcr.io/acme/APP:1\"",
			"c.yaml:7: unknown format \"gpg\" (want cosign, notation, sigstore-bundle)",
			"c.yaml:9: tags: bad pattern \"v[1\"",
			"c.yaml:10: entry has both repository and registry",
			"c.yaml:12: entry has none of ref, repository or registry",
			"c.yaml:15: unknown field \"colour\" in image entry (want ref, repository",
			"c.yaml:14: tags applies only to a repository or registry entry",
			"c.yaml:16: invalid registry \"ghcr.io/x\"",
			"c.yaml:17: repository \"ghcr.io/acme/app:v1\" has a tag or digest",
			"c.yaml:18: found a list in images",
			"c.yaml:20: field \"ref\" given twice (first at line 19)",
			"c.yaml:22: key carries a pin-value",
			"c.yaml:24: format \"cosign\" listed twice",
		},
	}, {
		name: "yaml syntax error names the line",
		file: "c.yaml",
		in:   "images:\n  - a:1\n\t- b\n",
		want: []string{"c.yaml:3: syntax error: a tab in the indentation"},
	}, {
		name: "json syntax error names the line",
		file: "c.json",
		in:   "{\"images\": [\n  \"ghcr.io/a:1\",\n  \"ghcr.io/b:1\"\n}\n",
		want: []string{"c.json:4: syntax error: invalid character '}'"},
	}, {
		name: "two documents",
		file: "c.yaml",
		in:   "images: [a]\n---\nimages: [b]\n",
		want: []string{"c.yaml:2: a second YAML document"},
	}, {
		name: "top level list",
		file: "c.yaml",
		in:   "- ghcr.io/a:1\n",
		want: []string{"c.yaml:1: found a list at the top level"},
	}, {
		name: "no images key",
		file: "c.yaml",
		in:   "defaults: {key: k}\n",
		want: []string{"c.yaml:1: no \"images\" list"},
	}, {
		name: "buildx metadata without a name",
		file: "m.json",
		in:   "{\n\"containerimage.digest\": \"" + dig1 + "\"\n}\n",
		want: []string{"m.json:1: has containerimage.digest but no image.name"},
	}, {
		name: "bake target without a digest, and a bad name",
		file: "bake.json",
		in: "{\n" +
			"  \"a\": {\"containerimage.digest\": \"" + dig1 + "\", \"image.name\": \"ghcr.io/a:1,ghcr.io/B\"},\n" +
			"  \"b\": {\"image.name\": \"ghcr.io/b:1\"}\n" +
			"}\n",
		want: []string{
			"bake.json:2: invalid reference \"ghcr.io/B@" + dig1 + "\"",
			"bake.json:3: target \"b\": has image.name but no containerimage.digest",
		},
	}, {
		name: "buildx metadata with a bad digest",
		file: "m.json",
		in:   `{"containerimage.digest": "sha256:abc", "image.name": "ghcr.io/a:1"}`,
		want: []string{"m.json:1: invalid reference \"ghcr.io/a:1@sha256:abc\""},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCatalog(strings.NewReader(tt.in), tt.file)
			if err == nil {
				t.Fatalf("ParseCatalog() = %+v; want an error", got)
			}
			var ce *CatalogError
			if !errors.As(err, &ce) {
				t.Fatalf("ParseCatalog() error = %T %v; want *CatalogError", err, err)
			}
			if len(ce.Problems) != len(tt.want) {
				t.Errorf("ParseCatalog() gave %d problems; want %d:\n%v", len(ce.Problems), len(tt.want), err)
			}
			for _, w := range tt.want {
				found := false
				for _, p := range ce.Problems {
					if strings.HasPrefix(p.String(), w) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem %q in:\n%v", w, err)
				}
			}
			if lines := strings.Split(err.Error(), "\n"); len(lines) != len(ce.Problems) {
				t.Errorf("Error() has %d lines; want one per problem (%d)", len(lines), len(ce.Problems))
			}
		})
	}
}

// TestParseCatalogNeverEchoesPIN: a key URI with its PIN pasted anywhere
// in a catalog (where a key belongs, after a reference, as a whole section,
// as a reference) yields an error that names the line but not the PIN.
func TestParseCatalogNeverEchoesPIN(t *testing.T) {
	tests := []struct{ name, catalog, line string }{
		{"bad key field", "images:\n- ref: a:1\n  key: pkcs11:object=k?pin-value=s3cret\n  formats: 1\n", "c:4:"},
		{"key after a text reference", "ghcr.io/a/b:v1 pkcs11:token=t?pin-value=s3cret\n", "c:1:"},
		{"key as the defaults", "defaults: pkcs11:token=t?pin-value=s3cret\nimages: [a:1]\n", "c:1:"},
		{"key as a reference", "ok.io/a:1\npkcs11:token=t;object=k?pin-value=s3cret&module-path=/m.so\n", "c:2:"},
		{"key as a boolean", "images:\n- ref: a:1\n  recursive: \"pkcs11:token=t?PIN-VALUE=s3cret\"\n", "c:3:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCatalog(strings.NewReader(tt.catalog), "c")
			if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), tt.line) {
				t.Errorf("ParseCatalog() error = %v; want an error at %s without the PIN", err, tt.line)
			}
		})
	}
}

// TestScrubPIN: a pin-value in a message runs to the next "&" or line
// break, since hsm.ParseURI takes quotes and blanks into a PIN; a PIN of
// the references given is cut exactly. (TestScrubOddPINs tries PINs with
// each such character.)
func TestScrubPIN(t *testing.T) {
	tests := []struct {
		in   string
		refs []string
		want string
	}{
		{"no key here", nil, "no key here"},
		// The closing quote may be part of the PIN.
		{`unexpected "pkcs11:token=t?pin-value=s3cret" after`, nil, `unexpected "pkcs11:token=t?pin-value=REDACTED`},
		{`"pin-value=a\"b" after`, nil, `"pin-value=REDACTED`},
		{"pkcs11:object=k?Pin-Value=a&module-path=/m.so", nil, "pkcs11:object=k?Pin-Value=REDACTED&module-path=/m.so"},
		{"pkcs11:object=k;pin-value=a;id=%01 and pin-value=b", nil, "pkcs11:object=k;pin-value=REDACTED"},
		{"first pin-value=a b\r\nnext pin-value=c&id=%01\nlast", nil, "first pin-value=REDACTED\r\nnext pin-value=REDACTED&id=%01\nlast"},
		{"ends with pin-value=", nil, "ends with pin-value=REDACTED"},
		{"pkcs11:token=t?pin-value=12%2534", nil, "pkcs11:token=t?pin-value=REDACTED"}, // as written, not decoded
		{"İstanbul pin-value=x", nil, "İstanbul pin-value=REDACTED"},                   // lower-casing İ would change the length
		// A PIN of refs ends where it ends there, as written or as %q
		// escapes it.
		{`bad "pkcs11:t?pin-value=a b" here`, []string{"pkcs11:t?pin-value=a b"}, `bad "pkcs11:t?pin-value=REDACTED" here`},
		{`bad "pkcs11:t?pin-value=a\"b" here`, []string{`pkcs11:t?pin-value=a"b`}, `bad "pkcs11:t?pin-value=REDACTED" here`},
		{`bad "pkcs11:t?pin-value=\u00e9" here`, []string{"pkcs11:t?pin-value=é"}, `bad "pkcs11:t?pin-value=REDACTED" here`},                      // %+q
		{"bad pkcs11:t?pin-value=a b, c", []string{"--key=pkcs11:t?pin-value=a", "pkcs11:t?pin-value=a b"}, "bad pkcs11:t?pin-value=REDACTED, c"}, // the longest
		{"bad pkcs11:t?pin-value=a\nb c\nbad \"pkcs11:t?pin-value=a\\nb\" d", []string{"pkcs11:t?pin-value=a\nb"},
			"bad pkcs11:t?pin-value=REDACTED c\nbad \"pkcs11:t?pin-value=REDACTED\" d"},
		// Another PIN that goes on past a PIN of refs is not cut there.
		{"bad pkcs11:t?pin-value=ab c", []string{"pkcs11:t?pin-value=a"}, "bad pkcs11:t?pin-value=REDACTED"},
	}
	for _, tt := range tests {
		if got := ScrubPIN(tt.in, tt.refs...); got != tt.want {
			t.Errorf("ScrubPIN(%q, %q) = %q; want %q", tt.in, tt.refs, got, tt.want)
		}
	}
}

// TestPINValues: in one reference a pin-value runs to the next "&" or the
// end, as hsm.ParseURI reads it.
func TestPINValues(t *testing.T) {
	tests := []struct {
		ref  string
		want []string
	}{
		{"pkcs11:token=t", nil},
		{"pkcs11:token=t?pin-value=s3c;ret", []string{"s3c;ret"}},
		{"pkcs11:object=k?Pin-Value=a&module-path=/m.so", []string{"a"}},
		{"pkcs11:token=t?pin-value=12%2534", []string{"12%2534"}}, // as written, not decoded
		{"pkcs11:token=t?pin-value=a&pin-value=b c", []string{"a", "b c"}},
		{"pkcs11:token=t?pin-value=", nil},
		{`--workers=pkcs11:token=t?pin-value=a"b`, []string{`a"b`}},
	}
	for _, tt := range tests {
		if got := PINValues(tt.ref); !slices.Equal(got, tt.want) {
			t.Errorf("PINValues(%q) = %q; want %q", tt.ref, got, tt.want)
		}
	}
}

// TestParseCatalogYAMLSyntaxLine: a YAML syntax error names the line where
// the parser stopped, counted from 1 (yaml.v3 prints a parser error's line
// counted from 0, and that of the construct's start, not of the mistake).
func TestParseCatalogYAMLSyntaxLine(t *testing.T) {
	tests := []struct{ in, want string }{
		// Line 3's key is not indented under line 2's list item.
		{"images:\n  - ref: ghcr.io/a/b:v1\n  key: k\n",
			"cat.yaml:3: syntax error: did not find expected '-' indicator (in the list that starts at line 2)"},
		// Line 4 opens a list it does not close.
		{"images:\n  - ghcr.io/a/b:v1\n  - ref: ghcr.io/a/c:v1\n    formats: [cosign\n  - ghcr.io/a/d:v1\n",
			"cat.yaml:4: syntax error: did not find expected ',' or ']'"},
		// Line 4 is indented one space.
		{"defaults:\n  key: cosign.key\n  formats: [cosign]\n images:\n  - ghcr.io/a/b:v1\n",
			"cat.yaml:4: syntax error: did not find expected key"},
	}
	for _, tt := range tests {
		_, err := ParseCatalog(strings.NewReader(tt.in), "cat.yaml")
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("ParseCatalog(%q) = %v; want %q...", tt.in, err, tt.want)
		}
	}
}

// TestTargetsAttestOptOut: "attest: []" gives an entry no attestation
// whatever the defaults say; leaving attest out inherits them.
func TestTargetsAttestOptOut(t *testing.T) {
	cat, err := ParseCatalog(strings.NewReader(`defaults:
  attest: [provenance]
images:
  - ghcr.io/acme/app:1
  - ref: ghcr.io/acme/app:2
    attest: []
  - ref: ghcr.io/acme/app:3
    attest: [sbom]
`), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	targets, fails := cat.Targets(context.Background(), nil, 1)
	if len(fails) > 0 || len(targets) != 3 {
		t.Fatalf("Targets = %v, %v; want 3 targets", targets, fails)
	}
	for i, want := range [][]string{{"provenance"}, {}, {"sbom"}} {
		if got := targets[i].Settings.Attest; got == nil || !slices.Equal(got, want) {
			t.Errorf("%s: attest = %#v; want %#v", targets[i].Ref, got, want)
		}
	}
	// The planner keeps the opt-out against the run's own attestations.
	p := (&Planner{}).Signing(Settings{Attest: []string{"provenance"}})
	if got := p.effective(&targets[1].Settings).Attest; len(got) != 0 {
		t.Errorf("planned attestations for the opted-out entry: %v; want none", got)
	}
}

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "v1.2", true},
		{"v1.*", "v1.2", true},
		{"v1.*", "v2.0", false},
		{"v1.?", "v1.10", false},
		{"team/*", "team/app", true},
		{"team/*", "team/app/sub", false}, // no "**"
		{"team/*/*", "team/app/sub", true},
		{"[a-c]*", "beta", true},
		{"\\*", "*", true},
		{"v[1", "v[1", false}, // malformed matches nothing
		{"", "", true},
	}
	for _, tt := range tests {
		if got := MatchGlob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("MatchGlob(%q, %q) = %v; want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func ExampleParseCatalog() {
	catalog := `
defaults:
  formats: [cosign]
images:
  - ghcr.io/acme/app:1.4.2
  - repository: ghcr.io/acme/api
    tags: ["v2.*"]
    formts: [notation]
  - ghcr.io/acme/Tools:1
`
	_, err := ParseCatalog(strings.NewReader(catalog), "catalog.yaml")
	fmt.Println(err)
	// Output:
	// catalog.yaml:8: unknown field "formts" in image entry (did you mean "formats"?)
	// catalog.yaml:9: invalid reference "ghcr.io/acme/Tools:1": repository can only contain the characters `abcdefghijklmnopqrstuvwxyz0123456789_-./`: acme/Tools (want host/repo:tag or host/repo@sha256:…)
}
