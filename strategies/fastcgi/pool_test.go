package fastcgi

import (
	"context"
	"io"
	"testing"
	"time"
)

// get sends a GET with the given query through d and returns the body and the error of the
// stream's end.
func get(t testing.TB, d Doer, query string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := d.Do(ctx, Request{Params: []string{
		"GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=GET", "SCRIPT_NAME=/app",
		"QUERY_STRING=" + query, "REQUEST_URI=/app?" + query, "SERVER_PROTOCOL=HTTP/1.1",
		"SERVER_NAME=localhost", "SERVER_PORT=80", "REMOTE_ADDR=127.0.0.1", "HTTP_HOST=localhost",
	}})
	if err != nil {
		return "", err
	}
	defer resp.Close()
	b, err := io.ReadAll(resp)
	return string(b), err
}

func TestPoolProbe(t *testing.T) {
	for _, prog := range []string{"go", "libfcgi"} {
		t.Run(prog, func(t *testing.T) {
			p := goWorker(t)
			if prog == "libfcgi" {
				p = libfcgiResponder(t)
			}
			logBuf := &syncBuffer{}
			pool, err := StartPool(context.Background(), PoolConfig{Program: p, Workers: 2, Logger: logBuf.logger()})
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			t.Logf("values %v pids %v", pool.Values(), pool.PIDs())
			for i := 0; i < 4; i++ {
				body, err := get(t, pool, "x=1")
				t.Logf("%q %v", body, err)
			}
			t.Log(logBuf.String())
		})
	}
}
