package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/signet-project/signet/benchmarks/latencyproxy"
)

// result is one measured run of one tool.
type result struct {
	Tool     string
	Registry string
	Form     string // how the tool was run
	Sigs     int    // signatures made (or manifests verified)
	U        usage
	// RegCPU is the registry process's CPU during the run (0 when not
	// measured).
	RegCPU time.Duration
	Counts *latencyproxy.Counts
	Cmd    string // a command that reproduces it, for RESULTS.md
	// Spread says which runs this one is the median of, when it is.
	Spread string
	// Waited is how many signatures found every HSM session busy
	// (signet's "HSM session pool" log line; -1 without one).
	Waited int64
	// Held is how long a signature kept its session on average, the
	// time a thread waited for a CPU on either side of the HSM's delay
	// included (the same log line; 0 without one).
	Held time.Duration
}

// Rate is signatures (or verifications) per second of wall time.
func (r result) Rate() float64 {
	if r.U.Wall <= 0 {
		return 0
	}
	return float64(r.Sigs) / r.U.Wall.Seconds()
}

// CPUPerSig is the tool's CPU per signature.
func (r result) CPUPerSig() time.Duration {
	if r.Sigs == 0 {
		return 0
	}
	return r.U.CPU() / time.Duration(r.Sigs)
}

// RegCPUPerSig is the registry's CPU per signature.
func (r result) RegCPUPerSig() time.Duration {
	if r.Sigs == 0 {
		return 0
	}
	return r.RegCPU / time.Duration(r.Sigs)
}

// measure runs fn and adds the registry's CPU over it.
func measure(srv *server, fn func() (result, error)) (result, error) {
	// Earlier runs leave dirty pages (a filesystem registry's blobs, the
	// seeding); flushed now, their writeback does not land on this run's
	// clock and CPUs.
	syscall.Sync()
	before := time.Duration(0)
	if srv != nil {
		before = srv.cpu()
	}
	r, err := fn()
	if srv != nil {
		r.RegCPU = srv.cpu() - before
	}
	return r, err
}

// sessionPool reads signet's "HSM session pool" JSON log line out of a
// run's output; ok is false without one.
func sessionPool(out string) (waited int64, held time.Duration, ok bool) {
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, `"msg":"HSM session pool"`) {
			continue
		}
		var l struct {
			Waited int64
			Held   time.Duration `json:"held_per_signature"` // slog writes nanoseconds
		}
		if json.Unmarshal([]byte(line), &l) == nil {
			return l.Waited, l.Held, true
		}
	}
	return 0, 0, false
}

var summaryRE = regexp.MustCompile(`(\d+) manifests \((\d+) indexes\): (\d+) signatures written, (\d+) already present, (\d+) from journal, (\d+) failed`)

// signetOpts are how signet batch is run.
type signetOpts struct {
	Workers, Sessions int
	KeyURI            string   // default: the SoftHSM key
	Env               []string // added (the slow HSM's delay)
	Args              []string // added flags
}

func (o signetOpts) form() string {
	s := fmt.Sprintf("--workers %d --hsm-sessions %d", o.Workers, o.Sessions)
	if len(o.Args) > 0 {
		s += " " + strings.Join(o.Args, " ")
	}
	return s
}

