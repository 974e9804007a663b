package qwenedittest

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// apiPrefix is the path prefix of every API route.
const apiPrefix = "/vendors/alibaba/v1/"

// route is what an API path addresses.
type route int

const (
	routeNone   route = iota
	routeSubmit       // {apiPrefix}<model>/generation
	routeGet          // {apiPrefix}<model>/generation/<id>
)

// parseRoute matches a path against the API routes; the server then checks
// the model name against the ones it knows.
func parseRoute(path string) (rt route, model, id string) {
	rest, ok := strings.CutPrefix(path, apiPrefix)
	if !ok {
		return routeNone, "", ""
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 2 || parts[0] == "" || parts[1] != "generation" {
		return routeNone, "", ""
	}
	switch {
	case len(parts) == 2:
		return routeSubmit, parts[0], ""
	case len(parts) == 3 && parts[2] != "":
		return routeGet, parts[0], parts[2]
	}
	return routeNone, "", ""
}

// response is an answer computed before it is written, so that a fault
// with AfterCreate can replace it after its side effects happened.
type response struct {
	status int
	body   []byte
	header http.Header // extra headers
}

// detailResponse is the error body shape the official clients read first.
func detailResponse(status int, detail string) response {
	b, _ := json.Marshal(struct {
		Detail string `json:"detail"`
	}{detail})
	return response{status: status, body: b}
}

func (resp response) write(w http.ResponseWriter) {
	for k, v := range resp.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(resp.body)))
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// serveAPI is the handler of the API listener.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	defer s.track()()
	// Every answer carries a trace id, like the real API's, so clients can
	// be tested for surfacing it in errors.
	w.Header().Set("Traceparent", newTraceparent())

	// The body is read before anything else so that the recording is
	// complete and so that a hanging fault notices a client that goes away
	// (net/http watches the connection only after the body was consumed).
	body, err := io.ReadAll(io.LimitReader(r.Body, s.maxBody+1))
	tooLarge := int64(len(body)) > s.maxBody
	s.record(OriginAPI, r, body, err == nil && !tooLarge)
	if err != nil {
		return // the client is gone; nobody would read an answer
	}
	if tooLarge {
		resp := detailResponse(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body too large: the limit is %d bytes", s.maxBody))
		resp.header = http.Header{"Connection": {"close"}}
		resp.write(w)
		return
	}

	rt, model, id := parseRoute(r.URL.Path)
	switch {
	case rt == routeNone, !s.models[model]:
		detailResponse(http.StatusNotFound, "Not Found").write(w)
		return
	case rt == routeSubmit && r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		detailResponse(http.StatusMethodNotAllowed, "Method Not Allowed").write(w)
		return
	case rt == routeGet && r.Method != http.MethodGet:
		w.Header().Set("Allow", http.MethodGet)
		detailResponse(http.StatusMethodNotAllowed, "Method Not Allowed").write(w)
		return
	}

	// Faults act before authentication, like a proxy or overloaded front
	// end would, except AfterCreate ones, which wait for a submit that
	// really created its task (a refused one leaves them queued).
	if f := s.takeFault(r.Method, false); f != nil {
		s.applyFault(w, f, rt, id, nil)
		return
	}

	var resp response
	switch {
	case !s.authorized(r):
		resp = detailResponse(http.StatusUnauthorized, "Invalid or missing API key")
		resp.header = http.Header{"Www-Authenticate": {"Bearer"}}
	case rt == routeSubmit:
		resp = s.submit(model, body)
	default:
		resp = s.get(r, model, id)
	}
	if rt == routeSubmit && resp.status == http.StatusAccepted {
		if f := s.takeFault(r.Method, true); f != nil {
			s.applyFault(w, f, rt, id, &resp)
			return
		}
	}
	resp.write(w)
}

// authorized checks the bearer key; the scheme is case-insensitive as in
// RFC 9110.
func (s *Server) authorized(r *http.Request) bool {
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(key)), []byte(s.apiKey)) == 1
}

