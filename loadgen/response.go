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

// responseReader buffers the bytes of one connection: a fixed buffer, the only memory a response
// ever gets. The event loop fills it with non-blocking reads (free, then advance w); readResponse
// fills it from an io.Reader (tests, fuzzing). Either way a responseParser consumes it.
type responseReader struct {
	rd   io.Reader // for fill; nil in the event loop
	buf  []byte
	r, w int   // buf[r:w] is read but not yet consumed
	read int64 // bytes taken in since reset
}

func newResponseReader(rd io.Reader, size int) *responseReader {
	return &responseReader{rd: rd, buf: make([]byte, size)}
}

// reset makes the reader read from rd, dropping anything buffered (a new connection).
func (rr *responseReader) reset(rd io.Reader) {
	rr.rd = rd
	rr.r, rr.w, rr.read = 0, 0, 0
}

// buffered is the number of bytes read but not consumed.
func (rr *responseReader) buffered() int { return rr.w - rr.r }

// free returns the unused end of the buffer for the next read, first moving unconsumed bytes to
// the start when the end is full. It is empty only when unconsumed bytes fill the whole buffer,
// which a parser reports as errLineTooLong before it happens.
func (rr *responseReader) free() []byte {
	switch {
	case rr.r == rr.w:
		rr.r, rr.w = 0, 0
	case rr.w == len(rr.buf) && rr.r > 0:
		rr.w = copy(rr.buf, rr.buf[rr.r:rr.w])
		rr.r = 0
	}
	return rr.buf[rr.w:]
}

// added records n bytes read into free().
func (rr *responseReader) added(n int) {
	rr.w += n
	rr.read += int64(n)
}

// fill reads more bytes from rd into the buffer.
func (rr *responseReader) fill() error {
	p := rr.free()
	if len(p) == 0 {
		return errLineTooLong
	}
	for range 100 {
		n, err := rr.rd.Read(p)
		rr.added(n)
		if n > 0 {
			return nil // a sticky error comes back on the next call
		}
		if err != nil {
			return err
		}
	}
	return errNoProgress
}

// readResponse reads one response from rd (skipping 1xx interim ones). When compare is set, the
// body is compared with expect; response.match tells the outcome. An error leaves the reader in
// an undefined state: the connection must be closed. io.EOF means the connection was closed
// before any byte of the response; a close later gives io.ErrUnexpectedEOF.
func (rr *responseReader) readResponse(expect []byte, compare bool) (response, error) {
	var p responseParser
	p.begin(expect, compare)
	for {
		done, err := p.advance(rr, false)
		if err != nil {
			return response{}, err
		}
		if done {
			return p.resp, nil
		}
		if err := rr.fill(); err != nil {
			if err != io.EOF {
				return response{}, err
			}
			if done, err := p.advance(rr, true); !done {
				return response{}, err
			}
			return p.resp, nil
		}
	}
}

// parseState is where a responseParser is in a response.
type parseState uint8

const (
	psStatus    parseState = iota // the status line
	psHeader                      // header fields
	psBody                        // a body of known length: remaining bytes
	psChunkSize                   // a chunk-size line
	psChunkData                   // chunk data: remaining bytes
	psChunkEnd                    // the CRLF after chunk data
	psTrailer                     // trailer fields
	psToEOF                       // a body delimited by the end of the connection
	psDone
)

// responseParser parses one response from a responseReader's buffer as bytes arrive: advance
// consumes what is there and says whether more is needed, so that an event loop can wait for the
// connection to be readable between calls. Lines are consumed whole (a line longer than the
// buffer is an error); bodies are compared with the expected one as they stream by. It allocates
// nothing.
type responseParser struct {
	state     parseState
	interim   int  // 1xx responses skipped
	budget    int  // bytes left for the current header section or line
	scanned   int  // bytes of an incomplete line already searched for its end
	h         head // of the response being read
	http10    bool
	keepAlive bool
	remaining int64 // of psBody or psChunkData
	cmp       comparer
	compare   bool
	resp      response // the result once advance reports done
}

// begin starts a new response.
func (p *responseParser) begin(expect []byte, compare bool) {
	*p = responseParser{compare: compare, cmp: comparer{expect: expect, on: compare, ok: true}}
	p.beginHead()
}

func (p *responseParser) beginHead() {
	p.state = psStatus
	p.budget = maxHeaderBytes
	p.h = head{contentLength: -1}
	p.http10, p.keepAlive = false, false
}

