<?php
// app.php: the cgibench reference app in PHP, run by php-cgi as a CGI program or, when php-cgi
// is started on a FastCGI listening socket, as a FastCGI responder.
//
// The contract is scripts/README.md and the oracle scripts/go/refapp. php-cgi writes the
// headers itself (CRLF line ends, its own spelling), so the body must be byte-identical to the
// oracle's and the Status, Content-Type and Set-Cookie values must be equal.
//
// Run it with `-d enable_post_data_reading=0` so that PHP leaves the body alone: the app reads
// exactly CONTENT_LENGTH bytes of php://input and parses them itself, never $_POST or $_FILES.
// PHP strings are bytes and strtolower is ASCII-only (PHP 8.2), so any byte survives.

const CGIBENCH_MAX_WORK = 100000000;

// cgibench_escape keeps A-Z a-z 0-9 - . _ ~ and writes every other byte as %XX (uppercase hex).
function cgibench_escape(string $s): string
{
    return preg_replace_callback('/[^A-Za-z0-9._~-]/', function ($m) {
        return sprintf('%%%02X', ord($m[0]));
    }, $s);
}

// cgibench_unescape decodes + and %XX; a % not followed by two hex digits stays as it is.
function cgibench_unescape(string $s): string
{
    $s = strtr($s, '+', ' ');
    return preg_replace_callback('/%([0-9A-Fa-f]{2})/', function ($m) {
        return chr(hexdec($m[1]));
    }, $s);
}

function cgibench_trim(string $s): string
{
    return trim($s, " \t");
}

function cgibench_parse_form(string $s): array
{
    $pairs = [];
    foreach (explode('&', $s) as $piece) {
        if ($piece === '') {
            continue;
        }
        $kv = explode('=', $piece, 2);
        $pairs[] = [cgibench_unescape($kv[0]), cgibench_unescape($kv[1] ?? '')];
    }
    return $pairs;
}

function cgibench_parse_cookies(string $s): array
{
    $pairs = [];
    foreach (explode(';', $s) as $piece) {
        $piece = cgibench_trim($piece);
        if ($piece === '' || strpos($piece, '=') === false) {
            continue;
        }
        $pairs[] = explode('=', $piece, 2);
    }
    return $pairs;
}

// cgibench_parse_params parses `; name=value; name="value"` lists: names lowercased, the first
// of a name wins, a quoted value ends at the next quote.
function cgibench_parse_params(string $s): array
{
    $params = [];
    while (true) {
        $s = ltrim($s, " \t;");
        if ($s === '') {
            return $params;
        }
        $at = strcspn($s, '=;');
        if ($at === strlen($s)) {
            return $params;
        }
        if ($s[$at] === ';') {
            $s = substr($s, $at);
            continue;
        }
        $name = strtolower(cgibench_trim(substr($s, 0, $at)));
        $s = ltrim(substr($s, $at + 1), " \t");
        if ($s !== '' && $s[0] === '"') {
            $end = strpos($s, '"', 1);
            if ($end === false) {
                $value = substr($s, 1);
                $s = '';
            } else {
                $value = substr($s, 1, $end - 1);
                $s = substr($s, $end + 1);
            }
        } else {
            $end = strpos($s, ';');
            if ($end === false) {
                $end = strlen($s);
            }
            $value = rtrim(substr($s, 0, $end), " \t");
            $s = substr($s, $end);
        }
        if (!array_key_exists($name, $params)) {
            $params[$name] = $value;
        }
    }
}

function cgibench_media_type(string $s): array
{
    $parts = explode(';', $s, 2);
    return [strtolower(cgibench_trim($parts[0])), cgibench_parse_params($parts[1] ?? '')];
}

// cgibench_parse_multipart returns text fields and file lines; a file's value is already the
// escaped "FILENAME;size=N;adler32=XXXXXXXX".
function cgibench_parse_multipart(string $body, string $boundary): array
{
    $fields = [];
    $files = [];
    $delim = '--' . $boundary;
    $next = "\r\n" . $delim;
    if (strncmp($body, $delim, strlen($delim)) === 0) {
        $pos = strlen($delim);
    } else {
        $i = strpos($body, $next);
        if ($i === false) {
            return [$fields, $files];
        }
        $pos = $i + strlen($next);
    }
    while (true) {
        if (substr($body, $pos, 2) === '--') {
            break;
        }
        $eol = strpos($body, "\r\n", $pos);
        if ($eol === false) {
            break;
        }
        $pos = $eol + 2;
        $end = strpos($body, $next, $pos);
        if ($end === false) {
            break;
        }
        $part = substr($body, $pos, $end - $pos);
        $pos = $end + strlen($next);

        if (strncmp($part, "\r\n", 2) === 0) {
            continue; // no headers, so no Content-Disposition
        }
        $hdr = strpos($part, "\r\n\r\n");
        if ($hdr === false) {
            continue;
        }
        $disp = '';
        foreach (explode("\r\n", substr($part, 0, $hdr)) as $line) {
            $kv = explode(':', $line, 2);
            if (count($kv) === 2 && strtolower(cgibench_trim($kv[0])) === 'content-disposition') {
                $disp = $kv[1];
            }
        }
        [$kind, $params] = cgibench_media_type($disp);
        if ($kind !== 'form-data' || !array_key_exists('name', $params)) {
            continue;
        }
        $content = substr($part, $hdr + 4);
        if (array_key_exists('filename', $params)) {
            $files[] = [$params['name'], sprintf('%s;size=%d;adler32=%s',
                cgibench_escape($params['filename']), strlen($content), hash('adler32', $content))];
        } else {
            $fields[] = [$params['name'], $content];
        }
    }
    return [$fields, $files];
}

