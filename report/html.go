package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Fixed colours of the HTML page. Tests (and anyone reading a screenshot)
// find the chart and the checks table by them: keep them distinct from each
// other and from every other colour of the page.
const (
	// ColorAcked draws the "writes/s acknowledged" series and its (left)
	// axis labels.
	ColorAcked = "#0072b2"
	// ColorLag draws the "twin lag (ms)" series and its (right) axis labels.
	ColorLag = "#e69f00"
	// ColorFailed draws the optional "writes/s failed" series (left axis).
	ColorFailed = "#cc79a7"
	// ColorPassRow is the background of a passed check's row.
	ColorPassRow = "#c9f2d4"
	// ColorFailRow is the background of a failed check's row.
	ColorFailRow = "#ffcccc"
	// ColorPass and ColorFail are the PASS and FAIL badges and result cells.
	ColorPass = "#1a7f37"
	ColorFail = "#c62828"
	// ColorRTO shades the chart from the fault to the first write accepted
	// by the new primary.
	ColorRTO = "#f3e8ff"
)

// kindColors are the marker colours of the event kinds.
var kindColors = map[EventKind]string{
	KindFault:     "#d55e00",
	KindAttack:    "#7b2cbf",
	KindPromotion: "#009e73",
	KindElection:  "#3b8ec2",
	KindAlarm:     "#b00020",
	KindHeal:      "#6b8e23",
	KindNote:      "#777777",
}

// WriteHTML writes r as a self-contained HTML page: inline CSS and SVG, no
// script, no external resource. Every text of the report is escaped.
func WriteHTML(w io.Writer, r *Report) error {
	return writeHTML(w, r, "")
}

// writeHTML is WriteHTML with the id of the key that signs the report, for
// the footer ("" when unsigned).
func writeHTML(w io.Writer, r *Report, keyID string) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("report: write HTML: %w", err)
	}
	if err := pageTemplate.Execute(w, newPage(r.canonical(), keyID)); err != nil {
		return fmt.Errorf("report: write HTML of %q: %w", r.Scenario, err)
	}
	return nil
}

// page is what the template shows.
type page struct {
	R        *Report
	CSS      template.CSS
	KeyID    string
	Started  string
	Finished string
	Duration string
	RTO      string
	Window   string
	Lost     string
	LostB    string
	Checks   string
	Failed   int
	Verdict  string
	Chart    chart
	Events   []eventRow
	WAN      string
	Load     loadView
	// RunBy says who ran the drill, in one line.
	RunBy string
	Scale string
	WAL   []walRow
}

type walRow struct {
	Node, Index, Hash, Note string
}

type eventRow struct {
	Num    int
	Offset string
	At     string
	Kind   EventKind
	Color  string
	Text   string
}

type loadView struct {
	Sent, Acked, Failed, InFlight, Rate, Value string
	Rows                                       []loadRow
	Failures                                   []failureRow
}

type failureRow struct {
	Cause, Count, Share, Example string
}

type loadRow struct {
	Durability, Sent, Acked, Failed string
}

