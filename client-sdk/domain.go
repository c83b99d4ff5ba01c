package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Checklist is a checklist template (检查清单) for one site kind. An
// inspection names the kind and version it used, so a device may keep an
// old version: the server accepts every version it ever published.
type Checklist struct {
	Kind    string          `json:"kind"`
	Version int             `json:"version"`
	Title   string          `json:"title"`
	Items   []ChecklistItem `json:"items"`
}

// ChecklistItem is one line of a checklist.
type ChecklistItem struct {
	Code     string `json:"code"`
	Text     string `json:"text"`
	Severity string `json:"severity"` // major or general: the severity of the hazard a failure is
	Basis    string `json:"basis,omitempty"`
}

// Checklists fetches checklist templates from the server: the latest
// version of each kind (of kind only, if not empty), or every version with
// allVersions. It needs the network; keep the result on the device to
// inspect offline.
func (c *Client) Checklists(ctx context.Context, kind string, allVersions bool) ([]Checklist, error) {
	v := url.Values{}
	if kind != "" {
		v.Set("kind", kind)
	}
	if allVersions {
		v.Set("all", "1")
	}
	var out struct {
		Checklists []Checklist `json:"checklists"`
	}
	err := c.call(ctx, request{method: http.MethodGet, path: "/v1/checklists", query: v, auth: true}, func(b []byte) error {
		if err := json.Unmarshal(b, &out); err != nil {
			return fmt.Errorf("decode checklists: %w", err)
		}
		return nil
	})
	return out.Checklists, err
}

// Task is a site the user's grid must check, with where it stands in its
// check window (the server computes it from the site's risk level, the
// county's policy and the latest check).
type Task struct {
	SiteID       string     `json:"site_id"`
	SiteName     string     `json:"site_name"`
	Kind         string     `json:"kind"`
	RiskLevel    string     `json:"risk_level"`
	AreaID       string     `json:"area_id"`
	IntervalDays int        `json:"interval_days"`
	Status       string     `json:"status"` // ok, due, overdue or never
	LastChecked  *time.Time `json:"last_checked_at"`
	AgeDays      int        `json:"age_days"`
	DueAt        *time.Time `json:"due_at"` // overdue from then on; nil if never checked
}

// Tasks fetches the task list of the user's area (or of area, inside it),
// most urgent first; statuses filters it (none: all). It needs the
// network; a device keeps the list and its DueAt times to work offline.
func (c *Client) Tasks(ctx context.Context, area string, statuses ...string) ([]Task, error) {
	v := url.Values{}
	if area != "" {
		v.Set("area", area)
	}
	if len(statuses) > 0 {
		v.Set("status", strings.Join(statuses, ","))
	}
	var out struct {
		Tasks []Task `json:"tasks"`
	}
	err := c.call(ctx, request{method: http.MethodGet, path: "/v1/tasks", query: v, auth: true}, func(b []byte) error {
		if err := json.Unmarshal(b, &out); err != nil {
			return fmt.Errorf("decode tasks: %w", err)
		}
		return nil
	})
	return out.Tasks, err
}
