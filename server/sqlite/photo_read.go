package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/blob"
	"github.com/gridsync/gridsync/server/thumb"
	"github.com/gridsync/gridsync/syncproto"
)

// vouched is true for a doc_photos row (alias dp) whose photo is stored and
// was uploaded by a user whose area covers dp's document. A reference alone
// does not make a photo readable: whoever learns a hash could otherwise
// reference it from a document of their own area and download evidence of
// another area. Only possessing the bytes (uploading them) vouches.
const vouched = `EXISTS (SELECT 1 FROM photo_uploaders pu JOIN users vu ON vu.id = pu.user_id JOIN areas va ON va.id = vu.area_id
	WHERE pu.sha256 = dp.sha256 AND substr(dp.area_path, 1, length(va.path)) = va.path)`

// receivedFor is true for a doc_photos row (alias dp) whose bytes wait on
// the server for the blob store, uploaded by a user who will vouch for it.
const receivedFor = `EXISTS (SELECT 1 FROM uploads up JOIN users vu ON vu.id = up.user_id JOIN areas va ON va.id = vu.area_id
	WHERE up.sha256 = dp.sha256 AND up.state = 'complete' AND substr(dp.area_path, 1, length(va.path)) = va.path)`

// Missing implements server.PhotoService.
func (s *PhotoService) Missing(ctx context.Context, q server.MissingQuery) ([]*server.MissingPhoto, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 || limit > server.MaxMissingPhotos {
		limit = server.MaxMissingPhotos
	}
	// Live references in the caller's area without a stored photo. The
	// device view starts from the device's own ops (an index range), the
	// area view from the area's references.
	const cols = `SELECT dp.sha256, dp.collection, dp.doc_id, dp.field, o.received_at, ` + receivedFor
	const missing = ` AND dp.live = 1 AND dp.area_path LIKE ? ESCAPE '\' AND NOT ` + vouched + `
		ORDER BY dp.added_seq, dp.sha256`
	var rows *sql.Rows
	if q.Area {
		rows, err = s.db.read.QueryContext(ctx, cols+` FROM doc_photos dp JOIN ops o ON o.seq = dp.added_seq WHERE 1`+missing, likePrefix(p.AreaPath))
	} else {
		rows, err = s.db.read.QueryContext(ctx, cols+` FROM ops o JOIN doc_photos dp ON dp.added_seq = o.seq WHERE o.device = ?`+missing,
			p.DeviceID, likePrefix(p.AreaPath))
	}
	if err != nil {
		return nil, fmt.Errorf("missing photos: %w", err)
	}
	defer rows.Close()
	out := []*server.MissingPhoto{}
	bySHA := map[string]*server.MissingPhoto{}
	for rows.Next() {
		var ref server.DocRef
		var sha string
		var since int64
		var received bool
		if err := rows.Scan(&sha, &ref.Collection, &ref.DocID, &ref.Field, &since, &received); err != nil {
			return nil, err
		}
		m, ok := bySHA[sha]
		if !ok {
			if len(out) == limit {
				break
			}
			m = &server.MissingPhoto{SHA256: sha, Received: received, Since: fromMS(since), Refs: []server.DocRef{}}
			bySHA[sha] = m
			out = append(out, m)
		}
		m.Refs = append(m.Refs, ref)
	}
	return out, rows.Err()
}

// DocPhotos implements server.PhotoService.
func (s *PhotoService) DocPhotos(ctx context.Context, collection, id string) (*server.DocPhotos, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	return s.docPhotos(ctx, p, collection, id)
}

