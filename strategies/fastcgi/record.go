package fastcgi

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Record types (FastCGI 1.0 §8).
const (
	typeBeginRequest    uint8 = 1
	typeAbortRequest    uint8 = 2
	typeEndRequest      uint8 = 3
	typeParams          uint8 = 4
	typeStdin           uint8 = 5
	typeStdout          uint8 = 6
	typeStderr          uint8 = 7
	typeData            uint8 = 8
	typeGetValues       uint8 = 9
	typeGetValuesResult uint8 = 10
	typeUnknownType     uint8 = 11
)

// Protocol statuses of FCGI_END_REQUEST.
const (
	statusRequestComplete uint8 = 0
	statusCantMpxConn     uint8 = 1
	statusOverloaded      uint8 = 2
	statusUnknownRole     uint8 = 3
)

const (
	version1      = 1
	headerLen     = 8
	maxContentLen = 65535
	roleResponder = 1
	flagKeepConn  = 1
	// requestID is the only request id the client uses: it never multiplexes, so one
	// connection carries one request at a time.
	requestID = 1
	// nullRequestID marks management records (FCGI_GET_VALUES and its answers).
	nullRequestID = 0
	// maxPairLen is the largest length the 4-byte name-value encoding can carry.
	maxPairLen = 1<<31 - 1
)

// Names of the variables FCGI_GET_VALUES can ask for (FastCGI 1.0 §4.1).
const (
	MaxConns  = "FCGI_MAX_CONNS"
	MaxReqs   = "FCGI_MAX_REQS"
	MpxsConns = "FCGI_MPXS_CONNS"
)

// ErrProtocol is wrapped by every error about a record stream that breaks FastCGI 1.0: a
// version other than 1, a record for another request, a truncated name-value pair.
var ErrProtocol = errors.New("fastcgi: protocol error")

// header is the fixed 8-byte prefix of every record.
type header struct {
	Version       uint8
	Type          uint8
	ID            uint16
	ContentLength uint16
	PaddingLength uint8
}

func parseHeader(b []byte) header {
	return header{
		Version:       b[0],
		Type:          b[1],
		ID:            binary.BigEndian.Uint16(b[2:4]),
		ContentLength: binary.BigEndian.Uint16(b[4:6]),
		PaddingLength: b[6],
	}
}

// padding is what rounds n up to a multiple of 8, as the spec recommends so that records
// stay aligned.
func padding(n int) int { return -n & 7 }

// appendHeader appends a record header for content of n bytes padded to a multiple of 8.
func appendHeader(dst []byte, typ uint8, id uint16, n int) []byte {
	return append(dst, version1, typ, byte(id>>8), byte(id), byte(n>>8), byte(n), byte(padding(n)), 0)
}

var zeros [8]byte

// appendRecord appends one record holding content, which must not exceed maxContentLen.
func appendRecord(dst []byte, typ uint8, id uint16, content []byte) []byte {
	dst = appendHeader(dst, typ, id, len(content))
	dst = append(dst, content...)
	return append(dst, zeros[:padding(len(content))]...)
}

// appendStream appends content as a stream of records of at most maxContentLen bytes each. It
// does not close the stream: that takes an empty record.
func appendStream(dst []byte, typ uint8, id uint16, content []byte) []byte {
	for len(content) > 0 {
		n := min(len(content), maxContentLen)
		dst = appendRecord(dst, typ, id, content[:n])
		content = content[n:]
	}
	return dst
}

// readRecord reads one whole record into buf (grown as needed) and returns its header and
// content; the padding is read and dropped.
func readRecord(br *bufio.Reader, buf []byte) (header, []byte, error) {
	var h header
	hb, err := br.Peek(headerLen)
	if err != nil {
		if err == io.EOF && len(hb) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return h, nil, err
	}
	h = parseHeader(hb)
	br.Discard(headerLen)
	if h.Version != version1 {
		return h, nil, fmt.Errorf("%w: record version %d, want %d", ErrProtocol, h.Version, version1)
	}
	n := int(h.ContentLength) + int(h.PaddingLength)
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(br, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return h, nil, err
	}
	return h, buf[:h.ContentLength], nil
}