// signetBatch runs `signet batch` over c, one process, and checks that every
// manifest was signed.
func signetBatch(ctx context.Context, e *env, srv *server, c catalog, regLabel string, o signetOpts) (result, error) {
	file, err := os.CreateTemp(e.work, "catalog-*.txt")
	if err != nil {
		return result{}, err
	}
	file.Close()
	if err := c.writeCatalog(file.Name()); err != nil {
		return result{}, err
	}
	key := o.KeyURI
	if key == "" {
		key = e.keyURI
	}
	args := append([]string{e.signet, "batch", "--catalog", file.Name(), "--key", key,
		"--workers", strconv.Itoa(o.Workers), "--hsm-sessions", strconv.Itoa(o.Sessions)}, o.Args...)
	j := job{Args: args, Env: append(e.signetEnv(), o.Env...)}
	return measure(srv, func() (result, error) {
		u, out, err := run(ctx, j)
		r := result{Tool: "signet batch", Registry: regLabel, Form: o.form(), U: u,
			Cmd: fmt.Sprintf("signet batch --catalog CATALOG --key 'pkcs11:…' %s (%d images, %d manifests)", o.form(), len(c.Images), c.Manifests())}
		if err != nil {
			return r, err
		}
		m := summaryRE.FindStringSubmatch(out)
		if m == nil {
			return r, fmt.Errorf("signet batch printed no summary:\n%s", indent(out))
		}
		manifests, _ := strconv.Atoi(m[1])
		written, _ := strconv.Atoi(m[3])
		failed, _ := strconv.Atoi(m[6])
		r.Sigs = written
		r.Waited = -1
		if waited, held, ok := sessionPool(out); ok {
			r.Waited, r.Held = waited, held
		}
		if manifests != c.Manifests() || written != c.Manifests() || failed != 0 {
			return r, fmt.Errorf("signet batch: %s; want %d manifests, all signed", m[0], c.Manifests())
		}
		return r, nil
	})
}

// ggcrWriter runs the ggcr writer over c with n goroutines.
func ggcrWriter(ctx context.Context, e *env, srv *server, c catalog, regLabel string, n int) (result, error) {
	plan := filepath.Join(e.work, fmt.Sprintf("ggcr-plan-%d.jsonl", time.Now().UnixNano()))
	if err := writePlan(plan, c); err != nil {
		return result{}, err
	}
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	j := job{Args: []string{self, "-ggcr-writer", plan, "-goroutines", strconv.Itoa(n)}}
	return measure(srv, func() (result, error) {
		u, _, err := run(ctx, j)
		return result{Tool: "ggcr writer", Registry: regLabel, Form: fmt.Sprintf("%d goroutines, one Pusher", n), Sigs: c.Manifests(), U: u,
			Cmd: fmt.Sprintf("go run ./benchmarks/harness -ggcr-writer PLAN.jsonl -goroutines %d (%d manifests)", n, c.Manifests())}, err
	})
}

// peerProcs is how many processes the peer tools run at once: xargs -P 4,
// their best form on this machine (more only contend for two cores).
const peerProcs = 4

// notationSign runs `notation sign` once per manifest (notation has no
// recursive mode), peerProcs at a time.
func notationSign(ctx context.Context, e *env, srv *server, c catalog, regLabel string) (result, error) {
	var jobs []job
	for _, ref := range c.Digests() {
		jobs = append(jobs, job{Args: []string{e.tool("notation"), "sign", "--insecure-registry", "--key", "bench", ref}, Env: e.notationEnv()})
	}
	return measure(srv, func() (result, error) {
		u, err := runParallel(ctx, peerProcs, jobs)
		return result{Tool: "notation sign", Registry: regLabel, Form: fmt.Sprintf("%d processes, one per manifest", peerProcs), Sigs: len(jobs), U: u,
			Cmd: fmt.Sprintf("xargs -P %d -n 1 notation sign --insecure-registry --key bench (%d manifests)", peerProcs, len(jobs))}, err
	})
}

// cosignSign runs `cosign sign -r` once per image (the index and its
// children), peerProcs at a time.
func cosignSign(ctx context.Context, e *env, srv *server, c catalog, regLabel string) (result, error) {
	var jobs []job
	for _, im := range c.Images {
		jobs = append(jobs, job{Args: []string{e.tool("cosign-v2"), "sign", "--key", e.cosignKey, "--tlog-upload=false", "-y", "-r",
			"--allow-http-registry", "--allow-insecure-registry", im.Ref()}, Env: e.cosignEnv()})
	}
	return measure(srv, func() (result, error) {
		u, err := runParallel(ctx, peerProcs, jobs)
		return result{Tool: "cosign sign -r (v2.6.5)", Registry: regLabel, Form: fmt.Sprintf("%d processes, one per image", peerProcs), Sigs: c.Manifests(), U: u,
			Cmd: fmt.Sprintf("xargs -P %d -n 1 cosign sign --key cosign.key --tlog-upload=false -y -r (%d images, %d manifests)", peerProcs, len(jobs), c.Manifests())}, err
	})
}

