#!/usr/bin/python3
"""The cgibench reference app in Python 3 as a FastCGI responder (standard library only).

Like every FastCGI application started by a process manager, it accepts connections on the
listening socket passed as file descriptor 0 (FCGI_LISTENSOCK_FILENO). It serves one connection
and one request at a time (FCGI_MAX_CONNS=1, FCGI_MAX_REQS=1, FCGI_MPXS_CONNS=0), keeps the
connection open between requests when the server sets FCGI_KEEP_CONN, answers FCGI_GET_VALUES,
ends requests for roles other than Responder with FCGI_UNKNOWN_ROLE, and honours
FCGI_ABORT_REQUEST. The app itself is handle() from app.py beside this file.
"""

import os
import socket
import struct
import sys

import app

VERSION_1 = 1
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR, DATA = range(1, 9)
GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = 9, 10, 11
RESPONDER = 1
KEEP_CONN = 1
REQUEST_COMPLETE, CANT_MPX_CONN, OVERLOADED, UNKNOWN_ROLE = 0, 1, 2, 3
MAX_CONTENT = 65535
VALUES = {b"FCGI_MAX_CONNS": b"1", b"FCGI_MAX_REQS": b"1", b"FCGI_MPXS_CONNS": b"0"}

_HEADER = struct.Struct("!BBHHBx")


class ProtocolError(Exception):
    """The peer broke the FastCGI record framing; the connection is dropped."""


def decode_pairs(data):
    """Decode FastCGI name-value pairs (1-byte lengths below 128, else 4 bytes, high bit set)."""
    pairs, i, n = [], 0, len(data)

    def length():
        nonlocal i
        if i >= n:
            raise ProtocolError("truncated name-value pair")
        if data[i] < 0x80:
            i += 1
            return data[i - 1]
        if i + 4 > n:
            raise ProtocolError("truncated name-value pair length")
        value = struct.unpack_from("!I", data, i)[0] & 0x7FFFFFFF
        i += 4
        return value

    while i < n:
        name_len = length()
        value_len = length()
        if i + name_len + value_len > n:
            raise ProtocolError("name-value pair longer than its record")
        pairs.append((data[i:i + name_len], data[i + name_len:i + name_len + value_len]))
        i += name_len + value_len
    return pairs


def encode_pairs(pairs):
    out = bytearray()
    for name, value in pairs:
        for length in (len(name), len(value)):
            out += bytes([length]) if length < 0x80 else struct.pack("!I", length | 0x80000000)
        out += name + value
    return bytes(out)