// appendLength appends a name-value length: one byte up to 127, else four bytes with the high
// bit set.
func appendLength(dst []byte, n int) []byte {
	if n <= 127 {
		return append(dst, byte(n))
	}
	return append(dst, byte(n>>24)|0x80, byte(n>>16), byte(n>>8), byte(n))
}

// appendPair appends one name-value pair (FastCGI 1.0 §3.4).
func appendPair(dst []byte, name, value string) []byte {
	dst = appendLength(dst, len(name))
	dst = appendLength(dst, len(value))
	dst = append(dst, name...)
	return append(dst, value...)
}

// pairLen is the encoded size of a pair.
func pairLen(name, value string) int {
	n := len(name) + len(value) + 2
	if len(name) > 127 {
		n += 3
	}
	if len(value) > 127 {
		n += 3
	}
	return n
}

// readLength decodes a name-value length at the start of b.
func readLength(b []byte) (n, size int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	if b[0]&0x80 == 0 {
		return int(b[0]), 1, true
	}
	if len(b) < 4 {
		return 0, 0, false
	}
	return int(binary.BigEndian.Uint32(b) & maxPairLen), 4, true
}

// nextPair decodes the name-value pair at the start of b and returns what follows it. off is
// b's offset in the whole stream, for the error message.
func nextPair(b []byte, off int) (name, value, rest []byte, err error) {
	nlen, s1, ok := readLength(b)
	if !ok {
		return nil, nil, nil, fmt.Errorf("%w: name-value pair at byte %d: truncated name length", ErrProtocol, off)
	}
	vlen, s2, ok := readLength(b[s1:])
	if !ok {
		return nil, nil, nil, fmt.Errorf("%w: name-value pair at byte %d: truncated value length", ErrProtocol, off)
	}
	b = b[s1+s2:]
	if nlen > len(b) || vlen > len(b)-nlen {
		return nil, nil, nil, fmt.Errorf("%w: name-value pair at byte %d: lengths %d+%d exceed the %d bytes left", ErrProtocol, off, nlen, vlen, len(b))
	}
	return b[:nlen], b[nlen : nlen+vlen], b[nlen+vlen:], nil
}

// parsePairs decodes a whole name-value stream. A repeated name keeps its last value.
func parsePairs(b []byte) (map[string]string, error) {
	m := make(map[string]string)
	total := len(b)
	for len(b) > 0 {
		name, value, rest, err := nextPair(b, total-len(b))
		if err != nil {
			return m, err
		}
		m[string(name)] = string(value)
		b = rest
	}
	return m, nil
}

// splitLast splits the record at b[s:], the last in b, in two: all of its content but the last
// byte, and that byte. The stream reads the same; the record's end moves by 8 or 16 bytes. The
// record must hold 2 bytes or more.
func splitLast(b []byte, s int) []byte {
	h := parseHeader(b[s:])
	n := int(h.ContentLength)
	last := b[s+headerLen+n-1]
	appendHeader(b[s:s], h.Type, h.ID, n-1)
	b = append(b[:s+headerLen+n-1], zeros[:padding(n-1)]...)
	b = appendHeader(b, h.Type, h.ID, 1)
	b = append(b, last)
	return append(b, zeros[:padding(1)]...)
}

// padRecord gives the record at b[s:] 8 more bytes of padding and moves what follows it. The
// record must not be empty: libfcgi drops the padding of an empty stream record unread.
func padRecord(b []byte, s int) []byte {
	h := parseHeader(b[s:])
	end := s + headerLen + int(h.ContentLength) + int(h.PaddingLength)
	b = append(b, zeros[:]...)
	copy(b[end+len(zeros):], b[end:len(b)-len(zeros)])
	copy(b[end:], zeros[:])
	b[s+6] += byte(len(zeros))
	return b
}
