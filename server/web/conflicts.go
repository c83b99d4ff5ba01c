package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// conflictView is a kept losing value beside the value that won.
type conflictView struct {
	C               *server.Conflict
	Title           string // the document's name, for the reader
	Link            string
	Winner, Loser   string
	WinnerAt        time.Time
	LoserAt         time.Time
	WinnerBy        string
	LoserBy         string
	CurrentIsWinner bool
}

// conflictInbox: GET /conflicts, 冲突处理. Everyone sees the conflicts of
// their area; only station staff and the county get the buttons.
func (h *Handler) conflictInbox(w http.ResponseWriter, r *request) error {
	ctx := r.Context()
	all := r.URL.Query().Get("all") == "1"
	list, err := h.svc.Sync.Conflicts(ctx, server.ConflictFilter{OpenOnly: !all, Limit: 200})
	if err != nil {
		return err
	}
	devices, err := h.svc.Sync.Devices(ctx)
	if err != nil {
		return err
	}
	owner := map[string]string{}
	for _, d := range devices {
		owner[d.ID] = d.Username
	}
	var out []conflictView
	for _, c := range list {
		v := conflictView{C: c, Title: c.DocID, Winner: valueText(c.Field, c.Winner.Value), Loser: valueText(c.Field, c.Loser.Value),
			WinnerAt: time.UnixMilli(c.Winner.Stamp.HLC.Wall), LoserAt: time.UnixMilli(c.Loser.Stamp.HLC.Wall),
			WinnerBy: who(owner, c.Winner.Stamp.Device), LoserBy: who(owner, c.Loser.Stamp.Device)}
		if d, err := h.svc.Dashboard.Doc(ctx, c.Collection, c.DocID); err == nil {
			v.Title = docTitle(d.State)
			if cur, ok := d.State.Fields[c.Field]; ok {
				v.CurrentIsWinner = cur.Stamp == c.Winner.Stamp
			}
		}
		if c.Collection == "hazards" {
			v.Link = "/hazards/" + c.DocID
		}
		out = append(out, v)
	}
	h.render(w, r.Request, r.sess, http.StatusOK, "conflicts", "冲突处理", map[string]any{"Conflicts": out, "All": all, "CanResolve": canManage(r.p().Role)})
	return nil
}

func who(owner map[string]string, device string) string {
	if u, ok := owner[device]; ok {
		return u + "（" + device + "）"
	}
	return device
}

func docTitle(s syncproto.DocState) string {
	for _, f := range []string{"title", "name"} {
		if t := strField(s, f); t != "" {
			return t
		}
	}
	return s.ID
}

// resolveConflict: POST /conflicts/{id}/resolve with choice=winner|loser.
// The chosen value is written as a new operation whose Base is the
// winner's stamp (the value the station saw), then the conflict is marked
// resolved. Only station staff and the county decide (排改分离): a grid
// worker may write the field, but not settle another person's edit.
func (h *Handler) resolveConflict(w http.ResponseWriter, r *request) error {
	if !canManage(r.p().Role) {
		return server.Errorf(server.EFORBIDDEN, "冲突由应急消防管理站和县应急管理局处理")
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return server.Errorf(server.ENOTFOUND, "没有这条冲突")
	}
	ctx := r.Context()
	c, err := h.svc.Dashboard.Conflict(ctx, id)
	if err != nil {
		return err
	}
	if c.Resolved {
		h.redirect(w, r, "/conflicts", &flash{Kind: "error", Text: "这条冲突已经处理过了。"})
		return nil
	}
	var chosen syncproto.Reg
	switch r.PostFormValue("choice") {
	case "winner":
		chosen = c.Winner
	case "loser":
		chosen = c.Loser
	default:
		return server.Errorf(server.EINVALID, "请选择保留哪一个值")
	}
	var value any = json.RawMessage(chosen.Value)
	if len(chosen.Value) == 0 {
		value = nil
	}
	d := draft{Collection: c.Collection, Doc: c.DocID, Set: map[string]any{c.Field: value},
		Base: map[string]syncproto.Stamp{c.Field: c.Winner.Stamp}, Seen: []syncproto.HLC{c.Winner.Stamp.HLC, c.Loser.Stamp.HLC}}
	v, err := h.writer.pushOne(ctx, d)
	if err != nil {
		return err
	}
	if v.Status == syncproto.StatusAccepted {
		if err := h.svc.Dashboard.ResolveConflict(ctx, id); err != nil && server.ErrorCode(err) != server.ECONFLICT {
			return err
		}
	}
	h.redirect(w, r, "/conflicts", verdictFlash("冲突处理（"+fieldLabel(c.Field)+"："+valueText(c.Field, chosen.Value)+"）", v))
	return nil
}
