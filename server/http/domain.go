package http

import (
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/gridsync/gridsync/server"
	"github.com/gridsync/gridsync/syncproto"
)

// domainRoutes serves the inspection domain's derived views and its
// policy (docs/DOMAIN.md). Each is scoped to the caller's area.
func (s *Server) domainRoutes(g *echo.Group) {
	gz := middleware.GzipWithConfig(middleware.GzipConfig{MinLength: 512})
	g.GET("/checklists", s.checklists, s.authenticate, gz)
	g.GET("/tasks", s.tasks, s.authenticate, gz)
	g.GET("/coverage", s.coverage, s.authenticate, gz)
	g.GET("/hazards/overdue", s.overdueHazards, s.authenticate, gz)
	g.GET("/hazards/escalations", s.escalations, s.authenticate, gz)
	g.GET("/warnings/acks", s.warningAcks, s.authenticate, gz)
	g.GET("/incidents", s.incidents, s.authenticate, gz)
	g.GET("/patrols", s.patrols, s.authenticate, gz)
	g.GET("/policy", s.policy, s.authenticate)
	g.PUT("/policy", s.setPolicy, s.authenticate, limitBody(server.MaxPolicyBodySize))
	g.DELETE("/policy", s.deletePolicy, s.authenticate)
}

// domain returns the domain service, or EUNAVAILABLE when the server runs
// without one.
func (s *Server) domain() (server.DomainService, error) {
	if s.svc.Domain == nil {
		return nil, server.Errorf(server.EUNAVAILABLE, "the domain views are not configured on this server")
	}
	return s.svc.Domain, nil
}

// checklists: GET /v1/checklists?kind=&all=1, the checklist templates
// (latest version of each kind; every version with all=1).
func (s *Server) checklists(c echo.Context) error {
	d, err := s.domain()
	if err != nil {
		return err
	}
	out, err := d.Checklists(c.Request().Context(), server.ChecklistQuery{Kind: c.QueryParam("kind"), AllVersions: c.QueryParam("all") == "1"})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"checklists": nonNil(out)})
}

// tasks: GET /v1/tasks?area=&status=overdue,never, the sites of an area
// (default the caller's) with their check status, most urgent first.
func (s *Server) tasks(c echo.Context) error {
	d, err := s.domain()
	if err != nil {
		return err
	}
	q := server.TaskQuery{AreaID: c.QueryParam("area")}
	if v := c.QueryParam("status"); v != "" {
		for _, st := range strings.Split(v, ",") {
			q.Statuses = append(q.Statuses, syncproto.CheckStatus(st))
		}
	}
	out, err := d.Tasks(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"tasks": nonNil(out)})
}

// coverage: GET /v1/coverage?area=, coverage of the area (default the
// caller's) and every area below it.
func (s *Server) coverage(c echo.Context) error {
	d, err := s.domain()
	if err != nil {
		return err
	}
	out, err := d.Coverage(c.Request().Context(), c.QueryParam("area"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"coverage": nonNil(out)})
}

// overdueHazards: GET /v1/hazards/overdue?area=, hazards past their
// deadline before rectification was submitted.
func (s *Server) overdueHazards(c echo.Context) error {
	d, err := s.domain()
	if err != nil {
		return err
	}
	out, err := d.OverdueHazards(c.Request().Context(), server.HazardQuery{AreaID: c.QueryParam("area")})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"hazards": nonNil(out)})
}

// escalations: GET /v1/hazards/escalations?area=, the escalation list
// (挂牌督办): per township the overdue hazards, how many should be
// escalated and how many are, and the hazards that should be.
func (s *Server) escalations(c echo.Context) error {
	d, err := s.domain()
	if err != nil {
		return err
	}
	out, err := d.Escalations(c.Request().Context(), server.HazardQuery{AreaID: c.QueryParam("area")})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// patrols: GET /v1/patrols?area=&from=&to=, night patrols by night with
// their check-ins and flags, and the villages without a patrol on each
// key-period night.
func (s *Server) patrols(c echo.Context) error {
	d, err := s.domain()
	if err != nil {
		return err
	}
	out, err := d.Patrols(c.Request().Context(), server.PatrolQuery{AreaID: c.QueryParam("area"), From: c.QueryParam("from"), To: c.QueryParam("to")})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// policy: GET /v1/policy?area=, the policy in force at the area (default
// the caller's) and where it comes from.
func (s *Server) policy(c echo.Context) error {
	d, err := s.domain()
	if err != nil {
		return err
	}
	out, err := d.Policy(c.Request().Context(), c.QueryParam("area"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// setPolicy: PUT /v1/policy?area=, the county admin sets an area's policy
// (the body is the policy JSON, validated strictly).
func (s *Server) setPolicy(c echo.Context) error {
	d, err := s.domain()
	if err != nil {
		return err
	}
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	out, err := d.SetPolicy(c.Request().Context(), c.QueryParam("area"), body)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// deletePolicy: DELETE /v1/policy?area=, the county admin drops an area's
// own policy; the area then follows the one above it.
func (s *Server) deletePolicy(c echo.Context) error {
	d, err := s.domain()
	if err != nil {
		return err
	}
	if err := d.DeletePolicy(c.Request().Context(), c.QueryParam("area")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// warningAcks: GET /v1/warnings/acks?warning=, who has and has not
// acknowledged each warning of the caller's area.
func (s *Server) warningAcks(c echo.Context) error {
	d, err := s.domain()
	if err != nil {
		return err
	}
	out, err := d.WarningAcks(c.Request().Context(), c.QueryParam("warning"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"warnings": nonNil(out)})
}

// incidents: GET /v1/incidents?limit=, incident reports of the caller's
// area with their arrival delay and late flag.
func (s *Server) incidents(c echo.Context) error {
	d, err := s.domain()
	if err != nil {
		return err
	}
	limit, err := intParam(c, "limit")
	if err != nil {
		return err
	}
	out, err := d.Incidents(c.Request().Context(), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"incidents": nonNil(out)})
}
