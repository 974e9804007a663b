// Package schedcsv reads and writes docs/data/poll-schedule.csv, the table
// of poll schedules that the root package's schedule_test.go computes and
// tools/charts draws. One format, one place.
package schedcsv

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Row is one line: the means over every run of one schedule for one
// nominal task duration.
type Row struct {
	Schedule    string        // e.g. "sdk-default", "fixed-5s"
	Duration    time.Duration // the nominal task duration
	Requests    float64       // GETs per task
	NoticeDelay float64       // seconds from completion to the GET that saw it
}

// header is the first line of the file.
func header() []string { return []string{"schedule", "duration_s", "requests", "notice_delay_s"} }

// Write writes rows to path (its folder created if needed), numbers with
// three decimals.
func Write(path string, rows []Row) error {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(header()) // a bytes.Buffer never fails
	for _, r := range rows {
		_ = w.Write([]string{
			r.Schedule,
			strconv.FormatFloat(r.Duration.Seconds(), 'f', -1, 64),
			strconv.FormatFloat(r.Requests, 'f', 3, 64),
			strconv.FormatFloat(r.NoticeDelay, 'f', 3, 64),
		})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// Read reads a file written by Write. Every number must be finite and
// positive, but the notice delay, which may be zero.
func Read(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) < 2 || strings.Join(recs[0], ",") != strings.Join(header(), ",") {
		return nil, fmt.Errorf("%s: want a header %v and at least one row", path, header())
	}
	rows := make([]Row, 0, len(recs)-1)
	for i, rec := range recs[1:] {
		r, err := parse(rec)
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", path, i+2, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func parse(rec []string) (Row, error) {
	if rec[0] == "" {
		return Row{}, errors.New("empty schedule name")
	}
	var nums [3]float64
	for i := range nums {
		v, err := strconv.ParseFloat(rec[i+1], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v == 0 && i < 2 {
			return Row{}, fmt.Errorf("bad %s %q", header()[i+1], rec[i+1])
		}
		nums[i] = v
	}
	return Row{
		Schedule:    rec[0],
		Duration:    time.Duration(nums[0] * float64(time.Second)),
		Requests:    nums[1],
		NoticeDelay: nums[2],
	}, nil
}
