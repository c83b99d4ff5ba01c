package web

import (
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// warningLevels are the seeds' three kinds of warning (预警提示), in the
// order of the form.
var warningLevels = []option{
	{syncproto.WarningRoutineMonthly, "每月例行预警"},
	{syncproto.WarningSpecialWeekly, "特殊时期每周预警"},
	{syncproto.WarningImmediate, "重要情况立即预警"},
}

func warningLevelLabel(level string) string {
	for _, o := range warningLevels {
		if o.Value == level {
			return o.Label
		}
	}
	return level
}

// targetOption is an area a warning can be issued to, indented by level.
type targetOption struct {
	ID, Label string
}

// warningTargets are the areas of the caller's tree a warning can go to:
// the caller's own area, its villages and their grids.
func warningTargets(ai *areaIndex) []targetOption {
	var out []targetOption
	if ai.root != nil {
		out = append(out, targetOption{ai.root.ID, ai.root.Name + "（全辖区）"})
	}
	for _, v := range ai.villages {
		if ai.root != nil && v.ID == ai.root.ID {
			continue
		}
		out = append(out, targetOption{v.ID, v.Name})
		for _, g := range ai.gridsOf(v.Path) {
			if ai.root != nil && g.ID == ai.root.ID {
				continue
			}
			out = append(out, targetOption{g.ID, "　" + v.Name + " · " + g.Name})
		}
	}
	return out
}

// warnings: GET /warnings, 预警提示: the issue form (station staff and
// the county) and, per warning, who has acknowledged it (应急叫应) and
// who has not (DomainService.WarningAcks).
func (h *Handler) warnings(w http.ResponseWriter, r *request) error {
	ctx, p := r.Context(), r.p()
	list, err := h.svc.Domain.WarningAcks(ctx, "")
	if err != nil {
		return err
	}
	ai, err := h.areaIndex(ctx, p)
	if err != nil {
		return err
	}
	names, err := h.userNames(ctx)
	if err != nil {
		return err
	}
	data := map[string]any{"Warnings": list, "Targets": warningTargets(ai), "Levels": warningLevels, "AreaNames": ai.names(),
		"Names": names, "CanIssue": canManage(p.Role),
		"Max": map[string]int{"title": h.fieldMax("warnings", "title"), "body": h.fieldMax("warnings", "body")}}
	h.render(w, r.Request, r.sess, http.StatusOK, "warnings", "预警提示", data)
	return nil
}

// issueWarning: POST /warnings, a station (or the county) issues a warning
// to an area of its own: a new warnings document, pushed as an op like
// every other action, so the phones at and below the target pull it.
func (h *Handler) issueWarning(w http.ResponseWriter, r *request) error {
	ctx, p := r.Context(), r.p()
	if !canManage(p.Role) {
		return server.Errorf(server.EFORBIDDEN, "预警提示由应急消防管理站和县应急管理局发布")
	}
	ai, err := h.areaIndex(ctx, p)
	if err != nil {
		return err
	}
	fail := func(text string) error {
		h.redirect(w, r, "/warnings", &flash{Kind: "error", Text: text})
		return nil
	}
	target := r.PostFormValue("target")
	if _, ok := ai.byID[target]; !ok || target == "" {
		return fail("请选择预警对象（本辖区内的村（社区）或网格）")
	}
	level := r.PostFormValue("level")
	if warningLevelLabel(level) == level {
		return fail("请选择预警级别")
	}
	title := strings.TrimSpace(r.PostFormValue("title"))
	if n := h.fieldMax("warnings", "title"); title == "" || utf8.RuneCountInString(title) > n {
		return fail("请填写预警标题（不超过 " + strconv.Itoa(n) + " 字）")
	}
	body := strings.TrimSpace(r.PostFormValue("body"))
	if n := h.fieldMax("warnings", "body"); utf8.RuneCountInString(body) > n {
		return fail("预警内容不能超过 " + strconv.Itoa(n) + " 字")
	}
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	set := map[string]any{"target": target, "level": level, "title": title, "issued_at": h.now().UnixMilli()}
	if body != "" {
		set["body"] = body
	}
	v, err := h.writer.pushOne(ctx, draft{Collection: "warnings", Doc: id.String(), Set: set})
	if err != nil {
		return err
	}
	h.redirect(w, r, "/warnings", verdictFlash("发布预警“"+title+"”", v))
	return nil
}
