package action_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/signet-project/signet/batch"
	"github.com/signet-project/signet/internal/testenv"
)

var (
	inputIDRE   = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	pinnedRE    = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$`)
	tagCommRE   = regexp.MustCompile(`^#\s*v\d+(\.\d+)*\b`)
	inputRefRE  = regexp.MustCompile(`\binputs\.([A-Za-z0-9_-]+)`)
	stepRefRE   = regexp.MustCompile(`\bsteps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)`)
	scriptRefRE = regexp.MustCompile(`\$\{?GITHUB_ACTION_PATH\}?/(action/[A-Za-z0-9_.-]+\.sh)`)
	versionRE   = regexp.MustCompile(`^((https|file)://[^\s#]+)#sha256=[0-9a-fA-F]{64}$`)
)

// defaultChecks say what a valid value is for inputs with a format; the
// default of every other input is free text.
var defaultChecks = map[string]func(string) error{
	"fail-on": func(v string) error {
		if v != "any" && v != "none" {
			return fmt.Errorf("want any or none")
		}
		return nil
	},
	"workers": positive,
	"hsm-sessions": func(v string) error {
		if v == "" {
			return nil
		}
		return positive(v)
	},
	"formats": func(v string) error {
		for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
			if !slices.Contains([]string{"cosign", "notation", "sigstore-bundle"}, f) {
				return fmt.Errorf("unknown format %q", f)
			}
		}
		return nil
	},
	"shard": func(v string) error {
		if v == "" {
			return nil
		}
		_, err := batch.ParseShard(v)
		return err
	},
	"version": func(v string) error {
		if v != "" && !versionRE.MatchString(v) {
			return fmt.Errorf("want empty or URL#sha256=HEX")
		}
		return nil
	},
}

func positive(v string) error {
	if n, err := strconv.Atoi(v); err != nil || n < 1 {
		return fmt.Errorf("want a whole number ≥ 1")
	}
	return nil
}

// mapValue returns the value node of key in a mapping node, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// lintAction lists what is wrong with an action.yml.
func lintAction(root string, src []byte) []string {
	var a actionFile
	if err := yaml.Unmarshal(src, &a); err != nil {
		return []string{"action.yml does not parse: " + err.Error()}
	}
	var doc yaml.Node
	yaml.Unmarshal(src, &doc)
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }

	if a.Name == "" || a.Description == "" {
		bad("name and description are required")
	}
	if a.Runs.Using != "composite" {
		bad("runs.using is %q; want composite", a.Runs.Using)
	}

	for id, in := range a.Inputs {
		if !inputIDRE.MatchString(id) {
			bad("input %q: ids are lowercase kebab-case", id)
		}
		if strings.TrimSpace(in.Description) == "" {
			bad("input %q has no description", id)
		}
		if !in.Required && in.Default == nil {
			bad("input %q is optional but has no default", id)
		}
		if check := defaultChecks[id]; check != nil && in.Default != nil {
			if err := check(*in.Default); err != nil {
				bad("input %q: default %q is not valid: %v", id, *in.Default, err)
			}
		}
	}

	// Every expression the runner evaluates, with where it is.
	type expr struct{ where, text string }
	var exprs []expr
	var stepNodes []*yaml.Node
	if runs := mapValue(mapValue(doc.Content[0], "runs"), "steps"); runs != nil {
		stepNodes = runs.Content
	}
	seen := map[string]int{} // step id → index
	for i, s := range a.Runs.Steps {
		where := "step " + s.label(i)
		if s.ID != "" {
			if _, dup := seen[s.ID]; dup {
				bad("%s: id %q is used twice", where, s.ID)
			}
			seen[s.ID] = i
		}
		switch {
		case (s.Run == "") == (s.Uses == ""):
			bad("%s: needs exactly one of run and uses", where)
		case s.Run != "":
			if s.Shell != "bash" {
				bad("%s: a composite run step needs shell: bash (has %q)", where, s.Shell)
			}
			lintScript(bad, where+" run", s.Run)
			for _, m := range scriptRefRE.FindAllStringSubmatch(s.Run, -1) {
				b, err := os.ReadFile(filepath.Join(root, m[1]))
				if err != nil {
					bad("%s: runs %s, which cannot be read: %v", where, m[1], err)
					continue
				}
				lintScript(bad, m[1], string(b))
			}
		default:
			if !pinnedRE.MatchString(s.Uses) {
				bad("%s: uses %q is not pinned to a commit (owner/repo@<40 hex digits>)", where, s.Uses)
			}
			if i < len(stepNodes) {
				if u := mapValue(stepNodes[i], "uses"); u == nil || !tagCommRE.MatchString(u.LineComment) {
					bad("%s: uses %q lacks a \"# vX\" comment naming the pinned tag", where, s.Uses)
				}
			}
		}
		if s.If != "" {
			if strings.Contains(s.If, "${{") {
				bad("%s: write if: without ${{ }} (a ${{ }} around part of it makes the whole a non-empty string, always true)", where)
			}
			exprs = append(exprs, expr{where + " if", "${{ " + s.If + " }}"})
		}
		for k, v := range s.Env {
			exprs = append(exprs, expr{where + " env." + k, v})
		}
		for k, v := range s.With {
			exprs = append(exprs, expr{where + " with." + k, v})
		}
		// A step may only read the outputs of steps before it.
		for _, text := range append(slices.Collect(mapValues(s.Env)), append(slices.Collect(mapValues(s.With)), s.If)...) {
			for _, m := range stepRefRE.FindAllStringSubmatch(text, -1) {
				if j, ok := seen[m[1]]; !ok || j >= i {
					bad("%s: reads steps.%s, which is not an earlier step", where, m[1])
				}
			}
		}
	}
	for name, o := range a.Outputs {
		if strings.TrimSpace(o.Description) == "" {
			bad("output %q has no description", name)
		}
		refs := stepRefRE.FindAllStringSubmatch(o.Value, -1)
		if len(refs) == 0 {
			bad("output %q: value %q names no step output", name, o.Value)
		}
		for _, m := range refs {
			if _, ok := seen[m[1]]; !ok {
				bad("output %q reads steps.%s, which does not exist", name, m[1])
			}
		}
		exprs = append(exprs, expr{"output " + name, o.Value})
	}

	// Each expression is within the subset the test's runner evaluates,
	// and names only declared inputs; each input is used somewhere.
	ctx := &exprContext{inputs: map[string]string{}, steps: map[string]map[string]string{}, env: map[string]string{},
		github: map[string]string{}, runner: map[string]string{}}
	used := map[string]bool{}
	for _, e := range exprs {
		if _, err := interpolate(e.text, ctx); err != nil {
			bad("%s: %v", e.where, err)
		}
		for _, m := range inputRefRE.FindAllStringSubmatch(e.text, -1) {
			used[m[1]] = true
			if _, ok := a.Inputs[m[1]]; !ok {
				bad("%s: reads inputs.%s, which is not declared", e.where, m[1])
			}
		}
	}
	for id := range a.Inputs {
		if !used[id] {
			bad("input %q is declared but no step reads it", id)
		}
	}
	slices.Sort(probs)
	return probs
}

