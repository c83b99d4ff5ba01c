package client

import (
	"database/sql"
	"errors"
	"log/slog"
	"time"

	"github.com/gridsync/gridsync/syncproto"
)

// physical is the time the HLC reads: the device clock, corrected by the
// offset learned from the server when the device clock is known wrong.
func (c *Client) physical() time.Time {
	return c.opt.Now().Add(time.Duration(c.offset.Load()) * time.Millisecond)
}

// learnClock takes the server's clock from a reply and persists the result
// in tx, with the reply's other effects.
//
// The server's HLC runs at most MaxDrift ahead of its physical time, so a
// gap beyond MaxDrift between it and the device's physical clock means the
// device clock is wrong (phones in villages keep wrong clocks for weeks).
// The device then stamps with its clock corrected by that gap; otherwise
// every op it made offline would be re-stamped by the server on arrival and
// lose its place in time, or the clock would stay behind everyone's.
//
// reset is the server's clock_reset. Clock.Reset moves the clock back to
// the server's, which is only right when this clock really ran far ahead
// (its far-future stamps are clamped by the server anyway); the server also
// sets the flag when only the device's raw physical clock is off, and
// moving back then would give later ops of this device smaller stamps than
// earlier ones. So: Reset when the clock is beyond the bound, Update
// otherwise, and Reset when Update refuses a server clock far ahead of ours.
func (c *Client) learnClock(tx *sql.Tx, server syncproto.HLC) error {
	if server.IsZero() {
		return nil
	}
	bound := syncproto.MaxDrift.Milliseconds()
	gap := server.Wall - c.opt.Now().UnixMilli()
	var off int64
	if gap > bound || gap < -bound {
		off = gap
	}
	if old := c.offset.Swap(off); old != off {
		c.log.Info("device clock correction", slog.Duration("offset", time.Duration(off)*time.Millisecond))
	}
	if c.clock.Last().Wall > server.Wall+bound {
		c.clock.Reset(server)
	} else if _, err := c.clock.Update(server); errors.Is(err, syncproto.ErrClockDrift) {
		c.clock.Reset(server)
	} else if err != nil {
		return protocolError("server clock: %v", err)
	}
	if err := setMetaInt(tx, metaClockOffset, off); err != nil {
		return err
	}
	return setMeta(tx, metaClock, c.clock.Last().String())
}
