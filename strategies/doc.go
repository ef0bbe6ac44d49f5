// Package strategies defines what every backend cgibench measures has in common: a Strategy
// starts a Backend that serves one Program over HTTP on a loopback address; the Backend gives
// its URL, the process ids to account for, and stops cleanly.
//
// One sub-package per way of running a web program: cgi (a process per request), fastcgi (a pool
// of persistent workers), embedded (an interpreter inside the server), inprocess (a Go handler,
// the upper bound). Which names map to which strategy is decided by the bench package.
package strategies
