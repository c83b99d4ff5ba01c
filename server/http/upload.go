package http

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// The tus resumable upload protocol, version 1.0.0 (https://tus.io/protocols/resumable-upload),
// with the creation, checksum, termination and expiration extensions. See
// docs/PROTOCOL-photos.md.
const (
	TusVersion    = "1.0.0"
	TusExtensions = "creation,checksum,termination,expiration"
	// TusChecksumAlgorithms are the Upload-Checksum algorithms accepted.
	TusChecksumAlgorithms = "sha256"
	// tusContentType is the only body type of PATCH.
	tusContentType = "application/offset+octet-stream"
	// PatchIdleTimeout fails a PATCH whose body sends nothing for this long
	// (the bytes before are kept); a 2G link stalls for seconds, not minutes.
	PatchIdleTimeout = 60 * time.Second
)

func (s *Server) uploadRoutes(g *echo.Group) {
	s.echo.Pre(tusMethodOverride)
	g.OPTIONS("/uploads", s.tusOptions, tusHeaders)
	g.POST("/uploads", s.createUpload, tusHeaders, s.authenticate, limitBody(0))
	g.OPTIONS("/uploads/:id", s.tusOptions, tusHeaders)
	g.HEAD("/uploads/:id", s.headUpload, tusHeaders, s.authenticate)
	g.PATCH("/uploads/:id", s.patchUpload, tusHeaders, s.authenticate)
	g.DELETE("/uploads/:id", s.deleteUpload, tusHeaders, s.authenticate, limitBody(0))
}

// tusMethodOverride honours X-HTTP-Method-Override on /v1/uploads/<id>, as
// tus 1.0.0 core requires: clients behind proxies or runtimes without PATCH
// or DELETE (tus-js-client's overridePatchMethod, go-tus) send POST with
// the real method in the header. It runs before routing, so the request is
// routed, authorized and logged as the method it stands for.
func tusMethodOverride(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		m := req.Header.Get("X-HTTP-Method-Override")
		if m == "" || !strings.HasPrefix(req.URL.Path, "/v1/uploads/") {
			return next(c)
		}
		switch m = strings.ToUpper(strings.TrimSpace(m)); m {
		case http.MethodHead:
			// The client sent a request with a response body and reads
			// one; a HEAD answer has none, so say so.
			c.Response().Header().Set(echo.HeaderContentLength, "0")
			fallthrough
		case http.MethodPatch, http.MethodDelete, http.MethodOptions:
			req.Method = m
			return next(c)
		}
		c.Response().Header().Set("Tus-Resumable", TusVersion)
		return server.Errorf(server.EINVALID, "X-HTTP-Method-Override %.20q: want HEAD, PATCH, DELETE or OPTIONS", m)
	}
}

// SetPublicURL sets the absolute URL devices reach the server at (a
// scheme, a host, maybe a path prefix), from which tus Location headers are
// built; without one they are built from each request's scheme and Host.
// Behind a reverse proxy that rewrites the host or adds a prefix, set it.
func (s *Server) SetPublicURL(raw string) error {
	if raw == "" {
		s.publicURL = ""
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("public URL %q: want an absolute http(s) URL without query, fragment or credentials", raw)
	}
	s.publicURL = strings.TrimSuffix(u.String(), "/")
	return nil
}

// uploadURL is the absolute URL of an upload. The tus spec allows a
// relative Location, but some stock clients do not resolve one.
func (s *Server) uploadURL(c echo.Context, id string) string {
	base := s.publicURL
	if base == "" {
		base = c.Scheme() + "://" + c.Request().Host
	}
	return base + "/v1/uploads/" + id
}

// tusHeaders puts Tus-Resumable on every response, and refuses requests
// (except OPTIONS, the discovery request) of another protocol version with
// 412 and the versions the server speaks.
func tusHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Tus-Resumable", TusVersion)
		if c.Request().Method != http.MethodOptions {
			if v := c.Request().Header.Get("Tus-Resumable"); v != TusVersion {
				h.Set("Tus-Version", TusVersion)
				return &server.Error{Code: server.EVERSION, Message: "Tus-Resumable must be " + TusVersion,
					Details: map[string]any{"got": v}}
			}
		}
		return next(c)
	}
}

