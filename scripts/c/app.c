/*
 * app.c: the cgibench reference app in C (the contract is scripts/README.md; the oracle is
 * scripts/go/refapp). Its stdout must be byte-identical to refapp.Handle(req).CGI().
 *
 * Built three ways from this one source:
 *   cc -O2 -o app app.c                                      CGI, dynamic ("c")
 *   cc -O2 -static -o app app.c                              CGI, static ("c-static")
 *   cc -O2 -DCGIBENCH_FASTCGI -o app app.c -lfcgi            FastCGI responder
 *
 * In the FastCGI build, fcgi_stdio.h turns stdin, stdout, stderr, fread and fwrite into the
 * request's FastCGI streams and FCGI_Accept() points environ at the request's params, so the
 * request code below is the same in both builds. Every allocation a request makes comes from
 * an arena that is emptied when the request ends, so nothing leaks from one request to the next.
 */
#ifdef CGIBENCH_FASTCGI
#include <fcgi_stdio.h>
#else
#include <stdio.h>
#endif
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORK 100000000L

/* ---- per-request arena ---- */

struct block {
	struct block *next;
	size_t used, cap;
	union {
		char c[1];
		void *p;
		long double d;
	} data;
};

static struct block *arena;

/* report writes one line on stderr. It formats with vsnprintf because libfcgi's own printf
 * (what fprintf becomes in the FastCGI build) knows fewer conversions than the C library's. */
static void report(const char *format, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, format);
	vsnprintf(msg, sizeof msg, format, ap);
	va_end(ap);
	fputs("app.c: ", stderr);
	fputs(msg, stderr);
	fputs("\n", stderr);
}

static void die_oom(void)
{
	report("out of memory");
	exit(1);
}

static void *alloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (arena == NULL || arena->cap - arena->used < n) {
		size_t cap = n > 65536 ? n : 65536;
		struct block *b = malloc(sizeof *b + cap);
		if (b == NULL)
			die_oom();
		b->next = arena;
		b->used = 0;
		b->cap = cap;
		arena = b;
	}
	void *p = arena->data.c + arena->used;
	arena->used += n;
	return p;
}

static void arena_reset(void)
{
	while (arena != NULL) {
		struct block *next = arena->next;
		free(arena);
		arena = next;
	}
}

/* ---- growable byte buffer and pair lists (arena-backed) ---- */

struct buf {
	char *p;
	size_t n, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (n == 0)
		return;
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		while (cap < b->n + n)
			cap *= 2;
		char *p = alloc(cap);
		if (b->n)
			memcpy(p, b->p, b->n);
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

static void puts_buf(struct buf *b, const char *s) { put(b, s, strlen(s)); }

struct pair {
	const char *k, *v;
	size_t kn, vn;
};

struct pairs {
	struct pair *a;
	size_t n, cap;
};

static void add(struct pairs *ps, const char *k, size_t kn, const char *v, size_t vn)
{
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 16;
		struct pair *a = alloc(cap * sizeof *a);
		if (ps->n)
			memcpy(a, ps->a, ps->n * sizeof *a);
		ps->a = a;
		ps->cap = cap;
	}
	ps->a[ps->n].k = k;
	ps->a[ps->n].kn = kn;
	ps->a[ps->n].v = v;
	ps->a[ps->n].vn = vn;
	ps->n++;
}

static int eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* last returns the value of the last pair with key lit, or NULL. */
static const struct pair *last(const struct pairs *ps, const char *lit)
{
	for (size_t i = ps->n; i > 0; i--)
		if (eq(ps->a[i - 1].k, ps->a[i - 1].kn, lit))
			return &ps->a[i - 1];
	return NULL;
}

/* find returns the offset of the first needle in hay[from:], or -1. */
static long find(const char *hay, size_t n, size_t from, const char *needle, size_t m)
{
	if (m == 0)
		return (long)from;
	while (from + m <= n) {
		const char *p = memchr(hay + from, needle[0], n - from - m + 1);
		if (p == NULL)
			return -1;
		size_t i = (size_t)(p - hay);
		if (memcmp(p, needle, m) == 0)
			return (long)i;
		from = i + 1;
	}
	return -1;
}