// advance consumes the buffered bytes of the response. It returns done once the whole response
// is consumed (p.resp then holds it), or neither done nor an error when it needs more bytes. eof
// says that no more bytes will come: the connection was closed.
func (p *responseParser) advance(rr *responseReader, eof bool) (done bool, err error) {
	for {
		switch p.state {
		case psDone:
			return true, nil
		case psBody, psChunkData:
			if p.remaining > 0 {
				if rr.r == rr.w {
					if eof {
						return false, io.ErrUnexpectedEOF
					}
					return false, nil
				}
				m := rr.w - rr.r
				if int64(m) > p.remaining {
					m = int(p.remaining)
				}
				p.cmp.write(rr.buf[rr.r : rr.r+m])
				rr.r += m
				p.remaining -= int64(m)
				continue
			}
			if p.state == psBody {
				p.finish()
				continue
			}
			p.state, p.budget = psChunkEnd, 2 // CRLF
		case psToEOF:
			if rr.r < rr.w {
				p.cmp.write(rr.buf[rr.r:rr.w])
				rr.r = rr.w
				if p.cmp.n > maxBodyBytes {
					return false, errBodyTooLarge
				}
			}
			if !eof {
				return false, nil
			}
			p.finish()
		default:
			line, ok, err := p.line(rr)
			if err != nil {
				if p.state == psChunkEnd && err == errHeaderTooLarge {
					return false, errChunkEnd
				}
				return false, err
			}
			if !ok {
				switch {
				case !eof:
					return false, nil
				case p.state == psStatus && rr.r == rr.w:
					return false, io.EOF // nothing of this response came
				}
				return false, io.ErrUnexpectedEOF
			}
			if err := p.onLine(line); err != nil {
				return false, err
			}
		}
	}
}

// line returns the next whole line without its LF or CRLF, valid until the next read, charging
// it to p.budget; ok is false when the line is not complete yet.
func (p *responseParser) line(rr *responseReader) (line []byte, ok bool, err error) {
	if i := bytes.IndexByte(rr.buf[rr.r+p.scanned:rr.w], '\n'); i >= 0 {
		end := rr.r + p.scanned + i
		p.budget -= end + 1 - rr.r
		if p.budget < 0 {
			return nil, false, errHeaderTooLarge
		}
		line = rr.buf[rr.r:end]
		rr.r = end + 1
		p.scanned = 0
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		return line, true, nil
	}
	p.scanned = rr.w - rr.r
	switch {
	case p.scanned > p.budget:
		return nil, false, errHeaderTooLarge
	case p.scanned == len(rr.buf):
		return nil, false, errLineTooLong
	}
	return nil, false, nil
}

// onLine handles a whole line in one of the line states.
func (p *responseParser) onLine(line []byte) error {
	switch p.state {
	case psStatus:
		http10, ok := parseStatusLine(line, &p.h.status)
		if !ok {
			return errStatusLine
		}
		p.http10 = http10
		p.state = psHeader
	case psHeader:
		if len(line) == 0 {
			return p.endHead()
		}
		return p.headerField(line)
	case psChunkSize:
		size, err := parseChunkSize(line)
		if err != nil {
			return err
		}
		if size == 0 {
			p.state, p.budget = psTrailer, maxHeaderBytes
			return nil
		}
		if p.cmp.n+size > maxBodyBytes {
			return errBodyTooLarge
		}
		p.state, p.remaining = psChunkData, size
	case psChunkEnd:
		if len(line) != 0 {
			return errChunkEnd
		}
		p.state, p.budget = psChunkSize, maxChunkLine
	case psTrailer:
		if len(line) == 0 {
			p.finish()
		}
	}
	return nil
}

// headerField handles one header field line.
func (p *responseParser) headerField(line []byte) error {
	if line[0] == ' ' || line[0] == '\t' {
		return errObsFold
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || bytes.IndexAny(line[:colon], " \t") >= 0 {
		return errHeaderLine
	}
	h := &p.h
	name, value := line[:colon], trimOWS(line[colon+1:])
	switch {
	case equalFold(name, "content-length"):
		n, ok := parseDecimal(value)
		if !ok {
			return errContentLength
		}
		if h.contentLength >= 0 && h.contentLength != n {
			return errTwoContentLengths
		}
		h.contentLength = n
	case equalFold(name, "transfer-encoding"):
		// Codings apply in order over all fields: only the last one says whether it ends in
		// chunked.
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
				p.keepAlive = true
			}
		}
	}
	return nil
}

// endHead decides, at the end of a header section, what follows: another response after a 1xx
// one, or the body.
func (p *responseParser) endHead() error {
	h := &p.h
	if p.http10 {
		if h.te {
			// RFC 9112 section 6.1: the framing of such a message is faulty.
			return errTransferEncoding10
		}
		if !p.keepAlive {
			h.close = true
		}
	}
	if h.status < 200 {
		if h.status == 101 {
			return errSwitching
		}
		if p.interim == maxInterim {
			return errTooManyInterim
		}
		p.interim++
		p.beginHead()
		return nil
	}
	p.resp = response{status: h.status, close: h.close}
	switch {
	case h.status == 204 || h.status == 304:
		// No body, whatever the header says.
		p.finish()
	case h.chunked:
		p.state, p.budget = psChunkSize, maxChunkLine
		if h.contentLength >= 0 {
			// Both framings: a message that may be meant to smuggle; never reuse.
			p.resp.close = true
		}
	case h.te:
		// A transfer coding other than chunked last: the body runs to the close.
		p.state = psToEOF
		p.resp.close = true
	case h.contentLength >= 0:
		if h.contentLength > maxBodyBytes {
			return errBodyTooLarge
		}
		p.state, p.remaining = psBody, h.contentLength
	default:
		p.state = psToEOF
		p.resp.close = true
	}
	return nil
}

// finish completes the response.
func (p *responseParser) finish() {
	p.resp.bodyBytes = p.cmp.n
	p.resp.match = p.compare && p.cmp.ok && p.cmp.n == int64(len(p.cmp.expect))
	p.state = psDone
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
