package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/gridsync/gridsync/fixtures"
	gridsync "github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/app"
	"github.com/gridsync/gridsync/syncproto"
)

// The typical-sync scenario needs a county of a real county's shape: one
// grid worker per grid, a thousand grids, so that each phone pulls its own
// grid's changes (the demo county has only 12 grids: a thousand phones
// there would each pull what 80 others pushed).

// benchCountyID is the synthetic county's code (not the demo county's).
const benchCountyID = "339900"

// benchCounty builds a county with grids grids (10 townships of 10
// villages, the grids spread over the villages), one grid worker per grid
// (bench-w-0001…, password demo-password), a county admin (bench-county),
// two sites per grid, and the demo county's checklists and policy.
func benchCounty(grids int) (*gridsync.Dataset, error) {
	demo, err := fixtures.DemoCounty()
	if err != nil {
		return nil, err
	}
	household, err := benchChecklist(demo)
	if err != nil {
		return nil, err
	}
	d := &gridsync.Dataset{Format: demo.Format, Checklists: append(demo.Checklists, household), Policy: demo.Policy}
	d.Areas = append(d.Areas, gridsync.Area{ID: benchCountyID, Name: "压测县", Level: gridsync.LevelCounty})
	d.Users = append(d.Users, gridsync.DatasetUser{Username: "bench-county", Name: "压测县管理员", Role: gridsync.RoleCountyAdmin,
		Area: benchCountyID, Password: "demo-password"})
	const townships, perTownship = 10, 10
	var villages []gridsync.Area
	for t := range townships {
		tid := fmt.Sprintf("%s%03d", benchCountyID, 101+t)
		d.Areas = append(d.Areas, gridsync.Area{ID: tid, Name: fmt.Sprintf("压测%d镇", t+1), Level: gridsync.LevelTownship, Parent: benchCountyID})
		for v := range perTownship {
			village := gridsync.Area{ID: fmt.Sprintf("%s%03d", tid, 201+v), Name: fmt.Sprintf("压测%d镇%d村", t+1, v+1), Level: gridsync.LevelVillage, Parent: tid}
			d.Areas = append(d.Areas, village)
			villages = append(villages, village)
		}
	}
	for g := range grids {
		village, n := villages[g%len(villages)], 1+g/len(villages)
		gid := fmt.Sprintf("%sG%02d", village.ID, n)
		d.Areas = append(d.Areas, gridsync.Area{ID: gid, Name: fmt.Sprintf("%s第%d网格", village.Name, n), Level: gridsync.LevelGrid, Parent: village.ID})
		d.Users = append(d.Users, gridsync.DatasetUser{Username: benchWorker(g), Name: fmt.Sprintf("网格员%04d", g+1), Role: gridsync.RoleGridWorker,
			Area: gid, Password: "demo-password"})
		for s := range 2 {
			site, err := json.Marshal(map[string]any{"id": benchSite(g, s), "grid": gid, "kind": "household",
				"name": fmt.Sprintf("压测户%04d-%d", g+1, s+1), "address": fmt.Sprintf("%s%d号", village.Name, s+1), "risk_level": "general"})
			if err != nil {
				return nil, err
			}
			d.Sites = append(d.Sites, site)
		}
	}
	return d, nil
}

// benchSite is the id of site s of the synthetic county's grid g.
func benchSite(g, s int) string { return fmt.Sprintf("0192f999-%04d-7000-8000-%012d", g, s) }

// benchWorker is the grid worker of the synthetic county's grid g.
func benchWorker(g int) string { return fmt.Sprintf("bench-w-%04d", g+1) }

// benchChecklist is version 2 of the household checklist for the bench
// county: the demo's ten items and ten more, twenty in all, the size of the
// inspection whose bytes on the wire the benchmark reports.
func benchChecklist(demo *gridsync.Dataset) (syncproto.Checklist, error) {
	more := []string{
		"住宅内未存放汽油、酒精等易燃易爆危险品",
		"燃气灶具使用时有人看管，用后关闭阀门",
		"家庭成员会使用灭火器，知道灭火器存放位置",
		"大功率电器未同时在一个插座上使用",
		"阳台、屋顶未搭建可燃物棚架",
		"蚊香、香烛等明火远离可燃物，有人看管",
		"取暖器、电热毯不长时间通电无人看管",
		"疏散楼梯、户门通道未堆放杂物，能顺利逃生",
		"老人、儿童独处时用火用电安全措施落实",
		"夜间睡前检查关闭燃气阀门和电器电源",
	}
	for _, cl := range demo.Checklists {
		if cl.Kind != "household" {
			continue
		}
		cl.Version, cl.Title = cl.Version+1, cl.Title+"（压测县版）"
		cl.Items = slices.Clone(cl.Items)
		for _, text := range more {
			cl.Items = append(cl.Items, syncproto.ChecklistItem{Code: fmt.Sprintf("HH-%02d", len(cl.Items)+1), Text: text, Severity: "general"})
		}
		return cl, nil
	}
	return syncproto.Checklist{}, fmt.Errorf("the demo county has no household checklist")
}

// countyData is what the benchmark needs to know of a synthetic county.
type countyData struct {
	grids     []string
	household syncproto.Checklist // the 20-item version
}

// startCounty imports a synthetic county of grids grids into a new data
// folder through `gridsyncd import`, then serves it.
func startCounty(data string, grids int) (*server, countyData) {
	d, err := benchCounty(grids)
	check(err)
	var cd countyData
	for _, a := range d.Areas {
		if a.Level == gridsync.LevelGrid {
			cd.grids = append(cd.grids, a.ID)
		}
	}
	cd.household = d.Checklists[len(d.Checklists)-1]
	b, err := json.Marshal(d)
	check(err)
	file := filepath.Join(filepath.Dir(data), "county.json")
	check(os.WriteFile(file, b, 0o600))
	m := app.NewMain()
	m.Stdout = io.Discard
	check(m.ParseFlags([]string{"import", "-data", data, "-log-level", "error", file}))
	check(m.Run(context.Background()))
	check(m.Close())
	return start(data, false), cd
}
