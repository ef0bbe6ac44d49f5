// Package scripts is the catalog of cgibench's built-in reference apps: the same small program
// (the contract is scripts/README.md, the oracle the Go package scripts/go/refapp) written in C,
// Go, Python, Perl, POSIX sh, Lua, PHP and Ruby.
//
// In flow a built-in name ("c", "python", …) and a Mode (cgi, fastcgi, embedded); out comes a
// strategies.Program ready to exec, or an *UnavailableError saying which Debian package would
// make it available. The app sources are embedded in the binary, so cgibench works outside the
// repository: a Catalog extracts them into its cache folder, builds the compiled apps there
// once (named by a hash of source, flags and compiler, so an edit rebuilds them), and resolves
// each interpreter once to its real executable, skipping wrappers such as pyenv shims that would
// add their own start-up cost to every CGI request.
//
// Names lists the built-in programs of a mode, SupportsWorkload says which workloads each
// handles (sh serves GET only).
package scripts