class Connection:
    """One transport connection from the web server."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.request_id = 0  # the active request, 0 when none
        self.keep_conn = False
        self.params = bytearray()
        self.params_done = False
        self.stdin = []

    def read_record(self):
        """Return (type, request_id, content), or None at a clean end of the connection."""
        header = self._read(_HEADER.size)
        if header is None:
            return None
        version, rtype, request_id, content_len, padding_len = _HEADER.unpack(header)
        if version != VERSION_1:
            raise ProtocolError("FastCGI version %d, want 1" % version)
        body = self._read(content_len + padding_len) if content_len + padding_len else b""
        if body is None:
            raise ProtocolError("connection closed inside a record")
        return rtype, request_id, bytes(body[:content_len])

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                if self.buf:
                    raise ProtocolError("connection closed inside a record")
                return None
            self.buf += chunk
        data = self.buf[:n]
        del self.buf[:n]
        return data

    def write_record(self, rtype, request_id, content=b""):
        self.sock.sendall(self._record(rtype, request_id, content))

    @staticmethod
    def _record(rtype, request_id, content):
        padding = -len(content) % 8  # keep records 8-byte aligned, as the spec recommends
        return _HEADER.pack(VERSION_1, rtype, request_id, len(content), padding) + content + \
            b"\0" * padding

    def end_request(self, request_id, app_status, protocol_status):
        self.write_record(END_REQUEST, request_id,
                          struct.pack("!IB3x", app_status & 0xFFFFFFFF, protocol_status))

    def reset(self):
        self.request_id = 0
        self.params = bytearray()
        self.params_done = False
        self.stdin = []

    def serve(self):
        """Serve records until the server closes the connection or no longer needs it."""
        while True:
            record = self.read_record()
            if record is None:
                return
            rtype, request_id, content = record
            if request_id == 0:
                self.management(rtype, content)
            elif rtype == BEGIN_REQUEST:
                if not self.begin(request_id, content):
                    return
            elif request_id != self.request_id:
                continue  # records of requests that are not active are ignored
            elif rtype == ABORT_REQUEST:
                self.reset()
                self.end_request(request_id, 1, REQUEST_COMPLETE)
                if not self.keep_conn:
                    return
            elif rtype == PARAMS:
                if content:
                    self.params += content
                else:
                    self.params_done = True
            elif rtype == STDIN:
                if content:
                    self.stdin.append(content)
                else:
                    self.respond()
                    if not self.keep_conn:
                        return
            # DATA and other stream types mean nothing to a Responder: ignored.

    def management(self, rtype, content):
        if rtype == GET_VALUES:
            asked = decode_pairs(content)
            known = [(name, VALUES[name]) for name, _ in asked if name in VALUES]
            self.write_record(GET_VALUES_RESULT, 0, encode_pairs(known))
        else:
            self.write_record(UNKNOWN_TYPE, 0, struct.pack("!B7x", rtype))

    def begin(self, request_id, content):
        """Start a request; return False when the connection must be closed."""
        if len(content) < 3:
            raise ProtocolError("short FCGI_BEGIN_REQUEST body")
        role, flags = struct.unpack_from("!HB", content)
        keep = bool(flags & KEEP_CONN)
        if self.request_id:
            # Another request is active on this connection: we do not multiplex.
            self.end_request(request_id, 0, CANT_MPX_CONN)
            return True
        if role != RESPONDER:
            self.end_request(request_id, 0, UNKNOWN_ROLE)
            return keep
        self.reset()
        self.request_id = request_id
        self.keep_conn = keep
        return True

    def respond(self):
        request_id = self.request_id
        env = dict(decode_pairs(bytes(self.params)))
        stdin = b"".join(self.stdin)
        self.reset()
        status = 0
        try:
            body = b""
            length = env.get(b"CONTENT_LENGTH", b"")
            if length:
                n = app.content_length(length)
                if len(stdin) < n:
                    raise EOFError("body ended after %d of %d bytes" % (len(stdin), n))
                body = stdin[:n]  # exactly CONTENT_LENGTH bytes, whatever followed
            out = app.handle(env.get(b"REQUEST_METHOD", b""), env.get(b"QUERY_STRING", b""),
                             env.get(b"CONTENT_TYPE", b""), env.get(b"HTTP_COOKIE", b""), body)
        except (app.BadLength, EOFError) as err:
            out = b""
            status = 1
            self.write_record(STDERR, request_id, ("fcgi_app.py: %s\n" % err).encode())
            self.write_record(STDERR, request_id)
        records = [self._record(STDOUT, request_id, out[i:i + MAX_CONTENT - 7])
                   for i in range(0, len(out), MAX_CONTENT - 7)]
        records.append(self._record(STDOUT, request_id, b""))
        records.append(self._record(END_REQUEST, request_id,
                                    struct.pack("!IB3x", status, REQUEST_COMPLETE)))
        self.sock.sendall(b"".join(records))


def main():
    try:
        listener = socket.socket(fileno=os.dup(0))
    except OSError as err:
        sys.stderr.write("fcgi_app.py: file descriptor 0 is not a listening socket (%s); "
                         "start me from a FastCGI process manager\n" % err)
        return 1
    while True:
        conn, _ = listener.accept()
        try:
            Connection(conn).serve()
        except (ProtocolError, ConnectionError) as err:
            sys.stderr.write("fcgi_app.py: dropping connection: %s\n" % err)
        finally:
            conn.close()


if __name__ == "__main__":
    sys.exit(main())
