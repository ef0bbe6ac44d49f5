package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/cgibench/cgibench/bench"
)

// ErrSchemaVersion is returned (wrapped) by ReadJSON for a results file whose schema version this
// build cannot read: newer than bench.SchemaVersion, or missing.
var ErrSchemaVersion = errors.New("unsupported results schema version")

var errNilResults = errors.New("reports: no results (nil *bench.Results)")

// ReadJSON reads results.json. It checks the schema version before anything else, so a file
// from a newer cgibench is refused with an error that says which version it is and what to do,
// rather than misread. Fields it does not know are ignored (adding a field does not change the
// schema version). A syntax error names its line and column.
func ReadJSON(r io.Reader) (*bench.Results, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reports: reading results: %w", err)
	}
	var head struct {
		Schema *int `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, jsonError(data, err)
	}
	switch {
	case head.Schema == nil:
		return nil, fmt.Errorf("reports: results have no \"schema\" field: not a cgibench results.json: %w", ErrSchemaVersion)
	case *head.Schema > bench.SchemaVersion:
		return nil, fmt.Errorf("reports: results use schema version %d, newer than version %d this cgibench reads: "+
			"read them with the cgibench that wrote them, or upgrade (go install github.com/cgibench/cgibench/cmd/cgibench@latest): %w",
			*head.Schema, bench.SchemaVersion, ErrSchemaVersion)
	case *head.Schema < 1:
		return nil, fmt.Errorf("reports: results have invalid schema version %d: %w", *head.Schema, ErrSchemaVersion)
	}
	var res bench.Results
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, jsonError(data, err)
	}
	return &res, nil
}

// jsonError adds the line and column of a syntax or type error to it.
func jsonError(data []byte, err error) error {
	var off int64 = -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		off = typ.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return fmt.Errorf("reports: reading results: %w", err)
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return fmt.Errorf("reports: reading results: line %d, column %d: %w", line, col, err)
}

// WriteJSON writes r as indented JSON (two spaces), the layout of results.json, ending in a
// newline.
func WriteJSON(w io.Writer, r *bench.Results) error {
	if r == nil {
		return errNilResults
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("reports: writing results: %w", err)
	}
	return nil
}
