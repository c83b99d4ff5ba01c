package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gridsync/gridsync/fixtures"
	gridsync "github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/app"
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
	d := &gridsync.Dataset{Format: demo.Format, Checklists: demo.Checklists, Policy: demo.Policy}
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
			site, err := json.Marshal(map[string]any{"id": fmt.Sprintf("0192f999-%04d-7000-8000-%012d", g, s), "grid": gid, "kind": "household",
				"name": fmt.Sprintf("压测户%04d-%d", g+1, s+1), "address": fmt.Sprintf("%s%d号", village.Name, s+1), "risk_level": "general"})
			if err != nil {
				return nil, err
			}
			d.Sites = append(d.Sites, site)
		}
	}
	return d, nil
}

// benchWorker is the grid worker of the synthetic county's grid g.
func benchWorker(g int) string { return fmt.Sprintf("bench-w-%04d", g+1) }

// startCounty imports a synthetic county of grids grids into a new data
// folder through `gridsyncd import`, then serves it; it returns the grids'
// ids too.
func startCounty(data string, grids int) (*server, []string) {
	d, err := benchCounty(grids)
	check(err)
	var ids []string
	for _, a := range d.Areas {
		if a.Level == gridsync.LevelGrid {
			ids = append(ids, a.ID)
		}
	}
	b, err := json.Marshal(d)
	check(err)
	file := filepath.Join(filepath.Dir(data), "county.json")
	check(os.WriteFile(file, b, 0o600))
	m := app.NewMain()
	m.Stdout = io.Discard
	check(m.ParseFlags([]string{"import", "-data", data, "-log-level", "error", file}))
	check(m.Run(context.Background()))
	check(m.Close())
	return start(data, false), ids
}
