package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/signet-project/signet/registry"
	"github.com/signet-project/signet/signature"
)

// Target is one thing a user asked to sign or verify: a reference as they
// wrote it, and where they wrote it.
type Target struct {
	// Ref is a tag or digest reference.
	Ref string
	// Source locates the target for error messages ("catalog.yaml:12",
	// "argument 2").
	Source string
	// Recursive signs an index's children (nested indexes included) as
	// well as the index itself.
	Recursive bool
	// Settings overrides the run's key, formats and attestations.
	Settings Settings
}

// Settings are what a catalog entry may override per image. Empty values
// leave the run's own, except Attest: nil does, an empty list asks for no
// attestation ("attest: []"). Effective applies this rule.
type Settings struct {
	Key     string   `json:"key,omitempty" yaml:"key,omitempty"`
	Formats []string `json:"formats,omitempty" yaml:"formats,omitempty"`
	Attest  []string `json:"attest,omitempty" yaml:"attest,omitempty"`
}

// Effective returns the settings s stands for once defaults (a catalog's,
// or a run's) fill what it leaves empty: a Key, Formats, or an Attest that
// is nil; an empty Attest stays empty. A nil s is the defaults. Catalog
// entries, the planner and the signing all go by this one rule, so that
// an image is planned, checked and signed with the same settings.
func Effective(s *Settings, defaults Settings) Settings {
	e := defaults
	if s == nil {
		return e
	}
	if s.Key != "" {
		e.Key = s.Key
	}
	if len(s.Formats) > 0 {
		e.Formats = s.Formats
	}
	if s.Attest != nil { // empty, not nil: none, whatever the defaults'
		e.Attest = s.Attest
	}
	return e
}

// Item is one manifest the plan will sign: its subject, and where it came
// from.
type Item struct {
	signature.Subject
	// Ref is the reference the user named that led here.
	Ref string
	// Source locates that reference.
	Source string
	// Parent is the digest of the index that listed this manifest, if any.
	Parent string
	// AttestationManifest marks an index entry BuildKit annotated as an
	// attestation manifest (vnd.docker.reference.type): it is signed like
	// any manifest, but attestations are about images, not about it.
	AttestationManifest bool
	// Settings are the target's overrides, shared by every manifest the
	// target expands to (one copy per target, not per manifest: plans of
	// tens of thousands of manifests are the run's largest structure). Nil
	// means none.
	*Settings
}

// SignedWith returns the settings it is signed with in a run whose own
// settings are defaults: its target's, filled in by Effective. BuildKit's
// attestation manifests get no attestations whatever the target asks: they
// are signed like any manifest, but an attestation is a statement about an
// image, and an attestation manifest has no provenance of its own to sign
// (attest.ErrAttestationManifest).
func (it *Item) SignedWith(defaults Settings) Settings {
	e := Effective(it.Settings, defaults)
	if it.AttestationManifest {
		e.Attest = nil
	}
	return e
}

// Failure is a target the planner could not turn into items.
type Failure struct {
	Ref    string `json:"reference"`
	Source string `json:"source,omitempty"`
	Error  string `json:"error"`
}

// Plan is the deduplicated list of manifests a run will touch.
type Plan struct {
	Items    []Item
	Failures []Failure
	// Targets is how many targets were planned.
	Targets int
	// Duplicates counts manifests reached more than once (several tags, or
	// a digest listed twice) and planned once. A manifest a signing plan
	// reaches with another key is not a duplicate: it gets an item per key.
	Duplicates int
}

// Indexes returns how many planned items are image indexes.
func (p *Plan) Indexes() int {
	n := 0
	for _, it := range p.Items {
		if it.Index {
			n++
		}
	}
	return n
}

// ManifestReader is what planning needs from a registry.
type ManifestReader interface {
	Manifest(ctx context.Context, ref name.Reference) (*registry.Manifest, error)
}

// Planner turns targets into a plan.
type Planner struct {
	reg     ManifestReader
	workers int
	opts    []name.Option
	// strs interns the strings every child of every index repeats
	// (platforms, media types): a plan of 10,000 images then holds a
	// handful of copies, not 30,000.
	strs sync.Map
	// signing and defaults: see Signing.
	signing  bool
	defaults Settings
}

// NewPlanner returns a planner reading manifests from reg with up to workers
// concurrent requests.
func NewPlanner(reg ManifestReader, workers int, opts ...name.Option) *Planner {
	if workers < 1 {
		workers = 1
	}
	return &Planner{reg: reg, workers: workers, opts: opts}
}

