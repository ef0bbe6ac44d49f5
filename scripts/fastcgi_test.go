package scripts

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cgibench/cgibench/scripts/go/refapp"
	"github.com/cgibench/cgibench/strategies"
)

// This file holds a minimal FastCGI client (the FastCGI specification, version 1), just
// enough to drive the built-in FastCGI responders from tests: the real client lives in
// strategies/fastcgi.

const (
	fcgiBeginRequest    = 1
	fcgiAbortRequest    = 2
	fcgiEndRequest      = 3
	fcgiParams          = 4
	fcgiStdin           = 5
	fcgiStdout          = 6
	fcgiStderr          = 7
	fcgiGetValues       = 9
	fcgiGetValuesResult = 10
	fcgiUnknownType     = 11

	fcgiResponder  = 1
	fcgiAuthorizer = 2
	fcgiKeepConn   = 1

	fcgiRequestComplete = 0
	fcgiUnknownRole     = 3
)

type fcgiRecord struct {
	typ     uint8
	id      uint16
	content []byte
}

func writeFCGIRecord(w io.Writer, typ uint8, id uint16, content []byte) error {
	if len(content) > 65535 {
		return fmt.Errorf("record content of %d bytes", len(content))
	}
	pad := -len(content) & 7
	hdr := []byte{1, typ, byte(id >> 8), byte(id), byte(len(content) >> 8), byte(len(content)), byte(pad), 0}
	_, err := w.Write(append(append(hdr, content...), make([]byte, pad)...))
	return err
}

// writeFCGIStream writes data as records of one stream type, then the empty record ending it.
func writeFCGIStream(w io.Writer, typ uint8, id uint16, data []byte) error {
	for len(data) > 0 {
		n := min(len(data), 65535)
		if err := writeFCGIRecord(w, typ, id, data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return writeFCGIRecord(w, typ, id, nil)
}

func readFCGIRecord(r io.Reader) (fcgiRecord, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return fcgiRecord{}, err
	}
	if hdr[0] != 1 {
		return fcgiRecord{}, fmt.Errorf("record version %d", hdr[0])
	}
	n := int(binary.BigEndian.Uint16(hdr[4:6]))
	buf := make([]byte, n+int(hdr[6]))
	if _, err := io.ReadFull(r, buf); err != nil {
		return fcgiRecord{}, err
	}
	return fcgiRecord{typ: hdr[1], id: binary.BigEndian.Uint16(hdr[2:4]), content: buf[:n]}, nil
}

func encodeFCGIPairs(env []string) []byte {
	var b []byte
	putLen := func(n int) {
		if n < 128 {
			b = append(b, byte(n))
		} else {
			b = binary.BigEndian.AppendUint32(b, uint32(n)|1<<31)
		}
	}
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		putLen(len(name))
		putLen(len(value))
		b = append(b, name...)
		b = append(b, value...)
	}
	return b
}

func decodeFCGIPairs(b []byte) (map[string]string, error) {
	m := map[string]string{}
	getLen := func() (int, error) {
		if len(b) == 0 {
			return 0, errors.New("truncated pair")
		}
		if b[0] < 128 {
			n := int(b[0])
			b = b[1:]
			return n, nil
		}
		if len(b) < 4 {
			return 0, errors.New("truncated pair length")
		}
		n := int(binary.BigEndian.Uint32(b) &^ (1 << 31))
		b = b[4:]
		return n, nil
	}
	for len(b) > 0 {
		nl, err := getLen()
		if err != nil {
			return nil, err
		}
		vl, err := getLen()
		if err != nil {
			return nil, err
		}
		if nl+vl > len(b) {
			return nil, errors.New("pair longer than its record")
		}
		m[string(b[:nl])] = string(b[nl : nl+vl])
		b = b[nl+vl:]
	}
	return m, nil
}

// fcgiConn is a client connection to a FastCGI application.
type fcgiConn struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialFCGI(t *testing.T, sock string) *fcgiConn {
	t.Helper()
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	return &fcgiConn{conn: conn, r: bufio.NewReader(conn)}
}

type fcgiResult struct {
	stdout, stderr []byte
	appStatus      uint32
	protocolStatus uint8
}

