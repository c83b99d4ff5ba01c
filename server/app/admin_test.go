package app_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridsync/gridsync/fixtures"
	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/app"
	"github.com/gridsync/gridsync/server/app/apptest"
)

// admin runs `gridsyncd ARGS -data DIR` as the operator would, next to the
// running server, with stdin, and returns its output.
func admin(tb testing.TB, dir, stdin string, args ...string) (string, error) {
	tb.Helper()
	m := app.NewMain()
	var out bytes.Buffer
	m.Stdout, m.Stdin = &out, strings.NewReader(stdin)
	m.Getenv = func(name string) string {
		if name == "GRIDSYNC_DATA" {
			return dir
		}
		return ""
	}
	if err := m.ParseFlags(args); err != nil {
		return "", err
	}
	err := m.Run(context.Background())
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	return out.String(), err
}

func mustAdmin(tb testing.TB, dir, stdin string, args ...string) string {
	tb.Helper()
	out, err := admin(tb, dir, stdin, args...)
	if err != nil {
		tb.Fatalf("gridsyncd %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func loginStatus(tb testing.TB, base, user, pw, device string) (int, session) {
	tb.Helper()
	var s session
	resp := call(tb, "POST", base+"/v1/auth/login", "", map[string]string{"username": user, "password": pw, "device_id": device}, &s)
	return resp.StatusCode, s
}

// TestAdminCommands runs the operator's user and device subcommands
// against the data folder of a running server and checks their effect
// over HTTP.
func TestAdminCommands(t *testing.T) {
	srv := apptest.Start(t)
	base, dir := srv.URL(), srv.DataDir()

	t.Run("UserAddPasswordFromStdin", func(t *testing.T) {
		out := mustAdmin(t, dir, "station-pass-1\n", "user", "add", "-username", "station-1-b", "-name", "何文斌", "-role", "station_staff", "-area", "330399101")
		if !strings.Contains(out, "station-1-b") {
			t.Fatalf("got output %q", out)
		}
		if status, s := loginStatus(t, base, "station-1-b", "station-pass-1", "phone-station-1b"); status != 200 {
			t.Fatalf("login of the new user: got %d %+v", status, s)
		}
	})
	t.Run("UserAddPasswordFile", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(file, []byte("grid-pass-123\r\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		mustAdmin(t, dir, "", "user", "add", "-username", "worker-1-1-9", "-name", "钱小红", "-role", "grid_worker", "-area", "330399101201G03", "-password-file", file)
		if status, _ := loginStatus(t, base, "worker-1-1-9", "grid-pass-123", "phone-worker-119"); status != 200 {
			t.Fatalf("login with the file's password: got %d", status)
		}
	})
	t.Run("ErrUserAdd", func(t *testing.T) {
		for name, tc := range map[string]struct {
			stdin string
			args  []string
			code  string
		}{
			"GridWorkerOnVillage":  {"long-enough-1\n", []string{"-username", "w-x1", "-name", "甲", "-role", "grid_worker", "-area", "330399101201"}, server.EINVALID},
			"StationOnVillage":     {"long-enough-1\n", []string{"-username", "w-x2", "-name", "乙", "-role", "station_staff", "-area", "330399101201"}, server.EINVALID},
			"VillageOfficerOnGrid": {"long-enough-1\n", []string{"-username", "w-x3", "-name", "丙", "-role", "village_officer", "-area", "330399101201G01"}, server.EINVALID},
			"OfficerOnCounty":      {"long-enough-1\n", []string{"-username", "w-x4", "-name", "丁", "-role", "enforcement_officer", "-area", "330399"}, server.EINVALID},
			"AdminOnTownship":      {"long-enough-1\n", []string{"-username", "w-x5", "-name", "戊", "-role", "county_admin", "-area", "330399101"}, server.EINVALID},
			"UnknownRole":          {"long-enough-1\n", []string{"-username", "w-x6", "-name", "己", "-role", "mayor", "-area", "330399"}, server.EINVALID},
			"UnknownArea":          {"long-enough-1\n", []string{"-username", "w-x7", "-name", "庚", "-role", "grid_worker", "-area", "nowhere"}, server.ENOTFOUND},
			"ShortPassword":        {"short\n", []string{"-username", "w-x8", "-name", "辛", "-role", "grid_worker", "-area", "330399101201G01"}, server.EINVALID},
			"UsernameTaken":        {"long-enough-1\n", []string{"-username", "worker-1-1-1", "-name", "壬", "-role", "grid_worker", "-area", "330399101201G01"}, server.ECONFLICT},
		} {
			t.Run(name, func(t *testing.T) {
				_, err := admin(t, dir, tc.stdin, append([]string{"user", "add"}, tc.args...)...)
				if server.ErrorCode(err) != tc.code {
					t.Fatalf("got %v, want code %s", err, tc.code)
				}
			})
		}
		for name, args := range map[string][]string{
			"NoPassword":        {"user", "add", "-username", "w-y1", "-name", "癸", "-role", "grid_worker", "-area", "330399101201G01"},
			"BothPasswords":     {"user", "add", "-username", "w-y2", "-name", "癸", "-role", "grid_worker", "-area", "330399101201G01", "-password", "long-enough-1", "-password-file", "/dev/null"},
			"NoUsername":        {"user", "disable"},
			"NoAction":          {"user"},
			"UnknownAction":     {"user", "remove", "-username", "worker-1-1-1"},
			"FlagOfOtherAction": {"user", "list", "-username", "worker-1-1-1"},
			"DeviceNoID":        {"device", "revoke"},
		} {
			t.Run(name, func(t *testing.T) {
				if _, err := admin(t, dir, "", args...); err == nil {
					t.Fatal("got nil error")
				}
			})
		}
	})
	t.Run("UserPasswd", func(t *testing.T) {
		_, s := loginStatus(t, base, "worker-1-2-1", fixtures.DemoPassword, "phone-worker-121")
		mustAdmin(t, dir, "new-password-9\n", "user", "passwd", "-username", "worker-1-2-1")
		if status, _ := loginStatus(t, base, "worker-1-2-1", fixtures.DemoPassword, "phone-worker-121"); status != 401 {
			t.Fatalf("old password: got %d, want 401", status)
		}
		var e apiError
		resp := call(t, "POST", base+"/v1/auth/refresh", "", map[string]string{"refresh_token": s.RefreshToken, "device_id": "phone-worker-121"}, &e)
		wantError(t, resp, e, 401, "unauthorized")
		if status, _ := loginStatus(t, base, "worker-1-2-1", "new-password-9", "phone-worker-121"); status != 200 {
			t.Fatalf("new password: got %d, want 200", status)
		}
		_, err := admin(t, dir, "new-password-9\n", "user", "passwd", "-username", "nobody")
		if server.ErrorCode(err) != server.ENOTFOUND {
			t.Fatalf("unknown user: got %v, want not_found", err)
		}
	})
	t.Run("UserDisableEnable", func(t *testing.T) {
		_, s := loginStatus(t, base, "worker-2-2-1", fixtures.DemoPassword, "phone-worker-221")
		if resp := call(t, "GET", base+"/v1/me", s.AccessToken, nil, nil); resp.StatusCode != 200 {
			t.Fatalf("before: /v1/me got %d", resp.StatusCode)
		}
		mustAdmin(t, dir, "", "user", "disable", "-username", "worker-2-2-1")
		// The access token issued before is refused at once, the refresh
		// token too, and so is a new login with the right password.
		var e apiError
		resp := call(t, "GET", base+"/v1/me", s.AccessToken, nil, &e)
		wantError(t, resp, e, 401, "unauthorized")
		resp = call(t, "POST", base+"/v1/auth/refresh", "", map[string]string{"refresh_token": s.RefreshToken, "device_id": "phone-worker-221"}, &e)
		wantError(t, resp, e, 401, "unauthorized")
		if status, _ := loginStatus(t, base, "worker-2-2-1", fixtures.DemoPassword, "phone-worker-221"); status != 401 {
			t.Fatalf("login while disabled: got %d, want 401", status)
		}
		out := mustAdmin(t, dir, "", "user", "list", "-area", "330399102202G01")
		if !strings.Contains(out, "worker-2-2-1") || !strings.Contains(out, "disabled") {
			t.Fatalf("list: got %q, want worker-2-2-1 disabled", out)
		}
		mustAdmin(t, dir, "", "user", "enable", "-username", "worker-2-2-1")
		if status, _ := loginStatus(t, base, "worker-2-2-1", fixtures.DemoPassword, "phone-worker-221"); status != 200 {
			t.Fatalf("login after enable: got %d, want 200", status)
		}
	})
	t.Run("UserList", func(t *testing.T) {
		out := mustAdmin(t, dir, "", "user", "list")
		for _, u := range []string{"county", "station-1", "worker-1-1-1", "worker-2-2-2", "station-1-b"} {
			if !strings.Contains(out, u+" ") {
				t.Errorf("list lacks %s:\n%s", u, out)
			}
		}
		out = mustAdmin(t, dir, "", "user", "list", "-area", "330399102")
		if !strings.Contains(out, "station-2 ") || strings.Contains(out, "station-1 ") || strings.Contains(out, "worker-1-1-1") {
			t.Fatalf("list of township 2:\n%s", out)
		}
		if got := strings.Count(strings.TrimSpace(out), "\n"); got != 6 {
			t.Fatalf("township 2: got %d users, want 6 (station-2 and five grid workers):\n%s", got, out)
		}
	})
	t.Run("DeviceRevoke", func(t *testing.T) {
		_, s := loginStatus(t, base, "worker-1-3-1", fixtures.DemoPassword, "phone-worker-131")
		mustAdmin(t, dir, "", "device", "revoke", "phone-worker-131")
		var e apiError
		resp := call(t, "GET", base+"/v1/me", s.AccessToken, nil, &e)
		wantError(t, resp, e, 401, "device_revoked")
		resp = call(t, "POST", base+"/v1/auth/login", "", map[string]string{"username": "worker-1-3-1", "password": fixtures.DemoPassword, "device_id": "phone-worker-131"}, &e)
		wantError(t, resp, e, 401, "device_revoked")
		_, err := admin(t, dir, "", "device", "revoke", "phone-no-such-1")
		if server.ErrorCode(err) != server.ENOTFOUND {
			t.Fatalf("unknown device: got %v, want not_found", err)
		}
	})
}
