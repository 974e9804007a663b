package qwenedit_test

import (
	"context"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"

	"github.com/seed-b62e15c8/qwenedit"
	"github.com/seed-b62e15c8/qwenedit/internal/h2fault"
	"github.com/seed-b62e15c8/qwenedit/qwenedittest"
)

// The frame-level cases of the fault suite: resets with chosen codes and
// GOAWAYs with chosen Last-Stream-IDs, which net/http's server (and so
// qwenedittest) never sends on purpose. An h2fault server plays the
// HTTP/2 front; the requests it lets through (or processes before its
// fault) go to a qwenedittest server behind it, which makes and counts
// the tasks.

// h2Case is one frame-level case; see faultCase for the fields.
type h2Case struct {
	name                           string
	op                             faultOp
	faults                         []h2fault.Fault
	bigBody                        bool
	wantPOST, wantGET, wantSubmits int
	wantSleeps                     []time.Duration
	check                          faultCheck
}

func runH2Cases(t *testing.T, cases []h2Case) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runH2Case(t, tc) })
	}
}

func runH2Case(t *testing.T, tc h2Case) {
	clk := qwenedit.NewFakeClock()
	srv := qwenedittest.NewServer(qwenedittest.WithClock(clk.Now))
	t.Cleanup(srv.Close)
	backend, err := url.Parse(srv.URL())
	require.NoError(t, err)
	front, err := h2fault.New(httputil.NewSingleHostReverseProxy(backend))
	require.NoError(t, err)
	t.Cleanup(front.Close)
	c := newFaultClient(t, srv.APIKey(), front.URL, clk, qwenedit.WithHTTPClient(front.Client()))
	ctx, cancel := context.WithTimeout(context.Background(), faultCaseTimeout)
	defer cancel()
	env := startFaultCase(ctx, t, c, &faultEnv{srv: srv, clk: clk}, tc.op)
	for _, f := range tc.faults {
		front.Inject(f)
	}

	r := measureFaultOp(ctx, t, env, func() (int, int) { return front.Requests("POST"), front.Requests("GET") }, func() *faultResult {
		return callFaultOp(ctx, c, env, tc.op, tc.bigBody, nil)
	})

	tc.check(t, env, r)
	assertFaultCounts(t, r, tc.wantPOST, tc.wantGET, tc.wantSubmits, tc.wantSleeps)
	assert.Zero(t, front.Pending(), "every injected fault was used")
}

// streamResetCases are TestFaultStreamResets' frame-level cases.
func streamResetCases() []h2Case {
	var cases []h2Case
	// REFUSED_STREAM after a task was made would be a server breaking the
	// protocol: its cases are below, where the stream was not processed.
	for _, code := range []http2.ErrCode{http2.ErrCodeProtocol, http2.ErrCodeInternal, http2.ErrCodeCancel} {
		reset := func(f h2fault.Fault) []h2fault.Fault {
			f.Method, f.Code = "POST", code
			return []h2fault.Fault{f}
		}
		cases = append(cases,
			h2Case{
				name: "POST reset " + code.String() + " after create is ambiguous, one task", op: opSubmit,
				faults:   reset(h2fault.Fault{Process: true}),
				wantPOST: 1, wantSubmits: 1, wantSleeps: []time.Duration{},
				check: checks(ambiguous, noAPIError),
			},
			h2Case{
				name: "large POST reset " + code.String() + " after create is ambiguous, one task", op: opSubmit,
				faults: reset(h2fault.Fault{Process: true}), bigBody: true,
				wantPOST: 1, wantSubmits: 1, wantSleeps: []time.Duration{},
				check: checks(ambiguous, noAPIError),
			},
			h2Case{
				name: "POST reset " + code.String() + " after the body was read is ambiguous, no task", op: opSubmit,
				faults:   reset(h2fault.Fault{}),
				wantPOST: 1, wantSubmits: 0, wantSleeps: []time.Duration{},
				check: checks(ambiguous, noAPIError),
			},
			h2Case{
				name: "large POST reset " + code.String() + " before the body is read is retried, one task", op: opSubmit,
				faults: reset(h2fault.Fault{BeforeBody: true}), bigBody: true,
				wantPOST: 2, wantSubmits: 1,
				check: succeeded,
			},
			h2Case{
				name: "Edit with a reset " + code.String() + " after create stops, one task", op: opEdit,
				faults:   reset(h2fault.Fault{Process: true}),
				wantPOST: 1, wantGET: 0, wantSubmits: 1,
				check: checks(ambiguous, noAPIError),
			},
		)
	}
	refused := []h2fault.Fault{{Method: "POST", Code: http2.ErrCodeRefusedStream}}
	return append(cases,
		h2Case{
			name: "POST refused with REFUSED_STREAM after the body was sent is retried, one task", op: opSubmit,
			faults:   refused,
			wantPOST: 2, wantSubmits: 1,
			check: succeeded,
		},
		h2Case{
			name: "large POST refused with REFUSED_STREAM after the body was sent is retried, one task", op: opSubmit,
			faults: refused, bigBody: true,
			wantPOST: 2, wantSubmits: 1,
			check: succeeded,
		},
		h2Case{
			name: "Edit with a submit refused with REFUSED_STREAM is retried, one task", op: opEdit,
			faults:   refused,
			wantPOST: 2, wantGET: anyCount, wantSubmits: 1,
			check: succeeded,
		},
		h2Case{
			name: "POST GOAWAY below its stream after the body was sent is retried, one task", op: opSubmit,
			faults:   []h2fault.Fault{{Method: "POST", GoAway: true}},
			wantPOST: 2, wantSubmits: 1,
			check: succeeded,
		},
		h2Case{
			name: "POST GOAWAY counting its stream after create is ambiguous, one task", op: opSubmit,
			faults:   []h2fault.Fault{{Method: "POST", GoAway: true, Counted: true, Process: true}},
			wantPOST: 1, wantSubmits: 1, wantSleeps: []time.Duration{},
			check: checks(ambiguous, noAPIError),
		},
		h2Case{
			name: "large POST GOAWAY before the body is read is retried, one task", op: opSubmit,
			faults: []h2fault.Fault{{Method: "POST", GoAway: true, BeforeBody: true}}, bigBody: true,
			wantPOST: 2, wantSubmits: 1,
			check: succeeded,
		},
		h2Case{
			name: "GET reset PROTOCOL_ERROR is retried", op: opGet,
			faults:  []h2fault.Fault{{Method: "GET", Code: http2.ErrCodeProtocol}},
			wantGET: 2,
			check:   succeeded,
		},
		h2Case{
			name: "GET GOAWAY is retried", op: opGet,
			faults:  []h2fault.Fault{{Method: "GET", GoAway: true}},
			wantGET: anyCount, // Go's HTTP/2 client may retry an unprocessed GET itself on a new connection
			check:   succeeded,
		},
	)
}