// begin sends FCGI_BEGIN_REQUEST.
func (c *fcgiConn) begin(id uint16, role uint16, keep bool) error {
	body := make([]byte, 8)
	binary.BigEndian.PutUint16(body, role)
	if keep {
		body[2] = fcgiKeepConn
	}
	return writeFCGIRecord(c.conn, fcgiBeginRequest, id, body)
}

// request runs one responder request and reads its answer up to FCGI_END_REQUEST. The params
// go in several records of whole name-value pairs, as web servers send them (php-cgi parses
// each record on its own); with straddle set they are cut every few bytes instead, which the
// stream semantics of FCGI_PARAMS allow.
func (c *fcgiConn) request(id uint16, keep bool, params []string, stdin []byte, straddle bool) (fcgiResult, error) {
	var w bytes.Buffer
	if err := c.begin(id, fcgiResponder, keep); err != nil {
		return fcgiResult{}, err
	}
	var rec []byte
	for _, kv := range params {
		pair := encodeFCGIPairs([]string{kv})
		if len(rec)+len(pair) > 256 && len(rec) > 0 {
			writeFCGIRecord(&w, fcgiParams, id, rec)
			rec = nil
		}
		rec = append(rec, pair...)
	}
	for straddle && len(rec) > 7 {
		writeFCGIRecord(&w, fcgiParams, id, rec[:7])
		rec = rec[7:]
	}
	writeFCGIStream(&w, fcgiParams, id, rec)
	writeFCGIStream(&w, fcgiStdin, id, stdin)
	// Write while reading: a large body need not fit in the socket buffers.
	werr := make(chan error, 1)
	go func() {
		_, err := c.conn.Write(w.Bytes())
		werr <- err
	}()
	res, err := c.readResult(id)
	if err != nil {
		return res, err
	}
	return res, <-werr
}

// readResult collects STDOUT and STDERR until FCGI_END_REQUEST for id.
func (c *fcgiConn) readResult(id uint16) (fcgiResult, error) {
	var res fcgiResult
	for {
		rec, err := readFCGIRecord(c.r)
		if err != nil {
			return res, fmt.Errorf("reading the response: %w", err)
		}
		if rec.id != id {
			return res, fmt.Errorf("record type %d for request %d, want request %d", rec.typ, rec.id, id)
		}
		switch rec.typ {
		case fcgiStdout:
			res.stdout = append(res.stdout, rec.content...)
		case fcgiStderr:
			res.stderr = append(res.stderr, rec.content...)
		case fcgiEndRequest:
			if len(rec.content) < 8 {
				return res, fmt.Errorf("short FCGI_END_REQUEST")
			}
			res.appStatus = binary.BigEndian.Uint32(rec.content)
			res.protocolStatus = rec.content[4]
			return res, nil
		default:
			return res, fmt.Errorf("unexpected record type %d", rec.typ)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a child's stderr copier and the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startFastCGI starts the program the way a FastCGI process manager does: a listening Unix
// socket as its file descriptor 0. It returns the socket's path; the process is killed when
// the test ends.
func startFastCGI(t *testing.T, p strategies.Program) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cgibench-fcgi-") // short: socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "app.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	// The child keeps the socket; our copies go, and the path stays.
	ln.SetUnlinkOnClose(false)
	ln.Close()
	defer f.Close()

	cmd := exec.Command(p.Path, p.Args...)
	cmd.Stdin = f
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, p.Env...)
	cmd.Dir = p.Dir
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	// Its own group, dying with us: a test killed by its timeout leaves no worker behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.Path, err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if s := stderr.String(); s != "" {
			t.Logf("%s output besides FastCGI: %s", p.Name, s)
		}
	})
	return sock
}

// fastCGIParams is the request's CGI environment as FastCGI params, with the program's own
// variables (php-cgi needs SCRIPT_FILENAME and REDIRECT_STATUS as params).
func fastCGIParams(p strategies.Program, c conformanceCase) []string {
	var params []string
	for _, kv := range c.env(p) {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "PHP_FCGI_") {
			params = append(params, kv)
		}
	}
	return params
}

// headerRewriting lists the FastCGI programs whose headers are written by their runtime
// (php-cgi, net/http/fcgi), compared like php in the CGI test.
var headerRewriting = map[string]bool{"php": true, "go": true}

