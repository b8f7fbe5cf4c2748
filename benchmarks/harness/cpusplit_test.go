package main

import (
	"strings"
	"testing"
	"time"
)

// traces is `go tool pprof -traces` output in its own layout: a header, then
// records, each a value on its leaf frame and the callers below it.
const traces = `File: signet
Type: cpu
Duration: 2s, Total samples = 1.20mins (100%)
-----------+-------------------------------------------------------
      30ms   runtime.cgocall
             github.com/miekg/pkcs11.(*Ctx).Sign
             github.com/signet-project/signet/hsm.(*Key).Sign
             github.com/signet-project/signet/batch.(*Runner).sign
-----------+-------------------------------------------------------
      20ms   internal/runtime/syscall/linux.Syscall6
             syscall.write
             internal/poll.(*FD).Write
             net.(*conn).Write
             net/http.persistConnWriter.Write
-----------+-------------------------------------------------------
      10ms   runtime.futex
             runtime.futexwakeup
             runtime.startm
             runtime.wakep
             runtime.ready
             runtime.chansend
             net/http.(*persistConn).roundTrip
-----------+-------------------------------------------------------
      10ms   runtime.nextFreeFast
             runtime.mallocgc
             encoding/json.Marshal
             github.com/signet-project/signet/registry.(*Client).PutManifest
-----------+-------------------------------------------------------
      40ms   runtime.scanObject
             runtime.gcDrain
             runtime.gcAssistAlloc
             runtime.mallocgc
             net/http.(*Transport).RoundTrip
-----------+-------------------------------------------------------
      10ms   runtime.memmove
             runtime.growslice
             github.com/signet-project/signet/batch.(*Catalog).Targets
-----------+-------------------------------------------------------
   1.50mins  runtime.memclrNoHeapPointers
             runtime.main

-----------+-------------------------------------------------------
      10ms   runtime.cgocall
             github.com/signet-project/signet/hsm.(*Key).Sign
`

func TestCPUSplit(t *testing.T) {
	got, err := cpuSplit(traces)
	if err != nil {
		t.Fatal(err)
	}
	want := []cpuArea{
		// ties keep the order of the areas table
		{"garbage collection (mark workers, assists, sweeping)", 40 * time.Millisecond},
		{"HSM signing (PKCS#11 calls; SoftHSM's C code)", 40 * time.Millisecond},
		{"HTTP to the registry (net/http, sockets, the registry client)", 20 * time.Millisecond},
		{"scheduler (wake-ups, idle Ps, network poller, cgo entry and exit)", 10 * time.Millisecond},
		{"payloads and manifests (JSON, digests, signature formats)", 10 * time.Millisecond},
		{"batch runner (catalog, plan, pool, journal, report)", 10 * time.Millisecond},
		{otherArea, 90 * time.Second},
	}
	if len(got) != len(want) {
		t.Fatalf("cpuSplit = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("area %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestCPUSplitNoSamples(t *testing.T) {
	if got, err := cpuSplit("File: signet\nType: cpu\nDuration: 35ms, Total samples = 0\n"); err != nil || len(got) != 0 {
		t.Fatalf("cpuSplit of an empty profile = %v, %v; want no areas and no error", got, err)
	}
}

func TestCPUSplitErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"value missing", "-----------+----\n   runtime.main\n", "line 2"},
		{"value without frame", "-----------+----\n   10ms\n", "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cpuSplit(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("cpuSplit = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestPerSignature(t *testing.T) {
	m, sum := perSignature([]cpuArea{{"a", 30 * time.Millisecond}, {"b", 10 * time.Millisecond}}, 100)
	if m["a"] != 300 || m["b"] != 100 || sum != 400 {
		t.Fatalf("perSignature = %v, %v; want a 300 µs, b 100 µs, sum 400 µs", m, sum)
	}
	if got := areaNames(); len(got) != len(areas)+1 || got[len(got)-1] != otherArea {
		t.Fatalf("areaNames = %v; want every area, other last", got)
	}
}
