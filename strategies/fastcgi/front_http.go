package fastcgi

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The HTTP/1.x pieces of the event-loop front end (front_linux.go) that need no sockets: where
// a request's head ends, a chunked request body, and the bytes of a response.

// headEnd returns the length of the request head at the start of b, its blank line included,
// or -1 while the head is incomplete. Lines may end in CRLF or in a bare LF, as
// http.ReadRequest accepts.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case i < len(b) && b[i] == '\n':
			return i + 1
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i + 2
		}
	}
}

// errChunked is wrapped by every error about a malformed chunked request body.
var errChunked = errors.New("malformed chunked body")

// maxChunkLine bounds a chunk-size line (with its extensions) and a trailer line.
const maxChunkLine = 4096

// dechunker decodes a chunked request body (RFC 9112 §7.1) as its bytes arrive.
type dechunker struct {
	state int   // one of the ch* constants
	left  int64 // bytes of the current chunk still to come
}

const (
	chSize    = iota // at a chunk-size line
	chData           // in a chunk's data
	chDataEnd        // at the CRLF after a chunk's data
	chTrailer        // in the trailer section, at the start of a line
	chDone
)

// feed decodes what it can of p, appending the data to body, and returns how many bytes of p
// it used and whether the body has ended. A body that would grow past max is an error.
func (d *dechunker) feed(p []byte, body []byte, max int) (_ []byte, used int, done bool, err error) {
	for used < len(p) && d.state != chDone {
		rest := p[used:]
		switch d.state {
		case chData:
			n := int(min(d.left, int64(len(rest))))
			if len(body)+n > max {
				return body, used, false, fmt.Errorf("chunked request body over %d bytes", max)
			}
			body = append(body, rest[:n]...)
			used += n
			if d.left -= int64(n); d.left == 0 {
				d.state = chDataEnd
			}
			continue
		}
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			if len(rest) > maxChunkLine {
				return body, used, false, fmt.Errorf("%w: line over %d bytes", errChunked, maxChunkLine)
			}
			return body, used, false, nil
		}
		line := rest[:i]
		if d.state == chTrailer {
			line = bytes.TrimSuffix(line, []byte("\r"))
		} else {
			// A chunk-size line and the end of a chunk's data end in CRLF, not a bare LF,
			// with no other CR (RFC 9112 §7.1; net/http refuses the rest since
			// CVE-2025-22871: a front end and a program that split a body differently can be
			// made to see different requests).
			if i == 0 || line[i-1] != '\r' || bytes.IndexByte(line[:i-1], '\r') >= 0 {
				return body, used, false, fmt.Errorf("%w: a line not ended by CRLF", errChunked)
			}
			line = line[:i-1]
		}
		used += i + 1
		switch d.state {
		case chSize:
			size, _, _ := bytes.Cut(line, []byte(";"))
			size = bytes.TrimRight(size, " \t")
			n, perr := strconv.ParseInt(string(size), 16, 64)
			if perr != nil || n < 0 || len(size) == 0 || size[0] == '+' || size[0] == '-' {
				return body, used, false, fmt.Errorf("%w: chunk size %q", errChunked, size)
			}
			if int64(len(body))+n > int64(max) {
				return body, used, false, fmt.Errorf("chunked request body over %d bytes", max)
			}
			if n == 0 {
				d.state = chTrailer
			} else {
				d.left, d.state = n, chData
			}
		case chDataEnd:
			if len(line) != 0 {
				return body, used, false, fmt.Errorf("%w: chunk data longer than its size", errChunked)
			}
			d.state = chSize
		case chTrailer:
			if len(line) == 0 {
				d.state = chDone
			}
		}
	}
	return body, used, d.state == chDone, nil
}

// replyWriter is the http.ResponseWriter the event loop hands to the code it shares with the
// net/http front end (cgi.Header.WriteHeader, http.Error): it keeps the status, the fields and
// the body, which appendHead and the loop then send.
type replyWriter struct {
	header http.Header
	status int
	body   []byte
}

func (w *replyWriter) Header() http.Header { return w.header }

func (w *replyWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *replyWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, p...)
	return len(p), nil
}

// reset empties w for the next response, keeping its storage.
func (w *replyWriter) reset() {
	if w.header == nil {
		w.header = make(http.Header)
	}
	clear(w.header)
	w.status = 0
	w.body = w.body[:0]
}

// Framing of a response body, for appendHead.
const (
	bodyNone     = -1 // no body may follow (HEAD, 1xx, 204, 304), and none is announced
	bodyChunked  = -2 // Transfer-Encoding: chunked
	bodyUntilEOF = -3 // an HTTP/1.0 response whose end is the connection's
)

// bodyAllowed reports whether a response with this status may have a body (RFC 9110 §6.4.1).
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// headWriter writes response heads; it keeps what it can reuse from one to the next: the
// sorted field names and the Date field, formatted once a second.
type headWriter struct {
	keys    []string
	date    []byte
	dateSec int64
}

// headerValue makes a field value safe to send: a CR or LF in it would start a new field.
var headerValue = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ")

// appendHead appends a response's status line and fields to b. length is the Content-Length
// to send (0 or more) or one of the body* framings. The fields come from h, sorted by name as
// net/http sends them; a name mapped to nil is not sent (http.ResponseWriter's convention: a
// nil Date suppresses the one the server adds), and Content-Length, Transfer-Encoding and
// Connection are the front end's to set. is11 says the client speaks HTTP/1.1; closing, that
// the connection closes after the answer; keepAlive10, that an HTTP/1.0 client asked to keep
// it (which closing overrides).
func (hw *headWriter) appendHead(b []byte, now time.Time, is11 bool, status int, h http.Header, length int64, closing, keepAlive10 bool) []byte {
	if is11 {
		b = append(b, "HTTP/1.1 "...)
	} else {
		b = append(b, "HTTP/1.0 "...)
	}
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, "\r\n"...)

	hw.keys = hw.keys[:0]
	for k := range h {
		hw.keys = append(hw.keys, k)
	}
	slices.Sort(hw.keys)
	for _, k := range hw.keys {
		switch k {
		case "Content-Length", "Transfer-Encoding", "Connection":
			continue
		}
		for _, v := range h[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			if strings.ContainsAny(v, "\r\n") {
				v = headerValue.Replace(v)
			}
			b = append(b, strings.TrimSpace(v)...)
			b = append(b, "\r\n"...)
		}
	}
	if _, ok := h["Date"]; !ok {
		if sec := now.Unix(); sec != hw.dateSec || hw.date == nil {
			hw.dateSec = sec
			hw.date = now.UTC().AppendFormat(hw.date[:0], http.TimeFormat)
		}
		b = append(b, "Date: "...)
		b = append(b, hw.date...)
		b = append(b, "\r\n"...)
	}
	switch {
	case length >= 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, length, 10)
		b = append(b, "\r\n"...)
	case length == bodyChunked:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	switch {
	case closing:
		b = append(b, "Connection: close\r\n"...)
	case keepAlive10:
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	return append(b, "\r\n"...)
}

// appendChunk appends p to b as one chunk of a chunked body; an empty p appends nothing (the
// last chunk is lastChunk).
func appendChunk(b, p []byte) []byte {
	if len(p) == 0 {
		return b
	}
	b = strconv.AppendInt(b, int64(len(p)), 16)
	b = append(b, "\r\n"...)
	b = append(b, p...)
	return append(b, "\r\n"...)
}

// lastChunk ends a chunked body, with no trailer.
const lastChunk = "0\r\n\r\n"