// Signing makes p plan for signing, where a manifest's settings matter: a
// manifest that targets reach with different keys gets one item per key,
// and targets reaching it with the same key add their formats and
// attestations to that key's item. defaults are the run's own settings,
// which fill whatever a target leaves empty, so that an entry naming the
// run's key is the same key as one naming none. Without Signing (verifying,
// reading) a manifest is planned once, with the first target's settings.
func (p *Planner) Signing(defaults Settings) *Planner {
	p.signing, p.defaults = true, defaults
	return p
}

// Plan resolves every target concurrently. A target that cannot be resolved
// becomes a Failure and never stops the others. Items come out in a stable
// order (by target, then index before children in index order), so a plan
// printed twice reads the same.
func (p *Planner) Plan(ctx context.Context, targets []Target) (*Plan, error) {
	results := make([][]Item, len(targets))
	fails := make([]*Failure, len(targets))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.workers)
	for i, t := range targets {
		g.Go(func() error {
			items, err := p.expand(gctx, t)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				fails[i] = &Failure{Ref: t.Ref, Source: t.Source, Error: err.Error()}
				return nil
			}
			results[i] = items
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	plan := &Plan{Targets: len(targets)}
	total := 0
	for _, r := range results {
		total += len(r)
	}
	// Sized once, and keyed by the items' own strings: the plan of a large
	// catalog is the run's largest structure, and growing it (or building
	// a "repo@digest" string per item) would double it for a moment.
	plan.Items = make([]Item, 0, total)
	seen := make(map[planKey]int, total)
	// others holds, for the rare manifest planned under more than one key,
	// the positions of its items after the first.
	var others map[int][]int
	for i := range targets {
		if fails[i] != nil {
			plan.Failures = append(plan.Failures, *fails[i])
			continue
		}
		for _, it := range results[i] {
			k := planKey{it.Repo.RegistryStr(), it.Repo.RepositoryStr(), it.Digest}
			first, dup := seen[k]
			if !dup {
				seen[k] = len(plan.Items)
				plan.Items = append(plan.Items, it)
				continue
			}
			if !p.signing || p.absorb(plan.Items, first, others[first], it) {
				plan.Duplicates++
				continue
			}
			if others == nil {
				others = map[int][]int{}
			}
			others[first] = append(others[first], len(plan.Items))
			plan.Items = append(plan.Items, it)
		}
		results[i] = nil
	}
	return plan, nil
}

// absorb merges it into the item of its manifest (at first, or at one of
// others) that signs with the same key, and reports whether there was one.
// The merged item signs in every format and attestation either asked for.
func (p *Planner) absorb(items []Item, first int, others []int, it Item) bool {
	add := p.effective(it.Settings)
	for j := -1; j < len(others); j++ {
		at := first
		if j >= 0 {
			at = others[j]
		}
		have := p.effective(items[at].Settings)
		if have.Key != add.Key {
			continue
		}
		formats, attest := union(have.Formats, add.Formats), union(have.Attest, add.Attest)
		if len(formats) != len(have.Formats) || len(attest) != len(have.Attest) {
			// A copy: the old settings are shared by the target's other items.
			merged := Settings{Formats: formats, Attest: attest}
			if items[at].Settings != nil {
				merged.Key = items[at].Key
			}
			items[at].Settings = &merged
		}
		return true
	}
	return false
}

// effective fills what s leaves empty from the run's defaults. It keeps
// the attestations of BuildKit's attestation manifests, which
// Item.SignedWith drops: items merge here per manifest and key, and their
// settings are what their targets asked for, whatever the manifest is.
func (p *Planner) effective(s *Settings) Settings {
	return Effective(s, p.defaults)
}

// union returns a followed by the elements of b it lacks; a itself when
// b adds nothing.
func union(a, b []string) []string {
	out := a
	for _, v := range b {
		if !slices.Contains(out, v) {
			if len(out) == len(a) {
				out = slices.Clip(slices.Clone(a))
			}
			out = append(out, v)
		}
	}
	return out
}

// planKey identifies a manifest across the plan: repository and digest.
type planKey struct {
	registry, repository string
	digest               v1.Hash
}

// intern returns one shared copy of s.
func (p *Planner) intern(s string) string {
	if v, ok := p.strs.Load(s); ok {
		return v.(string)
	}
	v, _ := p.strs.LoadOrStore(s, s)
	return v.(string)
}

// errNotImage marks a manifest that is not a container image or index.
var errNotImage = errors.New("not a container image")

func (p *Planner) expand(ctx context.Context, t Target) ([]Item, error) {
	ref, err := name.ParseReference(t.Ref, p.opts...)
	if err != nil {
		return nil, fmt.Errorf("parsing reference %q: %w", t.Ref, err)
	}
	m, err := p.reg.Manifest(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", ref, err)
	}
	identity := Identity(ref)
	root := Item{
		Subject: signature.Subject{
			Repo: ref.Context(), Digest: m.Digest, MediaType: p.intern(m.MediaType), Size: m.Size, Identity: identity,
		},
		Ref: t.Ref, Source: t.Source, Settings: &t.Settings,
	}
	switch types.MediaType(m.MediaType) {
	case types.OCIImageIndex, types.DockerManifestList:
		root.Index = true
		items := []Item{root}
		if !t.Recursive {
			return items, nil
		}
		return p.children(ctx, root, m.Body, items, 0)
	case types.OCIManifestSchema1, types.DockerManifestSchema2:
		if err := checkImage(m.Body); err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		return []Item{root}, nil
	default:
		return nil, fmt.Errorf("%s has media type %q: %w (want an image manifest or index)", ref, m.MediaType, errNotImage)
	}
}

// Identity returns the docker-reference a signature of ref should name:
// "registry/repo:tag" when the user named a tag, including in the
// "repo:tag@sha256:…" form buildx metadata yields (podman's default
// signedIdentity needs the tag), and the bare repository otherwise.
func Identity(ref name.Reference) string {
	switch r := ref.(type) {
	case name.Tag:
		return r.Name()
	case name.Digest:
		// ggcr keeps a tag written before the digest only in the original
		// text, so look for it there: a ':' after the last '/'.
		named, _, _ := strings.Cut(r.String(), "@")
		if i := strings.LastIndexByte(named, ':'); i > strings.LastIndexByte(named, '/') {
			return r.Context().Tag(named[i+1:]).Name()
		}
	}
	return ref.Context().Name()
}

// attestationRefType is the annotation BuildKit puts on the index entries of
// its attestation manifests (docs/attestations/attestation-storage.md).
const attestationRefType = "vnd.docker.reference.type"

// maxDepth bounds nested indexes; real images nest at most once or twice,
// and a cycle (an index listing itself by digest is impossible, but a
// registry bug is not) must not recurse forever.
const maxDepth = 8

func (p *Planner) children(ctx context.Context, parent Item, body []byte, items []Item, depth int) ([]Item, error) {
	if depth >= maxDepth {
		return nil, fmt.Errorf("index %s nests deeper than %d levels", parent.Digest, maxDepth)
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("decoding index %s: %w", parent.Digest, err)
	}
	parentDigest := parent.Digest.String() // one copy shared by the children
	for _, d := range idx.Manifests {
		child := parent
		child.Subject.Digest, child.Subject.MediaType, child.Subject.Size = d.Digest, p.intern(string(d.MediaType)), d.Size
		child.Subject.Platform, child.Subject.Index = "", false
		child.Parent = parentDigest
		child.AttestationManifest = d.Annotations[attestationRefType] == "attestation-manifest"
		if d.Platform != nil {
			child.Subject.Platform = p.intern(d.Platform.String())
		}
		switch d.MediaType {
		case types.OCIImageIndex, types.DockerManifestList:
			child.Subject.Index = true
			m, err := p.reg.Manifest(ctx, parent.Repo.Digest(d.Digest.String()))
			if err != nil {
				return nil, fmt.Errorf("reading nested index %s: %w", d.Digest, err)
			}
			items = append(items, child)
			if items, err = p.children(ctx, child, m.Body, items, depth+1); err != nil {
				return nil, err
			}
		default:
			// Children are taken from the index already fetched: their
			// digests, types and sizes are all the signatures need.
			items = append(items, child)
		}
	}
	return items, nil
}

// checkImage rejects OCI artifacts that are not container images (Helm
// charts, signatures, SBOMs pushed as manifests): signing them as images
// would mislead a verifier about what was vouched for.
func checkImage(body []byte) error {
	var m struct {
		ArtifactType string `json:"artifactType"`
		Config       struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("decoding manifest: %w", err)
	}
	switch types.MediaType(m.Config.MediaType) {
	case types.OCIConfigJSON, types.DockerConfigJSON:
		if m.ArtifactType == "" {
			return nil
		}
	}
	kind := m.ArtifactType
	if kind == "" {
		kind = m.Config.MediaType
	}
	return fmt.Errorf("%w: it is an artifact of type %q", errNotImage, kind)
}

// Repositories returns the distinct repositories of the plan, sorted.
func (p *Plan) Repositories() []string {
	set := map[string]bool{}
	for _, it := range p.Items {
		set[it.Repo.String()] = true
	}
	out := make([]string, 0, len(set))
	for r := range set {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}
