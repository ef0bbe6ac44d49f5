// Package refapp is the Go implementation of cgibench's reference app and the oracle every other
// implementation is compared with, byte for byte (the contract is scripts/README.md).
//
// In flows a Request — the handful of RFC 3875 meta-variables the app reads and the request body;
// out comes a Response — the CGI header lines and the body. The same code serves as the in-process
// strategy's http.Handler, as the Go CGI and FastCGI programs, and as the load generator's source of
// expected bodies for --verify.
//
// It uses only the standard library so that the Go CGI program can be built from the sources
// embedded in the cgibench binary with nothing but the go toolchain.
package refapp
