package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// cst is China Standard Time. China has no daylight saving time, so a fixed
// zone is exact and needs no tz database on the server.
var cst = time.FixedZone("CST", 8*3600)

// The dashboard speaks the seeds' vocabulary.
var (
	stageLabels = map[string]string{
		syncproto.StageReported:   "已上报",
		syncproto.StageDispatched: "已派单",
		syncproto.StageRectifying: "整改中",
		syncproto.StageSubmitted:  "已提交整改",
		syncproto.StageVerified:   "已复核",
		syncproto.StageClosed:     "已销号",
	}
	severityLabels = map[string]string{"major": "重大隐患", "general": "一般隐患"}
	kindLabels     = map[string]string{
		syncproto.SiteHousehold:        "家庭户",
		syncproto.SiteRentedHousing:    "居住出租房",
		syncproto.SiteSharedUse:        "合用场所",
		syncproto.SiteSelfBuilt:        "自建房",
		syncproto.SiteNineSmall:        "九小场所",
		syncproto.SiteCrowdedPlace:     "人员密集场所",
		syncproto.SiteFactoryWarehouse: "厂房库房",
		syncproto.SiteHighRise:         "高层建筑",
		syncproto.SiteElderlyAlone:     "独居老人",
	}
	riskLabels = map[string]string{
		syncproto.RiskMajor:       "重大",
		syncproto.RiskSignificant: "较大",
		syncproto.RiskGeneral:     "一般",
		syncproto.RiskLow:         "低",
	}
	resultLabels = map[string]string{"pass": "合格", "hazard_found": "发现隐患", "no_access": "未能入户"}
	roleLabels   = map[server.Role]string{
		server.RoleGridWorker:         "网格员",
		server.RoleVillageOfficer:     "村(社区)消防安全管理人",
		server.RoleStationStaff:       "应急消防管理站",
		server.RoleEnforcementOfficer: "执法人员",
		server.RoleCountyAdmin:        "县应急管理局",
	}
	collectionLabels = map[string]string{"sites": "单位场所", "inspections": "入户检查", "hazards": "隐患",
		"warnings": "预警提示", "incidents": "事故险情快报", "patrols": "夜查巡防"}
	fieldLabels = map[string]string{
		"title": "隐患描述", "description": "详细说明", "severity": "隐患等级", "deadline": "整改期限",
		"assignee": "整改责任人", "photos": "照片", "status": "状态", "site": "场所", "inspection": "检查记录",
		"name": "名称", "kind": "类别", "address": "地址", "location": "位置", "risk_level": "风险等级",
		"responsible": "负责人", "phone": "联系电话", "grid": "网格", "result": "检查结果", "checked_at": "检查时间",
		"note": "备注", "inspectors": "检查人", "started_at": "开始检查", "finished_at": "完成检查",
		"checklist_kind": "检查清单", "checklist_version": "清单版本", "signature": "签字照片", "refused": "拒绝签字",
		"refusal_note": "拒签说明", "covert": "暗访发现", "item": "检查项",
		"evidence": "整改照片", "rectification_note": "整改说明", "verification_note": "复核意见",
		"escalated": "挂牌督办", "escalation_note": "督办说明", "referred_to": "抄告部门", "referral_note": "抄告说明",
		"target": "预警对象", "level": "预警级别", "body": "预警内容", "issued_at": "发布时间", "valid_until": "有效期至",
		"warning": "预警", "acknowledged_at": "回执时间",
	}
	codeLabels = map[string]string{
		syncproto.CodeInvalidOp:           "操作格式错误",
		syncproto.CodeUnknownCollection:   "未知的数据类别",
		syncproto.CodeUnknownField:        "未知的字段",
		syncproto.CodeInvalidValue:        "取值无效",
		syncproto.CodeTooLarge:            "超出限制",
		syncproto.CodeForbiddenRole:       "您的角色无权执行此操作",
		syncproto.CodeForbiddenField:      "您的角色无权修改此字段",
		syncproto.CodeForbiddenArea:       "超出您的管辖范围",
		syncproto.CodeForbiddenTransition: "状态流转不允许",
		syncproto.CodeDocDeleted:          "记录已删除",
		syncproto.CodeClockAhead:          "设备时钟超前",
		syncproto.CodeWrongDevice:         "设备不匹配",
		syncproto.CodeNotFound:            "记录不存在",
		syncproto.CodeSeqReused:           "操作序号重复",
	}
)

func label(m map[string]string, k string) string {
	if v, ok := m[k]; ok {
		return v
	}
	return k
}

func stageLabel(s string) string { return label(stageLabels, s) }
func kindLabel(s string) string  { return label(kindLabels, s) }
func riskLabel(s string) string  { return label(riskLabels, s) }
func codeLabel(s string) string  { return label(codeLabels, s) }
func fieldLabel(s string) string { return label(fieldLabels, s) }
func roleLabel(r server.Role) string {
	if v, ok := roleLabels[r]; ok {
		return v
	}
	return string(r)
}

