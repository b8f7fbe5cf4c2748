package action_test

// A small stand-in for the GitHub Actions runner, enough to run a
// composite action the way the runner does: each `run:` step as
// `bash --noprofile --norc -eo pipefail FILE` with its own GITHUB_OUTPUT,
// GITHUB_ENV, GITHUB_PATH and GITHUB_STEP_SUMMARY files, GITHUB_ENV and
// GITHUB_PATH applied to the steps after it, step outputs read back from
// GITHUB_OUTPUT (heredoc form included), and `${{ }}` expressions
// evaluated where the runner evaluates them: in `env:`, `with:`, `if:` and
// the action's `outputs:`, never inside `run:`.
//
// Differences from the runner, on purpose: `uses:` steps are skipped (Go
// comes from the test's own toolchain), and only the expression subset the
// action uses is understood; anything else fails the test, so that the
// action cannot grow an expression this harness would silently get wrong.
// Like the runner (actions/runner#665), it sets no INPUT_* variables for
// a composite action's steps: inputs reach them only through `env:`.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// actionFile is action.yml.
type actionFile struct {
	Name        string                `yaml:"name"`
	Description string                `yaml:"description"`
	Author      string                `yaml:"author"`
	Inputs      map[string]inputSpec  `yaml:"inputs"`
	Outputs     map[string]outputSpec `yaml:"outputs"`
	Runs        struct {
		Using string `yaml:"using"`
		Steps []step `yaml:"steps"`
	} `yaml:"runs"`
}

type inputSpec struct {
	Description string  `yaml:"description"`
	Required    bool    `yaml:"required"`
	Default     *string `yaml:"default"`
}

type outputSpec struct {
	Description string `yaml:"description"`
	Value       string `yaml:"value"`
}

type step struct {
	Name             string            `yaml:"name"`
	ID               string            `yaml:"id"`
	If               string            `yaml:"if"`
	Uses             string            `yaml:"uses"`
	With             map[string]string `yaml:"with"`
	Run              string            `yaml:"run"`
	Shell            string            `yaml:"shell"`
	Env              map[string]string `yaml:"env"`
	WorkingDirectory string            `yaml:"working-directory"`
	ContinueOnError  bool              `yaml:"continue-on-error"`
}

// label names a step in messages.
func (s step) label(i int) string {
	switch {
	case s.ID != "":
		return s.ID
	case s.Name != "":
		return s.Name
	}
	return fmt.Sprintf("step %d", i+1)
}

// repoRoot is the checkout holding action.yml.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// snapshot is a copy of the checkout without .git, made once per test
// binary: the runner unpacks an action from an archive, without .git, and
// the copy keeps the source (and so the cache key of the build) still
// while others edit the checkout.
var snapshot struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if snapshot.dir != "" {
		os.RemoveAll(snapshot.dir)
	}
	os.Exit(code)
}

// actionPath returns GITHUB_ACTION_PATH for runs: the snapshot.
func actionPath(t testing.TB) string {
	t.Helper()
	snapshot.once.Do(func() {
		snapshot.dir, snapshot.err = copyCheckout(repoRoot(t))
	})
	if snapshot.err != nil {
		t.Fatalf("copying the checkout: %v", snapshot.err)
	}
	return snapshot.dir
}

// copyCheckout copies the source tree at root, leaving out .git and build
// output (bin/, dist/, a signet binary at the top).
func copyCheckout(root string) (string, error) {
	dst, err := os.MkdirTemp("", "signet-action-")
	if err != nil {
		return "", err
	}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		switch {
		case d.IsDir() && (rel == ".git" || rel == "bin" || rel == "dist" || d.Name() == "node_modules"):
			return filepath.SkipDir
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		case !d.Type().IsRegular() || rel == "signet":
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, info.Mode().Perm())
	})
	if err != nil {
		os.RemoveAll(dst)
		return "", err
	}
	return dst, nil
}

func loadAction(t testing.TB) (*actionFile, *yaml.Node) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var a actionFile
	if err := yaml.Unmarshal(b, &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	return &a, &n
}

