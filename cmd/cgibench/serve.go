package main

import (
	"context"
	"io"

	"github.com/spf13/pflag"

	"github.com/cgibench/cgibench/bench"
)

var serveCmd = &command{
	name:    "serve",
	summary: "Run one backend in the foreground until Ctrl-C, for any load generator to target.",
	example: "cgibench serve --strategy cgi --program python --listen 127.0.0.1:8080\n" +
		"wrk -c8 -d10s 'http://127.0.0.1:8080/app?name=value'",
	setup: func(fs *pflag.FlagSet) runFunc {
		var o bench.ServeOptions
		o.Flags(fs)
		return func(ctx context.Context, stdout, stderr io.Writer, _ []string) error {
			if err := o.Validate(); err != nil {
				return &usageError{err}
			}
			return bench.Serve(ctx, o, stdout, stderr)
		}
	},
}
