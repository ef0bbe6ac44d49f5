// Package embedded is the embedded-interpreter strategy, the other classic answer to CGI's
// start-up cost (mod_perl, mod_ruby, Apache mod_lua): the language runs inside the server. Here
// the language is Lua and the interpreter gopher-lua, a Lua 5.1 VM written in Go.
//
// # What flows in and out
//
// In: Config.Program.Script, a Lua file that returns a module table with a handle function,
// the same file the system Lua runs as a CGI program through a thin adapter
// (scripts/lua/app.lua and scripts/lua/cgi.lua):
//
//	local M = {}
//	function M.handle(req) ... return {status = nil, headers = {{"Content-Type", "text/plain"}}, body = "..."} end
//	return M
//
// handle gets a request table: method (REQUEST_METHOD), query (QUERY_STRING, undecoded),
// content_type (CONTENT_TYPE), cookie (the Cookie headers joined with "; ", as HTTP_COOKIE)
// and body (read whole, up to MaxBody). Two more fields are built on first use: headers, the
// HTTP_* meta-variables, and env, all of them, both from cgi.MetaVariables. It returns
// headers, a list of {name, value} in output order (a Status line included as the CGI output
// shows it), body, and status, used only to add a Status line when headers has none.
//
// Out: the result is rendered as CGI output ("Name: value" lines, a blank line, the body) and
// passed through cgi.ReadHeader and cgi.Send, the parser every strategy shares, so Status,
// Location (local redirects included) and Content-Type mean what they mean for a CGI program.
// A value with a line break is refused (500) rather than rendered as a second header. The
// response carries a Content-Length.
//
// # Pool
//
// The script is parsed and compiled once, in Start, to a *lua.FunctionProto. The pool holds
// Config.Workers states (default GOMAXPROCS: more states than threads that can run them only
// queue inside the Go scheduler instead of in the pool), each built up front: a sandboxed
// *lua.LState in which the compiled chunk ran once, leaving the module's functions ready. A
// request takes a state from the pool (waiting up to Config.Timeout for one, else 503), runs
// handle, and puts the state back before its response is written. Bodies are read before a
// state is taken, so a slow client holds no interpreter. Config.MaxRequests recycles a state
// after that many requests.
//
// # Isolation
//
// Requests share a state one after the other, never at once, and do not see each other's
// writes. The globals, each library table and the module table are copy-on-write layers: Lua
// code holds an empty proxy table whose metatable reads through to a base and sends writes to
// a __newindex function. While the chunk loads, writes land in the base (a global helper or a
// polyfill such as table.foo = ... is then every request's); during a request the first write
// creates an overlay table, reading through to the base, that the proxy then reads from. After
// the request the overlays are dropped, and any key put in a proxy with rawset is removed. A key
// set to nil during a request reads as nil until the request ends (the overlay holds a marker
// for it). The
// module table the chunk returned (what require(name) returns, name being the script's base
// name) is turned into such a proxy in place, so "M.x = v" inside handle is the request's own.
// The proxies' metatables are protected (__metatable), so setmetatable(_G, ...) fails and
// getmetatable returns false; so is the request table's, and getmetatable("") no longer hands
// out the string library.
//
// Not isolated: state held in the module's local variables (upvalues) and the contents of
// tables created at load time, which a request can mutate in place (t[k] = v on a table held
// in a local). The reference app keeps all request state in locals of handle.
//
// Because the proxies are empty, pairs, next, # and rawget see nothing in _G, in the library
// tables or in the module table; index them by name. A function added to the string table
// during a request is not a method of strings: their metatable reads the real string library.
//
// # Budget
//
// Each request runs under a context with Config.Timeout (default 30s), set on the state with
// LState.SetContext: gopher-lua checks it before every VM instruction, so a runaway loop,
// pcall-wrapped or not, stops at once. The client gets 504, the state is closed and a fresh one
// is built in the background for its slot: a state is never reused after a timeout, nor after
// a Go panic inside the interpreter. A library function written in Go (string.gsub over a long
// string, string.rep) is not interrupted; handle runs on a goroutine of its own, so such a
// request is still answered 504 at the deadline plus AbandonGrace, its slot refilled at once,
// and the stuck state closed when the call returns (Stats.Abandoned). Its goroutine keeps a CPU
// busy until then. There is no memory limit. A script error gets 500, with the Lua error and
// traceback in Config.Log; the state is kept.
//
// # Sandbox
//
// Open: the base functions assert, error, getmetatable, ipairs, next, pairs, pcall, rawequal,
// rawget, rawset, select, tonumber, tostring, type, unpack, xpcall and _VERSION; setmetatable
// for tables only, as in Lua 5.1 (gopher-lua's would set the metatable of a whole type, such as
// number, for every later request); print (to Config.Log, never to the server's stdout);
// collectgarbage (a no-op: gopher-lua's
// would stop the world with runtime.GC); require (only the libraries below and the app
// itself); the string, table and math libraries; os.clock, os.date, os.difftime and os.time.
// Not there: io, os.execute, os.exit, os.getenv, os.remove and the rest of os, debug, package,
// coroutine, gopher-lua's channel, dofile, loadfile, load, loadstring, getfenv, setfenv,
// module and newproxy.
package embedded