// runConfig is one use of the action, as a workflow step would make it.
type runConfig struct {
	inputs    map[string]string // the step's `with:`
	env       map[string]string // the job's `env:` (secrets mapped to variables, say)
	toolCache string            // RUNNER_TOOL_CACHE; a fresh temp dir when empty
	workspace string            // GITHUB_WORKSPACE and the working directory; a temp dir when empty
	// onUses sees each `uses:` step the condition lets through, with its
	// `with:` evaluated, in place of running it.
	onUses func(s step, with map[string]string)
	// afterStep is called after each step that ran, before the next one
	// starts: where another job on the same runner may change the files
	// the action left between its steps.
	afterStep func(s stepResult)
}

// stepResult is what one step did.
type stepResult struct {
	step
	ran     bool // its condition held and it ran (or, for uses:, was handed to onUses)
	exit    int
	outputs map[string]string
	log     string
}

// runResult is what the action did.
type runResult struct {
	steps   []stepResult
	failed  bool              // a step failed: the action's step would fail
	outputs map[string]string // the action's outputs
	log     string            // every step's output, unmasked, in order
	summary string            // the step summaries, concatenated
	masks   []string          // values registered with ::add-mask::
	path    []string          // directories added through GITHUB_PATH, newest first
	temp    string            // RUNNER_TEMP of the run
}

func (r *runResult) step(t testing.TB, id string) stepResult {
	t.Helper()
	for _, s := range r.steps {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("no step %q", id)
	return stepResult{}
}

// baseEnv is the test process's environment without anything of a runner,
// signet or the PKCS#11 PIN, so that neither the developer's shell nor an
// enclosing CI leaks into the action.
func baseEnv() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GITHUB_") || strings.HasPrefix(k, "RUNNER_") || strings.HasPrefix(k, "INPUT_") ||
			strings.HasPrefix(k, "ACTIONS_") || strings.HasPrefix(k, "SIGNET_") || k == "COSIGN_PASSWORD" {
			continue
		}
		env[k] = v
	}
	// The toolchain running this test stands in for actions/setup-go (go
	// test puts its GOROOT/bin first on the test's PATH).
	if goBin, err := exec.LookPath("go"); err == nil {
		env["PATH"] = filepath.Dir(goBin) + string(os.PathListSeparator) + env["PATH"]
	}
	return env
}

