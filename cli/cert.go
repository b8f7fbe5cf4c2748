package cli

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-project/signet/hsm"
	"github.com/signet-project/signet/signature/certs"
)

// newCertCmd is `signet cert`: certificates for the key a notation
// signature (or a certificate-carrying sigstore bundle) is made with.
func newCertCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Request, import and (for tests and demos) issue code-signing certificates",
		Long: `Notation signatures carry the signer's certificate chain, leaf to self-signed
root, and verifiers trust the root. The usual flow with a real CA:

  signet cert request --key KEYREF --subject "CN=...,O=...,ST=...,C=..." > req.csr
  (the CA issues a code-signing certificate; collect it and its chain as PEM)
  signet cert import --key KEYREF chain.pem

For tests and demos, signet can play the CA:

  signet cert ca --key ca.key --subject "CN=demo CA,O=Acme,ST=WA,C=US" --out ca.pem
  signet cert issue --ca-cert ca.pem --ca-key ca.key --key KEYREF --subject "CN=signer,O=Acme,ST=WA,C=US" --import

The chain is stored with the key: in the token as certificate objects with
the key's CKA_ID, or beside a key file as <key>.chain.pem.`,
	}
	cmd.AddCommand(newCertRequestCmd(g), newCertImportCmd(g), newCertCACmd(g), newCertIssueCmd(g))
	return cmd
}

// certOutput writes PEM to --out (created or replaced, mode 0644: these are
// public documents) or to stdout.
func certOutput(g *globals, out string, data []byte) error {
	if out == "" {
		_, err := g.stdout.Write(data)
		return err
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		return failedErr("writing %s: %w", out, err)
	}
	return nil
}

func parseValidity(days int) (time.Duration, error) {
	if days < 1 {
		return 0, usageErr("--days must be at least 1, got %d", days)
	}
	return time.Duration(days) * 24 * time.Hour, nil
}

func newCertRequestCmd(g *globals) *cobra.Command {
	var key, subject, out string
	cmd := &cobra.Command{
		Use:   "request --key KEYREF --subject DN [--out FILE]",
		Short: "Make a certificate signing request (PKCS#10 PEM) signed by the key",
		Long: `Request prints a CSR for the key's public key, signed with the key (in the
HSM for a pkcs11: URI), for a CA to issue a code-signing certificate from.
DN is comma-separated attributes, e.g. "CN=batch signer,O=Acme,ST=WA,C=US";
notation's trustedIdentities need C, ST and O in it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			ref, err := keyRefOrEnv(key)
			if err != nil {
				return err
			}
			dn, err := certs.ParseDN(subject)
			if err != nil {
				return usageErr("--subject: %w", err)
			}
			k, err := hsm.Open(ctx, ref)
			if err != nil {
				return usageErr("opening key: %w", err)
			}
			defer k.Close()
			csr, err := certs.NewCSR(k, dn)
			if err != nil {
				return failedErr("%s: %w", k.Ref(), err)
			}
			return certOutput(g, out, csr)
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "key reference: pkcs11: URI or key file (default $SIGNET_KEY)")
	cmd.Flags().StringVar(&subject, "subject", "", `subject distinguished name, e.g. "CN=signer,O=Acme,ST=WA,C=US"`)
	cmd.Flags().StringVar(&out, "out", "", "write the CSR here instead of stdout")
	return cmd
}

func keyRefOrEnv(key string) (string, error) {
	if key == "" {
		key = os.Getenv("SIGNET_KEY")
	}
	if key == "" {
		return "", usageErr("no key: pass --key KEYREF (a pkcs11: URI or a key file) or set SIGNET_KEY")
	}
	return key, nil
}

func newCertImportCmd(g *globals) *cobra.Command {
	var key, chainFile string
	var skipChecks bool
	cmd := &cobra.Command{
		Use:   "import --key KEYREF CHAIN.pem",
		Short: "Store a certificate chain (PEM, leaf to root) with the key",
		Long: `Import reads the key's certificate and its chain from a PEM file, in any
order, puts them leaf first, and stores them with the key: in the token as
CKO_CERTIFICATE objects sharing the key's CKA_ID and label, or beside a key
file as <key>.chain.pem. The leaf must be for the key.

The chain is checked against the rules notation applies when it verifies,
so a chain it would reject is refused here rather than at the first
verification: it must end with the self-signed root, every certificate must
be issued by the next and valid now, CA certificates need basicConstraints
and keyCertSign, and the leaf needs keyUsage digitalSignature (critical)
and no TLS, e-mail or timestamping extended key usage. --skip-checks stores
a chain anyway (for cosign certificates, say).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			ref, err := keyRefOrEnv(key)
			if err != nil {
				return err
			}
			switch {
			case len(args) == 1 && chainFile != "":
				return usageErr("pass the chain file once: as argument or as --chain")
			case len(args) == 1:
				chainFile = args[0]
			case chainFile == "":
				return usageErr("no chain: pass CHAIN.pem")
			}
			data, err := os.ReadFile(chainFile)
			if err != nil {
				return usageErr("reading chain: %w", err)
			}
			found, err := certs.ParsePEM(data)
			if err != nil {
				return usageErr("reading chain %s: %w", chainFile, err)
			}
			pub, err := hsm.LoadPublicKey(ctx, ref)
			if err != nil {
				return usageErr("loading key: %w", err)
			}
			chain, err := certs.Order(found, pub)
			if err != nil {
				return usageErr("chain %s: %w", chainFile, err)
			}
			if !skipChecks {
				if err := certs.ValidateCodeSigningChain(chain, time.Now()); err != nil {
					return usageErr("chain %s: %w (notation would reject it; --skip-checks stores it anyway)", chainFile, err)
				}
			}
			if err := hsm.ImportCertificates(ctx, ref, chain); err != nil {
				return failedErr("storing chain: %w", err)
			}
			printChain(g, "stored", chain)
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "key reference: pkcs11: URI or key file (default $SIGNET_KEY)")
	cmd.Flags().StringVar(&chainFile, "chain", "", "PEM chain file (or pass it as argument)")
	cmd.Flags().BoolVar(&skipChecks, "skip-checks", false, "store a chain that breaks notation's certificate rules")
	return cmd
}

