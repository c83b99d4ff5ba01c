package server

import (
	"context"
	"encoding/json"

	"github.com/gridsync/gridsync/syncproto"
)

// Dataset is the import format of a county: its area tree, users, checklist
// templates, policy and sites. The demo county in fixtures/ is one; a real
// county's initial load uses the same format and the same code path.
type Dataset struct {
	Format     int                   `json:"format"`
	Areas      []Area                `json:"areas"`
	Users      []DatasetUser         `json:"users"`
	Checklists []syncproto.Checklist `json:"checklists"`
	Sites      []json.RawMessage     `json:"sites"`
	Policy     json.RawMessage       `json:"policy"`
}

// DatasetUser is a user line of a Dataset.
type DatasetUser struct {
	Username string `json:"username"`
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	Area     string `json:"area"`
	Phone    string `json:"phone"`
	Password string `json:"password"`
}

// ImportReport says what an import wrote. Resumed: it finished an
// interrupted import of the same data set (only sites were written).
type ImportReport struct {
	Areas, Users, Checklists, Sites int
	Resumed                         bool
}

// ImportService loads a Dataset.
type ImportService interface {
	// Import checks the whole dataset first: on any invalid line (policy
	// included) nothing is written and the EINVALID error names it. It then
	// writes areas, users, checklists and policy in one transaction and the
	// sites after them; an import interrupted in between is finished by
	// importing the same dataset again. A county already imported, or
	// rows that exist, are ECONFLICT.
	Import(ctx context.Context, d *Dataset) (*ImportReport, error)
}
