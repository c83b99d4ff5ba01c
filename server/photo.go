package server

import (
	"context"
	"io"
	"math"
	"time"

	"github.com/gridsync/gridsync/internal/imagefmt"
)

// Limits of photo evidence. Each is explicit so a device can check before it
// sends a byte.
const (
	// MaxOpenUploads bounds the open uploads of one user (bytes still
	// arriving). Complete uploads, verified and waiting for the object
	// store, do not count: they are the server's burden, not the device's,
	// and counting them would lock a user out during a long outage.
	MaxOpenUploads = 32
	// MaxOpenUploadBytes bounds the declared bytes of those uploads, so one
	// user cannot fill the server's disk with partial files.
	MaxOpenUploadBytes = 256 << 20
	// UploadTTL is how long an unfinished upload is kept after its last
	// write; then its partial bytes are removed and a HEAD answers 404, and
	// the device starts again (it still has the photo).
	UploadTTL = 7 * 24 * time.Hour
	// UploadStartTTL is how long an upload that never received a byte is
	// kept: a creation whose reply was lost on a 2G link is usually created
	// again (and found again, see PhotoService.CreateUpload) within
	// minutes; one never used should not hold quota for UploadTTL.
	UploadStartTTL = 24 * time.Hour
	// MaxUploadMetadata bounds the tus Upload-Metadata header, kept as sent.
	MaxUploadMetadata = 4 << 10
	// MaxMissingPhotos bounds one answer of PhotoService.Missing.
	MaxMissingPhotos = 1000
)

// Defaults of the capture checks (PhotoChecks).
const (
	DefaultPhotoMaxDistance = 300            // metres between a photo's GPS and its site
	DefaultPhotoTimeWindow  = 24 * time.Hour // between a photo's EXIF time and its record's time
)

// Error codes of photo uploads and downloads, beside those in error.go.
const (
	EHASHMISMATCH = "hash_mismatch"       // the uploaded bytes do not hash to the declared sha256; the upload is discarded
	ECHECKSUM     = "checksum_mismatch"   // a chunk does not match its Upload-Checksum; it is discarded, resend it
	EOFFSET       = "offset_mismatch"     // a chunk's offset is not the upload's; ask for the offset (HEAD) and resume
	EPHOTOTYPE    = "unsupported_photo"   // the content is not a JPEG, PNG, WebP or HEIC/HEIF image
	EMEDIATYPE    = "unsupported_media"   // the request's Content-Type is not the one the route takes
	EQUOTA        = "quota_exceeded"      // too many unfinished uploads; finish or terminate some
	ELOCKED       = "upload_locked"       // another request is still working on the upload; retry shortly
	EVERSION      = "unsupported_version" // the tus protocol version is not 1.0.0
	ENOTHUMB      = "no_thumbnail"        // the photo exists but the server cannot make a thumbnail of it (HEIC)
)

// Upload states. An upload is open while bytes arrive; complete once every
// byte is in, the hash verified and the type known, until the object store
// has the photo; stored after that.
const (
	UploadOpen     = "open"
	UploadComplete = "complete"
	UploadStored   = "stored"
)

// NewUpload is what a device declares when it starts an upload.
type NewUpload struct {
	SHA256   string // 64 lowercase hex digits: the photo's content address
	Length   int64  // the photo's size in bytes, 1..syncproto.MaxPhotoSize
	Filename string // optional, for people reading logs
	// Doc is optional "collection/id" of the document the photo belongs to;
	// when given, it must be a document in the caller's area.
	Doc string
	// Metadata is the tus Upload-Metadata header as the device sent it (at
	// most MaxUploadMetadata bytes), answered back unchanged.
	Metadata string
}

