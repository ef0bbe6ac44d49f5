// Command hello is the target of scripts/bench-loadgen.sh: the cheapest useful HTTP/1.1 server the
// Go standard library makes, answering every request with the same small body, so that a load
// generator's own cost shows next to the server's.
package main

import (
	"flag"
	"log"
	"net/http"
	"strconv"
)

var body = []byte("Hello, world!\n")

func main() {
	listen := flag.String("listen", "127.0.0.1:8082", "address to serve on (loopback)")
	flag.Parse()
	length := strconv.Itoa(len(body))
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hd := w.Header()
		hd["Content-Type"] = []string{"text/plain; charset=utf-8"}
		hd["Content-Length"] = []string{length}
		w.Write(body)
	})
	log.Fatal(http.ListenAndServe(*listen, h))
}
