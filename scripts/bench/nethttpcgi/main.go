// Command nethttpcgi is the reference point of scripts/bench-cgi-host.sh: the smallest CGI host
// the Go standard library makes (net/http/cgi.Handler), serving one program.
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/cgi"
	"path/filepath"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to serve on")
	program := flag.String("program", "", "the CGI program")
	flag.Parse()
	if *program == "" {
		log.Fatal("nethttpcgi: --program is required")
	}
	h := &cgi.Handler{Path: *program, Root: "/app", Dir: filepath.Dir(*program)}
	log.Fatal(http.ListenAndServe(*listen, h))
}