// TestFastCGI starts each built-in FastCGI program and runs the conformance requests over one
// kept-open connection (so leftover state from one request would show in the next), then one
// request on a connection without FCGI_KEEP_CONN, which the application must close.
func TestFastCGI(t *testing.T) {
	cases := conformanceCases()
	for _, name := range Names(FastCGI) {
		t.Run(name, func(t *testing.T) {
			p := resolveOrSkip(t, name, FastCGI)
			t.Parallel()
			sock := startFastCGI(t, p)
			conn := dialFCGI(t, sock)
			for i, c := range cases {
				stdin := append(append([]byte(nil), c.req.Body...), c.trailing...)
				if name == "go" || name == "php" {
					// Web servers never send more than CONTENT_LENGTH on FCGI_STDIN, and these
					// two rely on it: refapp.Handler reads the body to its end (net/http/fcgi
					// does not stop it at CONTENT_LENGTH), and php-cgi leaves the unread
					// records on a kept connection and then fails on them.
					stdin = c.req.Body
				}
				res, err := conn.request(uint16(i+1), true, fastCGIParams(p, c), stdin, false)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				if res.appStatus != 0 || res.protocolStatus != fcgiRequestComplete {
					t.Errorf("%s: appStatus %d, protocolStatus %d; want 0, 0 (stderr: %s)",
						c.name, res.appStatus, res.protocolStatus, res.stderr)
				}
				want := refapp.Handle(c.req)
				if headerRewriting[name] {
					// php-cgi drops a HEAD response's body; net/http/fcgi leaves that to the server.
					headless := name == "php" && c.req.Method == "HEAD"
					t.Run(c.name, func(t *testing.T) { compareRewritten(t, &want, res.stdout, headless) })
					continue
				}
				if wantOut := want.CGI(); !bytes.Equal(res.stdout, wantOut) {
					t.Errorf("%s: FCGI_STDOUT differs from refapp (- want, + got):\n%s",
						c.name, lineDiff(wantOut, res.stdout))
				}
			}

			// Without FCGI_KEEP_CONN the application closes the connection after the request.
			// (It serves one connection at a time: the first one goes first.)
			conn.conn.Close()
			once := dialFCGI(t, sock)
			c := cases[0]
			if _, err := once.request(1, false, fastCGIParams(p, c), nil, false); err != nil {
				t.Fatal(err)
			}
			if rec, err := readFCGIRecord(once.r); err == nil {
				t.Errorf("after a request without FCGI_KEEP_CONN: got record type %d; want the connection closed", rec.typ)
			}
		})
	}
}