func mapValues(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// lintScript flags what must not be in a script: an expression (the runner
// would paste the input into the source) and INPUT_* variables (a composite
// action's steps do not get them, actions/runner#665).
func lintScript(bad func(string, ...any), where, text string) {
	if strings.Contains(text, "${{") {
		bad("%s: contains ${{ … }}: map the value through env: instead (script injection)", where)
	}
	if regexp.MustCompile(`\bINPUT_[A-Z0-9_]+`).MatchString(text) {
		bad("%s: reads an INPUT_* variable, which a composite action's steps never get", where)
	}
}

func TestActionMetadata(t *testing.T) {
	root := repoRoot(t)
	src, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range lintAction(root, src) {
		t.Error(p)
	}
	a, _ := loadAction(t)
	for _, want := range []string{"images", "catalog", "key", "formats", "attest", "workers", "hsm-sessions", "policy", "pkcs11-module", "fail-on", "version"} {
		if _, ok := a.Inputs[want]; !ok {
			t.Errorf("input %q is missing", want)
		}
	}
	for _, want := range []string{"signed", "failed", "report", "digests"} {
		if _, ok := a.Outputs[want]; !ok {
			t.Errorf("output %q is missing", want)
		}
	}
}

// TestLintCatchesMistakes makes sure the checks above would fail on the
// mistakes they are for.
func TestLintCatchesMistakes(t *testing.T) {
	root := repoRoot(t)
	src, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	orig := string(src)
	tests := []struct {
		name, old, new, want string
	}{
		{"expression in run", `run: bash "$GITHUB_ACTION_PATH/action/sign.sh"`, `run: echo "${{ inputs.key }}"`, "contains ${{"},
		{"expression in a block run", `run: bash "$GITHUB_ACTION_PATH/action/sign.sh"`, "run: |\n        echo start\n        signet batch --catalog ${{ inputs.catalog }}", "contains ${{"},
		{"INPUT_ variable", `run: bash "$GITHUB_ACTION_PATH/action/sign.sh"`, `run: echo "$INPUT_KEY"`, "INPUT_*"},
		{"no shell", "      shell: bash\n", "", "needs shell: bash"},
		{"optional without default", "    default: any\n", "", `"fail-on" is optional but has no default`},
		{"invalid default", "    default: any\n", "    default: sometimes\n", `"fail-on": default "sometimes" is not valid`},
		{"undocumented input", "    description: Manifests signed concurrently (they share the HSM sessions).\n", "", `"workers" has no description`},
		{"unpinned uses", "actions/setup-go@d35c59abb061a4a6fb18e82ac0862c26744d6ab5 # v5.5.0", "actions/setup-go@v5", "not pinned"},
		{"pinned without tag", "actions/setup-go@d35c59abb061a4a6fb18e82ac0862c26744d6ab5 # v5.5.0", "actions/setup-go@d35c59abb061a4a6fb18e82ac0862c26744d6ab5", `lacks a "# vX" comment`},
		{"unknown input", "${{ inputs.shard }}", "${{ inputs.shards }}", "inputs.shards, which is not declared"},
		{"unknown context", "${{ github.action_path }}", "${{ github.workspace }}", "outside the subset"},
		{"function in if", "if: steps.prep.outputs.mode == 'build'\n", "if: always()\n", "outside the subset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(orig, tt.old) {
				t.Fatalf("action.yml no longer contains %q; update the test", tt.old)
			}
			probs := lintAction(root, []byte(strings.Replace(orig, tt.old, tt.new, 1)))
			if !slices.ContainsFunc(probs, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("lint did not report %q; it said:\n%s", tt.want, strings.Join(probs, "\n"))
			}
		})
	}
}