func (s *PhotoService) docPhotos(ctx context.Context, p *server.Principal, collection, id string) (*server.DocPhotos, error) {
	var path, state string
	err := s.db.read.QueryRowContext(ctx, `SELECT area_path, state FROM docs WHERE collection = ? AND id = ?`, collection, id).Scan(&path, &state)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !server.Covers(p.AreaPath, path)) {
		return nil, server.Errorf(server.ENOTFOUND, "%.64s/%.64s not found", collection, id)
	} else if err != nil {
		return nil, fmt.Errorf("load doc %s/%s: %w", collection, id, err)
	}
	var doc syncproto.DocState
	if err := json.Unmarshal([]byte(state), &doc); err != nil {
		return nil, fmt.Errorf("decode doc %s/%s: %w", collection, id, err)
	}
	site, recorded, err := s.capturePlace(ctx, doc)
	if err != nil {
		return nil, err
	}

	rows, err := s.db.read.QueryContext(ctx, `SELECT dp.sha256, dp.field, dp.live, COALESCE(o.hlc, ''),
			`+vouched+`, COALESCE(ph.size, 0), COALESCE(ph.mime, ''), COALESCE(u.username, ''), COALESCE(ph.uploaded_at, 0),
			ph.taken_at, ph.lat, ph.lng, COALESCE(ph.thumb, 0), `+receivedFor+`
		FROM doc_photos dp
		LEFT JOIN photos ph ON ph.sha256 = dp.sha256
		LEFT JOIN users u ON u.id = ph.uploader
		LEFT JOIN ops o ON o.seq = dp.added_seq
		WHERE dp.collection = ? AND dp.doc_id = ?
		ORDER BY dp.added_seq, dp.sha256`, collection, id)
	if err != nil {
		return nil, fmt.Errorf("doc photos: %w", err)
	}
	defer rows.Close()
	out := &server.DocPhotos{Collection: collection, ID: id, Photos: []*server.DocPhoto{}}
	for rows.Next() {
		var dp server.DocPhoto
		var hlc string
		var ph server.Photo
		var uploaded int64
		var taken sql.NullInt64
		var lat, lng sql.NullFloat64
		var thumbState int
		if err := rows.Scan(&dp.SHA256, &dp.Field, &dp.Live, &hlc, &dp.Present, &ph.Size, &ph.MIME, &ph.UploadedBy, &uploaded,
			&taken, &lat, &lng, &thumbState, &dp.Received); err != nil {
			return nil, err
		}
		dp.RecordTime = recorded
		if dp.RecordTime == nil {
			if h, err := syncproto.ParseHLC(hlc); err == nil && hlc != "" {
				t := fromMS(h.Wall)
				dp.RecordTime = &t
			}
		}
		dp.Flags = []string{}
		if dp.Present {
			dp.Received = false
			ph.SHA256, ph.UploadedAt, ph.Thumb = dp.SHA256, fromMS(uploaded), thumbState == 1
			if taken.Valid {
				t := fromMS(taken.Int64)
				ph.TakenAt = &t
			}
			if lat.Valid && lng.Valid {
				ph.GPS = &server.GeoPoint{Lat: lat.Float64, Lng: lng.Float64}
			}
			dp.Photo = &ph
			dp.Flags, dp.DistanceM = s.checks.PhotoFlags(&ph, site, dp.RecordTime)
		}
		out.Photos = append(out.Photos, &dp)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out.Evidence = evidence(collection, id, out.Photos)
	return out, nil
}

// evidence sums up a document's photos.
func evidence(collection, id string, photos []*server.DocPhoto) server.Evidence {
	e := server.Evidence{Collection: collection, DocID: id}
	for _, dp := range photos {
		if !dp.Live {
			continue
		}
		e.Photos++
		if !dp.Present {
			e.Missing++
			continue
		}
		e.Present++
		for _, f := range dp.Flags {
			if f == server.FlagGPSFar || f == server.FlagTimeOff {
				e.Flagged++
				break
			}
		}
	}
	e.Complete = e.Photos > 0 && e.Missing == 0
	return e
}

// recordTimeFields are the fields holding when a record was made, in the
// order they are preferred.
var recordTimeFields = []string{"checked_at", "started_at", "at", "occurred_at"}

