package refapp

import (
	"bytes"
	"fmt"
	"hash/adler32"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

const (
	ctypeHeader = "Content-Type: text/plain; charset=utf-8\n"
	firstVisit  = "Set-Cookie: visits=1; Path=/\n"
)

// TestHandle checks the contract (scripts/README.md) on its edge cases, with expected outputs
// written out by hand.
func TestHandle(t *testing.T) {
	mp := func(parts ...string) []byte { return []byte(strings.Join(parts, "\r\n")) }
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{
			name: "no query",
			req:  Request{Method: "GET"},
			want: ctypeHeader + firstVisit + "\nmethod=GET\n",
		},
		{
			name: "percent-encoded UTF-8, either case of hex, sorted by escaped key",
			req:  Request{Method: "GET", QueryString: "name=J%c3%bcrgen&%E2%82%AC=1&Z=2"},
			want: ctypeHeader + firstVisit + "\nmethod=GET\n" +
				"query.%E2%82%AC=1\nquery.Z=2\nquery.name=J%C3%BCrgen\n",
		},
		{
			name: "raw bytes are escaped",
			req:  Request{Method: "GET", QueryString: "k=\xff\x00é"},
			want: ctypeHeader + firstVisit + "\nmethod=GET\nquery.k=%FF%00%C3%A9\n",
		},
		{
			name: "plus is a space, %2B a plus",
			req:  Request{Method: "GET", QueryString: "q=a+b%2Bc&+=+"},
			want: ctypeHeader + firstVisit + "\nmethod=GET\nquery.%20=%20\nquery.q=a%20b%2Bc\n",
		},
		{
			name: "invalid escapes are kept",
			req:  Request{Method: "GET", QueryString: "a=%zz&b=%4&c=100%&d=%%41&e=%g1"},
			want: ctypeHeader + firstVisit + "\nmethod=GET\n" +
				"query.a=%25zz\nquery.b=%254\nquery.c=100%25\nquery.d=%25A\nquery.e=%25g1\n",
		},
		{
			name: "escape cut by = or & is literal",
			req:  Request{Method: "GET", QueryString: "x%4=1&y=%4&z"},
			want: ctypeHeader + firstVisit + "\nmethod=GET\nquery.x%254=1\nquery.y=%254\nquery.z=\n",
		},
		{
			name: "empty pieces skipped, repeated and empty keys kept in order",
			req:  Request{Method: "GET", QueryString: "&a=2&&a=1&=x&b=&a=0&"},
			want: ctypeHeader + firstVisit + "\nmethod=GET\n" +
				"query.=x\nquery.a=2\nquery.a=1\nquery.a=0\nquery.b=\n",
		},
		{
			name: "keys with no = and values with more",
			req:  Request{Method: "GET", QueryString: "flag&x=1=2&flag"},
			want: ctypeHeader + firstVisit + "\nmethod=GET\nquery.flag=\nquery.flag=\nquery.x=1%3D2\n",
		},
		{
			name: "status from the last status value",
			req:  Request{Method: "GET", QueryString: "status=abc&stat%75s=404"},
			want: "Status: 404 Set By Query\n" + ctypeHeader + firstVisit +
				"\nmethod=GET\nquery.status=abc\nquery.status=404\n",
		},
		{
			name: "work with leading zeros; MINSTD's 10000th value",
			req:  Request{Method: "GET", QueryString: "work=000010000"},
			want: ctypeHeader + firstVisit + "\nmethod=GET\nquery.work=000010000\nwork=10000;result=399268537\n",
		},
		{
			name: "work=0",
			req:  Request{Method: "GET", QueryString: "work=0"},
			want: ctypeHeader + firstVisit + "\nmethod=GET\nquery.work=0\nwork=0;result=1\n",
		},
		{
			name: "work over the limit, too long, or not the last value: no line",
			req:  Request{Method: "GET", QueryString: "work=100000001&work=1234567890&work=5&work=x"},
			want: ctypeHeader + firstVisit + "\nmethod=GET\n" +
				"query.work=100000001\nquery.work=1234567890\nquery.work=5\nquery.work=x\n",
		},
		{
			name: "cookies trimmed, undecoded, sorted stably; visits from the last one",
			req:  Request{Method: "GET", Cookie: "visits=9; a = b ;; c; d=e=f;\tvisits=41\t; x=%41+"},
			want: ctypeHeader + "Set-Cookie: visits=42; Path=/\n\nmethod=GET\n" +
				"cookie.a%20=%20b\ncookie.d=e%3Df\ncookie.visits=9\ncookie.visits=41\ncookie.x=%2541%2B\n",
		},
		{
			name: "invalid last visits counts as none",
			req:  Request{Method: "GET", Cookie: "visits=5; visits=1234567890"},
			want: ctypeHeader + firstVisit + "\nmethod=GET\ncookie.visits=5\ncookie.visits=1234567890\n",
		},
		{
			name: "nine-digit visits",
			req:  Request{Method: "GET", Cookie: "visits=999999999"},
			want: ctypeHeader + "Set-Cookie: visits=1000000000; Path=/\n\nmethod=GET\ncookie.visits=999999999\n",
		},
		{
			name: "urlencoded body with parameters in the media type",
			req: Request{Method: "POST", ContentType: " Application/X-WWW-Form-Urlencoded ; charset=UTF-8",
				QueryString: "q=1", Body: []byte("b=2&a=%41+")},
			want: ctypeHeader + firstVisit + "\nmethod=POST\nquery.q=1\nform.a=A%20\nform.b=2\n",
		},
		{
			name: "other media types leave the body alone",
			req:  Request{Method: "POST", ContentType: "text/plain", Body: []byte("a=1")},
			want: ctypeHeader + firstVisit + "\nmethod=POST\n",
		},
		{
			name: "multipart, quoted boundary: field, files (one with an empty filename), part without name",
			req: Request{Method: "POST", ContentType: `multipart/form-data; boundary="b0 und"`, Body: mp(
				"--b0 und",
				`Content-Disposition: form-data; name="field"`,
				"",
				"hello world",
				"--b0 und",
				`Content-Disposition: form-data; name="up"; filename="a b.txt"`,
				"Content-Type: text/plain",
				"",
				"abc",
				"--b0 und",
				`Content-Disposition: form-data; name="empty"; filename=""`,
				"",
				"",
				"--b0 und",
				`Content-Disposition: form-data; filename="nameless"`,
				"",
				"zzz",
				"--b0 und--",
				"")},
			want: ctypeHeader + firstVisit + "\nmethod=POST\nform.field=hello%20world\n" +
				"file.empty=;size=0;adler32=00000001\nfile.up=a%20b.txt;size=3;adler32=024d0127\n",
		},
		{
			name: "multipart, unquoted boundary, preamble, header names and values in any case",
			req: Request{Method: "POST", ContentType: "Multipart/Form-Data; charset=x; BOUNDARY=xyz",
				Body: mp("preamble", "--xyz", "content-disposition:FORM-DATA; NAME=f", "", "v\r\nw",
					"--xyz--", "epilogue")},
			want: ctypeHeader + firstVisit + "\nmethod=POST\nform.f=v%0D%0Aw\n",
		},
		{
			name: "multipart truncated: the complete parts count",
			req: Request{Method: "POST", ContentType: "multipart/form-data; boundary=xyz",
				Body: mp("--xyz", "Content-Disposition: form-data; name=a", "", "1",
					"--xyz", "Content-Disposition: form-data; name=b", "", "2 and no end")},
			want: ctypeHeader + firstVisit + "\nmethod=POST\nform.a=1\n",
		},
		{
			name: "multipart without boundary parameter",
			req:  Request{Method: "POST", ContentType: "multipart/form-data", Body: mp("--", "")},
			want: ctypeHeader + firstVisit + "\nmethod=POST\n",
		},
		{
			name: "multipart part without blank line is skipped, later parts count",
			req: Request{Method: "POST", ContentType: "multipart/form-data; boundary=B",
				Body: mp("--B", "Content-Disposition: form-data; name=a", "--B",
					"Content-Disposition: form-data; name=b", "", "2", "--B--")},
			want: ctypeHeader + firstVisit + "\nmethod=POST\nform.b=2\n",
		},
		{
			name: "method is escaped",
			req:  Request{Method: "M SEARCH"},
			want: ctypeHeader + firstVisit + "\nmethod=M%20SEARCH\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := Handle(tt.req)
			if got := string(resp.CGI()); got != tt.want {
				t.Errorf("Handle(%+v).CGI():\ngot  %q\nwant %q", tt.req, got, tt.want)
			}
		})
	}
}

