package http

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/gridsync/gridsync/server"
)

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	DeviceID string `json:"device_id"`
}

// login: POST /v1/auth/login.
func (s *Server) login(c echo.Context) error {
	var req loginRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	sess, err := s.svc.Auth.Login(c.Request().Context(), server.Login{Username: req.Username, Password: req.Password,
		DeviceID: req.DeviceID, RemoteAddr: c.RealIP()})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sess)
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
	DeviceID     string `json:"device_id"`
}

// refresh: POST /v1/auth/refresh.
func (s *Server) refresh(c echo.Context) error {
	var req refreshRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	sess, err := s.svc.Auth.Refresh(c.Request().Context(), req.RefreshToken, req.DeviceID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sess)
}

// logout: POST /v1/auth/logout.
func (s *Server) logout(c echo.Context) error {
	if err := s.svc.Auth.Logout(c.Request().Context()); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// me: GET /v1/me, the caller as the token says.
func (s *Server) me(c echo.Context) error {
	p := server.PrincipalFrom(c.Request().Context())
	return c.JSON(http.StatusOK, map[string]any{"user_id": p.UserID, "username": p.Username, "role": p.Role,
		"area_id": p.AreaID, "area_path": p.AreaPath, "device_id": p.DeviceID})
}

// revokeDevice: POST /v1/devices/:id/revoke (lost phone).
func (s *Server) revokeDevice(c echo.Context) error {
	if err := s.svc.Auth.RevokeDevice(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
