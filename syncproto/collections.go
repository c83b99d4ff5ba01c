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

// SiteKinds returns every site kind, in the order of the constants.
func SiteKinds() []string {
	return []string{SiteHousehold, SiteRentedHousing, SiteSharedUse, SiteSelfBuilt, SiteNineSmall,
		SiteCrowdedPlace, SiteFactoryWarehouse, SiteHighRise, SiteElderlyAlone}
}

// The nine small places (九小场所), the values of sites.sub_kind for a
// site of kind nine_small. The seeds name the group, not its members; these
// are the nine of the fire services' definition, as the demo county's site
// names already use them (小餐饮：老周面馆, 小学校/幼儿园：岭头村幼儿园...).
const (
	NineSmallShop          = "small_shop"          // 小商店
	NineSmallRestaurant    = "small_restaurant"    // 小餐饮场所
	NineSmallHotel         = "small_hotel"         // 小旅馆
	NineSmallEntertainment = "small_entertainment" // 小歌舞娱乐场所
	NineSmallInternetCafe  = "small_internet_cafe" // 小网吧
	NineSmallBeautyBath    = "small_beauty_bath"   // 小美容洗浴场所
	NineSmallWorkshop      = "small_workshop"      // 小生产加工企业
	NineSmallClinic        = "small_clinic"        // 小医院（诊所、卫生室）
	NineSmallSchool        = "small_school"        // 小学校或幼儿园（含教育培训）
)

// NineSmallKinds returns the nine small places in the order of the
// constants.
func NineSmallKinds() []string {
	return []string{NineSmallShop, NineSmallRestaurant, NineSmallHotel, NineSmallEntertainment, NineSmallInternetCafe,
		NineSmallBeautyBath, NineSmallWorkshop, NineSmallClinic, NineSmallSchool}
}

// Risk levels (风险等级), the values of sites.risk_level. The level fixes
// how often a site must be checked.
const (
	RiskMajor       = "major"       // 重大
	RiskSignificant = "significant" // 较大
	RiskGeneral     = "general"     // 一般
	RiskLow         = "low"         // 低
)

// RiskLevels returns the risk levels from the highest down.
func RiskLevels() []string { return []string{RiskMajor, RiskSignificant, RiskGeneral, RiskLow} }

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

// HazardStages returns the hazard workflow's stages in order.
func HazardStages() []string {
	return []string{StageReported, StageDispatched, StageRectifying, StageSubmitted, StageVerified, StageClosed}
}

// Reasons to close a hazard without verification (hazards.close_reason).
// A hazard is closed (销号) after its rectification is verified (复核);
// the station closes it from an earlier stage only when it turns out not to
// be one, and says why.
const (
	CloseNotAHazard = "not_a_hazard" // 经核查不构成隐患
	CloseDuplicate  = "duplicate"    // 重复上报
)

// Results of a checklist item (inspection_items.result).
const (
	ItemPass = "pass" // 合格
	ItemFail = "fail" // 不合格: becomes a hazard on the device
	ItemNA   = "na"   // 不适用
)

// Results of an inspection (inspections.result).
const (
	InspectionPass        = "pass"         // 合格
	InspectionHazardFound = "hazard_found" // 发现隐患
	InspectionNoAccess    = "no_access"    // 未能入户: does not count as a check
)

// Warning levels (预警提示), the values of warnings.level: the seeds ask
// for 每月预警提示、特殊时期每周预警提示、重要情况立即预警提示.
const (
	WarningRoutineMonthly = "routine_monthly" // 每月预警提示
	WarningSpecialWeekly  = "special_weekly"  // 特殊时期每周预警提示
	WarningImmediate      = "immediate"       // 重要情况立即预警提示
)

// Enforcement steps (执法全过程记录), the values of enforcement_steps.step,
// in the order a case usually takes them.
const (
	EnforceAnnounce = "announce" // 表明身份、出示执法证件
	EnforceInspect  = "inspect"  // 现场检查
	EnforceEvidence = "evidence" // 调查取证
	EnforceInform   = "inform"   // 告知当事人权利
	// EnforceLegalReview is the legal review (法制审核) a major decision
	// needs before it is made (重大执法决定法制审核).
	EnforceLegalReview = "legal_review"
	EnforceDecide      = "decide"  // 作出处理决定
	EnforceServe       = "serve"   // 文书送达
	EnforceArchive     = "archive" // 结案归档
)

