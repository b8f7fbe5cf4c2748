package cli

import (
	"errors"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/signet-project/signet/batch"
)

func newBatchCmd(g *globals) *cobra.Command {
	var f runFlags
	var prof profileFlags
	var catalog, pendingIn string
	cmd := &cobra.Command{
		Use:   "batch --catalog FILE|- | --pending HOST[/REPO] [--key KEYREF] [flags]",
		Short: "Sign a whole catalog of images concurrently",
		Long: `Batch signs every image of a catalog through a bounded pool of workers that
share one key and one pool of HSM sessions.

The catalog is auto-detected: plain text (one reference per line, # comments);
YAML or JSON with "defaults" and "images" (references, "repository:" entries
with tag globs, "registry:" entries with repository globs, per-entry key,
formats, attest and recursive); or the metadata file docker buildx / buildctl
write with --metadata-file.

Planning resolves tags to digests, expands indexes into their children and
signs each manifest once per key however many tags point at it: entries that
reach one manifest with the same key add their formats and attestations to
one signing, and an entry with another key signs it with that key too. With
--journal, a rerun after a crash or Ctrl-C signs exactly what is left.

--pending HOST[/REPO] signs, instead of a catalog, the images under a
registry (or one repository) whose sign-request attestation, left by
signet's BuildKit frontend, is not yet honoured: builds made by other tools
(docker buildx, buildctl) with the "# syntax=" directive. Each requested
signature and attestation is verified with the key first.

A sign request is a wish, not an authority: anyone who can push to the
registry can write one, so the operator's configuration decides. The key
given by --key or SIGNET_KEY signs whatever key a request names (a
warning names the requested key when it differs), and --format and
--attest override what requests ask for. Only when no key is configured
is the key a request names used; give --policy then, so that only keys
the policy allows sign, and only in their repositories and formats. The
policy is asked before a requested key is opened, so its signing rules
must name such keys by pkcs11: URI or path, not by fingerprint.
Provenance is made from what BuildKit recorded in each image and from
--builder-id/--build-type/--source-uri/--source-digest, never from the
CI environment of the signing run, which did not build the images.

Exit status: 0 when everything was signed, 2 when some images failed (listed,
and in --report), 1 for usage or configuration errors.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stopProfile, err := prof.start(g) // cli/profile.go
			if err != nil {
				return err
			}
			defer stopProfile()
			if pendingIn != "" {
				if catalog != "" {
					return usageErr("pass --catalog or --pending, not both")
				}
				return runPending(cmd, g, &f, pendingIn)
			}
			if catalog == "" {
				return usageErr("pass --catalog FILE (or - for standard input)")
			}
			var r io.Reader = os.Stdin
			if catalog != "-" {
				file, err := os.Open(catalog)
				if err != nil {
					return usageErr("reading catalog: %w", err)
				}
				defer file.Close()
				r = file
			}
			cat, err := batch.ParseCatalog(r, catalog)
			if err != nil {
				var ce *batch.CatalogError
				if errors.As(err, &ce) {
					return usageErr("the catalog has errors; nothing was signed:\n%w", err)
				}
				return usageErr("reading catalog: %w", err)
			}
			reg, err := g.registry()
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("recursive") {
				cat.Defaults.Recursive = &f.recursive
			}
			targets, failures := cat.Targets(cmd.Context(), reg, f.workers)
			return f.run(cmd.Context(), g, targets, failures)
		},
	}
	f.listTags = true
	f.register(cmd, 16)
	prof.register(cmd)
	cmd.Flags().StringVar(&catalog, "catalog", "", "catalog file, or - for standard input")
	cmd.Flags().StringVar(&pendingIn, "pending", "", "sign images under HOST[/REPO] whose BuildKit sign request is not yet honoured")
	return cmd
}
