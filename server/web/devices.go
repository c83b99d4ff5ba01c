package web

import (
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/blob"
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

var shaPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// photo: GET /photos/{sha} and /photos/{sha}/thumb. A photo is served only
// if a document in the caller's area references it (the same rule as the
// blob API); the thumbnail falls back to the photo when none was made.
func (h *Handler) photo(w http.ResponseWriter, r *request) error {
	sha := r.PathValue("sha")
	if !shaPattern.MatchString(sha) {
		return server.Errorf(server.ENOTFOUND, "photo not found")
	}
	if err := h.svc.Dashboard.CanReadPhoto(r.Context(), sha); err != nil {
		return err
	}
	if h.svc.Blobs == nil {
		return server.Errorf(server.ENOTFOUND, "photo not uploaded")
	}
	keys := []string{blob.PrefixPhoto + sha}
	if strings.HasSuffix(r.URL.Path, "/thumb") {
		keys = append([]string{blob.PrefixThumb + sha}, keys...)
	}
	for _, key := range keys {
		rc, info, err := h.svc.Blobs.Get(r.Context(), key)
		if errors.Is(err, blob.ErrNotFound) {
			continue
		} else if errors.Is(err, blob.ErrUnavailable) {
			return server.Errorf(server.EUNAVAILABLE, "photo store unavailable")
		} else if err != nil {
			return err
		}
		defer rc.Close()
		ct := info.ContentType
		if !strings.HasPrefix(ct, "image/") {
			ct = "application/octet-stream" // never let stored bytes be rendered as a page
		}
		hdr := w.Header()
		hdr.Set("Content-Type", ct)
		hdr.Set("Cache-Control", "private, max-age=86400, immutable")
		hdr.Set("ETag", `"`+sha+`"`)
		_, err = io.Copy(w, rc)
		return err
	}
	return server.Errorf(server.ENOTFOUND, "photo not uploaded")
}
