package sqlite

import (
	"context"

	"github.com/gridsync/gridsync/syncproto"
)

// siteRule keeps sites.sub_kind (which of the nine small places, 九小场所)
// to nine_small sites: a sub_kind on another kind is CodeInvalidValue, and
// a nine small place that has one keeps one (changing it is fine, clearing
// it is not, unless the site stops being a nine small place in the same
// op). A nine_small site registered without one is accepted: app versions
// and imports that do not ask for it yet keep working, and the task list
// shows the site without a sub_kind for the station to complete.
type siteRule struct{}

var _ Rule = siteRule{}

// Check implements Rule.
func (siteRule) Check(_ context.Context, _ *Tx, in *RuleInput) (string, string, error) {
	if !in.Creates() && !in.Sets("kind", "sub_kind") {
		return "", "", nil
	}
	kind, sub := strValue(in.Next, "kind"), strValue(in.Next, "sub_kind")
	switch {
	case sub != "" && kind != syncproto.SiteNineSmall:
		return syncproto.CodeInvalidValue, "sub_kind says which of the nine small places (九小场所) a nine_small site is; this site is " + kind, nil
	case sub == "" && kind == syncproto.SiteNineSmall && in.Current != nil && strValue(in.Current, "sub_kind") != "":
		return syncproto.CodeInvalidValue, "a nine small place (九小场所) keeps its sub_kind: change it, do not clear it", nil
	}
	return "", "", nil
}
