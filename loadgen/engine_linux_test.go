package loadgen

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestConnectFallback: a connection tries the addresses of a name in turn until one accepts it;
// the one that did is tried first from then on.
func TestConnectFallback(t *testing.T) {
	w, resp := cannedResponse(t)
	srv, served := cannedServer(t, resp, true) // a connection per request
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	good := srv.ln.Addr().(*net.TCPAddr).Port
	var resolved int
	testHookResolve = func(context.Context, string, time.Duration) ([]syscall.Sockaddr, error) {
		resolved++
		return []syscall.Sockaddr{
			&syscall.SockaddrInet4{Port: refused, Addr: [4]byte{127, 0, 0, 1}},
			&syscall.SockaddrInet4{Port: good, Addr: [4]byte{127, 0, 0, 1}},
		}, nil
	}
	defer func() { testHookResolve = resolve }()
	res := mustRun(t, Config{URL: "http://localhost:1/", Workload: w, Requests: 10})
	checkErrors(t, res, nil)
	if res.Requests != 10 || served.Load() != 10 || res.Connections != 10 || resolved != 1 {
		t.Errorf("got %d requests, %d served, %d connections, %d resolutions; want 10, 10, 10, 1",
			res.Requests, served.Load(), res.Connections, resolved)
	}
}