func newPage(r *Report, keyID string) page {
	p := page{
		R:        r,
		CSS:      pageCSS,
		KeyID:    keyID,
		Started:  r.StartedAt.Format("2006-01-02 15:04:05 UTC"),
		Finished: r.FinishedAt.Format("2006-01-02 15:04:05 UTC"),
		Duration: fmtDuration(r.Duration()),
		Window:   fmtMs(r.RPO.WindowMs),
		Lost:     fmtCount(r.RPO.LostWrites),
		LostB:    fmtBytes(r.RPO.LostBytes),
	}
	p.RTO = fmtMs(r.RTOMs)
	if r.RTOMs == 0 && !hasKind(r, KindPromotion) {
		p.RTO = "n/a"
	}
	if r.Mode == ModeLive {
		// A live drill promotes a clone: no write can be lost, so the
		// RPO is not measured (lab drills measure it).
		p.Window, p.Lost, p.LostB = "not measured (live)", "not measured", "not measured"
	}
	for _, c := range r.Checks {
		if !c.Passed {
			p.Failed++
		}
	}
	p.Checks = fmt.Sprintf("%d / %d", len(r.Checks)-p.Failed, len(r.Checks))
	p.Verdict = fmt.Sprintf("Every check of the SLA passed (%d).", len(r.Checks))
	if p.Failed > 0 {
		var failed []string
		for _, c := range r.Checks {
			if !c.Passed {
				failed = append(failed, fmt.Sprintf("%s measured %s, expected %s", c.Name, c.Measured, c.Expected))
			}
		}
		p.Verdict = fmt.Sprintf("%d of %d checks failed: %s.", p.Failed, len(r.Checks), strings.Join(failed, "; "))
	}
	num := 0
	for _, e := range r.Events() {
		num++
		p.Events = append(p.Events, eventRow{
			Num: num, Offset: fmtOffset(e.OffsetMs),
			At:   r.StartedAt.Add(time.Duration(e.OffsetMs) * time.Millisecond).Format("15:04:05.000"),
			Kind: e.Event.Kind, Color: kindColors[e.Event.Kind], Text: e.Event.Text,
		})
	}
	t := r.Topology
	p.WAN = fmt.Sprintf("%s ms round trip", strconv.FormatFloat(t.WANRTTMs, 'f', -1, 64))
	if t.WANLoss > 0 {
		p.WAN += fmt.Sprintf(", %s%% loss", strconv.FormatFloat(t.WANLoss*100, 'f', -1, 64))
	}
	if t.WANBandwidth > 0 {
		p.WAN += fmt.Sprintf(", %s/s each way", fmtBytes(t.WANBandwidth))
	} else {
		p.WAN += ", unlimited bandwidth"
	}
	l := r.Load
	p.Load = loadView{
		Sent: fmtCount(l.Sent), Acked: fmtCount(l.Acked), Failed: fmtCount(l.Failed),
		InFlight: fmtCount(l.Sent - l.Acked - l.Failed), Rate: "as fast as possible", Value: "-",
	}
	if l.TargetRate > 0 {
		p.Load.Rate = strconv.FormatFloat(l.TargetRate, 'f', -1, 64) + " writes/s"
	}
	if l.ValueBytes > 0 {
		p.Load.Value = fmtBytes(l.ValueBytes)
	}
	for _, d := range l.ByDurability {
		p.Load.Rows = append(p.Load.Rows, loadRow{d.Durability, fmtCount(d.Sent), fmtCount(d.Acked), fmtCount(d.Failed)})
	}
	for _, f := range l.Failures {
		share := "-"
		if l.Failed > 0 {
			share = strconv.FormatFloat(math.Round(float64(f.Count)*1000/float64(l.Failed))/10, 'f', -1, 64) + "%"
		}
		p.Load.Failures = append(p.Load.Failures, failureRow{Cause: f.Cause, Count: fmtCount(f.Count), Share: share, Example: f.Example})
	}
	if o := r.Operator; o != nil {
		p.RunBy = o.Identity
		switch o.Source {
		case OperatorCertificate:
			p.RunBy += " (client certificate)"
		case OperatorOSUser:
			p.RunBy += " (OS user; no client certificate)"
		}
	}
	p.Scale = "1 (as written)"
	if r.ScenarioScale > 0 && r.ScenarioScale != 1 {
		p.Scale = strconv.FormatFloat(r.ScenarioScale, 'f', -1, 64) + " (every offset and duration multiplied by it)"
	}
	for _, w := range r.WAL {
		p.WAL = append(p.WAL, walRow{Node: w.Node, Index: fmtCount(int64(w.Index)), Hash: w.Hash, Note: w.Note})
	}
	p.Chart = newChart(r)
	return p
}

func hasKind(r *Report, k EventKind) bool {
	for _, e := range r.Timeline {
		if e.Event != nil && e.Event.Kind == k {
			return true
		}
	}
	return false
}

// Chart geometry, in SVG pixels.
const (
	chartW      = 1100
	chartH      = 430
	plotLeft    = 72
	plotRight   = chartW - 78
	plotTop     = 74 // room for three lanes of marker labels
	plotBottom  = chartH - 58
	labelLanes  = 3
	laneHeight  = 16
	charWidth   = 6.3 // estimated width of a character of the 11px labels
	maxLabelLen = 44
)

