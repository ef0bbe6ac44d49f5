package fastcgi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cgibench/cgibench/strategies"
	"github.com/cgibench/cgibench/strategies/cgi"
)

// Handler serves HTTP requests through FastCGI: each request becomes FCGI_PARAMS (the
// meta-variables of cgi.MetaVariables, then the program's extra variables) and FCGI_STDIN, sent
// by Doer; FCGI_STDOUT goes through the CGI response parser of package cgi (ReadHeader, Send,
// ServeLocalRedirect), the one every strategy shares.
//
// Failures map to statuses: FCGI_OVERLOADED 503; the timeout 504; no or a malformed
// response, a rejected request or a lost worker 502. The request is aborted
// (FCGI_ABORT_REQUEST) on timeout and when the client goes away.
type Handler struct {
	// Doer sends the requests: a *Pool or a *Client. Required.
	Doer Doer
	// Program supplies the extra params: every Program.Env entry whose name the
	// meta-variables do not already hold, and SCRIPT_FILENAME (unless Env sets it): the last
	// of Path and Args, i.e. the script for an interpreted program.
	Program strategies.Program
	// ScriptName is SCRIPT_NAME; default strategies.AppPath.
	ScriptName string
	// Timeout bounds a request from the wait for a worker to the end of the response;
	// default strategies.DefaultTimeout.
	Timeout time.Duration
	// Logger receives failures; default discards.
	Logger *log.Logger

	once  sync.Once
	extra []string // NAME=value params added to every request
	names []string // "NAME=" of each extra, to skip the ones the meta-variables hold
}

func (h *Handler) init() {
	if h.ScriptName == "" {
		h.ScriptName = strategies.AppPath
	}
	if h.Timeout == 0 {
		h.Timeout = strategies.DefaultTimeout
	}
	if h.Logger == nil {
		h.Logger = log.New(io.Discard, "", 0)
	}
	h.extra = ExtraParams(h.Program)
	for _, kv := range h.extra {
		name, _, _ := strings.Cut(kv, "=")
		h.names = append(h.names, name+"=")
	}
}

// ExtraParams returns the params a program gets beyond the meta-variables: the entries of
// Program.Env, then SCRIPT_FILENAME when Env does not set it and the program has a path.
func ExtraParams(p strategies.Program) []string {
	var extra []string
	hasScript := false
	for _, kv := range p.Env {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		hasScript = hasScript || name == "SCRIPT_FILENAME"
		extra = append(extra, kv)
	}
	if !hasScript && p.Path != "" {
		argv := p.Argv()
		extra = append(extra, "SCRIPT_FILENAME="+argv[len(argv)-1])
	}
	return extra
}

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(h.init)
	ctx, cancel := context.WithTimeout(r.Context(), h.Timeout)
	defer cancel()
	// A client that stalls, sending its body or taking the answer, must not hold the worker
	// past the timeout: when ctx ends, reads from it stop, and writes too once the answer has
	// begun (before that a 504 is still to be sent).
	var answering atomic.Bool
	stopCut := context.AfterFunc(ctx, func() {
		rc, now := http.NewResponseController(w), time.Now()
		if r.ContentLength != 0 {
			rc.SetReadDeadline(now)
		}
		if answering.Load() {
			rc.SetWriteDeadline(now)
		}
	})
	defer stopCut()

	// A chunked body is buffered so that the program gets a CONTENT_LENGTH.
	var stdin io.Reader
	bodyLen := r.ContentLength
	switch {
	case bodyLen > 0:
		stdin = r.Body
	case bodyLen < 0:
		buf, err := io.ReadAll(io.LimitReader(r.Body, cgi.MaxBufferedBody+1))
		if err != nil {
			h.reply(w, http.StatusBadRequest, "reading chunked request body: %v", err)
			return
		}
		if len(buf) > cgi.MaxBufferedBody {
			h.reply(w, http.StatusRequestEntityTooLarge, "chunked request body over %d bytes", cgi.MaxBufferedBody)
			return
		}
		bodyLen = int64(len(buf))
		if bodyLen > 0 {
			stdin = bytes.NewReader(buf)
		}
	}

	params := cgi.MetaVariables(r, cgi.EnvOptions{ScriptName: h.ScriptName, BodyLength: bodyLen})
	params = h.addExtra(params)

	resp, err := h.Doer.Do(ctx, Request{Params: params, Stdin: stdin, Replayable: stdin == nil && replayable(r.Method)})
	if err != nil {
		h.fail(ctx, w, r, err)
		return
	}
	if done := resp.BodyDone(); done != nil {
		// The body may still be streaming from r.Body, which is not ours once ServeHTTP
		// returns; the cut above bounds the wait by the timeout.
		defer func() { <-done }()
	}
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(resp)
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
	}()
	hdr, err := cgi.ReadHeader(br)
	if err != nil {
		resp.Close()
		h.fail(ctx, w, r, err)
		return
	}
	if hdr.IsLocalRedirect() {
		// The body, if any, is dropped (RFC 3875 §6.2.2), and the worker freed before the
		// redirect is served: with one worker, holding it would deadlock.
		_, err := io.Copy(io.Discard, br)
		resp.Close()
		if err != nil {
			h.fail(ctx, w, r, err)
			return
		}
		if err := cgi.ServeLocalRedirect(w, r, hdr.Location, h); err != nil {
			h.Logger.Printf("fastcgi: %v", err)
		}
		return
	}
	answering.Store(true)
	if ctx.Err() != nil { // the cut may have run before answering was set
		http.NewResponseController(w).SetWriteDeadline(time.Now())
	}
	sendErr := cgi.Send(w, r, hdr, br)
	if sendErr == nil {
		if status := resp.AppStatus(); status != 0 {
			h.Logger.Printf("fastcgi: %s: application status %d", h.Program.Name, status)
		}
	}
	resp.Close()
	if sendErr != nil {
		if !clientGone(ctx) {
			h.Logger.Printf("fastcgi: %s: response cut short: %v", h.Program.Name, sendErr)
		}
		// The header is out: cut the connection so that the client sees a truncated body, not
		// a complete-looking short one.
		panic(http.ErrAbortHandler)
	}
}