func TestExpressions(t *testing.T) {
	ctx := &exprContext{
		inputs: map[string]string{"fail-on": "any", "workers": "16"},
		steps:  map[string]map[string]string{"prep": {"mode": "build", "dir": "/c/k"}, "probe": {"hit": "true"}},
		env:    map[string]string{"HOME": "/root"}, github: map[string]string{"action_path": "/a"},
		runner: map[string]string{"temp": "/t"},
	}
	conds := []struct {
		expr string
		want bool
	}{
		{"steps.prep.outputs.mode == 'build'", true},
		{"steps.prep.outputs.mode == 'BUILD'", true}, // strings compare case-insensitively
		{"steps.prep.outputs.mode == 'build' && steps.probe.outputs.hit != 'true'", false},
		{"steps.prep.outputs.mode != 'build' || steps.probe.outputs.hit == 'true'", true},
		{"steps.nosuch.outputs.x == ''", true}, // null == '' on the runner
		{"!(inputs.fail-on == 'none')", true},
		{"inputs.workers == 16", true},
		{"${{ steps.probe.outputs.hit == 'true' }}", true},
		{"inputs.nosuch", false},
	}
	for _, c := range conds {
		if got, err := evalCondition(c.expr, ctx); err != nil || got != c.want {
			t.Errorf("evalCondition(%q) = %v, %v; want %v", c.expr, got, err, c.want)
		}
	}
	if got, err := interpolate("${{ github.action_path }}/go.mod in ${{runner.temp}}, ${{ env.HOME }}", ctx); err != nil || got != "/a/go.mod in /t, /root" {
		t.Errorf("interpolate = %q, %v", got, err)
	}
	for _, bad := range []string{"success()", "github.sha", "contains(inputs.x, 'y')", "inputs.x ==", "'unterminated"} {
		if _, err := evalCondition(bad, ctx); err == nil {
			t.Errorf("evalCondition(%q) succeeded; it is outside the subset", bad)
		}
	}
}

// TestActionRejectsBadInputs checks the first step's validation: the
// runner enforces nothing itself.
func TestActionRejectsBadInputs(t *testing.T) {
	a, _ := loadAction(t)
	tests := []struct {
		name   string
		inputs map[string]string
		want   string
	}{
		{"fail-on", map[string]string{"images": "r.example/a@sha256:" + strings.Repeat("0", 64), "fail-on": "sometimes"}, "fail-on must be"},
		{"nothing to sign", map[string]string{"images": " \n "}, "nothing to sign"},
		{"both lists", map[string]string{"images": "r.example/a:1", "catalog": "c.txt"}, "not both"},
		{"missing catalog", map[string]string{"catalog": "nosuch.yaml"}, "is not a file"},
		{"workers", map[string]string{"images": "r.example/a:1", "workers": "0"}, "workers must be"},
		{"shard", map[string]string{"images": "r.example/a:1", "shard": "1 of 3"}, "shard must be"},
		{"version", map[string]string{"images": "r.example/a:1", "version": "v1.2.3"}, "version must be"},
		{"http download", map[string]string{"images": "r.example/a:1", "version": "http://x.example/signet#sha256=" + strings.Repeat("a", 64)}, "version must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runAction(t, a, runConfig{inputs: tt.inputs})
			prep := res.step(t, "prep")
			if !res.failed || prep.exit == 0 {
				t.Fatalf("the action succeeded; want the prep step to fail\n%s", res.log)
			}
			if !strings.Contains(prep.log, "::error title=signet action::") || !strings.Contains(prep.log, tt.want) {
				t.Errorf("prep step log lacks an ::error annotation saying %q:\n%s", tt.want, prep.log)
			}
			for _, s := range res.steps[1:] {
				if s.ran {
					t.Errorf("step %s ran after prep failed", s.label(0))
				}
			}
		})
	}
}

