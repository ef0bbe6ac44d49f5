// Command fcgi is the reference app as a FastCGI responder using net/http/fcgi. Like every
// FastCGI program started by a process manager, it accepts on the listening socket passed as
// file descriptor 0 (FCGI_LISTENSOCK_FILENO).
package main

import (
	"fmt"
	"net/http/fcgi"
	"os"

	"github.com/cgibench/cgibench/scripts/go/refapp"
)

func main() {
	// fcgi.Serve with a nil listener accepts on fd 0. net/http/fcgi builds the
	// http.Request from the params, so the in-process handler serves unchanged.
	if err := fcgi.Serve(nil, refapp.Handler()); err != nil {
		fmt.Fprintln(os.Stderr, "fcgi:", err)
		os.Exit(1)
	}
}
