// Package cgi is the fork-per-request strategy: a CGI/1.1 host (RFC 3875) written for
// benchmarking, and the two pieces every other strategy that speaks CGI shares with it.
//
//   - MetaVariables turns an *http.Request into the RFC 3875 meta-variables. The fastcgi strategy
//     sends the same list as FCGI_PARAMS.
//   - ReadHeader and WriteResponse turn a program's output (header block, blank line, body) into
//     the HTTP response: Status, Location (local and client redirects) and Content-Type as RFC 3875
//     §6 says, names case-insensitive, LF or CRLF. The fastcgi and embedded strategies pass their
//     stdout through the same code.
//   - Host is the http.Handler that starts the program once per request.
//
// Unlike net/http/cgi, the host bounds every request with a timeout that kills the program's
// whole process group, matches Status case-insensitively, answers 502 for a malformed or missing
// header block instead of an empty 200, execs the program directly with a minimal environment,
// and writes small request bodies into the stdin pipe before the fork so that no goroutine copies
// them.
package cgi
