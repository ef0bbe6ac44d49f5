package loadgen

import (
	"bytes"
	"io"
)

// Limits on what a response may make the reader do. The buffer is the only memory a response
// ever gets; everything past it is streamed.
const (
	readBufferSize  = 32 << 10 // also the longest status, header or chunk-size line
	maxHeaderBytes  = 64 << 10 // status line and header fields of one response; or its trailers
	maxChunkLine    = 4 << 10  // a chunk-size line with its extensions
	maxBodyBytes    = 1 << 30
	maxInterim      = 8  // 1xx responses skipped before the final one
	maxLengthDigits = 18 // Content-Length digits (fits in int64)
	maxChunkDigits  = 15 // hex digits of a chunk size (fits in int64)
)

// protocolError is a response that does not follow HTTP/1.1.
type protocolError string

func (e protocolError) Error() string { return "loadgen: bad response: " + string(e) }

const (
	errLineTooLong        = protocolError("line longer than the read buffer (32 KiB)")
	errHeaderTooLarge     = protocolError("header section over 64 KiB")
	errBodyTooLarge       = protocolError("body over 1 GiB")
	errStatusLine         = protocolError("malformed status line")
	errHeaderLine         = protocolError("malformed header field")
	errObsFold            = protocolError("obsolete header line folding")
	errContentLength      = protocolError("malformed Content-Length")
	errTwoContentLengths  = protocolError("conflicting Content-Length fields")
	errTransferEncoding10 = protocolError("Transfer-Encoding in an HTTP/1.0 response")
	errChunkSize          = protocolError("malformed chunk size")
	errChunkEnd           = protocolError("chunk data not followed by CRLF")
	errSwitching          = protocolError("101 Switching Protocols to a request that asked for none")
	errTooManyInterim     = protocolError("too many 1xx responses")
	errNoProgress         = protocolError("reader returned no data and no error")
)

// response is what the load generator keeps of a response.
type response struct {
	status    int
	close     bool  // the connection must not carry another request
	bodyBytes int64 // body length after any chunked decoding
	match     bool  // the body equals the expected one (only when it was compared)
}

// head is the part of the response header that decides how to read the body.
type head struct {
	status        int
	close         bool
	chunked       bool  // the final transfer coding is chunked
	te            bool  // Transfer-Encoding is present
	contentLength int64 // -1 when absent
}

// responseReader parses HTTP/1.1 responses from rd through a fixed buffer. It allocates nothing
// after newResponseReader: lines are parsed in place and bodies are compared as they stream.
type responseReader struct {
	rd   io.Reader
	buf  []byte
	r, w int   // buf[r:w] is read but not yet consumed
	read int64 // bytes taken from rd since reset
}

func newResponseReader(rd io.Reader, size int) *responseReader {
	return &responseReader{rd: rd, buf: make([]byte, size)}
}

// reset makes the reader read from rd, dropping anything buffered (a new connection).
func (rr *responseReader) reset(rd io.Reader) {
	rr.rd = rd
	rr.r, rr.w, rr.read = 0, 0, 0
}

// buffered is the number of bytes read from rd but not consumed.
func (rr *responseReader) buffered() int { return rr.w - rr.r }

// readResponse reads one response (skipping 1xx interim ones). When compare is set, the body is
// compared with expect; response.match tells the outcome. An error leaves the reader in an
// undefined state: the connection must be closed. io.EOF means the connection was closed before
// any byte of the response; a close later gives io.ErrUnexpectedEOF.
func (rr *responseReader) readResponse(expect []byte, compare bool) (response, error) {
	for interim := 0; ; interim++ {
		h, err := rr.readHead()
		if err != nil {
			return response{}, err
		}
		if h.status < 200 {
			if h.status == 101 {
				return response{}, errSwitching
			}
			if interim == maxInterim {
				return response{}, errTooManyInterim
			}
			continue
		}
		resp := response{status: h.status, close: h.close}
		cmp := comparer{expect: expect, on: compare, ok: true}
		switch {
		case h.status == 204 || h.status == 304:
			// No body, whatever the header says.
		case h.chunked:
			err = rr.readChunked(&cmp)
			if h.contentLength >= 0 {
				// Both framings: a message that may be meant to smuggle; never reuse.
				resp.close = true
			}
		case h.te:
			// A transfer coding other than chunked last: the body runs to the close.
			err = rr.readToEOF(&cmp)
			resp.close = true
		case h.contentLength >= 0:
			if h.contentLength > maxBodyBytes {
				return response{}, errBodyTooLarge
			}
			err = rr.readBody(h.contentLength, &cmp)
		default:
			err = rr.readToEOF(&cmp)
			resp.close = true
		}
		resp.bodyBytes = cmp.n
		resp.match = compare && cmp.ok && cmp.n == int64(len(expect))
		return resp, err
	}
}

