package server

import (
	"context"
	"slices"
	"strings"
)

// Area levels, from the top of the administrative tree down.
const (
	LevelCounty   = "county"   // 县/区
	LevelTownship = "township" // 乡镇/街道
	LevelVillage  = "village"  // 村/社区
	LevelGrid     = "grid"     // 网格
)

// Levels lists the levels from the top down; a child is exactly one below.
var Levels = []string{LevelCounty, LevelTownship, LevelVillage, LevelGrid}

// ValidLevel reports whether level is one of Levels.
func ValidLevel(level string) bool { return slices.Contains(Levels, level) }

// ChildLevel returns the level directly below level, or "" for a grid or an
// unknown level.
func ChildLevel(level string) string {
	for i, l := range Levels[:len(Levels)-1] {
		if l == level {
			return Levels[i+1]
		}
	}
	return ""
}

// Area is a node of the county → township → village → grid tree.
type Area struct {
	ID     string `json:"id"`
	Parent string `json:"parent,omitempty"`
	Level  string `json:"level"`
	Name   string `json:"name"`
	// Path is "/"+ids from the county down+"/", e.g. "/330399/330399101/".
	Path string `json:"path"`
}

// AreaPath builds the path of a child of parentPath with the given id.
func AreaPath(parentPath, id string) string {
	if parentPath == "" {
		parentPath = "/"
	}
	return parentPath + id + "/"
}

// Covers reports whether the area at path a contains the area at path b
// (an area covers itself). Every read and write is checked with it.
func Covers(a, b string) bool { return a != "" && strings.HasPrefix(b, a) }

// AreaService reads the area tree.
type AreaService interface {
	// Area returns one area; ENOTFOUND if absent.
	Area(ctx context.Context, id string) (*Area, error)
	// Subtree returns the area and every area below it, parents first.
	Subtree(ctx context.Context, id string) ([]*Area, error)
}

// ValidAreaID reports whether id is 1–64 characters of [A-Za-z0-9_-]; the
// path separator "/" is thereby never part of an id.
func ValidAreaID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
