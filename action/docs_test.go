package action_test

// The YAML in docs/github-action.md and docs/scale-out.md is meant to be
// copied, so it is checked here: every block parses, workflows pin their
// actions and keep expressions out of scripts, the signet steps use only
// the action's inputs, shard counts agree with the matrix or the Job, and
// the Kubernetes Job wires its index, secrets and volumes together.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/signet-project/signet/batch"
)

// yamlBlock is one ```yaml fence of a Markdown file.
type yamlBlock struct {
	file string
	line int // of the opening fence
	docs []*yaml.Node
	text string
}

func (b yamlBlock) String() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

var fenceRE = regexp.MustCompile("^\\s*```\\s*(\\w*)\\s*$")

// yamlBlocks returns the ```yaml blocks of a doc, each parsed, failing the
// test on a block that does not parse.
func yamlBlocks(t *testing.T, name string) []yamlBlock {
	t.Helper()
	path := filepath.Join(repoRoot(t), "docs", name)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []yamlBlock
	lines := strings.Split(string(src), "\n")
	for i := 0; i < len(lines); i++ {
		m := fenceRE.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		start, indent := i, len(lines[i])-len(strings.TrimLeft(lines[i], " "))
		var body []string
		for i++; i < len(lines) && fenceRE.FindStringSubmatch(lines[i]) == nil; i++ {
			body = append(body, strings.TrimPrefix(lines[i], strings.Repeat(" ", indent)))
		}
		if m[1] != "yaml" && m[1] != "yml" {
			continue
		}
		b := yamlBlock{file: "docs/" + name, line: start + 1, text: strings.Join(body, "\n")}
		dec := yaml.NewDecoder(strings.NewReader(b.text))
		for {
			var n yaml.Node
			if err := dec.Decode(&n); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Errorf("%s: YAML does not parse: %v", b, err)
				break
			}
			b.docs = append(b.docs, &n)
		}
		out = append(out, b)
	}
	return out
}

// get walks a path of mapping keys (and sequence indexes, as numbers).
func get(n *yaml.Node, path ...string) *yaml.Node {
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, p := range path {
		if n == nil {
			return nil
		}
		if n.Kind == yaml.SequenceNode {
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(n.Content) {
				return nil
			}
			n = n.Content[i]
			continue
		}
		n = mapValue(n, p)
	}
	return n
}

func mapKeys(n *yaml.Node) []string {
	var keys []string
	if n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i < len(n.Content); i += 2 {
			keys = append(keys, n.Content[i].Value)
		}
	}
	return keys
}

