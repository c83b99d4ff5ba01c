// Package ledger reads and writes the spreadsheets of the township's paper
// trail (台账): the six lists (六张清单) exported by the station dashboard
// and the site registers it imports. A table is a header row and rows of
// text; the formats are .xlsx (github.com/xuri/excelize/v2, the only
// importer of excelize) and CSV. It knows nothing of hazards or sites: the
// dashboard (server/web) decides the columns.
package ledger

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Limits of Read. A spreadsheet is a zip of XML: the unzip limits stop a
// small upload from expanding into gigabytes.
const (
	MaxRows          = 5000     // data rows after the header
	MaxColumns       = 50       // cells per row
	MaxCellRunes     = 4000     // one cell
	unzipSizeLimit   = 64 << 20 // all parts of an .xlsx, unzipped
	unzipXMLInMemory = 16 << 20
)

// ErrFormat is wrapped by every error about an unreadable or oversized
// file; the message is safe to show to the user.
var ErrFormat = errors.New("ledger: unreadable spreadsheet")

// Format is a spreadsheet file format.
type Format string

// The formats the dashboard offers.
const (
	XLSX Format = "xlsx"
	CSV  Format = "csv"
)

// ContentType returns the MIME type of f.
func (f Format) ContentType() string {
	if f == XLSX {
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	return "text/csv; charset=utf-8"
}

// Table is a sheet: a title (the sheet name), a header row and data rows.
type Table struct {
	Title  string
	Header []string
	Rows   [][]string
	// Widths are column widths in characters (optional, .xlsx only).
	Widths []float64
}

// Write encodes t in format f to w.
func Write(w io.Writer, f Format, t *Table) error {
	switch f {
	case XLSX:
		return writeXLSX(w, t)
	case CSV:
		return writeCSV(w, t)
	}
	return fmt.Errorf("ledger: unknown format %q", f)
}

// writeCSV writes UTF-8 with a byte order mark: without it Excel on a
// Chinese Windows reads the file as GBK and shows mojibake.
func writeCSV(w io.Writer, t *Table) error {
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true // what Excel writes and expects
	if err := cw.Write(t.Header); err != nil {
		return err
	}
	for _, r := range t.Rows {
		if err := cw.Write(escapeFormulas(r)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// escapeFormulas defuses CSV injection: a cell starting with = + - @ is a
// formula to Excel, and the cells hold text typed on phones in the field.
func escapeFormulas(r []string) []string {
	var out []string
	for i, c := range r {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			if out == nil {
				out = append([]string(nil), r...)
			}
			out[i] = "'" + c
		}
	}
	if out == nil {
		return r
	}
	return out
}

func sheetName(title string) string {
	if title == "" {
		return "Sheet1"
	}
	// Excel: at most 31 characters, none of : \ / ? * [ ].
	title = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`:\/?*[]`, r) {
			return '_'
		}
		return r
	}, title)
	if utf8.RuneCountInString(title) > 31 {
		title = string([]rune(title)[:31])
	}
	return title
}

func writeXLSX(w io.Writer, t *Table) error {
	x := excelize.NewFile()
	defer x.Close()
	sheet := sheetName(t.Title)
	if err := x.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	sw, err := x.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	for i, width := range t.Widths {
		if err := sw.SetColWidth(i+1, i+1, width); err != nil {
			return err
		}
	}
	bold, err := x.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDE6F0"}}})
	if err != nil {
		return err
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	row := func(n int, cells []string, style int) error {
		vals := make([]any, len(cells))
		for i, c := range cells {
			vals[i] = excelize.Cell{Value: c, StyleID: style}
		}
		cell, err := excelize.CoordinatesToCellName(1, n)
		if err != nil {
			return err
		}
		return sw.SetRow(cell, vals)
	}
	if err := row(1, t.Header, bold); err != nil {
		return err
	}
	for i, r := range t.Rows {
		if err := row(i+2, r, 0); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return x.Write(w)
}

// Read decodes the first sheet of an .xlsx file, or a CSV file (UTF-8 with
// or without BOM, or GB18030 as older Excel saves it), choosing by the file
// name's extension. It returns the rows as text, the header first, with
// trailing empty cells and empty rows removed.
func Read(r io.Reader, filename string) ([][]string, error) {
	var rows [][]string
	var err error
	switch strings.ToLower(filepath.Ext(filename)) {
	case ".xlsx":
		rows, err = readXLSX(r)
	case ".csv":
		rows, err = readCSV(r)
	default:
		return nil, fmt.Errorf("%w: 只支持 .xlsx 或 .csv 文件 (got %q)", ErrFormat, filepath.Ext(filename))
	}
	if err != nil {
		return nil, err
	}
	return tidy(rows)
}

func readXLSX(r io.Reader) ([][]string, error) {
	x, err := excelize.OpenReader(r, excelize.Options{UnzipSizeLimit: unzipSizeLimit, UnzipXMLSizeLimit: unzipXMLInMemory})
	if err != nil {
		return nil, fmt.Errorf("%w: 不是有效的 .xlsx 文件 (%v)", ErrFormat, err)
	}
	defer x.Close()
	sheets := x.GetSheetList()
	if len(sheets) == 0 {
		return nil, fmt.Errorf("%w: 文件中没有工作表", ErrFormat)
	}
	// GetRows keeps empty rows in the middle, so row numbers in the
	// validation report match what the user sees in Excel.
	rows, err := x.GetRows(sheets[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if len(rows) > MaxRows+1 {
		return nil, fmt.Errorf("%w: 超过 %d 行", ErrFormat, MaxRows)
	}
	return rows, nil
}

func readCSV(r io.Reader) ([][]string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimPrefix(b, []byte("\ufeff"))
	if !utf8.Valid(b) {
		if b, err = simplifiedchinese.GB18030.NewDecoder().Bytes(b); err != nil {
			return nil, fmt.Errorf("%w: 无法识别文件编码（请另存为 UTF-8 CSV）", ErrFormat)
		}
	}
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1
	var rows [][]string
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		if len(rows) > MaxRows {
			return nil, fmt.Errorf("%w: 超过 %d 行", ErrFormat, MaxRows)
		}
		rows = append(rows, rec)
	}
	return rows, nil
}

// tidy trims cells, drops trailing empty cells and trailing empty rows
// (empty rows in the middle stay, as empty slices, so that index i is the
// file's row i+1), and enforces the column and cell limits.
func tidy(rows [][]string) ([][]string, error) {
	out := rows[:0]
	for _, r := range rows {
		for i := range r {
			r[i] = strings.TrimSpace(r[i])
			if utf8.RuneCountInString(r[i]) > MaxCellRunes {
				return nil, fmt.Errorf("%w: 单元格超过 %d 字", ErrFormat, MaxCellRunes)
			}
		}
		for len(r) > 0 && r[len(r)-1] == "" {
			r = r[:len(r)-1]
		}
		if len(r) > MaxColumns {
			return nil, fmt.Errorf("%w: 超过 %d 列", ErrFormat, MaxColumns)
		}
		out = append(out, r)
	}
	for len(out) > 0 && len(out[len(out)-1]) == 0 {
		out = out[:len(out)-1]
	}
	return out, nil
}
