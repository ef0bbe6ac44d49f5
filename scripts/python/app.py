#!/usr/bin/python3
"""The cgibench reference app in Python 3, run as a CGI program.

The contract is scripts/README.md and the oracle scripts/go/refapp: the bytes this writes on
stdout must equal refapp.Handle(req).CGI(). fcgi_app.py imports handle() from here.

Everything is handled as bytes, so any byte in a query, cookie or body survives; case folding
is ASCII only.
"""

import os
import sys

MAX_WORK = 100000000
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset(b"0123456789abcdefABCDEF")
# _ESCAPED maps each byte value to its escaped form: itself when unreserved, else %XX.
_ESCAPED = [bytes([c]) if c in _UNRESERVED else b"%%%02X" % c for c in range(256)]
_BLANKS = b" \t"


def escape(s):
    """Keep A-Z a-z 0-9 - . _ ~ and write every other byte as %XX (uppercase hex)."""
    return b"".join([_ESCAPED[c] for c in s])


def unescape(s):
    """Decode + and %XX; a % not followed by two hex digits stays as it is."""
    if b"+" not in s and b"%" not in s:
        return s
    out = bytearray()
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == 0x2B:  # +
            out.append(0x20)
        elif c == 0x25 and i + 2 < n and s[i + 1] in _HEX and s[i + 2] in _HEX:
            out.append(int(s[i + 1:i + 3], 16))
            i += 2
        else:
            out.append(c)
        i += 1
    return bytes(out)


def parse_form(s):
    pairs = []
    for piece in s.split(b"&"):
        if not piece:
            continue
        key, _, value = piece.partition(b"=")
        pairs.append((unescape(key), unescape(value)))
    return pairs


def parse_cookies(s):
    pairs = []
    for piece in s.split(b";"):
        piece = piece.strip(_BLANKS)
        if not piece or b"=" not in piece:
            continue
        key, _, value = piece.partition(b"=")
        pairs.append((key, value))
    return pairs


def ascii_lower(s):
    return s.lower()  # bytes.lower() changes only A-Z


def parse_params(s):
    """Parse '; name=value; name="value"' lists: names lowercased, the first of a name wins,
    a quoted value ends at the next quote."""
    params = {}
    while True:
        s = s.lstrip(b" \t;")
        if not s:
            return params
        eq, semi = s.find(b"="), s.find(b";")
        if eq < 0:
            return params
        if 0 <= semi < eq:
            s = s[semi:]
            continue
        name = ascii_lower(s[:eq].strip(_BLANKS))
        s = s[eq + 1:].lstrip(_BLANKS)
        if s.startswith(b'"'):
            end = s.find(b'"', 1)
            if end < 0:
                value, s = s[1:], b""
            else:
                value, s = s[1:end], s[end + 1:]
        else:
            end = s.find(b";")
            if end < 0:
                end = len(s)
            value, s = s[:end].rstrip(_BLANKS), s[end:]
        params.setdefault(name, value)


def media_type(s):
    media, _, rest = s.partition(b";")
    return ascii_lower(media.strip(_BLANKS)), parse_params(rest)


def adler32(data):
    import zlib  # only multipart file parts need it

    return zlib.adler32(data) & 0xFFFFFFFF


def parse_multipart(body, boundary):
    """Return (fields, files); a file's value is the escaped b"FILENAME;size=N;adler32=X"."""
    fields, files = [], []
    delim = b"--" + boundary
    nxt = b"\r\n" + delim
    if body.startswith(delim):
        pos = len(delim)
    else:
        i = body.find(nxt)
        if i < 0:
            return fields, files
        pos = i + len(nxt)
    while True:
        if body.startswith(b"--", pos):
            return fields, files
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            return fields, files
        pos = eol + 2
        end = body.find(nxt, pos)
        if end < 0:
            return fields, files
        part = body[pos:end]
        pos = end + len(nxt)
        if part.startswith(b"\r\n"):
            continue  # no headers, so no Content-Disposition
        hdr = part.find(b"\r\n\r\n")
        if hdr < 0:
            continue
        content = part[hdr + 4:]
        disp = b""
        for line in part[:hdr].split(b"\r\n"):
            name, colon, value = line.partition(b":")
            if colon and ascii_lower(name.strip(_BLANKS)) == b"content-disposition":
                disp = value
        kind, params = media_type(disp)
        if kind != b"form-data" or b"name" not in params:
            continue
        name = params[b"name"]
        if b"filename" in params:
            files.append((name, b"%s;size=%d;adler32=%08x" % (
                escape(params[b"filename"]), len(content), adler32(content))))
        else:
            fields.append((name, content))


