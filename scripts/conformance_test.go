package scripts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/textproto"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cgibench/cgibench/scripts/go/refapp"
	"github.com/cgibench/cgibench/strategies"
)

// conformanceCase is one request every reference app must answer exactly like refapp.
type conformanceCase struct {
	name string
	req  refapp.Request
	// trailing follows the body on stdin but is not counted in CONTENT_LENGTH: an app that
	// reads more than CONTENT_LENGTH bytes sees it.
	trailing []byte
	// withLength sets CONTENT_LENGTH even when the body is empty.
	withLength bool
}

// getOnly reports whether the sh app, which reads no body, can answer the case.
func (c conformanceCase) getOnly() bool {
	return c.req.Method == "GET" && len(c.req.Body) == 0 && !c.withLength
}

// env returns the CGI environment for the case: the meta-variables a server would set, and
// nothing of the test process's own environment.
func (c conformanceCase) env(p strategies.Program) []string {
	env := []string{
		"GATEWAY_INTERFACE=CGI/1.1",
		"SERVER_PROTOCOL=HTTP/1.1",
		"REQUEST_METHOD=" + c.req.Method,
		"QUERY_STRING=" + c.req.QueryString,
		"SCRIPT_NAME=/app",
		"SERVER_NAME=127.0.0.1",
		"SERVER_PORT=80",
		"PATH=/usr/bin:/bin",
	}
	if len(c.req.Body) > 0 || c.withLength {
		env = append(env, "CONTENT_LENGTH="+strconv.Itoa(len(c.req.Body)))
	}
	if c.req.ContentType != "" {
		env = append(env, "CONTENT_TYPE="+c.req.ContentType)
	}
	if c.req.Cookie != "" {
		env = append(env, "HTTP_COOKIE="+c.req.Cookie)
	}
	return append(env, p.Env...)
}

// multipartBody joins lines with CRLF.
func multipartBody(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n"))
}

// binaryFile is 1 MiB of pseudo-random bytes that holds every byte value.
var binaryFile = sync.OnceValue(func() []byte {
	rng := rand.New(rand.NewPCG(2024, 7))
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	for v := 0; v < 256; v++ { // make sure, whatever the generator does
		b[v*4096] = byte(v)
	}
	return b
})

