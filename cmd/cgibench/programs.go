package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/cgibench/cgibench/scripts"
)

var programsCmd = &command{
	name:    "programs",
	summary: "List the built-in reference apps, built or resolved on this machine, or why one is unavailable.",
	example: "cgibench programs\ncgibench programs --mode cgi --path c-static",
	setup: func(fs *pflag.FlagSet) runFunc {
		var mode, only, cache string
		fs.StringVar(&mode, "mode", "", "only this mode: cgi, fastcgi or embedded (default all)")
		fs.StringVar(&only, "path", "", "print only the path of this program (with --mode), or fail if it is unavailable")
		fs.StringVar(&cache, "cache", "", "folder for built apps (default $CGIBENCH_CACHE or the user cache folder)")
		return func(ctx context.Context, stdout, stderr io.Writer, _ []string) error {
			modes := []scripts.Mode{scripts.CGI, scripts.FastCGI, scripts.Embedded}
			if mode != "" {
				m := scripts.Mode(mode)
				if len(scripts.Names(m)) == 0 {
					return usagef("--mode %q: choose cgi, fastcgi or embedded", mode)
				}
				modes = []scripts.Mode{m}
			}
			cat := &scripts.Catalog{CacheDir: cache, Log: stderr}
			if only != "" {
				if mode == "" {
					return usagef("--path needs --mode")
				}
				p, err := cat.Resolve(ctx, only, modes[0])
				if err != nil {
					return err
				}
				fmt.Fprintln(stdout, strings.Join(p.Argv(), " "))
				return nil
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROGRAM\tMODE\tRUNS")
			for _, m := range modes {
				for _, name := range scripts.Names(m) {
					p, err := cat.Resolve(ctx, name, m)
					var un *scripts.UnavailableError
					switch {
					case errors.As(err, &un):
						fmt.Fprintf(tw, "%s\t%s\tunavailable: %s\n", name, m, un.Reason+"; install "+un.Package)
					case err != nil:
						return err
					case p.Script != "" && p.Path == "":
						fmt.Fprintf(tw, "%s\t%s\t%s (inside cgibench)\n", name, m, p.Script)
					default:
						fmt.Fprintf(tw, "%s\t%s\t%s\n", name, m, strings.Join(p.Argv(), " "))
					}
				}
			}
			return tw.Flush()
		}
	},
}
