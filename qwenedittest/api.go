package qwenedittest

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
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

// serveAPI is the handler of the API listener, for both protocols.
//
// The order of events: a request on an API route (one that is not
// answered 404 or 405) takes its fault, if one is queued for it, when its
// headers arrive. A fault with BeforeBody acts at once; without a fault, a
// request with a missing or wrong key is refused (401) at once too, before
// its body is read, as gateways do, so that a client that asked for
// 100-continue never uploads it. Otherwise the body is read (and
// recorded), and then the fault acts, or the request is answered 413,
// 404, 405, 400 or 2xx. Faults with AfterCreate are taken once a submit
// has created its task.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	defer s.track()()
	// Every answer carries a trace id, like the real API's, so clients can
	// be tested for surfacing it in errors.
	w.Header().Set("Traceparent", newTraceparent())

	rt, model, id := parseRoute(r.URL.Path)
	var problem response
	switch {
	case rt == routeNone, !knownModels[model]:
		problem = detailResponse(http.StatusNotFound, "Not Found")
	case rt == routeSubmit && r.Method != http.MethodPost:
		problem = detailResponse(http.StatusMethodNotAllowed, "Method Not Allowed")
		problem.header = http.Header{"Allow": {http.MethodPost}}
	case rt == routeGet && r.Method != http.MethodGet:
		problem = detailResponse(http.StatusMethodNotAllowed, "Method Not Allowed")
		problem.header = http.Header{"Allow": {http.MethodGet}}
	}
	onRoute := problem.status == 0

	// Faults act before authentication, like a proxy or overloaded front
	// end would, except AfterCreate ones, which wait for a submit that
	// really created its task (a refused one leaves them queued).
	var f *Fault
	if onRoute {
		f = s.takeFault(r.Method, false)
	}
	switch {
	case f != nil && f.BeforeBody:
		s.record(OriginAPI, r, nil, r.ContentLength == 0)
		s.applyFault(w, r, f, rt, id, nil)
		return
	case f == nil && onRoute && !s.authorized(r):
		s.record(OriginAPI, r, nil, r.ContentLength == 0)
		resp := detailResponse(http.StatusUnauthorized, "Invalid or missing API key")
		resp.header = http.Header{"Www-Authenticate": {"Bearer"}}
		refuseEarly(w, r, resp)
		return
	}

	// The body is read before the other answers so that the recording is
	// complete and so that a hanging fault notices a client that goes away
	// (net/http watches the connection only after the body was consumed).
	body, err := io.ReadAll(io.LimitReader(r.Body, s.maxBody+1))
	tooLarge := int64(len(body)) > s.maxBody
	s.record(OriginAPI, r, body, err == nil && !tooLarge)
	if err != nil {
		return // the client is gone; nobody would read an answer
	}
	switch {
	case f != nil:
		s.applyFault(w, r, f, rt, id, nil)
		return
	case tooLarge:
		// The rest of the body is unread (a body over the limit has a
		// ContentLength of more than it, or -1).
		refuseEarly(w, r, detailResponse(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body too large: the limit is %d bytes", s.maxBody)))
		return
	case !onRoute:
		problem.write(w)
		return
	}

	var resp response
	if rt == routeSubmit {
		resp = s.submit(model, body)
	} else {
		resp = s.get(r, model, id)
	}
	if rt == routeSubmit && resp.status == http.StatusAccepted {
		if f := s.takeFault(r.Method, true); f != nil {
			s.applyFault(w, r, f, rt, id, &resp)
			return
		}
	}
	resp.write(w)
}

// refuseEarly answers resp without reading the request body. Over
// HTTP/1.1 a request that has a body then gets "Connection: close": the
// rest of its body is never read, so the connection cannot carry another
// request. (Over HTTP/2 the stream is reset with NO_ERROR after the
// answer instead, which tells the client to stop sending.)
func refuseEarly(w http.ResponseWriter, r *http.Request, resp response) {
	if r.ProtoMajor == 1 && r.ContentLength != 0 {
		if resp.header == nil {
			resp.header = http.Header{}
		}
		resp.header.Set("Connection", "close")
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
		rec:       TaskRecord{ID: s.newID(), Model: model, Request: sub.req, Warnings: sub.warnings},
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
	if wait, full := s.atRunningLimit(t.rec.CreatedAt); full {
		s.mu.Unlock()
		resp := detailResponse(http.StatusTooManyRequests, fmt.Sprintf("Too many running tasks: this account runs at most %d at once", s.maxRunning))
		resp.header = http.Header{"Retry-After": {strconv.Itoa(wait)}}
		return resp
	}
	if len(s.failures) > 0 {
		fail := s.failures[0]
		t.fail = &fail
		s.failures = s.failures[1:]
	}
	s.tasks[t.rec.ID] = t
	s.order = append(s.order, t)
	// A task of the default duration, 0, is done when it is created, and
	// the answer says so: a client's Edit then polls at once, which keeps
	// users' tests fast. Otherwise it is waiting, as on the real API.
	first, _, _ := s.statuses()
	status, updated, taskErr := first, t.rec.CreatedAt, (*taskError)(nil)
	if s.duration == 0 {
		status, updated, taskErr = s.state(t, t.rec.CreatedAt)
	}
	out := taskJSON{TaskInfo: s.infoJSON(t, status, updated, taskErr)}
	s.mu.Unlock()
	return jsonResponse(http.StatusAccepted, out)
}

// atRunningLimit reports whether s.maxRunning tasks are still running at
// now and, if so, the whole seconds until the first of them finishes (at
// least 1; a task held by SetTaskStatus counts as finishing in 1 s). Called
// with s.mu held.
func (s *Server) atRunningLimit(now time.Time) (wait int, full bool) {
	if s.maxRunning == 0 {
		return 0, false
	}
	running, soonest := 0, time.Duration(math.MaxInt64)
	for _, t := range s.tasks {
		if t.rec.Deleted {
			continue
		}
		if status, _, _ := s.state(t, now); isSuccess(status) || status == "failed" {
			continue
		}
		running++
		left := time.Second
		if t.forced == "" {
			left = t.rec.CreatedAt.Add(s.duration).Sub(now)
		}
		soonest = min(soonest, left)
	}
	if running < s.maxRunning {
		return 0, false
	}
	return max(1, int((soonest+time.Second-1)/time.Second)), true
}

// infoJSON is task t's task_info in a given state.
func (s *Server) infoJSON(t *task, status string, updated time.Time, taskErr *taskError) taskInfoJSON {
	info := taskInfoJSON{
		ID:        t.rec.ID,
		Status:    status,
		CreatedAt: formatTime(t.rec.CreatedAt),
		UpdatedAt: formatTime(updated),
	}
	if taskErr != nil {
		info.Error = map[string]any{
			s.errorCodeField: taskErr.code,
			"title":          taskErr.title,
			"detail":         taskErr.detail,
		}
	}
	return info
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
	out := taskJSON{TaskInfo: s.infoJSON(t, status, updated, taskErr)}
	n := t.n
	s.mu.Unlock()

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
	scheme, _, _ := strings.Cut(fallback, "://")
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
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port))
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
		id = s.newID()
	}
	first, _, _ := s.statuses()
	now := formatTime(s.now())
	return jsonResponse(http.StatusOK, taskJSON{TaskInfo: taskInfoJSON{ID: id, Status: first, CreatedAt: now, UpdatedAt: now}}).body
}