// conformanceCases is the request set of the conformance tests.
func conformanceCases() []conformanceCase {
	const urlencoded = "application/x-www-form-urlencoded"
	bin := binaryFile()
	bigMultipart := bytes.Join([][]byte{
		multipartBody(
			"--AaB03x-cgibench",
			`Content-Disposition: form-data; name="title"`,
			"",
			"Grüße, \"world\" & more",
			"--AaB03x-cgibench",
			`Content-Disposition: form-data; name="blob"; filename="random data.bin"`,
			"Content-Type: application/octet-stream",
			"",
			""),
		bin,
		multipartBody(
			"",
			"--AaB03x-cgibench",
			`Content-Disposition: form-data; name="empty"; filename=""`,
			"Content-Type: application/octet-stream",
			"",
			"",
			"--AaB03x-cgibench",
			`Content-Disposition: form-data; name="tricky"; filename="t.txt"`,
			"",
			"line\r\n--AaB03x-cgibenc\r\n--\r\n",
			"--AaB03x-cgibench",
			`Content-Disposition: form-data; filename="nameless.txt"`,
			"",
			"ignored",
			"--AaB03x-cgibench",
			`Content-Disposition: form-data; name="title"`,
			"",
			"second",
			"--AaB03x-cgibench--",
			""),
	}, nil)
	return []conformanceCase{
		{name: "get-empty", req: refapp.Request{Method: "GET"}},
		{name: "get-utf8", req: refapp.Request{Method: "GET",
			QueryString: "name=J%C3%BCrgen&city=M%c3%bcnchen&%E2%82%AC=%F0%9F%98%80&raw=é\xff"}},
		{name: "get-plus", req: refapp.Request{Method: "GET", QueryString: "q=a+b+c&x=1%2B1&+=+%20+"}},
		{name: "get-empty-and-repeated-keys", req: refapp.Request{Method: "GET",
			QueryString: "&a=2&&a=1&=x&b=&a=0&&"}},
		{name: "get-keys-without-equals", req: refapp.Request{Method: "GET", QueryString: "flag&x=1=2&flag&Z"}},
		{name: "get-invalid-escapes", req: refapp.Request{Method: "GET",
			QueryString: "a=%zz&b=%4&c=100%&d=%%41&e=%g1&x%4=1&%=%&f=%4"}},
		{name: "get-sorting", req: refapp.Request{Method: "GET",
			QueryString: "b=1&B=2&a=3&%C3%A9=4&_=5&~=6&-=7&.=8&0=9&a=10&%00=11&%7F=12"}},
		{name: "get-work", req: refapp.Request{Method: "GET", QueryString: "work=12345"}},
		{name: "get-work-zero", req: refapp.Request{Method: "GET", QueryString: "work=0"}},
		{name: "get-work-leading-zeros", req: refapp.Request{Method: "GET", QueryString: "work=000000777"}},
		{name: "get-work-last-wins", req: refapp.Request{Method: "GET", QueryString: "work=x&work=300"}},
		{name: "get-work-invalid", req: refapp.Request{Method: "GET",
			QueryString: "work=100000001&work=1234567890&work=5&work=12a"}},
		{name: "get-status", req: refapp.Request{Method: "GET", QueryString: "status=404"}},
		{name: "get-status-599", req: refapp.Request{Method: "GET", QueryString: "status=599&x=1"}},
		{name: "get-status-204", req: refapp.Request{Method: "GET", QueryString: "status=204"}},
		{name: "get-status-304", req: refapp.Request{Method: "GET", QueryString: "status=304"}},
		{name: "get-status-out-of-range", req: refapp.Request{Method: "GET", QueryString: "status=199&status=600"}},
		{name: "get-status-not-three-digits", req: refapp.Request{Method: "GET", QueryString: "status=0404"}},
		{name: "get-status-last-wins", req: refapp.Request{Method: "GET", QueryString: "status=abc&stat%75s=418"}},
		{name: "get-status-last-invalid", req: refapp.Request{Method: "GET", QueryString: "status=500&status=50x"}},
		{name: "get-status-and-work", req: refapp.Request{Method: "GET",
			QueryString: "status=201&work=10&status=503"}},
		{name: "get-cookies", req: refapp.Request{Method: "GET",
			Cookie: "theme=dark; lang=en-US; visits=3; a=1; a=2"}},
		{name: "get-cookies-spaces", req: refapp.Request{Method: "GET",
			Cookie: "  a = b ;;\tc; d=e=f;\tg=%41+\t; =h ; i=; ;"}},
		{name: "get-visits-1", req: refapp.Request{Method: "GET", Cookie: "visits=1"}},
		{name: "get-visits-2", req: refapp.Request{Method: "GET", Cookie: "other=x; visits=2"}},
		{name: "get-visits-nine-digits", req: refapp.Request{Method: "GET", Cookie: "visits=999999999"}},
		{name: "get-visits-too-long", req: refapp.Request{Method: "GET", Cookie: "visits=0000000001"}},
		{name: "get-visits-leading-zeros", req: refapp.Request{Method: "GET", Cookie: "visits=007"}},
		{name: "get-visits-last-invalid", req: refapp.Request{Method: "GET", Cookie: "visits=5; visits=x"}},
		{name: "get-visits-last-valid", req: refapp.Request{Method: "GET", Cookie: "visits=x; visits=41"}},
		{name: "get-everything", req: refapp.Request{Method: "GET",
			QueryString: "z=%E2%9C%93&a=1&status=302&work=42", Cookie: "visits=8; sid=abc123"}},
		{name: "head", req: refapp.Request{Method: "HEAD", QueryString: "a=1"}},
		{name: "post-urlencoded", req: refapp.Request{Method: "POST", ContentType: urlencoded,
			QueryString: "q=1&work=5",
			Body:        []byte("name=J%C3%BCrgen+M&tags=a&tags=b&empty=&noeq&%zz=1&&=v"),
		}},
		{name: "post-urlencoded-trailing-bytes", req: refapp.Request{Method: "POST",
			ContentType: " Application/X-WWW-Form-Urlencoded ; charset=UTF-8",
			Body:        []byte("b=2&a=1")}, trailing: []byte("&extra=not-in-content-length\n")},
		{name: "post-urlencoded-empty", req: refapp.Request{Method: "POST", ContentType: urlencoded},
			withLength: true},
		{name: "post-no-body", req: refapp.Request{Method: "POST", QueryString: "a=1", ContentType: urlencoded}},
		{name: "post-other-type", req: refapp.Request{Method: "POST", ContentType: "text/plain",
			Body: []byte("a=1&b=2")}},
		{name: "put-urlencoded", req: refapp.Request{Method: "PUT", ContentType: urlencoded,
			Body: []byte("x=%FF%00")}},
		{name: "post-multipart-big", req: refapp.Request{Method: "POST",
			ContentType: `multipart/form-data; boundary="AaB03x-cgibench"`, QueryString: "work=3",
			Cookie: "visits=12", Body: bigMultipart}, trailing: []byte("\r\n--AaB03x-cgibench--\r\n")},
		{name: "post-multipart-unquoted-preamble", req: refapp.Request{Method: "POST",
			ContentType: "Multipart/Form-Data; charset=utf-8; BOUNDARY=xyz",
			Body: multipartBody("this is a preamble", "--xyz",
				"content-disposition:FORM-DATA; NAME=f; Filename=up.txt", "", "v\r\nw",
				"--xyz", "Content-Type: text/plain", "Content-Disposition: form-data; name=\"g\"", "",
				"text field", "--xyz--", "epilogue")}},
		{name: "post-multipart-truncated", req: refapp.Request{Method: "POST",
			ContentType: "multipart/form-data; boundary=xyz",
			Body: multipartBody("--xyz", "Content-Disposition: form-data; name=a", "", "1",
				"--xyz", "Content-Disposition: form-data; name=b", "", "2 and no end")}},
		{name: "post-multipart-malformed-part", req: refapp.Request{Method: "POST",
			ContentType: "multipart/form-data; boundary=B",
			Body: multipartBody("--B", "Content-Disposition: form-data; name=a", "--B", "",
				"no headers", "--B", "Content-Disposition: form-data; name=b", "", "2", "--B--")}},
		{name: "post-multipart-no-boundary", req: refapp.Request{Method: "POST",
			ContentType: "multipart/form-data", Body: multipartBody("--", "")}},
	}
}

