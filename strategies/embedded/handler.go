package embedded

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/cgibench/cgibench/strategies"
	"github.com/cgibench/cgibench/strategies/cgi"
)

// MaxBody bounds a request body; a longer one gets 413. The body is read whole before the
// script runs (it is a Lua string), so this bounds memory per request.
const MaxBody = cgi.MaxBufferedBody

var (
	// ErrNoScript is returned by Start and NewHandler when Config.Program.Script is empty.
	ErrNoScript = errors.New("no Lua script: set Program.Script to the app's .lua file (cgibench: --program lua)")
	// ErrNoModule is wrapped when the script does not return a table with a handle function.
	ErrNoModule = errors.New("the script must return a module table with a handle function (local M = {} function M.handle(req) ... end return M)")
	// ErrTimeout is logged when a script overran Config.Timeout; its state was discarded (or,
	// stuck in a Go call, abandoned).
	ErrTimeout = errors.New("script timed out")
	// ErrBadResult is wrapped when handle returned something that is not a response table.
	ErrBadResult = errors.New("handle returned a malformed response")
)

// Handler serves a Lua app from a pool of interpreter states, each with the app loaded from
// one compiled chunk. Make it with NewHandler; it is safe for concurrent use.
type Handler struct {
	proto       *lua.FunctionProto
	module      string // the name require finds the app under: the script's base name
	timeout     time.Duration
	maxRequests int
	log         *log.Logger

	// slots holds one entry per state of the pool: a state ready for a request, or nil for
	// one to be built (after a failed rebuild). A request takes an entry and puts one back.
	slots  chan *state
	size   int
	closed atomic.Bool

	// noBudget leaves the context off the LState (the deadline still answers 504), for the
	// benchmark that prices gopher-lua's check of it before every instruction.
	noBudget bool
	// extend, when set, adds globals to every state before the app loads (tests).
	extend func(L *lua.LState, globals *lua.LTable)

	requests, scriptErrors, timeouts, abandoned, states atomic.Int64
	stray                                               atomic.Int64 // abandoned calls still running
}

// Stats counts what a Handler has done.
type Stats struct {
	// Requests is the number of requests that reached ServeHTTP.
	Requests int64 `json:"requests"`
	// ScriptErrors counts requests answered 500 because the script raised an error or
	// returned a malformed response.
	ScriptErrors int64 `json:"script_errors"`
	// Timeouts counts requests answered 504; each discarded its state.
	Timeouts int64 `json:"timeouts"`
	// Abandoned counts timed-out requests whose interpreter was inside a Go library call and
	// could not stop: they were answered 504 on time, their slot refilled, and their state
	// closed when the call returned.
	Abandoned int64 `json:"abandoned"`
	// StatesCreated counts interpreter states built, the initial pool included.
	StatesCreated int64 `json:"states_created"`
}

// Stats returns the handler's counters.
func (h *Handler) Stats() Stats {
	return Stats{
		Requests:      h.requests.Load(),
		ScriptErrors:  h.scriptErrors.Load(),
		Timeouts:      h.timeouts.Load(),
		Abandoned:     h.abandoned.Load(),
		StatesCreated: h.states.Load(),
	}
}

// AbandonGrace is how long past the deadline a request waits for the interpreter to stop
// before it answers 504 without it. gopher-lua stops at the next VM instruction, which takes
// microseconds; only a long library call written in Go outlasts this.
const AbandonGrace = 100 * time.Millisecond

// DefaultWorkers is the pool size when Config.Workers is zero: GOMAXPROCS, the number of
// states that can run Lua at the same time. A request that finds no free state waits for one.
func DefaultWorkers() int { return runtime.GOMAXPROCS(0) }

// NewHandler compiles cfg.Program.Script once and builds a pool of cfg.Workers states from it.
// It uses cfg.Program.Script, Timeout, Workers, MaxRequests and Log.
func NewHandler(ctx context.Context, cfg strategies.Config) (*Handler, error) {
	return buildHandler(ctx, cfg, nil)
}