// submit validates a body and creates a task.
func (s *Server) submit(model string, body []byte) response {
	// Validation, which inspects image headers, runs before taking the
	// lock so that concurrent submits do not queue behind each other.
	sub, problem := validate(body)
	if problem != "" {
		return detailResponse(http.StatusBadRequest, problem)
	}
	t := &task{
		rec:       TaskRecord{ID: newID(), Model: model, Request: sub.req},
		n:         sub.n,
		outW:      sub.outW,
		outH:      sub.outH,
		source:    sub.source,
		srcFormat: sub.srcFormat,
		results:   make([]*resultSlot, sub.n),
	}
	for i := range t.results {
		t.results[i] = &resultSlot{}
	}
	s.mu.Lock()
	t.rec.CreatedAt = s.now()
	if len(s.failures) > 0 {
		fail := s.failures[0]
		t.fail = &fail
		s.failures = s.failures[1:]
	}
	s.tasks[t.rec.ID] = t
	s.order = append(s.order, t)
	first, _, _ := s.vocab.statuses()
	out := taskJSON{TaskInfo: taskInfoJSON{
		ID:        t.rec.ID,
		Status:    first,
		CreatedAt: formatTime(t.rec.CreatedAt),
		UpdatedAt: formatTime(t.rec.CreatedAt),
	}}
	s.mu.Unlock()
	return jsonResponse(http.StatusAccepted, out)
}

// get reports a task's state.
func (s *Server) get(r *http.Request, model, id string) response {
	s.mu.Lock()
	t, ok := s.tasks[id]
	if !ok || t.rec.Deleted || t.rec.Model != model { // a task is polled under its own model
		s.mu.Unlock()
		b, _ := json.Marshal(struct {
			ErrorCode int    `json:"error_code"`
			Detail    string `json:"detail"`
		}{2005, fmt.Sprintf("Task %s does not exist", id)})
		return response{status: http.StatusNotFound, body: b}
	}
	status, updated, taskErr := s.state(t, s.now())
	out := taskJSON{TaskInfo: taskInfoJSON{
		ID:        id,
		Status:    status,
		CreatedAt: formatTime(t.rec.CreatedAt),
		UpdatedAt: formatTime(updated),
	}}
	n := t.n
	s.mu.Unlock()

	if taskErr != nil {
		out.TaskInfo.Error = map[string]any{
			s.errorCodeField: taskErr.code,
			"title":          taskErr.title,
			"detail":         taskErr.detail,
		}
	}
	if isSuccess(status) {
		base := s.resultsBase(r)
		for i := range n {
			out.Images = append(out.Images, resultURL(base, id, i))
		}
	}
	return jsonResponse(http.StatusOK, out)
}

// resultsBase is the origin that result URLs use. Normally ResultsURL; when
// the results listener is bound to all interfaces (a public fakeserver),
// the host the client used to reach the API, so that the URLs work from
// other machines.
func (s *Server) resultsBase(r *http.Request) string {
	return resultsBaseFor(s.results.Listener.Addr(), s.results.URL, r.Host)
}

func resultsBaseFor(addr net.Addr, fallback, requestHost string) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return fallback
	}
	host := requestHost
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" {
		return fallback
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}

func resultURL(base, id string, i int) string {
	return fmt.Sprintf("%s/results/%s/result_%d.png", base, id, i)
}

type taskInfoJSON struct {
	ID        string         `json:"id"`
	Status    string         `json:"status"`
	CreatedAt string         `json:"created_at"`
	UpdatedAt string         `json:"updated_at"`
	Error     map[string]any `json:"error,omitempty"`
}

type taskJSON struct {
	TaskInfo taskInfoJSON `json:"task_info"`
	Images   []string     `json:"images,omitempty"`
}

func jsonResponse(status int, v any) response {
	b, err := json.Marshal(v)
	if err != nil {
		return detailResponse(http.StatusInternalServerError, err.Error())
	}
	return response{status: status, body: b}
}

// fabricatedTask is a plausible task body for faults that need one when no
// real answer exists.
func (s *Server) fabricatedTask(id string) []byte {
	if id == "" {
		id = newID()
	}
	first, _, _ := s.vocab.statuses()
	now := formatTime(s.now())
	return jsonResponse(http.StatusOK, taskJSON{TaskInfo: taskInfoJSON{ID: id, Status: first, CreatedAt: now, UpdatedAt: now}}).body
}
