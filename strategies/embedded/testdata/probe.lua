-- probe.lua: a test app for the embedded strategy. The first word of the query string picks
-- what it does; every action reports what it saw in a one-line body.
local M = {}

-- Set while the chunk loads: every request must see these.
LOADED_AT_START = "yes"
M.loadtime = "yes"
table.probe_polyfill = "yes"

local function reply(body, status)
  return { status = status, headers = { { "Content-Type", "text/plain" } }, body = body .. "\n" }
end

local actions = {}

-- Isolation of globals: a global set by one request is not seen by the next.
function actions.global(req)
  local seen = marker ~= nil
  marker = req.method
  _G.viaG = (viaG or 0) + 1
  return reply("seen=" .. tostring(seen) .. " viaG=" .. viaG .. " loaded=" .. tostring(LOADED_AT_START))
end

-- Isolation of the module table.
function actions.module(req)
  local seen = M.counter ~= nil
  M.counter = (M.counter or 0) + 1
  return reply("seen=" .. tostring(seen) .. " counter=" .. M.counter)
end

-- Setting a global or a module field to nil removes it, for this request only.
function actions.unset(req)
  local before = tostring(LOADED_AT_START) .. "/" .. tostring(M.loadtime)
  LOADED_AT_START = nil
  M.loadtime = nil
  local gone = tostring(LOADED_AT_START) .. "/" .. tostring(M.loadtime)
  M.loadtime = "again"
  return reply("before=" .. before .. " after=" .. gone .. " set=" .. M.loadtime)
end

-- A metatable set on a number, a boolean or a function would be the whole type's, for every
-- later request: setmetatable takes tables only.
function actions.typemeta(req)
  local seen = pcall(function() return (5).probe end)
  local ok = pcall(setmetatable, 0, { __index = function() return "leak" end })
  local okf = pcall(setmetatable, print, {})
  return reply("seen=" .. tostring(seen) .. " number=" .. tostring(ok) .. " function=" .. tostring(okf))
end

-- rawset bypasses the layers; the keys are removed after the request.
function actions.rawset(req)
  local seen = rawget(_G, "rawmark") ~= nil or marker ~= nil
  rawset(_G, "rawmark", true)
  local mseen = rawget(M, "rawmark") ~= nil
  rawset(M, "rawmark", true)
  return reply("seen=" .. tostring(seen) .. " mseen=" .. tostring(mseen))
end

-- Library tables: a request's write is its own, a load-time write is everyone's.
function actions.library(req)
  local seen = string.probe ~= nil
  string.probe = true
  return reply("seen=" .. tostring(seen) .. " polyfill=" .. tostring(table.probe_polyfill))
end

-- Which names a script can reach.
function actions.sandbox(req)
  local names = {
    "assert", "collectgarbage", "coroutine", "debug", "dofile", "getfenv", "io", "load",
    "loadfile", "loadstring", "math.floor", "module", "os.clock", "os.date", "os.execute",
    "os.exit", "os.getenv", "os.remove", "os.time", "package", "pairs", "print", "require",
    "setfenv", "string.format", "table.concat", "unpack",
  }
  local out = {}
  for _, name in ipairs(names) do
    local v = _G
    for part in name:gmatch("[^.]+") do
      v = v and v[part]
    end
    out[#out + 1] = name .. "=" .. (v ~= nil and "yes" or "no")
  end
  return reply(table.concat(out, " "))
end

-- Metatables of the environment and of strings are protected.
function actions.metatable(req)
  local ok = pcall(setmetatable, _G, {})
  return reply("setmetatable_G=" .. tostring(ok) .. " getmetatable_string=" .. tostring(getmetatable("")) ..
    " getmetatable_string_lib=" .. tostring(getmetatable(string)) .. " getmetatable_req=" .. tostring(getmetatable(req)) ..
    " getmetatable_M=" .. tostring(getmetatable(M)))
end

function actions.require(req)
  local ok, err = pcall(require, "io")
  return reply("string=" .. tostring(require("string") == string) .. " self=" .. tostring(require("probe") == M) ..
    " io=" .. tostring(ok))
end

function actions.loop(req)
  while true do end
end

-- A runaway loop that tries to swallow the timeout error.
function actions.pcallloop(req)
  while true do
    pcall(function() while true do end end)
  end
end

-- go_sleep exists only in the test that installs it: a Go function the budget cannot stop.
function actions.gosleep(req)
  go_sleep(tonumber(req.query:match("s=([%d.]+)")) or 1)
  return reply("slept")
end

function actions.recurse(req)
  local function f(n) return f(n + 1) + 1 end
  return reply(tostring(f(1)))
end

function actions.error(req)
  error("boom from probe")
end

function actions.badresult(req)
  return "not a table"
end

function actions.inject(req)
  return { headers = { { "Content-Type", "text/plain\nX-Evil: 1" } }, body = "" }
end

function actions.noheader(req)
  return { headers = {}, body = "x" }
end

function actions.status(req)
  return { status = 418, headers = { { "Content-Type", "text/plain" } }, body = "teapot\n" }
end

function actions.headers(req)
  return reply("x_probe=" .. tostring(req.headers.HTTP_X_PROBE) .. " method=" .. tostring(req.env.REQUEST_METHOD) ..
    " cookie=" .. tostring(req.headers.HTTP_COOKIE) .. " content_length=" .. tostring(req.env.CONTENT_LENGTH))
end

function actions.redirect(req)
  return { headers = { { "Location", "/app?echo" } } }
end

function actions.print(req)
  print("hello", "from", "probe")
  return reply("printed")
end

function actions.echo(req)
  return reply("method=" .. req.method .. " query=" .. req.query .. " content_type=" .. req.content_type ..
    " cookie=" .. req.cookie .. " body=" .. #req.body)
end

function actions.work(req)
  local n = tonumber(req.query:match("n=(%d+)")) or 0
  local x = 1
  for _ = 1, n do x = (x * 48271) % 2147483647 end
  return reply("result=" .. x)
end

function M.handle(req)
  local name = req.query:match("^[%a_]*")
  local action = actions[name] or actions.echo
  return action(req)
end

return M
