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
// # The pool: a socket per worker, or one shared socket
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
// So by default Pool gives each worker its own listening socket, still as fd 0: a program
// that runs under spawn-fcgi runs here unchanged. The pool routes each request to an idle
// worker, in turn (what the kernel's accept queue does with a shared socket, since an idle
// worker is one blocked in accept), and holds at most one connection to each. In exchange it
// knows exactly which process has which request:
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
// PoolConfig.SharedSocket (the strategy's SharedSocket, the --shared-socket flag) is the
// spawn-fcgi and php-fpm model itself, for measuring it: one listening socket, unix in the
// private directory or tcp on 127.0.0.1, passed as fd 0 to all the workers, and a Client
// keeping at most Workers connections to it, so that no more requests are in flight than
// there are workers; the kernel picks the worker. The pool keeps its copy of the socket open
// for its life, so a connection made while no worker accepts waits in the backlog. What it
// can and cannot do then:
//
//   - A worker that dies is restarted and counted; PIDs lists the workers. The backoff
//     applies when workers die young while the pool sends no request. One killed mid-request
//     costs that request a 502, and only it: the request is not sent again, since it may
//     have run (see below).
//   - MaxRequests is rejected (ErrSharedMaxRequests): the pool cannot count a worker's
//     requests. An app that recycles itself (php-cgi with PHP_FCGI_MAX_REQUESTS, or by
//     default after 500 requests) works: its exit with status 0, after the pool has sent
//     requests, is counted as a recycle. It finishes its request, then closes a kept
//     connection the client may already have written the next request to: such a request,
//     broken before any byte of its answer, is sent again on a new connection once a worker
//     is seen to exit with status 0, and only then (a kept connection is also checked for a
//     hang-up, with a non-blocking peek, before each request). Which worker held the
//     connection cannot be known: should one worker recycle itself just as another dies
//     mid-request, that request may run twice.
//   - A request that times out is aborted and its connection closed, but its worker, which
//     the pool cannot name, is not replaced: it serves again once the app gives up on the
//     request, or stays stuck, one worker fewer, until the pool closes. Give the app its own
//     limit (PHP's max_execution_time).
//   - Readiness: the pool cannot address one worker, so StartPool returns once the socket
//     answers FCGI_GET_VALUES and every worker has started; a worker still starting gets
//     connections once it accepts.
//   - The kernel spreads connections, not requests, and connections are kept: a worker that
//     serves one connection at a time (php-cgi, libfcgi, Perl's FCGI), the kind php-fpm
//     runs, holds one of them, so requests in flight at once are on different workers. A
//     worker that accepts many connections at once (net/http/fcgi) may take them all while
//     the others idle.
//
// Use the default to compare strategies and to recycle with MaxRequests; use the shared
// socket to measure a program as spawn-fcgi or php-fpm would run it.
//
// A new worker counts as ready when it answers FCGI_GET_VALUES on its socket (Values reports
// the answer; for a shared socket, see above). A worker that exits is restarted, after a backoff that doubles (50 ms to 5 s)
// while workers keep dying young without serving a request; Restarts counts replacements of
// workers that died or were stopped, Recycles the planned ones (MaxRequests) and the workers
// that exited with status 0 after serving (the app's own recycling). Stopping sends SIGTERM
// to the worker's process group, then SIGKILL after StopGrace (2 s). Workers lead their own
// process group, so nothing they start survives them, and have Pdeathsig SIGKILL, so they die
// with the server; since Pdeathsig follows the thread that forked, every worker is forked
// from one OS thread locked for the pool's life.
//
// # The strategy
//
// Strategy starts a Pool of Config.Workers workers of Config.Program on unix sockets (one each,
// or one shared with Strategy.SharedSocket) and serves a Handler through
// strategies.ServeHandler. With Config.FastCGIAddr ("unix:/path.sock" or
// "tcp:127.0.0.1:9000") it starts nothing and points a Client at that server (php-fpm, say),
// opening at most Config.Workers connections: set it no higher than the server's process
// count, since a process serving one connection accepts no other.
//
// Like the cgi strategy, the Handler does not flush after each FCGI_STDOUT record: net/http
// sends the response as its 4 KiB buffer fills and at the end, which keeps a short response's
// Content-Length instead of turning it into chunks.
//
// # The front ends
//
// What serves HTTP in front of the pool is Strategy.FrontEnd. The default for a pool with a
// socket per worker is Front, an event loop: one goroutine with every socket non-blocking in
// one epoll set, the way lighttpd and nginx serve FastCGI. net/http, which the other strategies
// use, parks and wakes a goroutine at every wait on a socket; a FastCGI request waits on two
// (the client, then the worker), and on a small machine those handoffs cost the server more
// CPU than lighttpd spends on the whole request. FrontNetHTTP serves the Handler through
// net/http instead, as the other strategies are served, for comparing them front end for front
// end; it is the only front end for a shared socket and for an external server (FastCGIAddr).
//
// Front does what the Handler does, with the same pieces: http.ReadRequest parses the request
// head, cgi.MetaVariables and Handler's extra params make FCGI_PARAMS, cgi.ReadHeader and
// cgi.Header.WriteHeader turn FCGI_STDOUT into the answer, cgi.LocalRedirect serves local
// redirects, and failures get the Handler's statuses (502, 503, 504). It differs in how bytes
// move:
//
//   - A request's body is read whole before a worker is taken (up to cgi.MaxBufferedBody,
//     else 413), as lighttpd and nginx buffer it: a slow client holds no worker. A chunked
//     body becomes a CONTENT_LENGTH; Expect: 100-continue is answered.
//   - An answer is buffered up to 1 MiB and sent with a Content-Length; a longer one is sent as
//     it comes, chunked (HTTP/1.1) or until the connection closes (HTTP/1.0), and the worker is
//     not read from while 1 MiB waits for the client.
//   - Requests are taken one at a time per connection, pipelined ones in order; those waiting
//     for a worker are served first come, first served, by the worker idle the longest.
//   - A worker that hangs up a connection it was asked to keep is either exiting (an app that
//     recycles itself, as php-cgi does every PHP_FCGI_MAX_REQUESTS) or one that ignores
//     FCGI_KEEP_CONN: it gets no request until it exits or 200 ms pass, and is then connected
//     to anew for each request. Once a worker has recycled itself, the loop closes the
//     connection itself at that request count. A request that finds a kept connection hung up
//     before any answer is sent again if its method allows (GET, HEAD, OPTIONS, TRACE), and
//     otherwise fails with 502; the worker is not replaced, since it is not stuck in it. That
//     can happen to a POST once per worker, before the loop has seen the hang-ups.
//   - Timeouts, as net/http's in the other front end: 10 s for a request head, 2x Timeout for
//     its body, Timeout from the wait for a worker to the end of the answer (504, the worker is
//     replaced), 3x Timeout to send the answer, 2 minutes for an idle kept connection. A client
//     that goes away abandons its request: the worker is replaced. Close stops accepting, lets
//     the requests under way finish (strategies.CloseGrace at most), then closes the pool.
//
// Socket reads and writes in the loop are raw system calls (strategies.SocketRead), which a
// call that cannot block allows; only epoll_wait goes through the scheduler.
package fastcgi
