// Package fastcgi is the persistent-worker strategy: a FastCGI 1.0 client, a process manager
// that keeps a static pool of FastCGI workers, and the http.Handler that joins them to the
// CGI pieces of package cgi.
//
// # What flows through
//
// An HTTP request comes in; cgi.MetaVariables turns it into the RFC 3875 meta-variables, to
// which the Handler adds the program's extra variables (Program.Env, and SCRIPT_FILENAME, which
// php-cgi needs, when Env does not set it). They go out as FCGI_PARAMS after an
// FCGI_BEGIN_REQUEST (responder role, FCGI_KEEP_CONN); the body follows as FCGI_STDIN. What
// comes back as FCGI_STDOUT is read as an io.Reader (Response) by cgi.ReadHeader and written by
// cgi.Send or cgi.ServeLocalRedirect: the same parser the cgi strategy uses, fed a stream, so a
// large response is never held in memory. FCGI_STDERR goes to the log a line at a time.
// FCGI_END_REQUEST ends the stream: io.EOF, or ErrOverloaded (503), ErrCantMpxConn or
// ErrUnknownRole (502). A worker that dies mid-request gives ErrConnLost (502); the timeout
// gives 504.
//
// # The client
//
// Client speaks to one address over at most MaxConns keep-alive connections, one request per
// connection at a time (request id 1, no multiplexing, which libfcgi, php-cgi and Perl's FCGI
// cannot do anyway). A connection is reused only after FCGI_REQUEST_COMPLETE
// with everything sent and read. A kept connection may go stale while idle (the server hung
// up, as php-cgi does after a management record, or exited): a request that fails on a reused
// connection before the first byte of the answer is sent once more on a new connection, as
// net/http does, when it is still whole in the write buffer; a request whose body is being
// streamed cannot be, so its connection is checked (a non-blocking peek) before it is used. When the request's context ends (timeout, client gone) the client sends
// FCGI_ABORT_REQUEST and closes the connection: reusing it would be unsafe, since some
// applications (net/http/fcgi) keep writing records for an aborted request. A request is one
// write when its body fits in 32 KiB; a longer body is streamed by a goroutine while the
// response is read. In the steady state a request allocates nothing in the client (two small
// allocations for context.AfterFunc when its context can be cancelled); see BenchmarkClient.
// GetValues sends FCGI_GET_VALUES.
//
// # The pool, and why each worker has its own socket
//
// spawn-fcgi and php-fpm give every worker the same listening socket as fd 0
// (FCGI_LISTENSOCK_FILENO) and let the kernel hand each connection to whichever worker calls
// accept first. That leaves the manager blind: it cannot know which process serves a
// connection (SO_PEERCRED names the process that called listen, the manager itself), so it
// cannot count requests per worker for MaxRequests, cannot tell which worker a stuck request
// is stuck in, and cannot stop a worker without the risk that it has just accepted a new
// connection. With a shared socket, recycling must be left to the app (PHP_FCGI_MAX_REQUESTS,
// a counted FCGI_Accept loop), and not every app does it.
//
// So Pool gives each worker its own listening socket, still as fd 0: a program that runs under
// spawn-fcgi runs here unchanged. The pool routes each request to an idle worker, in turn (what
// the kernel's accept queue does with a shared socket, since an idle worker is one blocked in
// accept), and holds at most one connection to each. In exchange it knows exactly which
// process has which request:
//
//   - MaxRequests recycles a worker after N requests, once it is idle: no request ever fails
//     because of recycling.
//   - A request abandoned mid-way (timeout, client gone, broken response) leaves its worker
//     possibly stuck in it; that worker is stopped and replaced, as php-fpm's
//     request_terminate_timeout does, so no later request queues behind it.
//   - A worker that dies takes only its own request with it (502); its slot is restarted.
//
// The sockets live in a private temporary directory (unix, the default) or on 127.0.0.1 (tcp).
// Every incarnation of a worker gets a fresh socket, and the pool closes its own copy once the
// worker has it, so a connection to a dead worker is refused at once instead of waiting in a
// backlog nobody accepts.
//
// A new worker counts as ready when it answers FCGI_GET_VALUES on its socket (Values reports
// the answer). A worker that exits is restarted, after a backoff that doubles (50 ms to 5 s)
// while workers keep dying young without serving a request; Restarts counts replacements,
// Recycles the planned ones. Stopping sends SIGTERM to the worker's process group, then SIGKILL
// after StopGrace (2 s). Workers lead their own process group, so nothing they start survives
// them, and have Pdeathsig SIGKILL, so they die with the server; since Pdeathsig follows the
// thread that forked, every worker is forked from one OS thread locked for the pool's life.
//
// # The strategy
//
// Strategy starts a Pool of Config.Workers workers of Config.Program on unix sockets and
// serves a Handler through strategies.ServeHandler. With Config.FastCGIAddr
// ("unix:/path.sock" or "tcp:127.0.0.1:9000") it starts nothing and points a Client at that
// server (php-fpm, say), opening at most Config.Workers connections: set it no higher than the
// server's process count, since a process serving one connection accepts no other.
//
// Like the cgi strategy, the Handler does not flush after each FCGI_STDOUT record: net/http
// sends the response as its 4 KiB buffer fills and at the end, which keeps a short response's
// Content-Length instead of turning it into chunks.
package fastcgi
