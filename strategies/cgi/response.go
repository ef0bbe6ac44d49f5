package cgi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// ErrMalformed is wrapped by every error about a program's header block: no header block at
// all, a line that is not "Name: value", a bogus Status, a block larger than the limit.
var ErrMalformed = errors.New("malformed CGI response")

// MaxHeaderBytes bounds a program's header block.
const MaxHeaderBytes = 64 << 10

// Header is a parsed CGI response header block (RFC 3875 §6.3).
type Header struct {
	// Status is the code of the Status field, 0 when there is none.
	Status int
	// Location is the Location field, "" when there is none.
	Location string
	// ContentType reports whether a Content-Type field was present (it stays in Fields).
	ContentType bool
	// Fields holds every field but Status and Location, names canonicalised.
	Fields http.Header
}

// ReadHeader reads a header block up to and including the blank line that ends it. Lines may
// end in LF or CRLF; field names are case-insensitive. The block must hold at least one of
// Content-Type, Location and Status (RFC 3875 §6.2).
func ReadHeader(br *bufio.Reader) (*Header, error) {
	h := &Header{Fields: make(http.Header, 4)}
	size := 0
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		size += len(line)
		if size > MaxHeaderBytes {
			return nil, fmt.Errorf("%w: header block exceeds %d bytes", ErrMalformed, MaxHeaderBytes)
		}
		if err == bufio.ErrBufferFull {
			return nil, fmt.Errorf("%w: header line %d longer than %d bytes", ErrMalformed, n, br.Size())
		}
		if err != nil {
			if err == io.EOF {
				if size == 0 {
					return nil, fmt.Errorf("%w: no output (no header block)", ErrMalformed)
				}
				return nil, fmt.Errorf("%w: output ended at line %d before the blank line that ends the header block", ErrMalformed, n)
			}
			return nil, fmt.Errorf("cgi: reading header line %d: %w", n, err)
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("%w: line %d %q is not a header field (want \"Name: value\")", ErrMalformed, n, clip(line))
		}
		key := textproto.CanonicalMIMEHeaderKey(string(name))
		val := string(bytes.Trim(value, " \t"))
		switch key {
		case "Status":
			code, err := parseStatus(val)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: %v", ErrMalformed, n, err)
			}
			h.Status = code
		case "Location":
			h.Location = val
		default:
			if key == "Content-Type" {
				h.ContentType = true
			}
			h.Fields[key] = append(h.Fields[key], val)
		}
	}
	if h.Status == 0 && h.Location == "" && !h.ContentType {
		return nil, fmt.Errorf("%w: header block has none of Content-Type, Location and Status", ErrMalformed)
	}
	return h, nil
}

// parseStatus parses "NNN reason" (the reason may be missing).
func parseStatus(v string) (int, error) {
	code, _, _ := strings.Cut(v, " ")
	if len(code) != 3 {
		return 0, fmt.Errorf("Status %q does not start with a 3-digit code", v)
	}
	n, err := strconv.Atoi(code)
	if err != nil || n < 200 || n > 599 {
		return 0, fmt.Errorf("Status %q: code must be 200 to 599", v)
	}
	return n, nil
}

func clip(b []byte) []byte {
	if len(b) > 60 {
		return b[:60]
	}
	return b
}

// IsLocalRedirect reports whether the header is a local-redir-response (RFC 3875 §6.2.2): a
// Location that is a path, and no Status or Content-Type. The server must then serve that path
// itself, as a GET, and not show the redirect to the client.
func (h *Header) IsLocalRedirect() bool {
	return strings.HasPrefix(h.Location, "/") && !strings.HasPrefix(h.Location, "//") &&
		h.Status == 0 && !h.ContentType
}

// hopByHop lists fields a program may not set on the HTTP connection.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Transfer-Encoding": true, "Upgrade": true,
	"Proxy-Connection": true, "Te": true, "Trailer": true,
}