// tusOptions: OPTIONS /v1/uploads[/:id], what the server supports.
func (s *Server) tusOptions(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Tus-Version", TusVersion)
	h.Set("Tus-Extension", TusExtensions)
	h.Set("Tus-Max-Size", strconv.Itoa(syncproto.MaxPhotoSize))
	h.Set("Tus-Checksum-Algorithm", TusChecksumAlgorithms)
	return c.NoContent(http.StatusNoContent)
}

// createUpload: POST /v1/uploads with Upload-Length and Upload-Metadata.
func (s *Server) createUpload(c echo.Context) error {
	req := c.Request()
	if req.Header.Get("Upload-Defer-Length") != "" {
		return server.Errorf(server.EINVALID, "Upload-Defer-Length is not supported: send Upload-Length")
	}
	length, err := strconv.ParseInt(req.Header.Get("Upload-Length"), 10, 64)
	if err != nil || length < 0 {
		return server.Errorf(server.EINVALID, "Upload-Length must be the photo's size in bytes")
	}
	meta, err := parseMetadata(req.Header.Get("Upload-Metadata"))
	if err != nil {
		return err
	}
	if meta["sha256"] == "" {
		return server.Errorf(server.EINVALID, "Upload-Metadata must carry sha256: the photo's SHA-256 as 64 hex digits")
	}
	u, err := s.svc.Photos.CreateUpload(req.Context(), server.NewUpload{SHA256: strings.ToLower(meta["sha256"]), Length: length,
		Filename: meta["filename"], Doc: meta["doc"], Metadata: req.Header.Get("Upload-Metadata")})
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Location", s.uploadURL(c, u.ID))
	// A creation sent again (its reply was lost) finds the upload it made:
	// the offset says where it stands.
	h.Set("Upload-Offset", strconv.FormatInt(u.Offset, 10))
	if u.State != server.UploadStored {
		h.Set("Upload-Expires", u.ExpiresAt.Format(http.TimeFormat))
	}
	return c.NoContent(http.StatusCreated)
}

// parseMetadata reads Upload-Metadata: comma-separated "key base64value"
// pairs (the value may be absent). Keys are unique and without spaces.
func parseMetadata(h string) (map[string]string, error) {
	out := map[string]string{}
	if len(h) > server.MaxUploadMetadata {
		return nil, server.Errorf(server.ETOOLARGE, "Upload-Metadata is longer than %d bytes", server.MaxUploadMetadata)
	}
	if strings.TrimSpace(h) == "" {
		return out, nil
	}
	for _, pair := range strings.Split(h, ",") {
		key, val, _ := strings.Cut(strings.TrimSpace(pair), " ")
		if key == "" || strings.ContainsAny(key, " \t") {
			return nil, server.Errorf(server.EINVALID, "Upload-Metadata: malformed pair %.40q", pair)
		}
		if _, dup := out[key]; dup {
			return nil, server.Errorf(server.EINVALID, "Upload-Metadata: key %.40q twice", key)
		}
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(val))
		if err != nil {
			return nil, server.Errorf(server.EINVALID, "Upload-Metadata: value of %.40q is not base64", key)
		}
		out[key] = string(b)
	}
	return out, nil
}

