package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/password"
	"github.com/gridsync/gridsync/server/sqlite"
)

// adminActions are the actions of the operator's subcommands.
var adminActions = map[string][]string{
	"user":   {"add", "passwd", "disable", "enable", "list"},
	"device": {"revoke"},
}

// adminFlags are the flags of `gridsyncd user ACTION`.
type adminFlags struct {
	username, name, role, area, phone string
	password, passwordFile            string
}

// parseAction takes the action word after "user" or "device" and declares
// the action's flags on fs.
func (m *Main) parseAction(fs *flag.FlagSet, args []string) ([]string, error) {
	usage := fmt.Errorf("usage: gridsyncd %s %s [flags]", m.Command, strings.Join(adminActions[m.Command], "|"))
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return nil, usage
	}
	m.Action, args = args[0], args[1:]
	if !slices.Contains(adminActions[m.Command], m.Action) {
		return nil, fmt.Errorf("unknown action %q: %w", m.Action, usage)
	}
	if m.Command != "user" {
		return args, nil
	}
	f := &m.admin
	if m.Action != "list" {
		fs.StringVar(&f.username, "username", "", "login name: 1-64 characters of a-z 0-9 . _ -")
	}
	switch m.Action {
	case "add":
		fs.StringVar(&f.name, "name", "", "the person's name (姓名)")
		fs.StringVar(&f.role, "role", "", "grid_worker, village_officer, station_staff, enforcement_officer or county_admin")
		fs.StringVar(&f.area, "area", "", "area id: a grid for grid_worker, a village for village_officer, a township for station_staff and enforcement_officer, the county for county_admin")
		fs.StringVar(&f.phone, "phone", "", "phone number")
		fallthrough
	case "passwd":
		fs.StringVar(&f.passwordFile, "password-file", "", "read the password from this file (default: the first line of stdin)")
		fs.StringVar(&f.password, "password", "", "the password itself, for scripts (it stays in shell history and ps; prefer stdin or -password-file)")
	case "list":
		fs.StringVar(&f.area, "area", "", "only users in this area and below")
	}
	return args, nil
}

// runAdmin runs `gridsyncd user ...` or `gridsyncd device revoke` on the
// open database.
func (m *Main) runAdmin(ctx context.Context) error {
	users := sqlite.NewUserService(m.db)
	f := m.admin
	if m.Command == "device" {
		if len(m.Args) != 1 {
			return errors.New("usage: gridsyncd device revoke DEVICE_ID")
		}
		if err := users.RevokeDevice(ctx, m.Args[0]); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "device %s revoked: its tokens and sessions are refused, it cannot log in again\n", m.Args[0])
		return nil
	}
	if len(m.Args) != 0 {
		return fmt.Errorf("gridsyncd user %s takes no arguments, got %q", m.Action, m.Args)
	}
	if m.Action != "list" && f.username == "" {
		return fmt.Errorf("gridsyncd user %s: -username is required", m.Action)
	}
	switch m.Action {
	case "add":
		pw, err := m.readPassword()
		if err != nil {
			return err
		}
		u, err := users.CreateUser(ctx, server.NewUser{Username: f.username, Name: f.name, Phone: f.phone,
			Role: server.Role(f.role), AreaID: f.area, Password: pw})
		if err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "user %s (%s, %s) added in %s\n", u.Username, u.Name, u.Role, u.AreaPath)
	case "passwd":
		pw, err := m.readPassword()
		if err != nil {
			return err
		}
		if err := users.SetPassword(ctx, f.username, pw); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "password of %s changed; the user's devices log in again\n", f.username)
	case "disable", "enable":
		if err := users.SetDisabled(ctx, f.username, m.Action == "disable"); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "user %s %sd\n", f.username, m.Action)
	case "list":
		list, err := users.Users(ctx, f.area)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		// The name goes last: tabwriter counts a Chinese character as one
		// column, a terminal shows it as two.
		fmt.Fprintln(w, "USERNAME\tROLE\tAREA\tSTATUS\tNAME")
		for _, u := range list {
			status := "active"
			if u.Disabled {
				status = "disabled"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", u.Username, u.Role, u.AreaID, status, u.Name)
		}
		return w.Flush()
	}
	return nil
}

// readPassword takes the password from -password, -password-file or the
// first line of stdin, in that order; never more than one of the flags.
func (m *Main) readPassword() (string, error) {
	f := m.admin
	switch {
	case f.password != "" && f.passwordFile != "":
		return "", errors.New("give -password or -password-file, not both")
	case f.password != "":
		return f.password, nil
	case f.passwordFile != "":
		b, err := os.ReadFile(f.passwordFile)
		if err != nil {
			return "", err
		}
		return firstLine(string(b)), nil
	}
	line, err := bufio.NewReaderSize(io.LimitReader(m.Stdin, password.MaxLen+2), password.MaxLen+2).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	if pw := firstLine(line); pw != "" {
		return pw, nil
	}
	return "", errors.New("no password: pipe it on stdin, or use -password-file")
}

// firstLine is s up to its first line break.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSuffix(s, "\r")
}
