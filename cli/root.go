// Package cli owns signet's command line: it parses flags with cobra, builds
// one typed configuration per command, and hands it to the batch engine,
// the key package or the BuildKit client. No flag struct travels further
// down than this package.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/signet-project/signet/batch"
	"github.com/signet-project/signet/hsm"
	"github.com/signet-project/signet/registry"
)

// Exit codes shared by every command.
const (
	ExitOK     = 0
	ExitUsage  = 1 // usage or configuration error: nothing was attempted
	ExitFailed = 2 // some items failed; the rest were done and are listed
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr marks err as a usage or configuration error (exit 1).
func usageErr(format string, a ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, a...)}
}

// failedErr marks err as "some items failed" (exit 2).
func failedErr(format string, a ...any) error {
	return &exitError{code: ExitFailed, err: fmt.Errorf(format, a...)}
}

// globals are the flags every command shares, and what one run keeps.
type globals struct {
	insecure  []string
	logFormat string
	verbose   bool
	stdout    io.Writer
	stderr    io.Writer
	log       *slog.Logger
	// tokens keeps the PKCS#11 tokens that keys are loaded from open for
	// the run, so that a wrong PIN is tried once per token, not once per
	// key (see hsm.TokenHold).
	tokens *hsm.TokenHold
}

// tokenHold returns the options that load keys through the run's hold.
func (g *globals) tokenHold() []hsm.Option {
	if g.tokens == nil {
		return nil
	}
	return []hsm.Option{hsm.WithTokenHold(g.tokens)}
}

// Main runs signet with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if err := rejectKeyArguments(args, stdout); err != nil {
		fmt.Fprintln(stderr, "signet:", err)
		return ExitUsage
	}
	g := &globals{stdout: stdout, stderr: stderr, tokens: hsm.NewTokenHold()}
	defer g.tokens.Close()
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	// Errors quote user input (cobra's "unknown command", a reference that
	// did not parse), and a key URI there may carry its PIN. Given what the
	// error may quote, the scrubber cuts those PINs exactly and keeps the
	// rest of the message (such as which flag refused the value); any
	// other PIN it cuts to the end of its line.
	fmt.Fprintln(stderr, "signet:", batch.ScrubPIN(err.Error(), append(slices.Clone(args), os.Getenv("SIGNET_KEY"))...))
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// cobra's own errors (unknown flag, missing argument) are usage errors.
	return ExitUsage
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "signet",
		Short:         "Sign and verify whole catalogs of container images",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(logFormats, g.logFormat) {
				// A log shipper cannot parse text it was promised as JSON.
				return usageErr("--log-format %q: want one of %s", g.logFormat, strings.Join(logFormats, ", "))
			}
			g.log = newLogger(g.stderr, g.logFormat, g.verbose)
			return nil
		},
	}
	root.PersistentFlags().StringSliceVar(&g.insecure, "insecure-registry", nil,
		"registry host[:port] to reach over plain HTTP (loopback hosts always are)")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "auto", "log format: "+strings.Join(logFormats, ", "))
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "log debug detail")
	root.AddCommand(newSignCmd(g), newBatchCmd(g), newBuildCmd(g), newVerifyCmd(g), newKeysCmd(g), newDemoCmd(g), newPolicyCmd(g), newAttestCmd(g), newVerifyAttestationCmd(g), newCertCmd(g), newVersionCmd(g))
	return root
}

var logFormats = []string{"auto", "text", "json"}

// rejectKeyArguments refuses a key reference given as a positional
// argument, before anything can quote it: the usual cause is a forgotten
// --key (signet sign "$KEY" IMAGE), and every path that reports a bad
// argument (a failed reference, cobra's "unknown command", the report, the
// GitHub annotations) would print it with its PIN. The message names the
// argument by position only. In GitHub Actions its PIN is masked first, as
// a --key's is.
func rejectKeyArguments(args []string, stdout io.Writer) error {
	positional, ok := positionalArgs(args)
	if !ok {
		return nil // cobra reports the flag error, scrubbed by Main
	}
	var keys []string
	first := 0
	for i, a := range positional {
		if looksLikeKey(a) {
			keys = append(keys, a)
			if first == 0 {
				first = i + 1
			}
		}
	}
	if len(keys) == 0 {
		return nil
	}
	maskRefs(stdout, keys)
	return fmt.Errorf("argument %d looks like a key (pkcs11: URI); pass keys with --key or SIGNET_KEY", first)
}

// looksLikeKey reports whether a positional argument is a PKCS#11 key
// reference or carries a PIN.
func looksLikeKey(arg string) bool {
	l := strings.ToLower(arg)
	return strings.HasPrefix(l, "pkcs11:") || strings.Contains(l, "pin-value=")
}

// positionalArgs returns the positional arguments of the command args
// select, split from the flags as Execute splits them: a key that is the
// value of --key is not one. It parses on a command tree of its own, since
// parsing sets flags and list flags would collect their values twice. ok is
// false when the flags do not parse.
func positionalArgs(args []string) (positional []string, ok bool) {
	probe := newRoot(&globals{stdout: io.Discard, stderr: io.Discard})
	// An unknown command is an error of Find's, but the root is still
	// returned with every argument: "signet $KEY" has one positional.
	cmd, rest, _ := probe.Find(args)
	if cmd == nil {
		return nil, false
	}
	cmd.InitDefaultHelpFlag()
	if err := cmd.ParseFlags(rest); err != nil {
		return nil, false
	}
	return cmd.Flags().Args(), true
}

// newLogger logs text on a terminal and JSON lines elsewhere (CI logs,
// pipes), where a machine reads them.
func newLogger(w io.Writer, format string, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" || (format == "auto" && !isTerminal(w)) {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (g *globals) registry() (*registry.Client, error) {
	c, err := registry.New(registry.WithInsecure(g.insecure...), registry.WithUserAgent("signet/"+Version()))
	if err != nil {
		return nil, usageErr("configuring registry access: %w", err)
	}
	return c, nil
}