func TestStatusRules(t *testing.T) {
	tests := []struct {
		query string
		want  int // 0: no Status header
	}{
		{"status=404", 404},
		{"status=200", 200},
		{"status=599", 599},
		{"status=201", 201},
		{"status=204", 0},
		{"status=304", 0},
		{"status=199", 0},
		{"status=600", 0},
		{"status=40", 0},
		{"status=0404", 0},
		{"status=+404", 0},
		{"status=404&status=", 0},
		{"status=500&status=503", 503},
		{"status", 0},
	}
	for _, tt := range tests {
		resp := Handle(Request{Method: "GET", QueryString: tt.query})
		if resp.Status != tt.want {
			t.Errorf("%s: Status = %d; want %d", tt.query, resp.Status, tt.want)
		}
		hasHeader := len(resp.Header) > 0 && resp.Header[0].Name == "Status"
		if hasHeader != (tt.want != 0) {
			t.Errorf("%s: Status header present = %v; want %v", tt.query, hasHeader, tt.want != 0)
		}
		wantCode := tt.want
		if wantCode == 0 {
			wantCode = 200
		}
		if resp.StatusCode() != wantCode {
			t.Errorf("%s: StatusCode() = %d; want %d", tt.query, resp.StatusCode(), wantCode)
		}
	}
}