// chart is the SVG timeline, laid out.
type chart struct {
	W, H                       int
	Left, Right, Top, Bottom   int
	PlotW, PlotH               int
	XTicks, YLeft, YRight      []tick
	Acked, Lag, FailedPath     string
	HasFailed, HasLag, Empty   bool
	Markers                    []marker
	RTO                        *shade
	XLabelY, LegendY, AxisMidY int
	TickEnd, MidX              int
	LeftTitleX, RightTitleX    int
}

type tick struct {
	Pos   string // x or y of the tick
	Label string
}

type marker struct {
	X, LabelX, LabelY string
	Anchor            string
	Color             string
	Num               int
	Label             string
	Title             string
}

type shade struct {
	X, W, LabelX string
	Label        string
}

func newChart(r *Report) chart {
	c := chart{
		W: chartW, H: chartH, Left: plotLeft, Right: plotRight, Top: plotTop, Bottom: plotBottom,
		PlotW: plotRight - plotLeft, PlotH: plotBottom - plotTop,
		XLabelY: plotBottom + 34, LegendY: chartH - 8, AxisMidY: (plotTop + plotBottom) / 2,
		LeftTitleX: 18, RightTitleX: chartW - 14,
		TickEnd: plotBottom + 5, MidX: (plotLeft + plotRight) / 2,
	}
	samples := r.Samples()
	c.Empty = len(samples) == 0
	endMs := max(r.Duration().Milliseconds(), 1)
	for _, e := range r.Timeline {
		endMs = max(endMs, e.OffsetMs)
	}
	maxRate, maxLag := 0.0, 0.0
	for _, s := range samples {
		maxRate = max(maxRate, s.Sample.AckedPerSec, s.Sample.FailedPerSec)
		if s.Sample.FailedPerSec > 0 {
			c.HasFailed = true
		}
		if s.Sample.LagMs != nil {
			c.HasLag = true
			maxLag = max(maxLag, *s.Sample.LagMs)
		}
	}
	// Axes: the left one sets the grid, the right one uses as many steps.
	rateStep, rateN := niceAxis(maxRate, 5)
	lagStep := niceStep(maxLag / float64(rateN))
	if lagStep == 0 {
		lagStep = 1
	}
	rateTop, lagTop := rateStep*float64(rateN), lagStep*float64(rateN)
	xOf := func(ms int64) float64 { return plotLeft + float64(ms)/float64(endMs)*float64(plotRight-plotLeft) }
	yRate := func(v float64) float64 { return plotBottom - v/rateTop*float64(plotBottom-plotTop) }
	yLag := func(v float64) float64 { return plotBottom - v/lagTop*float64(plotBottom-plotTop) }
	for i := 0; i <= rateN; i++ {
		c.YLeft = append(c.YLeft, tick{px(yRate(rateStep * float64(i))), fmtNum(rateStep * float64(i))})
		c.YRight = append(c.YRight, tick{px(yLag(lagStep * float64(i))), fmtNum(lagStep * float64(i))})
	}
	xStep := niceStep(float64(endMs) / 10)
	for v := 0.0; v <= float64(endMs)+0.5 && len(c.XTicks) < 40; v += xStep {
		c.XTicks = append(c.XTicks, tick{px(xOf(int64(v))), fmtTick(int64(v), int64(xStep))})
	}
	var acked, failed, lag strings.Builder
	lagOpen := false
	for i, s := range samples {
		x := px(xOf(s.OffsetMs))
		cmd := "L"
		if i == 0 {
			cmd = "M"
		}
		fmt.Fprintf(&acked, "%s%s %s ", cmd, x, px(yRate(s.Sample.AckedPerSec)))
		fmt.Fprintf(&failed, "%s%s %s ", cmd, x, px(yRate(s.Sample.FailedPerSec)))
		if s.Sample.LagMs == nil {
			lagOpen = false
			continue
		}
		cmd = "L"
		if !lagOpen {
			cmd = "M"
		}
		lagOpen = true
		fmt.Fprintf(&lag, "%s%s %s ", cmd, x, px(yLag(*s.Sample.LagMs)))
	}
	c.Acked, c.FailedPath, c.Lag = strings.TrimSpace(acked.String()), strings.TrimSpace(failed.String()), strings.TrimSpace(lag.String())
	c.Markers = layoutMarkers(r, xOf)
	c.RTO = rtoShade(r, xOf)
	return c
}