// Kinds of patrol (patrols.kind).
const (
	PatrolNightCheck = "night_check" // 夜查: led by the leader on duty (每日值班领导应带队开展夜查)
	PatrolPatrol     = "patrol"      // 巡防
)

// Levels of patrol (patrols.level): the seeds' three levels of patrol in
// key periods (乡镇、村（居）、企业三级巡防).
const (
	PatrolTownship   = "township"   // 乡镇面上巡防
	PatrolVillage    = "village"    // 村（居）重点区域巡防
	PatrolEnterprise = "enterprise" // 企业巡防巡查
)

// Outbox priorities (Collection.Priority). An incident quick report must
// reach the station within 30 minutes (30分钟以内上报), so it goes before
// everything; an acknowledgement of a warning (应急叫应) before routine
// work; a hazard before the checks that found it.
const (
	PriorityIncident   = 10
	PriorityWarningAck = 5
	PriorityHazard     = 1
)

// DefaultSchema returns the product's collection declarations (see
// docs/DOMAIN.md for the role table and the rules the server adds). Each
// call returns a fresh Schema, so a caller may extend its copy without
// affecting others. The declarations are plain data; extend them here
// rather than adding code paths.
func DefaultSchema() *Schema {
	s, err := NewSchema(
		sitesCollection(),
		inspectionsCollection(), inspectionItemsCollection(),
		hazardsCollection(),
		warningsCollection(), warningAcksCollection(),
		patrolsCollection(), patrolCheckinsCollection(),
		incidentsCollection(),
		enforcementRecordsCollection(), enforcementStepsCollection(),
	)
	if err != nil {
		// The declarations are constants; TestDefaultSchema keeps them valid.
		panic(fmt.Sprintf("syncproto: default schema: %v", err))
	}
	return s
}

// Role groups used by several declarations. They are functions so that
// every Schema gets its own slices.

// fieldRoles work on site: door to door, on the phone.
func fieldRoles() []Role { return []Role{RoleGridWorker, RoleVillageOfficer} }

// supervisors grade, dispatch and warn: the township station and the county.
func supervisors() []Role { return []Role{RoleStationStaff, RoleCountyAdmin} }

// station is the township station alone: it supervises rectification
// (排改分离) and refers refusals (抄告).
func station() []Role { return []Role{RoleStationStaff} }

// enforcementReaders are the roles that read enforcement records.
func enforcementReaders() []Role {
	return []Role{RoleEnforcementOfficer, RoleStationStaff, RoleCountyAdmin}
}

// sitesCollection declares registered units and places (单位场所). Grid
// workers, village officers, the station and the county register sites;
// only the station and the county grade their risk (明确检查频次) and
// delete them.
func sitesCollection() *Collection {
	return &Collection{
		Name: "sites",
		Fields: []Field{
			// grid is the site's area and cannot change: the server refuses
			// an op that would move a site to another area (forbidden_area),
			// because the scopes of its past changes cannot follow it. A site
			// that moved is deleted and registered again in its new grid.
			{Name: "grid", Type: TypeArea, Required: true},
			{Name: "name", Type: TypeString, Required: true},
			{Name: "kind", Type: TypeEnum, Required: true, Enum: SiteKinds()},
			// sub_kind says which of the nine small places a nine_small
			// site is; the server refuses it on other kinds.
			{Name: "sub_kind", Type: TypeEnum, Enum: NineSmallKinds()},
			{Name: "address", Type: TypeString},
			{Name: "location", Type: TypeGeo},
			// Risk grading is the station's decision (明确检查频次); a site
			// without a level is checked as "general" until graded.
			{Name: "risk_level", Type: TypeEnum, Enum: RiskLevels(), Writers: supervisors()},
			{Name: "responsible", Type: TypeString, MaxLen: 50},
			{Name: "phone", Type: TypeString, MaxLen: 32},
		},
		Area:     AreaRule{Field: "grid"},
		Creators: []Role{RoleGridWorker, RoleVillageOfficer, RoleStationStaff, RoleCountyAdmin},
		Deleters: supervisors(),
	}
}

