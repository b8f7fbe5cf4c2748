// Command signet signs and verifies whole catalogs of container images.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/signet-project/signet/cli"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	handleStopSignals(cancel)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}

// handleStopSignals makes the first SIGINT/SIGTERM cancel the context:
// commands stop taking new work and finish what is in flight within
// --grace. A second one kills the process at once, by that signal.
//
// One channel receives both signals, with room for both, because the
// runtime drops a signal that finds a channel full. (signal.NotifyContext
// holds one signal, and a second that arrived before its caller stopped
// it was dropped, leaving the process to wait out the whole --grace.)
func handleStopSignals(cancel context.CancelFunc) {
	stopSignals := []os.Signal{os.Interrupt, syscall.SIGTERM}
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, stopSignals...)
	go func() {
		<-ch
		cancel()
		sig := (<-ch).(syscall.Signal)
		// Die of the signal as if signet had not caught it, so that a
		// parent (a shell, a CI runner) sees the process killed by it.
		signal.Reset(stopSignals...)
		syscall.Kill(syscall.Getpid(), sig)
		// The signal kills nothing if it was ignored when signet started
		// (Reset ignores it again): exit as a shell reports that death.
		time.Sleep(time.Second)
		os.Exit(128 + int(sig))
	}()
}