// requireAll reports whether an unavailable program fails the test (CI sets it).
func requireAll() bool { return os.Getenv("CGIBENCH_REQUIRE_ALL") == "1" }

// testCatalog is shared by the tests of this package, so every program is built at most once
// per run; its cache is the user's (or $CGIBENCH_CACHE), so later runs reuse the builds.
var testCatalog = sync.OnceValue(func() *Catalog { return &Catalog{} })

// resolveOrSkip resolves a built-in program, skipping the test when it is unavailable here
// (failing instead under CGIBENCH_REQUIRE_ALL=1).
func resolveOrSkip(t *testing.T, name string, mode Mode) strategies.Program {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := testCatalog().Resolve(ctx, name, mode)
	var un *UnavailableError
	switch {
	case errors.As(err, &un) && requireAll():
		t.Fatalf("%v (CGIBENCH_REQUIRE_ALL=1)", un)
	case errors.As(err, &un):
		t.Skipf("%v (reason: %s; Debian package: %s)", un, un.Reason, un.Package)
	case err != nil:
		t.Fatalf("Resolve(%q, %s): %v", name, mode, err)
	}
	return p
}

// runCGI runs the program once on the case, the way a CGI server does, and returns its stdout.
// Stdin stays open until the program exits, so one that reads to EOF instead of exactly
// CONTENT_LENGTH bytes hangs and times out.
func runCGI(t *testing.T, p strategies.Program, c conformanceCase) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.Path, p.Args...)
	cmd.Env = c.env(p)
	cmd.Dir = p.Dir
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.Path, err)
	}
	go func() {
		// Errors are expected when the program exits without reading everything.
		stdin.Write(append(append([]byte(nil), c.req.Body...), c.trailing...))
	}()
	err = cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("%s timed out (reading stdin to EOF?); stderr: %s", p.Name, stderr.Bytes())
	}
	if err != nil {
		t.Fatalf("%s: %v; stderr: %s", p.Name, err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Logf("%s wrote on stderr: %s", p.Name, stderr.Bytes())
	}
	return stdout.Bytes()
}

// TestConformanceCGI runs every built-in CGI program on every request of the set and compares
// its stdout with refapp's, byte for byte.
func TestConformanceCGI(t *testing.T) {
	cases := conformanceCases()
	for _, name := range Names(CGI) {
		t.Run(name, func(t *testing.T) {
			p := resolveOrSkip(t, name, CGI)
			t.Parallel()
			for _, c := range cases {
				if !SupportsWorkload(name, "urlencoded") && !c.getOnly() {
					continue // the sh app serves GET only
				}
				t.Run(c.name, func(t *testing.T) {
					want := refapp.Handle(c.req)
					got := runCGI(t, p, c)
					if name == "php" {
						compareRewritten(t, &want, got, c.req.Method == "HEAD")
						return
					}
					if wantOut := want.CGI(); !bytes.Equal(got, wantOut) {
						t.Errorf("%s: stdout differs from refapp (- want, + got):\n%s", name, lineDiff(wantOut, got))
					}
				})
			}
		})
	}
}