// inspectionsCollection declares door-to-door checks (敲门入户/排查走访).
// Times are the device's; the server's time is the op's received_at. The
// checklist is named by kind and version, so a device that still has an
// old template keeps syncing after the county publishes a new one.
func inspectionsCollection() *Collection {
	return &Collection{
		Name: "inspections",
		Fields: []Field{
			{Name: "site", Type: TypeRef, RefCollection: "sites", Required: true},
			// checklist_kind and checklist_version name the template used
			// (GET /v1/checklists); the server refuses a pair it does not
			// have (unknown_checklist).
			{Name: "checklist_kind", Type: TypeString, MaxLen: 32},
			{Name: "checklist_version", Type: TypeInt},
			{Name: "started_at", Type: TypeTime},
			{Name: "finished_at", Type: TypeTime},
			// checked_at is the single check time of app versions before
			// started_at/finished_at; still accepted so that they sync.
			{Name: "checked_at", Type: TypeTime},
			{Name: "location", Type: TypeGeo},
			{Name: "result", Type: TypeEnum, Enum: []string{InspectionPass, InspectionHazardFound, InspectionNoAccess}},
			{Name: "note", Type: TypeText},
			// inspectors are usernames.
			{Name: "inspectors", Kind: KindSet, Type: TypeString, MaxLen: 64},
			{Name: "photos", Kind: KindSet, Type: TypeSHA256},
			// signature is the sha256 of the photo of the resident's
			// signature; refused records that the resident refused to sign
			// (or to let the check happen), with refusal_note.
			{Name: "signature", Type: TypeSHA256},
			{Name: "refused", Type: TypeBool},
			{Name: "refusal_note", Type: TypeText},
			// covert marks a covert visit (暗访): set when the visit is
			// recorded; later only the station corrects it. Hazards it finds
			// are covert too (暗访督办15日办结).
			{Name: "covert", Type: TypeBool, Fixed: true, Amenders: station()},
			// A resident who refuses the check (refused, or no_access) is
			// referred to the competent department (抄告) by the station,
			// which records the department's reply (反馈).
			{Name: "referred_to", Type: TypeString, MaxLen: 100, Writers: station()},
			{Name: "referral_note", Type: TypeText, Writers: station()},
			{Name: "referred_at", Type: TypeTime, Writers: station()},
			{Name: "feedback", Type: TypeText, Writers: station()},
			{Name: "feedback_at", Type: TypeTime, Writers: station()},
		},
		Area:     AreaRule{Ref: "site"},
		Creators: []Role{RoleGridWorker, RoleVillageOfficer, RoleEnforcementOfficer, RoleStationStaff},
		Deleters: []Role{RoleStationStaff},
	}
}

// inspectionItemsCollection declares the result of one checklist item of an
// inspection. A failed item becomes a hazard on the device (offline): the
// hazard names the item (hazards.item) and the item the hazard.
func inspectionItemsCollection() *Collection {
	return &Collection{
		Name: "inspection_items",
		Fields: []Field{
			{Name: "inspection", Type: TypeRef, RefCollection: "inspections", Required: true},
			// item is the checklist item's code, e.g. "HH-03".
			{Name: "item", Type: TypeString, MaxLen: 32, Required: true},
			{Name: "result", Type: TypeEnum, Enum: []string{ItemPass, ItemFail, ItemNA}, Required: true},
			{Name: "note", Type: TypeText},
			{Name: "photos", Kind: KindSet, Type: TypeSHA256},
			{Name: "hazard", Type: TypeRef, RefCollection: "hazards"},
		},
		Area:     AreaRule{Ref: "inspection"},
		Creators: []Role{RoleGridWorker, RoleVillageOfficer, RoleEnforcementOfficer, RoleStationStaff},
		Deleters: []Role{RoleStationStaff},
	}
}

