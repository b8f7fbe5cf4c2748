package cli

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/signet-project/signet/batch"
	"github.com/signet-project/signet/hsm"
	"github.com/signet-project/signet/signature/cosign"
)

// keyFlags are the flags of every command that signs.
type keyFlags struct {
	key      string
	sessions int
}

func (k *keyFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&k.key, "key", "", "signing key: a pkcs11: URI or a key file (default $SIGNET_KEY)")
	cmd.Flags().IntVar(&k.sessions, "hsm-sessions", runtime.NumCPU(), "PKCS#11 sessions shared by all workers")
}

func (k *keyFlags) ref() (string, error) {
	ref := k.key
	if ref == "" {
		ref = os.Getenv("SIGNET_KEY")
	}
	if ref == "" {
		return "", usageErr("no signing key: pass --key KEYREF (a pkcs11: URI or a key file) or set SIGNET_KEY")
	}
	return ref, nil
}

func (k *keyFlags) open(ctx context.Context) (hsm.Key, error) {
	ref, err := k.ref()
	if err != nil {
		return nil, err
	}
	if k.sessions < 1 {
		return nil, usageErr("--hsm-sessions must be at least 1, got %d", k.sessions)
	}
	key, err := hsm.Open(ctx, ref, hsm.WithSessions(k.sessions))
	if err != nil {
		return nil, usageErr("opening key: %w", err)
	}
	return key, nil
}

type signFlags struct {
	keyFlags
	recursive bool
	workers   int
}

func newSignCmd(g *globals) *cobra.Command {
	var f signFlags
	cmd := &cobra.Command{
		Use:   "sign [--key KEYREF] IMAGE...",
		Short: "Sign images (tags or digests) in cosign format; indexes with every child",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSign(cmd.Context(), g, &f, args)
		},
	}
	f.keyFlags.register(cmd)
	cmd.Flags().BoolVar(&f.recursive, "recursive", true, "sign every child manifest of an index, nested indexes included")
	cmd.Flags().IntVar(&f.workers, "workers", 8, "manifests signed concurrently")
	return cmd
}

func runSign(ctx context.Context, g *globals, f *signFlags, args []string) error {
	if f.workers < 1 {
		return usageErr("--workers must be at least 1, got %d", f.workers)
	}
	reg, err := g.registry()
	if err != nil {
		return err
	}
	key, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer key.Close()

	targets := make([]batch.Target, len(args))
	for i, a := range args {
		targets[i] = batch.Target{Ref: a, Source: fmt.Sprintf("argument %d", i+1), Recursive: f.recursive}
	}
	plan, err := batch.NewPlanner(reg, f.workers).Plan(ctx, targets)
	if err != nil {
		return err
	}
	format := cosign.NewFormat(cosign.NewStore(reg), key, nil, nil)
	runner := &batch.Runner{
		Workers: f.workers,
		Formats: func(batch.Item) ([]batch.Format, error) { return []batch.Format{format}, nil },
	}
	outcomes := runner.Run(ctx, plan.Items)

	failed := len(plan.Failures)
	for _, fl := range plan.Failures {
		fmt.Fprintf(g.stdout, "FAILED   %s (%s): %s\n", fl.Ref, fl.Source, fl.Error)
	}
	for _, o := range outcomes {
		state := "signed "
		switch {
		case o.Err != nil:
			state = "FAILED "
			failed++
		case o.Result.Skipped:
			state = "present"
		}
		line := fmt.Sprintf("%s  %s  %s", state, o.Format, o.Item.Name())
		if o.Item.Platform != "" {
			line += " " + o.Item.Platform
		}
		if o.Err != nil {
			line += ": " + o.Err.Error()
		}
		fmt.Fprintln(g.stdout, line)
	}
	if ctx.Err() != nil {
		return failedErr("interrupted: %d of %d manifests done", len(outcomes), len(plan.Items))
	}
	if failed > 0 {
		return failedErr("%d of %d failed", failed, len(plan.Items)+len(plan.Failures))
	}
	return nil
}
