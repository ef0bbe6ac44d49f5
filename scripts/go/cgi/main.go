// Command cgi is the reference app as a CGI program (see scripts/README.md).
package main

import (
	"fmt"
	"os"

	"github.com/cgibench/cgibench/scripts/go/refapp"
)

func main() {
	if err := refapp.ServeCGI(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