// TestActionMasksPINInKey checks that the first step masks a pin-value
// written into the key input whole, as signet reads it (up to the next
// "&"), also when the PIN holds characters that end other URI parts. The
// prep step is made to fail on a bad input right after masking, so no
// token or registry is needed.
func TestActionMasksPINInKey(t *testing.T) {
	a, _ := loadAction(t)
	tests := []struct {
		name, key string
		want      []string
	}{
		{"plain", "pkcs11:token=t;object=k?module-path=/m.so&pin-value=1234", []string{"1234"}},
		{"semicolon", "pkcs11:token=t;object=k?pin-value=s3c;ret&module-path=/m.so", []string{"s3c;ret"}},
		{"question mark and quote", "pkcs11:token=t?module-path=/m.so&pin-value=a?b'c", []string{"a?b'c"}},
		{"percent-encoded", "pkcs11:token=t?PIN-Value=%41b%26c", []string{"%41b%26c", "Ab&c"}},
		{"backslash stays", `pkcs11:token=t?pin-value=x\ry%20z`, []string{`x\ry%20z`, `x\ry z`}},
		{"two", "pkcs11:token=t?pin-value=one&module-path=/m.so&pin-value=two", []string{"one", "two"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runAction(t, a, runConfig{inputs: map[string]string{
				"images": "r.example/a:1", "key": tt.key, "fail-on": "sometimes",
			}})
			if prep := res.step(t, "prep"); prep.exit == 0 {
				t.Fatalf("prep passed a bad fail-on:\n%s", res.log)
			}
			for _, pin := range tt.want {
				if !slices.Contains(res.masks, pin) {
					t.Errorf("%q not masked; masks: %q", pin, res.masks)
				}
			}
		})
	}
}