// hazardsCollection declares hazards and their closed loop (隐患闭环).
// Finding and fixing are separated (排改分离): grid workers and village
// officers report and submit rectification evidence; the station
// dispatches, verifies, closes and reopens (a failed verification is a
// reopen: a new round back to rectifying). A hazard is closed (销号) after
// verification (复核), or earlier only with a close_reason (not a hazard, a
// duplicate). The server adds the county's default deadline to a dispatch
// or a reopen without one and keeps hazards from covert visits within 15
// days (暗访督办15日办结); see docs/DOMAIN.md.
func hazardsCollection() *Collection {
	finder := []string{StageReported, StageSubmitted}
	return &Collection{
		Name: "hazards",
		Fields: []Field{
			{Name: "site", Type: TypeRef, RefCollection: "sites", Required: true},
			{Name: "inspection", Type: TypeRef, RefCollection: "inspections"},
			// item is the failed checklist item the hazard came from.
			{Name: "item", Type: TypeRef, RefCollection: "inspection_items"},
			{Name: "title", Type: TypeString, Required: true},
			{Name: "description", Type: TypeText},
			{Name: "severity", Type: TypeEnum, Enum: []string{"major", "general"}},
			// covert: found on a covert visit (暗访); closes within 15 days.
			// Set when the hazard is reported (the server sets it when the
			// inspection is covert); later only the station corrects it.
			{Name: "covert", Type: TypeBool, Fixed: true, Amenders: station()},
			{Name: "deadline", Type: TypeTime, Writers: station()},
			{Name: "assignee", Type: TypeString, MaxLen: 64, Writers: station()},
			// photos document the finding; evidence the rectification.
			{Name: "photos", Kind: KindSet, Type: TypeSHA256},
			{Name: "evidence", Kind: KindSet, Type: TypeSHA256},
			{Name: "rectification_note", Type: TypeText},
			{Name: "verification_note", Type: TypeText, Writers: station()},
			// close_reason lets the station close a hazard before
			// verification: it was not one, or a duplicate.
			{Name: "close_reason", Type: TypeEnum, Enum: []string{CloseNotAHazard, CloseDuplicate}, Writers: station()},
			// escalated: 挂牌督办, by the station or the county.
			{Name: "escalated", Type: TypeBool, Writers: supervisors()},
			{Name: "escalation_note", Type: TypeText, Writers: supervisors()},
			// referred_to names the competent department a resident's
			// refusal to rectify was referred to (抄告); feedback is the
			// department's reply (反馈).
			{Name: "referred_to", Type: TypeString, MaxLen: 100, Writers: station()},
			{Name: "referral_note", Type: TypeText, Writers: station()},
			{Name: "referred_at", Type: TypeTime, Writers: station()},
			{Name: "feedback", Type: TypeText, Writers: station()},
			{Name: "feedback_at", Type: TypeTime, Writers: station()},
			{
				Name: "status", Kind: KindFlow, Required: true,
				Stages: HazardStages(),
				Steps: map[Role][]string{
					RoleGridWorker:     finder,
					RoleVillageOfficer: finder,
					RoleStationStaff:   {StageDispatched, StageRectifying, StageVerified, StageClosed},
				},
				Reopeners: station(),
				// 整改销号 follows 复核: closing earlier needs a reason.
				Gates: map[string]Gate{StageClosed: {From: []string{StageVerified}, Unless: "close_reason"}},
			},
		},
		Area: AreaRule{Ref: "site"},
		// Creating a hazard takes its first workflow step, so only roles
		// with steps create hazards.
		Creators: []Role{RoleGridWorker, RoleVillageOfficer, RoleStationStaff},
		Deleters: supervisors(),
		Priority: PriorityHazard,
	}
}

// warningsCollection declares warnings (预警提示) the station issues to a
// village or grid (or its whole township). It is a broadcast collection:
// every user at or below the target reads the warning.
func warningsCollection() *Collection {
	return &Collection{
		Name: "warnings",
		Fields: []Field{
			{Name: "target", Type: TypeArea, Required: true},
			{Name: "level", Type: TypeEnum, Enum: []string{WarningRoutineMonthly, WarningSpecialWeekly, WarningImmediate}, Required: true},
			{Name: "title", Type: TypeString, Required: true},
			{Name: "body", Type: TypeText},
			{Name: "issued_at", Type: TypeTime},
			{Name: "valid_until", Type: TypeTime},
		},
		Area:      AreaRule{Field: "target"},
		Broadcast: true,
		Creators:  supervisors(),
		Deleters:  supervisors(),
	}
}