// Field readers for merged states: the dashboard shows what is there and
// an empty value for what is not.
func strField(s syncproto.DocState, f string) string {
	v, ok := s.Value(f)
	if !ok {
		return ""
	}
	var out string
	if json.Unmarshal(v, &out) != nil {
		return ""
	}
	return out
}

func timeField(s syncproto.DocState, f string) time.Time {
	v, ok := s.Value(f)
	if !ok {
		return time.Time{}
	}
	var ms int64
	if json.Unmarshal(v, &ms) != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// truthy reads a flag field whatever its declared type: true, a non-zero
// time, or a non-empty string.
func truthy(s syncproto.DocState, f string) bool {
	v, ok := s.Value(f)
	if !ok {
		return false
	}
	var x any
	if json.Unmarshal(v, &x) != nil {
		return false
	}
	switch x := x.(type) {
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		return x != ""
	case map[string]any:
		return len(x) > 0
	}
	return false
}

// valueText shows a register value to a person.
func valueText(field string, raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return "（空）"
	}
	var x any
	if json.Unmarshal(raw, &x) != nil {
		return string(raw)
	}
	switch x := x.(type) {
	case string:
		switch field {
		case "severity":
			return label(severityLabels, x)
		case "kind":
			return kindLabel(x)
		case "risk_level":
			return riskLabel(x) + "风险"
		case "result":
			return label(resultLabels, x)
		case "level":
			return warningLevelLabel(x)
		}
		return x
	case float64:
		if strings.HasSuffix(field, "_at") || field == "deadline" || field == "valid_until" {
			return fmtTime(time.UnixMilli(int64(x)))
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "是"
		}
		return "否"
	case map[string]any:
		if lat, ok := x["lat"].(float64); ok {
			lng, _ := x["lng"].(float64)
			return fmt.Sprintf("%.5f, %.5f", lat, lng)
		}
	}
	return string(raw)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(cst).Format("2006-01-02 15:04")
}

func fmtDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(cst).Format("2006-01-02")
}

// fmtAge says how long ago, in the units a station cares about.
func fmtAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "刚刚"
	case d < time.Hour:
		return fmt.Sprintf("%d 分钟", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d 小时", int(d.Hours()))
	}
	return fmt.Sprintf("%d 天", int(d.Hours()/24))
}

// fmtOffset says how far a device's clock is off, in words: a clock
// within a second of the server's is 准确.
func fmtOffset(ms int64) string {
	d := time.Duration(ms) * time.Millisecond
	word := "快"
	if d < 0 {
		word, d = "慢", -d
	}
	switch {
	case d < time.Second:
		return "准确"
	case d < time.Minute:
		return fmt.Sprintf("%s %d 秒", word, int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%s %d 分钟", word, int(d.Minutes()))
	case d < 48*time.Hour:
		if m := int(d.Minutes()) % 60; m > 0 {
			return fmt.Sprintf("%s %d 小时 %d 分钟", word, int(d.Hours()), m)
		}
		return fmt.Sprintf("%s %d 小时", word, int(d.Hours()))
	}
	return fmt.Sprintf("%s %d 天", word, int(d.Hours()/24))
}

// parseDate reads an <input type=date> value as the end of that day in
// China: a deadline "2025-06-30" means by the end of June 30th.
func parseDate(s string) (time.Time, error) {
	d, err := time.ParseInLocation("2006-01-02", s, cst)
	if err != nil {
		return time.Time{}, server.Errorf(server.EINVALID, "日期格式应为 年-月-日")
	}
	return d.Add(24*time.Hour - time.Millisecond), nil
}

var funcs = template.FuncMap{
	"stage":    stageLabel,
	"kind":     kindLabel,
	"risk":     riskLabel,
	"severity": func(s string) string { return label(severityLabels, s) },
	"result":   func(s string) string { return label(resultLabels, s) },
	"role":     roleLabel,
	"field":    fieldLabel,
	"coll":     func(s string) string { return label(collectionLabels, s) },
	"code":     codeLabel,
	"wlevel":   warningLevelLabel,
	"time":     fmtTime,
	"date":     fmtDate,
	"age":      fmtAge,
	"offset":   fmtOffset,
	"value":    valueText,
	"short": func(s string) string {
		if len(s) > 22 {
			return s[:22] + "…"
		}
		return s
	},
	"pct": func(n, d int) string {
		if d == 0 {
			return "—"
		}
		return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(d))
	},
	// rate shows a coverage rate, "—" for an area without sites.
	"rate": func(r *float64) string {
		if r == nil {
			return "—"
		}
		return strconv.FormatFloat(100**r, 'f', 1, 64) + "%"
	},
	"hlcTime": func(h syncproto.HLC) string { return fmtTime(time.UnixMilli(h.Wall)) },
	"add":     func(a, b int) int { return a + b },
	// pair passes two values to a sub-template.
	"pair": func(a, b any) struct{ A, B any } { return struct{ A, B any }{a, b} },
}
