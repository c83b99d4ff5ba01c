package ledger_test

import (
	"bytes"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/gridsync/gridsync/server/ledger"
)

// FuzzRead feeds arbitrary bytes to Read as an uploaded .xlsx or .csv: a
// file from a station's computer is untrusted input. Read must not panic,
// must refuse with ErrFormat (a message fit for the user), and whatever it
// returns must keep its documented limits and shape: at most MaxRows data
// rows and MaxColumns cells, cells of at most MaxCellRunes, trimmed, no
// trailing empty cell or row.
func FuzzRead(f *testing.F) {
	// Seeds beyond testdata/fuzz/FuzzRead: a real spreadsheet and a real
	// CSV as Write makes them.
	for _, format := range []ledger.Format{ledger.XLSX, ledger.CSV} {
		var b bytes.Buffer
		if err := ledger.Write(&b, format, table()); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes(), format == ledger.XLSX)
	}
	f.Fuzz(func(t *testing.T, data []byte, xlsx bool) {
		name := "upload.csv"
		if xlsx {
			name = "upload.xlsx"
		}
		rows, err := ledger.Read(bytes.NewReader(data), name)
		if err != nil {
			if !errors.Is(err, ledger.ErrFormat) {
				t.Fatalf("error is not ErrFormat: %v", err)
			}
			if rows != nil {
				t.Fatalf("rows with an error: %d", len(rows))
			}
			return
		}
		if len(rows) > ledger.MaxRows+1 {
			t.Fatalf("%d rows, limit %d+1", len(rows), ledger.MaxRows)
		}
		if len(rows) > 0 && len(rows[len(rows)-1]) == 0 {
			t.Fatal("a trailing empty row")
		}
		for i, r := range rows {
			if len(r) > ledger.MaxColumns {
				t.Fatalf("row %d has %d cells, limit %d", i, len(r), ledger.MaxColumns)
			}
			if len(r) > 0 && r[len(r)-1] == "" {
				t.Fatalf("row %d ends with an empty cell", i)
			}
			for _, c := range r {
				if utf8.RuneCountInString(c) > ledger.MaxCellRunes {
					t.Fatalf("row %d: a cell of %d runes", i, utf8.RuneCountInString(c))
				}
				if !xlsx && !utf8.ValidString(c) {
					t.Fatalf("row %d: a CSV cell that is not UTF-8: %q", i, c)
				}
				if len(c) > 0 && (c[0] == ' ' || c[len(c)-1] == ' ') {
					t.Fatalf("row %d: an untrimmed cell %q", i, c)
				}
			}
		}
	})
}
