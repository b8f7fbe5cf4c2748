package cli

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// profileFlags are hidden flags of signet batch that write Go profiles of
// the run: make bench summarises them in benchmarks/RESULTS.md, and they
// help whoever chases a slow batch. They are hidden because they are a
// developer's tool, not part of the command's contract.
type profileFlags struct {
	cpu, mem string
}

func (p *profileFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&p.cpu, "cpuprofile", "", "write a Go CPU profile of the run to this file")
	fl.StringVar(&p.mem, "memprofile", "", "write a Go heap profile (allocations, and memory in use at the last GC) to this file when the run ends")
	_ = fl.MarkHidden("cpuprofile")
	_ = fl.MarkHidden("memprofile")
}

// start starts CPU profiling when asked to. The returned function stops it
// and writes the heap profile; it reports its own errors on stderr, since
// the run's outcome matters more than its profile.
func (p *profileFlags) start(g *globals) (stop func(), err error) {
	var cpu *os.File
	if p.cpu != "" {
		if cpu, err = os.Create(p.cpu); err != nil {
			return nil, usageErr("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, usageErr("--cpuprofile: %w", err)
		}
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				fmt.Fprintf(g.stderr, "signet: writing --cpuprofile: %v\n", err)
			}
		}
		if p.mem == "" {
			return
		}
		f, err := os.Create(p.mem)
		if err == nil {
			// No runtime.GC first: in-use figures then describe the heap
			// at the last collection of the run, not an emptied one.
			err = pprof.Lookup("allocs").WriteTo(f, 0)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(g.stderr, "signet: writing --memprofile: %v\n", err)
		}
	}, nil
}