// TestPythonFastCGIProtocol checks the parts of the protocol fcgi_app.py implements itself:
// FCGI_GET_VALUES, unknown management types, roles other than Responder, FCGI_ABORT_REQUEST.
// (The C and Perl responders get these from libfcgi, php and go from their runtimes.)
func TestPythonFastCGIProtocol(t *testing.T) {
	p := resolveOrSkip(t, "python", FastCGI)
	sock := startFastCGI(t, p)
	c := dialFCGI(t, sock)

	// FCGI_GET_VALUES answers the variables it knows, and only those.
	q := encodeFCGIPairs([]string{"FCGI_MAX_CONNS=", "FCGI_MAX_REQS=", "FCGI_MPXS_CONNS=", "FCGI_OTHER="})
	if err := writeFCGIRecord(c.conn, fcgiGetValues, 0, q); err != nil {
		t.Fatal(err)
	}
	rec, err := readFCGIRecord(c.r)
	if err != nil {
		t.Fatal(err)
	}
	if rec.typ != fcgiGetValuesResult || rec.id != 0 {
		t.Fatalf("FCGI_GET_VALUES: got record type %d, id %d; want %d, 0", rec.typ, rec.id, fcgiGetValuesResult)
	}
	values, err := decodeFCGIPairs(rec.content)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"FCGI_MAX_CONNS": "1", "FCGI_MAX_REQS": "1", "FCGI_MPXS_CONNS": "0"}
	if fmt.Sprint(values) != fmt.Sprint(want) {
		t.Errorf("FCGI_GET_VALUES_RESULT = %v; want %v", values, want)
	}

	// An unknown management record type is answered with FCGI_UNKNOWN_TYPE.
	if err := writeFCGIRecord(c.conn, 42, 0, []byte("??")); err != nil {
		t.Fatal(err)
	}
	if rec, err = readFCGIRecord(c.r); err != nil {
		t.Fatal(err)
	}
	if rec.typ != fcgiUnknownType || len(rec.content) != 8 || rec.content[0] != 42 {
		t.Errorf("unknown management type: got record type %d, content %v; want %d with type 42",
			rec.typ, rec.content, fcgiUnknownType)
	}

	// Another role ends the request with FCGI_UNKNOWN_ROLE; the kept connection still works.
	if err := c.begin(5, fcgiAuthorizer, true); err != nil {
		t.Fatal(err)
	}
	res, err := c.readResult(5)
	if err != nil {
		t.Fatal(err)
	}
	if res.protocolStatus != fcgiUnknownRole {
		t.Errorf("authorizer role: protocolStatus %d; want %d", res.protocolStatus, fcgiUnknownRole)
	}

	// An aborted request is ended at once and produces no output.
	if err := c.begin(6, fcgiResponder, true); err != nil {
		t.Fatal(err)
	}
	get := conformanceCases()[0]
	writeFCGIStream(c.conn, fcgiParams, 6, encodeFCGIPairs(fastCGIParams(p, get)))
	if err := writeFCGIRecord(c.conn, fcgiAbortRequest, 6, nil); err != nil {
		t.Fatal(err)
	}
	if res, err = c.readResult(6); err != nil {
		t.Fatal(err)
	}
	if len(res.stdout) != 0 || res.protocolStatus != fcgiRequestComplete {
		t.Errorf("aborted request: stdout %q, protocolStatus %d; want none, 0", res.stdout, res.protocolStatus)
	}

	// A CONTENT_LENGTH longer than the body is an error on FCGI_STDERR, not a response.
	params := append(fastCGIParams(p, get), "CONTENT_LENGTH=10", "CONTENT_TYPE=text/plain")
	if res, err = c.request(7, true, params, []byte("short"), false); err != nil {
		t.Fatal(err)
	}
	if res.appStatus == 0 || len(res.stdout) != 0 || len(res.stderr) == 0 {
		t.Errorf("short body: appStatus %d, stdout %q, stderr %q; want an error", res.appStatus, res.stdout, res.stderr)
	}

	// And the connection still serves, with params cut anywhere.
	if res, err = c.request(8, true, fastCGIParams(p, get), nil, true); err != nil {
		t.Fatal(err)
	}
	if wantOut := refapp.Handle(get.req); !bytes.Equal(res.stdout, wantOut.CGI()) {
		t.Errorf("after the protocol exchanges: FCGI_STDOUT %q; want %q", res.stdout, wantOut.CGI())
	}
}

// TestFastCGISmokeCgiFcgi drives the C and Perl responders with libfcgi's own client,
// cgi-fcgi (Debian package libfcgi-bin), a check of the test client above as much as of them.
func TestFastCGISmokeCgiFcgi(t *testing.T) {
	client, err := exec.LookPath("cgi-fcgi")
	if err != nil {
		t.Skip("cgi-fcgi not found; install the Debian package libfcgi-bin")
	}
	get := conformanceCase{req: refapp.Request{Method: "GET", QueryString: "b=2&a=%41&status=404",
		Cookie: "visits=2"}}
	post := conformanceCase{req: refapp.Request{Method: "POST", ContentType: "application/x-www-form-urlencoded",
		Body: []byte("x=1&y=%FF")}}
	for _, name := range []string{"c", "perl", "python"} {
		t.Run(name, func(t *testing.T) {
			p := resolveOrSkip(t, name, FastCGI)
			sock := startFastCGI(t, p)
			for _, c := range []conformanceCase{get, post, get} {
				cmd := exec.Command(client, "-bind", "-connect", sock)
				cmd.Env = fastCGIParams(p, c)
				cmd.Stdin = bytes.NewReader(c.req.Body)
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("cgi-fcgi: %v", err)
				}
				if want := refapp.Handle(c.req); !bytes.Equal(out, want.CGI()) {
					t.Errorf("%s %s: got (- want, + got):\n%s", c.req.Method, c.req.QueryString,
						lineDiff(want.CGI(), out))
				}
			}
		})
	}
}