// WriteHeader writes the status line and fields of a document or client-redirect response to
// w. It must not be called for a local redirect.
func (h *Header) WriteHeader(w http.ResponseWriter) {
	dst := w.Header()
	for k, vs := range h.Fields {
		if hopByHop[k] {
			continue
		}
		dst[k] = append(dst[k], vs...)
	}
	if !h.ContentType {
		// No Content-Type from the program: send none, rather than let net/http sniff one.
		dst["Content-Type"] = nil
	}
	status := h.Status
	if h.Location != "" {
		dst.Set("Location", h.Location)
		if status == 0 {
			status = http.StatusFound // client-redir-response, §6.2.3
		}
	}
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
}

// ErrRedirectLoop is returned when local redirects chain too deep.
var ErrRedirectLoop = errors.New("cgi: local redirect loop")

// MaxLocalRedirects bounds a chain of local redirects.
const MaxLocalRedirects = 10

// LocalRedirect makes the GET request a server issues for a local redirect to loc, or an error
// when the chain is too long.
func LocalRedirect(r *http.Request, loc string) (*http.Request, error) {
	depth, _ := r.Context().Value(redirectDepthKey{}).(int)
	if depth >= MaxLocalRedirects {
		return nil, fmt.Errorf("%w: more than %d (last to %q)", ErrRedirectLoop, MaxLocalRedirects, loc)
	}
	nr, err := http.NewRequestWithContext(withDepth(r, depth+1), http.MethodGet, loc, nil)
	if err != nil {
		return nil, fmt.Errorf("cgi: local redirect to %q: %w", loc, err)
	}
	nr.Host = r.Host
	nr.RemoteAddr = r.RemoteAddr
	nr.Proto, nr.ProtoMajor, nr.ProtoMinor = r.Proto, r.ProtoMajor, r.ProtoMinor
	nr.RequestURI = loc
	for k, vs := range r.Header {
		if k == "Content-Type" || k == "Content-Length" {
			continue
		}
		nr.Header[k] = vs
	}
	return nr, nil
}

// Relay reads a program's response from br and writes it to w; a local redirect is served
// again through self. When the header block is malformed it answers 502 and returns the error
// (wrapping ErrMalformed) for the caller to log. Any other error has been answered (a redirect
// loop) or means the client got a truncated body.
func Relay(w http.ResponseWriter, r *http.Request, br *bufio.Reader, self http.Handler) error {
	h, err := ReadHeader(br)
	if err != nil {
		BadGateway(w)
		return err
	}
	if h.IsLocalRedirect() && self != nil {
		// The program's body, if any, is discarded (§6.2.2: a local redirect has none).
		io.Copy(io.Discard, br)
		return ServeLocalRedirect(w, r, h.Location, self)
	}
	return Send(w, r, h, br)
}

// BadGateway answers 502 for a program that gave no usable response.
func BadGateway(w http.ResponseWriter) {
	http.Error(w, "502 Bad Gateway: the program's response was malformed", http.StatusBadGateway)
}

// RedirectLoop answers 500 for a chain of local redirects LocalRedirect refused.
func RedirectLoop(w http.ResponseWriter) {
	http.Error(w, "500 Internal Server Error: local redirect loop", http.StatusInternalServerError)
}

// ServeLocalRedirect serves loc through self as a new GET request, as RFC 3875 §6.2.2 asks of a
// server. A chain longer than MaxLocalRedirects is answered with 500 and ErrRedirectLoop.
func ServeLocalRedirect(w http.ResponseWriter, r *http.Request, loc string, self http.Handler) error {
	nr, err := LocalRedirect(r, loc)
	if err != nil {
		RedirectLoop(w)
		return err
	}
	self.ServeHTTP(w, nr)
	return nil
}

// Send writes a parsed document or client-redirect header and the rest of the program's
// output to w. An error means the client got a truncated body.
func Send(w http.ResponseWriter, r *http.Request, h *Header, body *bufio.Reader) error {
	h.WriteHeader(w)
	if r.Method == http.MethodHead {
		_, err := io.Copy(io.Discard, body)
		return err
	}
	if _, err := body.WriteTo(w); err != nil {
		return fmt.Errorf("cgi: relaying body: %w", err)
	}
	return nil
}
