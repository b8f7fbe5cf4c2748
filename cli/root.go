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

	"github.com/spf13/cobra"
	"golang.org/x/term"

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

// globals are the flags every command shares.
type globals struct {
	insecure  []string
	logFormat string
	verbose   bool
	stdout    io.Writer
	stderr    io.Writer
	log       *slog.Logger
}

// Main runs signet with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "signet:", err)
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
			g.log = newLogger(g.stderr, g.logFormat, g.verbose)
			return nil
		},
	}
	root.PersistentFlags().StringSliceVar(&g.insecure, "insecure-registry", nil,
		"registry host[:port] to reach over plain HTTP (loopback hosts always are)")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "auto", "log format: auto, text or json")
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "log debug detail")
	root.AddCommand(newSignCmd(g), newBatchCmd(g), newBuildCmd(g), newVerifyCmd(g), newKeysCmd(g), newDemoCmd(g), newPolicyCmd(g), newAttestCmd(g), newVerifyAttestationCmd(g), newCertCmd(g), newVersionCmd(g))
	return root
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
