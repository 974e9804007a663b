package qwenedit

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// assertSameTask compares two tasks field by field, times as instants.
func assertSameTask(t *testing.T, want, got *Task) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.Status, got.Status)
	assert.True(t, want.CreatedAt.Equal(got.CreatedAt), "created_at %v, want %v", got.CreatedAt, want.CreatedAt)
	assert.True(t, want.UpdatedAt.Equal(got.UpdatedAt), "updated_at %v, want %v", got.UpdatedAt, want.UpdatedAt)
	assert.Equal(t, want.Error, got.Error)
	assert.Equal(t, want.Images, got.Images)
}

func TestTaskJSONRoundTrip(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for _, task := range []*Task{
		{
			TaskInfo: TaskInfo{
				ID: "8e1e315e", Status: statusFailed,
				CreatedAt: time.Date(2025, 2, 9, 11, 30, 0, 123456789, cet),
				UpdatedAt: time.Date(2025, 2, 9, 10, 30, 15, 1, time.UTC),
				Error:     &TaskError{Code: 3001, Title: "Invalid Request", Detail: "prohibited"},
			},
		},
		{
			TaskInfo: TaskInfo{ID: "t", Status: statusCompleted, CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", -7*3600))},
			Images:   []string{"https://assets.test/0.png", "https://assets.test/1.png"},
		},
		{TaskInfo: TaskInfo{ID: "zero times", Status: "mystery"}},
		{TaskInfo: TaskInfo{ID: "empty error", Status: statusFailed, Error: &TaskError{}}},
		{}, // even the zero Task
	} {
		data, err := json.Marshal(task)
		require.NoError(t, err)
		var back Task
		require.NoError(t, json.Unmarshal(data, &back), "%s", data)
		assertSameTask(t, task, &back)

		var ptr *Task // and through a pointer, as a field of a caller's struct
		require.NoError(t, json.Unmarshal(data, &ptr))
		assertSameTask(t, task, ptr)
	}
}

func TestTaskJSONShape(t *testing.T) {
	task := &Task{
		TaskInfo: TaskInfo{ID: "a", Status: statusCompleted, CreatedAt: time.Date(2025, 2, 9, 10, 30, 0, 0, time.UTC)},
		Images:   []string{"u"},
	}
	data, err := json.Marshal(task)
	require.NoError(t, err)
	// The API's own shape; a zero time (updated_at) is left out.
	assert.JSONEq(t, `{"task_info":{"id":"a","status":"completed","created_at":"2025-02-09T10:30:00Z"},"images":["u"]}`, string(data))

	data, err = json.Marshal(task.TaskInfo)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"a","status":"completed","created_at":"2025-02-09T10:30:00Z"}`, string(data))

	data, err = json.Marshal(&TaskError{Code: 3001, Title: "T", Detail: "D"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"code":3001,"title":"T","detail":"D"}`, string(data))
}

// TestTaskUnmarshalsTheAPIAnswer: the answer the API sends unmarshals into
// a Task with its images (TaskInfo's UnmarshalJSON, promoted to Task, used
// to drop them).
func TestTaskUnmarshalsTheAPIAnswer(t *testing.T) {
	for _, body := range []string{pendingJS, runningJS, completeJS, failedJS} {
		want, err := decodeTask([]byte(body))
		require.NoError(t, err)
		var got Task
		require.NoError(t, json.Unmarshal([]byte(body), &got))
		assertSameTask(t, want, &got)
	}
	var got Task
	require.NoError(t, json.Unmarshal([]byte(completeJS), &got))
	assert.Equal(t, []string{"https://assets.test/r/task-1/0.png"}, got.Images)

	for _, body := range []string{`[]`, `"x"`, `{}`, `{"task_info":7}`, `{"task_info":{}`} {
		assert.Error(t, json.Unmarshal([]byte(body), &got), body)
	}
	require.NoError(t, json.Unmarshal([]byte(`{"task_info":{"status":"pending"}}`), &got), "Unmarshal needs no id")
	assert.Empty(t, got.ID)
}