static int is_digits(const char *s, size_t n, size_t min, size_t max)
{
	if (n < min || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static long digits_value(const char *s, size_t n)
{
	long v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

static int blank(char c) { return c == ' ' || c == '\t'; }

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

/* ---- decoding ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* unescape decodes + and %XX; a % without two hex digits stays as it is. */
static char *unescape(const char *s, size_t n, size_t *out)
{
	char *d = alloc(n + 1);
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '+') {
			d[j++] = ' ';
		} else if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			d[j++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
		} else {
			d[j++] = c;
		}
	}
	*out = j;
	return d;
}

static void parse_form(const char *s, size_t n, struct pairs *ps)
{
	size_t i = 0;
	while (i < n) {
		const char *amp = memchr(s + i, '&', n - i);
		size_t end = amp ? (size_t)(amp - s) : n;
		if (end > i) {
			const char *piece = s + i;
			size_t len = end - i, kn, vn;
			const char *e = memchr(piece, '=', len);
			size_t klen = e ? (size_t)(e - piece) : len;
			char *k = unescape(piece, klen, &kn);
			char *v = e ? unescape(e + 1, len - klen - 1, &vn) : unescape("", 0, &vn);
			add(ps, k, kn, v, vn);
		}
		i = end + 1;
	}
}

static void parse_cookies(const char *s, size_t n, struct pairs *ps)
{
	size_t i = 0;
	for (;;) {
		const char *semi = memchr(s + i, ';', n - i);
		size_t end = semi ? (size_t)(semi - s) : n;
		size_t a = i, b = end;
		while (a < b && blank(s[a]))
			a++;
		while (b > a && blank(s[b - 1]))
			b--;
		const char *e = memchr(s + a, '=', b - a);
		if (b > a && e != NULL)
			add(ps, s + a, (size_t)(e - (s + a)), e + 1, (size_t)(s + b - e - 1));
		if (semi == NULL)
			return;
		i = end + 1;
	}
}

/* parse_params parses `; name=value; name="value"` lists (names lowercased; the first of
 * repeated names wins; a quoted value ends at the next quote). */
static void parse_params(const char *s, size_t n, struct pairs *params)
{
	size_t i = 0;
	for (;;) {
		while (i < n && (blank(s[i]) || s[i] == ';'))
			i++;
		if (i == n)
			return;
		size_t j = i;
		while (j < n && s[j] != '=' && s[j] != ';')
			j++;
		if (j == n)
			return;
		if (s[j] == ';') {
			i = j;
			continue;
		}
		size_t a = i, b = j;
		while (a < b && blank(s[a]))
			a++;
		while (b > a && blank(s[b - 1]))
			b--;
		char *name = alloc(b - a + 1);
		for (size_t x = a; x < b; x++)
			name[x - a] = lower(s[x]);
		size_t namen = b - a;
		i = j + 1;
		while (i < n && blank(s[i]))
			i++;
		const char *v;
		size_t vn;
		if (i < n && s[i] == '"') {
			const char *q = memchr(s + i + 1, '"', n - i - 1);
			v = s + i + 1;
			if (q == NULL) {
				vn = n - i - 1;
				i = n;
			} else {
				vn = (size_t)(q - v);
				i = (size_t)(q - s) + 1;
			}
		} else {
			size_t e = i;
			while (e < n && s[e] != ';')
				e++;
			size_t r = e;
			while (r > i && blank(s[r - 1]))
				r--;
			v = s + i;
			vn = r - i;
			i = e;
		}
		int dup = 0;
		for (size_t x = 0; x < params->n; x++)
			if (params->a[x].kn == namen && memcmp(params->a[x].k, name, namen) == 0)
				dup = 1;
		if (!dup)
			add(params, name, namen, v, vn);
	}
}

/* media_type returns the lowercased media type of a Content-Type-like value and its params. */
static char *media_type(const char *s, size_t n, size_t *mn, struct pairs *params)
{
	const char *semi = memchr(s, ';', n);
	size_t end = semi ? (size_t)(semi - s) : n;
	size_t a = 0, b = end;
	while (a < b && blank(s[a]))
		a++;
	while (b > a && blank(s[b - 1]))
		b--;
	char *m = alloc(b - a + 1);
	for (size_t i = a; i < b; i++)
		m[i - a] = lower(s[i]);
	*mn = b - a;
	if (semi)
		parse_params(semi + 1, n - end - 1, params);
	return m;
}

static const struct pair *param(const struct pairs *params, const char *name)
{
	for (size_t i = 0; i < params->n; i++)
		if (eq(params->a[i].k, params->a[i].kn, name))
			return &params->a[i];
	return NULL;
}

static const char upper_hex[] = "0123456789ABCDEF";

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* escape appends s with every byte but A-Z a-z 0-9 - . _ ~ written as %XX. */
static void escape(struct buf *b, const char *s, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unreserved(c))
			continue;
		put(b, s + run, i - run);
		char e[3] = {'%', upper_hex[c >> 4], upper_hex[c & 15]};
		put(b, e, 3);
		run = i + 1;
	}
	put(b, s + run, n - run);
}

static uint32_t adler32(const unsigned char *p, size_t n)
{
	uint32_t a = 1, s = 0;
	while (n > 0) {
		size_t k = n > 5552 ? 5552 : n; /* the longest run that cannot overflow */
		n -= k;
		while (k--) {
			a += *p++;
			s += a;
		}
		a %= 65521;
		s %= 65521;
	}
	return s << 16 | a;
}

