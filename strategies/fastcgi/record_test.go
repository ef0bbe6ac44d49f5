package fastcgi

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 100, 4096, 65534, 65535} {
		content := bytes.Repeat([]byte{'x'}, n)
		for i := range content {
			content[i] = byte(i)
		}
		b := appendRecord(nil, typeStdout, 513, content)
		if len(b)%8 != 0 {
			t.Errorf("content %d: record of %d bytes, want a multiple of 8", n, len(b))
		}
		if got, want := len(b)-headerLen-n, padding(n); got != want || got > 7 {
			t.Errorf("content %d: padding %d, want %d", n, got, want)
		}
		h, got, err := readRecord(bufio.NewReader(bytes.NewReader(b)), nil)
		if err != nil {
			t.Fatalf("content %d: %v", n, err)
		}
		if h.Type != typeStdout || h.ID != 513 || int(h.ContentLength) != n || !bytes.Equal(got, content) {
			t.Errorf("content %d: got header %+v and %d bytes; want type %d, id 513, the content back", n, h, len(got), typeStdout)
		}
	}
}

func TestReadRecordErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"short header", []byte{1, 6, 0, 1}, io.ErrUnexpectedEOF},
		{"short content", []byte{1, 6, 0, 1, 0, 10, 0, 0, 'a'}, io.ErrUnexpectedEOF},
		{"short padding", []byte{1, 6, 0, 1, 0, 1, 7, 0, 'a', 0}, io.ErrUnexpectedEOF},
		{"version 2", []byte{2, 6, 0, 1, 0, 0, 0, 0}, ErrProtocol},
	} {
		_, _, err := readRecord(bufio.NewReader(bytes.NewReader(tc.in)), nil)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestNameValuePairs(t *testing.T) {
	long := strings.Repeat("v", 128)
	for _, tc := range []struct {
		name, value string
		encoded     []byte // nil: only round-trip
	}{
		{"A", "", []byte{1, 0, 'A'}},
		{"AB", "xyz", []byte{2, 3, 'A', 'B', 'x', 'y', 'z'}},
		{"N", strings.Repeat("v", 127), append([]byte{1, 127, 'N'}, strings.Repeat("v", 127)...)},
		{"N", long, append([]byte{1, 0x80, 0, 0, 128, 'N'}, long...)},
		{long, "1", append(append([]byte{0x80, 0, 0, 128, 1}, long...), '1')},
		{strings.Repeat("n", 70000), strings.Repeat("v", 300000), nil},
	} {
		b := appendPair(nil, tc.name, tc.value)
		if tc.encoded != nil && !bytes.Equal(b, tc.encoded) {
			t.Errorf("pair %.10q=%.10q: encoded % x, want % x", tc.name, tc.value, b[:min(len(b), 16)], tc.encoded[:min(len(tc.encoded), 16)])
		}
		if got := pairLen(tc.name, tc.value); got != len(b) {
			t.Errorf("pair %.10q: pairLen %d, encoded %d bytes", tc.name, got, len(b))
		}
		name, value, rest, err := nextPair(b, 0)
		if err != nil || string(name) != tc.name || string(value) != tc.value || len(rest) != 0 {
			t.Errorf("pair %.10q=%.10q: decoded %.10q=%.10q rest %d err %v", tc.name, tc.value, name, value, len(rest), err)
		}
	}
	// A four-byte encoding of a short length is accepted too.
	m, err := parsePairs([]byte{0x80, 0, 0, 1, 0x80, 0, 0, 2, 'a', 'b', 'c'})
	if err != nil || m["a"] != "bc" {
		t.Errorf("4-byte short lengths: got %v, %v; want a=bc", m, err)
	}
}

func TestNameValueErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"truncated 4-byte name length", []byte{0x80, 0}},
		{"missing value length", []byte{3}},
		{"name past the end", []byte{5, 0, 'a'}},
		{"value past the end", []byte{1, 5, 'a', 'b'}},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 0, 'a'}},
		{"second pair truncated", []byte{1, 1, 'a', 'b', 1}},
	} {
		if _, err := parsePairs(tc.in); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: got %v, want ErrProtocol", tc.name, err)
		}
	}
}

// readStream reads records of one type from b until the empty one and returns the content.
func readStream(t *testing.T, br *bufio.Reader, typ uint8) []byte {
	t.Helper()
	var out []byte
	for {
		h, content, err := readRecord(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if h.Type != typ {
			t.Fatalf("record type %d, want %d", h.Type, typ)
		}
		if h.ContentLength == 0 {
			return out
		}
		if (int(h.ContentLength)+int(h.PaddingLength))%8 != 0 {
			t.Errorf("record of %d+%d bytes is not padded to 8", h.ContentLength, h.PaddingLength)
		}
		out = append(out, content...)
	}
}

func TestParamsSplitOverRecords(t *testing.T) {
	params := []string{"SHORT=1", "BIG=" + strings.Repeat("x", 100000), "EMPTY=", "NOEQUALS", "=nameless", "LAST=z=z"}
	b := appendParams(nil, params)
	br := bufio.NewReader(bytes.NewReader(b))
	content := readStream(t, br, typeParams)
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("bytes left after the empty FCGI_PARAMS record")
	}
	got, err := parsePairs(content)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"SHORT": "1", "BIG": strings.Repeat("x", 100000), "EMPTY": "", "LAST": "z=z"}
	if !maps.Equal(got, want) {
		t.Errorf("got %d params, want %d: %v", len(got), len(want), slices.Sorted(maps.Keys(got)))
	}
}

