package main

import (
	"math"

	"github.com/seed-b62e15c8/qwenedit/internal/schedcsv"
)

// scheduleStyles are the known schedules' legend names, colours, dashes and
// label sides (left of the SDK's points, clear of the 5 s loop's; left of
// the 20 s loop's, clear of its line down to the 5 s task).
var scheduleStyles = map[string]series{
	"sdk-default": {name: "SDK default (3 s, ×1.5, max 10 s)", color: "#0072B2", labels: labelLeft},
	"fixed-5s":    {name: "fixed 5 s (vendor example)", color: "#E69F00", dash: "6 4", labels: labelRight},
	"fixed-20s":   {name: "fixed 20 s (official CLI)", color: "#009E73", dash: "2 3", labels: labelLeft},
}

// scheduleChart plots requests against mean notice delay, one point per task
// duration, one line per schedule: down and left is better.
func scheduleChart(rows []schedcsv.Row, notes ...string) chart {
	var ss []series
	xHi, yLo, yHi := 0.0, math.Inf(1), math.Inf(-1)
	for _, r := range rows {
		i := seriesFor(&ss, r.Schedule, scheduleStyles)
		ss[i].points = append(ss[i].points, point{x: r.NoticeDelay, y: r.Requests, label: durationLabel(r.Duration.Seconds())})
		xHi, yLo, yHi = max(xHi, r.NoticeDelay), min(yLo, r.Requests), max(yHi, r.Requests)
	}
	xMax := math.Ceil((xHi+1)/2) * 2
	yMin, yMax := niceLogBounds(yLo, yHi)
	return chart{
		title:    "Poll schedules: requests against notice delay",
		subtitle: "One point per task duration; lower sends fewer GETs, further left notices completion sooner",
		x: axis{label: "mean notice delay: poll that sees completion − completion (s)", min: 0, max: xMax,
			ticks: linearTicks(0, xMax, 2, plain)},
		y: axis{label: "GET requests per task (log scale)", min: yMin, max: yMax, log: true,
			ticks: logTicks(yMin, yMax, []float64{1, 2, 5}, plain)},
		series: ss,
		notes:  notes,
	}
}

// durationLabel writes a task duration as people say it: 5 s, 2 min, 90 s.
func durationLabel(sec float64) string {
	if sec >= 60 && math.Mod(sec, 60) == 0 {
		return plain(sec/60) + " min"
	}
	return plain(sec) + " s"
}
