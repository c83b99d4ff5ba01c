package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/gridsync/gridsync/syncproto"
)

// The audit chain: every accepted op is appended to a hash chain, each
// link committing to the one before, so that an exported log (the
// township's paper trail) can be shown to be untampered. docs/DOMAIN.md
// "Audit chain" describes the commands.
//
// Version 1 hashed sha256(prev || seq || op). Version 2, used for every op
// logged since migration 0010 (table chain_versions), also commits to who
// pushed the op, the document's area and when the server received it:
//
//	sha256("gridsync-chain-v2\x00" || prev || seq || received_at ||
//	       len(user) || user || len(area) || area || op)
//
// with seq and received_at (unix ms) as 8-byte and lengths as 4-byte
// big-endian integers; op is the op's JSON exactly as stored. The op JSON
// names the device, its seq, the collection and the document, so those
// are covered too.

// chainLink is what one link of the chain commits to.
type chainLink struct {
	version    int
	seq        int64
	receivedAt int64
	user       string // username of the pushing user
	area       string // id of the document's area
	body       []byte // the op's JSON as stored
}

const chainV2Prefix = "gridsync-chain-v2\x00"

// latestChainVersion is the newest chain version this code computes.
const latestChainVersion = 2

// chainNext returns the chain value of l after prev.
func chainNext(prev []byte, l chainLink) []byte {
	h := sha256.New()
	var b [8]byte
	if l.version >= 2 {
		h.Write([]byte(chainV2Prefix))
	}
	h.Write(prev)
	binary.BigEndian.PutUint64(b[:], uint64(l.seq))
	h.Write(b[:])
	if l.version >= 2 {
		binary.BigEndian.PutUint64(b[:], uint64(l.receivedAt))
		h.Write(b[:])
		for _, s := range []string{l.user, l.area} {
			binary.BigEndian.PutUint32(b[:4], uint32(len(s)))
			h.Write(b[:4])
			h.Write([]byte(s))
		}
	}
	h.Write(l.body)
	return h.Sum(nil)
}

// chainVersions maps each chain version to the first seq it applies to.
type chainVersions []struct {
	version int
	from    int64
}

