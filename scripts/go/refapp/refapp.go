package refapp

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Request is what the reference app reads of a CGI request.
type Request struct {
	Method      string // REQUEST_METHOD
	QueryString string // QUERY_STRING, undecoded
	ContentType string // CONTENT_TYPE
	Cookie      string // HTTP_COOKIE
	Body        []byte // exactly CONTENT_LENGTH bytes of stdin
}

// Field is one CGI response header line.
type Field struct{ Name, Value string }

// Response is the app's answer: CGI header fields in order, then the body.
type Response struct {
	// Status is the code of the Status header, or 0 when the app sends none (a 200).
	Status int
	Header []Field
	Body   []byte
}

// StatusCode is the HTTP status a server derives from the response.
func (r *Response) StatusCode() int {
	if r.Status == 0 {
		return http.StatusOK
	}
	return r.Status
}

// CGI renders the response as a CGI program writes it on stdout (LF line ends).
func (r *Response) CGI() []byte {
	var b bytes.Buffer
	for _, f := range r.Header {
		b.WriteString(f.Name)
		b.WriteString(": ")
		b.WriteString(f.Value)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(r.Body)
	return b.Bytes()
}

// MaxWork is the largest work=N the app honours.
const MaxWork = 100000000

// StatusReason is the reason phrase the app puts after a Status code.
const StatusReason = "Set By Query"

type pair struct{ key, value string }

// Handle runs the app on one request.
func Handle(req Request) Response {
	query := parseForm(req.QueryString)
	var form, files []pair
	media, params := mediaType(req.ContentType)
	switch media {
	case "application/x-www-form-urlencoded":
		form = parseForm(string(req.Body))
	case "multipart/form-data":
		if b, ok := params["boundary"]; ok && b != "" {
			form, files = parseMultipart(req.Body, b)
		}
	}
	cookies := parseCookies(req.Cookie)

	var resp Response
	if v, ok := last(query, "status"); ok {
		if code, ok := statusCode(v); ok {
			resp.Status = code
			resp.Header = append(resp.Header, Field{"Status", strconv.Itoa(code) + " " + StatusReason})
		}
	}
	visits := 0
	if v, ok := last(cookies, "visits"); ok && isDigits(v, 1, 9) {
		visits, _ = strconv.Atoi(v)
	}
	resp.Header = append(resp.Header,
		Field{"Content-Type", "text/plain; charset=utf-8"},
		Field{"Set-Cookie", "visits=" + strconv.Itoa(visits+1) + "; Path=/"})

	var body bytes.Buffer
	body.WriteString("method=")
	body.WriteString(escape(req.Method))
	body.WriteByte('\n')
	writeSection(&body, "query.", query)
	writeSection(&body, "form.", form)
	writeSection(&body, "file.", files) // values are pre-escaped "name;size=…"
	writeSection(&body, "cookie.", cookies)
	if v, ok := last(query, "work"); ok && isDigits(v, 1, 9) {
		n, _ := strconv.Atoi(v)
		if n <= MaxWork {
			body.WriteString("work=" + strconv.Itoa(n) + ";result=" + strconv.FormatInt(Work(n), 10) + "\n")
		}
	}
	resp.Body = body.Bytes()
	return resp
}

// Work runs the MINSTD generator n times from 1, the app's deterministic CPU burn.
func Work(n int) int64 {
	x := int64(1)
	for i := 0; i < n; i++ {
		x = x * 48271 % 2147483647
	}
	return x
}

func statusCode(v string) (int, bool) {
	if !isDigits(v, 3, 3) {
		return 0, false
	}
	code, _ := strconv.Atoi(v)
	if code < 200 || code > 599 || code == 204 || code == 304 {
		return 0, false
	}
	return code, true
}

func isDigits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func last(ps []pair, key string) (string, bool) {
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].key == key {
			return ps[i].value, true
		}
	}
	return "", false
}

