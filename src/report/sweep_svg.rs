//! Renders the sweep charts: one metric across the points of a parameter sweep, either as
//! lines against one swept number or as one bar per point.
//!
//! This module owns only the drawing: it takes plain numbers and labels and returns the bytes
//! of a complete SVG document. Red is reserved for alarm bars (points that oversold or failed),
//! so a red mark on any sweep chart always means trouble. Log axes are drawn as linear axes
//! over `log10(value)` with their tick labels mapped back, so linear and log charts share one
//! coordinate type and one drawing path.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::chart::{
    chars_fitting, compact, exact, plot_note, svg_document, text_px, truncate, Area, Axis, Chart,
    ALARM, DENSE_LOG_DECADES, FONT, GREY, MARGIN, PALETTE, WIDTH, X_LABEL_AREA, Y_LABEL_AREA,
};

/// One line: a label (e.g. "strategy.kind=lua") and its (x, y) points, ascending by x.
pub struct Line {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// One bar of a per-point chart.
pub struct Bar {
    /// The point, e.g. "strategy.kind=lua, load.processes=4".
    pub label: String,
    pub value: f64,
    /// Drawn in an alarm colour (red) and called out: used for points that oversold / failed.
    pub alarm: bool,
}

const LINE_HEIGHT: u32 = 560;
const CALM: RGBColor = PALETTE[0];
/// Marker shapes cycle independently of colours, so lines stay distinct in greyscale too.
const SHAPES: usize = 4;
/// Vertical pitch of one bar; the bar chart grows by this much per point.
const BAR_ROW: u32 = 24;
const BAR_FILL: f64 = 0.7;
const MAX_LABEL_PX: u32 = 440;
const MAX_LEGEND_PX: u32 = 320;
const LEGEND_ROW: u32 = 22;
/// Title drawn by `titled` (24 px text plus padding) and the alarm note under it.
const TITLE_PX: u32 = 30;
const NOTE_PX: u32 = 26;
/// Clear space between two x tick labels, so "1 2 4" on a wide axis do not run together.
const TICK_GAP_PX: f64 = 12.0;

/// A line chart of a metric against one swept numeric parameter.
///
/// `log_y`: logarithmic y axis (used for p99 latency), with zeros clamped onto its bottom;
/// otherwise linear from 0. The x axis is linear over the swept values, with a tick at each
/// (thinned where labels would collide). The legend sits right of the plot, never over it.
/// Non-finite points are skipped; no points at all gives a "no data" chart.
/// # Errors
/// When plotters fails to draw.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    lines: &[Line],
    log_y: bool,
) -> anyhow::Result<Vec<u8>> {
    let series = to_series(lines);
    let legend_px = legend_width(&series);
    let plot_px = f64::from(WIDTH - legend_px - Y_LABEL_AREA - 2 * MARGIN);
    let x = x_axis(&series, plot_px);
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let y = Scale::fit(ys, log_y).extend(0.07);
    svg_document((WIDTH, LINE_HEIGHT), |root| {
        let body = header(root, title, None)?;
        let (plot, legend) = body.split_horizontally(WIDTH - legend_px);
        let chart = line_frame(&plot, &x, &y, (x_label, y_label))?;
        if series.is_empty() {
            return no_data(&chart);
        }
        draw_lines(&chart, &series, &y)?;
        draw_legend(&legend, &series)
    })
}

