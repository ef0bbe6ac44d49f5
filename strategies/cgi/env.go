package cgi

import (
	"net"
	"net/http"
	"strconv"
	"strings"
)

// EnvOptions says how MetaVariables fills the variables that do not come from the request.
type EnvOptions struct {
	// ScriptName is SCRIPT_NAME, the path the program is mounted at; the rest of the request
	// path becomes PATH_INFO.
	ScriptName string
	// ServerSoftware is SERVER_SOFTWARE; default "cgibench".
	ServerSoftware string
	// PassAuthorization passes the Authorization header as HTTP_AUTHORIZATION. Off by default:
	// RFC 3875 §4.1.18 lets a server withhold credentials from the program.
	PassAuthorization bool
	// BodyLength is the length of a chunked request body the host has buffered; 0 means use
	// r.ContentLength.
	BodyLength int64
}

// MetaVariables returns the RFC 3875 meta-variables for r as NAME=value strings.
//
// QUERY_STRING is always present; CONTENT_LENGTH only when there is a body. Every request
// header becomes HTTP_NAME with repeated headers merged (", ", or "; " for Cookie), except
// Content-Type and Content-Length (which have their own variables), Proxy (so that no
// HTTP_PROXY reaches the program: the "httpoxy" attack) and, unless asked, Authorization.
func MetaVariables(r *http.Request, o EnvOptions) []string {
	env := make([]string, 0, 16+len(r.Header))
	add := func(name, value string) { env = append(env, name+"="+value) }

	software := o.ServerSoftware
	if software == "" {
		software = "cgibench"
	}
	add("GATEWAY_INTERFACE", "CGI/1.1")
	add("SERVER_SOFTWARE", software)
	add("SERVER_PROTOCOL", r.Proto)
	add("REQUEST_METHOD", r.Method)
	add("SCRIPT_NAME", o.ScriptName)
	if pathInfo := pathInfo(r.URL.Path, o.ScriptName); pathInfo != "" {
		add("PATH_INFO", pathInfo)
	}
	add("QUERY_STRING", r.URL.RawQuery)
	add("REQUEST_URI", r.RequestURI)

	name, port := serverNamePort(r)
	add("SERVER_NAME", name)
	add("SERVER_PORT", port)
	if host, rport, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		add("REMOTE_ADDR", host)
		add("REMOTE_PORT", rport)
	} else {
		add("REMOTE_ADDR", r.RemoteAddr)
	}

	length := r.ContentLength
	if o.BodyLength > 0 {
		length = o.BodyLength
	}
	if length > 0 {
		add("CONTENT_LENGTH", strconv.FormatInt(length, 10))
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		add("CONTENT_TYPE", ct)
	}
	if r.Host != "" {
		add("HTTP_HOST", r.Host)
	}
	for k, vs := range r.Header {
		switch k {
		case "Content-Type", "Content-Length", "Proxy", "Host":
			continue
		case "Authorization":
			if !o.PassAuthorization {
				continue
			}
		}
		sep := ", "
		if k == "Cookie" {
			sep = "; "
		}
		add("HTTP_"+headerVarName(k), strings.Join(vs, sep))
	}
	return env
}

// pathInfo is the part of path after the script name, at a segment boundary; a path outside
// the script name is all path info.
func pathInfo(path, scriptName string) string {
	switch {
	case path == scriptName:
		return ""
	case strings.HasPrefix(path, scriptName+"/"):
		return path[len(scriptName):]
	default:
		return path
	}
}

// headerVarName upper-cases a header name and turns '-' into '_'.
func headerVarName(k string) string {
	b := make([]byte, len(k))
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case c == '-':
			c = '_'
		}
		b[i] = c
	}
	return string(b)
}

// serverNamePort takes SERVER_NAME from the Host header and SERVER_PORT from the address the
// request arrived on (the Host header may omit the port).
func serverNamePort(r *http.Request) (name, port string) {
	name = r.Host
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		name = h
	}
	name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if h, p, err := net.SplitHostPort(la.String()); err == nil {
			if name == "" {
				name = h
			}
			return name, p
		}
	}
	if _, p, err := net.SplitHostPort(r.Host); err == nil {
		return name, p
	}
	return name, "80"
}
