package qwenedittest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawConn is a hand-driven HTTP/2 client connection, for checking the
// server frame by frame.
type rawConn struct {
	t        *testing.T
	s        *Server
	c        *tls.Conn
	fr       *http2.Framer
	enc      *hpack.Encoder
	hbuf     bytes.Buffer
	settings map[http2.SettingID]uint32 // the server's
}

// dialRaw opens an h2 connection to s's API, sends the preface and
// settings, and reads the server's SETTINGS.
func dialRaw(t *testing.T, s *Server, settings ...http2.Setting) *rawConn {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	c, err := tls.Dial("tcp", strings.TrimPrefix(s.URL(), "https://"), &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.Equal(t, "h2", c.ConnectionState().NegotiatedProtocol)
	// A safety net so that a broken server fails the test instead of
	// hanging it; nothing is timed.
	require.NoError(t, c.SetDeadline(time.Now().Add(time.Minute)))
	_, err = io.WriteString(c, http2.ClientPreface)
	require.NoError(t, err)
	rc := &rawConn{t: t, s: s, c: c, fr: http2.NewFramer(c, c), settings: map[http2.SettingID]uint32{}}
	rc.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	rc.fr.SetMaxReadFrameSize(16384) // what a client that sends no MAX_FRAME_SIZE accepts
	rc.enc = hpack.NewEncoder(&rc.hbuf)
	require.NoError(t, rc.fr.WriteSettings(settings...))
	f, err := rc.fr.ReadFrame()
	require.NoError(t, err)
	sf, ok := f.(*http2.SettingsFrame)
	require.True(t, ok, "SETTINGS first, got %v", f)
	require.False(t, sf.IsAck())
	require.NoError(t, sf.ForeachSetting(func(st http2.Setting) error { rc.settings[st.ID] = st.Val; return nil }))
	require.NoError(t, rc.fr.WriteSettingsAck())
	return rc
}

// next returns the next frame, skipping SETTINGS acknowledgements and
// WINDOW_UPDATEs unless all.
func (rc *rawConn) next(all ...bool) http2.Frame {
	rc.t.Helper()
	for {
		f, err := rc.fr.ReadFrame()
		require.NoError(rc.t, err)
		if len(all) == 0 {
			if sf, ok := f.(*http2.SettingsFrame); ok && sf.IsAck() {
				continue
			}
			if _, ok := f.(*http2.WindowUpdateFrame); ok {
				continue
			}
		}
		return f
	}
}

// request opens stream id with the server's key unless auth says
// otherwise ("-" for none); extra are more header fields, in pairs.
func (rc *rawConn) request(id uint32, method, path string, endStream bool, extra ...string) {
	rc.t.Helper()
	rc.hbuf.Reset()
	fields := []string{":method", method, ":scheme", "https", ":authority", strings.TrimPrefix(rc.s.URL(), "https://"), ":path", path}
	auth := "Bearer " + rc.s.APIKey()
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i] == "authorization" {
			auth = extra[i+1]
			continue
		}
		fields = append(fields, extra[i], extra[i+1])
	}
	if auth != "-" {
		fields = append(fields, "authorization", auth)
	}
	for i := 0; i < len(fields); i += 2 {
		require.NoError(rc.t, rc.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]}))
	}
	require.NoError(rc.t, rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: rc.hbuf.Bytes(), EndStream: endStream, EndHeaders: true}))
}

// response reads a stream's final response (skipping 1xx) and its body.
func (rc *rawConn) response(id uint32) (status int, header map[string]string, body []byte) {
	rc.t.Helper()
	header = map[string]string{}
	for {
		switch f := rc.next().(type) {
		case *http2.MetaHeadersFrame:
			require.Equal(rc.t, id, f.StreamID)
			status, _ = strconv.Atoi(f.PseudoValue("status"))
			for _, hf := range f.RegularFields() {
				header[hf.Name] = hf.Value
			}
			if f.StreamEnded() {
				return status, header, body
			}
		case *http2.DataFrame:
			require.Equal(rc.t, id, f.StreamID)
			body = append(body, f.Data()...)
			if f.StreamEnded() {
				return status, header, body
			}
		default:
			rc.t.Fatalf("unexpected frame %v", f)
		}
	}
}

// expectEOF checks that the server closed the connection.
func (rc *rawConn) expectEOF() {
	rc.t.Helper()
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			assert.ErrorIs(rc.t, err, io.EOF)
			return
		}
		if wu, ok := f.(*http2.WindowUpdateFrame); ok && wu.StreamID == 0 {
			continue
		}
		rc.t.Fatalf("frame %v before the end", f)
	}
}

