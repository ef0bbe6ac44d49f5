package cgi

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
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cgibench/cgibench/strategies"
)

// DefaultPath is the PATH a program gets; the host's own environment does not leak in.
const DefaultPath = "/usr/local/bin:/usr/bin:/bin"

// MaxBufferedBody bounds a chunked request body, which the host must buffer to give the
// program a CONTENT_LENGTH (RFC 3875 §4.1.2).
const MaxBufferedBody = 64 << 20

// prefill is how much of a known-length body is written into the stdin pipe before the fork:
// less than a pipe's capacity (64 KiB on Linux), so the write cannot block.
const prefill = 32 << 10

// Host runs a CGI program once per request. Its zero value is not usable: Program.Path is
// required.
type Host struct {
	// Program is what to exec, directly (never through a shell).
	Program strategies.Program
	// Timeout bounds a request from fork to the end of the output; default 30s. On expiry the
	// program's process group is killed and the client gets 504 (or, if the body had started, a
	// cut connection).
	Timeout time.Duration
	// ScriptName is SCRIPT_NAME; default strategies.AppPath.
	ScriptName string
	// InheritEnv names variables of the host's environment to pass on (besides PATH, which is
	// always DefaultPath unless named here).
	InheritEnv []string
	// PassAuthorization passes the Authorization header (HTTP_AUTHORIZATION).
	PassAuthorization bool
	// Logger receives program stderr and failures; default discards.
	Logger *log.Logger

	once      sync.Once
	devNull   *os.File
	devNullFd int
	devNullEr error
	baseEnv   []string
	dir       string
	argv      []string
	sys       *syscall.SysProcAttr
}

// ErrTimeout is logged when a program overran the timeout and was killed.
var ErrTimeout = errors.New("cgi: program timed out")

func (h *Host) init() {
	h.devNull, h.devNullEr = os.Open(os.DevNull)
	if h.devNullEr == nil {
		h.devNullFd = int(h.devNull.Fd())
	}
	h.argv = h.Program.Argv()
	h.sys = &syscall.SysProcAttr{
		// The program leads its own process group, so a timeout kills what it started too.
		Setpgid: true,
		// If the host dies, so does the program.
		Pdeathsig: syscall.SIGKILL,
	}
	h.baseEnv = []string{"PATH=" + DefaultPath}
	for _, name := range h.InheritEnv {
		if v, ok := os.LookupEnv(name); ok {
			if name == "PATH" {
				h.baseEnv[0] = "PATH=" + v
				continue
			}
			h.baseEnv = append(h.baseEnv, name+"="+v)
		}
	}
	h.baseEnv = append(h.baseEnv, h.Program.Env...)
	h.dir = h.Program.Dir
	if h.dir == "" {
		h.dir = filepath.Dir(h.argv[len(h.argv)-1])
	}
	if h.Timeout == 0 {
		h.Timeout = strategies.DefaultTimeout
	}
	if h.ScriptName == "" {
		h.ScriptName = strategies.AppPath
	}
	if h.Logger == nil {
		h.Logger = log.New(io.Discard, "", 0)
	}
}

func (h *Host) logf(format string, args ...any) {
	h.Logger.Printf("cgi: %s: "+format, append([]any{h.Program.Path}, args...)...)
}