/// A bar chart, one bar per point in the given order (first on top), with the value written
/// at the end of each bar.
///
/// Bars are horizontal with the point's label on their left, and the chart grows by
/// a fixed row per bar, so long labels and many points stay readable.
/// `log`: logarithmic value axis (for p99), with zeros clamped onto its left edge; otherwise
/// linear from 0. Alarm bars are red, and so are their label and value. `alarm_note` (e.g.
/// "2 of 7 points OVERSOLD") is shown under the title: red when any bar is in alarm, grey
/// otherwise; alarms without a note get a "k of n points in alarm" count. Non-finite values
/// get no bar and read "n/a".
/// # Errors
/// When plotters fails to draw.
pub fn bar_chart(
    title: &str,
    value_label: &str,
    bars: &[Bar],
    log: bool,
    alarm_note: Option<&str>,
) -> anyhow::Result<Vec<u8>> {
    let layout = BarLayout::new(bars);
    let note = note(bars, alarm_note);
    let height = layout.height(note.is_some());
    let scale = bar_scale(bars, log, &layout);
    svg_document((WIDTH, height), |root| {
        let body = header(root, title, note.as_ref())?;
        let chart = bar_frame(&body, value_label, &scale, &layout)?;
        if bars.is_empty() {
            return no_data(&chart);
        }
        draw_bars(&chart, bars, &scale, &layout)
    })
}

/// The subtitle under the title: (text, is an alarm).
type Note = (String, bool);

/// Draws the title (and the note, if any) and returns the area left below them.
fn header<'a>(root: &Area<'a>, title: &str, note: Option<&Note>) -> anyhow::Result<Area<'a>> {
    let body = root.titled(title, (FONT, 24))?;
    let Some((text, alarm)) = note else {
        return Ok(body);
    };
    let (strip, rest) = body.split_vertically(NOTE_PX);
    let (color, weight) = match alarm {
        true => (ALARM, FontStyle::Bold),
        false => (GREY, FontStyle::Normal),
    };
    let font = (FONT, 17).into_font().style(weight);
    let style = font.color(&color).pos(Pos::new(HPos::Center, VPos::Center));
    let (w, h) = strip.dim_in_pixel();
    strip.draw(&Text::new(
        text.as_str(),
        (w as i32 / 2, h as i32 / 2),
        style,
    ))?;
    Ok(rest)
}

/// A "no data" note, so an empty sweep still yields a valid chart.
fn no_data(chart: &Chart<'_, '_>) -> anyhow::Result<()> {
    plot_note(chart.plotting_area(), "no data")
}

// ---------------------------------------------------------------------------------------------
// Line chart

/// A line reduced to its finite points, with its colour and marker fixed by input position so
/// a line keeps its look across the charts of one sweep even when another line is empty.
struct Series<'a> {
    label: &'a str,
    color: RGBColor,
    shape: usize,
    points: Vec<(f64, f64)>,
}

fn to_series(lines: &[Line]) -> Vec<Series<'_>> {
    let styled = lines.iter().enumerate().map(|(i, line)| Series {
        label: &line.label,
        color: PALETTE[i % PALETTE.len()],
        shape: i % SHAPES,
        points: line
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect(),
    });
    // A line without points would only add a legend entry pointing at nothing.
    styled.filter(|s| !s.points.is_empty()).collect()
}

/// The x axis: the swept values padded a little, with a tick at each swept value.
fn x_axis(series: &[Series<'_>], plot_px: f64) -> Axis {
    let mut xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let (Some(&first), Some(&last)) = (xs.first(), xs.last()) else {
        return Axis::linear(0.0, 1.0, 0.0, false);
    };
    // A single swept value still needs a range around it.
    let pad = match last - first {
        span if span > 0.0 => span * 0.05,
        _ => (first.abs() * 0.5).max(1.0),
    };
    let (lo, hi) = (first - pad, last + pad);
    let ticks = thin_ticks(&xs, plot_px / (hi - lo));
    Axis::new(lo, hi, ticks, vec![])
}

/// Drops swept values whose labels would collide with the previous kept one (e.g. 1, 2, 4
/// on an axis running to 128).
fn thin_ticks(xs: &[f64], px_per_unit: f64) -> Vec<f64> {
    let half_width = |x: f64| f64::from(text_px(&compact(x), 14)) / 2.0;
    let mut kept: Vec<f64> = Vec::new();
    for &x in xs {
        let clear = |k: f64| (x - k) * px_per_unit >= half_width(k) + half_width(x) + TICK_GAP_PX;
        if kept.last().is_none_or(|&k| clear(k)) {
            kept.push(x);
        }
    }
    kept
}

fn line_frame<'a, 'b>(
    area: &'a Area<'b>,
    x: &Axis,
    y: &Scale,
    (x_desc, y_desc): (&str, &str),
) -> anyhow::Result<Chart<'a, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .margin(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(x.clone(), y.spec())?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| compact(*v))
        .y_label_formatter(&|t| y.label(*t))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .draw()?;
    Ok(chart)
}

