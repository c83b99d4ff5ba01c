package sqlite

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/server/blob"
)

// DefaultMaxStreams bounds the chunks forwarded to the blob store while they
// arrive; a chunk beyond it is stored once it has arrived. Each holds one
// connection to the object store for as long as its device takes to send.
const DefaultMaxStreams = 32

// stream forwards a chunk that completes the upload to the blob store while
// it arrives (cut-through), instead of storing it once it is all in: the
// device's wait is then one transfer, not two. r keeps every byte it
// passes on (held in memory or in the upload's file), so a failed stream
// loses nothing the device sent.
//
// The object is named by the declared hash, and blob.Store keeps nothing
// under a photo key whose bytes have another hash
// (blobtest.testPhotoKeyNamesItsBytes): the store verifies the photo on its
// way.
//
// stream returns the photo's type once it is stored and verified. It
// returns "" when it did not run (no stream free, not a photo, already
// stored) or failed; the caller then reads what is left of the body into
// the file, and the upload is verified and stored from the file as without
// a stream (a failure of the blob store is retried there).
func (s *PhotoService) stream(ctx context.Context, r *receiver) (mime string) {
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		return ""
	}
	u := r.u
	if exists, err := s.photoRecorded(ctx, u.SHA256); err != nil || exists {
		return ""
	}
	// The type is sent first, so it is read from the photo's first bytes:
	// from the body, or from the file if they came in an earlier chunk.
	var head []byte
	var before io.Reader
	if u.Offset == 0 {
		r.hold = true
		head = make([]byte, min(server.SniffLen, u.Length))
		n, _ := io.ReadFull(r, head)
		head = head[:n]
		before = bytes.NewReader(head)
	} else {
		f, err := r.file()
		if err != nil {
			return ""
		}
		head = make([]byte, min(server.SniffLen, u.Offset))
		n, _ := f.ReadAt(head, 0)
		head = head[:n]
		before = io.NewSectionReader(f, 0, u.Offset)
	}
	if len(head) < min(server.SniffLen, int(u.Length)) || r.err != nil && r.err != io.EOF {
		return ""
	}
	if mime = server.SniffPhoto(head); mime == "" {
		return ""
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if err := s.blobs.Put(pctx, blob.PrefixPhoto+u.SHA256, io.MultiReader(before, r), u.Length, mime); err != nil {
		if r.err == nil || r.err == io.EOF && !errors.Is(err, blob.ErrWrongSum) {
			// Not the device's doing: the blob store failed. The upload
			// goes on into the file and is stored from there.
			s.log.InfoContext(ctx, "forwarding a photo to the blob store failed; it is stored once it has arrived",
				slog.String("upload", u.ID), slog.Any("err", err))
		}
		return ""
	}
	return mime
}
