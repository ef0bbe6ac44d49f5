package embedded

import (
	"context"
	"fmt"
	"log"
	"slices"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// A layer makes a table copy-on-write for the length of a request. Lua code sees proxy, an
// empty table whose metatable sends reads to base and writes to __newindex. Outside a request
// (while the app is loading) writes go straight into base, which is what every request then
// sees; during a request the first write creates overlay, a table whose own metatable reads
// through to base, and points proxy's __index at it, so the request reads its own writes. reset
// forgets the overlay: the next request starts from base again.
//
// proxy stays empty, so every write reaches __newindex; only rawset can put a key in it, and
// reset removes such keys. The metatable carries __metatable, so Lua code can neither read nor
// replace it.
type layer struct {
	name      string // for errors: "_G", "string", the module name
	proxy     *lua.LTable
	mt        *lua.LTable // proxy's metatable
	base      *lua.LTable
	overlay   *lua.LTable // nil until the request writes
	overlayMT *lua.LTable // {__index = base}
	// A key the request set to nil holds tomb in the overlay, and reads go through index,
	// which turns it into nil: nil cannot be stored, and the overlay's miss falls through to
	// base. Until the first such write reads stay on the faster table chain.
	tomb  lua.LValue
	index *lua.LFunction
}

// reset ends a request's view of the layer.
func (ly *layer) reset() {
	if ly.overlay != nil {
		ly.overlay = nil
		ly.mt.RawSetString("__index", ly.base)
	}
	if k, _ := ly.proxy.Next(lua.LNil); k != lua.LNil {
		// Something used rawset on the proxy: take the keys out again.
		var keys []lua.LValue
		ly.proxy.ForEach(func(k, _ lua.LValue) { keys = append(keys, k) })
		for _, k := range keys {
			ly.proxy.RawSet(k, lua.LNil)
		}
	}
}

// state is one interpreter with the app loaded, used by one request at a time.
type state struct {
	L      *lua.LState
	handle *lua.LFunction
	// layers are reset after every request: the globals, the library tables, the module table.
	layers []*layer
	// loading is true while the app's chunk runs: writes then go to the layers' bases.
	loading bool
	// reqMT is the metatable of every request table: it builds req.headers and req.env on first
	// use, from cur.
	reqMT  *lua.LTable
	cur    *request
	served int
	log    *log.Logger
}

// libraries lists what a script sees besides the base functions; each becomes a read-only
// layer. os keeps only its clock functions.
var libraries = []struct {
	name string
	open lua.LGFunction
	keep []string // nil: everything
}{
	{lua.TabLibName, lua.OpenTable, nil},
	{lua.StringLibName, lua.OpenString, nil},
	{lua.MathLibName, lua.OpenMath, nil},
	{lua.OsLibName, lua.OpenOs, []string{"clock", "date", "difftime", "time"}},
}

// baseFunctions are the base library functions a script keeps. Left out: dofile, loadfile,
// load, loadstring (code from outside the compiled app), getfenv and setfenv (setfenv on a
// module function would outlive the request), module, newproxy and gopher-lua's _printregs.
// print, collectgarbage and setmetatable are replaced, require is the sandbox's own.
var baseFunctions = []string{
	"assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget",
	"rawset", "select", "tonumber", "tostring", "type", "unpack", "xpcall", "_VERSION",
}

// newState builds a sandboxed interpreter, runs the app's chunk in it (bounded by timeout) and
// freezes the module table it returns.
func newState(proto *lua.FunctionProto, module string, timeout time.Duration, logger *log.Logger,
	extend func(L *lua.LState, globals *lua.LTable)) (s *state, err error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer func() {
		if err != nil {
			L.Close()
		}
	}()
	s = &state{L: L, log: logger}

	// The stock libraries are opened into the state's own global table, which no script will
	// see: the script's globals are a layer built from a chosen few.
	for _, lib := range append([]struct {
		name string
		open lua.LGFunction
		keep []string
	}{{lua.BaseLibName, lua.OpenBase, nil}}, libraries...) {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	stock := L.G.Global

	globals := L.NewTable()
	for _, name := range baseFunctions {
		globals.RawSetString(name, stock.RawGetString(name))
	}
	globals.RawSetString("print", L.NewFunction(s.print))
	globals.RawSetString("collectgarbage", L.NewFunction(collectGarbage))
	globals.RawSetString("setmetatable", L.NewFunction(setMetatable))
	loaded := L.NewTable() // what require finds
	for _, lib := range libraries {
		real := stock.RawGetString(lib.name).(*lua.LTable)
		if lib.keep != nil {
			kept := L.NewTable()
			for _, name := range lib.keep {
				kept.RawSetString(name, real.RawGetString(name))
			}
			real = kept
		}
		ly := s.newLayer(lib.name, real)
		globals.RawSetString(lib.name, ly.proxy)
		loaded.RawSetString(lib.name, ly.proxy)
	}
	// Strings index the real string table, but getmetatable("") no longer hands it out.
	strMT := L.NewTable()
	strMT.RawSetString("__index", stock.RawGetString(lua.StringLibName))
	strMT.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(lua.LString(""), strMT)

	if extend != nil {
		extend(L, globals)
	}
	env := s.newLayer("_G", globals)
	globals.RawSetString("_G", env.proxy)
	globals.RawSetString("require", L.NewClosure(s.require, loaded))
	// Every function made from now on, and loadstring'd code if it were allowed, sees the
	// layer as its environment; so does getfenv(0).
	L.Env = env.proxy
	L.G.Global = env.proxy

	s.reqMT = L.NewTable()
	s.reqMT.RawSetString("__index", L.NewFunction(s.requestIndex))
	s.reqMT.RawSetString("__metatable", lua.LFalse) // shared by every request: not theirs to change

	// Run the chunk once: this is where the module's functions are created.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	L.SetContext(ctx)
	defer L.RemoveContext()
	s.loading = true
	L.Push(L.NewFunctionFromProto(proto))
	if err := L.PCall(0, 1, nil); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("loading the app: %w after %v", ErrTimeout, timeout)
		}
		return nil, fmt.Errorf("loading the app: %w", err)
	}
	s.loading = false
	ret := L.Get(-1)
	L.Pop(1)
	mod, ok := ret.(*lua.LTable)
	if !ok {
		return nil, fmt.Errorf("%w: the chunk returned %s", ErrNoModule, ret.Type())
	}
	handle, ok := mod.RawGetString("handle").(*lua.LFunction)
	if !ok {
		return nil, fmt.Errorf("%w: its handle field is %s", ErrNoModule, mod.RawGetString("handle").Type())
	}
	s.handle = handle
	s.freezeModule(module, mod, loaded)
	return s, nil
}