// runAction runs the action at the repository root once.
func runAction(t testing.TB, a *actionFile, cfg runConfig) *runResult {
	t.Helper()
	root := actionPath(t)
	tmp := t.TempDir()
	if cfg.toolCache == "" {
		cfg.toolCache = t.TempDir()
	}
	if cfg.workspace == "" {
		cfg.workspace = t.TempDir()
	}
	runnerTemp := filepath.Join(tmp, "runner-temp")
	if err := os.Mkdir(runnerTemp, 0o755); err != nil {
		t.Fatal(err)
	}

	inputs := map[string]string{}
	for name, spec := range a.Inputs {
		if spec.Default != nil {
			inputs[name] = *spec.Default
		}
	}
	for name, v := range cfg.inputs {
		if _, ok := a.Inputs[name]; !ok {
			t.Fatalf("input %q is not declared in action.yml", name)
		}
		inputs[name] = v
	}

	env := baseEnv()
	for k, v := range map[string]string{
		"GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_ACTION_PATH": root, "GITHUB_WORKSPACE": cfg.workspace,
		"RUNNER_TEMP": runnerTemp, "RUNNER_TOOL_CACHE": cfg.toolCache, "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64",
		"GITHUB_RUN_ID": "1", "GITHUB_JOB": "sign",
	} {
		env[k] = v
	}
	for k, v := range cfg.env {
		env[k] = v
	}

	res := &runResult{temp: runnerTemp}
	ctx := &exprContext{inputs: inputs, steps: map[string]map[string]string{}, env: env,
		github: map[string]string{"action_path": root},
		runner: map[string]string{"temp": runnerTemp, "os": "Linux", "arch": "X64"}}
	var logAll, summaryAll strings.Builder
	for i, s := range a.Runs.Steps {
		sr := stepResult{step: s}
		if s.If != "" {
			v, err := evalCondition(s.If, ctx)
			if err != nil {
				t.Fatalf("%s: if: %v", s.label(i), err)
			}
			if !v {
				res.steps = append(res.steps, sr)
				continue
			}
		}
		sr.ran = true
		if s.Uses != "" {
			with := map[string]string{}
			for k, v := range s.With {
				ev, err := interpolate(v, ctx)
				if err != nil {
					t.Fatalf("%s: with.%s: %v", s.label(i), k, err)
				}
				with[k] = ev
			}
			if cfg.onUses != nil {
				cfg.onUses(s, with)
			}
			res.steps = append(res.steps, sr)
			if cfg.afterStep != nil {
				cfg.afterStep(sr)
			}
			continue
		}
		if s.Shell != "bash" {
			t.Fatalf("%s: shell %q; this runner runs bash only", s.label(i), s.Shell)
		}

		dir := filepath.Join(tmp, fmt.Sprintf("step%02d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		files := map[string]string{}
		for _, name := range []string{"GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY"} {
			files[name] = filepath.Join(dir, strings.ToLower(name))
			if err := os.WriteFile(files[name], nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		stepEnv := map[string]string{}
		for k, v := range env {
			stepEnv[k] = v
		}
		for k, v := range s.Env {
			ev, err := interpolate(v, ctx)
			if err != nil {
				t.Fatalf("%s: env.%s: %v", s.label(i), k, err)
			}
			stepEnv[k] = ev
		}
		for k, v := range files {
			stepEnv[k] = v
		}
		script := filepath.Join(dir, "script.sh")
		if err := os.WriteFile(script, []byte(s.Run), 0o644); err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		cmd := exec.CommandContext(runCtx, "bash", "--noprofile", "--norc", "-eo", "pipefail", script)
		cmd.Dir = cfg.workspace
		if s.WorkingDirectory != "" {
			cmd.Dir = filepath.Join(cfg.workspace, s.WorkingDirectory)
		}
		for k, v := range stepEnv {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		sr.log = out.String()
		if err != nil {
			sr.exit = -1
			if ee, ok := err.(*exec.ExitError); ok {
				sr.exit = ee.ExitCode()
			}
		}
		fmt.Fprintf(&logAll, "##[group]Run %s\n%s##[endgroup]\n", s.label(i), sr.log)
		for _, line := range strings.Split(sr.log, "\n") {
			if v, ok := strings.CutPrefix(line, "::add-mask::"); ok {
				res.masks = append(res.masks, unescapeData(v))
			}
		}

		sr.outputs = parseCommandFile(t, readFile(t, files["GITHUB_OUTPUT"]))
		if s.ID != "" {
			ctx.steps[s.ID] = sr.outputs
		}
		// Like the runner, GITHUB_ENV and GITHUB_PATH take effect for the
		// steps after this one, and only if it succeeded.
		if sr.exit == 0 {
			for k, v := range parseCommandFile(t, readFile(t, files["GITHUB_ENV"])) {
				env[k] = v
			}
			for _, p := range strings.Split(readFile(t, files["GITHUB_PATH"]), "\n") {
				if p = strings.TrimSpace(p); p != "" {
					res.path = append([]string{p}, res.path...)
					env["PATH"] = p + string(os.PathListSeparator) + env["PATH"]
				}
			}
		}
		summary := readFile(t, files["GITHUB_STEP_SUMMARY"])
		if len(summary) > 1<<20 {
			t.Errorf("%s wrote %d bytes of step summary; GitHub drops a summary over 1 MiB", s.label(i), len(summary))
		}
		summaryAll.WriteString(summary)
		res.steps = append(res.steps, sr)
		if cfg.afterStep != nil {
			cfg.afterStep(sr)
		}
		if sr.exit != 0 && !s.ContinueOnError {
			res.failed = true
			break
		}
	}
	res.log, res.summary = logAll.String(), summaryAll.String()

	res.outputs = map[string]string{}
	for name, o := range a.Outputs {
		v, err := interpolate(o.Value, ctx)
		if err != nil {
			t.Fatalf("outputs.%s: %v", name, err)
		}
		res.outputs[name] = v
	}
	return res
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// parseCommandFile reads a GITHUB_OUTPUT or GITHUB_ENV file as the runner
// does: "name=value" lines, and "name<<DELIMITER" … "DELIMITER" blocks. An
// unterminated block fails the test, as it fails the step on GitHub.
func parseCommandFile(t testing.TB, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			continue
		}
		eq, heredoc := strings.Index(line, "="), strings.Index(line, "<<")
		if heredoc >= 0 && (eq < 0 || heredoc < eq) {
			name, delim := line[:heredoc], line[heredoc+2:]
			if name == "" || delim == "" {
				t.Fatalf("malformed command file line %q", line)
			}
			var vals []string
			closed := false
			for sc.Scan() {
				l := strings.TrimSuffix(sc.Text(), "\r")
				if l == delim {
					closed = true
					break
				}
				vals = append(vals, l)
			}
			if !closed {
				t.Fatalf("matching delimiter %q of %q not found", delim, name)
			}
			out[name] = strings.Join(vals, "\n")
			continue
		}
		if eq <= 0 {
			t.Fatalf("malformed command file line %q", line)
		}
		out[line[:eq]] = line[eq+1:]
	}
	return out
}

func unescapeData(s string) string {
	return strings.NewReplacer("%0D", "\r", "%0A", "\n", "%25", "%").Replace(s)
}

// exprContext holds what expressions may name.
type exprContext struct {
	inputs map[string]string
	steps  map[string]map[string]string // id → outputs
	env    map[string]string
	github map[string]string
	runner map[string]string
}

var exprRE = regexp.MustCompile(`\$\{\{(.*?)\}\}`)

// interpolate replaces each ${{ expr }} in s with its value as a string.
func interpolate(s string, ctx *exprContext) (string, error) {
	var firstErr error
	out := exprRE.ReplaceAllStringFunc(s, func(m string) string {
		v, err := evalExpr(exprRE.FindStringSubmatch(m)[1], ctx)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return toString(v)
	})
	return out, firstErr
}

// evalCondition evaluates an `if:` value, with or without ${{ }}.
func evalCondition(s string, ctx *exprContext) (bool, error) {
	s = strings.TrimSpace(s)
	if m := exprRE.FindStringSubmatch(s); m != nil && m[0] == s {
		s = m[1]
	}
	v, err := evalExpr(s, ctx)
	return truthy(v), err
}

func evalExpr(s string, ctx *exprContext) (any, error) {
	p := &exprParser{toks: tokenize(s), ctx: ctx}
	if p.toks == nil {
		return nil, fmt.Errorf("cannot read expression %q", s)
	}
	v, err := p.or()
	if err == nil && p.pos < len(p.toks) {
		err = fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", strings.TrimSpace(s), err)
	}
	return v, nil
}

var tokenRE = regexp.MustCompile(`\s*(?:('(?:[^']|'')*')|(==|!=|&&|\|\||!|\(|\))|([A-Za-z_][A-Za-z0-9_.-]*)|([0-9]+(?:\.[0-9]+)?))`)

// tokenize splits an expression; nil means it holds something the subset
// does not know.
func tokenize(s string) []string {
	var toks []string
	for rest := strings.TrimSpace(s); rest != ""; rest = strings.TrimSpace(rest) {
		m := tokenRE.FindStringIndex(rest)
		if m == nil || m[0] != 0 {
			return nil
		}
		toks = append(toks, strings.TrimSpace(rest[:m[1]]))
		rest = rest[m[1]:]
	}
	if toks == nil {
		return []string{}
	}
	return toks
}

type exprParser struct {
	toks []string
	pos  int
	ctx  *exprContext
}

func (p *exprParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *exprParser) or() (any, error) {
	l, err := p.and()
	for err == nil && p.peek() == "||" {
		p.pos++
		var r any
		if r, err = p.and(); truthy(l) {
			continue // like the runner: the first truthy operand
		}
		l = r
	}
	return l, err
}

func (p *exprParser) and() (any, error) {
	l, err := p.cmp()
	for err == nil && p.peek() == "&&" {
		p.pos++
		var r any
		if r, err = p.cmp(); !truthy(l) {
			continue // the first falsy operand
		}
		l = r
	}
	return l, err
}

func (p *exprParser) cmp() (any, error) {
	l, err := p.unary()
	for err == nil && (p.peek() == "==" || p.peek() == "!=") {
		op := p.toks[p.pos]
		p.pos++
		var r any
		if r, err = p.unary(); err == nil {
			l = equal(l, r) == (op == "==")
		}
	}
	return l, err
}

func (p *exprParser) unary() (any, error) {
	switch tok := p.peek(); {
	case tok == "!":
		p.pos++
		v, err := p.unary()
		return !truthy(v), err
	case tok == "(":
		p.pos++
		v, err := p.or()
		if err == nil && p.peek() != ")" {
			err = fmt.Errorf("missing )")
		}
		p.pos++
		return v, err
	case tok == "":
		return nil, fmt.Errorf("unexpected end")
	case strings.HasPrefix(tok, "'"):
		p.pos++
		return strings.ReplaceAll(tok[1:len(tok)-1], "''", "'"), nil
	case tok[0] >= '0' && tok[0] <= '9':
		p.pos++
		return strconv.ParseFloat(tok, 64)
	case tok == "true" || tok == "false":
		p.pos++
		return tok == "true", nil
	case tok == "null":
		p.pos++
		return nil, nil
	}
	p.pos++
	if p.peek() == "(" {
		return nil, fmt.Errorf("function %s() is outside the subset this test runner evaluates", p.toks[p.pos-1])
	}
	return p.ctx.lookup(p.toks[p.pos-1])
}

// lookup resolves a context path: inputs.X, steps.ID.outputs.X, env.X,
// github.action_path, runner.temp/os/arch. A missing value is null, as on
// the runner; a context outside the subset is an error.
func (c *exprContext) lookup(path string) (any, error) {
	parts := strings.Split(path, ".")
	get := func(m map[string]string, k string) any {
		if v, ok := m[k]; ok {
			return v
		}
		return nil
	}
	switch {
	case len(parts) == 2 && parts[0] == "inputs":
		return get(c.inputs, parts[1]), nil
	case len(parts) == 4 && parts[0] == "steps" && parts[2] == "outputs":
		return get(c.steps[parts[1]], parts[3]), nil
	case len(parts) == 2 && parts[0] == "env":
		return get(c.env, parts[1]), nil
	case len(parts) == 2 && parts[0] == "github" && parts[1] == "action_path":
		return get(c.github, parts[1]), nil
	case len(parts) == 2 && parts[0] == "runner" && slices.Contains([]string{"temp", "os", "arch"}, parts[1]):
		return get(c.runner, parts[1]), nil
	}
	return nil, fmt.Errorf("%s is outside the subset this test runner evaluates", path)
}

func truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case float64:
		return v != 0 && !math.IsNaN(v)
	}
	return true
}

// equal compares as the runner does: strings case-insensitively, mixed
// types as numbers (null and the empty string are both 0, so they are
// equal).
func equal(a, b any) bool {
	as, aok := a.(string)
	bs, bok := b.(string)
	if aok && bok {
		return strings.EqualFold(as, bs)
	}
	ab, aok := a.(bool)
	bb, bok := b.(bool)
	if aok && bok {
		return ab == bb
	}
	return toNumber(a) == toNumber(b)
}

func toNumber(v any) float64 {
	switch v := v.(type) {
	case nil:
		return 0
	case bool:
		if v {
			return 1
		}
		return 0
	case float64:
		return v
	case string:
		if strings.TrimSpace(v) == "" {
			return 0
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return math.NaN()
		}
		return f
	}
	return math.NaN()
}

func toString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}