// warningAcksCollection declares acknowledgements of warnings (应急叫应).
// An acknowledgement belongs to its author's own area, not the warning's:
// a grid worker cannot write into the village the warning was issued to.
func warningAcksCollection() *Collection {
	return &Collection{
		Name: "warning_acks",
		Fields: []Field{
			{Name: "warning", Type: TypeRef, RefCollection: "warnings", Required: true},
			{Name: "acknowledged_at", Type: TypeTime},
			{Name: "note", Type: TypeText},
		},
		Area:     AreaRule{Author: true},
		Creators: fieldRoles(),
		Priority: PriorityWarningAck,
	}
}

// patrolsCollection declares night patrols (夜查/巡防, 22:00–06:00 in key
// periods), led by grid workers, village officers or the station's duty
// leader (每日值班领导应带队开展夜查), at the seeds' three levels. The
// server refuses an end before the start and flags check-ins outside the
// night window, outside the session or by non-members (GET /v1/patrols).
func patrolsCollection() *Collection {
	return &Collection{
		Name: "patrols",
		Fields: []Field{
			{Name: "kind", Type: TypeEnum, Required: true, Enum: []string{PatrolNightCheck, PatrolPatrol}},
			{Name: "level", Type: TypeEnum, Required: true, Enum: []string{PatrolTownship, PatrolVillage, PatrolEnterprise}},
			{Name: "started_at", Type: TypeTime, Required: true},
			{Name: "ended_at", Type: TypeTime},
			{Name: "note", Type: TypeText},
			// leader and members are usernames; the leader leads (带队).
			{Name: "leader", Type: TypeString, MaxLen: 64},
			{Name: "members", Kind: KindSet, Type: TypeString, MaxLen: 64},
		},
		Area:     AreaRule{Author: true},
		Creators: []Role{RoleGridWorker, RoleVillageOfficer, RoleStationStaff},
		Deleters: []Role{RoleStationStaff},
	}
}

// patrolCheckinsCollection declares the check-ins of a patrol: where and
// when, with a note and photos.
func patrolCheckinsCollection() *Collection {
	return &Collection{
		Name: "patrol_checkins",
		Fields: []Field{
			{Name: "patrol", Type: TypeRef, RefCollection: "patrols", Required: true},
			{Name: "at", Type: TypeTime, Required: true},
			{Name: "location", Type: TypeGeo},
			{Name: "site", Type: TypeRef, RefCollection: "sites"},
			{Name: "note", Type: TypeText},
			{Name: "photos", Kind: KindSet, Type: TypeSHA256},
		},
		Area:     AreaRule{Ref: "patrol"},
		Creators: []Role{RoleGridWorker, RoleVillageOfficer, RoleStationStaff},
		Deleters: []Role{RoleStationStaff},
	}
}

// incidentsCollection declares incident quick reports (事故灾害和险情快报):
// reported within 30 minutes (30分钟以内上报). They have the highest
// outbox priority; the server records each report's delay from occurrence
// to arrival and flags the late ones.
func incidentsCollection() *Collection {
	return &Collection{
		Name: "incidents",
		Fields: []Field{
			{Name: "occurred_at", Type: TypeTime, Required: true},
			{Name: "reported_at", Type: TypeTime},
			{Name: "title", Type: TypeString, Required: true},
			{Name: "description", Type: TypeText},
			{Name: "location", Type: TypeGeo},
			{Name: "photos", Kind: KindSet, Type: TypeSHA256},
		},
		Area:     AreaRule{Author: true},
		Creators: []Role{RoleGridWorker, RoleVillageOfficer, RoleStationStaff, RoleEnforcementOfficer},
		Priority: PriorityIncident,
	}
}

// enforcementRecordsCollection declares enforcement cases. The server
// requires two distinct certified enforcement officers of an area covering
// the site (双人执法, 持证执法), lets only them write the record, and a major
// decision a legal review first (重大执法决定法制审核).
func enforcementRecordsCollection() *Collection {
	return &Collection{
		Name: "enforcement_records",
		Fields: []Field{
			{Name: "site", Type: TypeRef, RefCollection: "sites", Required: true},
			// officers are usernames of enforcement officers.
			{Name: "officers", Kind: KindSet, Type: TypeString, MaxLen: 64, Required: true},
			// certificates hold each officer's certificate number (执法证号)
			// as "username:number", one per listed officer.
			{Name: "certificates", Kind: KindSet, Type: TypeString, MaxLen: 100, Required: true},
			// major_decision marks a major decision (重大执法决定: e.g. a
			// large fine, closure, seizure), which needs a legal_review step
			// before the decision.
			{Name: "major_decision", Type: TypeBool},
			{Name: "subject", Type: TypeString},
			{Name: "started_at", Type: TypeTime},
			{Name: "ended_at", Type: TypeTime},
			{Name: "outcome", Type: TypeEnum, Enum: []string{"no_violation", "order_rectify", "penalty", "seizure"}},
			{Name: "hazard", Type: TypeRef, RefCollection: "hazards"},
			{Name: "note", Type: TypeText},
			{Name: "photos", Kind: KindSet, Type: TypeSHA256},
		},
		Area:     AreaRule{Ref: "site"},
		Creators: []Role{RoleEnforcementOfficer},
		Readers:  enforcementReaders(),
	}
}

