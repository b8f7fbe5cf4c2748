package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/signet-project/signet/hsm"
)

func newKeysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Generate, list and export signing keys",
	}
	cmd.AddCommand(newKeysGenerateCmd(g), newKeysPublicCmd(g), newKeysListCmd(g))
	return cmd
}

func newKeysGenerateCmd(g *globals) *cobra.Command {
	var key, file, alg string
	cmd := &cobra.Command{
		Use:   "generate (--key pkcs11:... | --key-file PATH) [--algorithm ecdsa-p256]",
		Short: "Generate a key pair inside a PKCS#11 token (non-extractable) or in a file",
		Long: `Generate makes a new key pair and prints its public key as PEM.

With --key pkcs11:token=T;object=NAME the pair is generated inside the token:
the private key is sensitive and non-extractable, so it never leaves the HSM.
With --key-file PATH the private key is written to PATH (mode 0600) and the
public key to PATH.pub; set SIGNET_KEY_PASSWORD (or COSIGN_PASSWORD) to
encrypt it in cosign's format, which cosign can use as is.

Algorithms: ecdsa-p256 (default), ecdsa-p384, rsa-2048, rsa-3072, rsa-4096.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if (key == "") == (file == "") {
				return usageErr("pass exactly one of --key pkcs11:... or --key-file PATH")
			}
			ref := key
			if file != "" {
				ref = file
			} else if !strings.HasPrefix(key, "pkcs11:") {
				return usageErr("--key must be a pkcs11: URI; use --key-file for a file key")
			}
			k, err := hsm.Generate(ctx, ref, alg)
			if err != nil {
				return usageErr("generating key: %w", err)
			}
			defer k.Close()
			return printPublic(g, k.Public())
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "pkcs11: URI of the key to create (token, object label, optional id)")
	cmd.Flags().StringVar(&file, "key-file", "", "path of a private key file to create")
	cmd.Flags().StringVar(&alg, "algorithm", "ecdsa-p256", "key algorithm")
	return cmd
}

func newKeysPublicCmd(g *globals) *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "public --key KEYREF",
		Short: "Print a key's public half as PEM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key == "" {
				key = os.Getenv("SIGNET_KEY")
			}
			if key == "" {
				return usageErr("pass --key KEYREF")
			}
			pub, err := hsm.LoadPublicKey(cmd.Context(), key)
			if err != nil {
				return usageErr("loading key: %w", err)
			}
			return printPublic(g, pub)
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "key reference: pkcs11: URI, key file, or public key file")
	return cmd
}

func printPublic(g *globals, pub any) error {
	b, err := hsm.MarshalPublicKeyPEM(pub)
	if err != nil {
		return err
	}
	_, err = g.stdout.Write(b)
	return err
}

func newKeysListCmd(g *globals) *cobra.Command {
	var module string
	cmd := &cobra.Command{
		Use:   "list [--module PATH]",
		Short: "List a PKCS#11 module's tokens and keys with their URIs",
		Long: `List prints every token the module offers and the keys on it, each with a
pkcs11: URI to pass to --key. Private keys are listed when a PIN is available
in SIGNET_PKCS11_PIN; public keys always are. PINs are never printed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return listKeys(cmd.Context(), g, module)
		},
	}
	cmd.Flags().StringVar(&module, "module", "", "PKCS#11 module path (default $SIGNET_PKCS11_MODULE)")
	return cmd
}

func listKeys(ctx context.Context, g *globals, module string) error {
	if module == "" {
		module = os.Getenv("SIGNET_PKCS11_MODULE")
	}
	if module == "" {
		return usageErr("pass --module PATH or set SIGNET_PKCS11_MODULE")
	}
	var pin []byte
	if p, ok := os.LookupEnv("SIGNET_PKCS11_PIN"); ok {
		pin = []byte(p)
	}
	tokens, err := hsm.List(ctx, module, pin)
	if err != nil {
		return usageErr("listing %s: %w", module, err)
	}
	for _, t := range tokens {
		fmt.Fprintf(g.stdout, "token %q serial %s (%s %s)\n", t.Label, t.Serial, t.Manufacturer, t.Model)
		for _, k := range t.Keys {
			objs := "public"
			switch {
			case k.Private && k.Public:
				objs = "pair"
			case k.Private:
				objs = "private"
			}
			fmt.Fprintf(g.stdout, "  %-8s %-12s %s\n", objs, k.Algorithm, k.URI)
		}
	}
	return nil
}