// TestAction runs the action as a workflow would, against Debian's
// docker-registry and a SoftHSM2 token: built from this checkout, then
// from its cache, then downloaded as a "release binary".
func TestAction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds signet and signs against docker-registry and SoftHSM")
	}
	testenv.LookPath(t, "bash", "apt-get install bash")
	a, _ := loadAction(t)
	reg := testenv.DockerRegistry(t)
	tok := testenv.SoftHSM(t)
	tok.GenerateKey(t, "release", "EC:prime256v1", "01")
	web, api := reg.Host+"/app/web", reg.Host+"/app/api"
	webIdx, webKids := testenv.SeedImage(t, reg.Host, "app/web", "v1", []string{"linux/amd64", "linux/arm64"})
	apiIdx, apiKids := testenv.SeedImage(t, reg.Host, "app/api", "v1", []string{"linux/amd64"})
	webAll := []string{web + "@" + webIdx}
	for _, d := range webKids {
		webAll = append(webAll, web+"@"+d)
	}
	apiAll := []string{api + "@" + apiIdx}
	for _, d := range apiKids {
		apiAll = append(apiAll, api+"@"+d)
	}
	cache := t.TempDir()
	setupGo := 0
	onUses := func(s step, with map[string]string) {
		if strings.HasPrefix(s.Uses, "actions/setup-go@") {
			setupGo++
			if _, err := os.Stat(with["go-version-file"]); err != nil {
				t.Errorf("setup-go's go-version-file %q: %v", with["go-version-file"], err)
			}
		}
	}

	var signet string // the binary the first run built
	t.Run("build and sign", func(t *testing.T) {
		res := runAction(t, a, runConfig{toolCache: cache, onUses: onUses, inputs: map[string]string{
			// Newlines, spaces and blank lines, as a workflow's YAML gives them.
			"images":       fmt.Sprintf("%s@%s\n  %s@%s \n\n", web, webIdx, api, apiIdx),
			"key":          tok.URI("release"),
			"workers":      "4",
			"hsm-sessions": "2",
		}})
		requireSuccess(t, res)
		if res.step(t, "probe").outputs["hit"] != "false" || setupGo != 1 || !stepRan(res, "Install signet") {
			t.Errorf("first run: probe hit=%q, setup-go ran %d times, install ran %v; want a build",
				res.step(t, "probe").outputs["hit"], setupGo, stepRan(res, "Install signet"))
		}
		checkPath(t, res, cache)
		signet = cachedSignet(t, cache)
		checkOutputs(t, res, append(webAll, apiAll...), 0)
		if !strings.Contains(res.summary, "## signet batch") || !strings.Contains(res.summary, "All 5 manifests signed") {
			t.Errorf("summary lacks the report:\n%s", res.summary)
		}
		checkMasked(t, res, tok.PIN)
		verifyAll(t, signet, tok.URI("release"), append(webAll, apiAll...))
	})
	if signet == "" {
		t.FailNow()
	}

	t.Run("cached, fail-on any", func(t *testing.T) {
		ws := t.TempDir()
		os.Mkdir(filepath.Join(ws, "ci"), 0o755)
		cat := fmt.Sprintf("%s@%s\n%s:missing\n", web, webIdx, web)
		if err := os.WriteFile(filepath.Join(ws, "ci", "images.txt"), []byte(cat), 0o644); err != nil {
			t.Fatal(err)
		}
		before := setupGo
		res := runAction(t, a, runConfig{toolCache: cache, workspace: ws, onUses: onUses, inputs: map[string]string{
			"catalog": "ci/images.txt", "key": tok.URI("release"), "fail-on": "any",
		}})
		if !res.failed || res.step(t, "sign").exit != 2 {
			t.Fatalf("the action succeeded with a missing tag under fail-on: any (sign exit %d)\n%s", res.step(t, "sign").exit, res.log)
		}
		if res.step(t, "probe").outputs["hit"] != "true" || setupGo != before || stepRan(res, "Install signet") {
			t.Errorf("second run rebuilt signet: probe hit=%q, setup-go %d→%d, install ran %v",
				res.step(t, "probe").outputs["hit"], before, setupGo, stepRan(res, "Install signet"))
		}
		// The annotation points at the catalog line of the missing tag.
		want := "::error file=ci/images.txt,line=2,title=signet%3A cannot sign " + strings.ReplaceAll(web, ":", "%3A") + "%3Amissing::"
		if !strings.Contains(res.log, want) {
			t.Errorf("no annotation %q in:\n%s", want, res.log)
		}
		checkOutputs(t, res, webAll, 1)
		checkMasked(t, res, tok.PIN)
	})

	t.Run("fail-on none, PIN from the environment", func(t *testing.T) {
		uri := fmt.Sprintf("pkcs11:token=%s;object=release?module-path=%s", tok.Label, tok.Module)
		res := runAction(t, a, runConfig{toolCache: cache, onUses: onUses,
			env: map[string]string{"SIGNET_PKCS11_PIN": tok.PIN},
			inputs: map[string]string{
				"images": fmt.Sprintf("%s@%s %s:missing", api, apiIdx, api), "key": uri, "fail-on": "none",
			}})
		requireSuccess(t, res)
		sign := res.step(t, "sign")
		if !strings.Contains(sign.log, "::error ") || !strings.Contains(sign.log, "::notice title=signet action::") {
			t.Errorf("under fail-on: none the failure must still be annotated, and a notice say why the step passed:\n%s", sign.log)
		}
		checkOutputs(t, res, apiAll, 1)
		// The PIN the job's environment holds is masked by the first step,
		// before the action prints anything else.
		if first := strings.SplitN(res.step(t, "prep").log, "\n", 2)[0]; first != "::add-mask::"+tok.PIN {
			t.Errorf("the prep step's first line is %q; want it to mask SIGNET_PKCS11_PIN", first)
		}
		checkMasked(t, res, tok.PIN)
	})

	bin, err := os.ReadFile(signet)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	t.Run("download", func(t *testing.T) {
		dl := t.TempDir()
		before := setupGo
		res := runAction(t, a, runConfig{toolCache: dl, onUses: onUses, inputs: map[string]string{
			"images": web + "@" + webIdx, "key": tok.URI("release"), "formats": "cosign",
			"version": "file://" + signet + "#sha256=" + strings.ToUpper(hex.EncodeToString(sum[:])),
		}})
		requireSuccess(t, res)
		if setupGo != before {
			t.Error("setup-go ran for a downloaded release")
		}
		if got := res.step(t, "prep").outputs["mode"]; got != "download" {
			t.Errorf("mode = %q; want download", got)
		}
		checkPath(t, res, dl)
		if got, _ := os.ReadFile(cachedSignet(t, dl)); sha256.Sum256(got) != sum {
			t.Error("the download was not cached")
		}
		checkOutputs(t, res, webAll, 0)
	})

	t.Run("download over a planted binary", func(t *testing.T) {
		// Another job on a shared runner leaves its own program where the
		// download is cached: it must never run, and is replaced.
		dl := t.TempDir()
		inputs := map[string]string{
			"images": web + "@" + webIdx, "key": tok.URI("release"), "formats": "cosign",
			"version": "file://" + signet + "#sha256=" + hex.EncodeToString(sum[:]),
		}
		requireSuccess(t, runAction(t, a, runConfig{toolCache: dl, onUses: onUses, inputs: inputs}))
		cached, _ := filepath.Glob(filepath.Join(dl, "*", "*", "bin", "signet"))
		if len(cached) != 1 {
			t.Fatalf("cached binaries: %v; want one", cached)
		}
		ran := filepath.Join(t.TempDir(), "planted-ran")
		if err := os.WriteFile(cached[0], []byte("#!/bin/sh\ntouch "+ran+"\necho signet v0.0.0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		res := runAction(t, a, runConfig{toolCache: dl, onUses: onUses, inputs: inputs})
		requireSuccess(t, res)
		if _, err := os.Stat(ran); err == nil {
			t.Error("the planted binary ran")
		}
		if res.step(t, "probe").outputs["hit"] != "false" || !stepRan(res, "Install signet") {
			t.Errorf("probe hit=%q, install ran %v; want the planted binary replaced by a checked download",
				res.step(t, "probe").outputs["hit"], stepRan(res, "Install signet"))
		}
		if got, _ := os.ReadFile(cached[0]); sha256.Sum256(got) != sum {
			t.Error("the cached binary is still the planted one")
		}
	})

	dlInputs := map[string]string{
		"images": web + "@" + webIdx, "key": tok.URI("release"), "formats": "cosign",
		"version": "file://" + signet + "#sha256=" + hex.EncodeToString(sum[:]),
	}
	buildInputs := map[string]string{"images": web + "@" + webIdx, "key": tok.URI("release"), "formats": "cosign"}
	// seeders give a subtest a tool cache of its own holding a genuine
	// signet at the key the action will look for, for each install mode.
	seeders := []struct {
		mode   string
		inputs map[string]string
		seed   func(t *testing.T) (toolCache string)
	}{
		{"download", dlInputs, func(t *testing.T) string {
			dl := t.TempDir()
			requireSuccess(t, runAction(t, a, runConfig{toolCache: dl, onUses: onUses, inputs: dlInputs}))
			return dl
		}},
		{"build", buildInputs, func(t *testing.T) string {
			// A copy of the first subtest's cache: building again would
			// only take longer, and the others keep using the original.
			tc := t.TempDir()
			rel, _ := filepath.Rel(cache, signet)
			if err := os.MkdirAll(filepath.Dir(filepath.Join(tc, rel)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(tc, rel), bin, 0o755); err != nil {
				t.Fatal(err)
			}
			return tc
		}},
	}

	// Another job on a shared runner can write the tool cache, so nothing
	// beside the cached signet may ever run: the cache directory must not
	// reach PATH.
	for _, sd := range seeders {
		name := "download with a program planted beside the checked binary"
		if sd.mode == "build" {
			name = "cached build with a program planted beside it"
		}
		t.Run(name, func(t *testing.T) {
			dl := sd.seed(t)
			cached := cachedSignet(t, dl)
			ran := filepath.Join(t.TempDir(), "planted-ran")
			plant(t, filepath.Dir(cached), "mktemp", "#!/bin/sh\nenv > "+ran+"\nexec "+realTool(t, "mktemp")+" \"$@\"\n")
			res := runAction(t, a, runConfig{toolCache: dl, onUses: onUses, inputs: sd.inputs,
				env: map[string]string{"SIGNET_PKCS11_PIN": tok.PIN}})
			requireSuccess(t, res)
			if got, err := os.ReadFile(ran); err == nil {
				t.Errorf("a program planted in the cached binary's directory ran (probe hit=%q); it saw the PIN: %v",
					res.step(t, "probe").outputs["hit"], strings.Contains(string(got), "SIGNET_PKCS11_PIN="+tok.PIN))
			}
			if res.step(t, "probe").outputs["hit"] != "true" {
				t.Errorf("probe hit=%q; the genuine cached signet should still be used", res.step(t, "probe").outputs["hit"])
			}
			checkPath(t, res, dl)
			checkOutputs(t, res, webAll, 0)
		})
	}

	// The probe checks the cached binary in one step and the Sign step runs
	// it in another: another job that swaps it in between must not get its
	// program run.
	for _, sd := range seeders {
		t.Run(sd.mode+": cached signet swapped after the probe", func(t *testing.T) {
			dl := sd.seed(t)
			cached := cachedSignet(t, dl)
			ran := filepath.Join(t.TempDir(), "swapped-ran")
			genuine := filepath.Join(t.TempDir(), "signet")
			if err := os.WriteFile(genuine, bin, 0o755); err != nil {
				t.Fatal(err)
			}
			swapped := false
			res := runAction(t, a, runConfig{toolCache: dl, onUses: onUses, inputs: sd.inputs,
				env: map[string]string{"SIGNET_PKCS11_PIN": tok.PIN},
				afterStep: func(s stepResult) {
					if s.ID != "probe" {
						return
					}
					// A rename, as another job would do it: the swap is
					// whole, whatever has the old file open.
					fake := cached + ".fake"
					if err := os.WriteFile(fake, []byte("#!/bin/sh\nenv > "+ran+"\nexec "+genuine+" \"$@\"\n"), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.Rename(fake, cached); err != nil {
						t.Fatal(err)
					}
					swapped = true
				}})
			requireSuccess(t, res)
			if !swapped {
				t.Fatal("the probe step never ran")
			}
			if res.step(t, "probe").outputs["hit"] != "true" {
				t.Errorf("probe hit=%q; want the genuine cached signet found", res.step(t, "probe").outputs["hit"])
			}
			if got, err := os.ReadFile(ran); err == nil {
				t.Errorf("the binary swapped into the cache after the probe ran; it saw the PIN: %v",
					strings.Contains(string(got), "SIGNET_PKCS11_PIN="+tok.PIN))
			}
			checkOutputs(t, res, webAll, 0)
		})
	}

	t.Run("download with the cache directory already on PATH", func(t *testing.T) {
		// An earlier step of the job (an older version of this action, say)
		// left the cache directory on PATH, and another job has since
		// replaced the binary and planted a sha256sum that vouches for it.
		// The action's scripts must look programs up without that
		// directory. (A planted bash is out of reach: the runner finds the
		// step's shell through the job's PATH before any script of ours
		// runs.)
		dl := seeders[0].seed(t)
		cached := cachedSignet(t, dl)
		ran := filepath.Join(t.TempDir(), "planted-ran")
		dir := filepath.Dir(cached)
		plant(t, dir, "signet", "#!/bin/sh\nenv >> "+ran+"\necho signet v0.0.0\n")
		plant(t, dir, "sha256sum", "#!/bin/sh\nenv >> "+ran+"\necho \""+hex.EncodeToString(sum[:])+"  $1\"\n")
		plant(t, dir, "mktemp", "#!/bin/sh\nenv >> "+ran+"\nexec "+realTool(t, "mktemp")+" \"$@\"\n")
		res := runAction(t, a, runConfig{toolCache: dl, onUses: onUses, inputs: dlInputs, env: map[string]string{
			"SIGNET_PKCS11_PIN": tok.PIN,
			"PATH":              dir + string(os.PathListSeparator) + baseEnv()["PATH"],
		}})
		requireSuccess(t, res)
		if got, err := os.ReadFile(ran); err == nil {
			t.Errorf("a program planted in the cache directory on PATH ran; it saw the PIN: %v",
				strings.Contains(string(got), "SIGNET_PKCS11_PIN="+tok.PIN))
		}
		if res.step(t, "probe").outputs["hit"] != "false" || !stepRan(res, "Install signet") {
			t.Errorf("probe hit=%q, install ran %v; want the replaced binary refused and downloaded again",
				res.step(t, "probe").outputs["hit"], stepRan(res, "Install signet"))
		}
		checkOutputs(t, res, webAll, 0)
	})

	t.Run("download with the wrong checksum", func(t *testing.T) {
		dl := t.TempDir()
		wrong := sha256.Sum256(append(bin, 0))
		res := runAction(t, a, runConfig{toolCache: dl, onUses: onUses, inputs: map[string]string{
			"images": web + "@" + webIdx, "key": tok.URI("release"),
			"version": "file://" + signet + "#sha256=" + hex.EncodeToString(wrong[:]),
		}})
		if !res.failed || stepRan(res, "Sign") {
			t.Fatalf("a binary with the wrong SHA-256 was used:\n%s", res.log)
		}
		if !strings.Contains(res.log, "::error title=signet action::") || !strings.Contains(res.log, "not "+hex.EncodeToString(wrong[:])) {
			t.Errorf("no annotation naming the checksum mismatch:\n%s", res.log)
		}
		if found, _ := filepath.Glob(filepath.Join(dl, "*", "*", "bin", "signet")); len(found) > 0 {
			t.Errorf("the rejected binary was installed: %v", found)
		}
	})
}

// cachedSignet returns the one signet binary cached under a tool cache.
func cachedSignet(t *testing.T, toolCache string) string {
	t.Helper()
	found, _ := filepath.Glob(filepath.Join(toolCache, "*", "*", "bin", "signet"))
	if len(found) != 1 {
		t.Fatalf("cached binaries under %s: %v; want one", toolCache, found)
	}
	return found[0]
}

// checkPath checks what the action added to the job's PATH: one directory
// of the job's own (in RUNNER_TEMP, which no other job shares) holding
// signet and nothing else, and nothing in the shared tool cache.
func checkPath(t *testing.T, res *runResult, toolCache string) {
	t.Helper()
	if len(res.path) != 1 {
		t.Fatalf("GITHUB_PATH got %v; want one directory", res.path)
	}
	dir := res.path[0]
	if strings.HasPrefix(dir, toolCache) || !strings.HasPrefix(dir, res.temp+string(os.PathSeparator)) {
		t.Errorf("%s is on PATH; want a directory in RUNNER_TEMP %s, not in the tool cache %s", dir, res.temp, toolCache)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "signet" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("%s holds %q; want signet alone", dir, names)
	}
	if fi, err := os.Stat(dir); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("%s has mode %v; want it private to its owner", dir, fi.Mode().Perm())
	}
}

// plant writes an executable script into dir, as another job would.
func plant(t *testing.T, dir, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// realTool is the system's own program of that name, for a planted one to
// hand over to.
func realTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

func stepRan(res *runResult, name string) bool {
	for _, s := range res.steps {
		if s.Name == name {
			return s.ran
		}
	}
	return false
}

func requireSuccess(t *testing.T, res *runResult) {
	t.Helper()
	if res.failed {
		t.Fatalf("the action failed:\n%s", res.log)
	}
}

// checkOutputs checks the action's outputs: digests lists exactly want,
// signed counts them, failed is as given, and report is a JSON report
// agreeing with both.
func checkOutputs(t *testing.T, res *runResult, want []string, failed int) {
	t.Helper()
	var digests []string
	if err := json.Unmarshal([]byte(res.outputs["digests"]), &digests); err != nil {
		t.Fatalf("digests output %q: %v", res.outputs["digests"], err)
	}
	slices.Sort(digests)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(digests, want) {
		t.Errorf("digests = %v; want %v", digests, want)
	}
	if res.outputs["signed"] != strconv.Itoa(len(want)) || res.outputs["failed"] != strconv.Itoa(failed) {
		t.Errorf("signed=%q failed=%q; want %d and %d", res.outputs["signed"], res.outputs["failed"], len(want), failed)
	}
	b, err := os.ReadFile(res.outputs["report"])
	if err != nil {
		t.Fatalf("report output: %v", err)
	}
	var r batch.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report %s: %v", res.outputs["report"], err)
	}
	if r.Counts.Manifests != len(want) || r.Counts.Failed+r.Counts.PlanFailures != failed {
		t.Errorf("report counts %+v; want %d manifests and %d failures", r.Counts, len(want), failed)
	}
}

// checkMasked fails the test unless secret was registered with
// ::add-mask:: and the log shows it nowhere else.
func checkMasked(t *testing.T, res *runResult, secret string) {
	t.Helper()
	if !slices.Contains(res.masks, secret) {
		t.Errorf("the PIN was never masked (masks: %d values)", len(res.masks))
	}
	for _, line := range strings.Split(res.log, "\n") {
		if strings.Contains(line, secret) && !strings.HasPrefix(line, "::add-mask::") {
			t.Errorf("the log shows the PIN outside a mask command: %q", line)
		}
	}
}

// verifyAll checks every ref with the real cosign v2 and the key's public
// half, exported by the signet the action installed.
func verifyAll(t *testing.T, signet, keyURI string, refs []string) {
	t.Helper()
	cosign := testenv.Tool(t, "cosign-v2")
	pub, err := exec.Command(signet, "keys", "public", "--key", keyURI).Output()
	if err != nil {
		t.Fatalf("signet keys public: %v", err)
	}
	pubFile := filepath.Join(t.TempDir(), "k.pub")
	if err := os.WriteFile(pubFile, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	for _, ref := range refs {
		cmd := exec.Command(cosign, "verify", "--key", pubFile, "--insecure-ignore-tlog=true",
			"--allow-http-registry", "--allow-insecure-registry", ref)
		cmd.Env = append(os.Environ(), "HOME="+home)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("cosign verify %s: %v\n%s", ref, err, out)
		}
	}
}

// TestScriptsShellcheck lints the step scripts with shellcheck (Debian's
// package, which tools/install.sh installs).
func TestScriptsShellcheck(t *testing.T) {
	sc := testenv.LookPath(t, "shellcheck", "apt-get install shellcheck (tools/install.sh does)")
	scripts, err := filepath.Glob(filepath.Join(repoRoot(t), "action", "*.sh"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts in action/: %v", err)
	}
	cmd := exec.Command(sc, append([]string{"--shell=bash", "--severity=style", "--external-sources"}, scripts...)...)
	cmd.Dir = repoRoot(t) // the scripts' "source=" directives are relative to it
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}
