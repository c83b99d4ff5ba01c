package server

import (
	"context"
	"time"

	"github.com/gridsync/gridsync/syncproto"
)

// DashboardService is what the station dashboard (server/web) reads beyond
// the sync service: merged documents with their server times, the history
// of a document, photo references, web sessions. Every method takes the
// caller from ctx (PrincipalFrom) and sees only the caller's area; a
// document outside it is ENOTFOUND, exactly like a missing one.
type DashboardService interface {
	// Docs lists the live (not deleted) documents of a collection in the
	// caller's area, or in q.AreaPath if that is inside it.
	Docs(ctx context.Context, q DocQuery) ([]*DocRow, error)
	// Doc returns one live document; ENOTFOUND if absent or outside the
	// caller's area.
	Doc(ctx context.Context, collection, id string) (*DocRow, error)
	// Timeline returns the accepted operations on documents of a
	// collection in the caller's area, oldest first: those of one
	// document when q.DocID is set, else those received in [q.From, q.To).
	Timeline(ctx context.Context, q TimelineQuery) ([]*TimelineEntry, error)
	// Photos lists the photo references of documents of a collection in
	// the caller's area (docIDs nil: all of them), with whether each photo
	// has arrived (stored, and vouched for as PhotoService reads photos).
	Photos(ctx context.Context, collection string, docIDs []string) ([]*PhotoRef, error)
	// Conflict returns one conflict of the caller's area; ENOTFOUND if
	// absent or outside it.
	Conflict(ctx context.Context, id int64) (*Conflict, error)
	// ResolveConflict marks a conflict resolved by the caller; ENOTFOUND
	// outside the area, ECONFLICT if it was resolved already.
	ResolveConflict(ctx context.Context, id int64) error
	// Users lists the users of the caller's area.
	Users(ctx context.Context) ([]*User, error)
	// DeviceLastSeq is the highest op counter the server holds for one of
	// the caller's own devices (the next op of the device is that + 1).
	DeviceLastSeq(ctx context.Context, deviceID string) (uint64, error)
	// ServerClock is the server's last persisted hybrid logical clock.
	ServerClock(ctx context.Context) (syncproto.HLC, error)
}

// DocQuery selects documents for the dashboard.
type DocQuery struct {
	Collection string
	// AreaPath narrows the result to an area below the caller's ("" = the
	// caller's whole area). A path outside the caller's area selects nothing.
	AreaPath string
	// AfterSeq keeps documents created after this server seq (0 = all).
	AfterSeq int64
	// Limit caps the rows (0 = MaxDashboardDocs).
	Limit int
	// OldestFirst orders by creation ascending instead of newest first, so
	// a caller paging forward from AfterSeq gets the next Limit documents
	// and misses none.
	OldestFirst bool
}

// MaxDashboardDocs bounds one Docs call: the dashboard filters and counts a
// township's documents in memory, which stays fast well beyond this.
const MaxDashboardDocs = 20000

// DocRow is a merged document with what the server knows about it.
type DocRow struct {
	State      syncproto.DocState
	AreaID     string
	AreaPath   string
	CreatedSeq int64
	UpdatedSeq int64
	CreatedAt  time.Time // server time of the creating op
	UpdatedAt  time.Time // server time of the latest op
	CreatedBy  string    // username of the creating op's author
}

// TimelineQuery selects operations for Timeline.
type TimelineQuery struct {
	Collection string
	DocID      string
	From, To   time.Time // by server receive time; zero = unbounded
}

// TimelineEntry is one accepted operation as the audit trail shows it.
type TimelineEntry struct {
	Seq        int64
	Username   string
	Name       string // the user's display name
	Role       Role
	Op         syncproto.Op
	DeviceHLC  string    // the device's own stamp when the server re-stamped the op
	ReceivedAt time.Time // server time
}

// PhotoRef is one photo referenced by a document field.
type PhotoRef struct {
	SHA256     string
	Collection string
	DocID      string
	Field      string
	Live       bool // false: removed from the document, kept as evidence
	// Arrived is whether the photo is on the server and readable through
	// this reference (PhotoService.OpenPhoto serves it).
	Arrived  bool
	AddedSeq int64
}

// WebSession is a logged-in browser of the station dashboard.
type WebSession struct {
	Principal *Principal
	Name      string // the user's display name
	CSRF      string // synchronizer token every form must carry
	ExpiresAt time.Time
}

// WebSessions stores dashboard sessions server-side; the browser holds
// only an opaque random id.
type WebSessions interface {
	// CreateWebSession stores a session for the user and device, returning
	// its id (to put in the cookie).
	CreateWebSession(ctx context.Context, userID int64, deviceID string, ttl time.Duration) (id string, err error)
	// WebSession returns the live session with this id; EUNAUTHORIZED if
	// unknown, expired, the device revoked or the user disabled.
	WebSession(ctx context.Context, id string) (*WebSession, error)
	// DeleteWebSession removes a session (logout); unknown ids are ignored.
	DeleteWebSession(ctx context.Context, id string) error
}