// layoutMarkers places a vertical marker per event (notes excepted) and its
// label in the first lane above the plot where it does not overlap the
// previous label; with no free lane the label is its number alone (the
// events table below the chart has every text).
func layoutMarkers(r *Report, xOf func(int64) float64) []marker {
	var out []marker
	laneEnd := make([]float64, labelLanes) // rightmost pixel used per lane
	for i := range laneEnd {
		laneEnd[i] = math.Inf(-1)
	}
	num := 0
	for _, e := range r.Events() {
		num++
		ev := e.Event
		if ev.Kind == KindNote {
			continue
		}
		x := xOf(e.OffsetMs)
		full := fmt.Sprintf("%d %s: %s", num, ev.Kind, ev.Text)
		label := full
		if len([]rune(label)) > maxLabelLen {
			label = string([]rune(label)[:maxLabelLen-1]) + "…"
		}
		m := marker{X: px(x), Color: kindColors[ev.Kind], Num: num, Title: fmt.Sprintf("+%s %s", fmtOffset(e.OffsetMs), full)}
		w := float64(len([]rune(label)))*charWidth + 4
		start, anchor, lx := x-2, "start", x+3
		if x+w > chartW-4 {
			start, anchor, lx = x-w, "end", x-3
		}
		lane := -1
		for i := range laneEnd {
			if laneEnd[i] < start-8 {
				lane = i
				break
			}
		}
		if lane < 0 {
			// No room: the number alone, in the lane that ends first.
			label = strconv.Itoa(num)
			w = float64(len(label))*charWidth + 4
			start, anchor, lx = x-2, "start", x+3
			lane = 0
			for i := range laneEnd {
				if laneEnd[i] < laneEnd[lane] {
					lane = i
				}
			}
		}
		laneEnd[lane] = max(laneEnd[lane], start+w)
		m.Label, m.Anchor, m.LabelX = label, anchor, px(lx)
		m.LabelY = px(float64(plotTop - 8 - (labelLanes-1-lane)*laneHeight))
		out = append(out, m)
	}
	return out
}

// rtoShade returns the band from the fault that led to the first promotion
// (the last fault or attack at or before it, else the first one) to that
// fault plus the RTO, or nil without a promotion or an RTO.
func rtoShade(r *Report, xOf func(int64) float64) *shade {
	if r.RTOMs <= 0 {
		return nil
	}
	promo, fault := int64(-1), int64(-1)
	for _, e := range r.Events() {
		if e.Event.Kind == KindPromotion {
			promo = e.OffsetMs
			break
		}
	}
	for _, e := range r.Events() {
		k := e.Event.Kind
		if k != KindFault && k != KindAttack {
			continue
		}
		if promo < 0 || e.OffsetMs > promo {
			if fault < 0 {
				fault = e.OffsetMs
			}
			break
		}
		fault = e.OffsetMs
	}
	if fault < 0 {
		return nil
	}
	x0, x1 := xOf(fault), math.Min(xOf(fault+r.RTOMs), plotRight)
	return &shade{X: px(x0), W: px(math.Max(x1-x0, 1)), LabelX: px((x0 + x1) / 2), Label: "RTO " + fmtMs(r.RTOMs)}
}

// niceAxis returns a step of 1, 2, 2.5 or 5 times a power of ten and a
// number of steps (at most about want) whose product covers v.
func niceAxis(v float64, want int) (float64, int) {
	if v <= 1e-6 {
		return 1, want
	}
	step := niceStep(v / float64(want))
	n := int(math.Ceil(v/step - 1e-9))
	return step, min(max(n, 1), 2*want)
}

