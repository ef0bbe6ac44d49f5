package scripts

import (
	"bytes"
	"fmt"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/cgibench/cgibench/scripts/go/refapp"
)

// luaApp is app.lua loaded in a gopher-lua state (a Lua 5.1 VM whose numbers are doubles), as
// the embedded strategy runs it.
type luaApp struct {
	L      *lua.LState
	handle lua.LValue
}

func loadLuaApp(t testing.TB, script string) *luaApp {
	t.Helper()
	L := lua.NewState()
	t.Cleanup(L.Close)
	fn, err := L.LoadFile(script)
	if err != nil {
		t.Fatalf("loading %s: %v", script, err)
	}
	L.Push(fn)
	if err := L.PCall(0, 1, nil); err != nil {
		t.Fatalf("running %s: %v", script, err)
	}
	ret := L.Get(-1)
	L.Pop(1)
	mod, ok := ret.(*lua.LTable)
	if !ok {
		t.Fatalf("%s returned %s, not a module table", script, ret.Type())
	}
	handle := mod.RawGetString("handle")
	if handle.Type() != lua.LTFunction {
		t.Fatalf("%s: M.handle is %s, not a function", script, handle.Type())
	}
	return &luaApp{L: L, handle: handle}
}

// run calls M.handle and renders its result as CGI output, checking the shape of the result
// table: {status = number or nil, headers = {{name, value}, ...}, body = string}.
func (a *luaApp) run(req refapp.Request) (out []byte, status int, err error) {
	L := a.L
	r := L.NewTable()
	r.RawSetString("method", lua.LString(req.Method))
	r.RawSetString("query", lua.LString(req.QueryString))
	r.RawSetString("content_type", lua.LString(req.ContentType))
	r.RawSetString("cookie", lua.LString(req.Cookie))
	r.RawSetString("body", lua.LString(req.Body))
	if err := L.CallByParam(lua.P{Fn: a.handle, NRet: 1, Protect: true}, r); err != nil {
		return nil, 0, err
	}
	ret := L.Get(-1)
	L.Pop(1)
	resp, ok := ret.(*lua.LTable)
	if !ok {
		return nil, 0, fmt.Errorf("handle returned %s, not a table", ret.Type())
	}
	switch s := resp.RawGetString("status").(type) {
	case *lua.LNilType:
	case lua.LNumber:
		status = int(s)
	default:
		return nil, 0, fmt.Errorf("status is %s, not a number or nil", s.Type())
	}
	headers, ok := resp.RawGetString("headers").(*lua.LTable)
	if !ok {
		return nil, 0, fmt.Errorf("headers is not a table")
	}
	var b bytes.Buffer
	for i := 1; i <= headers.Len(); i++ {
		h, ok := headers.RawGetInt(i).(*lua.LTable)
		name, nok := h.RawGetInt(1).(lua.LString)
		value, vok := h.RawGetInt(2).(lua.LString)
		if !ok || !nok || !vok {
			return nil, 0, fmt.Errorf("headers[%d] is not a {name, value} pair of strings", i)
		}
		fmt.Fprintf(&b, "%s: %s\n", name, value)
	}
	body, ok := resp.RawGetString("body").(lua.LString)
	if !ok {
		return nil, 0, fmt.Errorf("body is not a string")
	}
	b.WriteString("\n")
	b.WriteString(string(body))
	return b.Bytes(), status, nil
}

// TestLuaEmbedded runs app.lua, as the catalog extracts it for the embedded mode, inside
// gopher-lua on every conformance request, POST bodies included.
func TestLuaEmbedded(t *testing.T) {
	p := resolveOrSkip(t, "lua", Embedded)
	if p.Script == "" || p.Path != "" {
		t.Fatalf("embedded lua: Script = %q, Path = %q; want a script and no executable", p.Script, p.Path)
	}
	app := loadLuaApp(t, p.Script)
	for _, c := range conformanceCases() {
		t.Run(c.name, func(t *testing.T) {
			want := refapp.Handle(c.req)
			got, status, err := app.run(c.req)
			if err != nil {
				t.Fatal(err)
			}
			if wantOut := want.CGI(); !bytes.Equal(got, wantOut) {
				t.Errorf("output differs from refapp (- want, + got):\n%s", lineDiff(wantOut, got))
			}
			if status != want.Status {
				t.Errorf("status = %d; want %d", status, want.Status)
			}
		})
	}
}

// FuzzLuaApp compares app.lua under gopher-lua with refapp on arbitrary requests.
func FuzzLuaApp(f *testing.F) {
	for _, c := range conformanceCases() {
		if len(c.req.Body) < 4096 {
			f.Add(c.req.Method, c.req.QueryString, c.req.ContentType, c.req.Cookie, c.req.Body)
		}
	}
	app := loadLuaApp(f, "lua/app.lua")
	f.Fuzz(func(t *testing.T, method, query, ctype, cookie string, body []byte) {
		req := refapp.Request{Method: method, QueryString: query, ContentType: ctype, Cookie: cookie, Body: body}
		if bytes.Contains([]byte(query+cookie), []byte("work")) {
			t.Skip("work=N could run for long")
		}
		want := refapp.Handle(req)
		got, _, err := app.run(req)
		if err != nil {
			t.Fatal(err)
		}
		if wantOut := want.CGI(); !bytes.Equal(got, wantOut) {
			t.Errorf("request %+q: output differs from refapp (- want, + got):\n%s", req, lineDiff(wantOut, got))
		}
	})
}