// buildHandler is NewHandler with a hook that adds globals to every state (tests).
func buildHandler(ctx context.Context, cfg strategies.Config, extend func(L *lua.LState, globals *lua.LTable)) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}
	cfg = cfg.Resolve()
	if cfg.Program.Script == "" {
		return nil, fmt.Errorf("embedded: %w", ErrNoScript)
	}
	proto, err := Compile(cfg.Program.Script)
	if err != nil {
		return nil, err
	}
	size := cfg.Workers
	if size == 0 {
		size = DefaultWorkers()
	}
	h := &Handler{
		proto:       proto,
		module:      strings.TrimSuffix(filepath.Base(cfg.Program.Script), ".lua"),
		timeout:     cfg.Timeout,
		maxRequests: cfg.MaxRequests,
		log:         log.New(cfg.Log, "", log.LstdFlags|log.Lmicroseconds),
		slots:       make(chan *state, size),
		size:        size,
		extend:      extend,
	}
	for built := range size {
		s, err := h.newState()
		if err == nil && ctx.Err() != nil {
			s.L.Close()
			err = fmt.Errorf("embedded: building the pool: %w", ctx.Err())
		}
		if err != nil {
			for range built {
				(<-h.slots).L.Close()
			}
			return nil, err
		}
		h.slots <- s
	}
	return h, nil
}

// Compile parses and compiles a Lua file once; every state of a pool runs the same proto.
// A syntax error carries the file, line and column.
func Compile(path string) (*lua.FunctionProto, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("embedded: %w", err)
	}
	defer f.Close()
	chunk, err := parse.Parse(bufio.NewReader(f), path)
	if err != nil {
		return nil, fmt.Errorf("embedded: parsing %w", trimmed{err})
	}
	proto, err := lua.Compile(chunk, path)
	if err != nil {
		return nil, fmt.Errorf("embedded: compiling %s: %w", path, err)
	}
	return proto, nil
}

// trimmed drops the line break gopher-lua ends its syntax errors with.
type trimmed struct{ err error }

func (t trimmed) Error() string { return strings.TrimSpace(t.err.Error()) }
func (t trimmed) Unwrap() error { return t.err }

func (h *Handler) newState() (*state, error) {
	s, err := newState(h.proto, h.module, h.timeout, h.log, h.extend)
	if err != nil {
		return nil, fmt.Errorf("embedded: %s: %w", h.proto.SourceName, err)
	}
	h.states.Add(1)
	return s, nil
}