func TestH2SettingsAndPing(t *testing.T) {
	s := newTLSServer(t)
	rc := dialRaw(t, s)
	assert.Equal(t, uint32(250), rc.settings[http2.SettingMaxConcurrentStreams])
	assert.Equal(t, uint32(1<<20), rc.settings[http2.SettingInitialWindowSize])
	assert.Equal(t, uint32(0), rc.settings[http2.SettingEnablePush])

	// The connection window is raised at once.
	wu, ok := rc.next(true).(*http2.WindowUpdateFrame)
	require.True(t, ok)
	assert.Equal(t, uint32(0), wu.StreamID)
	assert.Equal(t, uint32(h2ConnWindow-65535), wu.Increment)
	sf, ok := rc.next(true).(*http2.SettingsFrame)
	require.True(t, ok)
	assert.True(t, sf.IsAck(), "our settings are acknowledged")

	data := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	require.NoError(t, rc.fr.WritePing(false, data))
	pf, ok := rc.next().(*http2.PingFrame)
	require.True(t, ok)
	assert.True(t, pf.IsAck())
	assert.Equal(t, data, pf.Data)

	// Requests work, with headers split over CONTINUATION frames, and
	// answers whose headers exceed the client's frame size come in
	// CONTINUATION frames too.
	s.InjectFault(Fault{Method: "GET", Kind: FaultStatus, Status: 503, RetryAfter: strings.Repeat("7", 40000)})
	rc.hbuf.Reset()
	for _, hf := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "x"}, {":path", submitPath + "/abc"}, {"authorization", "Bearer " + s.APIKey()}} {
		require.NoError(t, rc.enc.WriteField(hpack.HeaderField{Name: hf[0], Value: hf[1]}))
	}
	block := rc.hbuf.Bytes()
	require.NoError(t, rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:10], EndStream: true}))
	require.NoError(t, rc.fr.WriteContinuation(1, false, block[10:20]))
	require.NoError(t, rc.fr.WriteContinuation(1, true, block[20:]))
	status, hdr, body := rc.response(1)
	assert.Equal(t, 503, status)
	assert.Len(t, hdr["retry-after"], 40000)
	assert.JSONEq(t, `{"detail":"Service Unavailable"}`, string(body))
	assert.Empty(t, s.Requests()[0].Header.Get("Host"), "Host is not a header")
}

// TestH2ResponseFlowControl gives the server a 100-byte stream window and
// checks that it never sends more than the client allowed, nor frames
// larger than the client's frame size.
func TestH2ResponseFlowControl(t *testing.T) {
	const size = 100_000
	s := newTLSServer(t)
	rc := dialRaw(t, s, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100})
	s.InjectFault(Fault{Method: "GET", Kind: FaultHugeBody, Size: size})
	rc.request(1, "GET", submitPath+"/x", true)
	streamGranted, connGranted := 100, 65535
	received := 0
	for {
		switch f := rc.next().(type) {
		case *http2.MetaHeadersFrame:
			assert.Equal(t, "500", f.PseudoValue("status"))
		case *http2.DataFrame:
			n := len(f.Data())
			received += n
			require.LessOrEqual(t, received, streamGranted, "stream window exceeded")
			require.LessOrEqual(t, received, connGranted, "connection window exceeded")
			if f.StreamEnded() {
				assert.Equal(t, size, received)
				return
			}
			if received == streamGranted {
				require.NoError(t, rc.fr.WriteWindowUpdate(1, 3000))
				require.NoError(t, rc.fr.WriteWindowUpdate(0, 3000))
				streamGranted += 3000
				connGranted += 3000
			}
		default:
			t.Fatalf("unexpected frame %v", f)
		}
	}
}

// TestH2RequestFlowControl: the server grants 1 MiB per stream and resets
// a stream that sends more than it was granted.
func TestH2RequestFlowControl(t *testing.T) {
	s := newTLSServer(t)
	rc := dialRaw(t, s)
	s.InjectFault(Fault{Method: "POST", Kind: FaultHang, BeforeBody: true}) // never reads
	rc.request(1, "POST", submitPath, false)
	chunk := make([]byte, 16384)
	for range (1 << 20) / len(chunk) {
		require.NoError(t, rc.fr.WriteData(1, false, chunk))
	}
	require.NoError(t, rc.fr.WriteData(1, false, []byte{' '}))
	rst, ok := rc.next().(*http2.RSTStreamFrame)
	require.True(t, ok)
	assert.Equal(t, uint32(1), rst.StreamID)
	assert.Equal(t, http2.ErrCodeFlowControl, rst.ErrCode)
	eventually(t, func() bool { return s.active.Load() == 0 }, "the reset releases the handler")

	// The connection is fine: the connection window came back.
	rc.request(3, "GET", submitPath+"/x", true)
	status, _, _ := rc.response(3)
	assert.Equal(t, http.StatusNotFound, status)
}