// parsedResponse is a CGI or FastCGI response reduced to what every server keeps of it.
type parsedResponse struct {
	status      int
	contentType string
	setCookies  []string
	body        []byte
}

// parseCGIResponse splits a CGI response written with LF or CRLF line ends.
func parseCGIResponse(out []byte) (parsedResponse, error) {
	var r parsedResponse
	head, body, ok := bytes.Cut(out, []byte("\r\n\r\n"))
	if lf, lfBody, lfOK := bytes.Cut(out, []byte("\n\n")); lfOK && (!ok || len(lf) < len(head)) {
		head, body, ok = lf, lfBody, true
	}
	if !ok {
		return r, fmt.Errorf("no blank line after the headers in %q", out)
	}
	r.status, r.body = 200, body
	for _, line := range strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return r, fmt.Errorf("bad header line %q", line)
		}
		value = strings.TrimSpace(value)
		switch textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(name)) {
		case "Status":
			code, _, _ := strings.Cut(value, " ")
			n, err := strconv.Atoi(code)
			if err != nil {
				return r, fmt.Errorf("bad Status %q", value)
			}
			r.status = n
		case "Content-Type":
			r.contentType = value
		case "Set-Cookie":
			r.setCookies = append(r.setCookies, value)
		}
	}
	return r, nil
}

// expectedParsed is refapp's response reduced the same way.
func expectedParsed(want *refapp.Response) parsedResponse {
	r := parsedResponse{status: want.StatusCode(), body: want.Body}
	for _, f := range want.Header {
		switch f.Name {
		case "Content-Type":
			r.contentType = f.Value
		case "Set-Cookie":
			r.setCookies = append(r.setCookies, f.Value)
		}
	}
	return r
}

// compareRewritten compares a response whose headers the program's runtime wrote. php-cgi
// writes the headers itself (CRLF line ends, its own order and spelling, possibly extra ones),
// so for php the test compares the status, Content-Type and Set-Cookie values and the exact
// body. php-cgi also drops the body of a HEAD response itself, as an HTTP server would: with
// headless set, no body is expected.
func compareRewritten(t *testing.T, want *refapp.Response, out []byte, headless bool) {
	t.Helper()
	got, err := parseCGIResponse(out)
	if err != nil {
		t.Fatalf("parsing the response: %v", err)
	}
	exp := expectedParsed(want)
	if headless {
		exp.body = nil
	}
	if got.status != exp.status {
		t.Errorf("status = %d; want %d", got.status, exp.status)
	}
	if got.contentType != exp.contentType {
		t.Errorf("Content-Type = %q; want %q", got.contentType, exp.contentType)
	}
	if strings.Join(got.setCookies, "\n") != strings.Join(exp.setCookies, "\n") {
		t.Errorf("Set-Cookie = %q; want %q", got.setCookies, exp.setCookies)
	}
	if !bytes.Equal(got.body, exp.body) {
		t.Errorf("body differs from refapp (- want, + got):\n%s", lineDiff(exp.body, got.body))
	}
}

// lineDiff shows where two outputs part: the lines around the first difference, quoted so
// that stray bytes and line ends show.
func lineDiff(want, got []byte) string {
	wl := strings.SplitAfter(string(want), "\n")
	gl := strings.SplitAfter(string(got), "\n")
	first := 0
	for first < len(wl) && first < len(gl) && wl[first] == gl[first] {
		first++
	}
	var b strings.Builder
	from := max(first-3, 0)
	for i := from; i < first; i++ {
		fmt.Fprintf(&b, "  %q\n", wl[i])
	}
	// Show up to 8 lines of each side from the first difference.
	for i := first; i < len(wl) && i < first+8; i++ {
		fmt.Fprintf(&b, "- %q\n", wl[i])
	}
	for i := first; i < len(gl) && i < first+8; i++ {
		fmt.Fprintf(&b, "+ %q\n", gl[i])
	}
	fmt.Fprintf(&b, "(%d bytes wanted, %d got; first difference at line %d)", len(want), len(got), first+1)
	return b.String()
}