// acquire takes a state from the pool, waiting at most the request timeout for one, and
// building it if its slot is empty.
func (h *Handler) acquire(ctx context.Context) (*state, error) {
	var s *state
	select {
	case s = <-h.slots:
	default:
		t := time.NewTimer(h.timeout)
		defer t.Stop()
		select {
		case s = <-h.slots:
		case <-t.C:
			return nil, fmt.Errorf("embedded: no interpreter state free after %v (all %d busy)", h.timeout, h.size)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if s == nil {
		var err error
		if s, err = h.newState(); err != nil {
			h.slots <- nil
			return nil, err
		}
	}
	return s, nil
}

// release returns a state to the pool, or, when it must not run again, closes it and puts a
// fresh one in its slot. The rebuild runs in the background so that the request that caused
// it is answered first.
func (h *Handler) release(s *state, discard bool) {
	if !discard && h.maxRequests > 0 && s.served >= h.maxRequests {
		discard = true
	}
	if !discard && !h.closed.Load() {
		h.slots <- s
		return
	}
	s.L.Close()
	h.refill()
}

// refill puts a fresh state in a slot whose state was discarded. The build runs in the
// background so that the request that caused it is answered first; if it fails the slot gets
// nil, and the next request to take it tries again.
func (h *Handler) refill() {
	if h.closed.Load() {
		h.slots <- nil
		return
	}
	go func() {
		ns, err := h.newState()
		if err != nil {
			h.log.Printf("%v (will retry on the next request)", err)
		}
		if ns != nil && h.closed.Load() {
			// Close may have given up waiting for this slot: nothing would close it later.
			ns.L.Close()
			ns = nil
		}
		h.slots <- ns
	}()
}

// abandon gives up on a state whose script overran the budget inside a Go function: the state
// is closed once the call returns (a goroutine cannot be stopped from outside). Its slot is
// refilled now while no more abandoned calls than slots are still running; beyond that the slot
// waits for this call to return, so a script that always overruns in a Go call cannot pile up
// goroutines and interpreters without end.
func (h *Handler) abandon(s *state, done <-chan runResult) {
	h.abandoned.Add(1)
	early := h.stray.Add(1) <= int64(h.size)
	if early {
		h.refill()
	}
	go func() {
		<-done
		s.L.Close()
		h.stray.Add(-1)
		if !early {
			h.refill()
		}
	}()
}

// Close closes every state. In-flight requests should have finished (the HTTP server's
// Shutdown waits for them); Close waits up to strategies.CloseGrace for states still out.
func (h *Handler) Close() error {
	if h.closed.Swap(true) {
		return nil
	}
	t := time.NewTimer(strategies.CloseGrace)
	defer t.Stop()
	for i := range h.size {
		select {
		case s := <-h.slots:
			if s != nil {
				s.L.Close()
			}
		case <-t.C:
			return fmt.Errorf("embedded: %d of %d interpreter states still busy after %v", h.size-i, h.size, strategies.CloseGrace)
		}
	}
	return nil
}

// request is what the request table's lazy fields are built from.
type request struct {
	r       *http.Request
	bodyLen int64
}

var (
	outPool    = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
	copyPool   = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
)

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.requests.Add(1)
	if h.closed.Load() {
		http.Error(w, "503 Service Unavailable: the server is stopping", http.StatusServiceUnavailable)
		return
	}
	// The body is read before a state is taken, so a slow client holds no interpreter.
	body, code, err := readBody(r)
	if err != nil {
		h.log.Printf("embedded: %v", err)
		http.Error(w, fmt.Sprintf("%d %s", code, http.StatusText(code)), code)
		return
	}
	s, err := h.acquire(r.Context())
	if err != nil {
		if r.Context().Err() == nil {
			h.log.Printf("%v", err)
			http.Error(w, "503 Service Unavailable: no interpreter free", http.StatusServiceUnavailable)
		}
		return
	}
	// The budget covers the script, not the wait for a state.
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	out := outPool.Get().(*bytes.Buffer)
	out.Reset()
	req := &request{r: r, bodyLen: int64(len(body))}

	// The script runs on its own goroutine so that this one can answer 504 on time even when
	// the interpreter cannot stop: gopher-lua checks the context before each VM instruction,
	// but not inside a library function written in Go (a string.gsub over a long string).
	done := make(chan runResult, 1)
	go func() {
		// This goroutine is not net/http's: a panic here would end the server, not the request.
		defer func() {
			if p := recover(); p != nil {
				done <- runResult{broken, fmt.Errorf("panic: %v", p)}
			}
		}()
		res, err := h.run(ctx, s, req, body, out)
		done <- runResult{res, err}
	}()
	var rr runResult
	select {
	case rr = <-done:
	case <-ctx.Done():
		grace := time.NewTimer(AbandonGrace)
		select {
		case rr = <-done:
			grace.Stop()
		case <-grace.C:
			// The state and out stay with the goroutine, which closes the state when the call
			// finally returns; the slot gets a fresh state now.
			h.abandon(s, done)
			if r.Context().Err() != nil {
				h.log.Printf("embedded: %s: client went away; state abandoned, still running Go code", h.proto.SourceName)
				return
			}
			h.timeouts.Add(1)
			h.log.Printf("embedded: %s: %v after %v; state abandoned, still running Go code", h.proto.SourceName, ErrTimeout, h.timeout)
			http.Error(w, "504 Gateway Timeout: the script did not finish in time", http.StatusGatewayTimeout)
			return
		}
	}
	defer outPool.Put(out)
	res, err := rr.res, rr.err
	// The state goes back before the response is written: the client may be slow.
	h.release(s, res == interrupted || res == broken)

	switch {
	case res == interrupted && r.Context().Err() != nil:
		h.log.Printf("embedded: %s: client went away; state discarded: %v", h.proto.SourceName, err)
		return
	case res == interrupted:
		h.timeouts.Add(1)
		h.log.Printf("embedded: %s: %v after %v; state discarded", h.proto.SourceName, ErrTimeout, h.timeout)
		http.Error(w, "504 Gateway Timeout: the script did not finish in time", http.StatusGatewayTimeout)
		return
	case err != nil:
		h.scriptErrors.Add(1)
		h.log.Printf("embedded: %s: %v", h.proto.SourceName, err)
		http.Error(w, "500 Internal Server Error: the script failed", http.StatusInternalServerError)
		return
	}
	h.respond(w, r, out.Bytes())
}

// respond passes the rendered CGI output through the parser every strategy shares.
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, output []byte) {
	rd := bytes.NewReader(output)
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(rd)
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
	}()
	hdr, err := cgi.ReadHeader(br)
	if err != nil {
		h.scriptErrors.Add(1)
		h.log.Printf("embedded: %s: %v", h.proto.SourceName, err)
		cgi.BadGateway(w)
		return
	}
	if hdr.IsLocalRedirect() {
		if err := cgi.ServeLocalRedirect(w, r, hdr.Location, h); err != nil {
			h.log.Printf("embedded: %s: %v", h.proto.SourceName, err)
		}
		return
	}
	// The whole body is in memory: say how long it is, so it is not sent chunked.
	delete(hdr.Fields, "Content-Length")
	w.Header().Set("Content-Length", strconv.Itoa(br.Buffered()+rd.Len()))
	if err := cgi.Send(w, r, hdr, br); err != nil {
		h.log.Printf("embedded: %s: %v", h.proto.SourceName, err)
	}
}