// TestH2ClientReset: RST_STREAM from the client cancels the request's
// context, which releases a hanging handler, and the connection lives on.
func TestH2ClientReset(t *testing.T) {
	s := newTLSServer(t)
	rc := dialRaw(t, s)
	s.InjectFault(Fault{Method: "GET", Kind: FaultHang})
	rc.request(1, "GET", submitPath+"/x", true)
	eventually(t, recorded(s, 1), "the request arrives")
	require.EqualValues(t, 1, s.active.Load())
	require.NoError(t, rc.fr.WriteRSTStream(1, http2.ErrCodeCancel))
	eventually(t, func() bool { return s.active.Load() == 0 }, "the handler returns")
	rc.request(3, "GET", submitPath+"/x", true)
	status, _, _ := rc.response(3)
	assert.Equal(t, http.StatusNotFound, status, "nothing more came for stream 1")

	// A body read fails when the client resets mid-upload.
	rc.request(5, "POST", submitPath, false)
	require.NoError(t, rc.fr.WriteData(5, false, []byte(`{"images":`)))
	eventually(t, func() bool { return s.active.Load() == 1 }, "the handler reads")
	require.NoError(t, rc.fr.WriteRSTStream(5, http2.ErrCodeCancel))
	eventually(t, func() bool { return s.active.Load() == 0 }, "the handler returns")
	assert.Zero(t, s.SubmitCount())
}

// TestH2MaxConcurrentStreams: the 251st concurrent stream is refused, and
// a stream slot frees when a stream ends.
func TestH2MaxConcurrentStreams(t *testing.T) {
	s := newTLSServer(t, WithMaxRecordedBody(0))
	rc := dialRaw(t, s)
	for i := range uint32(h2MaxConcurrentStreams) {
		rc.request(2*i+1, "POST", submitPath, false) // the handlers wait for their bodies
	}
	over := uint32(2*h2MaxConcurrentStreams + 1)
	rc.request(over, "POST", submitPath, false)
	rst, ok := rc.next().(*http2.RSTStreamFrame)
	require.True(t, ok)
	assert.Equal(t, over, rst.StreamID)
	assert.Equal(t, http2.ErrCodeRefusedStream, rst.ErrCode)

	require.NoError(t, rc.fr.WriteData(1, true, []byte(validJSON)))
	status, _, _ := rc.response(1)
	assert.Equal(t, http.StatusAccepted, status)
	rc.request(over+2, "GET", submitPath+"/x", true)
	status, _, _ = rc.response(over + 2)
	assert.Equal(t, http.StatusNotFound, status, "a slot came free")
}

// TestH2ExpectContinueFrames checks 100-continue frame by frame.
func TestH2ExpectContinueFrames(t *testing.T) {
	s := newTLSServer(t)
	rc := dialRaw(t, s)

	// A bad key: 401 at once, no 100, then RST_STREAM(NO_ERROR) to stop
	// the upload that will never be read.
	rc.request(1, "POST", submitPath, false, "expect", "100-continue", "content-length", "1000000", "authorization", "Bearer wrong")
	status, _, body := rc.response(1)
	assert.Equal(t, http.StatusUnauthorized, status, "the final answer, not a 100")
	assert.JSONEq(t, `{"detail":"Invalid or missing API key"}`, string(body))
	rst, ok := rc.next().(*http2.RSTStreamFrame)
	require.True(t, ok)
	assert.Equal(t, uint32(1), rst.StreamID)
	assert.Equal(t, http2.ErrCodeNo, rst.ErrCode)

	// A good key: 100 when the handler reads, then the answer; the
	// body may be padded.
	rc.request(3, "POST", submitPath, false, "expect", "100-continue", "content-length", strconv.Itoa(len(validJSON)))
	mh, ok := rc.next().(*http2.MetaHeadersFrame)
	require.True(t, ok)
	assert.Equal(t, "100", mh.PseudoValue("status"))
	assert.False(t, mh.StreamEnded())
	require.NoError(t, rc.fr.WriteDataPadded(3, false, []byte(validJSON[:10]), make([]byte, 50)))
	require.NoError(t, rc.fr.WriteData(3, true, []byte(validJSON[10:])))
	status, _, _ = rc.response(3)
	assert.Equal(t, http.StatusAccepted, status)
	// No RST_STREAM follows a stream both sides ended: the next frame is
	// the answer to a PING.
	require.NoError(t, rc.fr.WritePing(false, [8]byte{9}))
	pf, ok := rc.next().(*http2.PingFrame)
	require.True(t, ok)
	assert.True(t, pf.IsAck())
	assert.Equal(t, validJSON, string(s.Requests()[1].Body))

	// A content-length the body does not match is a malformed request.
	rc.request(5, "POST", submitPath, false, "content-length", "5")
	require.NoError(t, rc.fr.WriteData(5, true, []byte("123")))
	rst, ok = rc.next().(*http2.RSTStreamFrame)
	require.True(t, ok)
	assert.Equal(t, http2.ErrCodeProtocol, rst.ErrCode)
}