def last(pairs, key):
    for k, v in reversed(pairs):
        if k == key:
            return v
    return None


def is_digits(s, lo, hi):
    return s is not None and lo <= len(s) <= hi and all(0x30 <= c <= 0x39 for c in s)


def work(n):
    x = 1
    for _ in range(n):
        x = x * 48271 % 2147483647
    return x


def section(out, prefix, pairs, escape_values=True):
    lines = [(escape(k), escape(v) if escape_values else v) for k, v in pairs]
    lines.sort(key=lambda kv: kv[0])  # list.sort is stable
    for k, v in lines:
        out.append(b"%s%s=%s\n" % (prefix, k, v))


def handle(method, query, content_type, cookie, body):
    """Run the app on one request (all arguments bytes); return the CGI stdout bytes."""
    q = parse_form(query)
    form, files = [], []
    media, params = media_type(content_type)
    if media == b"application/x-www-form-urlencoded":
        form = parse_form(body)
    elif media == b"multipart/form-data" and params.get(b"boundary"):
        form, files = parse_multipart(body, params[b"boundary"])
    cookies = parse_cookies(cookie)

    out = []
    status = last(q, b"status")
    if is_digits(status, 3, 3):
        code = int(status)
        if 200 <= code <= 599 and code not in (204, 304):
            out.append(b"Status: %d Set By Query\n" % code)
    visits = last(cookies, b"visits")
    visits = int(visits) if is_digits(visits, 1, 9) else 0
    out.append(b"Content-Type: text/plain; charset=utf-8\n")
    out.append(b"Set-Cookie: visits=%d; Path=/\n\n" % (visits + 1))
    out.append(b"method=%s\n" % escape(method))
    section(out, b"query.", q)
    section(out, b"form.", form)
    section(out, b"file.", files, escape_values=False)
    section(out, b"cookie.", cookies)
    w = last(q, b"work")
    if is_digits(w, 1, 9) and int(w) <= MAX_WORK:
        n = int(w)
        out.append(b"work=%d;result=%d\n" % (n, work(n)))
    return b"".join(out)


class BadLength(ValueError):
    """CONTENT_LENGTH is not a decimal byte count."""


def content_length(value):
    """Parse CONTENT_LENGTH the way the Go oracle does (optional sign, decimal digits)."""
    digits = value[1:] if value[:1] in (b"+", b"-") else value
    if not is_digits(digits, 1, 19) or (value[:1] == b"-" and int(digits) != 0):
        raise BadLength("CONTENT_LENGTH %r is not a byte count" % value.decode("latin-1"))
    return int(digits)


def read_exactly(fd, n):
    """Read exactly n bytes from fd; never read past them (the body may be followed by more)."""
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("body ended after %d of %d bytes" % (got, n))
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def main():
    env = os.environb
    body = b""
    length = env.get(b"CONTENT_LENGTH", b"")
    try:
        if length:
            n = content_length(length)
            if n > 0:
                body = read_exactly(0, n)
    except (BadLength, EOFError) as err:
        sys.stderr.write("app.py: %s\n" % err)
        return 1
    out = handle(env.get(b"REQUEST_METHOD", b""), env.get(b"QUERY_STRING", b""),
                 env.get(b"CONTENT_TYPE", b""), env.get(b"HTTP_COOKIE", b""), body)
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
