#!/usr/bin/ruby
# frozen_string_literal: true

# app.rb: the cgibench reference app in Ruby, run as a CGI program (plain Ruby, no cgi library).
#
# The contract is scripts/README.md and the oracle scripts/go/refapp: the bytes this writes on
# stdout must equal refapp.Handle(req).CGI(). Every string is binary (ASCII-8BIT), so any byte
# survives, comparisons are bytewise and case folding is ASCII only.
module CGIBenchApp
  MAX_WORK = 100_000_000
  UNRESERVED = /[^A-Za-z0-9._~-]/n.freeze
  ESCAPED = (0..255).to_h { |b| [b.chr, b.chr.match?(UNRESERVED) ? format('%%%02X', b) : b.chr] }.freeze
  BLANKS = " \t"

  module_function

  # escape keeps A-Z a-z 0-9 - . _ ~ and writes every other byte as %XX (uppercase hex).
  def escape(s)
    s.gsub(UNRESERVED, ESCAPED)
  end

  # unescape decodes + and %XX; a % not followed by two hex digits stays as it is.
  def unescape(s)
    s.tr('+', ' ').gsub(/%([0-9A-Fa-f]{2})/n) { Regexp.last_match(1).hex.chr }
  end

  def trim(s)
    s.sub(/\A[ \t]+/n, '').sub(/[ \t]+\z/n, '')
  end

  def parse_form(s)
    s.split('&', -1).reject(&:empty?).map do |piece|
      key, value = piece.split('=', 2)
      [unescape(key), unescape(value || ''.b)]
    end
  end

  def parse_cookies(s)
    s.split(';', -1).map { |piece| trim(piece) }.select { |piece| piece.include?('=') }.map do |piece|
      piece.split('=', 2).then { |k, v| [k, v || ''.b] }
    end
  end

  # parse_params parses `; name=value; name="value"` lists: names lowercased, the first of a name
  # wins, a quoted value ends at the next quote.
  def parse_params(s)
    params = {}
    loop do
      s = s.sub(/\A[ \t;]+/n, '')
      return params if s.empty?

      at = s.index(/[=;]/n)
      return params if at.nil?

      if s[at] == ';'
        s = s[at..]
        next
      end
      name = trim(s[0, at]).downcase(:ascii)
      s = s[(at + 1)..].sub(/\A[ \t]+/n, '')
      if s.start_with?('"')
        close = s.index('"', 1)
        value, s = close ? [s[1...close], s[(close + 1)..]] : [s[1..], ''.b]
      else
        semi = s.index(';') || s.bytesize
        value = s[0, semi].sub(/[ \t]+\z/n, '')
        s = s[semi..]
      end
      params[name] = value unless params.key?(name)
    end
  end

  def media_type(s)
    media, rest = s.split(';', 2)
    [trim(media || ''.b).downcase(:ascii), parse_params(rest || ''.b)]
  end

  def adler32(data)
    require 'zlib' # only multipart file parts need it
    Zlib.adler32(data)
  end

  # parse_multipart returns text fields and file lines; a file's value is already the escaped
  # "FILENAME;size=N;adler32=XXXXXXXX".
  def parse_multipart(body, boundary)
    fields = []
    files = []
    delim = "--#{boundary}".b
    nxt = "\r\n#{delim}".b
    if body.start_with?(delim)
      pos = delim.bytesize
    else
      i = body.index(nxt)
      return [fields, files] if i.nil?

      pos = i + nxt.bytesize
    end
    loop do
      break if body[pos, 2] == '--'

      eol = body.index("\r\n", pos)
      break if eol.nil?

      pos = eol + 2
      stop = body.index(nxt, pos)
      break if stop.nil?

      part = body[pos...stop]
      pos = stop + nxt.bytesize
      next if part.start_with?("\r\n") # no headers, so no Content-Disposition

      hdr = part.index("\r\n\r\n")
      next if hdr.nil?

      disp = ''.b
      part[0, hdr].split("\r\n", -1).each do |line|
        name, value = line.split(':', 2)
        disp = value if value && trim(name).downcase(:ascii) == 'content-disposition'
      end
      kind, params = media_type(disp)
      next if kind != 'form-data' || !params.key?('name')

      content = part[(hdr + 4)..]
      if params.key?('filename')
        files << [params['name'], format('%<f>s;size=%<n>d;adler32=%<a>08x',
                                         f: escape(params['filename']), n: content.bytesize,
                                         a: adler32(content))]
      else
        fields << [params['name'], content]
      end
    end
    [fields, files]
  end

  def last(pairs, key)
    pair = pairs.reverse_each.find { |k, _| k == key }
    pair && pair[1]
  end

  def digits?(s, min, max)
    !s.nil? && s.bytesize.between?(min, max) && s.match?(/\A[0-9]+\z/n)
  end

  def work(n)
    x = 1
    n.times { x = x * 48_271 % 2_147_483_647 }
    x
  end

  # section returns PREFIX+escape(key)=value lines, stably sorted by escaped key.
  def section(prefix, pairs, raw: false)
    lines = pairs.each_with_index.map { |(k, v), i| [escape(k), raw ? v : escape(v), i] }
    lines.sort_by { |k, _, i| [k, i] }.map { |k, v, _| "#{prefix}#{k}=#{v}\n" }.join
  end

  # handle runs the app on one request (binary strings) and returns the CGI stdout bytes.
  def handle(method, query, content_type, cookie, body)
    q = parse_form(query)
    form = []
    files = []
    media, params = media_type(content_type)
    if media == 'application/x-www-form-urlencoded'
      form = parse_form(body)
    elsif media == 'multipart/form-data' && !params.fetch('boundary', '').empty?
      form, files = parse_multipart(body, params['boundary'])
    end
    cookies = parse_cookies(cookie)

    out = +''.b
    status = last(q, 'status')
    if digits?(status, 3, 3)
      code = status.to_i
      out << "Status: #{code} Set By Query\n" if code.between?(200, 599) && code != 204 && code != 304
    end
    visits = last(cookies, 'visits')
    visits = digits?(visits, 1, 9) ? visits.to_i : 0
    out << "Content-Type: text/plain; charset=utf-8\n"
    out << "Set-Cookie: visits=#{visits + 1}; Path=/\n\n"
    out << "method=#{escape(method)}\n"
    out << section('query.', q)
    out << section('form.', form)
    out << section('file.', files, raw: true)
    out << section('cookie.', cookies)
    w = last(q, 'work')
    if digits?(w, 1, 9) && w.to_i <= MAX_WORK
      n = w.to_i
      out << "work=#{n};result=#{work(n)}\n"
    end
    out
  end

  # content_length parses CONTENT_LENGTH like the Go oracle (an optional sign, decimal digits);
  # it returns nil when the value is not a byte count.
  def content_length(s)
    m = s.match(/\A([+-]?)([0-9]{1,18})\z/n)
    return nil if m.nil? || (m[1] == '-' && m[2].to_i != 0)

    m[2].to_i
  end

  def main
    env = ->(name) { (ENV[name] || '').b }
    body = ''.b
    cl = env.call('CONTENT_LENGTH')
    unless cl.empty?
      n = content_length(cl)
      if n.nil?
        warn "app.rb: CONTENT_LENGTH #{cl.inspect} is not a byte count"
        return 1
      end
      $stdin.binmode
      # IO#read(n) returns once it has n bytes; it never waits for EOF.
      body = (n.positive? && $stdin.read(n)) || ''.b
      if body.bytesize < n
        warn "app.rb: body ended after #{body.bytesize} of #{n} bytes"
        return 1
      end
    end
    out = handle(env.call('REQUEST_METHOD'), env.call('QUERY_STRING'), env.call('CONTENT_TYPE'),
                 env.call('HTTP_COOKIE'), body)
    $stdout.binmode
    $stdout.write(out)
    $stdout.flush
    0
  end
end

exit CGIBenchApp.main if $PROGRAM_NAME == __FILE__
