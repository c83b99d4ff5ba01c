package web

import (
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gridsync/gridsync/server"
)

// devices: GET /devices, 设备: each device's last sync, outbox report and
// rejected operations, with the lost-phone switch.
func (h *Handler) devices(w http.ResponseWriter, r *request) error {
	ctx, p := r.Context(), r.p()
	list, err := h.svc.Sync.Devices(ctx)
	if err != nil {
		return err
	}
	rejected, err := h.svc.Sync.Rejected(ctx, server.RejectedFilter{Device: r.URL.Query().Get("device"), Limit: 100})
	if err != nil {
		return err
	}
	type row struct {
		D        *server.DeviceStatus
		Kind     string
		Stale    bool
		Backlog  time.Duration
		Self     bool
		SyncedAt time.Time
	}
	now := h.now()
	var rows []row
	for _, d := range list {
		x := row{D: d, Kind: "手机", Self: d.ID == p.DeviceID, Backlog: time.Duration(d.OutboxOldestMS) * time.Millisecond}
		switch {
		case strings.HasPrefix(d.ID, "web-"):
			x.Kind = "浏览器"
		case strings.HasPrefix(d.ID, "import-"):
			x.Kind = "导入"
		}
		if d.LastSyncAt != nil {
			x.SyncedAt = *d.LastSyncAt
			x.Stale = now.Sub(*d.LastSyncAt) > StaleDeviceAfter
		}
		rows = append(rows, x)
	}
	data := map[string]any{"Devices": rows, "Rejected": rejected, "Device": r.URL.Query().Get("device"),
		"CanRevoke": canManage(p.Role), "Now": now}
	h.render(w, r.Request, r.sess, http.StatusOK, "devices", "设备", data)
	return nil
}

// revokeDevice: POST /devices/{id}/revoke (lost phone).
func (h *Handler) revokeDevice(w http.ResponseWriter, r *request) error {
	id := r.PathValue("id")
	if id == r.p().DeviceID {
		h.redirect(w, r, "/devices", &flash{Kind: "error", Text: "不能停用当前正在使用的浏览器，请使用“退出”。"})
		return nil
	}
	if err := h.svc.Auth.RevokeDevice(r.Context(), id); err != nil {
		return err
	}
	h.redirect(w, r, "/devices", &flash{Kind: "ok", Text: "设备 " + id + " 已停用：它的登录立即失效，未同步的数据需在新设备上重新录入或找回旧手机后重新登录同步。"})
	return nil
}

// photo: GET /photos/{sha} and /photos/{sha}/thumb, through the photo
// service, which serves a photo by the same rule as the blob API (a
// document in the caller's area references it, and someone of that area
// uploaded it); the thumbnail falls back to the photo when none can be
// made (HEIC).
func (h *Handler) photo(w http.ResponseWriter, r *request) error {
	sha := r.PathValue("sha")
	thumb := strings.HasSuffix(r.URL.Path, "/thumb")
	rc, ph, err := h.svc.Photos.OpenPhoto(r.Context(), sha, thumb)
	if thumb && server.ErrorCode(err) == server.ENOTHUMB {
		rc, ph, err = h.svc.Photos.OpenPhoto(r.Context(), sha, false)
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	hdr := w.Header()
	hdr.Set("Content-Type", ph.MIME)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "private, max-age=86400, immutable")
	hdr.Set("ETag", `"`+sha+`"`)
	_, err = io.Copy(w, rc)
	return err
}
