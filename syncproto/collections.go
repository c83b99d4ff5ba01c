package syncproto

import "fmt"

// Site kinds (单位场所类别), the values of sites.kind.
const (
	SiteHousehold        = "household"         // 家庭户
	SiteRentedHousing    = "rented_housing"    // 居住出租房
	SiteSharedUse        = "shared_use"        // 合用场所
	SiteSelfBuilt        = "self_built"        // 自建房
	SiteNineSmall        = "nine_small"        // 九小场所
	SiteCrowdedPlace     = "crowded_place"     // 人员密集场所
	SiteFactoryWarehouse = "factory_warehouse" // 厂房库房
	SiteHighRise         = "high_rise"         // 高层建筑
	SiteElderlyAlone     = "elderly_alone"     // 独居老人
)

// Risk levels (风险等级), the values of sites.risk_level. The level fixes
// how often a site must be checked.
const (
	RiskMajor       = "major"       // 重大
	RiskSignificant = "significant" // 较大
	RiskGeneral     = "general"     // 一般
	RiskLow         = "low"         // 低
)

// Hazard workflow stages (隐患闭环), in order: the values of
// hazards.status.
const (
	StageReported   = "reported"   // 上报
	StageDispatched = "dispatched" // 派单督办
	StageRectifying = "rectifying" // 整改中
	StageSubmitted  = "submitted"  // 整改提交
	StageVerified   = "verified"   // 复核
	StageClosed     = "closed"     // 销号
)

// DefaultSchema returns the product's collection declarations: sites,
// inspections and hazards. Each call returns a fresh Schema, so a caller
// may extend its copy without affecting others. The declarations are
// plain data; extend them here rather than adding code paths.
func DefaultSchema() *Schema {
	s, err := NewSchema(sitesCollection(), inspectionsCollection(), hazardsCollection())
	if err != nil {
		// The declarations are constants; TestDefaultSchema keeps them valid.
		panic(fmt.Sprintf("syncproto: default schema: %v", err))
	}
	return s
}

// sitesCollection declares registered units and places (单位场所).
func sitesCollection() *Collection {
	return &Collection{
		Name: "sites",
		Fields: []Field{
			// grid is the site's area. Moving a site to another grid is an
			// ordinary write; the server checks both grids are the user's.
			{Name: "grid", Type: TypeArea, Required: true},
			{Name: "name", Type: TypeString, Required: true},
			{Name: "kind", Type: TypeEnum, Required: true, Enum: []string{
				SiteHousehold, SiteRentedHousing, SiteSharedUse, SiteSelfBuilt, SiteNineSmall,
				SiteCrowdedPlace, SiteFactoryWarehouse, SiteHighRise, SiteElderlyAlone,
			}},
			{Name: "address", Type: TypeString},
			{Name: "location", Type: TypeGeo},
			// Risk grading is the station's decision (明确检查频次).
			{Name: "risk_level", Type: TypeEnum, Enum: []string{RiskMajor, RiskSignificant, RiskGeneral, RiskLow},
				Writers: []Role{RoleStationStaff, RoleCountyAdmin}},
			{Name: "responsible", Type: TypeString, MaxLen: 50},
			{Name: "phone", Type: TypeString, MaxLen: 32},
		},
		Area:     AreaRule{Field: "grid"},
		Creators: []Role{RoleGridWorker, RoleVillageOfficer, RoleStationStaff, RoleCountyAdmin},
		Deleters: []Role{RoleStationStaff, RoleCountyAdmin},
	}
}

// inspectionsCollection declares door-to-door checks (敲门入户/排查走访).
func inspectionsCollection() *Collection {
	return &Collection{
		Name: "inspections",
		Fields: []Field{
			{Name: "site", Type: TypeRef, RefCollection: "sites", Required: true},
			// result: pass (合格), hazard_found (发现隐患), no_access (未能入户).
			{Name: "result", Type: TypeEnum, Enum: []string{"pass", "hazard_found", "no_access"}},
			{Name: "checked_at", Type: TypeTime},
			{Name: "note", Type: TypeText},
			{Name: "photos", Kind: KindSet, Type: TypeSHA256},
			// inspectors are user ids; enforcement needs two (双人执法).
			{Name: "inspectors", Kind: KindSet, Type: TypeString},
		},
		Area:     AreaRule{Ref: "site"},
		Creators: []Role{RoleGridWorker, RoleVillageOfficer, RoleEnforcementOfficer, RoleStationStaff},
		Deleters: []Role{RoleStationStaff},
	}
}

// hazardsCollection declares hazards and their closed loop (隐患闭环).
// Finding and fixing are separated (排改分离): grid workers and village
// officers report and submit rectification evidence; the station
// dispatches, verifies, closes and reopens.
func hazardsCollection() *Collection {
	finder := []string{StageReported, StageSubmitted}
	return &Collection{
		Name: "hazards",
		Fields: []Field{
			{Name: "site", Type: TypeRef, RefCollection: "sites", Required: true},
			{Name: "inspection", Type: TypeRef, RefCollection: "inspections"},
			{Name: "title", Type: TypeString, Required: true},
			{Name: "description", Type: TypeText},
			{Name: "severity", Type: TypeEnum, Enum: []string{"major", "general"}},
			{Name: "deadline", Type: TypeTime, Writers: []Role{RoleStationStaff}},
			{Name: "assignee", Type: TypeString, MaxLen: 64, Writers: []Role{RoleStationStaff}},
			{Name: "photos", Kind: KindSet, Type: TypeSHA256},
			{
				Name: "status", Kind: KindFlow, Required: true,
				Stages: []string{StageReported, StageDispatched, StageRectifying, StageSubmitted, StageVerified, StageClosed},
				Steps: map[Role][]string{
					RoleGridWorker:     finder,
					RoleVillageOfficer: finder,
					RoleStationStaff:   {StageDispatched, StageRectifying, StageVerified, StageClosed},
				},
				Reopeners: []Role{RoleStationStaff},
			},
		},
		Area: AreaRule{Ref: "site"},
		// Creating a hazard takes its first workflow step, so only roles
		// with steps create hazards.
		Creators: []Role{RoleGridWorker, RoleVillageOfficer, RoleStationStaff},
		Deleters: []Role{RoleStationStaff, RoleCountyAdmin},
		Priority: 1,
	}
}