// capturePlace finds what a document's photos are checked against: the
// location of its site ("site" field, or the site of its "inspection" for a
// checklist item; else its own "location") and the record's time (its own
// time field, else its inspection's; nil: the caller falls back to the time
// of the op that added the photo).
func (s *PhotoService) capturePlace(ctx context.Context, doc syncproto.DocState) (*server.GeoPoint, *time.Time, error) {
	when := firstTime(doc)
	if inspID := refField(doc, "inspection"); refField(doc, "site") == "" && inspID != "" {
		insp, err := loadDoc(ctx, s.db.read, "inspections", inspID)
		if err != nil {
			return nil, nil, err
		}
		if insp != nil {
			if when == nil {
				when = firstTime(insp.state)
			}
			doc = insp.state
		}
	}
	if siteID := refField(doc, "site"); siteID != "" {
		site, err := loadDoc(ctx, s.db.read, "sites", siteID)
		if err != nil {
			return nil, nil, err
		}
		if site != nil {
			if g := geoField(site.state, "location"); g != nil {
				return g, when, nil
			}
		}
	}
	return geoField(doc, "location"), when, nil
}

func refField(doc syncproto.DocState, name string) string {
	raw, ok := doc.Value(name)
	if !ok {
		return ""
	}
	var id string
	json.Unmarshal(raw, &id)
	return id
}

func firstTime(doc syncproto.DocState) *time.Time {
	for _, f := range recordTimeFields {
		if t := timeField(doc, f); t != nil {
			return t
		}
	}
	return nil
}

func geoField(doc syncproto.DocState, name string) *server.GeoPoint {
	raw, ok := doc.Value(name)
	if !ok {
		return nil
	}
	var g server.GeoPoint
	if json.Unmarshal(raw, &g) != nil {
		return nil
	}
	return &g
}

func timeField(doc syncproto.DocState, name string) *time.Time {
	raw, ok := doc.Value(name)
	if !ok {
		return nil
	}
	var v int64
	if json.Unmarshal(raw, &v) != nil || v <= 0 {
		return nil
	}
	t := fromMS(v)
	return &t
}

// Evidence implements server.PhotoService.
func (s *PhotoService) Evidence(ctx context.Context, collection string, ids []string) ([]*server.Evidence, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if ids == nil {
		if ids, err = s.ids(ctx, `SELECT DISTINCT doc_id FROM doc_photos WHERE collection = ? AND area_path LIKE ? ESCAPE '\' ORDER BY doc_id LIMIT ?`,
			collection, likePrefix(p.AreaPath), server.MaxDashboardDocs); err != nil {
			return nil, fmt.Errorf("evidence: %w", err)
		}
	}
	out := []*server.Evidence{}
	for _, id := range ids {
		dp, err := s.docPhotos(ctx, p, collection, id)
		if server.ErrorCode(err) == server.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, &dp.Evidence)
	}
	return out, nil
}

// OpenPhoto implements server.PhotoService.
func (s *PhotoService) OpenPhoto(ctx context.Context, sha string, wantThumb bool) (io.ReadCloser, *server.Photo, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, nil, err
	}
	notFound := server.Errorf(server.ENOTFOUND, "photo not found")
	if !syncproto.ValidSHA256(sha) {
		return nil, nil, notFound
	}
	// Removed references (live = 0) count: evidence once referenced stays
	// readable by the area that referenced it.
	var visible bool
	if err := s.db.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM doc_photos dp WHERE dp.sha256 = ? AND dp.area_path LIKE ? ESCAPE '\' AND `+
		vouched+`)`, sha, likePrefix(p.AreaPath)).Scan(&visible); err != nil {
		return nil, nil, fmt.Errorf("photo access: %w", err)
	}
	if !visible {
		return nil, nil, notFound
	}
	ph, thumbState, err := s.photo(ctx, sha)
	if err != nil {
		return nil, nil, err
	}
	key := blob.PrefixPhoto + sha
	if wantThumb {
		if thumbState == 0 {
			if thumbState, err = s.makeThumb(ctx, sha); err != nil {
				return nil, nil, err
			}
		}
		if thumbState != 1 {
			return nil, nil, server.Errorf(server.ENOTHUMB, "no thumbnail: the server cannot decode this %s photo (HEIC/HEIF needs a codec the server does not have); download the original", ph.MIME)
		}
		key = blob.PrefixThumb + sha
	}
	rc, info, err := s.blobs.Get(ctx, key)
	switch {
	case errors.Is(err, blob.ErrUnavailable):
		return nil, nil, s.unavailable()
	case err != nil:
		return nil, nil, fmt.Errorf("get %s: %w", key, err)
	}
	if wantThumb {
		t := *ph
		t.MIME, t.Size = thumb.ContentType, info.Size
		return rc, &t, nil
	}
	if info.Size != ph.Size {
		rc.Close()
		return nil, nil, fmt.Errorf("get %s: stored size %d, recorded %d", key, info.Size, ph.Size)
	}
	return rc, ph, nil
}