fn draw_lines(chart: &Chart<'_, '_>, series: &[Series<'_>], y: &Scale) -> anyhow::Result<()> {
    let area = chart.plotting_area();
    for s in series {
        let points: Vec<_> = s.points.iter().map(|&(x, v)| (x, y.map(v))).collect();
        area.draw(&PathElement::new(points.clone(), s.color.stroke_width(2)))?;
        // Markers show where the measurements are, and keep single-point lines visible.
        for p in points {
            area.draw(&marker(p, s.shape, s.color))?;
        }
    }
    Ok(())
}

fn marker<'a, DB: DrawingBackend + 'a, C: Clone + 'a>(
    at: C,
    shape: usize,
    color: RGBColor,
) -> DynElement<'a, DB, C> {
    let origin = EmptyElement::at(at);
    match shape % SHAPES {
        0 => (origin + Circle::new((0, 0), 4, color.filled())).into_dyn(),
        1 => (origin + TriangleMarker::new((0, 0), 6, color.filled())).into_dyn(),
        2 => (origin + Rectangle::new([(-4, -4), (4, 4)], color.filled())).into_dyn(),
        _ => (origin + Cross::new((0, 0), 4, color.stroke_width(2))).into_dyn(),
    }
}

/// Room for the legend right of the plot, so it never covers data however many lines there are.
fn legend_width(series: &[Series<'_>]) -> u32 {
    if series.is_empty() {
        return 0;
    }
    let longest = series
        .iter()
        .map(|s| text_px(s.label, 15))
        .max()
        .unwrap_or(0);
    (longest + 44).clamp(120, MAX_LEGEND_PX)
}

fn draw_legend(area: &Area<'_>, series: &[Series<'_>]) -> anyhow::Result<()> {
    let (w, h) = area.dim_in_pixel();
    // Many lines share the plot's height rather than running off the bottom.
    let rows = (series.len() as u32).max(1);
    let row = (h.saturating_sub(2 * MARGIN) / rows).clamp(10, LEGEND_ROW);
    let font = f64::from(row.min(15));
    let max_chars = chars_fitting(w.saturating_sub(44), font);
    let style = TextStyle::from((FONT, font)).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, s) in by_last_value(series).into_iter().enumerate() {
        let y = (MARGIN + row / 2 + row * i as u32) as i32;
        area.draw(&PathElement::new(
            [(4, y), (28, y)],
            s.color.stroke_width(2),
        ))?;
        area.draw(&marker((16, y), s.shape, s.color))?;
        let label = truncate(s.label, max_chars);
        area.draw(&Text::new(label, (36, y), style.clone()))?;
    }
    Ok(())
}

/// Legend order: highest final value first, so the legend reads top to bottom in the order
/// the lines end at the right edge.
fn by_last_value<'s, 'a>(series: &'s [Series<'a>]) -> Vec<&'s Series<'a>> {
    let last = |s: &Series<'_>| s.points.last().map_or(0.0, |p| p.1);
    let mut order: Vec<_> = series.iter().collect();
    order.sort_by(|a, b| last(b).total_cmp(&last(a)));
    order
}

// ---------------------------------------------------------------------------------------------
// Bar chart

/// Pixel sizes decided before drawing, because the SVG's height depends on them.
struct BarLayout {
    rows: u32,
    label_px: u32,
    label_chars: usize,
}