// writeSection writes prefix+escape(key)=escape(value) lines, stably sorted by escaped key.
// Values of file lines arrive already escaped and are marked by the "file." prefix.
func writeSection(w *bytes.Buffer, prefix string, ps []pair) {
	type line struct{ key, value string }
	lines := make([]line, len(ps))
	for i, p := range ps {
		v := p.value
		if prefix != "file." {
			v = escape(v)
		}
		lines[i] = line{escape(p.key), v}
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].key < lines[j].key })
	for _, l := range lines {
		w.WriteString(prefix)
		w.WriteString(l.key)
		w.WriteByte('=')
		w.WriteString(l.value)
		w.WriteByte('\n')
	}
}

const upperHex = "0123456789ABCDEF"

// escape keeps A-Z a-z 0-9 - . _ ~ and writes every other byte as %XX (uppercase hex).
func escape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', upperHex[c>>4], upperHex[c&15])
	}
	return string(b)
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func parseForm(s string) []pair {
	var ps []pair
	for s != "" {
		var piece string
		piece, s, _ = strings.Cut(s, "&")
		if piece == "" {
			continue
		}
		k, v, _ := strings.Cut(piece, "=")
		ps = append(ps, pair{unescape(k), unescape(v)})
	}
	return ps
}

func unescape(s string) string {
	if !strings.ContainsAny(s, "+%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// asciiLower lowers ASCII letters only: HTTP's case-insensitivity, which every implementation of
// the app can match (Unicode folding would accept "multİpart/form-data").
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func parseCookies(s string) []pair {
	var ps []pair
	for _, piece := range strings.Split(s, ";") {
		piece = strings.Trim(piece, " \t")
		k, v, ok := strings.Cut(piece, "=")
		if piece == "" || !ok {
			continue
		}
		ps = append(ps, pair{k, v})
	}
	return ps
}

// mediaType returns the lowercased media type and the parameters (names lowercased, values unquoted).
func mediaType(ct string) (string, map[string]string) {
	media, rest, _ := strings.Cut(ct, ";")
	media = asciiLower(strings.Trim(media, " \t"))
	return media, parseParams(rest)
}

// parseParams parses `; name=value; name="value"` lists. A quoted value ends at the next quote.
func parseParams(s string) map[string]string {
	params := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t;")
		if s == "" {
			return params
		}
		eq := strings.IndexAny(s, "=;")
		if eq < 0 || s[eq] == ';' {
			// A parameter with no value: skip it.
			if eq < 0 {
				return params
			}
			s = s[eq:]
			continue
		}
		name := asciiLower(strings.Trim(s[:eq], " \t"))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var value string
		if strings.HasPrefix(s, `"`) {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				value, s = s[1:], ""
			} else {
				value, s = s[1:1+end], s[2+end:]
			}
		} else {
			end := strings.IndexByte(s, ';')
			if end < 0 {
				end = len(s)
			}
			value, s = strings.TrimRight(s[:end], " \t"), s[end:]
		}
		if _, dup := params[name]; !dup {
			params[name] = value
		}
	}
}

// parseMultipart returns text fields and file lines (file values already escaped:
// "FILENAME;size=N;adler32=XXXXXXXX").
func parseMultipart(body []byte, boundary string) (fields, files []pair) {
	delim := []byte("--" + boundary)
	// The first delimiter may start the body or follow a preamble line.
	var rest []byte
	if bytes.HasPrefix(body, delim) {
		rest = body[len(delim):]
	} else if i := bytes.Index(body, append([]byte("\r\n"), delim...)); i >= 0 {
		rest = body[i+2+len(delim):]
	} else {
		return nil, nil
	}
	next := append([]byte("\r\n"), delim...)
	for {
		// After a delimiter: "--" ends the list; otherwise the rest of the line (transport padding)
		// and CRLF.
		if bytes.HasPrefix(rest, []byte("--")) {
			return fields, files
		}
		eol := bytes.Index(rest, []byte("\r\n"))
		if eol < 0 {
			return fields, files
		}
		rest = rest[eol+2:]
		end := bytes.Index(rest, next)
		if end < 0 {
			return fields, files
		}
		part := rest[:end]
		rest = rest[end+len(next):]

		hdrEnd := bytes.Index(part, []byte("\r\n\r\n"))
		var headers, content []byte
		switch {
		case bytes.HasPrefix(part, []byte("\r\n")):
			headers, content = nil, part[2:]
		case hdrEnd >= 0:
			headers, content = part[:hdrEnd], part[hdrEnd+4:]
		default:
			continue
		}
		var disp string
		for _, line := range strings.Split(string(headers), "\r\n") {
			name, value, ok := strings.Cut(line, ":")
			if ok && asciiLower(strings.Trim(name, " \t")) == "content-disposition" {
				disp = value
			}
		}
		kind, params := mediaType(disp)
		name, hasName := params["name"]
		if kind != "form-data" || !hasName {
			continue
		}
		if filename, isFile := params["filename"]; isFile {
			files = append(files, pair{name, escape(filename) +
				";size=" + strconv.Itoa(len(content)) +
				";adler32=" + adlerHex(content)})
			continue
		}
		fields = append(fields, pair{name, string(content)})
	}
}