func seq(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

var (
	docPinnedRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@([0-9a-f]{40}|<sha>)$`)
	matrixRefRE = regexp.MustCompile(`^\$\{\{\s*matrix\.(\w+)\s*\}\}/(\d+)$`)
	digestRefRE = regexp.MustCompile(`\$\{\{\s*steps\.([\w-]+)\.outputs\.digest\s*\}\}`)
)

// workflowFacts is what checkSteps found in one workflow or step list.
type workflowFacts struct {
	signetSteps int
	shards      []int // N of each shard: input
	usesDigest  bool  // a signet step signs a build step's digest output
}

// checkSteps checks a list of workflow steps; matrix is the job's matrix
// (nil when none), buildIDs the ids of docker/build-push-action steps seen.
func checkSteps(t *testing.T, b yamlBlock, job string, steps []*yaml.Node, matrix *yaml.Node, inputs map[string]inputSpec, facts *workflowFacts) {
	t.Helper()
	buildIDs := map[string]bool{}
	for i, s := range steps {
		where := fmt.Sprintf("%s: job %s step %d", b, job, i+1)
		if run := get(s, "run"); run != nil && strings.Contains(run.Value, "${{") {
			t.Errorf("%s: run: holds ${{ }}; map the value through env: (script injection)", where)
		}
		u := get(s, "uses")
		if u == nil {
			continue
		}
		if !docPinnedRE.MatchString(u.Value) {
			t.Errorf("%s: uses %q is not pinned to a commit", where, u.Value)
		}
		if strings.HasSuffix(u.Value, "@<sha>") && !strings.HasPrefix(u.Value, "signet-project/signet@") {
			t.Errorf("%s: only signet's own pin may be a placeholder; %q must name a verified commit", where, u.Value)
		}
		if !tagCommRE.MatchString(u.LineComment) {
			t.Errorf("%s: uses %q lacks a \"# vX\" comment", where, u.Value)
		}
		if strings.HasPrefix(u.Value, "docker/build-push-action@") {
			if id := get(s, "id"); id != nil {
				buildIDs[id.Value] = true
			}
		}
		if !strings.HasPrefix(u.Value, "signet-project/signet@") {
			continue
		}
		facts.signetSteps++
		with := get(s, "with")
		for _, k := range mapKeys(with) {
			if _, ok := inputs[k]; !ok {
				t.Errorf("%s: with.%s is not an input of action.yml", where, k)
			}
		}
		if k := get(with, "key"); k != nil && strings.Contains(strings.ToLower(k.Value), "pin-value") {
			t.Errorf("%s: the key input carries pin-value; examples take the PIN from a secret", where)
		}
		if img := get(with, "images"); img != nil {
			for _, m := range digestRefRE.FindAllStringSubmatch(img.Value, -1) {
				if buildIDs[m[1]] {
					facts.usesDigest = true
				}
			}
		}
		if sh := get(with, "shard"); sh != nil {
			m := matrixRefRE.FindStringSubmatch(sh.Value)
			if m == nil {
				t.Errorf("%s: shard %q; want ${{ matrix.NAME }}/N", where, sh.Value)
				continue
			}
			n, _ := strconv.Atoi(m[2])
			facts.shards = append(facts.shards, n)
			values := seq(get(matrix, m[1]))
			if len(values) != n {
				t.Errorf("%s: shard …/%d but matrix.%s has %d entries", where, n, m[1], len(values))
			}
			for j, v := range values {
				if v.Value != strconv.Itoa(j) {
					t.Errorf("%s: matrix.%s[%d] = %s; shards count 0 to N-1", where, m[1], j, v.Value)
				}
				if _, err := batch.ParseShard(v.Value + "/" + m[2]); err != nil {
					t.Errorf("%s: %v", where, err)
				}
			}
		}
	}
}

// checkWorkflows checks every workflow and step list in blocks.
func checkWorkflows(t *testing.T, blocks []yamlBlock) workflowFacts {
	t.Helper()
	a, _ := loadAction(t)
	var facts workflowFacts
	for _, b := range blocks {
		for _, d := range b.docs {
			root := get(d)
			switch {
			case get(root, "jobs") != nil:
				jobs := get(root, "jobs")
				for _, name := range mapKeys(jobs) {
					job := get(jobs, name)
					checkSteps(t, b, name, seq(get(job, "steps")), get(job, "strategy", "matrix"), a.Inputs, &facts)
				}
			case root != nil && root.Kind == yaml.SequenceNode:
				checkSteps(t, b, "(steps)", seq(root), nil, a.Inputs, &facts)
			}
		}
	}
	return facts
}

func TestGitHubActionDoc(t *testing.T) {
	blocks := yamlBlocks(t, "github-action.md")
	if len(blocks) < 5 {
		t.Fatalf("docs/github-action.md has %d YAML blocks; want the release, matrix, SoftHSM, network HSM and plain-step examples", len(blocks))
	}
	facts := checkWorkflows(t, blocks)
	if !facts.usesDigest {
		t.Error("no example signs steps.<build>.outputs.digest of a docker/build-push-action step")
	}
	if len(facts.shards) == 0 {
		t.Error("no example shards a catalog over a matrix")
	}
	all := ""
	for _, b := range blocks {
		all += b.text + "\n"
	}
	for _, want := range []string{"softhsm2-util --init-token", "SOFTHSM2_CONF", "$RUNNER_TEMP", "SIGNET_PKCS11_PIN: ${{ secrets.", "pkcs11-module:", "SIGNET_GITHUB"} {
		if !strings.Contains(all, want) {
			t.Errorf("docs/github-action.md examples lack %q", want)
		}
	}
}

func TestScaleOutDoc(t *testing.T) {
	blocks := yamlBlocks(t, "scale-out.md")
	facts := checkWorkflows(t, blocks)
	if len(facts.shards) == 0 {
		t.Error("docs/scale-out.md has no matrix workflow using the shard input")
	}
	jobs := 0
	for _, b := range blocks {
		for _, d := range b.docs {
			if get(d, "kind") != nil && get(d, "kind").Value == "Job" {
				jobs++
				checkIndexedJob(t, b, d)
			}
		}
	}
	if jobs != 1 {
		t.Errorf("docs/scale-out.md has %d Kubernetes Jobs; want one Indexed Job", jobs)
	}
}

var varRefRE = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// checkIndexedJob checks the Job of scale-out.md the way a reviewer would:
// an Indexed Job whose completions equal the shard count, each pod's index
// in --shard, the PIN from a Secret, the module and reports on volumes.
func checkIndexedJob(t *testing.T, b yamlBlock, d *yaml.Node) {
	t.Helper()
	if v := get(d, "apiVersion"); v == nil || v.Value != "batch/v1" {
		t.Errorf("%s: apiVersion %v; want batch/v1", b, v)
	}
	spec := get(d, "spec")
	if m := get(spec, "completionMode"); m == nil || m.Value != "Indexed" {
		t.Fatalf("%s: completionMode is not Indexed", b)
	}
	completions, err := strconv.Atoi(valueOf(get(spec, "completions")))
	if err != nil || completions < 1 {
		t.Fatalf("%s: completions %q; want a positive number", b, valueOf(get(spec, "completions")))
	}
	parallelism, err := strconv.Atoi(valueOf(get(spec, "parallelism")))
	if err != nil || parallelism < 1 || parallelism > completions {
		t.Errorf("%s: parallelism %q; want 1 to completions (%d)", b, valueOf(get(spec, "parallelism")), completions)
	}
	pod := get(spec, "template", "spec")
	if rp := valueOf(get(pod, "restartPolicy")); rp != "Never" && (rp != "OnFailure" || get(spec, "backoffLimitPerIndex") != nil) {
		t.Errorf("%s: restartPolicy %q; backoffLimitPerIndex needs Never", b, rp)
	}
	volumes := map[string]bool{}
	for _, v := range seq(get(pod, "volumes")) {
		volumes[valueOf(get(v, "name"))] = true
	}

	var signet *yaml.Node
	for _, c := range append(seq(get(pod, "initContainers")), seq(get(pod, "containers"))...) {
		for _, m := range seq(get(c, "volumeMounts")) {
			if !volumes[valueOf(get(m, "name"))] {
				t.Errorf("%s: container %s mounts volume %q, which the pod does not define", b, valueOf(get(c, "name")), valueOf(get(m, "name")))
			}
		}
		if valueOf(get(c, "name")) == "signet" {
			signet = c
		}
	}
	if signet == nil {
		t.Fatalf("%s: no container named signet", b)
	}
	var args []string
	for _, a := range seq(get(signet, "args")) {
		args = append(args, a.Value)
	}
	if len(args) == 0 || args[0] != "batch" {
		t.Errorf("%s: signet args %q; want signet batch", b, args)
	}
	shard := ""
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--shard="); ok {
			shard = v
		} else if a == "--shard" && i+1 < len(args) {
			shard = args[i+1]
		}
	}
	if want := fmt.Sprintf("$(JOB_COMPLETION_INDEX)/%d", completions); shard != want {
		t.Errorf("%s: --shard %q; want %q (the shard count must equal completions)", b, shard, want)
	}
	for i := range completions {
		if _, err := batch.ParseShard(strings.ReplaceAll(shard, "$(JOB_COMPLETION_INDEX)", strconv.Itoa(i))); err != nil {
			t.Errorf("%s: pod %d: %v", b, i, err)
		}
	}

	env := map[string]*yaml.Node{}
	for _, e := range seq(get(signet, "env")) {
		env[valueOf(get(e, "name"))] = e
	}
	for _, a := range args {
		for _, m := range varRefRE.FindAllStringSubmatch(a, -1) {
			if _, ok := env[m[1]]; !ok && m[1] != "JOB_COMPLETION_INDEX" {
				t.Errorf("%s: argument %q names $(%s), which the container does not define", b, a, m[1])
			}
		}
	}
	pin := env["SIGNET_PKCS11_PIN"]
	if pin == nil || get(pin, "value") != nil || get(pin, "valueFrom", "secretKeyRef", "name") == nil {
		t.Errorf("%s: SIGNET_PKCS11_PIN must come from a Secret (valueFrom.secretKeyRef)", b)
	}
	if k := env["SIGNET_KEY"]; k != nil && strings.Contains(strings.ToLower(valueOf(get(k, "value"))), "pin-") {
		t.Errorf("%s: SIGNET_KEY carries a PIN attribute", b)
	}

	// The module and the reports live on mounted volumes; reports on a
	// writable one.
	mountFor := func(path string) *yaml.Node {
		var best *yaml.Node
		for _, m := range seq(get(signet, "volumeMounts")) {
			mp := strings.TrimSuffix(valueOf(get(m, "mountPath")), "/")
			if strings.HasPrefix(path, mp+"/") && (best == nil || len(mp) > len(valueOf(get(best, "mountPath")))) {
				best = m
			}
		}
		return best
	}
	module := valueOf(get(env["SIGNET_PKCS11_MODULE"], "value"))
	if module == "" || mountFor(module) == nil {
		t.Errorf("%s: SIGNET_PKCS11_MODULE %q is not on a mounted volume", b, module)
	}
	report := ""
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--report="); ok {
			report = v
		}
	}
	if !strings.Contains(report, "$(JOB_COMPLETION_INDEX)") {
		t.Errorf("%s: --report %q is not per shard", b, report)
	} else if m := mountFor(report); m == nil || valueOf(get(m, "readOnly")) == "true" {
		t.Errorf("%s: --report %q is not on a writable volume", b, report)
	}
}

func valueOf(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return n.Value
}

// TestDocBlocksFound guards the extraction itself: a fence the regexp
// missed would make the checks above pass on nothing.
func TestDocBlocksFound(t *testing.T) {
	for _, name := range []string{"github-action.md", "scale-out.md"} {
		src, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", name))
		if err != nil {
			t.Fatal(err)
		}
		if n, got := bytes.Count(src, []byte("```yaml")), len(yamlBlocks(t, name)); n != got {
			t.Errorf("docs/%s: %d ```yaml fences, %d blocks read", name, n, got)
		}
	}
}