impl BarLayout {
    fn new(bars: &[Bar]) -> Self {
        let longest = bars
            .iter()
            .map(|b| text_px(&b.label, 14))
            .max()
            .unwrap_or(0);
        let label_px = (longest + 18).clamp(60, MAX_LABEL_PX);
        // A floor on the rows keeps a one-bar chart from being a sliver, and gives the
        // "no data" note of an empty one room to sit inside the frame.
        let rows = match bars.len() {
            0 => 4,
            n => n.max(2) as u32,
        };
        Self {
            rows,
            label_px,
            label_chars: chars_fitting(label_px - 18, 14.0),
        }
    }

    fn height(&self, with_note: bool) -> u32 {
        let note = if with_note { NOTE_PX } else { 0 };
        let fixed = TITLE_PX + note + 2 * MARGIN + X_LABEL_AREA;
        fixed + self.rows * BAR_ROW
    }

    fn plot_px(&self) -> u32 {
        WIDTH - self.label_px - 2 * MARGIN
    }
}

/// The note is the caller's text; alarms without one still get a count, so red bars are
/// never left unexplained.
fn note(bars: &[Bar], alarm_note: Option<&str>) -> Option<Note> {
    let alarms = bars.iter().filter(|b| b.alarm).count();
    let fallback = || format!("{alarms} of {} points in alarm", bars.len());
    match (alarm_note, alarms) {
        (Some(text), _) => Some((text.to_string(), alarms > 0)),
        (None, 0) => None,
        (None, _) => Some((fallback(), true)),
    }
}

/// The value axis, stretched so the value written after the longest bar stays inside.
fn bar_scale(bars: &[Bar], log: bool, layout: &BarLayout) -> Scale {
    let finite = bars.iter().map(|b| b.value).filter(|v| v.is_finite());
    let text = bars.iter().map(|b| text_px(&exact(b.value), 14)).max();
    let share = f64::from(text.unwrap_or(0) + 12) / f64::from(layout.plot_px());
    Scale::fit(finite, log).extend(share.min(0.5))
}

fn bar_frame<'a, 'b>(
    area: &'a Area<'b>,
    value_desc: &str,
    scale: &Scale,
    layout: &BarLayout,
) -> anyhow::Result<Chart<'a, 'b>> {
    // Rows are laid out by hand (labels coloured per bar), so the row axis has no ticks.
    let rows = Axis::new(0.0, f64::from(layout.rows), vec![], vec![]);
    let mut chart = ChartBuilder::on(area)
        .margin(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(layout.label_px)
        .build_cartesian_2d(scale.spec(), rows)?;
    chart
        .configure_mesh()
        .x_desc(value_desc)
        .x_label_formatter(&|t| scale.label(*t))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .draw()?;
    Ok(chart)
}

fn draw_bars(
    chart: &Chart<'_, '_>,
    bars: &[Bar],
    scale: &Scale,
    layout: &BarLayout,
) -> anyhow::Result<()> {
    let area = chart.plotting_area();
    for (i, bar) in bars.iter().enumerate() {
        // First bar on top, as the caller ordered them.
        let mid = f64::from(layout.rows) - i as f64 - 0.5;
        let color = if bar.alarm { ALARM } else { CALM };
        let end = scale.map(bar.value.max(0.0));
        if bar.value.is_finite() {
            let half = BAR_FILL / 2.0;
            let corners = [(scale.base(), mid - half), (end, mid + half)];
            area.draw(&Rectangle::new(corners, color.filled()))?;
        }
        let label = truncate(&bar.label, layout.label_chars);
        area.draw(&bar_text(label, (scale.lo, mid), -8, bar.alarm))?;
        let end = if bar.value.is_finite() {
            end
        } else {
            scale.base()
        };
        area.draw(&bar_text(exact(bar.value), (end, mid), 6, bar.alarm))?;
    }
    Ok(())
}

/// Text beside a bar, `dx` pixels from `at`: left of it (right-aligned) when negative.
/// Alarm rows are red and bold in their label and value too, so they stand out when scanning
/// the text rather than the bars.
fn bar_text<'a, DB: DrawingBackend + 'a>(
    text: String,
    at: (f64, f64),
    dx: i32,
    alarm: bool,
) -> DynElement<'a, DB, (f64, f64)> {
    let h = if dx < 0 { HPos::Right } else { HPos::Left };
    let (color, weight) = match alarm {
        true => (ALARM, FontStyle::Bold),
        false => (RGBColor(0, 0, 0), FontStyle::Normal),
    };
    let font = (FONT, 14).into_font().style(weight);
    let style = font.color(&color).pos(Pos::new(h, VPos::Center));
    (EmptyElement::at(at) + Text::new(text, (dx, 0), style)).into_dyn()
}

