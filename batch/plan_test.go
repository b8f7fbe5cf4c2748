package batch

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-project/signet/demo"
	"github.com/signet-project/signet/internal/testenv"
	"github.com/signet-project/signet/registry"
)

func TestIdentity(t *testing.T) {
	const d = "sha256:4aa3054270f7a70b4528f2064ee90961788e1e1518703592ae4463de3b889dec"
	tests := []struct{ ref, want string }{
		{"127.0.0.1:5000/app:v1", "127.0.0.1:5000/app:v1"},
		{"127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"},
		{"127.0.0.1:5000/app@" + d, "127.0.0.1:5000/app"},
		{"127.0.0.1:5000/app:v1@" + d, "127.0.0.1:5000/app:v1"},
		{"127.0.0.1:5000/team/app:1.2@" + d, "127.0.0.1:5000/team/app:1.2"},
		{"ubuntu:24.04", "index.docker.io/library/ubuntu:24.04"},
	}
	for _, tt := range tests {
		ref, err := name.ParseReference(tt.ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := Identity(ref); got != tt.want {
			t.Errorf("Identity(%q) = %q; want %q", tt.ref, got, tt.want)
		}
	}
}

// TestPlanSigningPerKey: a signing plan keeps one item per manifest and
// key, merging what targets with the same key ask for; any other plan
// keeps the first target's item only.
func TestPlanSigningPerKey(t *testing.T) {
	reg := testenv.MemRegistry(t, false)
	ctx := context.Background()
	// One image, one platform: an index and its child, two manifests.
	if _, _, err := demo.Push(ctx, reg.Host, demo.Image{Repo: "app", Tag: "v1", Platforms: []string{"linux/amd64"}}); err != nil {
		t.Fatal(err)
	}
	client, err := registry.New(registry.WithInsecure(reg.Host))
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.Host + "/app:v1"
	target := func(s Settings) Target { return Target{Ref: ref, Source: "t", Recursive: true, Settings: s} }
	defaults := Settings{Key: "run.key", Formats: []string{"cosign"}}
	tests := []struct {
		name    string
		signing bool
		targets []Target
		// want is each item's effective key and formats, "key:f1,f2".
		want       []string
		duplicates int
	}{
		{"verifying: the first target only", false,
			[]Target{target(Settings{}), target(Settings{Key: "other.key"})},
			[]string{"run.key:cosign", "run.key:cosign"}, 2},
		{"the run's key named or not: one item", true,
			[]Target{target(Settings{}), target(Settings{Key: "run.key"})},
			[]string{"run.key:cosign", "run.key:cosign"}, 2},
		{"same key, another format: merged", true,
			[]Target{target(Settings{}), target(Settings{Formats: []string{"notation"}, Attest: []string{"sbom"}})},
			[]string{"run.key:cosign,notation+sbom", "run.key:cosign,notation+sbom"}, 2},
		{"another key: an item per key", true,
			[]Target{target(Settings{}), target(Settings{Key: "other.key", Formats: []string{"notation"}})},
			[]string{"run.key:cosign", "run.key:cosign", "other.key:notation", "other.key:notation"}, 0},
		{"a third target joins the second key's item", true,
			[]Target{target(Settings{}), target(Settings{Key: "other.key"}), target(Settings{Key: "other.key", Formats: []string{"sigstore-bundle"}})},
			[]string{"run.key:cosign", "run.key:cosign", "other.key:cosign,sigstore-bundle", "other.key:cosign,sigstore-bundle"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPlanner(client, 4)
			if tt.signing {
				p.Signing(defaults)
			}
			plan, err := p.Plan(ctx, tt.targets)
			if err != nil || len(plan.Failures) > 0 {
				t.Fatalf("Plan: %v %v", err, plan.Failures)
			}
			var got []string
			for _, it := range plan.Items {
				e := p.effective(it.Settings)
				if !tt.signing {
					e = (&Planner{defaults: defaults}).effective(it.Settings)
				}
				s := e.Key + ":" + strings.Join(e.Formats, ",")
				if len(e.Attest) > 0 {
					s += "+" + strings.Join(e.Attest, ",")
				}
				got = append(got, s)
			}
			if !slices.Equal(got, tt.want) || plan.Duplicates != tt.duplicates {
				t.Errorf("items %v, %d duplicates; want %v, %d", got, plan.Duplicates, tt.want, tt.duplicates)
			}
		})
	}
}

// inFlight counts a Lister's concurrent calls, holding each a moment so
// that calls allowed to overlap do.
type inFlight struct {
	Lister
	mu        sync.Mutex
	now, most int
}

func (f *inFlight) enter() func() {
	f.mu.Lock()
	f.now++
	f.most = max(f.most, f.now)
	f.mu.Unlock()
	time.Sleep(5 * time.Millisecond)
	return func() {
		f.mu.Lock()
		f.now--
		f.mu.Unlock()
	}
}

func (f *inFlight) Tags(ctx context.Context, repo name.Repository) ([]string, error) {
	defer f.enter()()
	return f.Lister.Tags(ctx, repo)
}

func (f *inFlight) Catalog(ctx context.Context, reg name.Registry) ([]string, error) {
	defer f.enter()()
	return f.Lister.Catalog(ctx, reg)
}

// TestTargetsBoundsListings: registry entries share the catalog's pool of
// listings rather than each opening one as large (workers² in flight).
func TestTargetsBoundsListings(t *testing.T) {
	reg := testenv.MemRegistry(t, false)
	ctx := context.Background()
	for _, r := range []string{"a/1", "a/2", "a/3", "b/1", "b/2", "b/3", "c/1", "c/2", "c/3"} {
		if _, _, err := demo.Push(ctx, reg.Host, demo.Image{Repo: r, Tag: "v1", Platforms: []string{"linux/amd64"}}); err != nil {
			t.Fatal(err)
		}
	}
	client, err := registry.New(registry.WithInsecure(reg.Host))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := ParseCatalog(strings.NewReader(fmt.Sprintf(`images:
  - registry: %[1]s
    repositories: ["a/*"]
  - registry: %[1]s
    repositories: ["b/*"]
  - registry: %[1]s
    repositories: ["c/*"]
  - repository: %[1]s/a/1
`, reg.Host)), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	l := &inFlight{Lister: client}
	targets, fails := cat.Targets(ctx, l, 2)
	if len(fails) > 0 || len(targets) != 10 {
		t.Fatalf("Targets = %d targets, failures %v; want 10 (9 repositories, one twice)", len(targets), fails)
	}
	if l.most > 2 {
		t.Errorf("%d listings in flight at once; want at most the 2 workers", l.most)
	}
	for i, want := range []string{"/a/1:v1", "/a/2:v1", "/a/3:v1", "/b/1:v1"} {
		if !strings.HasSuffix(targets[i].Ref, want) {
			t.Errorf("target %d = %s; want …%s (entries in catalog order, repositories sorted)", i, targets[i].Ref, want)
		}
	}
}
