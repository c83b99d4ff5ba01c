package server

import (
	"context"
	"slices"
	"time"
)

// Role is what a user does; each user has exactly one.
type Role string

// The five roles of the brief.
const (
	RoleGridWorker         Role = "grid_worker"         // 网格员
	RoleVillageOfficer     Role = "village_officer"     // 村(社区)消防安全管理人
	RoleStationStaff       Role = "station_staff"       // 乡镇(街道)应急消防管理站
	RoleEnforcementOfficer Role = "enforcement_officer" // 执法人员
	RoleCountyAdmin        Role = "county_admin"        // 县应急管理局 / 消防救援大队
)

// Roles lists every role, in the order of the brief.
var Roles = []Role{RoleGridWorker, RoleVillageOfficer, RoleStationStaff, RoleEnforcementOfficer, RoleCountyAdmin}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// User is a person with one role bound to one area.
type User struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Phone    string `json:"phone,omitempty"`
	Role     Role   `json:"role"`
	AreaID   string `json:"area_id"`
	AreaPath string `json:"area_path"`
	Disabled bool   `json:"disabled,omitempty"`
}

// NewUser is what an import or an admin supplies to create a user.
type NewUser struct {
	Username string
	Name     string
	Phone    string
	Role     Role
	AreaID   string
	Password string
}

// Device is one app installation of one user.
type Device struct {
	ID          string     `json:"id"`
	UserID      int64      `json:"user_id"`
	CreatedAt   time.Time  `json:"created_at"`
	LastLoginAt time.Time  `json:"last_login_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// Principal is the authenticated caller of a request, taken from a verified
// access token. Handlers read it from the context (PrincipalFrom) and check
// every read and write against Role and AreaPath.
type Principal struct {
	UserID   int64
	Username string
	Role     Role
	AreaID   string
	AreaPath string
	DeviceID string
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller in ctx, or nil when unauthenticated.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
