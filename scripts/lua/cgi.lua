-- cgi.lua: runs app.lua (beside this file) as a CGI program under the system Lua (5.1 to 5.4).
--
-- It reads the request from the CGI meta-variables and exactly CONTENT_LENGTH bytes of stdin
-- (never to EOF), calls app.handle and writes the response on stdout.

local dir = (arg and arg[0] or ""):match("^(.*)/") or "."
local app = dofile(dir .. "/app.lua")

local function getenv(name)
	return os.getenv(name) or ""
end

local function fail(msg)
	io.stderr:write("cgi.lua: ", msg, "\n")
	os.exit(1)
end

-- content_length parses CONTENT_LENGTH like the Go oracle (an optional sign, decimal digits)
-- and returns nil when it is not a byte count.
local function content_length(s)
	local sign, digits = s:match("^([+-]?)([0-9]+)$")
	if not digits or #digits > 15 then
		return nil
	end
	local n = tonumber(digits)
	if sign == "-" and n ~= 0 then
		return nil
	end
	return n
end

local body = ""
local cl = getenv("CONTENT_LENGTH")
if cl ~= "" then
	local n = content_length(cl)
	if not n then
		fail(string.format("CONTENT_LENGTH %q is not a byte count", cl))
	end
	local chunks, got = {}, 0
	while got < n do
		local chunk = io.stdin:read(n - got)
		if not chunk or chunk == "" then
			fail(string.format("body ended after %d of %d bytes", got, n))
		end
		chunks[#chunks + 1] = chunk
		got = got + #chunk
	end
	body = table.concat(chunks)
end

local resp = app.handle({
	method = getenv("REQUEST_METHOD"),
	query = getenv("QUERY_STRING"),
	content_type = getenv("CONTENT_TYPE"),
	cookie = getenv("HTTP_COOKIE"),
	body = body,
})
io.stdout:write(app.cgi(resp))
io.stdout:flush()
