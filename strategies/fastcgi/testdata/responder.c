/*
 * responder.c: a small libfcgi responder for the tests of package fastcgi. It accepts on the
 * listening socket on fd 0, like every worker of a FastCGI process manager, and answers by
 * QUERY_STRING:
 *
 *   (anything else)  the request as the test sees it: pid, method, query, path info, script
 *                    filename, the count and checksum of the body
 *   stderr           the same, after two lines on FCGI_STDERR (the second in two writes)
 *   hang=PATH        writes its pid to PATH, then sleeps 60 s without answering
 *   sleep=MS         the request as the test sees it, after MS milliseconds
 *   stream           a header, "pid=N" and 16 KiB, flushed, then sleeps 60 s
 *   big=N            N bytes of a known pattern
 *   redirect         a local redirect to /app/target (whose answer is "target")
 *   exit             exits without answering
 *
 * With RESPONDER_MAX_REQUESTS=N in its environment it exits with status 0 after N requests,
 * as php-cgi does after PHP_FCGI_MAX_REQUESTS: a worker that recycles itself.
 *
 * Built by the tests with: cc -O2 -o responder responder.c -lfcgi
 */
#include <stdio.h>
#include <fcgiapp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *param(FCGX_Request *r, const char *name)
{
	const char *v = FCGX_GetParam(name, r->envp);
	return v ? v : "";
}

int main(void)
{
	FCGX_Request r;
	if (FCGX_Init() != 0 || FCGX_InitRequest(&r, 0, 0) != 0)
		return 1;
	const char *max = getenv("RESPONDER_MAX_REQUESTS");
	long limit = max ? atol(max) : 0;
	for (long served = 0; (limit <= 0 || served < limit) && FCGX_Accept_r(&r) >= 0; served++) {
		const char *q = param(&r, "QUERY_STRING");
		if (strcmp(param(&r, "PATH_INFO"), "/target") == 0) {
			FCGX_FPrintF(r.out, "Content-Type: text/plain\r\n\r\ntarget method=%s\n", param(&r, "REQUEST_METHOD"));
			continue;
		}
		if (strcmp(q, "exit") == 0)
			exit(3);
		if (strcmp(q, "redirect") == 0) {
			FCGX_FPrintF(r.out, "Location: /app/target\r\n\r\n");
			continue;
		}
		if (strncmp(q, "hang=", 5) == 0) {
			FILE *f = fopen(q + 5, "w");
			if (f) {
				fprintf(f, "%d", (int)getpid());
				fclose(f);
			}
			sleep(60);
			continue;
		}
		if (strcmp(q, "stream") == 0) {
			/* More than the HTTP server buffers, so that the client sees the start. */
			FCGX_FPrintF(r.out, "Content-Type: text/plain\r\n\r\npid=%d\n", (int)getpid());
			char line[1024];
			memset(line, '.', sizeof line - 1);
			line[sizeof line - 1] = '\n';
			for (int i = 0; i < 16; i++)
				FCGX_PutStr(line, sizeof line, r.out);
			FCGX_FFlush(r.out);
			sleep(60);
			continue;
		}
		if (strncmp(q, "big=", 4) == 0) {
			long n = atol(q + 4);
			char chunk[4096];
			for (int i = 0; i < (int)sizeof chunk; i++)
				chunk[i] = 'a' + i % 26;
			FCGX_FPrintF(r.out, "Content-Type: application/octet-stream\r\n\r\n");
			for (long off = 0; off < n; off += sizeof chunk) {
				long k = n - off < (long)sizeof chunk ? n - off : (long)sizeof chunk;
				FCGX_PutStr(chunk, (int)k, r.out);
			}
			continue;
		}
		if (strncmp(q, "sleep=", 6) == 0)
			usleep(atol(q + 6) * 1000);
		if (strcmp(q, "stderr") == 0) {
			FCGX_FPrintF(r.err, "first problem\nsecond ");
			FCGX_FFlush(r.err);
			FCGX_FPrintF(r.err, "problem\n");
		}
		long length = atol(param(&r, "CONTENT_LENGTH")), got = 0;
		unsigned long sum = 0;
		char buf[8192];
		while (got < length) {
			int n = FCGX_GetStr(buf, sizeof buf, r.in);
			if (n <= 0)
				break;
			for (int i = 0; i < n; i++)
				sum = (sum * 31 + (unsigned char)buf[i]) & 0xffffffffUL;
			got += n;
		}
		FCGX_FPrintF(r.out, "Content-Type: text/plain\r\nX-Responder: libfcgi\r\n\r\n");
		FCGX_FPrintF(r.out, "pid=%d\nmethod=%s\nquery=%s\npath_info=%s\nscript_filename=%s\nredirect_status=%s\nbody=%ld:%08lx\n",
			(int)getpid(), param(&r, "REQUEST_METHOD"), q, param(&r, "PATH_INFO"),
			param(&r, "SCRIPT_FILENAME"), param(&r, "REDIRECT_STATUS"), got, sum);
	}
	/* Ends the last request (FCGI_END_REQUEST); the connection closes as the process exits. */
	FCGX_Finish_r(&r);
	return 0;
}
