package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// usage is what one or more processes cost: wall time from the first start
// to the last exit, CPU (rusage user+sys, summed over processes) and the
// largest peak RSS of any one of them.
type usage struct {
	Wall      time.Duration
	User, Sys time.Duration
	MaxRSS    int64 // bytes
	Procs     int
	Retries   int // failed processes run a second time (runParallel)
	// Context switches (rusage): voluntary ones are the process's threads
	// going to sleep (a blocking C call, a futex, epoll), involuntary ones
	// the kernel taking the CPU from them.
	VolSwitches, InvolSwitches int64
}

// CPU is user+sys.
func (u usage) CPU() time.Duration { return u.User + u.Sys }

// add folds one process's rusage into u (not the wall time).
func (u *usage) add(ps *os.ProcessState) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return
	}
	u.User += time.Duration(ru.Utime.Nano())
	u.Sys += time.Duration(ru.Stime.Nano())
	u.MaxRSS = max(u.MaxRSS, ru.Maxrss*1024) // Linux reports KiB
	u.VolSwitches += ru.Nvcsw
	u.InvolSwitches += ru.Nivcsw
	u.Procs++
}

// job is one process to run.
type job struct {
	Args []string // program first
	Env  []string // added to the harness's environment
	Dir  string
}

func (j job) String() string { return strings.Join(j.Args, " ") }

// tail keeps the last part of a process's output for error messages.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 16 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > tailSize {
		b = b[len(b)-tailSize:]
	}
	return string(bytes.TrimSpace(b))
}

// run runs one job to the end and returns its usage and output (stdout and
// stderr together, the last 16 KiB). A non-zero exit is an error naming the
// command and quoting the output.
func run(ctx context.Context, j job) (usage, string, error) {
	cmd := exec.CommandContext(ctx, j.Args[0], j.Args[1:]...)
	cmd.Env = append(os.Environ(), j.Env...)
	cmd.Dir = j.Dir
	var out tail
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	u := usage{Wall: time.Since(start)}
	if cmd.ProcessState != nil {
		u.add(cmd.ProcessState)
	}
	if err != nil {
		return u, out.String(), fmt.Errorf("%s: %w\n%s", j, err, indent(out.String()))
	}
	return u, out.String(), nil
}

// runParallel runs jobs with at most n at a time, the way a CI script runs a
// peer tool over a catalog (xargs -P n). A failed job is run once more
// (the usage counts both runs, Retries counts the second chances): notation
// processes signing side by side in one repository now and then lose a
// race on docker-registry ("blob unknown" for the config another process is
// still uploading), and a CI script would retry. It stops starting jobs
// after a job fails twice and returns that failure.
func runParallel(ctx context.Context, n int, jobs []job) (usage, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		total    usage
		firstErr error
		wg       sync.WaitGroup
	)
	next := make(chan job)
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				u, _, err := run(ctx, j)
				if err != nil && ctx.Err() == nil {
					var u2 usage
					u2, _, err = run(ctx, j)
					u.User, u.Sys, u.MaxRSS, u.Procs = u.User+u2.User, u.Sys+u2.Sys, max(u.MaxRSS, u2.MaxRSS), u.Procs+u2.Procs
					mu.Lock()
					total.Retries++
					mu.Unlock()
				}
				mu.Lock()
				total.User += u.User
				total.Sys += u.Sys
				total.MaxRSS = max(total.MaxRSS, u.MaxRSS)
				total.Procs += u.Procs
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, j := range jobs {
		select {
		case next <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	total.Wall = time.Since(start)
	return total, firstErr
}

// procCPU reads a running process's CPU time so far (user+sys) from
// /proc/PID/stat, for processes that outlive one measurement (registries).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; fields resume after its ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	// After the name: state is field 3 of stat(5), utime 14, stime 15.
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTicks
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

func indent(s string) string {
	if s == "" {
		return "    (no output)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
