package loadgen

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/cgibench/cgibench/scripts/go/refapp"
)

// WorkloadNames lists the workloads NewWorkload builds.
var WorkloadNames = []string{"get", "urlencoded", "multipart"}

// Request is one variant of a workload.
type Request struct {
	// Name labels the variant, "workload/variant", e.g. "get/utf8".
	Name string
	// App is what the reference app sees: method, query string, content type, cookie and body.
	App refapp.Request
	// Expected is refapp.Handle(App): the status and body every implementation must give.
	Expected refapp.Response
}

// Workload is a deterministic set of requests, sent in turn.
type Workload struct {
	Name     string
	Requests []Request
}

// NewWorkload builds the named workload (one of WorkloadNames). When work > 0 every query string
// also carries work=N, which makes the app burn CPU (see scripts/README.md). The same arguments
// always give the same requests.
func NewWorkload(name string, work int) (*Workload, error) {
	if work < 0 || work > refapp.MaxWork {
		return nil, fmt.Errorf("loadgen: --work must be 0..%d, got %d", refapp.MaxWork, work)
	}
	var reqs []Request
	var err error
	switch name {
	case "get":
		reqs = getRequests()
	case "urlencoded":
		reqs = urlencodedRequests()
	case "multipart":
		reqs, err = multipartRequests()
	default:
		return nil, fmt.Errorf("loadgen: --workload %q is unknown (want one of %s)",
			name, strings.Join(WorkloadNames, ", "))
	}
	if err != nil {
		return nil, err
	}
	for i := range reqs {
		r := &reqs[i]
		if work > 0 {
			if r.App.QueryString != "" {
				r.App.QueryString += "&"
			}
			r.App.QueryString += "work=" + strconv.Itoa(work)
		}
		r.Expected = refapp.Handle(r.App)
	}
	return &Workload{Name: name, Requests: reqs}, nil
}

// Fixed seeds: the workloads are varied but the same on every run and machine.
const (
	seedForm      = 0x6367696265 // "cgibe"
	seedMultipart = 0x6e6368     // "nch"
)

// getRequests covers the query-string decoding rules: plain pairs, percent-encoded UTF-8, '+',
// repeated and empty keys, stray '%', and a long query; each with a visits cookie and another.
func getRequests() []Request {
	var many strings.Builder
	for i := range 40 {
		if i > 0 {
			many.WriteByte('&')
		}
		fmt.Fprintf(&many, "k%02d=v%d", (i*17)%40, i*i)
	}
	variants := []struct{ name, query, cookie string }{
		{"plain", "name=cgibench&lang=go&page=1&size=20", "visits=1; theme=dark"},
		{"utf8", "city=%E6%9D%B1%E4%BA%AC&word=gr%C3%BC%C3%9Fe&emoji=%F0%9F%9A%80&caf%C3%A9=cr%C3%A8me",
			"visits=41; lang=de"},
		{"plus", "q=load+generator&expr=1%2B1%3D2&spaces=a+b++c", "visits=999999999;session=0f3a9c"},
		{"repeated", "tag=go&tag=perl&x=1&tag=lua&tag=go", "visits=2; visits=7; id=u-17"},
		{"empty", "a=&=b&flag&&c=3&last=", "visits=; \ttrack=off ;;"},
		{"odd", "pct=100%&bad=%zz&low=%c3%a9&eq=a=b=c&%41=B", "visits=12x; x=y=z"},
		{"many", many.String(), "visits=3; theme=light"},
	}
	reqs := make([]Request, len(variants))
	for i, v := range variants {
		reqs[i] = Request{
			Name: "get/" + v.name,
			App:  refapp.Request{Method: "GET", QueryString: v.query, Cookie: v.cookie},
		}
	}
	return reqs
}