// TestH2GoAwayLastStreamID checks FaultGoAway's Last-Stream-ID.
func TestH2GoAwayLastStreamID(t *testing.T) {
	readGoAway := func(t *testing.T, rc *rawConn) *http2.GoAwayFrame {
		t.Helper()
		for {
			switch f := rc.next().(type) {
			case *http2.GoAwayFrame:
				rc.expectEOF()
				return f
			case *http2.RSTStreamFrame, *http2.WindowUpdateFrame:
			default:
				t.Fatalf("unexpected frame %v", f)
			}
		}
	}

	t.Run("unprocessed", func(t *testing.T) {
		s := newTLSServer(t)
		rc := dialRaw(t, s)
		rc.request(1, "GET", submitPath+"/x", true)
		status, _, _ := rc.response(1)
		require.Equal(t, http.StatusNotFound, status)
		s.InjectFault(Fault{Method: "POST", Kind: FaultGoAway})
		rc.request(3, "POST", submitPath, false)
		require.NoError(t, rc.fr.WriteData(3, true, []byte(validJSON)))
		ga := readGoAway(t, rc)
		assert.Equal(t, uint32(1), ga.LastStreamID, "stream 3 was not processed")
		assert.Equal(t, http2.ErrCodeNo, ga.ErrCode)
		assert.Equal(t, "qwenedittest: FaultGoAway", string(ga.DebugData()))
		assert.Zero(t, s.SubmitCount())
	})
	t.Run("processed", func(t *testing.T) {
		s := newTLSServer(t)
		rc := dialRaw(t, s)
		s.InjectFault(Fault{Kind: FaultGoAway, AfterCreate: true, ResetCode: ResetInternalError})
		rc.request(1, "POST", submitPath, false)
		require.NoError(t, rc.fr.WriteData(1, true, []byte(validJSON)))
		ga := readGoAway(t, rc)
		assert.Equal(t, uint32(1), ga.LastStreamID)
		assert.Equal(t, http2.ErrCodeInternal, ga.ErrCode)
		assert.Equal(t, 1, s.SubmitCount())
	})
	t.Run("raised by streams in flight", func(t *testing.T) {
		s := newTLSServer(t)
		rc := dialRaw(t, s)
		s.InjectFault(Fault{Method: "POST", Kind: FaultGoAway})
		s.InjectFault(Fault{Method: "GET", Kind: FaultHang})
		rc.request(1, "POST", submitPath, false) // takes the GOAWAY, waits for its body
		rc.request(3, "GET", submitPath+"/x", true)
		eventually(t, recorded(s, 1), "stream 3 is being handled")
		require.NoError(t, rc.fr.WriteData(1, true, []byte(validJSON)))
		ga := readGoAway(t, rc)
		assert.Equal(t, uint32(3), ga.LastStreamID, "stream 3 may have been processed")
		require.NoError(t, rc.c.Close())
		eventually(t, func() bool { return s.active.Load() == 0 }, "the hanging stream ends with the connection")
	})
}

// TestH2ClientGoAway: after the client's GOAWAY the server finishes the
// open streams and closes the connection.
func TestH2ClientGoAway(t *testing.T) {
	s := newTLSServer(t)
	rc := dialRaw(t, s)
	rc.request(1, "POST", submitPath, false)
	require.NoError(t, rc.fr.WriteGoAway(1, http2.ErrCodeNo, nil))
	require.NoError(t, rc.fr.WriteData(1, true, []byte(validJSON)))
	status, _, _ := rc.response(1)
	assert.Equal(t, http.StatusAccepted, status)
	rc.expectEOF()
}

// TestH2ProtocolErrors: frames a client must not send end the connection
// with GOAWAY.
func TestH2ProtocolErrors(t *testing.T) {
	for name, send := range map[string]func(rc *rawConn){
		"DATA on an idle stream": func(rc *rawConn) { require.NoError(rc.t, rc.fr.WriteData(9, true, []byte("x"))) },
		"even stream id":         func(rc *rawConn) { rc.request(2, "GET", submitPath+"/x", true) },
		"connection window overflow": func(rc *rawConn) {
			require.NoError(rc.t, rc.fr.WriteWindowUpdate(0, 1<<31-1))
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := newTLSServer(t)
			rc := dialRaw(t, s)
			send(rc)
			for {
				f := rc.next()
				if ga, ok := f.(*http2.GoAwayFrame); ok {
					assert.NotEqual(t, http2.ErrCodeNo, ga.ErrCode)
					break
				}
			}
			_, err := rc.fr.ReadFrame()
			require.Error(t, err)
			assert.True(t, errors.Is(err, io.EOF), "the server closes: %v", err)
		})
	}
}
