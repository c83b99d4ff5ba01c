package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/ledger"
	"github.com/gridsync/gridsync/syncproto"
)

// FuzzImportSites feeds arbitrary bytes, as an uploaded CSV, through the
// import's parsing (ledger.Read, then parseSites). Whatever the file, it
// must not panic, must report rows in file order, and every row it calls
// valid must become an op the schema accepts from station staff: the
// import pushes valid rows without looking again.
func FuzzImportSites(f *testing.F) {
	for _, seed := range []string{
		"场所名称,场所类别,网格\r\n老周面馆,九小场所,G01\r\n",
		"\ufeff场所编号,场所名称*,场所类别*,网格*,地址,风险等级,负责人,联系电话,纬度,经度\r\n" +
			"s-1,徐永福户,家庭户,下洋村第一网格,下洋村2组15号,一般风险,徐永福,13262164994,27.96,120.58\r\n" +
			"s-1,重复编号,家庭户,G01,,,,,,\r\n" +
			"taken,已存在,家庭户,G01,,,,,NaN,1\r\n" +
			",无名仓库,仓库,G99,,特大,,,,\r\n",
		"name,kind,grid,lat,lng\nA,household,G02,91,0\nB,household,同名网格,,5\n",
		"场所名称,场所类别,网格,场所名称\n",
		"\"unterminated,quote\n",
	} {
		f.Add([]byte(seed))
	}
	grids := []*server.Area{
		{ID: "G01", Level: server.LevelGrid, Name: "下洋村第一网格", Path: "/c/t/v/G01/"},
		{ID: "G02", Level: server.LevelGrid, Name: "同名网格", Path: "/c/t/v/G02/"},
		{ID: "G03", Level: server.LevelGrid, Name: "同名网格", Path: "/c/t/v/G03/"},
	}
	exists := func(id string) (bool, error) { return id == "taken", nil }
	schema := syncproto.DefaultSchema()
	sites, _ := schema.Collection("sites")
	f.Fuzz(func(t *testing.T, data []byte) {
		table, err := ledger.Read(bytes.NewReader(data), "sites.csv")
		if err != nil {
			if !errors.Is(err, ledger.ErrFormat) {
				t.Fatalf("Read: an error that is not ErrFormat: %v", err)
			}
			return
		}
		rows, problem, err := parseSites(table, grids, exists)
		if err != nil {
			t.Fatalf("parseSites: %v", err)
		}
		if problem != "" {
			if rows != nil {
				t.Fatalf("a file-level problem %q with %d rows", problem, len(rows))
			}
			return
		}
		if len(rows) == 0 {
			t.Fatal("no rows and no problem")
		}
		ids := map[string]bool{}
		for i, row := range rows {
			if row.Line < 2 || i > 0 && row.Line <= rows[i-1].Line {
				t.Fatalf("row %d has line %d after %d", i, row.Line, rows[max(i-1, 0)].Line)
			}
			for _, e := range row.Errors {
				if !utf8.ValidString(e) || e == "" {
					t.Fatalf("line %d: error text %q", row.Line, e)
				}
			}
			if len(row.Errors) > 0 {
				continue
			}
			if row.ID != "" {
				if ids[row.ID] || row.ID == "taken" {
					t.Fatalf("line %d: id %q valid twice or taken", row.Line, row.ID)
				}
				ids[row.ID] = true
			}
			if row.Grid == nil || !slices.Contains(grids, row.Grid) || !slices.Contains(syncproto.SiteKinds(), row.Kind) {
				t.Fatalf("line %d: valid without a known grid and kind: %+v", row.Line, row)
			}
			id := row.ID
			if id == "" {
				id = "fuzz-generated-id"
			}
			d := draft{Collection: "sites", Doc: id, Set: row.Set}
			op, err := d.build()
			if err != nil {
				t.Fatalf("line %d: a valid row does not encode: %v", row.Line, err)
			}
			op.Device, op.Seq, op.HLC = "web-fuzz", 1, syncproto.HLC{Wall: 1}
			if err := schema.ValidateOp(&op); err != nil {
				t.Fatalf("line %d: the schema refuses a valid row: %v\n%s", row.Line, err, mustJSON(op))
			}
			if err := sites.Authorize(syncproto.RoleStationStaff, &op, nil); err != nil {
				t.Fatalf("line %d: station staff may not create a valid row: %v", row.Line, err)
			}
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