func adlerHex(b []byte) string {
	const mod = 65521
	a, s := uint32(1), uint32(0)
	for len(b) > 0 {
		n := len(b)
		if n > 5552 { // the largest run that cannot overflow before the modulo
			n = 5552
		}
		for _, c := range b[:n] {
			a += uint32(c)
			s += a
		}
		a %= mod
		s %= mod
		b = b[n:]
	}
	h := strconv.FormatUint(uint64(s<<16|a), 16)
	return strings.Repeat("0", 8-len(h)) + h
}

// FromEnv reads a Request the CGI way: meta-variables from getenv, exactly CONTENT_LENGTH bytes
// from stdin.
func FromEnv(getenv func(string) string, stdin io.Reader) (Request, error) {
	req := Request{
		Method:      getenv("REQUEST_METHOD"),
		QueryString: getenv("QUERY_STRING"),
		ContentType: getenv("CONTENT_TYPE"),
		Cookie:      getenv("HTTP_COOKIE"),
	}
	if cl := getenv("CONTENT_LENGTH"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n < 0 {
			return req, &BadLengthError{cl}
		}
		if n > 0 {
			req.Body = make([]byte, n)
			if _, err := io.ReadFull(stdin, req.Body); err != nil {
				return req, err
			}
		}
	}
	return req, nil
}

// BadLengthError reports a CONTENT_LENGTH that is not a decimal byte count.
type BadLengthError struct{ Value string }

func (e *BadLengthError) Error() string {
	return "refapp: CONTENT_LENGTH " + strconv.Quote(e.Value) + " is not a byte count"
}

// ServeCGI runs one CGI request on the process's environment, stdin and stdout.
func ServeCGI() error {
	req, err := FromEnv(os.Getenv, os.Stdin)
	if err != nil {
		return err
	}
	resp := Handle(req)
	_, err = os.Stdout.Write(resp.CGI())
	return err
}

// Handler is the app as an http.Handler: the in-process strategy.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := Request{
			Method:      r.Method,
			QueryString: r.URL.RawQuery,
			ContentType: r.Header.Get("Content-Type"),
			Cookie:      strings.Join(r.Header.Values("Cookie"), "; "),
		}
		if r.ContentLength != 0 {
			// Never more than the declared length: a FastCGI server may send more on stdin.
			var src io.Reader = r.Body
			if r.ContentLength > 0 {
				src = io.LimitReader(r.Body, r.ContentLength)
			}
			body, err := io.ReadAll(src)
			if err != nil {
				http.Error(w, "refapp: reading body: "+err.Error(), http.StatusBadRequest)
				return
			}
			req.Body = body
		}
		resp := Handle(req)
		WriteHTTP(w, &resp)
	})
}

// WriteHTTP writes the response on an http.ResponseWriter, turning the Status field into the
// status line as a CGI host would.
func WriteHTTP(w http.ResponseWriter, resp *Response) {
	h := w.Header()
	for _, f := range resp.Header {
		if f.Name == "Status" {
			continue
		}
		h[f.Name] = append(h[f.Name], f.Value)
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	w.WriteHeader(resp.StatusCode())
	w.Write(resp.Body)
}