// urlencodedRequests are form POSTs of several sizes, from a few pairs to 16 KiB.
func urlencodedRequests() []Request {
	rng := rand.New(rand.NewPCG(seedForm, 1))
	sizes := []int{64, 512, 2 << 10, 8 << 10, 16 << 10}
	reqs := make([]Request, len(sizes))
	for i, size := range sizes {
		reqs[i] = Request{
			Name: "urlencoded/" + sizeName(size),
			App: refapp.Request{
				Method:      "POST",
				QueryString: "form=" + strconv.Itoa(i+1),
				ContentType: "application/x-www-form-urlencoded",
				Body:        formBody(rng, size),
			},
		}
	}
	return reqs
}

// formBody makes an urlencoded body of exactly size bytes: pairs f000=…&f001=… whose values mix
// letters, '+', %XX bytes and percent-encoded UTF-8.
func formBody(rng *rand.Rand, size int) []byte {
	b := make([]byte, 0, size)
	var pair []byte
	for i := 0; ; i++ {
		pair = pair[:0]
		if i > 0 {
			pair = append(pair, '&')
		}
		pair = fmt.Appendf(pair, "f%03d=", i)
		pair = appendFormValue(pair, rng, 4+rng.IntN(20))
		if len(b)+len(pair) > size {
			break
		}
		b = append(b, pair...)
	}
	for len(b) < size { // pad the last value
		b = append(b, 'x')
	}
	return b
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func appendFormValue(b []byte, rng *rand.Rand, n int) []byte {
	utf8 := []string{"%C3%A9", "%C3%BC", "%E2%82%AC", "%E6%97%A5"} // é ü € 日
	for end := len(b) + n; len(b) < end; {
		switch r := rng.IntN(10); {
		case r < 6:
			b = append(b, alnum[rng.IntN(len(alnum))])
		case r < 7:
			b = append(b, '+')
		case r < 9:
			b = fmt.Appendf(b, "%%%02X", rng.IntN(256))
		default:
			b = append(b, utf8[rng.IntN(len(utf8))]...)
		}
	}
	return b
}

// multipartRequests are browser-like uploads: two text fields and one binary file part of
// 1 KiB to 64 KiB.
func multipartRequests() ([]Request, error) {
	rng := rand.New(rand.NewPCG(seedMultipart, 2))
	sizes := []int{1 << 10, 4 << 10, 16 << 10, 64 << 10}
	reqs := make([]Request, len(sizes))
	for i, size := range sizes {
		boundary := make([]byte, 0, 38)
		boundary = append(boundary, "----WebKitFormBoundary"...)
		for range 16 {
			boundary = append(boundary, alnum[rng.IntN(len(alnum))])
		}
		content := make([]byte, size)
		for j := range content {
			content[j] = byte(rng.Uint32())
		}
		if bytes.Contains(content, boundary) {
			return nil, fmt.Errorf("loadgen: multipart workload: file content contains its boundary")
		}
		var b bytes.Buffer
		part := func(disposition, contentType, content string) {
			b.WriteString("--")
			b.Write(boundary)
			b.WriteString("\r\nContent-Disposition: form-data; " + disposition + "\r\n")
			if contentType != "" {
				b.WriteString("Content-Type: " + contentType + "\r\n")
			}
			b.WriteString("\r\n")
			b.WriteString(content)
			b.WriteString("\r\n")
		}
		part(`name="title"`, "", "Quarterly report \u2013 draft "+strconv.Itoa(i+1))
		part(`name="notes"`, "", "line one\r\nline two: \u00fcmlauts & symbols = 100%")
		part(`name="upload"; filename="sample-`+sizeName(size)+`.bin"`, "application/octet-stream",
			string(content))
		b.WriteString("--")
		b.Write(boundary)
		b.WriteString("--\r\n")
		reqs[i] = Request{
			Name: "multipart/" + sizeName(size),
			App: refapp.Request{
				Method:      "POST",
				QueryString: "upload=" + strconv.Itoa(i+1),
				ContentType: "multipart/form-data; boundary=" + string(boundary),
				Body:        b.Bytes(),
			},
		}
	}
	return reqs, nil
}

func sizeName(n int) string {
	if n >= 1<<10 && n%(1<<10) == 0 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
