package web

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

func TestEvidenceIncomplete(t *testing.T) {
	rank := func(stage string) int { return slices.Index(hazardStages, stage) }
	for _, tc := range []struct {
		name                      string
		stage                     string
		photos, evidence, missing int
		want                      bool
	}{
		{"ReportedWithPhoto", syncproto.StageReported, 1, 0, 0, false},
		{"ReportedWithoutPhoto", syncproto.StageReported, 0, 0, 0, true},
		{"PhotoNotUploaded", syncproto.StageDispatched, 1, 0, 1, true},
		{"RectifyingNeedsNoEvidenceYet", syncproto.StageRectifying, 1, 0, 0, false},
		{"SubmittedWithoutEvidence", syncproto.StageSubmitted, 1, 0, 0, true},
		{"SubmittedWithEvidence", syncproto.StageSubmitted, 1, 1, 0, false},
		{"SubmittedEvidenceNotUploaded", syncproto.StageSubmitted, 1, 1, 1, true},
		{"VerifiedWithoutEvidence", syncproto.StageVerified, 1, 0, 0, true},
		{"ClosedComplete", syncproto.StageClosed, 2, 1, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &hazardView{Stage: tc.stage, Rank: rank(tc.stage), Photos: tc.photos, Evidence: tc.evidence, Missing: tc.missing}
			if got := evidenceIncomplete(v); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNewHazardViewCountsBothPhotoSets(t *testing.T) {
	ai := &areaIndex{byID: map[string]*server.Area{}}
	d := &server.DocRow{State: syncproto.DocState{ID: "hz-1", Flows: map[string]syncproto.FlowReg{
		"status": {Stage: syncproto.StageSubmitted, Rank: 3, Round: 1}}}}
	refs := []*server.PhotoRef{
		{SHA256: "a", DocID: "hz-1", Field: "photos", Live: true, Arrived: true},
		{SHA256: "b", DocID: "hz-1", Field: "evidence", Live: true, Arrived: false},
		{SHA256: "c", DocID: "hz-1", Field: "evidence", Live: false, Arrived: false},
	}
	v := newHazardView(d, nil, ai, refs, map[string]*server.OverdueHazard{"hz-1": {ID: "hz-1", OverdueDays: 4}})
	if v.Photos != 1 || v.Evidence != 1 || v.Missing != 1 || !v.EvidenceIncomplete {
		t.Fatalf("got photos %d, evidence %d, missing %d, incomplete %v; want 1, 1, 1 (the removed one not counted), true",
			v.Photos, v.Evidence, v.Missing, v.EvidenceIncomplete)
	}
	if !v.Overdue || v.OverdueDays != 4 {
		t.Fatalf("got overdue %v %d, want the domain's 4 days", v.Overdue, v.OverdueDays)
	}
}

func TestPhotoFlags(t *testing.T) {
	far := 349.6
	got := photoFlags(&server.DocPhoto{Flags: []string{server.FlagGPSFar, server.FlagTimeOff, server.FlagNoGPS, server.FlagNoTime}, DistanceM: &far})
	want := []photoFlag{{"距场所 350 米", true}, {"拍摄时间异常", true}, {"无定位", false}, {"无拍摄时间", false}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := photoFlags(&server.DocPhoto{Flags: []string{server.FlagGPSFar}}); !slices.Equal(got, []photoFlag{{"远离场所", true}}) {
		t.Fatalf("without a distance: got %v", got)
	}
	if got := photoFlags(&server.DocPhoto{Flags: []string{}}); len(got) != 0 {
		t.Fatalf("no flags: got %v", got)
	}
}

func TestInspectionTime(t *testing.T) {
	arrived := time.Date(2025, 6, 3, 10, 0, 0, 0, cst)
	at := func(days int) int64 { return arrived.AddDate(0, 0, days).UnixMilli() }
	doc := func(fields map[string]int64) *server.DocRow {
		s := syncproto.DocState{ID: "i", Fields: map[string]syncproto.Reg{}}
		for f, ms := range fields {
			s.Fields[f] = syncproto.Reg{Value: []byte(fmt.Sprint(ms))}
		}
		return &server.DocRow{State: s, CreatedAt: arrived, UpdatedAt: arrived}
	}
	for _, tc := range []struct {
		name   string
		fields map[string]int64
		want   time.Time
	}{
		{"FinishedFirst", map[string]int64{"finished_at": at(-3), "checked_at": at(-5), "started_at": at(-4)}, arrived.AddDate(0, 0, -3)},
		{"LegacyCheckedAt", map[string]int64{"checked_at": at(-5), "started_at": at(-4)}, arrived.AddDate(0, 0, -5)},
		{"StartedOnly", map[string]int64{"started_at": at(-40)}, arrived.AddDate(0, 0, -40)},
		{"NoneIsArrival", map[string]int64{}, arrived},
		{"FutureClockCapped", map[string]int64{"finished_at": at(2)}, arrived},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := inspectionTime(doc(tc.fields)); !got.Equal(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestShowIncident(t *testing.T) {
	now := time.Date(2025, 6, 3, 10, 0, 0, 0, cst)
	for _, tc := range []struct {
		name string
		age  time.Duration
		late bool
		want bool
	}{
		{"RecentOnTime", 2 * time.Hour, false, true},
		{"RecentLate", 2 * time.Hour, true, true},
		{"OldOnTime", 25 * time.Hour, false, false},
		{"OldLate", 10 * 24 * time.Hour, true, true},
		{"LateBeyondWindow", LateIncidentWindow + time.Hour, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &server.Incident{ReceivedAt: now.Add(-tc.age), Late: tc.late}
			if got := showIncident(in, now); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHazardFilterSince(t *testing.T) {
	now := time.Date(2025, 6, 3, 10, 0, 0, 0, cst)
	ai := &areaIndex{byID: map[string]*server.Area{}}
	v := func(age time.Duration) *hazardView {
		return &hazardView{Stage: syncproto.StageReported, ReportedAt: now.Add(-age), Site: &siteView{}, Row: &server.DocRow{AreaPath: "/c/t/"}}
	}
	f := hazardFilter{Since: "24h"}
	if !f.keep(v(23*time.Hour), ai, now) || f.keep(v(25*time.Hour), ai, now) {
		t.Fatal("since=24h: want hazards of the last 24 hours only")
	}
	if f := (hazardFilter{Since: "7d"}); !f.keep(v(6*24*time.Hour), ai, now) || f.keep(v(8*24*time.Hour), ai, now) {
		t.Fatal("since=7d: want hazards of the last 7 days only")
	}
	if f := (hazardFilter{}); !f.keep(v(400*24*time.Hour), ai, now) {
		t.Fatal("no since: want every hazard")
	}
	if q := (hazardFilter{Since: "24h", Status: "all"}).query(1); q != "since=24h&status=all" {
		t.Fatalf("query %q", q)
	}
}

func TestDeviceLockBounded(t *testing.T) {
	w := newOpWriter(nil, nil, time.Now)
	locks := map[any]bool{}
	for i := range 10 * deviceLockStripes {
		id := fmt.Sprintf("web-%024x", i)
		l := w.deviceLock(id)
		if w.deviceLock(id) != l {
			t.Fatalf("device %s got two locks", id)
		}
		locks[l] = true
	}
	if len(locks) > deviceLockStripes {
		t.Fatalf("%d locks for %d devices, want at most %d", len(locks), 10*deviceLockStripes, deviceLockStripes)
	}
}

func TestFmtOffset(t *testing.T) {
	for _, tc := range []struct {
		ms   int64
		want string
	}{
		{0, "准确"}, {-2, "准确"}, {999, "准确"}, {30_000, "快 30 秒"}, {-3_600_000, "慢 1 小时"},
		{5_400_000, "快 1 小时 30 分钟"}, {-600_000, "慢 10 分钟"}, {-3 * 86_400_000, "慢 3 天"},
	} {
		if got := fmtOffset(tc.ms); got != tc.want {
			t.Errorf("fmtOffset(%d) = %q, want %q", tc.ms, got, tc.want)
		}
	}
}