// unavailable is the answer while the blob store is down.
func (s *PhotoService) unavailable() error {
	return &server.Error{Code: server.EUNAVAILABLE, Message: "the photo store is unavailable: retry later",
		Details: map[string]any{"retry_after": s.retryAfter()}}
}

// photo loads a stored photo's row; ENOTFOUND if it has not arrived.
func (s *PhotoService) photo(ctx context.Context, sha string) (*server.Photo, int, error) {
	var ph server.Photo
	var uploaded int64
	var taken sql.NullInt64
	var lat, lng sql.NullFloat64
	var thumbState int
	err := s.db.read.QueryRowContext(ctx, `SELECT ph.size, ph.mime, COALESCE(u.username, ''), ph.uploaded_at, ph.taken_at, ph.lat, ph.lng, ph.thumb
		FROM photos ph LEFT JOIN users u ON u.id = ph.uploader WHERE ph.sha256 = ?`, sha).
		Scan(&ph.Size, &ph.MIME, &ph.UploadedBy, &uploaded, &taken, &lat, &lng, &thumbState)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, server.Errorf(server.ENOTFOUND, "photo %s is referenced but not uploaded yet", sha)
	} else if err != nil {
		return nil, 0, fmt.Errorf("load photo: %w", err)
	}
	ph.SHA256, ph.UploadedAt, ph.Thumb = sha, fromMS(uploaded), thumbState == 1
	if taken.Valid {
		t := fromMS(taken.Int64)
		ph.TakenAt = &t
	}
	if lat.Valid && lng.Valid {
		ph.GPS = &server.GeoPoint{Lat: lat.Float64, Lng: lng.Float64}
	}
	return &ph, thumbState, nil
}

// makeThumb makes a photo's thumbnail once: under the photo's lock, and
// only while the photos row says none was made. It returns the new thumb
// state: 1 made, -1 cannot be made.
func (s *PhotoService) makeThumb(ctx context.Context, sha string) (int, error) {
	release, err := s.acquire(ctx, blob.PrefixThumb+sha, nil)
	if err != nil {
		return 0, err
	}
	defer release()
	var state, orientation int
	var mime string
	if err := s.db.read.QueryRowContext(ctx, `SELECT thumb, orientation, mime FROM photos WHERE sha256 = ?`, sha).
		Scan(&state, &orientation, &mime); err != nil {
		return 0, fmt.Errorf("load photo: %w", err)
	}
	if state != 0 {
		return state, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	state = -1
	if mime != server.MIMEHEIC && mime != server.MIMEHEIF {
		rc, _, err := s.blobs.Get(ctx, blob.PrefixPhoto+sha)
		if errors.Is(err, blob.ErrUnavailable) {
			return 0, s.unavailable()
		} else if err != nil {
			return 0, fmt.Errorf("get photo: %w", err)
		}
		b, err := thumb.Make(rc, orientation)
		rc.Close()
		switch {
		case err == nil:
			if err := s.blobs.Put(ctx, blob.PrefixThumb+sha, bytes.NewReader(b), int64(len(b)), thumb.ContentType); errors.Is(err, blob.ErrUnavailable) {
				return 0, s.unavailable()
			} else if err != nil {
				return 0, fmt.Errorf("put thumbnail: %w", err)
			}
			state = 1
		case errors.Is(err, blob.ErrUnavailable):
			return 0, s.unavailable()
		default:
			// A photo that passed the type check but does not decode is
			// still evidence; it just has no preview.
			s.log.Info("no thumbnail for photo", slog.String("sha256", sha), slog.Any("err", err))
		}
	}
	tx, err := s.db.beginTx(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE photos SET thumb = ? WHERE sha256 = ?`, state, sha); err != nil {
		return 0, fmt.Errorf("record thumbnail: %w", err)
	}
	return state, tx.Commit()
}
