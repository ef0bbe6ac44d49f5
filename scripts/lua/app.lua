-- app.lua: the cgibench reference app in Lua, as a module.
--
-- The contract is scripts/README.md and the oracle scripts/go/refapp. cgi.lua runs it as a CGI
-- program under the system Lua; the embedded strategy runs it inside gopher-lua. So this file
-- keeps to Lua 5.1 with every number a double: no //, no bitwise operators, no goto, no utf8 or
-- string.pack; numbers are printed with string.format("%d"); patterns use explicit byte sets
-- ([A-Za-z0-9]) because classes such as %w depend on the locale (or on Unicode in gopher-lua),
-- and case folding is ASCII only for the same reason.
--
--   local app = dofile("app.lua")
--   local resp = app.handle{method = "GET", query = "a=1", content_type = "",
--                           cookie = "", body = ""}
--   -- resp.status: the Status code, or nil for a plain 200
--   -- resp.headers: {{"Status", "404 Set By Query"}, {"Content-Type", ...}, ...} in output order
--   -- resp.body: the body
--
-- The CGI output is each header as "Name: Value\n", then "\n", then the body.

local M = {}

local byte, char, find, format, gsub, sub =
	string.byte, string.char, string.find, string.format, string.gsub, string.sub

M.MAX_WORK = 100000000

-- ESCAPED maps each byte (as a one-byte string) to its escaped form.
local ESCAPED = {}
for b = 0, 255 do
	local c = char(b)
	if find(c, "^[A-Za-z0-9_~.-]$") then
		ESCAPED[c] = c
	else
		ESCAPED[c] = format("%%%02X", b)
	end
end

-- escape keeps A-Z a-z 0-9 - . _ ~ and writes every other byte as %XX (uppercase hex).
local function escape(s)
	return (gsub(s, "[^A-Za-z0-9_~.-]", ESCAPED))
end
M.escape = escape

local function hexbyte(h)
	return char(tonumber(h, 16))
end

-- unescape decodes + and %XX; a % not followed by two hex digits stays as it is.
local function unescape(s)
	s = gsub(s, "%+", " ")
	return (gsub(s, "%%([0-9A-Fa-f][0-9A-Fa-f])", hexbyte))
end

local function upper_to_lower(c)
	return char(byte(c) + 32)
end

local function ascii_lower(s)
	return (gsub(s, "[A-Z]", upper_to_lower))
end

local function is_blank(b)
	return b == 32 or b == 9
end

-- trim removes spaces and tabs at both ends.
local function trim(s)
	local i, j = 1, #s
	while i <= j and is_blank(byte(s, i)) do
		i = i + 1
	end
	while j >= i and is_blank(byte(s, j)) do
		j = j - 1
	end
	return sub(s, i, j)
end