// newLayer makes a layer over base and registers it for reset.
func (s *state) newLayer(name string, base *lua.LTable) *layer {
	L := s.L
	ly := &layer{name: name, proxy: L.NewTable(), mt: L.NewTable(), base: base, overlayMT: L.NewTable(), tomb: L.NewUserData()}
	ly.overlayMT.RawSetString("__index", base)
	ly.index = L.NewFunction(func(L *lua.LState) int {
		k := L.Get(2)
		switch v := ly.overlay.RawGet(k); v {
		case ly.tomb:
			L.Push(lua.LNil)
		case lua.LNil:
			L.Push(L.GetTable(ly.base, k))
		default:
			L.Push(v)
		}
		return 1
	})
	ly.mt.RawSetString("__index", base)
	ly.mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		k, v := L.Get(2), L.Get(3)
		switch {
		case s.loading:
			L.RawSet(ly.base, k, v)
		default:
			if ly.overlay == nil {
				ly.overlay = L.NewTable()
				ly.overlay.Metatable = ly.overlayMT
				ly.mt.RawSetString("__index", ly.overlay)
			}
			if v == lua.LNil {
				v = ly.tomb
				ly.mt.RawSetString("__index", ly.index)
			}
			L.RawSet(ly.overlay, k, v)
		}
		return 0
	}))
	ly.mt.RawSetString("__metatable", lua.LFalse)
	ly.proxy.Metatable = ly.mt
	s.layers = append(s.layers, ly)
	return ly
}

// freezeModule turns the table the app returned into a layer in place: its fields move to a
// base table, and the table itself (the one the module's functions hold as an upvalue) becomes
// the proxy. So "M.x = v" during a request lands in the request's overlay, and require returns
// the same table.
func (s *state) freezeModule(name string, mod, loaded *lua.LTable) {
	base := s.L.NewTable()
	mod.ForEach(func(k, v lua.LValue) { base.RawSet(k, v) })
	var keys []lua.LValue
	mod.ForEach(func(k, _ lua.LValue) { keys = append(keys, k) })
	for _, k := range keys {
		mod.RawSet(k, lua.LNil)
	}
	// A metatable the module had keeps working for reads through the base.
	base.Metatable = mod.Metatable
	ly := s.newLayer(name, base)
	// The proxy newLayer made is replaced by the module's own table.
	ly.proxy = mod
	mod.Metatable = ly.mt
	loaded.RawSetString(name, mod)
}

// resetLayers is called after every request.
func (s *state) resetLayers() {
	for _, ly := range s.layers {
		ly.reset()
	}
}

// require returns a library or the app module; nothing is loaded from files.
func (s *state) require(L *lua.LState) int {
	name := L.CheckString(1)
	loaded := L.CheckTable(lua.UpvalueIndex(1))
	if v := loaded.RawGetString(name); v != lua.LNil {
		L.Push(v)
		return 1
	}
	var names []string
	loaded.ForEach(func(k, _ lua.LValue) { names = append(names, k.String()) })
	slices.Sort(names)
	L.RaiseError("embedded: require %q: the sandbox loads no files; available: %s", name, strings.Join(names, ", "))
	return 0
}

// print sends its arguments to the log, not to the server's stdout.
func (s *state) print(L *lua.LState) int {
	var b strings.Builder
	for i := 1; i <= L.GetTop(); i++ {
		if i > 1 {
			b.WriteByte('\t')
		}
		b.WriteString(L.ToStringMeta(L.Get(i)).String())
	}
	s.log.Printf("embedded: print: %s", b.String())
	return 0
}

// collectGarbage leaves memory to Go's collector: gopher-lua's own would run runtime.GC, a
// stop-the-world pause for every request on the server.
func collectGarbage(L *lua.LState) int {
	L.Push(lua.LNumber(0))
	return 1
}

// setMetatable is setmetatable for tables only, as in Lua 5.1. gopher-lua's also takes a
// number, a boolean or a function, and then sets the metatable of the whole type: it would
// outlive the request that set it.
func setMetatable(L *lua.LState) int {
	t := L.CheckTable(1)
	mt := L.Get(2)
	if _, ok := mt.(*lua.LTable); !ok && mt != lua.LNil {
		L.ArgError(2, "nil or table expected")
	}
	if L.GetMetaField(t, "__metatable") != lua.LNil { // GetMetatable would give the field itself
		L.RaiseError("cannot change a protected metatable")
	}
	L.SetMetatable(t, mt)
	L.SetTop(1)
	return 1
}
