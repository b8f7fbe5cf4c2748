package cli

import (
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/signet-project/signet/batch"
)

// keyFlags are the flags of every command that opens a signing key.
type keyFlags struct {
	key      string
	sessions int
}

func (k *keyFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&k.key, "key", "", "signing key: a pkcs11: URI or a key file (default $SIGNET_KEY)")
	cmd.Flags().IntVar(&k.sessions, "hsm-sessions", runtime.NumCPU(), "PKCS#11 sessions shared by all workers")
}

// operatorKey is the key the operator gave the run: --key, else
// SIGNET_KEY (as the GitHub Action passes it). from names which ("" when
// neither is set).
func (k *keyFlags) operatorKey() (ref, from string) {
	if k.key != "" {
		return k.key, "--key"
	}
	if v := os.Getenv("SIGNET_KEY"); v != "" {
		return v, "SIGNET_KEY"
	}
	return "", ""
}

func newSignCmd(g *globals) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "sign [--key KEYREF] IMAGE...",
		Short: "Sign images (tags or digests); an index is signed with every child",
		Long: `Sign signs each image named on the command line. An image index is signed
together with every child manifest (nested indexes included), each signature
naming the index's tag as identity, so podman verifies whichever platform it
pulls. Signing again with the same key is a no-op.

Exit status: 0 when everything was signed, 2 when some manifests failed
(each is listed), 1 for usage or configuration errors.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd.Context(), g, argTargets(args, f.recursive), nil)
		},
	}
	f.perManifest = true
	f.register(cmd, 8)
	return cmd
}

// argTargets turns command-line references into targets, each named in
// messages by its position, as sign, attest and verify all name them.
func argTargets(args []string, recursive bool) []batch.Target {
	targets := make([]batch.Target, len(args))
	for i, a := range args {
		targets[i] = batch.Target{Ref: a, Source: fmt.Sprintf("argument %d", i+1), Recursive: recursive}
	}
	return targets
}