func TestRequestEncoding(t *testing.T) {
	// What Do writes for a request with a short body: BEGIN_REQUEST (responder, keep-conn),
	// PARAMS, an empty PARAMS, STDIN, an empty STDIN.
	b := appendRecord(nil, typeBeginRequest, requestID, beginBody[:])
	b = appendParams(b, []string{"REQUEST_METHOD=POST"})
	b, more, err := appendStdin(b, strings.NewReader("hello"))
	if err != nil || more {
		t.Fatalf("appendStdin: more %v, err %v", more, err)
	}
	b = appendHeader(b, typeStdin, requestID, 0)

	br := bufio.NewReader(bytes.NewReader(b))
	h, content, err := readRecord(br, nil)
	if err != nil || h.Type != typeBeginRequest || h.ID != requestID || !bytes.Equal(content, []byte{0, 1, 1, 0, 0, 0, 0, 0}) {
		t.Fatalf("BEGIN_REQUEST: %+v % x %v", h, content, err)
	}
	if p, _ := parsePairs(readStream(t, br, typeParams)); p["REQUEST_METHOD"] != "POST" {
		t.Errorf("params %v", p)
	}
	if got := readStream(t, br, typeStdin); string(got) != "hello" {
		t.Errorf("stdin %q, want hello", got)
	}

	// A body longer than prefill is cut there, to be streamed.
	_, more, _ = appendStdin(nil, strings.NewReader(strings.Repeat("a", prefill+1)))
	if !more {
		t.Errorf("body over prefill: more = false")
	}
}

func FuzzReadRecord(f *testing.F) {
	f.Add(appendRecord(nil, typeStdout, 1, []byte("Content-Type: text/plain\r\n\r\nhi")))
	f.Add(appendRecord(nil, typeEndRequest, 1, []byte{0, 0, 0, 0, 0, 0, 0, 0}))
	f.Add(appendRecord(nil, typeGetValuesResult, 0, appendPair(nil, MaxConns, "1")))
	f.Add([]byte{1, 6, 0, 1, 0, 3, 200, 0, 'a', 'b', 'c'})
	f.Add([]byte{9, 9, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		var buf []byte
		for {
			h, content, err := readRecord(br, buf)
			if err != nil {
				return
			}
			buf = content
			if int(h.ContentLength) != len(content) {
				t.Fatalf("content length %d, got %d bytes", h.ContentLength, len(content))
			}
			// Re-encoding yields the same record, padded our way.
			again := appendRecord(nil, h.Type, h.ID, content)
			h2, c2, err := readRecord(bufio.NewReader(bytes.NewReader(again)), nil)
			if err != nil || h2.Type != h.Type || h2.ID != h.ID || !bytes.Equal(c2, content) {
				t.Fatalf("round trip of %+v: %+v %v", h, h2, err)
			}
			if len(again)%8 != 0 {
				t.Fatalf("re-encoded record of %d bytes", len(again))
			}
		}
	})
}

func FuzzNameValuePairs(f *testing.F) {
	f.Add(appendPair(appendPair(nil, "A", "b"), "QUERY_STRING", strings.Repeat("q", 200)))
	f.Add([]byte{0x80, 0, 0, 1, 0x80, 0, 0, 2, 'a', 'b', 'c'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 'a'})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var names, values []string
		for b, off := data, 0; len(b) > 0; {
			name, value, rest, err := nextPair(b, off)
			if err != nil {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("error %v does not wrap ErrProtocol", err)
				}
				return
			}
			if len(rest) >= len(b) {
				t.Fatalf("no progress")
			}
			off += len(b) - len(rest)
			b = rest
			names, values = append(names, string(name)), append(values, string(value))
		}
		// Every decoded stream re-encodes to one that decodes to the same pairs.
		var enc []byte
		for i := range names {
			enc = appendPair(enc, names[i], values[i])
		}
		for i, b := 0, enc; len(b) > 0; i++ {
			name, value, rest, err := nextPair(b, 0)
			if err != nil || string(name) != names[i] || string(value) != values[i] {
				t.Fatalf("pair %d: %q=%q, %v; want %q=%q", i, name, value, err, names[i], values[i])
			}
			b = rest
		}
	})
}