// TestTaskErrorValues: task_info.error is read however the API words it;
// a value of another type is no error, never a failure to decode the task.
func TestTaskErrorValues(t *testing.T) {
	cases := []struct {
		json string
		want *TaskError
	}{
		{`{"code":3001,"title":"T","detail":"D"}`, &TaskError{3001, "T", "D"}},
		{`{"error_code":4002,"code":1,"detail":"D"}`, &TaskError{4002, "", "D"}},
		{`{"code":"3002","message":"M"}`, &TaskError{3002, "", "M"}},
		{`{"code":" 12 ","detail":"D","message":"M"}`, &TaskError{12, "", "D"}},
		{`{"code":"InvalidApiKey","msg":"m"}`, &TaskError{0, "", "m"}},
		{`{"code":3001.5,"title":{"detail":"nested title"}}`, &TaskError{0, "nested title", ""}},
		{`{"detail":[{"loc":["body","n"],"msg":"too big"}]}`, &TaskError{0, "", `["body","n"]: too big`}},
		{`"  boom  "`, &TaskError{0, "", "boom"}},
		{`"  "`, nil}, {`7`, nil}, {`[]`, nil}, {`true`, nil}, {`null`, nil},
	}
	for _, tc := range cases {
		task, err := decodeTask([]byte(`{"task_info":{"id":"a","status":"failed","error":` + tc.json + `}}`))
		require.NoError(t, err, tc.json)
		assert.Equal(t, tc.want, task.Error, tc.json)
	}
}

func TestDecodeTaskTimestamps(t *testing.T) {
	want := time.Date(2025, 2, 9, 10, 30, 0, 0, time.UTC)
	cases := []struct {
		at   string
		want time.Time
	}{
		{`"2025-02-09T10:30:00Z"`, want},
		{`"2025-02-09T10:30:00.000Z"`, want},
		{`"2025-02-09T10:30:00.123456789Z"`, want.Add(123456789)},
		{`"2025-02-09T11:30:00+01:00"`, want},
		{`"2025-02-09T10:30:00"`, want},
		{`"2025-02-09T10:30:00.5"`, want.Add(500 * time.Millisecond)},
		// Not read: other layouts, numbers (no Unix-unit guessing), other types.
		{`"2025-02-09 10:30:00"`, time.Time{}},
		{`"Sun, 09 Feb 2025 10:30:00 GMT"`, time.Time{}},
		{`1739097000`, time.Time{}},
		{`"1739097000"`, time.Time{}},
		{`"` + strings.Repeat("9", 100) + `"`, time.Time{}},
		{`null`, time.Time{}},
	}
	for _, tc := range cases {
		task, err := decodeTask([]byte(`{"task_info":{"id":"a","created_at":` + tc.at + `,"updated_at":` + tc.at + `}}`))
		require.NoError(t, err, tc.at)
		assert.True(t, tc.want.Equal(task.CreatedAt), "%s: got %v", tc.at, task.CreatedAt)
		assert.True(t, tc.want.Equal(task.UpdatedAt), "%s: got %v", tc.at, task.UpdatedAt)
	}
}

func TestDecodeTaskResultURLs(t *testing.T) {
	cases := []struct {
		name, rest string // rest: top-level members after task_info
		info       string // extra task_info members
		want       []string
	}{
		{"images list", `"images":["u1","u2"]`, ``, []string{"u1", "u2"}},
		{"images objects", `"images":[{"url":"u1"},{"url":" u2 ","width":1}]`, ``, []string{"u1", "u2"}},
		{"images bare string", `"images":"u1"`, ``, []string{"u1"}},
		{"image string", `"image":"u1"`, ``, []string{"u1"}},
		{"image list", `"image":["u1",{"url":"u2"}]`, ``, []string{"u1", "u2"}},
		{"images before image", `"image":"u2","images":["u1"]`, ``, []string{"u1"}},
		{"empty images, then image", `"images":[],"image":"u2"`, ``, []string{"u2"}},
		{"blank items skipped", `"images":["",{"url":""},"  ","u1"]`, ``, []string{"u1"}},
		{"inside task_info", ``, `,"images":["u1"]`, []string{"u1"}},
		{"image inside task_info", ``, `,"image":"u1"`, []string{"u1"}},
		{"top level first", `"images":["u1"]`, `,"images":["u2"]`, []string{"u1"}},
		{"repeated key: the last", `"images":["u1"],"images":["u2"]`, ``, []string{"u2"}},
		{"keys match as encoding/json matches them", `"Images":["u1"]`, ``, []string{"u1"}},
		{"none", ``, ``, nil},
	}
	for _, tc := range cases {
		body := `{"task_info":{"id":"a","status":"completed"` + tc.info + `}`
		if tc.rest != "" {
			body += "," + tc.rest
		}
		task, err := decodeTask([]byte(body + "}"))
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, task.Images, tc.name)
	}
	// The cap on the URLs read (maxResultURLs): internal/wire's
	// TestResultURLsCap.
}

