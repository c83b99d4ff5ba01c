package ledger_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/gridsync/gridsync/server/ledger"
)

func table() *ledger.Table {
	return &ledger.Table{Title: "隐患清单/2025[6]", Header: []string{"序号", "隐患描述", "状态"},
		Rows: [][]string{{"1", "出租房走道停放电动车", "已派单"}, {"2", "=HYPERLINK(\"http://x\")", "已销号"}}, Widths: []float64{6, 30, 10}}
}

func TestWriteRead(t *testing.T) {
	t.Run("XLSX", func(t *testing.T) {
		var b bytes.Buffer
		if err := ledger.Write(&b, ledger.XLSX, table()); err != nil {
			t.Fatal(err)
		}
		rows, err := ledger.Read(&b, "隐患清单.xlsx")
		if err != nil {
			t.Fatal(err)
		}
		want := append([][]string{table().Header}, table().Rows...)
		if !slices.EqualFunc(rows, want, slices.Equal) {
			t.Fatalf("got %q, want %q", rows, want)
		}
	})
	t.Run("CSVHasBOMAndDefusesFormulas", func(t *testing.T) {
		var b bytes.Buffer
		if err := ledger.Write(&b, ledger.CSV, table()); err != nil {
			t.Fatal(err)
		}
		s := b.String()
		if !strings.HasPrefix(s, "\ufeff序号,隐患描述,状态\r\n") {
			t.Fatalf("got %q, want a BOM and the header first", s[:min(len(s), 40)])
		}
		if !strings.Contains(s, `"'=HYPERLINK(""http://x"")"`) {
			t.Fatalf("formula cell not defused: %q", s)
		}
		rows, err := ledger.Read(strings.NewReader(s), "x.CSV")
		if err != nil {
			t.Fatal(err)
		}
		if rows[0][0] != "序号" || rows[1][1] != "出租房走道停放电动车" {
			t.Fatalf("got %q", rows)
		}
	})
}

func TestRead(t *testing.T) {
	t.Run("GB18030CSV", func(t *testing.T) {
		gbk, err := simplifiedchinese.GB18030.NewEncoder().String("场所名称,场所类别\r\n老周面馆,九小场所\r\n")
		if err != nil {
			t.Fatal(err)
		}
		rows, err := ledger.Read(strings.NewReader(gbk), "sites.csv")
		if err != nil {
			t.Fatal(err)
		}
		if rows[1][0] != "老周面馆" || rows[1][1] != "九小场所" {
			t.Fatalf("got %q", rows)
		}
	})
	t.Run("TrimsAndKeepsRowNumbers", func(t *testing.T) {
		rows, err := ledger.Read(strings.NewReader("a,b,\r\n\" x \",,\r\n,,\r\nc,d\r\n,,\r\n"), "t.csv")
		if err != nil {
			t.Fatal(err)
		}
		want := [][]string{{"a", "b"}, {"x"}, {}, {"c", "d"}}
		if !slices.EqualFunc(rows, want, slices.Equal) {
			t.Fatalf("got %q, want %q", rows, want)
		}
	})
	for _, tc := range []struct {
		name, file, body string
	}{
		{"ErrExtension", "sites.xls", "x"},
		{"ErrNotXLSX", "sites.xlsx", "not a zip"},
		{"ErrTooManyRows", "sites.csv", strings.Repeat("a\n", ledger.MaxRows+2)},
		{"ErrTooManyColumns", "sites.csv", strings.Repeat("a,", ledger.MaxColumns+1) + "a\n"},
		{"ErrQuote", "sites.csv", "\"a,b\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ledger.Read(strings.NewReader(tc.body), tc.file); !errors.Is(err, ledger.ErrFormat) {
				t.Fatalf("got %v, want ErrFormat", err)
			}
		})
	}
}
