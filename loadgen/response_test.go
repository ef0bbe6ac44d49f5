package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadResponse(t *testing.T) {
	const hello = "hello, world\n"
	tests := []struct {
		name    string
		in      string
		expect  string // compared when not empty
		want    response
		wantErr error
	}{
		{
			name:   "content-length",
			in:     "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\n" + hello,
			expect: hello,
			want:   response{status: 200, bodyBytes: 13, match: true},
		},
		{
			name:   "header names in any case, LF line ends, no reason",
			in:     "HTTP/1.1 200\ncOnTeNt-LeNgTh:13 \n\n" + hello,
			expect: hello,
			want:   response{status: 200, bodyBytes: 13, match: true},
		},
		{
			name:   "body differs",
			in:     "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nhello, World\n",
			expect: hello,
			want:   response{status: 200, bodyBytes: 13},
		},
		{
			name:   "body shorter than expected",
			in:     "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
			expect: hello,
			want:   response{status: 200, bodyBytes: 5},
		},
		{
			name:   "body longer than expected",
			in:     "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n" + hello + "!",
			expect: hello,
			want:   response{status: 200, bodyBytes: 14},
		},
		{
			name:   "chunked with extension and trailer",
			in:     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=x\r\nhello\r\n8 \r\n, world\n\r\n0\r\nX-Trailer: 1\r\n\r\n",
			expect: hello,
			want:   response{status: 200, bodyBytes: 13, match: true},
		},
		{
			name:   "chunked wins over content-length and closes",
			in:     "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: CHUNKED\r\n\r\nD\r\n" + hello + "\r\n0\r\n\r\n",
			expect: hello,
			want:   response{status: 200, close: true, bodyBytes: 13, match: true},
		},
		{
			name: "transfer codings ending in chunked",
			in:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
			want: response{status: 200, bodyBytes: 1},
		},
		{
			name:   "other transfer coding reads to close",
			in:     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n" + hello,
			expect: hello,
			want:   response{status: 200, close: true, bodyBytes: 13, match: true},
		},
		{
			name:   "no length reads to close",
			in:     "HTTP/1.1 200 OK\r\n\r\n" + hello,
			expect: hello,
			want:   response{status: 200, close: true, bodyBytes: 13, match: true},
		},
		{
			name: "connection close",
			in:   "HTTP/1.1 500 Oops\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n",
			want: response{status: 500, close: true},
		},
		{
			name: "HTTP/1.0 closes by default",
			in:   "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
			want: response{status: 200, close: true},
		},
		{
			name: "HTTP/1.0 keep-alive",
			in:   "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
			want: response{status: 200},
		},
		{
			name: "interim responses skipped",
			in:   "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno",
			want: response{status: 404, bodyBytes: 2},
		},
		{
			name: "204 has no body whatever it says",
			in:   "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
			want: response{status: 204},
		},
		{
			name: "repeated equal content-length",
			in:   "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
			want: response{status: 200, bodyBytes: 1},
		},
		{name: "nothing at all", in: "", wantErr: io.EOF},
		{name: "cut in the status line", in: "HTTP/1.1 20", wantErr: io.ErrUnexpectedEOF},
		{name: "cut in the header", in: "HTTP/1.1 200 OK\r\nContent-Le", wantErr: io.ErrUnexpectedEOF},
		{name: "cut in the body", in: "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nhello", wantErr: io.ErrUnexpectedEOF},
		{name: "cut in a chunk", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nd\r\nhello", wantErr: io.ErrUnexpectedEOF},
		{name: "cut before the last chunk", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n", wantErr: io.ErrUnexpectedEOF},
		{name: "HTTP/2 status line", in: "HTTP/2 200 OK\r\n\r\n", wantErr: errStatusLine},
		{name: "status below 100", in: "HTTP/1.1 099 Low\r\n\r\n", wantErr: errStatusLine},
		{name: "status not digits", in: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: errStatusLine},
		{name: "status glued to reason", in: "HTTP/1.1 200OK\r\n\r\n", wantErr: errStatusLine},
		{name: "not HTTP", in: "SSH-2.0-OpenSSH_9.6\r\n", wantErr: errStatusLine},
		{name: "header without colon", in: "HTTP/1.1 200 OK\r\nContent-Length 1\r\n\r\nx", wantErr: errHeaderLine},
		{name: "space before colon", in: "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx", wantErr: errHeaderLine},
		{name: "folded header", in: "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n\r\n", wantErr: errObsFold},
		{name: "negative length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", wantErr: errContentLength},
		{name: "length list", in: "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx", wantErr: errContentLength},
		{name: "huge length digits", in: "HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000000000\r\n\r\n", wantErr: errContentLength},
		{name: "length over the body limit", in: "HTTP/1.1 200 OK\r\nContent-Length: 2000000000\r\n\r\n", wantErr: errBodyTooLarge},
		{name: "conflicting lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", wantErr: errTwoContentLengths},
		{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", wantErr: errChunkSize},
		{name: "chunk size overflow", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", wantErr: errChunkSize},
		{name: "chunk over the body limit", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\n", wantErr: errChunkSize},
		{name: "big chunk over the body limit", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40000001\r\n", wantErr: errBodyTooLarge},
		{name: "chunk longer than its size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n", wantErr: errChunkEnd},
		{name: "transfer coding in HTTP/1.0", in: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", wantErr: errTransferEncoding10},
		{name: "switching protocols", in: "HTTP/1.1 101 Switching Protocols\r\n\r\n", wantErr: errSwitching},
		{name: "endless interim", in: strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 20), wantErr: errTooManyInterim},
		{name: "line over the buffer", in: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", readBufferSize) + "\r\n\r\n", wantErr: errLineTooLong},
		{name: "header section over the limit", in: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Many: "+strings.Repeat("a", 1000)+"\r\n", 70) + "\r\n", wantErr: errHeaderTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				var rd io.Reader = strings.NewReader(tt.in)
				if oneByte {
					rd = iotest.OneByteReader(rd)
				}
				rr := newResponseReader(rd, readBufferSize)
				got, err := rr.readResponse([]byte(tt.expect), tt.expect != "")
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("one byte at a time %v: got error %v; want %v", oneByte, err, tt.wantErr)
				}
				if err == nil && got != tt.want {
					t.Errorf("one byte at a time %v: got %+v; want %+v", oneByte, got, tt.want)
				}
			}
		})
	}
}

// TestReadResponseKeepAlive reads responses back to back from one stream, as on a keep-alive
// connection, through a buffer small enough to make lines and bodies straddle refills.
func TestReadResponseKeepAlive(t *testing.T) {
	body := strings.Repeat("0123456789abcdef", 20) // 320 bytes
	var in strings.Builder
	var want []response
	for i := range 20 {
		switch i % 3 {
		case 0:
			in.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 320\r\nX-Pad: " + strings.Repeat("p", i) + "\r\n\r\n" + body)
		case 1:
			in.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
			for rest := body; rest != ""; rest = rest[min(len(rest), 7+i):] {
				n := min(len(rest), 7+i)
				in.WriteString(strconv.FormatInt(int64(n), 16) + "\r\n" + rest[:n] + "\r\n")
			}
			in.WriteString("0\r\n\r\n")
		case 2:
			in.WriteString("HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy")
			want = append(want, response{status: 503, bodyBytes: 4})
			continue
		}
		want = append(want, response{status: 200, bodyBytes: 320, match: true})
	}
	rr := newResponseReader(strings.NewReader(in.String()), 64)
	for i, w := range want {
		got, err := rr.readResponse([]byte(body), true)
		if err != nil {
			t.Fatalf("response %d: got error %v; want none", i, err)
		}
		if got != w {
			t.Fatalf("response %d: got %+v; want %+v", i, got, w)
		}
	}
	if _, err := rr.readResponse(nil, false); err != io.EOF {
		t.Errorf("after the last response: got error %v; want io.EOF", err)
	}
}

// TestReadResponseAllocs: parsing and comparing allocate nothing.
func TestReadResponseAllocs(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 100<<10)
	msg := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 102400\r\n\r\n")
	msg = append(msg, body...)
	chunked := []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n19000\r\n")
	chunked = append(append(chunked, body...), "\r\n0\r\n\r\n"...)
	rd := bytes.NewReader(nil)
	rr := newResponseReader(rd, readBufferSize)
	for _, in := range [][]byte{msg, chunked} {
		allocs := testing.AllocsPerRun(20, func() {
			rd.Reset(in)
			rr.reset(rd)
			if resp, err := rr.readResponse(body, true); err != nil || !resp.match {
				t.Fatalf("got %+v, %v; want a match", resp, err)
			}
		})
		if allocs != 0 && !raceEnabled {
			t.Errorf("got %v allocs per response; want 0", allocs)
		}
	}
}

func FuzzReadResponse(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.0 404 Not Found\r\n\r\ngone",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 500 X\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 2\nContent-Length: 2\n\nab",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\n X: folded\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// Reading whole or one byte at a time must give the same answer.
		rr := newResponseReader(bytes.NewReader(in), readBufferSize)
		got, err := rr.readResponse(nil, false)
		rr1 := newResponseReader(iotest.OneByteReader(bytes.NewReader(in)), readBufferSize)
		got1, err1 := rr1.readResponse(nil, false)
		if got != got1 || (err == nil) != (err1 == nil) || err != nil && err.Error() != err1.Error() {
			t.Fatalf("whole: %+v, %v; one byte at a time: %+v, %v", got, err, got1, err1)
		}
		if err != nil {
			return
		}
		if got.status < 200 || got.status > 999 {
			t.Fatalf("got status %d; want 200..999", got.status)
		}
		if got.bodyBytes > int64(len(in)) {
			t.Fatalf("got a body of %d bytes from %d bytes of input", got.bodyBytes, len(in))
		}
		// Where net/http also accepts the response, both must agree on status and body.
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(in)), nil)
		if err != nil || resp.StatusCode < 200 {
			return
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return
		}
		if resp.StatusCode != got.status {
			t.Fatalf("got status %d; net/http says %d", got.status, resp.StatusCode)
		}
		rr = newResponseReader(bytes.NewReader(in), readBufferSize)
		if got, err = rr.readResponse(body, true); err != nil || !got.match {
			t.Fatalf("got %+v, %v; want the body net/http read (%d bytes): %q", got, err, len(body), body)
		}
	})
}