// TestErrorValues: task_info.error, the error beside task_info and error
// bodies are read by one parser (internal/wire's readError), with the
// same results.
// (In an error body, task_info.error is one level down: see
// TestErrorDepthLimit.)
func TestErrorValues(t *testing.T) {
	cases := []struct {
		value  string
		detail string // the message: TaskError.Detail, APIError.Message
		code   int
	}{
		{`"boom"`, "boom", 0},
		{`{"detail":"D","code":3001}`, "D", 3001},
		{`{"error":{"message":"nested","code":"x"}}`, "nested", 0},
		{`{"message":{"msg":"deeper"},"error_code":"7"}`, "deeper", 7},
		{`{"detail":[{"loc":["body","prompt"],"msg":"field required"},{"loc":"n","msg":"too big"},{"msg":""},{"ctx":1}]}`, `["body","prompt"]: field required; "n": too big`, 0},
		{`{"detail":["a",["b"],7,null,{}]}`, "a; b", 0},
		{`{"detail":{"title":"only a title"}}`, "only a title", 0},
		{`{"detail":null,"code":1000}`, "", 1000},
		{`{"detail":["1","2","3","4","5","6","7","8","9","10","11"]}`, "1; 2; 3; 4; 5; 6; 7; 8; 9; 10", 0},
	}
	for _, tc := range cases {
		task, err := decodeTask([]byte(`{"task_info":{"id":"a","status":"failed","error":` + tc.value + `}}`))
		require.NoError(t, err, tc.value)
		require.NotNil(t, task.Error, tc.value)
		assert.Equal(t, tc.detail, task.Error.Detail, tc.value)
		assert.Equal(t, tc.code, task.Error.Code, tc.value)

		beside, err := decodeTask([]byte(`{"task_info":{"id":"a","status":"failed"},"error":` + tc.value + `}`))
		require.NoError(t, err, tc.value)
		assert.Equal(t, task.Error, beside.Error, tc.value)

		msg, code := parseErrorBody([]byte(`{"task_info":{"error":` + tc.value + `}}`))
		assert.Equal(t, tc.detail, msg, tc.value)
		assert.Equal(t, tc.code, code, tc.value)
	}
}

// TestErrorDepthLimit: messages are looked for maxErrorDepth (internal/wire)
// objects and lists deep; deeper content is ignored, not an error.
func TestErrorDepthLimit(t *testing.T) {
	for _, tc := range []struct{ value, detail string }{
		{`[[["three lists"]]]`, "three lists"},
		{`[[[["four lists"]]]]`, ""},
		{`[[{"msg":"an object in two lists"}]]`, "an object in two lists"},
		{`[[[{"msg":"an object in three lists"}]]]`, ""},
		{`{"detail":{"error":{"message":"three objects"}}}`, "three objects"},
		{`{"detail":{"error":{"message":{"msg":"four objects"}}}}`, ""},
		{nestedLists(9000), ""},
	} {
		task, err := decodeTask([]byte(`{"task_info":{"id":"a","status":"failed","error":{"title":"T","detail":` + tc.value + `}}}`))
		require.NoError(t, err, tc.value)
		assert.Equal(t, &TaskError{Title: "T", Detail: tc.detail}, task.Error, tc.value)
	}
	msg, _ := parseErrorBody([]byte(`{"detail":[[["three lists"]]]}`))
	assert.Equal(t, "three lists", msg)
	msg, _ = parseErrorBody([]byte(`{"task_info":{"error":{"detail":[[["one level less"]]]}}}`))
	assert.Empty(t, msg)
}

func TestParseErrorBodyMore(t *testing.T) {
	cases := []struct {
		body string
		msg  string
		code int
	}{
		{`"a JSON string"`, "a JSON string", 0},
		{`[{"loc":["body"],"msg":"top-level list"}]`, `["body"]: top-level list`, 0},
		{`{"msg":"m","title":"t"}`, "m", 0},
		{`{"title":"title last"}`, "title last", 0},
		{`{"detail":"d","task_info":{"error":{"code":3001}}}`, "d", 3001},
		{`{"error_code":2005,"task_info":{"error":{"code":3001,"detail":"x"}}}`, "x", 2005},
		{`{"Detail":"keys match as encoding/json matches them"}`, "keys match as encoding/json matches them", 0},
		{`{"detail":"\u00e9chec \u2014 r\u00e9essayez"}`, "échec — réessayez", 0},
		{"  \n", "", 0},
		{"plain\ttext ", "plain\ttext", 0},
		{strings.Repeat("x", 201), "", 0},
		{`{"detail":"broken"`, "", 0}, // not JSON, and not plain text either
		{`{"task_info":["not an object"],"title":"T"}`, "T", 0},
	}
	for _, tc := range cases {
		msg, code := parseErrorBody([]byte(tc.body))
		assert.Equal(t, tc.msg, msg, tc.body)
		assert.Equal(t, tc.code, code, tc.body)
	}
}