// randomCase builds a request from fragments chosen to hit the contract's edge cases in
// random combinations: escapes cut short, repeated separators, blanks around cookies,
// multipart bodies with misplaced delimiters and odd Content-Disposition headers. With
// getOnly it makes GET requests without a body (the sh app's share).
func randomCase(rng *rand.Rand, getOnly bool) conformanceCase {
	pick := func(fragments []string, max int) string {
		var b strings.Builder
		for n := rng.IntN(max + 1); n > 0; n-- {
			b.WriteString(fragments[rng.IntN(len(fragments))])
		}
		return b.String()
	}
	form := []string{"%", "+", "=", "&", "&", "a", "B", "z", "0", "9", "4", "f", "F", "g", "%4", "%41",
		"%c3%a9", "%FF", "%00", "%2B", "%3D", "%26", "status", "work", "status=404", "work=12",
		"status=2", "\xff", "é", " ", "~", "-", ".", "_", "*", "/", "?", ";", "\t"}
	cookie := []string{";", ";", " ", "\t", "=", "a", "b", "visits", "visits=3", "visits=0012",
		"visits=1234567890", "%41", "+", "é", "\xfe", "x=y", "\"q\"", ","}
	part := []string{"--XyZ", "\r\n", "\r\n", "--XyZ\r\n", "\r\n--XyZ\r\n", "\r\n--XyZ--",
		"Content-Disposition: form-data; name=\"f\"\r\n\r\n",
		"content-disposition:form-data;name=g;filename=\"a b\"\r\n\r\n",
		"Content-Disposition: form-data; filename=\"\"; name=h\r\n\r\n",
		"Content-Disposition: attachment; name=x\r\n\r\n", "X-Other: 1\r\n",
		" Content-Disposition : FORM-DATA ; NAME = \"k\" ; name=z\r\n\r\n",
		"Content-Disposition: form-data; name=\"q\r\n\r\n", "data", "\x00\xff", "--", "\r\n--XyZ-",
		"é", "=", ";", "\""}
	ctypes := []string{"application/x-www-form-urlencoded", " APPLICATION/x-www-form-urlencoded ;charset=x",
		"text/plain", "multipart/form-data; boundary=XyZ", `multipart/form-data; boundary="XyZ"`,
		"multipart/form-data;BOUNDARY = XyZ ; x=1", `multipart/form-data; boundary="XyZ`,
		"multipart/form-data; boundary=", `multipart/form-data; a="b;c"; boundary=XyZ`,
		"multipart/form-data; boundary=XyZ; boundary=other", "Multipart/Form-Data ; foo ; boundary=XyZ"}

	var c conformanceCase
	c.req.Method = "GET"
	if !getOnly {
		c.req.Method = []string{"GET", "POST", "POST", "HEAD", "PUT"}[rng.IntN(5)]
	}
	c.req.QueryString = pick(form, 25)
	c.req.Cookie = pick(cookie, 15)
	if getOnly {
		return c
	}
	c.req.ContentType = ctypes[rng.IntN(len(ctypes))]
	if strings.Contains(strings.ToLower(c.req.ContentType), "multipart") {
		c.req.Body = []byte(pick(part, 30))
	} else {
		c.req.Body = []byte(pick(form, 25))
	}
	if rng.IntN(4) == 0 {
		c.trailing = []byte("&trailing=1")
	}
	return c
}

// TestConformanceRandom runs every CGI program on seeded random requests (15 each, or
// $CGIBENCH_RANDOM_CASES) and compares with refapp like TestConformanceCGI.
func TestConformanceRandom(t *testing.T) {
	n := 15
	if s := os.Getenv("CGIBENCH_RANDOM_CASES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("CGIBENCH_RANDOM_CASES=%q: %v", s, err)
		}
	}
	for _, name := range Names(CGI) {
		t.Run(name, func(t *testing.T) {
			p := resolveOrSkip(t, name, CGI)
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(len(name)), 1))
			for i := 0; i < n; i++ {
				c := randomCase(rng, !SupportsWorkload(name, "urlencoded"))
				want := refapp.Handle(c.req)
				got := runCGI(t, p, c)
				if name == "php" {
					if !t.Run(strconv.Itoa(i), func(t *testing.T) {
						compareRewritten(t, &want, got, c.req.Method == "HEAD")
					}) {
						t.Logf("request %d: %+q", i, c.req)
					}
					continue
				}
				if wantOut := want.CGI(); !bytes.Equal(got, wantOut) {
					t.Errorf("request %d %+q: stdout differs from refapp (- want, + got):\n%s", i, c.req,
						lineDiff(wantOut, got))
				}
			}
		})
	}
}