// readHead reads the status line and the header fields.
func (rr *responseReader) readHead() (head, error) {
	h := head{contentLength: -1}
	budget := maxHeaderBytes
	line, err := rr.readLine(&budget)
	if err != nil {
		return h, err
	}
	http10, ok := parseStatusLine(line, &h.status)
	if !ok {
		return h, errStatusLine
	}
	keepAlive := false
	for {
		line, err := rr.readLine(&budget)
		if err != nil {
			return h, unexpectedEOF(err)
		}
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return h, errObsFold
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || bytes.IndexAny(line[:colon], " \t") >= 0 {
			return h, errHeaderLine
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		switch {
		case equalFold(name, "content-length"):
			n, ok := parseDecimal(value)
			if !ok {
				return h, errContentLength
			}
			if h.contentLength >= 0 && h.contentLength != n {
				return h, errTwoContentLengths
			}
			h.contentLength = n
		case equalFold(name, "transfer-encoding"):
			// Codings apply in order over all fields: only the last one says whether it ends
			// in chunked.
			if last := lastToken(value); len(last) > 0 {
				h.te = true
				h.chunked = equalFold(last, "chunked")
			}
		case equalFold(name, "connection"):
			for rest := value; len(rest) > 0; {
				var tok []byte
				tok, rest = nextToken(rest)
				switch {
				case equalFold(tok, "close"):
					h.close = true
				case equalFold(tok, "keep-alive"):
					keepAlive = true
				}
			}
		}
	}
	if http10 {
		if h.te {
			// RFC 9112 section 6.1: the framing of such a message is faulty.
			return h, errTransferEncoding10
		}
		if !keepAlive {
			h.close = true
		}
	}
	return h, nil
}

// parseStatusLine parses "HTTP/1.x NNN[ reason]" and reports whether the version is 1.0.
func parseStatusLine(line []byte, status *int) (http10, ok bool) {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || !isDigit(line[7]) || line[8] != ' ' {
		return false, false
	}
	if len(line) > 12 && line[12] != ' ' {
		return false, false
	}
	code := 0
	for _, c := range line[9:12] {
		if !isDigit(c) {
			return false, false
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return false, false
	}
	*status = code
	return line[7] == '0', true
}

// readLine returns the next line without its LF or CRLF, valid until the next read. budget is
// decremented by the bytes consumed; a line that would take it below zero is an error.
func (rr *responseReader) readLine(budget *int) ([]byte, error) {
	scanned := 0
	for {
		if i := bytes.IndexByte(rr.buf[rr.r+scanned:rr.w], '\n'); i >= 0 {
			end := rr.r + scanned + i
			*budget -= end + 1 - rr.r
			if *budget < 0 {
				return nil, errHeaderTooLarge
			}
			line := rr.buf[rr.r:end]
			rr.r = end + 1
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return line, nil
		}
		scanned = rr.w - rr.r
		if scanned > *budget {
			return nil, errHeaderTooLarge
		}
		if err := rr.fill(); err != nil {
			if err == io.EOF && scanned > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// fill reads more bytes into the buffer, moving unconsumed ones to its start when it is full.
func (rr *responseReader) fill() error {
	switch {
	case rr.r == rr.w:
		rr.r, rr.w = 0, 0
	case rr.w == len(rr.buf):
		if rr.r == 0 {
			return errLineTooLong
		}
		rr.w = copy(rr.buf, rr.buf[rr.r:rr.w])
		rr.r = 0
	}
	for range 100 {
		n, err := rr.rd.Read(rr.buf[rr.w:])
		rr.w += n
		rr.read += int64(n)
		if n > 0 {
			return nil // a sticky error comes back on the next call
		}
		if err != nil {
			return err
		}
	}
	return errNoProgress
}

// readBody consumes n body bytes.
func (rr *responseReader) readBody(n int64, cmp *comparer) error {
	for n > 0 {
		if rr.r == rr.w {
			if err := rr.fill(); err != nil {
				return unexpectedEOF(err)
			}
		}
		m := rr.w - rr.r
		if int64(m) > n {
			m = int(n)
		}
		cmp.write(rr.buf[rr.r : rr.r+m])
		rr.r += m
		n -= int64(m)
	}
	return nil
}

// readToEOF consumes a body delimited by the end of the connection.
func (rr *responseReader) readToEOF(cmp *comparer) error {
	for {
		if rr.r < rr.w {
			cmp.write(rr.buf[rr.r:rr.w])
			rr.r = rr.w
			if cmp.n > maxBodyBytes {
				return errBodyTooLarge
			}
		}
		if err := rr.fill(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// readChunked consumes a chunked body and its trailer section.
func (rr *responseReader) readChunked(cmp *comparer) error {
	for {
		budget := maxChunkLine
		line, err := rr.readLine(&budget)
		if err != nil {
			return unexpectedEOF(err)
		}
		size, err := parseChunkSize(line)
		if err != nil {
			return err
		}
		if size == 0 {
			break
		}
		if cmp.n+size > maxBodyBytes {
			return errBodyTooLarge
		}
		if err := rr.readBody(size, cmp); err != nil {
			return err
		}
		budget = 2 // CRLF
		line, err = rr.readLine(&budget)
		if err == errHeaderTooLarge || err == nil && len(line) != 0 {
			return errChunkEnd
		}
		if err != nil {
			return unexpectedEOF(err)
		}
	}
	budget := maxHeaderBytes
	for {
		line, err := rr.readLine(&budget)
		if err != nil {
			return unexpectedEOF(err)
		}
		if len(line) == 0 {
			return nil
		}
	}
}

// unexpectedEOF turns io.EOF into io.ErrUnexpectedEOF: the response had begun.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseChunkSize parses "HEX[ws][;ext]".
func parseChunkSize(line []byte) (int64, error) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		v, ok := hexValue(line[i])
		if !ok {
			break
		}
		if i == maxChunkDigits {
			return 0, errChunkSize
		}
		n = n<<4 | int64(v)
	}
	if i == 0 {
		return 0, errChunkSize
	}
	rest := trimOWS(line[i:])
	if len(rest) > 0 && rest[0] != ';' {
		return 0, errChunkSize
	}
	return n, nil
}

// comparer compares a body with the expected one as it streams by.
type comparer struct {
	expect []byte
	on     bool  // compare at all
	ok     bool  // no difference so far
	n      int64 // bytes seen
}

func (c *comparer) write(p []byte) {
	if c.on && c.ok {
		if c.n+int64(len(p)) > int64(len(c.expect)) || !bytes.Equal(p, c.expect[c.n:c.n+int64(len(p))]) {
			c.ok = false
		}
	}
	c.n += int64(len(p))
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parseDecimal parses a Content-Length value: digits only.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > maxLengthDigits {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// nextToken returns the first element of a comma-separated list, trimmed, and the rest.
func nextToken(list []byte) (tok, rest []byte) {
	if i := bytes.IndexByte(list, ','); i >= 0 {
		return trimOWS(list[:i]), list[i+1:]
	}
	return trimOWS(list), nil
}

// lastToken returns the last non-empty element of a comma-separated list.
func lastToken(list []byte) []byte {
	var last []byte
	for len(list) > 0 {
		var tok []byte
		tok, list = nextToken(list)
		if len(tok) > 0 {
			last = tok
		}
	}
	return last
}

// equalFold compares b with lower, which must be lower-case ASCII, ignoring ASCII case.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