local function parse_form(s)
	local pairs_ = {}
	local i, n = 1, #s
	while i <= n do
		local amp = find(s, "&", i, true) or n + 1
		if amp > i then
			local piece = sub(s, i, amp - 1)
			local eq = find(piece, "=", 1, true)
			if eq then
				pairs_[#pairs_ + 1] = { unescape(sub(piece, 1, eq - 1)), unescape(sub(piece, eq + 1)) }
			else
				pairs_[#pairs_ + 1] = { unescape(piece), "" }
			end
		end
		i = amp + 1
	end
	return pairs_
end

local function parse_cookies(s)
	local pairs_ = {}
	local i, n = 1, #s
	while true do
		local semi = find(s, ";", i, true)
		local piece = trim(sub(s, i, (semi or n + 1) - 1))
		local eq = find(piece, "=", 1, true)
		if piece ~= "" and eq then
			pairs_[#pairs_ + 1] = { sub(piece, 1, eq - 1), sub(piece, eq + 1) }
		end
		if not semi then
			return pairs_
		end
		i = semi + 1
	end
end

-- parse_params parses `; name=value; name="value"` lists: names lowercased, the first of a name
-- wins, a quoted value ends at the next quote.
local function parse_params(s)
	local params = {}
	while true do
		s = gsub(s, "^[ \t;]+", "")
		if s == "" then
			return params
		end
		local at = find(s, "[=;]")
		if not at then
			return params
		end
		if sub(s, at, at) == ";" then
			s = sub(s, at)
		else
			local name = ascii_lower(trim(sub(s, 1, at - 1)))
			s = gsub(sub(s, at + 1), "^[ \t]+", "")
			local value
			if sub(s, 1, 1) == '"' then
				local close = find(s, '"', 2, true)
				if close then
					value, s = sub(s, 2, close - 1), sub(s, close + 1)
				else
					value, s = sub(s, 2), ""
				end
			else
				local semi = find(s, ";", 1, true) or #s + 1
				value, s = sub(s, 1, semi - 1), sub(s, semi)
				value = gsub(value, "[ \t]+$", "")
			end
			if params[name] == nil then
				params[name] = value
			end
		end
	end
end

local function media_type(s)
	local semi = find(s, ";", 1, true)
	if not semi then
		return ascii_lower(trim(s)), {}
	end
	return ascii_lower(trim(sub(s, 1, semi - 1))), parse_params(sub(s, semi + 1))
end

-- adler32 is the RFC 1950 checksum. Bytes are taken 256 at a time (string.byte returns them
-- all on the stack, which is small in gopher-lua); the sums are reduced after each run, well
-- before they could leave the 2^53 a double holds exactly.
local function adler32(s)
	local a, b = 1, 0
	local n = #s
	for i = 1, n, 256 do
		local j = i + 255
		if j > n then
			j = n
		end
		local t = { byte(s, i, j) }
		for k = 1, #t do
			a = a + t[k]
			b = b + a
		end
		a = a % 65521
		b = b % 65521
	end
	return b * 65536 + a
end

-- parse_multipart returns text fields and file lines; a file's value is already the escaped
-- "FILENAME;size=N;adler32=XXXXXXXX".
local function parse_multipart(body, boundary)
	local fields, files = {}, {}
	local delim = "--" .. boundary
	local nxt = "\r\n" .. delim
	local pos -- the index just past the last delimiter
	if sub(body, 1, #delim) == delim then
		pos = #delim + 1
	else
		local i = find(body, nxt, 1, true)
		if not i then
			return fields, files
		end
		pos = i + #nxt
	end
	while true do
		if sub(body, pos, pos + 1) == "--" then
			return fields, files
		end
		local eol = find(body, "\r\n", pos, true)
		if not eol then
			return fields, files
		end
		pos = eol + 2
		local stop = find(body, nxt, pos, true)
		if not stop then
			return fields, files
		end
		local part = sub(body, pos, stop - 1)
		pos = stop + #nxt

		local hdr = find(part, "\r\n\r\n", 1, true)
		-- A part starting with CRLF has no headers, so no Content-Disposition.
		if sub(part, 1, 2) ~= "\r\n" and hdr then
			local disp = ""
			local ls = 1
			local headers = sub(part, 1, hdr - 1)
			while ls <= #headers + 1 do
				local le = find(headers, "\r\n", ls, true) or #headers + 1
				local line = sub(headers, ls, le - 1)
				local colon = find(line, ":", 1, true)
				if colon and ascii_lower(trim(sub(line, 1, colon - 1))) == "content-disposition" then
					disp = sub(line, colon + 1)
				end
				ls = le + 2
			end
			local kind, params = media_type(disp)
			if kind == "form-data" and params.name ~= nil then
				local content = sub(part, hdr + 4)
				if params.filename ~= nil then
					files[#files + 1] = {
						params.name,
						format("%s;size=%d;adler32=%08x", escape(params.filename), #content, adler32(content)),
					}
				else
					fields[#fields + 1] = { params.name, content }
				end
			end
		end
	end
end

local function last(pairs_, key)
	for i = #pairs_, 1, -1 do
		if pairs_[i][1] == key then
			return pairs_[i][2]
		end
	end
	return nil
end

local function is_digits(s, min, max)
	return s ~= nil and #s >= min and #s <= max and find(s, "^[0-9]+$") ~= nil
end

-- work runs the MINSTD generator n times from 1; every intermediate stays below 2^47, so
-- doubles compute it exactly.
function M.work(n)
	local x = 1
	for _ = 1, n do
		x = (x * 48271) % 2147483647
	end
	return x
end

local function line_less(a, b)
	if a[1] ~= b[1] then
		return a[1] < b[1]
	end
	return a[3] < b[3] -- equal keys keep their order of arrival
end

-- section appends PREFIX+escape(key)=value lines to out, stably sorted by escaped key.
local function section(out, prefix, pairs_, raw)
	local lines = {}
	for i, p in ipairs(pairs_) do
		lines[i] = { escape(p[1]), raw and p[2] or escape(p[2]), i }
	end
	table.sort(lines, line_less)
	for _, l in ipairs(lines) do
		out[#out + 1] = prefix .. l[1] .. "=" .. l[2] .. "\n"
	end
end

-- handle runs the app on one request: req = {method=, query=, content_type=, cookie=, body=}
-- (absent fields are empty).
function M.handle(req)
	local query = parse_form(req.query or "")
	local form, files = {}, {}
	local media, params = media_type(req.content_type or "")
	if media == "application/x-www-form-urlencoded" then
		form = parse_form(req.body or "")
	elseif media == "multipart/form-data" and params.boundary ~= nil and params.boundary ~= "" then
		form, files = parse_multipart(req.body or "", params.boundary)
	end
	local cookies = parse_cookies(req.cookie or "")

	local resp = { headers = {} }
	local status = last(query, "status")
	if is_digits(status, 3, 3) then
		local code = tonumber(status)
		if code >= 200 and code <= 599 and code ~= 204 and code ~= 304 then
			resp.status = code
			resp.headers[#resp.headers + 1] = { "Status", format("%d Set By Query", code) }
		end
	end
	local visits = last(cookies, "visits")
	if is_digits(visits, 1, 9) then
		visits = tonumber(visits)
	else
		visits = 0
	end
	resp.headers[#resp.headers + 1] = { "Content-Type", "text/plain; charset=utf-8" }
	resp.headers[#resp.headers + 1] = { "Set-Cookie", format("visits=%d; Path=/", visits + 1) }

	local out = { "method=" .. escape(req.method or "") .. "\n" }
	section(out, "query.", query)
	section(out, "form.", form)
	section(out, "file.", files, true)
	section(out, "cookie.", cookies)
	local w = last(query, "work")
	if is_digits(w, 1, 9) and tonumber(w) <= M.MAX_WORK then
		local n = tonumber(w)
		out[#out + 1] = format("work=%d;result=%d\n", n, M.work(n))
	end
	resp.body = table.concat(out)
	return resp
end

-- cgi renders a response the way a CGI program writes it on stdout.
function M.cgi(resp)
	local out = {}
	for i, h in ipairs(resp.headers) do
		out[i] = h[1] .. ": " .. h[2] .. "\n"
	end
	out[#out + 1] = "\n"
	out[#out + 1] = resp.body
	return table.concat(out)
end

return M