// Upload is a resumable upload of one photo by one device.
type Upload struct {
	ID        string    `json:"id"`
	UserID    int64     `json:"user_id"`
	DeviceID  string    `json:"device_id"`
	SHA256    string    `json:"sha256"`
	Length    int64     `json:"length"`
	Offset    int64     `json:"offset"`
	Filename  string    `json:"filename,omitempty"`
	Doc       string    `json:"doc,omitempty"`
	Metadata  string    `json:"metadata,omitempty"`
	State     string    `json:"state"`
	MIME      string    `json:"mime,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Chunk is one PATCH of an upload.
type Chunk struct {
	// Offset is where the device says the bytes start; it must equal the
	// upload's offset.
	Offset int64
	// Size is the body's declared size (Content-Length) when known, more
	// than 0; a chunk that would run past the upload's length is then
	// refused before a byte is read. 0 or less: unknown.
	Size int64
	// Body yields the bytes. If it fails part-way (a dropped connection),
	// the bytes read so far are kept, unless Checksum is set.
	Body io.Reader
	// Checksum, if not nil, is the SHA-256 of the whole chunk: the chunk is
	// kept only if it matches (ECHECKSUM otherwise).
	Checksum []byte
	// Interrupt, if not nil, makes a blocked read of Body fail. It is called
	// when a newer request for the same upload arrives: a device whose
	// connection dropped comes back while the server still waits on the old
	// one.
	Interrupt func()
}

// Photo is a stored photo: its bytes are in the blob store under
// "sha256/<hex>", exactly as uploaded.
type Photo struct {
	SHA256     string    `json:"sha256"`
	Size       int64     `json:"size"`
	MIME       string    `json:"mime"`
	UploadedBy string    `json:"uploaded_by"`
	UploadedAt time.Time `json:"uploaded_at"`
	// TakenAt is the EXIF DateTimeOriginal, nil if the photo has none.
	TakenAt *time.Time `json:"taken_at,omitempty"`
	// GPS is the EXIF position, nil if the photo has none.
	GPS *GeoPoint `json:"gps,omitempty"`
	// Thumb is whether a thumbnail exists ("thumb/<hex>").
	Thumb bool `json:"thumb"`
}

// GeoPoint is a WGS-84 position in degrees (syncproto.TypeGeo).
type GeoPoint struct {
	Lat float64 `json:"lat"`
	Lng float64 `json:"lng"`
}

// Photo flags: reasons the station should look twice at a photo. They are
// hints, never refusals: the photo is kept as uploaded.
const (
	// FlagGPSFar: the photo's GPS is farther than PhotoChecks.MaxDistance
	// from its site's location.
	FlagGPSFar = "gps_far"
	// FlagTimeOff: the photo's EXIF time is more than PhotoChecks.TimeWindow
	// before or after its record's time.
	FlagTimeOff = "time_off"
	// FlagNoGPS: the photo has no GPS position (many phones strip it).
	FlagNoGPS = "no_gps"
	// FlagNoTime: the photo has no EXIF capture time.
	FlagNoTime = "no_time"
)

// PhotoChecks are the thresholds of the capture checks.
type PhotoChecks struct {
	MaxDistance float64       // metres; 0 means DefaultPhotoMaxDistance
	TimeWindow  time.Duration // 0 means DefaultPhotoTimeWindow
}

// DocPhoto is one photo referenced by a document, with what the server
// knows of it.
type DocPhoto struct {
	SHA256 string `json:"sha256"`
	Field  string `json:"field"`
	// Live is false when the photo was removed from the document; it stays
	// readable as evidence.
	Live bool `json:"live"`
	// Present is whether the photo is stored and was uploaded by a user
	// whose area covers the document (see OpenPhoto); Photo is nil
	// otherwise.
	Present bool   `json:"present"`
	Photo   *Photo `json:"photo,omitempty"`
	// Received is whether the server has the verified bytes but the object
	// store did not take them yet (it will, without the device).
	Received bool `json:"received,omitempty"`
	// DistanceM is the distance between the photo's GPS and the site's
	// location, when both are known.
	DistanceM *float64 `json:"distance_m,omitempty"`
	// RecordTime is the time the photo was checked against: the record's
	// own time (checked_at, started_at, at or occurred_at, or its
	// inspection's), else the device time of the op that added the photo.
	RecordTime *time.Time `json:"record_time,omitempty"`
	Flags      []string   `json:"flags"`
}

// DocPhotos lists the photos of one document.
type DocPhotos struct {
	Collection string      `json:"collection"`
	ID         string      `json:"id"`
	Evidence   Evidence    `json:"evidence"`
	Photos     []*DocPhoto `json:"photos"`
}

// Evidence sums up the photos of one document.
type Evidence struct {
	Collection string `json:"collection"`
	DocID      string `json:"doc_id"`
	Photos     int    `json:"photos"`  // live references
	Present    int    `json:"present"` // of those, stored
	Missing    int    `json:"missing"` // of those, not stored yet
	Flagged    int    `json:"flagged"` // of the present ones, with gps_far or time_off
	// Complete is true when the document has at least one live photo and
	// every one of them is stored.
	Complete bool `json:"complete"`
}

// MissingQuery selects missing photos.
type MissingQuery struct {
	// Area lists the missing photos of every document in the caller's
	// area; otherwise only those the caller's device referenced (the ones
	// it should upload).
	Area bool
	// Limit caps the photos (0 or more than MaxMissingPhotos:
	// MaxMissingPhotos).
	Limit int
}

// MissingPhoto is a photo that documents reference and the server does not
// have yet.
type MissingPhoto struct {
	SHA256 string `json:"sha256"`
	// Received is true when the verified bytes are on the server and only
	// the object store is missing them: the device need not send them again.
	Received bool      `json:"received"`
	Refs     []DocRef  `json:"refs"`
	Since    time.Time `json:"since"` // server time of the first reference
}

// DocRef names a document field that references a photo.
type DocRef struct {
	Collection string `json:"collection"`
	DocID      string `json:"doc_id"`
	Field      string `json:"field"`
}

// PhotoService receives, stores and serves photo evidence. Every method takes
// the caller from ctx (PrincipalFrom): EUNAUTHORIZED without one. Uploads
// belong to the user who created them; another user's upload is ENOTFOUND.
type PhotoService interface {
	// CreateUpload starts an upload for the caller's device. It is
	// idempotent: if the caller's device already has an upload of the same
	// sha256 and length (open, complete or stored), that one is returned,
	// so a creation whose reply was lost costs nothing. EINVALID for a
	// malformed hash, length, doc or metadata; EFORBIDDEN for a doc that is
	// not a document in the caller's area (the same answer whether it
	// exists elsewhere or not at all); ETOOLARGE above syncproto.MaxPhotoSize; EQUOTA
	// past MaxOpenUploads or MaxOpenUploadBytes (details.retry_after).
	CreateUpload(ctx context.Context, u NewUpload) (*Upload, error)

	// Upload returns an upload's state. An upload whose bytes are all in is
	// finished first (verified, stored), so the answer is the truth: a
	// returned upload with Offset == Length is stored. Errors: ENOTFOUND;
	// EUNAVAILABLE while the object store is down (the bytes are kept and
	// stored later; details.received, details.retry_after); EHASHMISMATCH or EPHOTOTYPE when the finished bytes are
	// refused (the upload is then gone); ELOCKED if another request holds it
	// too long.
	Upload(ctx context.Context, id string) (*Upload, error)

	// WriteUpload appends a chunk and, when it is the last, finishes the
	// upload like Upload. Errors beyond Upload's: EOFFSET when c.Offset is
	// not the upload's offset (details: "offset"); ECHECKSUM; ETOOLARGE when
	// the body runs past the declared length (the chunk is refused whole:
	// the upload is as before); EPHOTOTYPE as soon as the first bytes show
	// an unsupported type. The returned upload is the new state even when
	// the body broke off (then with the error).
	WriteUpload(ctx context.Context, id string, c Chunk) (*Upload, error)

	// DeleteUpload terminates an upload and removes its partial bytes. A
	// stored photo is never removed. ECONFLICT for a complete upload still
	// waiting for the object store: verified evidence is not thrown away.
	DeleteUpload(ctx context.Context, id string) error

	// Missing lists photos that documents reference and the server has not
	// stored, oldest reference first.
	Missing(ctx context.Context, q MissingQuery) ([]*MissingPhoto, error)

	// DocPhotos lists the photos of a document with presence and flags.
	// ENOTFOUND if the document is absent or outside the caller's area.
	DocPhotos(ctx context.Context, collection, id string) (*DocPhotos, error)

	// Evidence sums up the photos of documents of a collection in the
	// caller's area (ids nil: every document that references a photo).
	// Documents outside the area are left out.
	Evidence(ctx context.Context, collection string, ids []string) ([]*Evidence, error)

	// OpenPhoto opens a stored photo, or its thumbnail, for reading; the
	// caller closes it. The caller may read a photo when a document in its
	// area references it and the photo was uploaded by a user whose area
	// covers that document (knowing a hash is not possessing the photo);
	// otherwise, and when nothing has that hash, ENOTFOUND (the same
	// answer, so hashes reveal nothing). ENOTFOUND also
	// for a referenced photo not uploaded yet; ENOTHUMB when no thumbnail
	// can be made (HEIC); EUNAVAILABLE while the object store is down.
	OpenPhoto(ctx context.Context, sha256 string, thumb bool) (io.ReadCloser, *Photo, error)
}

// SniffLen is how many leading bytes SniffPhoto needs to decide; fewer are
// enough only for a whole photo shorter than that.
const SniffLen = imagefmt.SniffLen

// Photo types the server accepts, by content.
const (
	MIMEJPEG = imagefmt.JPEG
	MIMEPNG  = imagefmt.PNG
	MIMEWebP = imagefmt.WebP
	MIMEHEIC = imagefmt.HEIC
	MIMEHEIF = imagefmt.HEIF
)

// SniffPhoto returns the type of a photo from its first bytes (at least
// SniffLen of them, or the whole photo), or "" for anything else. The rules
// live in internal/imagefmt because the device SDK applies the same ones
// before it queues a photo.
func SniffPhoto(head []byte) string { return imagefmt.Sniff(head) }

// DistanceMeters is the great-circle (haversine) distance between two
// points on a sphere of the Earth's mean radius; within a village the error
// against the WGS-84 ellipsoid is well under a metre.
func DistanceMeters(a, b GeoPoint) float64 {
	const earthRadius = 6371008.8 // metres, IUGG mean radius
	rad := math.Pi / 180
	dLat := (b.Lat - a.Lat) * rad
	dLng := (b.Lng - a.Lng) * rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * earthRadius * math.Asin(math.Sqrt(min(1, h)))
}

// PhotoFlags returns the flags of a photo checked against its site's
// location and its record's time (nil when unknown).
func (c PhotoChecks) PhotoFlags(p *Photo, site *GeoPoint, record *time.Time) (flags []string, distance *float64) {
	maxDist, window := c.MaxDistance, c.TimeWindow
	if maxDist <= 0 {
		maxDist = DefaultPhotoMaxDistance
	}
	if window <= 0 {
		window = DefaultPhotoTimeWindow
	}
	flags = []string{}
	switch {
	case p.GPS == nil:
		flags = append(flags, FlagNoGPS)
	case site != nil:
		d := DistanceMeters(*p.GPS, *site)
		distance = &d
		if d > maxDist {
			flags = append(flags, FlagGPSFar)
		}
	}
	switch {
	case p.TakenAt == nil:
		flags = append(flags, FlagNoTime)
	case record != nil:
		if diff := p.TakenAt.Sub(*record); diff > window || diff < -window {
			flags = append(flags, FlagTimeOff)
		}
	}
	return flags, distance
}
