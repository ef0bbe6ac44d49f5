package loadgen

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/cgibench/cgibench/scripts/go/refapp"
)

func TestNewWorkload(t *testing.T) {
	for _, name := range WorkloadNames {
		t.Run(name, func(t *testing.T) {
			w, err := NewWorkload(name, 0)
			if err != nil {
				t.Fatal(err)
			}
			again, err := NewWorkload(name, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(w, again) {
				t.Errorf("got two different workloads from the same arguments; want deterministic ones")
			}
			if w.Name != name || len(w.Requests) < 4 {
				t.Fatalf("got workload %q with %d requests; want %q with several", w.Name, len(w.Requests), name)
			}
			seen := map[string]bool{}
			for _, r := range w.Requests {
				if !strings.HasPrefix(r.Name, name+"/") || seen[r.Name] {
					t.Errorf("got request name %q; want a unique %q/… name", r.Name, name)
				}
				seen[r.Name] = true
				if got, want := r.Expected, refapp.Handle(r.App); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: got Expected %q; want refapp.Handle(App) %q", r.Name, got.Body, want.Body)
				}
				if got := r.Expected.StatusCode(); got != 200 {
					t.Errorf("%s: got expected status %d; want 200", r.Name, got)
				}
				if strings.Contains(r.App.QueryString, "status=") {
					t.Errorf("%s: got query %q; want no status=", r.Name, r.App.QueryString)
				}
			}
		})
	}
}

func TestWorkloadContents(t *testing.T) {
	get, _ := NewWorkload("get", 0)
	for _, r := range get.Requests {
		if r.App.Method != "GET" || len(r.App.Body) != 0 || !strings.Contains(r.App.Cookie, "visits=") {
			t.Errorf("%s: got %s with %d body bytes and cookie %q; want a GET with a visits cookie",
				r.Name, r.App.Method, len(r.App.Body), r.App.Cookie)
		}
		if !bytes.Contains(r.Expected.Body, []byte("\ncookie.")) {
			t.Errorf("%s: got body %q; want cookie lines", r.Name, r.Expected.Body)
		}
	}

	form, _ := NewWorkload("urlencoded", 0)
	wantSizes := []int{64, 512, 2048, 8192, 16384}
	for i, r := range form.Requests {
		if got := len(r.App.Body); got != wantSizes[i] {
			t.Errorf("%s: got a body of %d bytes; want %d", r.Name, got, wantSizes[i])
		}
		if !bytes.Contains(r.Expected.Body, []byte("\nform.f000=")) {
			t.Errorf("%s: got body %q; want form lines", r.Name, r.Expected.Body)
		}
	}

	mp, _ := NewWorkload("multipart", 0)
	for i, r := range mp.Requests {
		size := 1 << (10 + 2*i)
		want := "\nfile.upload=sample-" + sizeName(size) + ".bin;size=" + strconv.Itoa(size) + ";adler32="
		if !bytes.Contains(r.Expected.Body, []byte(want)) {
			t.Errorf("%s: got body %q; want a line %q…", r.Name, r.Expected.Body, want)
		}
		if !bytes.Contains(r.Expected.Body, []byte("\nform.notes=")) || !bytes.Contains(r.Expected.Body, []byte("\nform.title=")) {
			t.Errorf("%s: got body %q; want the text fields", r.Name, r.Expected.Body)
		}
		if !strings.HasPrefix(r.App.ContentType, "multipart/form-data; boundary=----WebKitFormBoundary") {
			t.Errorf("%s: got content type %q; want a browser-like boundary", r.Name, r.App.ContentType)
		}
	}
}

func TestNewWorkloadWork(t *testing.T) {
	for _, name := range WorkloadNames {
		w, err := NewWorkload(name, 1000)
		if err != nil {
			t.Fatal(err)
		}
		want := "\nwork=1000;result=" + strconv.FormatInt(refapp.Work(1000), 10) + "\n"
		for _, r := range w.Requests {
			if !strings.HasSuffix(r.App.QueryString, "work=1000") || !bytes.HasSuffix(r.Expected.Body, []byte(want)) {
				t.Errorf("%s: got query %q, body ending %q; want work=1000 and its result",
					r.Name, r.App.QueryString, r.Expected.Body[max(0, len(r.Expected.Body)-40):])
			}
		}
	}
}

func TestNewWorkloadErrors(t *testing.T) {
	tests := []struct {
		name string
		work int
		want string
	}{
		{"post", 0, `--workload "post" is unknown`},
		{"get", -1, "--work must be"},
		{"get", refapp.MaxWork + 1, "--work must be"},
	}
	for _, tt := range tests {
		_, err := NewWorkload(tt.name, tt.work)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewWorkload(%q, %d): got %v; want an error with %q", tt.name, tt.work, err, tt.want)
		}
	}
}

func TestAppendRequest(t *testing.T) {
	tg := &target{addr: "127.0.0.1:8080", host: "127.0.0.1:8080", path: "/cgi-bin/app"}
	tests := []struct {
		name string
		req  refapp.Request
		want string
	}{
		{"get", refapp.Request{Method: "GET", QueryString: "a=1&b=%C3%A9", Cookie: "visits=1; x=y"},
			"GET /cgi-bin/app?a=1&b=%C3%A9 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: cgibench\r\nCookie: visits=1; x=y\r\n\r\n"},
		{"get without query", refapp.Request{Method: "GET"},
			"GET /cgi-bin/app HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: cgibench\r\n\r\n"},
		{"post", refapp.Request{Method: "POST", ContentType: "application/x-www-form-urlencoded", Body: []byte("a=1")},
			"POST /cgi-bin/app HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: cgibench\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=1"},
		{"empty post", refapp.Request{Method: "POST"},
			"POST /cgi-bin/app HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: cgibench\r\nContent-Length: 0\r\n\r\n"},
	}
	for _, tt := range tests {
		got, err := appendRequest(nil, tg, &tt.req)
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	for _, bad := range []refapp.Request{
		{Method: ""},
		{Method: "GE T"},
		{Method: "GET", QueryString: "a=b c"},
		{Method: "GET", QueryString: "a=é"},
		{Method: "GET", QueryString: "a#b"},
		{Method: "GET", Cookie: "a=b\r\nX-Injected: 1"},
		{Method: "POST", ContentType: "text/plain\n"},
	} {
		if got, err := appendRequest(nil, tg, &bad); err == nil {
			t.Errorf("%+v: got %q; want an error", bad, got)
		}
	}
}
