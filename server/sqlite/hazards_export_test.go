package sqlite

import "testing"

// SetPolicy stores the policy of an area, as an admin would (tests only).
func SetPolicy(tb testing.TB, db *DB, areaID, body string) {
	tb.Helper()
	if _, err := db.write.Exec(`INSERT INTO policies (area_id, body, updated_at) VALUES (?, ?, 0)
		ON CONFLICT (area_id) DO UPDATE SET body = excluded.body`, areaID, body); err != nil {
		tb.Fatal(err)
	}
}
