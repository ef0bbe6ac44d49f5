package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cgibench/cgibench/scripts"
	"github.com/cgibench/cgibench/scripts/go/refapp"
	"github.com/cgibench/cgibench/strategies"
)

// conformanceCase is one request of the conformance set, in the terms refapp reads.
type conformanceCase struct {
	name    string
	method  string
	query   string   // QUERY_STRING, as sent
	ctype   string   // Content-Type, "" for none
	cookies []string // Cookie header lines, joined "; " into HTTP_COOKIE
	body    []byte
}

func (c conformanceCase) request() refapp.Request {
	return refapp.Request{Method: c.method, QueryString: c.query, ContentType: c.ctype,
		Cookie: strings.Join(c.cookies, "; "), Body: c.body}
}

// multipartBody builds a multipart/form-data body by hand, so that every byte is known: text
// fields (one with a CRLF inside), a 1 MiB binary file, a file with an empty filename, a part
// with no name (ignored) and a preamble line.
func multipartBody(boundary string) []byte {
	rnd := rand.New(rand.NewPCG(1, 2))
	file := make([]byte, 1<<20)
	for i := range file {
		file[i] = byte(rnd.Uint32())
	}
	var b bytes.Buffer
	part := func(disposition string, content []byte) {
		b.WriteString("--" + boundary + "\r\n")
		b.WriteString("Content-Disposition: " + disposition + "\r\n")
		b.WriteString("Content-Type: application/octet-stream\r\n\r\n")
		b.Write(content)
		b.WriteString("\r\n")
	}
	b.WriteString("preamble to ignore\r\n")
	part(`form-data; name="title"`, []byte("h\xc3\xa9llo w\xc3\xb6rld"))
	part("form-data; name=\"upload\"; filename=\"d\xc3\xa4ta file.bin\"", file)
	part(`form-data; name="note"`, []byte("line one\r\nline two"))
	part(`form-data; name="empty"; filename=""`, nil)
	part(`form-data; filename="nameless.txt"`, []byte("ignored"))
	part(`FORM-DATA; NAME=title`, []byte("second title"))
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes()
}

func conformanceCases() []conformanceCase {
	return []conformanceCase{
		{name: "GET plain", method: "GET", query: "a=1&b=2"},
		{name: "GET empty query", method: "GET"},
		{name: "GET UTF-8, plus, repeated and empty keys", method: "GET",
			query: "%C3%A9t%C3%A9=%E2%82%AC+%F0%9F%98%80&b=x+y&a=&&c&a=2&%zz=%4&sort=b&sort=a&=v"},
		{name: "GET cookies", method: "GET", query: "x=1",
			cookies: []string{"visits=41; theme=dark;  spaced = v ; novalue; =empty", "visits=7"}},
		{name: "GET bad visits cookie", method: "GET", cookies: []string{"visits=1234567890"}},
		{name: "GET work", method: "GET", query: "work=100000"},
		{name: "GET work leading zeros, last wins", method: "GET", query: "work=abc&work=0012345"},
		{name: "GET work too big", method: "GET", query: "work=999999999"},
		{name: "GET status", method: "GET", query: "status=404&status=418"},
		{name: "GET status 500", method: "GET", query: "status=500"},
		{name: "GET status 204 ignored", method: "GET", query: "status=204"},
		{name: "GET status bogus", method: "GET", query: "status=4040"},
		{name: "POST urlencoded", method: "POST", query: "q=1",
			ctype: "Application/X-WWW-Form-Urlencoded ; charset=UTF-8",
			body:  []byte("name=J%C3%BCrgen+M%C3%BCller&x=1&x=2&empty=&flag&&%2B=%2b&%=%")},
		{name: "POST multipart 1 MiB file", method: "POST", query: "upload=1",
			ctype:   `multipart/form-data; charset=utf-8; boundary="----cgibench-b0undary"`,
			cookies: []string{"visits=9"},
			body:    multipartBody("----cgibench-b0undary")},
		{name: "POST multipart unquoted boundary", method: "POST",
			ctype: "Multipart/Form-Data; BOUNDARY=xyz", body: multipartBody("xyz")[:2000]},
		{name: "POST no body", method: "POST", ctype: "application/x-www-form-urlencoded"},
		{name: "PUT text body", method: "PUT", query: "k=v", ctype: "text/plain", body: []byte("not a form")},
	}
}