// ServeHTTP implements http.Handler.
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.once.Do(h.init)
	if h.devNullEr != nil {
		h.fail(w, http.StatusInternalServerError, "opening %s: %v", os.DevNull, h.devNullEr)
		return
	}

	// A chunked body is buffered so the program gets a CONTENT_LENGTH.
	body, bodyLen := io.Reader(r.Body), r.ContentLength
	if r.ContentLength < 0 {
		buf, err := io.ReadAll(io.LimitReader(r.Body, MaxBufferedBody+1))
		if err != nil {
			h.fail(w, http.StatusBadRequest, "reading chunked request body: %v", err)
			return
		}
		if len(buf) > MaxBufferedBody {
			h.fail(w, http.StatusRequestEntityTooLarge, "chunked request body over %d bytes", MaxBufferedBody)
			return
		}
		body, bodyLen = bytes.NewReader(buf), int64(len(buf))
	}

	env := MetaVariables(r, EnvOptions{
		ScriptName:        h.ScriptName,
		PassAuthorization: h.PassAuthorization,
		BodyLength:        bodyLen,
	})
	env = append(env, h.baseEnv...)

	stdoutR, stdoutW, err := childPipe(1)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "stdout %v", err)
		return
	}
	defer stdoutR.Close()
	stderrR, stderrW, err := childPipe(1)
	if err != nil {
		syscall.Close(stdoutW)
		h.fail(w, http.StatusInternalServerError, "stderr %v", err)
		return
	}
	stdin := h.devNullFd
	var stdinW *os.File
	var rest io.Reader         // body left to copy after the fork
	var restBuf *[prefill]byte // rest's first part, back to prefillPool when copied
	if bodyLen > 0 {
		if stdinW, stdin, err = childPipe(0); err != nil {
			syscall.Close(stdoutW)
			syscall.Close(stderrW)
			stderrR.Close()
			h.fail(w, http.StatusInternalServerError, "stdin %v", err)
			return
		}
		// Write what the pipe takes now, without waiting: for most requests the whole body, with
		// no goroutine. The program does not exist yet, so a write that waited for room would
		// wait forever, and a pipe can be smaller than prefill (a page, for a user over
		// fs.pipe-user-pages-soft).
		buf := prefillPool.Get().(*[prefill]byte)
		first := buf[:min(bodyLen, prefill)]
		code := http.StatusBadRequest
		n, err := io.ReadFull(body, first)
		if err != nil {
			err = fmt.Errorf("reading request body: %w", err)
		} else if n, err = writeNow(stdinW, first); err != nil {
			code, err = http.StatusInternalServerError, fmt.Errorf("writing to the program's stdin: %w", err)
		}
		if err != nil {
			prefillPool.Put(buf)
			syscall.Close(stdin)
			stdinW.Close()
			syscall.Close(stdoutW)
			syscall.Close(stderrW)
			stderrR.Close()
			h.fail(w, code, "%v", err)
			return
		}
		if left := first[n:]; len(left) > 0 || bodyLen > int64(len(first)) {
			rest = io.MultiReader(bytes.NewReader(left), io.LimitReader(body, bodyLen-int64(len(first))))
			restBuf = buf
		} else {
			prefillPool.Put(buf)
		}
	}

	pid, err := syscall.ForkExec(h.Program.Path, h.argv, &syscall.ProcAttr{
		Dir:   h.dir,
		Env:   env,
		Files: []uintptr{uintptr(stdin), uintptr(stdoutW), uintptr(stderrW)},
		Sys:   h.sys,
	})
	// The child has its copies; ours must close so that EOF arrives when the child is done.
	syscall.Close(stdoutW)
	syscall.Close(stderrW)
	if stdin != h.devNullFd {
		syscall.Close(stdin)
	}
	if err != nil {
		stderrR.Close()
		if stdinW != nil {
			stdinW.Close()
		}
		h.fail(w, http.StatusInternalServerError, "starting: %v", err)
		return
	}

	// Kill the whole group on timeout or when the client goes away.
	ctx, cancel := context.WithTimeout(r.Context(), h.Timeout)
	defer cancel()
	var killed atomic.Bool
	var reapMu sync.Mutex
	exited := false // the program is gone: the group id may be someone else's soon (reap)
	stopKill := context.AfterFunc(ctx, func() {
		reapMu.Lock()
		if !exited {
			killed.Store(true)
			syscall.Kill(-pid, syscall.SIGKILL)
			syscall.Kill(pid, syscall.SIGKILL) // in case it left its group
		}
		reapMu.Unlock()
		// What escaped the group (setsid), or outlives the program, may hold its output open:
		// stop waiting for it.
		now := time.Now()
		stdoutR.SetReadDeadline(now)
		stderrR.SetReadDeadline(now)
	})

	stderrDone := make(chan struct{})
	go h.drainStderr(pid, stderrR, stderrDone)
	if stdinW != nil {
		if rest == nil {
			stdinW.Close()
		} else {
			go func() {
				// EPIPE when the program stops reading early is not our problem.
				io.Copy(stdinW, rest)
				stdinW.Close()
				prefillPool.Put(restBuf)
			}()
		}
	}

	br := readerPool.Get().(*bufio.Reader)
	br.Reset(stdoutR)
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
	}()
	hdr, hdrErr := ReadHeader(br)
	if hdrErr != nil {
		// Whatever the program is still doing is of no use now.
		syscall.Kill(-pid, syscall.SIGKILL)
	}
	redirect := hdrErr == nil && hdr.IsLocalRedirect()
	var sendErr error
	switch {
	case redirect:
		// Served below, once this program is reaped, so its timeout does not cover the next.
		io.Copy(io.Discard, br)
	case hdrErr == nil:
		sendErr = Send(w, r, hdr, br)
		if sendErr != nil {
			syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	// Reap the program; the timeout still applies (it may have closed stdout and lingered).
	state, waitErr := reap(pid, func() {
		reapMu.Lock()
		exited = true
		reapMu.Unlock()
	})
	if rest != nil {
		// A descendant holding stdin open would keep the copy reading the request body.
		stdinW.Close()
	}
	// Stderr may be held open by what the program left behind; the timer still bounds the wait.
	<-stderrDone
	stopKill()
	timedOut := killed.Load() && ctx.Err() == context.DeadlineExceeded && r.Context().Err() == nil

	switch {
	case timedOut && hdrErr != nil:
		h.logf("pid %d: %v after %v; killed its process group", pid, ErrTimeout, h.Timeout)
		http.Error(w, "504 Gateway Timeout: the program did not answer in time", http.StatusGatewayTimeout)
	case timedOut:
		h.logf("pid %d: %v after %v mid-body; killed its process group", pid, ErrTimeout, h.Timeout)
		// The header is out: cut the connection so the client sees a truncated body, not a
		// complete-looking short one.
		panic(http.ErrAbortHandler)
	case hdrErr != nil:
		h.logf("pid %d: %v (exit: %s)", pid, hdrErr, exitText(state, waitErr))
		BadGateway(w)
	case redirect:
		if err := ServeLocalRedirect(w, r, hdr.Location, h); err != nil {
			h.logf("pid %d: %v", pid, err)
		}
	case sendErr != nil:
		h.logf("pid %d: %v", pid, sendErr)
		panic(http.ErrAbortHandler)
	case waitErr != nil || !state.Exited() || state.ExitStatus() != 0:
		h.logf("pid %d: exited after responding: %s", pid, exitText(state, waitErr))
	}
}

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

var prefillPool = sync.Pool{New: func() any { return new([prefill]byte) }}

// drainStderr copies the program's stderr to the log, a line at a time, prefixed with its pid.
func (h *Host) drainStderr(pid int, r *os.File, done chan<- struct{}) {
	defer close(done)
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 16<<10)
	for sc.Scan() {
		h.logf("pid %d stderr: %s", pid, sc.Bytes())
	}
	io.Copy(io.Discard, r) // a line too long for the scanner
}

func (h *Host) fail(w http.ResponseWriter, code int, format string, args ...any) {
	h.logf(format, args...)
	http.Error(w, fmt.Sprintf("%d %s", code, http.StatusText(code)), code)
}