// nestedLists is a string nested in depth lists.
func nestedLists(depth int) string {
	return strings.Repeat("[", depth) + `"x"` + strings.Repeat("]", depth)
}

// leastAllocBytes is the fewest bytes one call of f allocated, in runs
// calls. The least is what the code itself needs: a sync.Pool emptied by
// the GC (or, with -race, on purpose) only adds to some calls.
func leastAllocBytes(runs int, f func()) uint64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f() // warm up
	least := ^uint64(0)
	for range runs {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// TestDecodeDeepNestingIsLinear: the old parser re-parsed a nested value
// at every level, in time and memory quadratic in the depth (5,000 nested
// lists in an error detail took over a second). Doubling the depth must
// at most about double the bytes allocated; the old parser's ratio was
// 4.3 for both shapes.
func TestDecodeDeepNestingIsLinear(t *testing.T) {
	shapes := []struct {
		name  string
		body  func(depth int) []byte
		parse func(body []byte) string
	}{
		{"200 poll answer", func(depth int) []byte {
			return []byte(`{"task_info":{"id":"t","status":"failed","error":{"title":"T","detail":` + nestedLists(depth) + `}}}`)
		}, func(body []byte) string {
			task, err := decodeTask(body)
			if err != nil || task.Error == nil {
				return fmt.Sprint(err)
			}
			return task.ID + " " + task.Error.Title
		}},
		{"5xx error body", func(depth int) []byte {
			return []byte(`{"detail":` + nestedLists(depth) + `,"error_code":7}`)
		}, func(body []byte) string {
			// parseErrorBody alone: newAPIError's io.ReadAll allocates
			// about twice the body, which would hide the parser's share.
			_, code := parseErrorBody(body)
			return fmt.Sprint(code)
		}},
	}
	want := []string{"t T", "7"}
	for i, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			b1000, b2000 := s.body(1000), s.body(2000)
			assert.Equal(t, want[i], s.parse(b2000))
			a1000 := leastAllocBytes(20, func() { s.parse(b1000) })
			a2000 := leastAllocBytes(20, func() { s.parse(b2000) })
			ratio := float64(a2000) / float64(max(a1000, 1))
			t.Logf("bytes allocated: depth 1000: %d, depth 2000: %d, ratio %.2f", a1000, a2000, ratio)
			assert.Less(t, ratio, 2.5)
		})
	}
}

// deepBodies are answers of about size bytes built to be slow to read.
func deepBodies(size int) map[string][]byte {
	fill := func(unit string, rest int) string { return strings.Repeat(unit, (size-rest)/len(unit)) }
	task := func(errorValue string) []byte {
		return []byte(`{"task_info":{"id":"t","status":"failed","error":` + errorValue + `}}`)
	}
	return map[string][]byte{
		// 230 lists nested 9,000 deep in the detail (the old parser took 36 s for 8).
		"nested-lists": task(`{"detail":[` + fill(nestedLists(9000)+",", 100) + `"x"]}`),
		// Objects at the walk's depth limit, full of members.
		"deep-members": task(`{"detail":[[{` + fill(`"detail":0,`, 100) + `"a":0}]]}`),
		// A wide error object: every member is compared with the known names.
		"wide-error": task(`{` + fill(`"msg":0,`, 100) + `"detail":"D"}`),
		// One 4 MiB detail string with escapes (decoded by encoding/json).
		"escaped-detail": task(`{"detail":"` + fill(`a\n`, 100) + `"}`),
		// A million result URLs.
		"many-images": []byte(`{"task_info":{"id":"t","status":"completed"},"images":[` + fill(`"u",`, 100) + `"u"]}`),
		// Many messageless list items in the detail.
		"many-items": task(`{"detail":[` + fill(`{},`, 100) + `{}]}`),
		// Unknown members at the top.
		"wide-top": []byte(`{"task_info":{"id":"t"},` + fill(`"a":[0],`, 100) + `"b":0}`),
	}
}

func TestDecodeDeepBodies(t *testing.T) {
	for name, body := range deepBodies(256 << 10) {
		task, err := decodeTask(body)
		require.NoError(t, err, name)
		assert.Equal(t, "t", task.ID, name)
	}
}

// BenchmarkDecodeDeep decodes the slowest answers found of the largest
// size read (maxSuccessBody, 4 MiB).
func BenchmarkDecodeDeep(b *testing.B) {
	bodies := deepBodies(maxSuccessBody - 1<<10)
	for _, name := range []string{"nested-lists", "deep-members", "wide-error", "escaped-detail", "many-images", "many-items", "wide-top"} {
		body := bodies[name]
		if len(body) > maxSuccessBody {
			b.Fatalf("%s: %d bytes", name, len(body))
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeTask(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