// signetVerify runs one `signet verify` over every image of c: with
// --catalog when this signet has it, else with the images as arguments.
func signetVerify(ctx context.Context, e *env, srv *server, c catalog, regLabel string, workers int) (result, error) {
	report := filepath.Join(e.work, fmt.Sprintf("verify-%d.json", time.Now().UnixNano()))
	args := []string{e.signet, "verify", "--key", e.pubPEM, "--workers", strconv.Itoa(workers), "--report", report}
	form := fmt.Sprintf("one process, --workers %d", workers)
	cmd := fmt.Sprintf("signet verify --key signet.pub --workers %d --report R.json", workers)
	if e.verifyCatalog {
		file := filepath.Join(e.work, fmt.Sprintf("verify-%d.txt", time.Now().UnixNano()))
		if err := c.writeCatalog(file); err != nil {
			return result{}, err
		}
		args = append(args, "--catalog", file)
		form += ", --catalog"
		cmd += " --catalog CATALOG"
	} else {
		for _, im := range c.Images {
			args = append(args, im.Ref())
		}
		form += fmt.Sprintf(", %d image arguments", len(c.Images))
		cmd += " IMAGE..."
	}
	return measure(srv, func() (result, error) {
		u, _, err := run(ctx, job{Args: args, Env: e.signetEnv()})
		r := result{Tool: "signet verify", Registry: regLabel, Form: form, U: u,
			Cmd: fmt.Sprintf("%s (%d images, %d manifests)", cmd, len(c.Images), c.Manifests())}
		if err != nil {
			return r, err
		}
		var rep struct {
			Counts struct{ Manifests, Verified, Blocked int }
		}
		b, err := os.ReadFile(report)
		if err == nil {
			err = json.Unmarshal(b, &rep)
		}
		if err != nil {
			return r, fmt.Errorf("reading signet verify's report: %w", err)
		}
		r.Sigs = rep.Counts.Verified
		if rep.Counts.Verified != c.Manifests() {
			return r, fmt.Errorf("signet verify verified %d manifests (blocked %d); want %d", rep.Counts.Verified, rep.Counts.Blocked, c.Manifests())
		}
		return r, nil
	})
}

// cosignVerify runs `cosign verify` on each manifest, one process after
// another.
func cosignVerify(ctx context.Context, e *env, srv *server, refs []string, pub, regLabel string) (result, error) {
	var jobs []job
	for _, ref := range refs {
		jobs = append(jobs, job{Args: []string{e.tool("cosign-v2"), "verify", "--key", pub, "--insecure-ignore-tlog=true",
			"--allow-http-registry", "--allow-insecure-registry", ref}, Env: e.cosignEnv()})
	}
	return measure(srv, func() (result, error) {
		u, err := runParallel(ctx, 1, jobs)
		return result{Tool: "cosign verify (v2.6.5)", Registry: regLabel, Form: "one process per manifest, one after another", Sigs: len(jobs), U: u,
			Cmd: fmt.Sprintf("for each manifest: cosign verify --key signet.pub --insecure-ignore-tlog=true REF (%d manifests)", len(jobs))}, err
	})
}

// notationVerify runs `notation verify` on each manifest, one process after
// another.
func notationVerify(ctx context.Context, e *env, srv *server, refs []string, regLabel string) (result, error) {
	var jobs []job
	for _, ref := range refs {
		jobs = append(jobs, job{Args: []string{e.tool("notation"), "verify", "--insecure-registry", ref}, Env: e.notationEnv()})
	}
	return measure(srv, func() (result, error) {
		u, err := runParallel(ctx, 1, jobs)
		return result{Tool: "notation verify", Registry: regLabel, Form: "one process per manifest, one after another", Sigs: len(jobs), U: u,
			Cmd: fmt.Sprintf("for each manifest: notation verify --insecure-registry REF (%d manifests)", len(jobs))}, err
	})
}
