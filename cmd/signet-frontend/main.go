// Command signet-frontend is signet's BuildKit `# syntax=` frontend: the
// Dockerfile frontend of the linked BuildKit version, which also records the
// Dockerfile's signing intent as an attestation (see package buildkit).
// BuildKit runs it in a container and speaks to it over stdin and stdout;
// `make frontend-image` packages it.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/moby/buildkit/frontend/gateway/grpcclient"
	"github.com/moby/buildkit/util/appcontext"
	// The gateway's gRPC messages are encoded with this codec.
	_ "github.com/moby/buildkit/util/grpcutil/encoding/proto"

	"github.com/signet-project/signet/buildkit/frontend"
)

// version is set with -ldflags "-X main.version=…" by the image writer.
var version = "devel"

func main() {
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("signet-frontend", version)
		return
	}
	// appcontext cancels on SIGINT/SIGTERM, which BuildKit sends when the
	// client goes away.
	if err := grpcclient.RunFromEnvironment(appcontext.Context(), frontend.Build); err != nil {
		fmt.Fprintf(os.Stderr, "signet-frontend: %v\n", err)
		os.Exit(1)
	}
}
