// Command cgibench measures what it costs to run web programs the CGI way and its
// alternatives (FastCGI, an embedded interpreter, an in-process handler) on this machine.
//
//	cgibench run                      the main job: the default matrix, a table, results.json
//	cgibench serve --strategy cgi --program python
//	cgibench load http://127.0.0.1:8080/app --workload get --concurrency 8 --duration 10s
//	cgibench version
//
// main parses nothing itself: run does, and returns an error that main turns into an exit code.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailure     = 1   // the command ran and failed
	exitUsage       = 2   // bad flags or arguments
	exitInterrupted = 130 // stopped by Ctrl-C; partial results were written
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, os.Stderr, os.Args[1:])
	stop()
	os.Exit(exitCode(os.Stderr, err))
}

// exitCode prints err (one line) and maps it to an exit code.
func exitCode(stderr io.Writer, err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "cgibench: %v\n", err)
		return exitUsage
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "cgibench: interrupted; partial results were written")
		return exitInterrupted
	default:
		fmt.Fprintf(stderr, "cgibench: %v\n", err)
		return exitFailure
	}
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

var errHelp = errors.New("help shown")