// replayable reports whether a request with this method may be run twice, as net/http judges
// when it retries on a connection that broke.
func replayable(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// addExtra appends the extra params whose names the meta-variables do not hold.
func (h *Handler) addExtra(params []string) []string {
	n := len(params)
outer:
	for i, kv := range h.extra {
		for _, p := range params[:n] {
			if strings.HasPrefix(p, h.names[i]) {
				continue outer
			}
		}
		params = append(params, kv)
	}
	return params
}

// clientGone tells, once the request's context (ctx, made by ServeHTTP) has ended, whether the
// client went away rather than the timeout running out. r.Context() cannot tell: the cut of the
// connection's reads at the timeout ends it too.
func clientGone(ctx context.Context) bool { return ctx.Err() == context.Canceled }

// fail answers a request that got no usable response, with the status its error calls for.
func (h *Handler) fail(ctx context.Context, w http.ResponseWriter, r *http.Request, err error) {
	if clientGone(ctx) {
		// The client went away; the request was aborted and there is no one to answer.
		h.Logger.Printf("fastcgi: %s: client gone: %v", h.Program.Name, err)
		return
	}
	h.Logger.Printf("fastcgi: %s: %v", h.Program.Name, err)
	// ctx's error is nil or, the client not gone, its deadline: a timeout whatever err says.
	answerFailure(w, errors.Join(err, ctx.Err()), h.Timeout)
}

// answerFailure answers a request that got no usable response with the status err calls for:
// 504 for a deadline, 503 for FCGI_OVERLOADED, 400 for a body that could not be read, 502
// otherwise. Both front ends use it.
func answerFailure(w http.ResponseWriter, err error, timeout time.Duration) {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		http.Error(w, fmt.Sprintf("504 Gateway Timeout: the program did not answer within %v", timeout), http.StatusGatewayTimeout)
	case errors.Is(err, ErrOverloaded):
		http.Error(w, "503 Service Unavailable: the program is overloaded (FCGI_OVERLOADED)", http.StatusServiceUnavailable)
	case errors.Is(err, ErrStdin):
		http.Error(w, "400 Bad Request: reading the request body failed", http.StatusBadRequest)
	case errors.Is(err, cgi.ErrMalformed):
		cgi.BadGateway(w)
	default:
		http.Error(w, "502 Bad Gateway: the program gave no response", http.StatusBadGateway)
	}
}

func (h *Handler) reply(w http.ResponseWriter, code int, format string, args ...any) {
	h.Logger.Printf("fastcgi: "+format, args...)
	http.Error(w, fmt.Sprintf("%d %s", code, http.StatusText(code)), code)
}