/* parse_multipart adds text fields to fields and file parts to files; a file pair's value is
 * already the escaped "FILENAME;size=N;adler32=XXXXXXXX". */
static void parse_multipart(const char *body, size_t n, const char *bd, size_t bdn,
                            struct pairs *fields, struct pairs *files)
{
	char *next = alloc(bdn + 4);
	memcpy(next, "\r\n--", 4);
	memcpy(next + 4, bd, bdn);
	size_t nextn = bdn + 4;
	const char *delim = next + 2;
	size_t delimn = bdn + 2;

	size_t pos;
	if (n >= delimn && memcmp(body, delim, delimn) == 0) {
		pos = delimn;
	} else {
		long i = find(body, n, 0, next, nextn);
		if (i < 0)
			return;
		pos = (size_t)i + nextn;
	}
	for (;;) {
		if (n - pos >= 2 && body[pos] == '-' && body[pos + 1] == '-')
			return;
		long eol = find(body, n, pos, "\r\n", 2);
		if (eol < 0)
			return;
		pos = (size_t)eol + 2;
		long end = find(body, n, pos, next, nextn);
		if (end < 0)
			return;
		const char *part = body + pos;
		size_t partn = (size_t)end - pos;
		pos = (size_t)end + nextn;

		if (partn >= 2 && part[0] == '\r' && part[1] == '\n')
			continue; /* no headers, so no Content-Disposition */
		long hdr = find(part, partn, 0, "\r\n\r\n", 4);
		if (hdr < 0)
			continue;
		const char *content = part + hdr + 4;
		size_t contentn = partn - (size_t)hdr - 4;

		const char *disp = "";
		size_t dispn = 0;
		size_t ls = 0, hn = (size_t)hdr;
		for (;;) {
			long le = find(part, hn, ls, "\r\n", 2);
			size_t lend = le < 0 ? hn : (size_t)le;
			const char *colon = memchr(part + ls, ':', lend - ls);
			if (colon != NULL) {
				size_t a = ls, b = (size_t)(colon - part);
				while (a < b && blank(part[a]))
					a++;
				while (b > a && blank(part[b - 1]))
					b--;
				static const char cd[] = "content-disposition";
				int match = b - a == sizeof cd - 1;
				for (size_t x = 0; match && x < b - a; x++)
					match = lower(part[a + x]) == cd[x];
				if (match) {
					disp = colon + 1;
					dispn = (size_t)(part + lend - disp);
				}
			}
			if (le < 0)
				break;
			ls = lend + 2;
		}
		struct pairs params = {0};
		size_t kindn;
		char *kind = media_type(disp, dispn, &kindn, &params);
		const struct pair *name = param(&params, "name");
		if (!eq(kind, kindn, "form-data") || name == NULL)
			continue;
		const struct pair *filename = param(&params, "filename");
		if (filename == NULL) {
			add(fields, name->v, name->vn, content, contentn);
			continue;
		}
		struct buf v = {0};
		escape(&v, filename->v, filename->vn);
		char tail[64];
		int tn = snprintf(tail, sizeof tail, ";size=%zu;adler32=%08lx", contentn,
		                  (unsigned long)adler32((const unsigned char *)content, contentn));
		put(&v, tail, (size_t)tn);
		add(files, name->v, name->vn, v.p, v.n);
	}
}

/* ---- output ---- */

struct line {
	struct buf key;
	const char *v;
	size_t vn;
	size_t seq;
};

static int line_cmp(const void *x, const void *y)
{
	const struct line *a = x, *b = y;
	size_t n = a->key.n < b->key.n ? a->key.n : b->key.n;
	int c = n ? memcmp(a->key.p, b->key.p, n) : 0;
	if (c != 0)
		return c;
	if (a->key.n != b->key.n)
		return a->key.n < b->key.n ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq; /* stable: arrival order */
}

/* write_section writes prefix+escape(key)=value lines sorted by escaped key (stable); values
 * are escaped unless raw is set (file lines arrive escaped). */
static void write_section(struct buf *out, const char *prefix, const struct pairs *ps, int raw)
{
	if (ps->n == 0)
		return;
	struct line *lines = alloc(ps->n * sizeof *lines);
	for (size_t i = 0; i < ps->n; i++) {
		memset(&lines[i].key, 0, sizeof lines[i].key);
		escape(&lines[i].key, ps->a[i].k, ps->a[i].kn);
		if (raw) {
			lines[i].v = ps->a[i].v;
			lines[i].vn = ps->a[i].vn;
		} else {
			struct buf v = {0};
			escape(&v, ps->a[i].v, ps->a[i].vn);
			lines[i].v = v.p;
			lines[i].vn = v.n;
		}
		lines[i].seq = i;
	}
	qsort(lines, ps->n, sizeof *lines, line_cmp);
	for (size_t i = 0; i < ps->n; i++) {
		puts_buf(out, prefix);
		put(out, lines[i].key.p, lines[i].key.n);
		put(out, "=", 1);
		put(out, lines[i].v, lines[i].vn);
		put(out, "\n", 1);
	}
}

