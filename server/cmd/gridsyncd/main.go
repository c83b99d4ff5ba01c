// Command gridsyncd is the gridsync server: the sync API for grid workers'
// phones and the station dashboard, on SQLite and a blob store. See package
// server/app for the subcommands and flags.
//
// The first SIGINT or SIGTERM stops the server gracefully (in-flight
// requests finish, up to -shutdown-timeout, then the database is closed
// cleanly). A second one exits at once: SQLite's WAL keeps every committed
// transaction, so nothing acknowledged is lost.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/gridsync/gridsync/server/app"
)

func main() {
	ctx, stop := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		stop()
		<-signals
		fmt.Fprintln(os.Stderr, "gridsyncd: second signal, exiting without waiting for in-flight requests")
		os.Exit(1)
	}()
	m := app.NewMain()
	if err := m.ParseFlags(os.Args[1:]); errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "gridsyncd:", err)
		os.Exit(2)
	}
	err := m.Run(ctx)
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		m.Log.Error("gridsyncd stopped", slog.Any("err", err))
		os.Exit(1)
	}
}