function cgibench_last(array $pairs, string $key): ?string
{
    for ($i = count($pairs) - 1; $i >= 0; $i--) {
        if ($pairs[$i][0] === $key) {
            return $pairs[$i][1];
        }
    }
    return null;
}

function cgibench_is_digits(?string $s, int $min, int $max): bool
{
    return $s !== null && strlen($s) >= $min && strlen($s) <= $max && strspn($s, '0123456789') === strlen($s);
}

function cgibench_work(int $n): int
{
    $x = 1;
    for ($i = 0; $i < $n; $i++) {
        $x = $x * 48271 % 2147483647;
    }
    return $x;
}

// cgibench_section returns PREFIX+escape(key)=value lines, stably sorted by escaped key.
function cgibench_section(string $prefix, array $pairs, bool $raw = false): string
{
    $lines = [];
    foreach ($pairs as $i => $p) {
        $lines[] = [cgibench_escape($p[0]), $raw ? $p[1] : cgibench_escape($p[1]), $i];
    }
    usort($lines, function ($a, $b) {
        return strcmp($a[0], $b[0]) ?: $a[2] <=> $b[2];
    });
    $out = '';
    foreach ($lines as $l) {
        $out .= $prefix . $l[0] . '=' . $l[1] . "\n";
    }
    return $out;
}

// cgibench_handle runs the app on one request; it returns [status code or 0, headers, body].
function cgibench_handle(string $method, string $query, string $contentType, string $cookie, string $body): array
{
    $q = cgibench_parse_form($query);
    $form = [];
    $files = [];
    [$media, $params] = cgibench_media_type($contentType);
    if ($media === 'application/x-www-form-urlencoded') {
        $form = cgibench_parse_form($body);
    } elseif ($media === 'multipart/form-data' && ($params['boundary'] ?? '') !== '') {
        [$form, $files] = cgibench_parse_multipart($body, $params['boundary']);
    }
    $cookies = cgibench_parse_cookies($cookie);

    $status = 0;
    $headers = [];
    $s = cgibench_last($q, 'status');
    if (cgibench_is_digits($s, 3, 3)) {
        $code = (int)$s;
        if ($code >= 200 && $code <= 599 && $code !== 204 && $code !== 304) {
            $status = $code;
            $headers[] = "Status: $code Set By Query";
        }
    }
    $v = cgibench_last($cookies, 'visits');
    $visits = cgibench_is_digits($v, 1, 9) ? (int)$v : 0;
    $headers[] = 'Content-Type: text/plain; charset=utf-8';
    $headers[] = 'Set-Cookie: visits=' . ($visits + 1) . '; Path=/';

    $out = 'method=' . cgibench_escape($method) . "\n";
    $out .= cgibench_section('query.', $q);
    $out .= cgibench_section('form.', $form);
    $out .= cgibench_section('file.', $files, true);
    $out .= cgibench_section('cookie.', $cookies);
    $w = cgibench_last($q, 'work');
    if (cgibench_is_digits($w, 1, 9) && (int)$w <= CGIBENCH_MAX_WORK) {
        $n = (int)$w;
        $out .= "work=$n;result=" . cgibench_work($n) . "\n";
    }
    return [$status, $headers, $out];
}

function cgibench_server(string $name): string
{
    $v = $_SERVER[$name] ?? '';
    return is_string($v) ? $v : '';
}

function cgibench_main(): void
{
    $body = '';
    $cl = cgibench_server('CONTENT_LENGTH');
    if ($cl !== '') {
        if (!preg_match('/\A([+-]?)([0-9]{1,18})\z/', $cl, $m) || ($m[1] === '-' && (int)$m[2] !== 0)) {
            http_response_code(500);
            error_log("app.php: CONTENT_LENGTH \"$cl\" is not a byte count");
            return;
        }
        $n = (int)$m[2];
        // php://input holds exactly CONTENT_LENGTH bytes: php-cgi reads no more than that.
        $body = $n > 0 ? (string)file_get_contents('php://input', false, null, 0, $n) : '';
        if (strlen($body) < $n) {
            http_response_code(500);
            error_log('app.php: body ended after ' . strlen($body) . " of $n bytes");
            return;
        }
    }
    [, $headers, $out] = cgibench_handle(cgibench_server('REQUEST_METHOD'),
        cgibench_server('QUERY_STRING'), cgibench_server('CONTENT_TYPE'),
        cgibench_server('HTTP_COOKIE'), $body);
    foreach ($headers as $h) {
        header($h, false);
    }
    echo $out;
}

cgibench_main();