// niceStep returns the smallest of 1, 2, 2.5, 5 times a power of ten that
// is at least v (0 for v <= 0; at least 1e-6, below which nothing on a
// drill's chart is worth a tick).
func niceStep(v float64) float64 {
	if v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0
	}
	v = max(v, 1e-6)
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

func px(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// fmtNum formats an axis value: 1200 -> "1.2k", 2.5 -> "2.5".
func fmtNum(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

// fmtTick formats an x-axis offset given the tick step.
func fmtTick(ms, stepMs int64) string {
	if ms >= 120_000 && stepMs%1000 == 0 {
		return fmt.Sprintf("%dm%02ds", ms/60_000, ms/1000%60)
	}
	return strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64) + "s"
}

// fmtMs formats milliseconds for people: "850 ms", "3.62 s".
func fmtMs(ms int64) string {
	if ms < 1000 {
		return fmt.Sprintf("%d ms", ms)
	}
	return fmtDuration(time.Duration(ms) * time.Millisecond)
}

func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return strconv.FormatFloat(math.Round(d.Seconds()*100)/100, 'f', -1, 64) + " s"
	}
	return d.Round(time.Second).String()
}

// fmtOffset formats a timeline offset: "12.345 s".
func fmtOffset(ms int64) string { return fmt.Sprintf("%d.%03d s", ms/1000, ms%1000) }

// fmtCount formats a count with thousands separators: "12,345".
func fmtCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fmtBytes formats a size in binary units: "0 B", "1.5 KiB", "12 MiB".
func fmtBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n), ""
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v, unit = v/1024, u
		if v < 1024 {
			break
		}
	}
	if v < 10 {
		return fmt.Sprintf("%.1f %s", v, unit)
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}

var pageCSS = template.CSS(strings.NewReplacer(
	"$ACKED", ColorAcked, "$LAG", ColorLag, "$FAILEDSERIES", ColorFailed,
	"$PASSROW", ColorPassRow, "$FAILROW", ColorFailRow, "$PASS", ColorPass, "$FAIL", ColorFail,
).Replace(`
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#1f2328;font:14px/1.45 "Liberation Sans","Helvetica Neue",Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px 32px 40px;background:#fff;min-height:100vh}
header{border-bottom:2px solid #1f2328;padding-bottom:12px;margin-bottom:18px}
.kicker{text-transform:uppercase;letter-spacing:.08em;font-size:12px;color:#57606a;margin:0}
h1{font-size:28px;margin:4px 0 6px;display:flex;align-items:center;gap:14px;flex-wrap:wrap;word-break:break-word}
h2{font-size:17px;margin:26px 0 8px;padding-bottom:4px;border-bottom:1px solid #d0d7de}
.badge{font-size:15px;font-weight:bold;letter-spacing:.06em;color:#fff;padding:3px 12px;border-radius:4px}
.badge.pass{background:$PASS}.badge.fail{background:$FAIL}
.meta{color:#57606a;margin:0}
.desc{margin:6px 0 0}
.verdict{margin:8px 0 0;font-weight:bold}.verdict.pass{color:$PASS}.verdict.fail{color:$FAIL}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #d0d7de;vertical-align:top}
th{background:#f6f8fa;font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#57606a}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.summary td{font-size:22px;font-weight:bold;padding:10px}
table.summary td.pass{color:$PASS}table.summary td.fail{color:$FAIL}
table.checks tr.pass td{background:$PASSROW}
table.checks tr.fail td{background:$FAILROW}
table.checks td.result{font-weight:bold}
table.checks tr.pass td.result{color:$PASS}table.checks tr.fail td.result{color:$FAIL}
code,.mono{font-family:"Liberation Mono","DejaVu Sans Mono",monospace;font-size:13px}
.chart{border:1px solid #d0d7de;border-radius:4px;padding:8px 0;background:#fff}
.chart svg{display:block;margin:0 auto;max-width:100%;height:auto}
.kind{display:inline-block;min-width:78px;font-weight:bold}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:6px;vertical-align:middle}
ul.findings{margin:4px 0;padding-left:22px}ul.findings li{margin:3px 0}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:28px}
.note{color:#57606a;font-size:13px}
td.hash{word-break:break-all}
td.example{font-size:12px;color:#57606a;word-break:break-word}
table.provenance th{width:210px;text-transform:none;font-size:13px;letter-spacing:0}
footer{margin-top:28px;padding-top:10px;border-top:1px solid #d0d7de;color:#57606a;font-size:12px}
`))

var pageTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{if .R.Passed}}PASS{{else}}FAIL{{end}} · {{.R.Scenario}} · jumeau drill report</title>
<style>{{.CSS}}</style>
</head>
<body>
<main>
<header>
<p class="kicker">jumeau drill report{{with .R.Mode}} · {{.}} drill{{end}}</p>
<h1><span>{{.R.Scenario}}</span>{{if .R.Passed}}<span class="badge pass">PASS</span>{{else}}<span class="badge fail">FAIL</span>{{end}}</h1>
<p class="meta">Started {{.Started}} · ran {{.Duration}} · finished {{.Finished}} · jumeau {{with .R.JumeauVersion}}{{.}}{{else}}(unknown version){{end}}{{with .RunBy}} · run by {{.}}{{end}}</p>
{{with .R.Description}}<p class="desc">{{.}}</p>{{end}}
<p class="verdict {{if .R.Passed}}pass{{else}}fail{{end}}">{{.Verdict}}</p>
</header>

<table class="summary">
<thead><tr><th>Result</th><th>RTO</th><th>RPO window</th><th>Acked writes lost</th><th>Bytes lost</th><th>Checks passed</th></tr></thead>
<tbody><tr>
<td class="{{if .R.Passed}}pass{{else}}fail{{end}}">{{if .R.Passed}}PASS{{else}}FAIL{{end}}</td>
<td>{{.RTO}}</td><td>{{.Window}}</td><td>{{.Lost}}</td><td>{{.LostB}}</td>
<td class="{{if .Failed}}fail{{else}}pass{{end}}">{{.Checks}}</td>
</tr></tbody>
</table>

<h2>Checks against the SLA</h2>
<table class="checks">
<thead><tr><th>Check</th><th>Expected</th><th>Measured</th><th>Result</th></tr></thead>
<tbody>
{{range .R.Checks}}<tr class="{{if .Passed}}pass{{else}}fail{{end}}"><td class="mono">{{.Name}}</td><td class="mono">{{.Expected}}</td><td class="mono">{{.Measured}}</td><td class="result">{{if .Passed}}✔ pass{{else}}✘ FAIL{{end}}</td></tr>
{{end}}</tbody>
</table>

