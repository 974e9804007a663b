// Command charts draws the charts of the docs from measurements:
//
//   - memory-vs-image-size.svg: bytes allocated to build and send one request
//     body, naive (json.Marshal of base64 strings) against streaming
//     (internal/streambody), measured here; the numbers go to
//     data/memory.csv.
//   - poll-requests-vs-delay.svg: GETs per task against mean notice delay for
//     the SDK's poll schedule and two fixed loops, from
//     data/poll-schedule.csv (written by the root package's TestPollSchedule
//     with -update).
//
// Usage, from the repository root:
//
//	(cd tools && go run ./charts -out ../docs)
//
// The SVG is written by hand with the standard library, so the charts add no
// dependency.
package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/seed-b62e15c8/qwenedit/internal/schedcsv"
)

// main runs the command; any error exits with status 2.
func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "charts:", err)
		}
		os.Exit(2)
	}
}

// config is what the flags select.
type config struct {
	out      string // docs directory: SVGs in it, CSVs in its data/
	schedule string // poll schedule CSV
	sizes    []int  // image sizes to measure, bytes
	images   int    // images per request
	reps     int    // measurement runs per point (the fewest bytes count)
}

// run parses args and draws both charts, logging what it wrote to log.
func run(args []string, log io.Writer) error {
	cfg, err := parseFlags(args, log)
	if err != nil {
		return err
	}
	if err := drawMemory(cfg, log); err != nil {
		return fmt.Errorf("memory chart: %w", err)
	}
	if err := drawSchedule(cfg, log); err != nil {
		return fmt.Errorf("poll chart: %w", err)
	}
	return nil
}

// parseFlags turns the command line into a config.
func parseFlags(args []string, log io.Writer) (config, error) {
	fs := flag.NewFlagSet("charts", flag.ContinueOnError)
	fs.SetOutput(log)
	cfg := config{}
	fs.StringVar(&cfg.out, "out", "docs", "directory to write the SVGs into (CSVs go to its data/)")
	fs.StringVar(&cfg.schedule, "schedule", "", "poll schedule CSV (default OUT/data/poll-schedule.csv)")
	sizes := fs.String("sizes", "0.5,1,2,5,10", "image sizes to measure, MB (10^6 bytes), comma-separated")
	fs.IntVar(&cfg.images, "images", 3, "images per request (the API takes 1 to 3)")
	fs.IntVar(&cfg.reps, "reps", 3, "measurement runs per point; the fewest bytes count")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.schedule == "" {
		cfg.schedule = filepath.Join(cfg.out, "data", "poll-schedule.csv")
	}
	var err error
	if cfg.sizes, err = parseSizes(*sizes); err != nil {
		return cfg, err
	}
	if cfg.images < 1 || cfg.reps < 1 {
		return cfg, fmt.Errorf("-images and -reps must be at least 1")
	}
	return cfg, nil
}

// parseSizes reads "0.5,1,2" (MB) as byte counts.
func parseSizes(s string) ([]int, error) {
	var sizes []int
	for f := range strings.SplitSeq(s, ",") {
		mb, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(mb > 0) || mb > 100 {
			return nil, fmt.Errorf("-sizes: %q is not a size in MB between 0 and 100", f)
		}
		sizes = append(sizes, int(mb*1e6))
	}
	return sizes, nil
}

// drawMemory measures both bodies, writes data/memory.csv and the chart.
func drawMemory(cfg config, log io.Writer) error {
	rows, err := measureMemory(cfg.sizes, cfg.images, cfg.reps)
	if err != nil {
		return err
	}
	csvPath := filepath.Join(cfg.out, "data", "memory.csv")
	if err := writeMemoryCSV(csvPath, rows); err != nil {
		return err
	}
	fmt.Fprintln(log, "wrote", csvPath)
	c := memoryChart(rows,
		fmt.Sprintf("Heap bytes allocated (runtime.MemStats.TotalAlloc), fewest of %d cold runs; the body is written to io.Discard.", cfg.reps),
		fmt.Sprintf("%s %s/%s. MB = 10⁶ bytes. Data: data/memory.csv; made by tools/charts.", runtime.Version(), runtime.GOOS, runtime.GOARCH))
	return writeChart(filepath.Join(cfg.out, "memory-vs-image-size.svg"), c, log)
}

// drawSchedule reads the poll schedule table and writes its chart.
func drawSchedule(cfg config, log io.Writer) error {
	rows, err := schedcsv.Read(cfg.schedule)
	if err != nil {
		return err
	}
	c := scheduleChart(rows,
		"Each point: mean over completion times spread evenly over 20 s around the task duration (SDK: and 100 jitter seeds),",
		"driven on a fake clock by schedule_test.go. Data: data/poll-schedule.csv; made by tools/charts.")
	return writeChart(filepath.Join(cfg.out, "poll-requests-vs-delay.svg"), c, log)
}

// writeChart renders c to path.
func writeChart(path string, c chart, log io.Writer) error {
	var buf bytes.Buffer
	if err := c.render(&buf); err != nil {
		return err
	}
	if err := writeFile(path, buf.Bytes()); err != nil {
		return err
	}
	fmt.Fprintln(log, "wrote", path)
	return nil
}

// writeCSV writes records to path, creating its directory.
func writeCSV(path string, recs [][]string) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.WriteAll(recs); err != nil {
		return err
	}
	return writeFile(path, buf.Bytes())
}

// writeFile writes data to path, creating its directory.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