// readBody reads the whole request body, up to MaxBody, into a string without a copy.
func readBody(r *http.Request) (string, int, error) {
	if r.Body == nil || r.ContentLength == 0 {
		return "", 0, nil
	}
	if r.ContentLength > MaxBody {
		return "", http.StatusRequestEntityTooLarge, fmt.Errorf("request body of %d bytes is over the %d-byte limit", r.ContentLength, MaxBody)
	}
	var b strings.Builder
	if r.ContentLength > 0 {
		b.Grow(int(r.ContentLength))
	}
	buf := copyPool.Get().(*[]byte)
	defer copyPool.Put(buf)
	n, err := io.CopyBuffer(&b, io.LimitReader(r.Body, MaxBody+1), *buf)
	if err != nil {
		return "", http.StatusBadRequest, fmt.Errorf("reading the request body: %w", err)
	}
	if n > MaxBody {
		return "", http.StatusRequestEntityTooLarge, fmt.Errorf("request body over the %d-byte limit", MaxBody)
	}
	return b.String(), 0, nil
}

// outcome is how a run ended.
type outcome int

const (
	done        outcome = iota // the script returned; an error means its result was unusable
	failed                     // the script raised an error; the state is fine
	interrupted                // the budget ran out or the client left: discard the state
	broken                     // a Go panic inside the interpreter: discard the state
)

type runResult struct {
	res outcome
	err error
}

// run calls handle(req) on s, bounded by ctx, and renders its result into out as CGI output.
func (h *Handler) run(ctx context.Context, s *state, req *request, body string, out *bytes.Buffer) (outcome, error) {
	L := s.L
	r := req.r
	t := L.CreateTable(0, 6)
	t.RawSetString("method", lua.LString(r.Method))
	t.RawSetString("query", lua.LString(r.URL.RawQuery))
	t.RawSetString("content_type", lua.LString(r.Header.Get("Content-Type")))
	t.RawSetString("cookie", lua.LString(cookieHeader(r.Header)))
	t.RawSetString("body", lua.LString(body))
	t.Metatable = s.reqMT
	s.cur = req
	s.served++
	defer func() {
		s.cur = nil
		s.resetLayers()
	}()

	if !h.noBudget {
		L.SetContext(ctx)
		defer L.RemoveContext()
	}
	L.Push(s.handle)
	L.Push(t)
	err := L.PCall(1, 1, nil)
	if ctx.Err() != nil {
		// Even a script that caught the error and returned was cut short somewhere.
		if err == nil {
			L.Pop(1)
		}
		return interrupted, ctx.Err()
	}
	if err != nil {
		var apiErr *lua.ApiError
		if errors.As(err, &apiErr) && apiErr.Type == lua.ApiErrorPanic {
			// A Go panic inside the interpreter: do not trust the state again.
			return broken, err
		}
		return failed, err
	}
	ret := L.Get(-1)
	L.Pop(1)
	if err := render(ret, out); err != nil {
		return done, err
	}
	return done, nil
}

// cookieHeader joins Cookie headers the way a CGI host builds HTTP_COOKIE.
func cookieHeader(hdr http.Header) string {
	vs := hdr["Cookie"]
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return vs[0]
	}
	return strings.Join(vs, "; ")
}