func TestAdler32(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{nil, "00000001"},
		{[]byte("abc"), "024d0127"},
		{[]byte("Wikipedia"), "11e60398"},
	}
	for _, tt := range tests {
		if got := adlerHex(tt.in); got != tt.want {
			t.Errorf("adlerHex(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
	// Long inputs exercise the deferred modulo: compare with hash/adler32.
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{5551, 5552, 5553, 1 << 20} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		ones := bytes.Repeat([]byte{0xff}, n)
		for _, in := range [][]byte{b, ones} {
			want := fmt.Sprintf("%08x", adler32.Checksum(in))
			if got := adlerHex(in); got != want {
				t.Errorf("adlerHex(%d bytes) = %s; want %s", n, got, want)
			}
		}
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "3", "QUERY_STRING": "a=1"}
	req, err := FromEnv(func(k string) string { return env[k] }, strings.NewReader("abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if string(req.Body) != "abc" {
		t.Errorf("Body = %q; want %q (exactly CONTENT_LENGTH bytes)", req.Body, "abc")
	}
	env["CONTENT_LENGTH"] = "x"
	if _, err := FromEnv(func(k string) string { return env[k] }, strings.NewReader("")); err == nil {
		t.Errorf("CONTENT_LENGTH=x: got no error")
	}
}

func FuzzHandle(f *testing.F) {
	f.Add("GET", "a=1&b=%41+&status=404&work=3", "", "visits=3; a=b", []byte(nil))
	f.Add("POST", "", "application/x-www-form-urlencoded", "", []byte("x=%zz&&y"))
	f.Add("POST", "", `multipart/form-data; boundary="B"`, "",
		[]byte("--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\n\x00\xff\r\n--B--\r\n"))
	f.Add("POST", "", "multipart/form-data; boundary=B", "", []byte("pre\r\n--B\r\n\r\n--B"))
	f.Fuzz(func(t *testing.T, method, query, ctype, cookie string, body []byte) {
		req := Request{Method: method, QueryString: query, ContentType: ctype, Cookie: cookie, Body: body}
		resp := Handle(req)
		for i, c := range resp.Body {
			if c >= utf8.RuneSelf {
				t.Fatalf("body byte %d is %#x, not ASCII: %q", i, c, resp.Body)
			}
		}
		if len(resp.Body) > 0 && resp.Body[len(resp.Body)-1] != '\n' {
			t.Fatalf("body does not end in a newline: %q", resp.Body)
		}
		again := Handle(req)
		if !bytes.Equal(again.CGI(), resp.CGI()) {
			t.Fatalf("Handle is not deterministic for %+v", req)
		}
		if resp.Status != 0 && (resp.Status < 200 || resp.Status > 599) {
			t.Fatalf("Status = %d", resp.Status)
		}
	})
}