// ---------------------------------------------------------------------------------------------
// Axes

/// A value axis. For log axes `lo` and `hi` are log10 of the values, and data goes through
/// [`Scale::map`], which clamps zeros and negatives onto the bottom of the axis.
#[derive(Clone, Copy)]
struct Scale {
    log: bool,
    lo: f64,
    hi: f64,
    /// Counts (oversold units) get no fractional ticks: "0.2 units" would mislead.
    whole: bool,
}

impl Scale {
    fn fit(values: impl Iterator<Item = f64> + Clone, log: bool) -> Self {
        if log {
            return Self::fit_log(values.filter(|&v| v > 0.0));
        }
        let whole = values.clone().all(|v| v.fract() == 0.0);
        let lo = values.clone().fold(0.0, f64::min);
        let hi = values.fold(0.0, f64::max);
        // All zeros (a clean oversold chart) still needs a visible range.
        let hi = if hi > lo { hi } else { lo + 1.0 };
        Self { log, lo, hi, whole }
    }

    /// Pads by 1.5x each way so markers clear the frame, and spans at least a decade so a
    /// flat metric still gets tick labels.
    fn fit_log(positive: impl Iterator<Item = f64> + Clone) -> Self {
        let lo = positive.clone().fold(f64::INFINITY, f64::min);
        let hi = positive.fold(0.0, f64::max);
        if !lo.is_finite() {
            return Self::log(0.0, 1.0);
        }
        let (lo, hi) = (lo.log10() - 1.5f64.log10(), hi.log10() + 1.5f64.log10());
        let widen = ((1.0 - (hi - lo)) / 2.0).max(0.0);
        Self::log(lo - widen, hi + widen)
    }

    fn log(lo: f64, hi: f64) -> Self {
        Self {
            log: true,
            lo,
            hi,
            whole: false,
        }
    }

    /// Stretches the top so the current top sits `share` of the axis below the frame.
    fn extend(self, share: f64) -> Self {
        let hi = self.lo + (self.hi - self.lo) / (1.0 - share);
        Self { hi, ..self }
    }

    fn map(&self, v: f64) -> f64 {
        if self.log {
            v.log10().max(self.lo)
        } else {
            v
        }
    }

    /// Where bars start: zero, or the bottom of a log axis.
    fn base(&self) -> f64 {
        if self.log {
            self.lo
        } else {
            0.0
        }
    }

    fn spec(&self) -> Axis {
        match self.log {
            true => Axis::log(self.lo, self.hi, DENSE_LOG_DECADES),
            false => Axis::linear(self.lo, self.hi, self.lo, self.whole),
        }
    }

