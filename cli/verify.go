package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/signet-project/signet/batch"
	"github.com/signet-project/signet/hsm"
	"github.com/signet-project/signet/signature"
	"github.com/signet-project/signet/signature/cosign"
)

type verifyFlags struct {
	key       string
	recursive bool
	workers   int
}

func newVerifyCmd(g *globals) *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify --key PUBKEY IMAGE...",
		Short: "Verify cosign signatures on images; indexes are checked with every child",
		Long: `Verify checks every manifest of each image (an index and all of its children)
and prints one verdict per manifest. It exits 2 when any manifest is unsigned,
signed only by another key, tampered with, or carries a signature copied from
another manifest.

PUBKEY is a PEM public key or certificate file, or any key reference (a
pkcs11: URI or a private key file), whose public half is used.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd.Context(), g, &f, args)
		},
	}
	cmd.Flags().StringVar(&f.key, "key", "", "public key: PEM file, certificate, or key reference (default $SIGNET_KEY)")
	cmd.Flags().BoolVar(&f.recursive, "recursive", true, "check every child manifest of an index")
	cmd.Flags().IntVar(&f.workers, "workers", 8, "manifests checked concurrently")
	return cmd
}

func runVerify(ctx context.Context, g *globals, f *verifyFlags, args []string) error {
	ref := f.key
	if ref == "" {
		ref = os.Getenv("SIGNET_KEY")
	}
	if ref == "" {
		return usageErr("no public key: pass --key PUBKEY")
	}
	if f.workers < 1 {
		return usageErr("--workers must be at least 1, got %d", f.workers)
	}
	pub, err := hsm.LoadPublicKey(ctx, ref)
	if err != nil {
		return usageErr("loading public key: %w", err)
	}
	reg, err := g.registry()
	if err != nil {
		return err
	}
	targets := make([]batch.Target, len(args))
	for i, a := range args {
		targets[i] = batch.Target{Ref: a, Source: fmt.Sprintf("argument %d", i+1), Recursive: f.recursive}
	}
	plan, err := batch.NewPlanner(reg, f.workers).Plan(ctx, targets)
	if err != nil {
		return err
	}
	v := cosign.NewVerifier(cosign.NewStore(reg), signature.KeyTrust{Key: pub})
	errs := make([]error, len(plan.Items))
	var eg errgroup.Group
	eg.SetLimit(f.workers)
	for i, it := range plan.Items {
		eg.Go(func() error {
			_, errs[i] = v.Verify(ctx, it.Subject)
			return nil
		})
	}
	_ = eg.Wait()

	failed := len(plan.Failures)
	for _, fl := range plan.Failures {
		fmt.Fprintf(g.stdout, "FAILED    %s (%s): %s\n", fl.Ref, fl.Source, fl.Error)
	}
	for i, it := range plan.Items {
		what := it.Name().String()
		if it.Platform != "" {
			what += " " + it.Platform
		}
		if errs[i] != nil {
			failed++
			fmt.Fprintf(g.stdout, "FAILED    %s: %v\n", what, errs[i])
			continue
		}
		fmt.Fprintf(g.stdout, "verified  %s\n", what)
	}
	if failed > 0 {
		return failedErr("%d of %d manifests failed verification", failed, len(plan.Items)+len(plan.Failures))
	}
	return nil
}