// luaApp resolves the Lua app through the catalog: the embedded script and the CGI program.
func luaApp(t testing.TB, mode scripts.Mode) strategies.Program {
	t.Helper()
	c := &scripts.Catalog{CacheDir: t.TempDir()}
	p, err := c.Resolve(context.Background(), "lua", mode)
	var un *scripts.UnavailableError
	if errors.As(err, &un) && os.Getenv("CGIBENCH_REQUIRE_ALL") != "1" {
		t.Skipf("skipping: %v (set CGIBENCH_REQUIRE_ALL=1 to fail instead)", err)
	}
	if err != nil {
		t.Fatalf("resolving lua (%s): %v", mode, err)
	}
	return p
}

// TestConformance sends the request set to the embedded strategy over HTTP and compares
// status, Content-Type, Set-Cookie and body with the Go oracle.
func TestConformance(t *testing.T) {
	prog := luaApp(t, scripts.Embedded)
	logs := &syncBuffer{}
	b, err := Strategy{}.Start(context.Background(), strategies.Config{Program: prog, Workers: 2, Log: logs})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			t.Logf("backend log:\n%s", logs)
		}
	}()
	client := &http.Client{Timeout: 30 * time.Second}
	for _, c := range conformanceCases() {
		t.Run(c.name, func(t *testing.T) {
			want := refapp.Handle(c.request())
			url := b.URL()
			if c.query != "" {
				url += "?" + c.query
			}
			req, err := http.NewRequest(c.method, url, bytes.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			req.Header["Cookie"] = c.cookies
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := resp.StatusCode, want.StatusCode(); got != want {
				t.Errorf("status: got %d; want %d", got, want)
			}
			for _, name := range []string{"Content-Type", "Set-Cookie"} {
				var wantValues []string
				for _, f := range want.Header {
					if f.Name == name {
						wantValues = append(wantValues, f.Value)
					}
				}
				if got := resp.Header.Values(name); !slicesEqual(got, wantValues) {
					t.Errorf("%s: got %q; want %q", name, got, wantValues)
				}
			}
			if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(len(want.Body)) {
				t.Errorf("Content-Length: got %q; want %d", got, len(want.Body))
			}
			if !bytes.Equal(body, want.Body) {
				t.Errorf("body:\ngot  %q\nwant %q", clipBytes(body), clipBytes(want.Body))
			}
		})
	}
}

// TestConformanceCGI runs the same app.lua as a CGI program under the system Lua (through
// cgi.lua) and compares its stdout, byte for byte, with the oracle's CGI output.
func TestConformanceCGI(t *testing.T) {
	prog := luaApp(t, scripts.CGI)
	t.Logf("running %s", strings.Join(prog.Argv(), " "))
	for _, c := range conformanceCases() {
		t.Run(c.name, func(t *testing.T) {
			resp := refapp.Handle(c.request())
			want := resp.CGI()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, prog.Path, prog.Args...)
			cmd.Dir = prog.Dir
			cmd.Env = append([]string{
				"PATH=/usr/local/bin:/usr/bin:/bin",
				"GATEWAY_INTERFACE=CGI/1.1",
				"SERVER_PROTOCOL=HTTP/1.1",
				"REQUEST_METHOD=" + c.method,
				"QUERY_STRING=" + c.query,
				"SCRIPT_NAME=" + strategies.AppPath,
			}, prog.Env...)
			if c.ctype != "" {
				cmd.Env = append(cmd.Env, "CONTENT_TYPE="+c.ctype)
			}
			if len(c.cookies) > 0 {
				cmd.Env = append(cmd.Env, "HTTP_COOKIE="+strings.Join(c.cookies, "; "))
			}
			if len(c.body) > 0 {
				cmd.Env = append(cmd.Env, "CONTENT_LENGTH="+strconv.Itoa(len(c.body)))
			}
			cmd.Stdin = bytes.NewReader(c.body)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			got, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v; stderr: %s", cmd, err, stderr.Bytes())
			}
			if !bytes.Equal(got, want) {
				t.Errorf("CGI output:\ngot  %q\nwant %q", clipBytes(got), clipBytes(want))
			}
		})
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func clipBytes(b []byte) string {
	if len(b) > 2000 {
		return fmt.Sprintf("%s… (%d bytes)", b[:2000], len(b))
	}
	return string(b)
}