<h2>Timeline</h2>
{{with .Chart}}<div class="chart">
<svg xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="Writes per second acknowledged and twin lag over the drill, with faults and promotions marked" font-family="Liberation Sans, Arial, sans-serif" font-size="11">
{{with .RTO}}<rect x="{{.X}}" y="{{$.Chart.Top}}" width="{{.W}}" height="{{$.Chart.PlotH}}" fill="` + ColorRTO + `"/>
<text x="{{.LabelX}}" y="{{$.Chart.Bottom}}" dy="-6" text-anchor="middle" fill="#5b3a8c" font-weight="bold">{{.Label}}</text>{{end}}
{{range .YLeft}}<line x1="{{$.Chart.Left}}" x2="{{$.Chart.Right}}" y1="{{.Pos}}" y2="{{.Pos}}" stroke="#e4e7eb"/>
<text x="{{$.Chart.Left}}" dx="-6" y="{{.Pos}}" dy="4" text-anchor="end" fill="` + ColorAcked + `">{{.Label}}</text>
{{end}}{{range .YRight}}<text x="{{$.Chart.Right}}" dx="6" y="{{.Pos}}" dy="4" text-anchor="start" fill="#b37400">{{.Label}}</text>
{{end}}{{range .XTicks}}<line x1="{{.Pos}}" x2="{{.Pos}}" y1="{{$.Chart.Bottom}}" y2="{{$.Chart.TickEnd}}" stroke="#57606a"/>
<text x="{{.Pos}}" y="{{$.Chart.Bottom}}" dy="18" text-anchor="middle" fill="#57606a">{{.Label}}</text>
{{end}}<rect x="{{.Left}}" y="{{.Top}}" width="{{.PlotW}}" height="{{.PlotH}}" fill="none" stroke="#8c959f"/>
<text x="{{.LeftTitleX}}" y="{{.AxisMidY}}" transform="rotate(-90 {{.LeftTitleX}} {{.AxisMidY}})" text-anchor="middle" fill="` + ColorAcked + `" font-size="12" font-weight="bold">writes/s</text>
<text x="{{.RightTitleX}}" y="{{.AxisMidY}}" transform="rotate(90 {{.RightTitleX}} {{.AxisMidY}})" text-anchor="middle" fill="#b37400" font-size="12" font-weight="bold">twin lag (ms){{if not .HasLag}} — not measured{{end}}</text>
<text x="{{.Left}}" y="{{.XLabelY}}" dx="{{.PlotW}}" text-anchor="end" fill="#57606a">time since the drill started</text>
{{if .Empty}}<text x="{{.MidX}}" y="{{.AxisMidY}}" text-anchor="middle" fill="#57606a" font-size="14">no samples recorded</text>{{end}}
{{if .HasFailed}}<path d="{{.FailedPath}}" fill="none" stroke="` + ColorFailed + `" stroke-width="2" stroke-dasharray="6 3" stroke-linejoin="round"/>{{end}}
{{if .Acked}}<path d="{{.Acked}}" fill="none" stroke="` + ColorAcked + `" stroke-width="2.5" stroke-linejoin="round"/>{{end}}
{{if .Lag}}<path d="{{.Lag}}" fill="none" stroke="` + ColorLag + `" stroke-width="2.5" stroke-linejoin="round"/>{{end}}
{{range .Markers}}<g><title>{{.Title}}</title>
<line x1="{{.X}}" x2="{{.X}}" y1="{{.LabelY}}" y2="{{$.Chart.Bottom}}" stroke="{{.Color}}" stroke-width="1.5" stroke-dasharray="5 3"/>
<text x="{{.LabelX}}" y="{{.LabelY}}" text-anchor="{{.Anchor}}" fill="{{.Color}}" font-weight="bold">{{.Label}}</text></g>
{{end}}<g transform="translate({{.Left}} {{.LegendY}})">
<line x1="0" x2="26" y1="-4" y2="-4" stroke="` + ColorAcked + `" stroke-width="3"/><text x="32" y="0">writes/s acknowledged (left axis)</text>
<line x1="250" x2="276" y1="-4" y2="-4" stroke="` + ColorLag + `" stroke-width="3"/><text x="282" y="0">twin lag, ms (right axis)</text>
{{if .HasFailed}}<line x1="460" x2="486" y1="-4" y2="-4" stroke="` + ColorFailed + `" stroke-width="2" stroke-dasharray="6 3"/><text x="492" y="0">writes/s failed (left axis)</text>{{end}}
<line x1="680" x2="680" y1="-12" y2="2" stroke="#57606a" stroke-dasharray="3 2"/><text x="686" y="0">numbered events (table below)</text>
</g>
</svg>
</div>{{end}}
<p class="note">Acknowledged-write rate and the twin's replication lag; a gap in the lag line means it could not be measured (no primary leader, or the twin was promoted).{{if .Chart.RTO}} The shaded band runs from the fault to the first write accepted by the new primary.{{end}}</p>

{{if .Events}}<h2>Events</h2>
<table class="events">
<thead><tr><th class="num">#</th><th class="num">Offset</th><th>UTC</th><th>Kind</th><th>What happened</th></tr></thead>
<tbody>
{{range .Events}}<tr><td class="num">{{.Num}}</td><td class="num mono">+{{.Offset}}</td><td class="mono">{{.At}}</td><td><span class="kind"><span class="dot" style="background:{{.Color}}"></span>{{.Kind}}</span></td><td>{{.Text}}</td></tr>
{{end}}</tbody>
</table>{{end}}

<h2>Findings</h2>
{{if .R.Findings}}<ul class="findings">
{{range .R.Findings}}<li>{{.}}</li>
{{end}}</ul>{{else}}<p class="note">No findings recorded.</p>{{end}}

