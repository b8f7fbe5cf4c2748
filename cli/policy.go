package cli

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/signet-project/signet/attest"
	"github.com/signet-project/signet/batch"
	"github.com/signet-project/signet/hsm"
	"github.com/signet-project/signet/policy"
)

func newPolicyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check trust and signing policies and explain which rule applies to an image",
		Long: `A policy file (YAML or JSON, apiVersion signet.dev/v1) holds trust rules, used by
signet verify --policy, and signing rules, which limit which key may sign which
repositories in which formats. See docs/policy.md.`,
	}
	cmd.AddCommand(newPolicyCheckCmd(g), newPolicyExplainCmd(g), newPolicyFingerprintCmd(g))
	return cmd
}

// policyLoadOptions lets trust rules name keys by reference (pkcs11: URIs)
// as well as by PEM file, and attestation types by cosign's short names.
// Keys load through the run's token hold: each one is opened and closed
// again, and when a token has no public key objects each open logs in, so
// without the hold a wrong PIN would be tried once per key of a policy
// (and again for every file policy check reads), enough to lock a token.
func policyLoadOptions(g *globals) []policy.Option {
	return []policy.Option{
		policy.WithKeyLoader(func(ctx context.Context, ref string) (crypto.PublicKey, error) {
			return hsm.LoadPublicKey(ctx, ref, g.tokenHold()...)
		}),
		policy.WithTypeResolver(attest.ResolveType),
	}
}

// loadPolicy loads a policy file. A policy that does not parse is a usage
// error listing every problem with file:line. Lint errors are too when
// strict (verify --policy, sign --policy: a tie or an unreachable rule must
// not silently decide), and lint warnings are logged; otherwise (explain)
// errors are one warning line on stderr.
func loadPolicy(ctx context.Context, g *globals, file string, strict bool) (*policy.Policy, error) {
	p, err := policy.Load(ctx, file, policyLoadOptions(g)...)
	if err != nil {
		return nil, usageErr("loading policy: %w", err)
	}
	probs := p.Lint()
	if err := probs.Err(); err != nil {
		if strict {
			return nil, usageErr("policy %s has errors (see signet policy check %s): %w", file, file, err)
		}
		fmt.Fprintf(g.stderr, "warning: %s has %d errors; run signet policy check %s\n", file, len(probs.Errors()), file)
	}
	if strict && g.log != nil {
		for _, pr := range probs {
			if pr.Severity == policy.SeverityWarning {
				g.log.Warn("policy problem", "problem", pr.String())
			}
		}
	}
	return p, nil
}

func newPolicyCheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE...",
		Short: "Lint policy files: print every problem with file:line; exit 1 on errors",
		Long: `Check parses each policy file, reads every key and certificate it names, and
lints it: scopes of two trust rules that tie or repeat, rules no repository can
reach, rules that can never verify anything, identities without roots, unusable
roots, and signing rules broader than least privilege. It prints one line per
problem and exits 1 when any file has an error (warnings alone exit 0).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := 0
			for _, file := range args {
				if !checkPolicyFile(cmd.Context(), g, file) {
					bad++
				}
			}
			if bad > 0 {
				return usageErr("%d of %d policy files have errors", bad, len(args))
			}
			return nil
		},
	}
}

// checkPolicyFile prints the problems of one file and reports whether it
// is free of errors.
func checkPolicyFile(ctx context.Context, g *globals, file string) bool {
	p, err := policy.Load(ctx, file, policyLoadOptions(g)...)
	if err != nil {
		var pe *policy.Error
		if errors.As(err, &pe) {
			for _, pr := range pe.Problems {
				// A problem quotes the file, and a key entry may carry a PIN.
				fmt.Fprintln(g.stdout, batch.ScrubPIN(pr.String()))
			}
		} else {
			fmt.Fprintf(g.stdout, "%s: error: %s\n", file, batch.ScrubPIN(err.Error()))
		}
		return false
	}
	probs := p.Lint()
	for _, pr := range probs {
		fmt.Fprintln(g.stdout, batch.ScrubPIN(pr.String()))
	}
	errs := len(probs.Errors())
	if errs > 0 {
		return false
	}
	summary := fmt.Sprintf("%s: ok (%s; trust rules: %d, signing rules: %d", file, p.Kind, len(p.Trust), len(p.Signing))
	if w := len(probs) - errs; w > 0 {
		summary += fmt.Sprintf(", warnings: %d", w)
	}
	fmt.Fprintln(g.stdout, summary+")")
	return true
}

func newPolicyExplainCmd(g *globals) *cobra.Command {
	var file, key string
	var formats []string
	cmd := &cobra.Command{
		Use:   "explain --policy FILE [--key KEYREF [--format F]...] IMAGE...",
		Short: "Show which trust rule applies to each image, what it requires, and which keys may sign it",
		Long: `Explain prints, for each image (a reference or a repository), every trust
scope that matches it with the winning rule marked, what that rule trusts and
requires, and the signing rules that cover it. With --key it also says whether
that key may sign the image in the --format formats.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return usageErr("pass --policy FILE")
			}
			p, err := loadPolicy(cmd.Context(), g, file, false)
			if err != nil {
				return err
			}
			for i, img := range args {
				out, err := p.Explain(img)
				if err != nil {
					return usageErr("argument %d: %w", i+1, err)
				}
				if i > 0 {
					fmt.Fprintln(g.stdout)
				}
				fmt.Fprint(g.stdout, out)
				if key == "" {
					continue
				}
				req := policy.SigningRequest{Key: key, Repo: img, Formats: formats}
				if err := p.CheckSigning(req); err != nil {
					fmt.Fprintf(g.stdout, "signing check: refused: %v\n", err)
				} else {
					fmt.Fprintf(g.stdout, "signing check: key may sign it in %s\n", strings.Join(formats, ", "))
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "policy", "", "policy file (YAML or JSON)")
	cmd.Flags().StringVar(&key, "key", "", "also check whether this key reference (pkcs11: URI or file:PATH) may sign each image")
	cmd.Flags().StringSliceVar(&formats, "format", []string{"cosign"}, "formats for the --key check")
	return cmd
}

func newPolicyFingerprintCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "fingerprint FILE...",
		Short: "Print the sha256 fingerprints policies use for PEM public keys and certificates",
		Long: `Fingerprint prints, for every public key and certificate in the PEM files, the
"sha256:…" forms a policy accepts: the public key's (for revoked.keys and for
signing rules' key), and a certificate's own (for revoked.certificates).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, file := range args {
				data, err := os.ReadFile(file)
				if err != nil {
					return usageErr("reading %s: %w", file, err)
				}
				fps, err := policy.FingerprintPEM(data)
				if err != nil {
					return usageErr("%s: %w", file, err)
				}
				for _, fp := range fps {
					if fp.Cert == "" {
						fmt.Fprintf(g.stdout, "%s: public key %s\n", file, fp.Key)
						continue
					}
					fmt.Fprintf(g.stdout, "%s: certificate %q %s, public key %s\n", file, fp.Subject, fp.Cert, fp.Key)
				}
			}
			return nil
		},
	}
}
