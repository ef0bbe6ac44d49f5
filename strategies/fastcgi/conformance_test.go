package fastcgi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cgibench/cgibench/scripts"
	"github.com/cgibench/cgibench/scripts/go/refapp"
	"github.com/cgibench/cgibench/strategies"
)

// conformanceRequest is one HTTP request every built-in FastCGI app must answer as refapp does.
type conformanceRequest struct {
	name        string
	method      string
	query       string
	contentType string
	cookie      string
	body        []byte
}

func conformanceRequests() []conformanceRequest {
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	w.WriteField("title", "a field, with spaces & symbols")
	fw, _ := w.CreateFormFile("upload", "data file.bin")
	blob := make([]byte, 200000)
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	fw.Write(blob)
	w.WriteField("title", "second value")
	w.Close()

	handMade := strings.Join([]string{
		"preamble",
		"--XyZ",
		`Content-Disposition: form-data; name="empty"; filename=""`,
		"",
		"",
		"--XyZ",
		"content-disposition: form-data; name=note",
		"",
		"line one\r\nline two",
		"--XyZ--",
		"",
	}, "\r\n")

	return []conformanceRequest{
		{name: "get", method: "GET", query: "a=1&b=two+words&c=%41%zz&a=3&&flag"},
		{name: "get no query", method: "GET"},
		{name: "status", method: "GET", query: "status=418&x=1"},
		{name: "cookies", method: "GET", query: "q=1", cookie: "visits=41; other=x%20y; visits=9"},
		{name: "work", method: "GET", query: "work=1000"},
		{name: "urlencoded", method: "POST", query: "from=query", contentType: "application/x-www-form-urlencoded",
			body: []byte("name=J%C3%BCrgen&empty=&plus=a+b&name=second")},
		{name: "urlencoded charset", method: "POST", contentType: "Application/X-WWW-Form-Urlencoded; charset=utf-8",
			body: []byte("k=v")},
		{name: "multipart", method: "POST", query: "m=1", contentType: w.FormDataContentType(), cookie: "visits=2", body: mp.Bytes()},
		{name: "multipart quoted boundary", method: "POST", contentType: `multipart/form-data; BOUNDARY="XyZ"`, body: []byte(handMade)},
		{name: "other body", method: "PUT", contentType: "text/plain", body: []byte("ignored")},
	}
}

// TestConformance runs every built-in FastCGI app of the catalog under the strategy and
// compares status, Content-Type, Set-Cookie and body with refapp.Handle. An app that cannot be
// had here is skipped, unless CGIBENCH_REQUIRE_ALL=1.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every reference app")
	}
	requireAll := os.Getenv("CGIBENCH_REQUIRE_ALL") == "1"
	cat := &scripts.Catalog{}
	reqs := conformanceRequests()
	for _, name := range scripts.Names(scripts.FastCGI) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			prog, err := cat.Resolve(ctx, name, scripts.FastCGI)
			var unavailable *scripts.UnavailableError
			if errors.As(err, &unavailable) && !requireAll {
				t.Skipf("%v (set CGIBENCH_REQUIRE_ALL=1 to fail instead)", unavailable)
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, front := range frontEnds {
				b, _ := startFront(t, front, strategies.Config{Program: prog, Workers: 2})
				conform(t, front, b.URL(), reqs)
				b.Close()
			}
		})
	}
}

// conform sends reqs to the app at base and compares the answers with refapp.Handle.
func conform(t *testing.T, front, base string, reqs []conformanceRequest) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	for _, rq := range reqs {
		url := base
		if rq.query != "" {
			url += "?" + rq.query
		}
		req, err := http.NewRequest(rq.method, url, bytes.NewReader(rq.body))
		if err != nil {
			t.Fatal(err)
		}
		if rq.contentType != "" {
			req.Header.Set("Content-Type", rq.contentType)
		}
		if rq.cookie != "" {
			req.Header.Set("Cookie", rq.cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", front, rq.name, err)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Errorf("%s %s: reading body: %v", front, rq.name, err)
			continue
		}
		want := refapp.Handle(refapp.Request{Method: rq.method, QueryString: rq.query,
			ContentType: rq.contentType, Cookie: rq.cookie, Body: rq.body})
		if resp.StatusCode != want.StatusCode() {
			t.Errorf("%s %s: status %d, want %d", front, rq.name, resp.StatusCode, want.StatusCode())
		}
		for _, f := range want.Header {
			if f.Name == "Status" {
				continue
			}
			if got := resp.Header.Values(f.Name); len(got) != 1 || got[0] != f.Value {
				t.Errorf("%s %s: %s %q, want %q", front, rq.name, f.Name, got, f.Value)
			}
		}
		if !bytes.Equal(body, want.Body) {
			t.Errorf("%s %s: body\n%s\nwant\n%s", front, rq.name, clipBody(body), clipBody(want.Body))
		}
	}
}

func clipBody(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}