func loadChainVersions(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (chainVersions, error) {
	rows, err := q.QueryContext(ctx, `SELECT version, from_seq FROM chain_versions ORDER BY from_seq, version`)
	if err != nil {
		return nil, fmt.Errorf("chain versions: %w", err)
	}
	defer rows.Close()
	var out chainVersions
	for rows.Next() {
		var v struct {
			version int
			from    int64
		}
		if err := rows.Scan(&v.version, &v.from); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// at returns the chain version of the op at seq.
func (cv chainVersions) at(seq int64) int {
	v := 1
	for _, c := range cv {
		if seq >= c.from {
			v = c.version
		}
	}
	return v
}

// latest returns the version new ops are chained with.
func (cv chainVersions) latest() int {
	if len(cv) == 0 {
		return 1
	}
	return cv[len(cv)-1].version
}

// chainQuery reads the op log in seq order with everything a link needs.
const chainQuery = `SELECT o.seq, o.device, o.dev_seq, u.username, o.collection, o.doc_id, o.area_id,
	o.received_at, o.body, o.chain FROM ops o JOIN users u ON u.id = o.user_id ORDER BY o.seq`

// VerifyChain recomputes the audit hash chain over the whole op log and
// returns the number of ops checked, or an error naming the first op whose
// stored chain value does not match (a row was altered, removed or
// inserted).
func (s *SyncService) VerifyChain(ctx context.Context) (int, error) {
	n, _, err := s.VerifyChainHead(ctx)
	return n, err
}

// VerifyChainHead is VerifyChain that also returns the chain's head (the
// last op's chain value, nil for an empty log): publish or record it, and
// an export verified later must end at the same head.
func (s *SyncService) VerifyChainHead(ctx context.Context) (int, []byte, error) {
	return s.walkChain(ctx, func(*ChainEntry) error { return nil })
}

// walkChain reads the op log in a read transaction, checks every link and
// passes each entry to fn.
func (s *SyncService) walkChain(ctx context.Context, fn func(*ChainEntry) error) (int, []byte, error) {
	tx, err := s.db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, nil, err
	}
	defer tx.Rollback()
	versions, err := loadChainVersions(ctx, tx)
	if err != nil {
		return 0, nil, err
	}
	rows, err := tx.QueryContext(ctx, chainQuery)
	if err != nil {
		return 0, nil, fmt.Errorf("read chain: %w", err)
	}
	defer rows.Close()
	var head []byte
	n := 0
	for rows.Next() {
		var e ChainEntry
		var chain []byte
		if err := rows.Scan(&e.Seq, &e.Device, &e.DevSeq, &e.User, &e.Collection, &e.Doc, &e.Area, &e.ReceivedAt, &e.Op, &chain); err != nil {
			return n, nil, err
		}
		e.Version = versions.at(e.Seq)
		head = chainNext(head, e.link())
		if string(head) != string(chain) {
			return n, nil, fmt.Errorf("audit chain broken at op %d", e.Seq)
		}
		e.Chain = hex.EncodeToString(chain)
		if err := fn(&e); err != nil {
			return n, nil, err
		}
		n++
	}
	return n, head, rows.Err()
}

// ChainEntry is one line of an audit chain export (JSON lines, seq order):
// the op as the server applied it, who pushed it, its area, when the
// server received it, and its chain value in hex.
type ChainEntry struct {
	Seq int64 `json:"seq"`
	// Version is the chain version of this link (1 or 2, see chainNext).
	Version    int    `json:"v"`
	Device     string `json:"device"`
	DevSeq     int64  `json:"dev_seq"`
	User       string `json:"user"`
	Collection string `json:"collection"`
	Doc        string `json:"doc"`
	Area       string `json:"area"`
	ReceivedAt int64  `json:"received_at"`
	// Op is the op's JSON exactly as hashed, as a string so that it keeps
	// its bytes.
	Op    string `json:"op"`
	Chain string `json:"chain"`
}

func (e *ChainEntry) link() chainLink {
	return chainLink{version: e.Version, seq: e.Seq, receivedAt: e.ReceivedAt, user: e.User, area: e.Area, body: []byte(e.Op)}
}

// ExportChain verifies the whole op log while writing it as ChainEntry
// lines to w, and returns the number of entries and the head. The export
// is self-verifying (VerifyChainExport) and, with the head, tamper-evident.
// Entries are written as they are verified, so at the first broken link the
// export stops with an error: the lines before it are already written to w,
// the broken entry and those after it are not.
func (s *SyncService) ExportChain(ctx context.Context, w io.Writer) (int, []byte, error) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	n, head, err := s.walkChain(ctx, func(e *ChainEntry) error { return enc.Encode(e) })
	if err != nil {
		return n, nil, fmt.Errorf("export chain: %w", err)
	}
	return n, head, nil
}

// VerifyChainExport recomputes the chain of an export read from r: every
// entry must follow the previous one (seq + 1, starting at 1), agree with
// its op (device, seq, collection, document), never fall back to an older
// chain version, and carry the chain value of its link. It returns the
// number of entries and the head, or an error naming the first bad line.
func VerifyChainExport(r io.Reader) (int, []byte, error) {
	dec := json.NewDecoder(r)
	var head []byte
	var n, version int
	for {
		var e ChainEntry
		if err := dec.Decode(&e); errors.Is(err, io.EOF) {
			return n, head, nil
		} else if err != nil {
			return n, nil, fmt.Errorf("entry %d: %w", n+1, err)
		}
		if e.Seq != int64(n)+1 {
			return n, nil, fmt.Errorf("entry %d: seq %d, want %d (an entry is missing or out of order)", n+1, e.Seq, n+1)
		}
		if e.Version < 1 || e.Version > latestChainVersion || e.Version < version {
			return n, nil, fmt.Errorf("op %d: chain version %d after version %d", e.Seq, e.Version, version)
		}
		version = e.Version
		var op syncproto.Op
		if err := json.Unmarshal([]byte(e.Op), &op); err != nil {
			return n, nil, fmt.Errorf("op %d: %w", e.Seq, err)
		}
		if op.Device != e.Device || int64(op.Seq) != e.DevSeq || op.Collection != e.Collection || op.Doc != e.Doc {
			return n, nil, fmt.Errorf("op %d: entry does not match its op (device, seq, collection or document)", e.Seq)
		}
		head = chainNext(head, e.link())
		if hex.EncodeToString(head) != e.Chain {
			return n, nil, fmt.Errorf("audit chain broken at op %d", e.Seq)
		}
		n++
	}
}