// printChain describes a chain on stdout; never the key reference, which
// may carry a PIN.
func printChain(g *globals, verb string, chain []*x509.Certificate) {
	fmt.Fprintf(g.stdout, "%s %d certificates, leaf to root:\n", verb, len(chain))
	for _, c := range chain {
		fmt.Fprintf(g.stdout, "  %s  valid until %s\n", certs.Describe(c), c.NotAfter.UTC().Format(time.RFC3339))
	}
}

func newCertCACmd(g *globals) *cobra.Command {
	var key, subject, out, alg string
	var days int
	cmd := &cobra.Command{
		Use:   "ca --key KEYREF [--subject DN] [--days N] [--out FILE]",
		Short: "Make a throwaway self-signed CA certificate (tests and demos)",
		Long: `CA prints a self-signed root CA certificate for the key. A key file that does
not exist yet is generated first (--algorithm; set SIGNET_KEY_PASSWORD to
encrypt it); a pkcs11: key must exist. The certificate has basicConstraints
CA (critical) and keyUsage keyCertSign, cRLSign (critical), and names no OCSP
or CRL location, so notation treats what it issues as non-revokable.
Add it to the verifier's trust store (notation cert add --type ca ...).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if key == "" {
				return usageErr("pass --key KEYREF for the CA's key (a new file path creates one)")
			}
			validity, err := parseValidity(days)
			if err != nil {
				return err
			}
			dn, err := certs.ParseDN(subject)
			if err != nil {
				return usageErr("--subject: %w", err)
			}
			k, err := openOrGenerate(ctx, key, alg)
			if err != nil {
				return err
			}
			defer k.Close()
			ca, err := certs.NewRootCA(k, dn, validity)
			if err != nil {
				return failedErr("%w", err)
			}
			return certOutput(g, out, certs.EncodePEM([]*x509.Certificate{ca.Cert}))
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "CA key: pkcs11: URI or key file (created when missing)")
	cmd.Flags().StringVar(&subject, "subject", "CN=signet throwaway CA,O=signet", "CA subject distinguished name")
	cmd.Flags().IntVar(&days, "days", 365, "validity in days")
	cmd.Flags().StringVar(&alg, "algorithm", "ecdsa-p256", "algorithm of a generated key file")
	cmd.Flags().StringVar(&out, "out", "", "write the certificate here instead of stdout")
	return cmd
}

// openOrGenerate opens ref, generating a key file first when ref is a path
// that does not exist.
func openOrGenerate(ctx context.Context, ref, alg string) (hsm.Key, error) {
	if !strings.HasPrefix(strings.ToLower(ref), "pkcs11:") {
		path := strings.TrimPrefix(strings.TrimPrefix(ref, "file://"), "file:")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			k, err := hsm.Generate(ctx, ref, alg)
			if err != nil {
				return nil, usageErr("generating CA key: %w", err)
			}
			return k, nil
		}
	}
	k, err := hsm.Open(ctx, ref)
	if err != nil {
		return nil, usageErr("opening CA key: %w", err)
	}
	return k, nil
}

func newCertIssueCmd(g *globals) *cobra.Command {
	var caCert, caKey, csrFile, key, subject, out string
	var sans []string
	var days int
	var doImport bool
	cmd := &cobra.Command{
		Use:   "issue --ca-cert FILE --ca-key KEYREF (--csr FILE | --key KEYREF) [--subject DN] [--import]",
		Short: "Issue a code-signing certificate from a throwaway CA (tests and demos)",
		Long: `Issue signs a certificate for a public key, taken from a CSR (whose
signature is checked) or from a key reference, with the CA made by
"signet cert ca". The certificate is what notation wants of a signer:
keyUsage digitalSignature (critical), extendedKeyUsage codeSigning only,
basicConstraints CA:false. It prints the chain, leaf to root; with --key and
--import it also stores the chain with the key.

The subject defaults to the CSR's; with --key, --subject is required.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if caCert == "" || caKey == "" {
				return usageErr("pass --ca-cert FILE and --ca-key KEYREF (from signet cert ca)")
			}
			if (csrFile == "") == (key == "") {
				return usageErr("pass exactly one of --csr FILE or --key KEYREF")
			}
			if doImport && key == "" {
				return usageErr("--import needs --key: a CSR names no key to store the chain with")
			}
			validity, err := parseValidity(days)
			if err != nil {
				return err
			}
			var dn *pkix.Name
			if subject != "" {
				n, err := certs.ParseDN(subject)
				if err != nil {
					return usageErr("--subject: %w", err)
				}
				dn = &n
			}
			var pub any
			if csrFile != "" {
				data, err := os.ReadFile(csrFile)
				if err != nil {
					return usageErr("reading CSR: %w", err)
				}
				csr, err := certs.ParseCSR(data)
				if err != nil {
					return usageErr("%s: %w", csrFile, err)
				}
				pub = csr.PublicKey
				if dn == nil {
					dn = &csr.Subject
				}
			} else {
				if dn == nil {
					return usageErr("pass --subject DN for the certificate")
				}
				if pub, err = hsm.LoadPublicKey(ctx, key); err != nil {
					return usageErr("loading key: %w", err)
				}
			}
			pemCA, err := os.ReadFile(caCert)
			if err != nil {
				return usageErr("reading CA certificate: %w", err)
			}
			k, err := hsm.Open(ctx, caKey)
			if err != nil {
				return usageErr("opening CA key: %w", err)
			}
			defer k.Close()
			ca, err := certs.LoadCA(pemCA, k)
			if err != nil {
				return usageErr("%s: %w", caCert, err)
			}
			chain, err := ca.IssueLeaf(pub, certs.LeafOptions{Subject: *dn, Validity: validity, SANs: sans})
			if err != nil {
				return failedErr("%w", err)
			}
			if doImport {
				if err := hsm.ImportCertificates(ctx, key, chain); err != nil {
					return failedErr("storing chain: %w", err)
				}
				printChain(g, "stored", chain)
				if out == "" {
					return nil
				}
			}
			return certOutput(g, out, certs.EncodePEM(chain))
		},
	}
	cmd.Flags().StringVar(&caCert, "ca-cert", "", "CA certificate PEM (from signet cert ca)")
	cmd.Flags().StringVar(&caKey, "ca-key", "", "CA key: pkcs11: URI or key file")
	cmd.Flags().StringVar(&csrFile, "csr", "", "certificate signing request PEM (from signet cert request)")
	cmd.Flags().StringVar(&key, "key", "", "signing key to certify: pkcs11: URI, key file or public key file")
	cmd.Flags().StringVar(&subject, "subject", "", "subject distinguished name (default: the CSR's)")
	cmd.Flags().IntVar(&days, "days", 365, "validity in days (never beyond the CA's)")
	cmd.Flags().StringSliceVar(&sans, "san", nil, "subject alternative name: e-mail, URI or DNS name (cosign's certificate identity)")
	cmd.Flags().BoolVar(&doImport, "import", false, "store the chain with --key as well")
	cmd.Flags().StringVar(&out, "out", "", "write the chain here instead of stdout")
	return cmd
}