{{if .WAL}}<h2>WAL verified</h2>
<table class="wal">
<thead><tr><th>Node</th><th class="num">Last WAL index</th><th>Chain hash</th><th>Note</th></tr></thead>
<tbody>{{range .WAL}}<tr><td class="mono">{{.Node}}</td><td class="num mono">{{.Index}}</td><td class="mono hash">{{with .Hash}}{{.}}{{else}}-{{end}}</td><td>{{.Note}}</td></tr>
{{end}}</tbody>
</table>{{end}}

<h2>Provenance</h2>
<table class="provenance">
<tbody>
<tr><th>Scenario</th><td class="mono">{{.R.Scenario}}</td></tr>
<tr><th>Scenario SHA-256</th><td class="mono hash">{{with .R.ScenarioSHA256}}{{.}}{{else}}not recorded (report version {{$.R.Version}}){{end}}</td></tr>
<tr><th>Timeline scale</th><td>{{.Scale}}</td></tr>
{{with .R.Operator}}<tr><th>Run by</th><td class="mono">{{.Identity}}</td></tr>
<tr><th>Identity source</th><td>{{.Source}}</td></tr>
{{with .CertSHA256}}<tr><th>Certificate SHA-256</th><td class="mono hash">{{.}}</td></tr>
{{end}}{{with .OSUser}}<tr><th>OS user</th><td class="mono">{{.}}</td></tr>
{{end}}{{with .Host}}<tr><th>Host</th><td class="mono">{{.}}</td></tr>
{{end}}{{else}}<tr><th>Run by</th><td>not recorded (report version {{$.R.Version}})</td></tr>
{{end}}<tr><th>Report version</th><td>{{.R.Version}}</td></tr>
</tbody>
</table>

<div class="cols">
<section>
<h2>Topology</h2>
<p>WAN Monaco–Luxembourg: {{.WAN}}.</p>
{{if .R.Topology.Nodes}}<table>
<thead><tr><th>Node</th><th>Role</th><th>Region</th></tr></thead>
<tbody>{{range .R.Topology.Nodes}}<tr><td class="mono">{{.Name}}</td><td>{{.Role}}</td><td>{{.Region}}</td></tr>{{end}}</tbody>
</table>{{end}}
</section>
<section>
<h2>Load</h2>
<p>Target rate {{.Load.Rate}}, values of {{.Load.Value}}.</p>
<table>
<thead><tr><th>Durability</th><th class="num">Sent</th><th class="num">Acked</th><th class="num">Failed</th></tr></thead>
<tbody>{{range .Load.Rows}}<tr><td>{{.Durability}}</td><td class="num">{{.Sent}}</td><td class="num">{{.Acked}}</td><td class="num">{{.Failed}}</td></tr>{{end}}
<tr><td><b>total</b></td><td class="num"><b>{{.Load.Sent}}</b></td><td class="num"><b>{{.Load.Acked}}</b></td><td class="num"><b>{{.Load.Failed}}</b></td></tr></tbody>
</table>
<p class="note">{{.Load.InFlight}} writes were still in flight when the drill ended.</p>
{{if .Load.Failures}}<h2>Failed writes by cause</h2>
<table class="failures">
<thead><tr><th>Cause</th><th class="num">Writes</th><th class="num">Share</th><th>First error</th></tr></thead>
<tbody>{{range .Load.Failures}}<tr><td class="mono">{{.Cause}}</td><td class="num">{{.Count}}</td><td class="num">{{.Share}}</td><td class="example">{{.Example}}</td></tr>
{{end}}</tbody>
</table>{{end}}
</section>
</div>

<footer>
RPO and RTO are measured by the drill, not claimed: lost writes are acknowledged writes missing on the new primary; RTO runs from the fault to the first write it accepted.
{{if .KeyID}}The signed record of this drill is <code>report.json</code> beside this page (Ed25519, key <code>{{.KeyID}}</code>); this page is a rendering of it: check it with <code>jumeau drill verify</code>.{{else}}This page is not signed.{{end}}
</footer>
</main>
</body>
</html>
`))