static long work(long n)
{
	long long x = 1;
	for (long i = 0; i < n; i++)
		x = x * 48271 % 2147483647;
	return (long)x;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v ? v : "";
}

/* content_length parses CONTENT_LENGTH like Go's strconv.ParseInt: an optional sign, then
 * decimal digits; it returns -1 when the value is not a byte count. */
static long long content_length(const char *s)
{
	const char *p = s;
	int neg = 0;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (*p == '\0')
		return -1;
	long long v = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	return neg && v != 0 ? -1 : v;
}

/* serve answers one request; it returns 0, or 1 after reporting an error on stderr. */
static int serve(void)
{
	const char *method = env("REQUEST_METHOD");
	const char *query = env("QUERY_STRING");
	const char *ctype = env("CONTENT_TYPE");
	const char *cookie = env("HTTP_COOKIE");
	const char *cl = env("CONTENT_LENGTH");

	char *body = NULL;
	size_t bodyn = 0;
	if (*cl != '\0') {
		long long n = content_length(cl);
		if (n < 0) {
			report("CONTENT_LENGTH \"%.64s\" is not a byte count", cl);
			return 1;
		}
		if ((unsigned long long)n > SIZE_MAX / 2)
			die_oom();
		body = alloc((size_t)n + 1);
		/* Read exactly CONTENT_LENGTH bytes, never to EOF. */
		while (bodyn < (size_t)n) {
			size_t got = fread(body + bodyn, 1, (size_t)n - bodyn, stdin);
			if (got == 0)
				break;
			bodyn += got;
		}
		if (bodyn < (size_t)n) {
			report("body ended after %zu of %lld bytes", bodyn, n);
			return 1;
		}
	}

	struct pairs q = {0}, form = {0}, files = {0}, cookies = {0}, params = {0};
	parse_form(query, strlen(query), &q);
	size_t mn;
	char *media = media_type(ctype, strlen(ctype), &mn, &params);
	if (eq(media, mn, "application/x-www-form-urlencoded")) {
		parse_form(body, bodyn, &form);
	} else if (eq(media, mn, "multipart/form-data")) {
		const struct pair *bd = param(&params, "boundary");
		if (bd != NULL && bd->vn > 0)
			parse_multipart(body, bodyn, bd->v, bd->vn, &form, &files);
	}
	parse_cookies(cookie, strlen(cookie), &cookies);

	struct buf out = {0};
	char tmp[96];
	const struct pair *st = last(&q, "status");
	if (st != NULL && is_digits(st->v, st->vn, 3, 3)) {
		long code = digits_value(st->v, st->vn);
		if (code >= 200 && code <= 599 && code != 204 && code != 304) {
			snprintf(tmp, sizeof tmp, "Status: %ld Set By Query\n", code);
			puts_buf(&out, tmp);
		}
	}
	long visits = 0;
	const struct pair *vc = last(&cookies, "visits");
	if (vc != NULL && is_digits(vc->v, vc->vn, 1, 9))
		visits = digits_value(vc->v, vc->vn);
	snprintf(tmp, sizeof tmp,
	         "Content-Type: text/plain; charset=utf-8\nSet-Cookie: visits=%ld; Path=/\n\n",
	         visits + 1);
	puts_buf(&out, tmp);

	puts_buf(&out, "method=");
	escape(&out, method, strlen(method));
	put(&out, "\n", 1);
	write_section(&out, "query.", &q, 0);
	write_section(&out, "form.", &form, 0);
	write_section(&out, "file.", &files, 1);
	write_section(&out, "cookie.", &cookies, 0);
	const struct pair *w = last(&q, "work");
	if (w != NULL && is_digits(w->v, w->vn, 1, 9)) {
		long n = digits_value(w->v, w->vn);
		if (n <= MAX_WORK) {
			snprintf(tmp, sizeof tmp, "work=%ld;result=%ld\n", n, work(n));
			puts_buf(&out, tmp);
		}
	}
	if (fwrite(out.p, 1, out.n, stdout) != out.n) {
		report("writing the response failed");
		return 1;
	}
	fflush(stdout);
	return 0;
}

int main(void)
{
#ifdef CGIBENCH_FASTCGI
	while (FCGI_Accept() >= 0) {
		serve();
		arena_reset();
	}
	return 0;
#else
	int rc = serve();
	arena_reset();
	return rc;
#endif
}