// requestIndex is req's __index: it builds req.headers (the HTTP_* meta-variables) and req.env
// (all of them) the first time a script asks, and stores them in req.
func (s *state) requestIndex(L *lua.LState) int {
	t := L.CheckTable(1)
	key := L.Get(2)
	name, ok := key.(lua.LString)
	if !ok || (name != "headers" && name != "env") || s.cur == nil {
		return 0
	}
	vars := cgi.MetaVariables(s.cur.r, cgi.EnvOptions{ScriptName: strategies.AppPath, BodyLength: s.cur.bodyLen})
	tbl := L.CreateTable(0, len(vars))
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		if name == "env" || strings.HasPrefix(k, "HTTP_") {
			tbl.RawSetString(k, lua.LString(v))
		}
	}
	t.RawSetString(string(name), tbl)
	L.Push(tbl)
	return 1
}

// render writes handle's result as a CGI program's output: "Name: value" lines in the order
// given, a blank line, the body. A Status line is added from the status field only when the
// headers have none.
func render(ret lua.LValue, out *bytes.Buffer) error {
	res, ok := ret.(*lua.LTable)
	if !ok {
		return fmt.Errorf("%w: got %s, want a table {status=, headers=, body=}", ErrBadResult, ret.Type())
	}
	var headers *lua.LTable
	switch v := res.RawGetString("headers").(type) {
	case *lua.LTable:
		headers = v
	case *lua.LNilType:
	default:
		return fmt.Errorf("%w: headers is %s, want a list of {name, value}", ErrBadResult, v.Type())
	}
	var body lua.LString
	switch v := res.RawGetString("body").(type) {
	case lua.LString:
		body = v
	case *lua.LNilType:
	default:
		return fmt.Errorf("%w: body is %s, want a string", ErrBadResult, v.Type())
	}
	n := 0
	if headers != nil {
		n = headers.Len()
	}
	// First pass: check every field, and see whether one is Status.
	hasStatus := false
	for i := 1; i <= n; i++ {
		name, _, err := headerField(headers, i)
		if err != nil {
			return err
		}
		if strings.EqualFold(name, "Status") {
			hasStatus = true
		}
	}
	switch v := res.RawGetString("status").(type) {
	case lua.LNumber:
		if !hasStatus {
			code := int(v)
			if lua.LNumber(code) != v || code < 200 || code > 599 {
				return fmt.Errorf("%w: status %v is not a code from 200 to 599", ErrBadResult, v)
			}
			// First, as a CGI program would write it.
			out.WriteString("Status: ")
			out.WriteString(strconv.Itoa(code))
			out.WriteByte(' ')
			out.WriteString(http.StatusText(code))
			out.WriteByte('\n')
		}
	case *lua.LNilType:
	default:
		return fmt.Errorf("%w: status is %s, want a number or nil", ErrBadResult, v.Type())
	}
	for i := 1; i <= n; i++ {
		name, value, _ := headerField(headers, i)
		out.WriteString(name)
		out.WriteString(": ")
		out.WriteString(value)
		out.WriteByte('\n')
	}
	out.WriteByte('\n')
	out.WriteString(string(body))
	return nil
}

// headerField returns headers[i] as a name and a value with no line break in them.
func headerField(headers *lua.LTable, i int) (name, value string, err error) {
	f, ok := headers.RawGetInt(i).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("%w: headers[%d] is %s, want {name, value}", ErrBadResult, i, headers.RawGetInt(i).Type())
	}
	name, ok1 := fieldString(f.RawGetInt(1))
	value, ok2 := fieldString(f.RawGetInt(2))
	if !ok1 || !ok2 {
		return "", "", fmt.Errorf("%w: headers[%d] is {%s, %s}, want two strings", ErrBadResult, i, f.RawGetInt(1).Type(), f.RawGetInt(2).Type())
	}
	if strings.ContainsAny(name, "\r\n") || strings.ContainsAny(value, "\r\n") {
		// Structured headers cannot hold a second header line: that would be injection.
		return "", "", fmt.Errorf("%w: headers[%d] %q has a line break", ErrBadResult, i, name)
	}
	return name, value, nil
}

// fieldString accepts a string, or a number written the way Lua's tostring would.
func fieldString(v lua.LValue) (string, bool) {
	switch v := v.(type) {
	case lua.LString:
		return string(v), true
	case lua.LNumber:
		return v.String(), true
	}
	return "", false
}