    fn label(&self, t: f64) -> String {
        compact(if self.log { 10f64.powf(t) } else { t })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::chart::{assert_texts, texts};

    const RED: &str = "#D62728";
    const KINDS: [&str; 7] = [
        "article",
        "safe-lock",
        "fenced",
        "lua",
        "watch",
        "decr",
        "redlock",
    ];

    fn line(label: &str, points: &[(f64, f64)]) -> Line {
        Line {
            label: label.to_string(),
            points: points.to_vec(),
        }
    }

    fn bar(label: &str, value: f64, alarm: bool) -> Bar {
        Bar {
            label: label.to_string(),
            value,
            alarm,
        }
    }

    /// One line per strategy over load.processes, scaled apart like a real sweep.
    fn strategy_lines(low: f64, high: f64) -> Vec<Line> {
        let step = (high / low).powf(1.0 / 6.0);
        let xs = [1.0, 2.0, 4.0, 8.0, 16.0];
        let ladder = |i: i32| xs.map(|x| (x, low * step.powi(i) * (1.0 + x / 16.0)));
        let lines = KINDS.iter().zip(0..).map(|(k, i)| Line {
            label: format!("strategy.kind={k}"),
            points: ladder(i).to_vec(),
        });
        lines.collect()
    }

    fn line_svg(lines: &[Line], log_y: bool) -> String {
        let bytes = line_chart("sweep", "load.processes", "purchases/s", lines, log_y).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    fn bar_svg(bars: &[Bar], log: bool, note: Option<&str>) -> String {
        let bytes = bar_chart("oversold units", "units", bars, log, note).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    fn svg_height(svg: &str) -> u32 {
        let attr = svg.split_once("height=\"").unwrap().1;
        attr.split_once('"').unwrap().0.parse().unwrap()
    }

    #[test]
    fn line_chart_names_every_line_axis_and_swept_value() {
        let svg = line_svg(&strategy_lines(2_000.0, 30_000.0), false);
        assert_texts(
            &svg,
            &[
                "sweep",
                "load.processes",
                "purchases/s",
                "1",
                "2",
                "4",
                "16",
            ],
        );
        assert_texts(&svg, &["0", "20k", "40k"]);
        for k in KINDS {
            assert_texts(&svg, &[&format!("strategy.kind={k}")]);
        }
        assert!(!svg.contains(RED), "red is reserved for alarms");
    }

    #[test]
    fn log_line_chart_labels_decades() {
        let svg = line_svg(&strategy_lines(300.0, 200_000.0), true);
        assert_texts(&svg, &["1k", "10k", "100k", "strategy.kind=redlock"]);
        assert!(
            !texts(&svg).contains(&"0".to_string()),
            "a log axis has no zero"
        );
    }

    #[test]
    fn legend_lists_highest_final_value_first() {
        let lines = strategy_lines(2_000.0, 30_000.0);
        let series = to_series(&lines);
        let order: Vec<_> = by_last_value(&series).iter().map(|s| s.label).collect();
        assert_eq!(order.first(), Some(&"strategy.kind=redlock"));
        assert_eq!(order.last(), Some(&"strategy.kind=article"));
    }

    #[test]
    fn empty_lines_render_a_note() {
        let nothing = line("strategy.kind=lua", &[]);
        let non_finite = line(
            "strategy.kind=lua",
            &[(f64::NAN, 1.0), (1.0, f64::INFINITY)],
        );
        for lines in [vec![], vec![nothing], vec![non_finite]] {
            for log_y in [false, true] {
                assert_texts(&line_svg(&lines, log_y), &["no data"]);
            }
        }
    }

    #[test]
    fn degenerate_lines_render() {
        let cases: [&[(f64, f64)]; 6] = [
            &[(4.0, 12_345.0)],
            &[(0.0, 0.0), (2.0, 0.0), (4.0, 0.0)],
            &[(0.0, 5.0), (1.0, f64::NAN), (2.0, 7.0)],
            &[(1.0, -3.0), (2.0, 0.0), (3.0, 4.0)],
            &[(1.0, f64::MAX), (1e300, 1.0)],
            &[(1.0, 1e-9), (2.0, 2e-9)],
        ];
        for points in cases {
            for log_y in [false, true] {
                let svg = line_svg(&[line("strategy.kind=lua", points)], log_y);
                assert_texts(&svg, &["strategy.kind=lua"]);
                assert!(!texts(&svg).contains(&"no data".to_string()), "{points:?}");
            }
        }
    }

    #[test]
    fn crowded_swept_values_are_thinned() {
        let xs = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];
        let kept = thin_ticks(&xs, 600.0 / 128.0);
        assert_eq!(kept.first(), Some(&1.0));
        assert!(kept.contains(&128.0) && !kept.contains(&2.0), "{kept:?}");
        assert_eq!(thin_ticks(&xs[..5], 600.0 / 16.0), xs[..5]);
    }

    #[test]
    fn bar_chart_writes_labels_and_values_in_a_calm_colour() {
        let bars = [
            bar("strategy.kind=lua, load.processes=4", 48_213.4, false),
            bar("strategy.kind=watch, load.processes=16", 2_000.0, false),
        ];
        let svg = bar_svg(&bars, false, None);
        assert_texts(&svg, &["oversold units", "units", "48,213", "2,000"]);
        assert_texts(&svg, &["strategy.kind=lua, load.processes=4"]);
        assert!(svg.contains("#1F77B4") && !svg.contains(RED));
    }

    #[test]
    fn alarm_bars_are_red_and_counted() {
        let values = [3.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let bars: Vec<_> = KINDS
            .iter()
            .zip(values)
            .map(|(k, v)| bar(k, v, v > 0.0))
            .collect();
        let svg = bar_svg(&bars, false, Some("2 of 7 points OVERSOLD"));
        assert_texts(&svg, &["2 of 7 points OVERSOLD", "3", "1", "article"]);
        let red_bars = svg
            .lines()
            .filter(|l| l.starts_with("<rect") && l.contains(RED));
        assert_eq!(red_bars.count(), 2);
        let fallback = bar_svg(&bars, false, None);
        assert_texts(&fallback, &["2 of 7 points in alarm"]);
    }

    #[test]
    fn all_zero_oversold_bars_still_say_zero() {
        let bars: Vec<_> = KINDS.iter().map(|k| bar(k, 0.0, false)).collect();
        let svg = bar_svg(&bars, false, Some("0 of 7 points oversold"));
        let zeros = texts(&svg).iter().filter(|t| *t == "0").count();
        // One per bar, plus the axis's own 0 tick.
        assert_eq!(zeros, KINDS.len() + 1);
        assert_texts(&svg, &["0 of 7 points oversold", "1"]);
        assert!(!svg.contains(RED));
        assert!(
            !texts(&svg).contains(&"0.2".to_string()),
            "counts get whole ticks"
        );
    }

    #[test]
    fn log_bars_clamp_zero_and_skip_non_finite() {
        let bars = [
            bar("zero", 0.0, false),
            bar("fast", 300.0, false),
            bar("slow", 400_000.0, true),
            bar("broken", f64::NAN, true),
        ];
        for log in [true, false] {
            let svg = bar_svg(&bars, log, None);
            assert_texts(&svg, &["zero", "0", "300", "400,000", "n/a", "broken"]);
        }
        assert_texts(&bar_svg(&bars, true, None), &["1k", "100k"]);
    }

    #[test]
    fn empty_and_single_bar_charts_render() {
        assert_texts(&bar_svg(&[], false, None), &["no data"]);
        assert_texts(&bar_svg(&[], true, Some("0 of 0 points")), &["no data"]);
        let one = bar_svg(&[bar("strategy.kind=lua", 7.0, true)], true, None);
        assert_texts(&one, &["strategy.kind=lua", "7", "1 of 1 points in alarm"]);
    }

    #[test]
    fn bar_chart_grows_with_the_bar_count_and_cuts_huge_labels() {
        let label = |i: usize| format!("strategy.kind=safe-lock, load.processes={i}");
        let bars = |n: usize| {
            (0..n)
                .map(|i| bar(&label(i), i as f64, false))
                .collect::<Vec<_>>()
        };
        let (short, long) = (
            bar_svg(&bars(3), false, None),
            bar_svg(&bars(60), false, None),
        );
        assert!(svg_height(&long) >= svg_height(&short) + 57 * BAR_ROW);
        assert_texts(&long, &[&label(59)]);
        let huge = "x".repeat(200);
        let cut = bar_svg(&[bar(&huge, 1.0, false)], false, None);
        assert!(texts(&cut)
            .iter()
            .any(|t| t.starts_with("xxx") && t.ends_with('…')));
    }
}
