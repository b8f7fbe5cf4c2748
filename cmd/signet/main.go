// Command signet signs and verifies whole catalogs of container images.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/signet-project/signet/cli"
)

func main() {
	// The first SIGINT/SIGTERM cancels the context: commands stop taking new
	// work and finish what is in flight. A second one kills the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		// Until stop, NotifyContext catches every further signal too, and
		// a user who presses Ctrl-C again would wait out the whole --grace.
		stop()
	}()
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
