package loadgen

import (
	"fmt"
	"strconv"

	"github.com/cgibench/cgibench/scripts/go/refapp"
)

// wireRequest is a workload request rendered for one target, ready to be written as is.
type wireRequest struct {
	name   string
	bytes  []byte // the whole HTTP/1.1 request: head and body
	status int    // expected status code
	body   []byte // expected response body
}

// renderWorkload renders every request of w once, before the load starts.
func renderWorkload(t *target, w *Workload) ([]wireRequest, error) {
	reqs := make([]wireRequest, len(w.Requests))
	for i := range w.Requests {
		r := &w.Requests[i]
		b, err := appendRequest(nil, t, &r.App)
		if err != nil {
			return nil, fmt.Errorf("loadgen: workload %s, request %s: %w", w.Name, r.Name, err)
		}
		reqs[i] = wireRequest{name: r.Name, bytes: b, status: r.Expected.StatusCode(), body: r.Expected.Body}
	}
	return reqs, nil
}

// appendRequest renders r as an HTTP/1.1 request to t.
func appendRequest(b []byte, t *target, r *refapp.Request) ([]byte, error) {
	if !isToken(r.Method) {
		return nil, fmt.Errorf("method %q is not an HTTP token", r.Method)
	}
	for i := 0; i < len(r.QueryString); i++ {
		if c := r.QueryString[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return nil, fmt.Errorf("query string has byte %#02x at %d, not allowed in a request target", c, i)
		}
	}
	if !isFieldValue(r.ContentType) {
		return nil, fmt.Errorf("content type %q is not a valid header value", r.ContentType)
	}
	if !isFieldValue(r.Cookie) {
		return nil, fmt.Errorf("cookie %q is not a valid header value", r.Cookie)
	}
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, t.path...)
	if r.QueryString != "" {
		b = append(b, '?')
		b = append(b, r.QueryString...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, t.host...)
	b = append(b, "\r\nUser-Agent: cgibench\r\n"...)
	if r.Cookie != "" {
		b = append(b, "Cookie: "...)
		b = append(b, r.Cookie...)
		b = append(b, "\r\n"...)
	}
	if r.ContentType != "" {
		b = append(b, "Content-Type: "...)
		b = append(b, r.ContentType...)
		b = append(b, "\r\n"...)
	}
	if len(r.Body) > 0 || r.Method == "POST" || r.Method == "PUT" || r.Method == "PATCH" {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(r.Body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, r.Body...)
	return b, nil
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		switch c {
		case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
			continue
		}
		return false
	}
	return true
}

// isFieldValue reports whether s can be sent as a header value: no control bytes but tab.
func isFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
