package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	usage   string // argument synopsis after the name
	example string
	minArgs int
	maxArgs int
	// setup registers the command's flags and returns the function that runs it with them.
	setup func(fs *pflag.FlagSet) runFunc
}

type runFunc func(ctx context.Context, stdout, stderr io.Writer, args []string) error

// commands is the table of subcommands, in the order --help lists them.
var commands = []*command{runCmd, startupCmd, reportCmd, loadCmd, serveCmd, programsCmd, versionCmd}

func run(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 && args[0] == "help" {
			return run(ctx, stdout, stderr, []string{args[1], "--help"})
		}
		printUsage(stdout)
		return nil
	}
	var cmd *command
	for _, c := range commands {
		if c.name == args[0] {
			cmd = c
		}
	}
	if cmd == nil {
		return usagef("unknown command %q: run 'cgibench --help' for the list", args[0])
	}
	fs := pflag.NewFlagSet(cmd.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, help is printed below
	fs.SortFlags = false
	fn := cmd.setup(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			printCommandHelp(stdout, cmd, fs)
			return errHelp
		}
		return usagef("%s: %v (see 'cgibench %s --help')", cmd.name, err, cmd.name)
	}
	rest := fs.Args()
	if len(rest) < cmd.minArgs || len(rest) > cmd.maxArgs {
		want := "no arguments"
		if cmd.usage != "" {
			want = "usage: cgibench " + cmd.name + " " + cmd.usage
		}
		return usagef("%s: got %d argument(s); %s", cmd.name, len(rest), want)
	}
	return fn(ctx, stdout, stderr, rest)
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "cgibench measures what it costs to run web programs the CGI way (a process per")
	fmt.Fprintln(w, "request) and its alternatives: FastCGI worker pools, an embedded interpreter, an")
	fmt.Fprintln(w, "in-process handler, on this machine.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: cgibench COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'cgibench COMMAND --help' for a command's flags and an example.")
}

func printCommandHelp(w io.Writer, c *command, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "Usage: cgibench %s [flags] %s\n\n%s\n\nFlags:\n", c.name, c.usage, c.summary)
	fmt.Fprint(w, fs.FlagUsages())
	if c.example != "" {
		fmt.Fprintf(w, "\nExample:\n  %s\n", strings.ReplaceAll(c.example, "\n", "\n  "))
	}
}
