package embedded

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/cgibench/cgibench/strategies/cgi"
)

// response builds handle's result table in L.
func response(L *lua.LState, status lua.LValue, fields [][2]string, body string) *lua.LTable {
	headers := L.NewTable()
	for _, f := range fields {
		pair := L.NewTable()
		pair.Append(lua.LString(f[0]))
		pair.Append(lua.LString(f[1]))
		headers.Append(pair)
	}
	res := L.NewTable()
	res.RawSetString("status", status)
	res.RawSetString("headers", headers)
	res.RawSetString("body", lua.LString(body))
	return res
}

func TestRender(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	ct := [2]string{"Content-Type", "text/plain"}
	tests := []struct {
		name    string
		res     lua.LValue
		want    string
		wantErr bool
	}{
		{"fields in order", response(L, lua.LNil, [][2]string{ct, {"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}}, "hi\n"),
			"Content-Type: text/plain\nSet-Cookie: a=1\nSet-Cookie: b=2\n\nhi\n", false},
		{"status field adds a Status line first", response(L, lua.LNumber(404), [][2]string{ct}, ""),
			"Status: 404 Not Found\nContent-Type: text/plain\n\n", false},
		{"a Status header wins over the field", response(L, lua.LNumber(404), [][2]string{{"Status", "418 Set By Query"}, ct}, "x"),
			"Status: 418 Set By Query\nContent-Type: text/plain\n\nx", false},
		{"no headers", response(L, lua.LNil, nil, "x"), "\nx", false},
		{"bad status", response(L, lua.LNumber(99), [][2]string{ct}, ""), "", true},
		{"fractional status", response(L, lua.LNumber(200.5), [][2]string{ct}, ""), "", true},
		{"line break in a value", response(L, lua.LNil, [][2]string{{"Content-Type", "a\r\nX: y"}}, ""), "", true},
		{"line break in a name", response(L, lua.LNil, [][2]string{{"X\nY", "v"}}, ""), "", true},
		{"not a table", lua.LString("x"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := render(tt.res, &out)
			if tt.wantErr {
				if !errors.Is(err, ErrBadResult) {
					t.Errorf("got %v; want an error wrapping ErrBadResult", err)
				}
				return
			}
			if err != nil || out.String() != tt.want {
				t.Errorf("got %q, %v; want %q", out.String(), err, tt.want)
			}
		})
	}
}

// FuzzRender checks that whatever names and values a script returns, the rendered header
// block holds exactly the fields given (no injected line) or render refuses it, and that the
// shared parser never sees a body byte as a header.
func FuzzRender(f *testing.F) {
	f.Add("Content-Type", "text/plain", "X-A", "1", "body")
	f.Add("Status", "200 OK", "Content-Type", "a\nb: c", "")
	f.Add("Location", "/x", "X", "\r", "\n\nz")
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2, body string) {
		L := lua.NewState(lua.Options{SkipOpenLibs: true})
		defer L.Close()
		var out bytes.Buffer
		if err := render(response(L, lua.LNil, [][2]string{{n1, v1}, {n2, v2}}, body), &out); err != nil {
			return
		}
		head, rest, ok := bytes.Cut(out.Bytes(), []byte("\n\n"))
		if bytes.Count(head, []byte("\n")) != 1 {
			t.Fatalf("header block %q: want exactly two lines", head)
		}
		if !ok || string(rest) != body {
			t.Fatalf("output %q does not end with the body %q", out.Bytes(), body)
		}
		h, err := cgi.ReadHeader(bufio.NewReader(bytes.NewReader(out.Bytes())))
		if err != nil {
			return
		}
		n := len(h.Fields)
		if h.Status != 0 {
			n++
		}
		if h.Location != "" {
			n++
		}
		if n > 2 {
			t.Fatalf("parsed %d fields from two: %+v", n, h)
		}
	})
}
