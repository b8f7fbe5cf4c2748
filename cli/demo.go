package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/signet-project/signet/batch"
	"github.com/signet-project/signet/demo"
)

func newDemoCmd(g *globals) *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Sign and verify a sample multi-arch catalog on an embedded registry",
		Long: `Demo needs nothing but this binary: it starts a registry inside the process on
127.0.0.1, pushes a sample catalog of multi-arch images, makes an ephemeral
key (inside a throwaway SoftHSM2 token when softhsm2 is installed), signs the
catalog with signet batch, verifies every manifest, and prints the report.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			fmt.Fprintln(g.stdout, "== setting up: embedded registry, sample catalog, ephemeral key")
			env, err := demo.Setup(ctx)
			if err != nil {
				return fmt.Errorf("setting up the demo: %w", err)
			}
			if !keep {
				defer env.Close()
			}
			fmt.Fprintf(g.stdout, "registry  %s (go-containerregistry, in process)\nkey       %s\ncatalog   %s\n", env.Host, env.KeyKind, env.Catalog)
			for _, img := range env.Images {
				fmt.Fprintf(g.stdout, "  image   %s/%s:%s  %s\n", env.Host, img.Repo, img.Tag, strings.Join(img.Platforms, ", "))
			}

			fmt.Fprintln(g.stdout, "\n== signet batch --catalog catalog.yaml")
			f := runFlags{listTags: true}
			f.key, f.sessions, f.workers, f.formats, f.recursive = env.Key, 2, 8, []string{"cosign"}, true
			f.retries, f.report, f.summaryMD = 1, filepath.Join(env.Dir, "report.json"), filepath.Join(env.Dir, "summary.md")
			file, err := os.Open(env.Catalog)
			if err != nil {
				return err
			}
			cat, err := batch.ParseCatalog(file, env.Catalog)
			file.Close()
			if err != nil {
				return err
			}
			reg, err := g.registry()
			if err != nil {
				return err
			}
			targets, failures := cat.Targets(ctx, reg, f.workers)
			if err := f.run(ctx, g, targets, failures); err != nil {
				return err
			}

			fmt.Fprintln(g.stdout, "\n== signet verify (every index and every platform manifest)")
			var refs []string
			for _, img := range env.Images {
				refs = append(refs, env.Host+"/"+img.Repo+":"+img.Tag)
			}
			if err := runVerify(ctx, g, &verifyFlags{key: env.Key, recursive: true, workers: 8}, refs); err != nil {
				return err
			}

			fmt.Fprintln(g.stdout, "\n== summary (Markdown, as written for $GITHUB_STEP_SUMMARY)")
			md, err := os.ReadFile(f.summaryMD)
			if err != nil {
				return err
			}
			g.stdout.Write(md)
			if keep {
				fmt.Fprintf(g.stdout, "\nfiles kept in %s (the registry stopped with this process)\n", env.Dir)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the demo's files (catalog, reports, key) afterwards")
	return cmd
}