// enforcementStepsCollection declares the full-process record of a case
// (执法全过程记录): one document per step, written by one of the case's
// officers. A step is kept as recorded: its content is fixed at creation,
// photos are only added, and steps are never deleted.
func enforcementStepsCollection() *Collection {
	return &Collection{
		Name: "enforcement_steps",
		Fields: []Field{
			{Name: "record", Type: TypeRef, RefCollection: "enforcement_records", Required: true, Fixed: true},
			{Name: "step", Type: TypeEnum, Required: true, Fixed: true, Enum: []string{
				EnforceAnnounce, EnforceInspect, EnforceEvidence, EnforceInform, EnforceLegalReview, EnforceDecide, EnforceServe, EnforceArchive}},
			{Name: "at", Type: TypeTime, Required: true, Fixed: true},
			{Name: "note", Type: TypeText, Fixed: true},
			// reviewer names who did a legal_review (法制审核人员).
			{Name: "reviewer", Type: TypeString, MaxLen: 64, Fixed: true},
			{Name: "photos", Kind: KindSet, Type: TypeSHA256, AddOnly: true},
		},
		Area:     AreaRule{Ref: "record"},
		Creators: []Role{RoleEnforcementOfficer},
		Readers:  enforcementReaders(),
	}
}

// Rejection codes of the domain rules the server adds to the declarations
// (docs/DOMAIN.md). Like the codes in codes.go they are stable wire values.
// Other domain refusals reuse codes.go: an acknowledgement of a warning
// that does not exist is CodeNotFound, of one not addressed to the user's
// area CodeForbiddenArea; CodeInvalidValue is an incident that occurred in
// the future, a patrol that ends before it starts, a warning valid until
// before it was issued, a sub_kind on a site that is not nine_small,
// feedback without a referral or a referral of a check that was not
// refused, and a legal review without its reviewer.
const (
	// CodeUnknownChecklist: an inspection names a checklist kind and
	// version the server does not have, or only one of the two.
	CodeUnknownChecklist = "unknown_checklist"

	// CodeCovertDeadline: a hazard from a covert visit (covert) would get
	// a deadline later than the county's limit after its report
	// (暗访督办15日办结).
	CodeCovertDeadline = "covert_deadline"

	// CodeTwoOfficers: an enforcement record lists fewer than two distinct
	// officers (双人执法).
	CodeTwoOfficers = "two_officers_required"

	// CodeNotOfficer: a listed officer is not an enforcement officer of an
	// area covering the site (or is disabled), or the author of an op on a
	// record or on one of its steps is not among its officers.
	CodeNotOfficer = "not_an_officer"

	// CodeCertificateRequired: an enforcement record does not hold exactly
	// one certificate number (执法证号) per listed officer (持证执法), or
	// holds one of someone not listed.
	CodeCertificateRequired = "certificate_required"

	// CodeLegalReviewRequired: a major decision (重大执法决定) is made, by a
	// decide step or an outcome, before a legal_review step of the record
	// (法制审核).
	CodeLegalReviewRequired = "legal_review_required"

	// CodeCovertRequired: a hazard found on a covert inspection (暗访) is
	// not covert, so it would escape the 15-day limit.
	CodeCovertRequired = "covert_required"

	// CodeChecklistMismatch: an inspection's checklist is for another kind
	// of site than the inspected one.
	CodeChecklistMismatch = "checklist_mismatch"

	// CodeUnknownItem: an inspection item's code is not on the checklist
	// version its inspection names.
	CodeUnknownItem = "unknown_item"
)