// headUpload: HEAD /v1/uploads/:id, the offset to resume from.
func (s *Server) headUpload(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	u, err := s.svc.Photos.Upload(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Upload-Offset", strconv.FormatInt(u.Offset, 10))
	h.Set("Upload-Length", strconv.FormatInt(u.Length, 10))
	if u.Metadata != "" {
		h.Set("Upload-Metadata", u.Metadata)
	} else {
		// Uploads created before the header was kept: what is known of it.
		h.Set("Upload-Metadata", "sha256 "+base64.StdEncoding.EncodeToString([]byte(u.SHA256)))
	}
	if u.State != server.UploadStored {
		h.Set("Upload-Expires", u.ExpiresAt.Format(http.TimeFormat))
	}
	return c.NoContent(http.StatusOK)
}

// patchUpload: PATCH /v1/uploads/:id appends the body at Upload-Offset.
func (s *Server) patchUpload(c echo.Context) error {
	req := c.Request()
	if ct := req.Header.Get(echo.HeaderContentType); ct != tusContentType {
		return server.Errorf(server.EMEDIATYPE, "Content-Type must be %s", tusContentType)
	}
	offset, err := strconv.ParseInt(req.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || offset < 0 {
		return server.Errorf(server.EINVALID, "Upload-Offset must be the byte offset the body starts at")
	}
	checksum, err := parseChecksum(req.Header.Get("Upload-Checksum"))
	if err != nil {
		return err
	}
	if req.ContentLength > syncproto.MaxPhotoSize {
		return server.Errorf(server.ETOOLARGE, "a chunk cannot be larger than %d bytes", syncproto.MaxPhotoSize)
	}
	body := newIdleReader(c.Response(), req.Body, PatchIdleTimeout)
	u, err := s.svc.Photos.WriteUpload(req.Context(), c.Param("id"), server.Chunk{Offset: offset, Size: req.ContentLength, Body: body,
		Checksum: checksum, Interrupt: body.interrupt})
	if u != nil {
		h := c.Response().Header()
		h.Set("Upload-Offset", strconv.FormatInt(u.Offset, 10))
		if u.State != server.UploadStored {
			h.Set("Upload-Expires", u.ExpiresAt.Format(http.TimeFormat))
		}
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// parseChecksum reads "Upload-Checksum: sha256 <base64 digest>".
func parseChecksum(h string) ([]byte, error) {
	if h == "" {
		return nil, nil
	}
	algo, val, _ := strings.Cut(strings.TrimSpace(h), " ")
	if algo != "sha256" {
		return nil, server.Errorf(server.EINVALID, "Upload-Checksum algorithm %.20q is not supported (use sha256)", algo)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(val))
	if err != nil || len(b) != sha256.Size {
		return nil, server.Errorf(server.EINVALID, "Upload-Checksum: want sha256 and the base64 of a 32-byte digest")
	}
	return b, nil
}

// deleteUpload: DELETE /v1/uploads/:id terminates an upload.
func (s *Server) deleteUpload(c echo.Context) error {
	if err := s.svc.Photos.DeleteUpload(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// idleReader reads a request body with a deadline renewed before each
// read, so a stalled connection fails after an idle period instead of
// holding the upload forever, and can be interrupted when the device comes
// back on a new connection.
type idleReader struct {
	rc          *http.ResponseController
	r           io.Reader
	idle        time.Duration
	mu          sync.Mutex
	interrupted bool
}

// interruptGrace is how long an interrupted body may still be read: the
// bytes that reached the server before the device's link broke are in the
// socket buffer, and keeping them saves resending them. Only a read that
// has to wait for the network fails.
const interruptGrace = 300 * time.Millisecond

var errInterrupted = errors.New("a newer request for this upload took over")

func newIdleReader(w http.ResponseWriter, r io.Reader, idle time.Duration) *idleReader {
	return &idleReader{rc: http.NewResponseController(w), r: r, idle: idle}
}

func (b *idleReader) Read(p []byte) (int, error) {
	b.mu.Lock()
	if !b.interrupted {
		// Servers without deadlines (httptest's in-memory ones) still
		// work, just without the idle bound.
		b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	b.mu.Unlock()
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.mu.Lock()
		if b.interrupted {
			err = errInterrupted
		}
		b.mu.Unlock()
	}
	return n, err
}

// interrupt makes the body fail at its next wait for the network, after
// interruptGrace at most.
func (b *idleReader) interrupt() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.interrupted {
		b.interrupted = true
		b.rc.SetReadDeadline(time.Now().Add(interruptGrace))
	}
}
