package sqlite

import (
	"context"
	"errors"

	"github.com/gridsync/gridsync/syncproto"
)

// InterruptImport makes s push chunk sites at a time and fail after pushes
// pushes, leaving the import as a crash between two pushes would (tests
// only).
func InterruptImport(s *ImportService, chunk, pushes int) {
	push, n := s.push, 0
	s.chunk = chunk
	s.push = func(ctx context.Context, req *syncproto.PushRequest) (*syncproto.PushResponse, error) {
		if n == pushes {
			return nil, errors.New("interrupted")
		}
		n++
		return push(ctx, req)
	}
}
