//! Renders the run timeline (`timeline.svg`): what happened over the run, one point per
//! report interval.
//!
//! This module owns only the drawing: it takes plain numbers per interval and returns the
//! bytes of a complete SVG document. Two panels share the time axis. The top one puts
//! throughput (left axis) against the stock left (right axis), so the moment the stock runs
//! out, or the lock collapses, shows as a bend in the lines. The bottom one shows the latency
//! percentiles on a log axis. Red is reserved for trouble (intervals with errors, stock below
//! zero), as on the other charts. The log axis is drawn as a linear axis over `log10(µs)`
//! with its tick labels mapped back, so both panels share one coordinate type.

use std::ops::Range;

use plotters::chart::DualCoordChartContext;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::chart::{
    compact, grouped, micros, plot_note, svg_document, text_px, trim_decimals, Area, Axis, Chart,
    ALARM, FONT, GREY, MARGIN, PALETTE, WIDTH, X_LABEL_AREA, Y_LABEL_AREA,
};

/// One report interval of a run.
#[derive(Debug, Clone)]
pub struct TimelinePoint {
    /// End of the interval, seconds since the load started.
    pub t_s: f64,
    /// Purchase attempts finished in the interval, per second.
    pub purchases_per_s: f64,
    /// Sales (successful decrements) in the interval, per second.
    pub sales_per_s: f64,
    /// Errors in the interval (count).
    pub errors: u64,
    /// Stock left at the end of the interval as read from Redis; None when it could not be read.
    pub stock: Option<i64>,
    /// The interval's purchase latency percentiles in microseconds; None when the interval had no samples.
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub max_us: Option<u64>,
    /// Open loop: the purchases/s the schedule offered in the interval.
    pub target_per_s: Option<f64>,
    /// With an SLO: the interval's purchase latency at the SLO's
    /// percentile, µs.
    pub slo_us: Option<u64>,
}

/// A latency SLO to draw: its percentile's name (`p99`) and limit.
#[derive(Debug, Clone)]
pub struct SloLimit {
    pub name: String,
    pub limit_us: u64,
}

const HEIGHT: u32 = 720;
/// The top panel's share of the height below the title, legend strip included.
const TOP_PANEL_PX: u32 = 400;
/// The top panel's x axis only carries tick labels; its description is on the bottom panel.
const TOP_X_LABEL_AREA: u32 = 28;
const LEGEND_PX: u32 = 28;
/// Room above the highest value, so lines never run along the frame.
const HEADROOM: f64 = 1.2;
/// The least share of the top panel kept below zero once the stock went negative, so an
/// oversell of a few units out of thousands cannot hide in a one-pixel sliver.
const OVERSOLD_SHARE: f64 = 0.15;
const MAX_OVERSOLD_SHARE: f64 = 0.5;
/// The shared palette's hues, as on the other charts; red stays reserved for trouble.
const PURCHASES: RGBColor = PALETTE[0];
const SALES: RGBColor = PALETTE[2];
const STOCK: RGBColor = PALETTE[1];
const P50: RGBColor = PALETTE[4];
const P99: RGBColor = PALETTE[3];
/// p99's hue, lightened: the max is context for p99, not a line to read first.
const MAX: RGBColor = RGBColor(197, 176, 213);
/// The offered rate: dark, dashed, behind the measured lines.
const OFFERED: RGBColor = RGBColor(60, 60, 60);
/// An interval whose achieved rate is below this share of the offered
/// one falls behind (as `rate_reached` judges the whole run).
const REACHED: f64 = 0.95;
/// The latency panel is short: its log axis keeps 1-2-5 ticks only up to three decades,
/// one fewer than a full-height chart's (`chart::DENSE_LOG_DECADES`).
const SHORT_LOG_DECADES: f64 = 3.0;

type Plot<'a> = DrawingArea<SVGBackend<'a>, Cartesian2d<Axis, Axis>>;
type DualChart<'a, 'b> =
    DualCoordChartContext<'a, SVGBackend<'b>, Cartesian2d<Axis, Axis>, Cartesian2d<Axis, Axis>>;
/// Runs of consecutive known values; a missing value ends a run, so gaps stay gaps.
type Segments = Vec<Vec<(f64, f64)>>;

/// Renders the chart as a complete SVG document.
///
/// Points are drawn in time order whatever their input order; points with a non-finite time
/// are skipped, and missing or non-finite values leave a gap in their line. No points at all
/// gives a chart with a "no data" note.
/// # Errors
/// When plotters fails to draw.
pub fn render(
    title: &str,
    points: &[TimelinePoint],
    slo: Option<&SloLimit>,
) -> anyhow::Result<Vec<u8>> {
    let timeline = Timeline::new(points, slo);
    svg_document((WIDTH, HEIGHT), |root| {
        let body = root.titled(title, (FONT, 24))?;
        let (top, bottom) = body.split_vertically(TOP_PANEL_PX);
        draw_top(&top, &timeline)?;
        draw_bottom(&bottom, &timeline)
    })
}

// ---------------------------------------------------------------------------------------------
// Data

/// The input reduced to what gets drawn, with every axis decided up front.
struct Timeline {
    time: Axis,
    rate: Axis,
    /// None when the stock was never read: no line and no right axis.
    stock: Option<Axis>,
    /// None when no interval had latency samples.
    latency: Option<Axis>,
    purchases: Segments,
    sales: Segments,
    /// Open loop: the offered purchases/s; empty in a closed loop.
    offered: Segments,
    /// The first interval (its end, its offered rate) whose purchases/s
    /// fell below 95% of the offered rate, before the stock ran out.
    behind_at: Option<(f64, f64)>,
    /// The SLO's name, limit (log10 µs) and label, drawn on the latency panel.
    slo: Option<(f64, String)>,
    /// The first interval (its end, its offered rate in an open loop) whose
    /// latency went over the SLO's limit.
    over_slo_at: Option<(f64, Option<f64>, String)>,
    stock_left: Segments,
    /// The latencies are in log10(µs), the space their axis is drawn in.
    p50: Segments,
    p99: Segments,
    max: Segments,
    errors: Vec<ErrorSpan>,
    sold_out_at: Option<f64>,
    lowest_stock: Option<i64>,
}

/// An interval that had errors: from the previous point's time to its own.
struct ErrorSpan {
    from: f64,
    to: f64,
    count: u64,
}

impl Timeline {
    fn new(points: &[TimelinePoint], slo: Option<&SloLimit>) -> Self {
        let mut points: Vec<&TimelinePoint> = points.iter().filter(|p| p.t_s.is_finite()).collect();
        points.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
        let series = |value: fn(&TimelinePoint) -> Option<f64>| segments(&points, value);
        let (purchases, sales) = (series(purchases), series(sales));
        let offered = series(|p| p.target_per_s);
        let stock_left = series(|p| p.stock.map(|s| s as f64));
        let rate_max = max_of(&purchases).max(max_of(&sales)).max(max_of(&offered));
        let (rate, stock) = top_axes(rate_max, bounds(&stock_left));
        let (p50, p99, max) = (series(p50), series(p99), series(max));
        let limit = slo.map(|s| (0.0, log_us(s.limit_us)));
        let latency = latency_axis(
            p50.iter()
                .chain(&p99)
                .chain(&max)
                .flatten()
                .chain(limit.iter()),
        );
        let time = time_axis(&points);
        Self {
            behind_at: behind_at(&points),
            slo: slo.map(|s| {
                let text = format!("SLO {} ≤ {}", s.name, micros(s.limit_us));
                (log_us(s.limit_us), text)
            }),
            over_slo_at: slo.and_then(|s| over_slo_at(&points, s)),
            offered,
            errors: error_spans(&points, time.lo),
            sold_out_at: points
                .iter()
                .find(|p| p.stock.is_some_and(|s| s <= 0))
                .map(|p| p.t_s),
            lowest_stock: points.iter().filter_map(|p| p.stock).min(),
            time,
            rate,
            stock,
            latency,
            purchases,
            sales,
            stock_left,
            p50,
            p99,
            max,
        }
    }

    fn is_empty(&self) -> bool {
        [&self.purchases, &self.sales, &self.stock_left]
            .iter()
            .all(|s| s.is_empty())
            && self.latency.is_none()
            && self.errors.is_empty()
    }

    fn oversold(&self) -> bool {
        self.lowest_stock.is_some_and(|s| s < 0)
    }
}

/// Where an open loop first falls behind its schedule: the first point,
/// before the stock ran out (a sold-out sale stops, it does not fall
/// behind), achieving less than [`REACHED`] of what it was offered, and
/// the next point too: one short interval (the start, the partial last
/// one) is not a trend.
fn behind_at(points: &[&TimelinePoint]) -> Option<(f64, f64)> {
    let selling = points.iter().take_while(|p| p.stock.is_none_or(|s| s > 0));
    let below: Vec<Option<(f64, f64)>> = selling
        .map(|p| {
            let target = p.target_per_s.filter(|t| *t > 0.0)?;
            (p.purchases_per_s < REACHED * target).then_some((p.t_s, target))
        })
        .collect();
    below
        .windows(2)
        .find(|pair| pair.iter().all(Option::is_some))
        .and_then(|pair| pair[0])
}

/// Where the latency first went over the SLO: the first point over its
/// limit, the next point too, as [`behind_at`] judges.
fn over_slo_at(points: &[&TimelinePoint], slo: &SloLimit) -> Option<(f64, Option<f64>, String)> {
    let over: Vec<bool> = points
        .iter()
        .map(|p| p.slo_us.is_some_and(|us| us > slo.limit_us))
        .collect();
    let first = over.windows(2).position(|pair| pair[0] && pair[1])?;
    let p = points[first];
    let text = format!("{} over {}", slo.name, micros(slo.limit_us));
    Some((p.t_s, p.target_per_s.filter(|t| *t > 0.0), text))
}

fn purchases(p: &TimelinePoint) -> Option<f64> {
    Some(p.purchases_per_s)
}

fn sales(p: &TimelinePoint) -> Option<f64> {
    Some(p.sales_per_s)
}

fn p50(p: &TimelinePoint) -> Option<f64> {
    p.p50_us.map(log_us)
}

fn p99(p: &TimelinePoint) -> Option<f64> {
    p.p99_us.map(log_us)
}

fn max(p: &TimelinePoint) -> Option<f64> {
    p.max_us.map(log_us)
}

fn segments(points: &[&TimelinePoint], value: fn(&TimelinePoint) -> Option<f64>) -> Segments {
    let mut runs: Segments = vec![vec![]];
    for p in points {
        match value(p).filter(|v| v.is_finite()) {
            Some(v) => runs.last_mut().map_or((), |run| run.push((p.t_s, v))),
            None => runs.push(vec![]),
        }
    }
    runs.retain(|run| !run.is_empty());
    runs
}

fn bounds(segments: &Segments) -> Option<(f64, f64)> {
    let values = || segments.iter().flatten().map(|p| p.1);
    let lo = values().reduce(f64::min)?;
    Some((lo, values().fold(lo, f64::max)))
}

fn max_of(segments: &Segments) -> f64 {
    bounds(segments).map_or(0.0, |b| b.1)
}

fn error_spans(points: &[&TimelinePoint], start: f64) -> Vec<ErrorSpan> {
    let starts = std::iter::once(start).chain(points.iter().map(|p| p.t_s));
    let spans = points.iter().zip(starts).map(|(p, from)| ErrorSpan {
        from,
        to: p.t_s,
        count: p.errors,
    });
    spans.filter(|s| s.count > 0).collect()
}

// ---------------------------------------------------------------------------------------------
// Axes

/// From the earliest point (or zero) to the last, with a unit range when there is no span.
fn time_axis(points: &[&TimelinePoint]) -> Axis {
    let lo = points.first().map_or(0.0, |p| p.t_s.min(0.0));
    let hi = points.last().map_or(lo, |p| p.t_s);
    let hi = if hi > lo { hi } else { lo + 1.0 };
    // A little room past the last point, so its marker is not cut in half by the frame.
    let end = hi + (hi - lo) * 0.02;
    Axis {
        hi: end,
        ..Axis::linear(lo, hi, lo, false)
    }
}

/// The top panel's axes: per second on the left, stock on the right. Once the stock went
/// negative both keep the same share below zero, so their zeros line up and one red zero line
/// serves both; rates keep their ticks at zero and above, since they cannot be negative.
fn top_axes(rate_max: f64, stock: Option<(f64, f64)>) -> (Axis, Option<Axis>) {
    let rate_hi = nonzero(rate_max) * HEADROOM;
    let Some((stock_lo, stock_hi)) = stock else {
        return (Axis::linear(0.0, rate_hi, 0.0, false), None);
    };
    let (stock_axis, share) = stock_axis(stock_lo, stock_hi);
    let rate_lo = below_zero(rate_hi, share);
    (Axis::linear(rate_lo, rate_hi, 0.0, false), Some(stock_axis))
}

/// The stock axis and the share of it below zero. A deep oversell gets a symmetric axis
/// rather than squeezing the rates into a strip at the top.
fn stock_axis(lo: f64, hi: f64) -> (Axis, f64) {
    let top = nonzero(hi) * HEADROOM;
    if lo >= 0.0 {
        return (Axis::linear(0.0, top, 0.0, true), 0.0);
    }
    let bottom = lo * HEADROOM;
    let share = -bottom / (top - bottom);
    if share > MAX_OVERSOLD_SHARE {
        let reach = top.max(-bottom);
        return (
            Axis::linear(-reach, reach, -reach, true),
            MAX_OVERSOLD_SHARE,
        );
    }
    let share = share.max(OVERSOLD_SHARE);
    let lo = below_zero(top, share);
    (Axis::linear(lo, top, lo, true), share)
}

/// All zeros (an idle run) still need a visible range.
fn nonzero(max: f64) -> f64 {
    if max > 0.0 {
        max
    } else {
        1.0
    }
}

/// The axis bottom that leaves `share` of the whole axis below zero.
fn below_zero(top: f64, share: f64) -> f64 {
    -top * share / (1.0 - share)
}

/// Over log10(µs), padded 1.5x each way so the lines clear the frame, and spanning at least
/// a decade so a flat latency still gets tick labels.
fn latency_axis<'a>(points: impl Iterator<Item = &'a (f64, f64)> + Clone) -> Option<Axis> {
    let lo = points.clone().map(|p| p.1).reduce(f64::min)?;
    let hi = points.map(|p| p.1).fold(lo, f64::max);
    let pad = 1.5f64.log10();
    let widen = ((1.0 - (hi - lo + 2.0 * pad)) / 2.0).max(0.0);
    Some(Axis::log(
        lo - pad - widen,
        hi + pad + widen,
        SHORT_LOG_DECADES,
    ))
}

/// Samples are whole microseconds; a zero is drawn at 1 µs, the axis's floor.
fn log_us(us: u64) -> f64 {
    (us.max(1) as f64).log10()
}

// ---------------------------------------------------------------------------------------------
// Top panel: throughput and stock

fn draw_top(area: &Area<'_>, t: &Timeline) -> anyhow::Result<()> {
    let (legend, body) = area.split_vertically(LEGEND_PX);
    if !t.is_empty() {
        draw_legend(&legend, &top_keys(t))?;
    }
    let chart = top_frame(&body, t)?;
    let plot = chart.plotting_area();
    if t.is_empty() {
        return plot_note(plot, "no data");
    }
    draw_error_spans(plot, t)?;
    if t.oversold() {
        draw_oversold(plot, t)?;
    }
    draw_sold_out(plot, t, true)?;
    draw_behind(plot, t)?;
    draw_over_slo(plot, t)?;
    draw_stock(chart.secondary_plotting_area(), t)?;
    for run in &t.offered {
        plot.draw(&DashedPathElement::new(
            run.clone(),
            8,
            4,
            OFFERED.stroke_width(2),
        ))?;
    }
    draw_segments(plot, &t.purchases, PURCHASES.stroke_width(2))?;
    draw_segments(plot, &t.sales, SALES.stroke_width(2))
}

/// A red marker where the open loop first fell behind its schedule,
/// labelled with the rate it was offered there.
fn draw_behind(plot: &Plot<'_>, t: &Timeline) -> anyhow::Result<()> {
    let Some((at, target)) = t.behind_at else {
        return Ok(());
    };
    let Range { start: lo, end: hi } = plot.get_y_range();
    plot.draw(&DashedPathElement::new(
        [(at, lo), (at, hi)],
        3,
        3,
        ALARM.stroke_width(2),
    ))?;
    let text = format!(
        "falls behind at {} offered/s ({} s)",
        grouped(target.round() as u64),
        trim_decimals(&format!("{at:.1}"))
    );
    // Below the sold-out label's line, should both be near.
    label_marker(plot, t, (at, hi), text, (ALARM, 26))
}

/// A marker in p99's colour where the latency first went over the SLO,
/// labelled with the rate offered there (open loop).
fn draw_over_slo(plot: &Plot<'_>, t: &Timeline) -> anyhow::Result<()> {
    let Some((at, offered, what)) = &t.over_slo_at else {
        return Ok(());
    };
    let Range { start: lo, end: hi } = plot.get_y_range();
    plot.draw(&DashedPathElement::new(
        [(*at, lo), (*at, hi)],
        3,
        3,
        P99.stroke_width(2),
    ))?;
    let when = trim_decimals(&format!("{at:.1}")).to_owned();
    let text = match offered {
        Some(rate) => format!(
            "{what} at {} offered/s ({when} s)",
            grouped(rate.round() as u64)
        ),
        None => format!("{what} from {when} s"),
    };
    label_marker(plot, t, (*at, hi), text, (P99, 46))
}

/// A marker's label at the top of its line: right of it, or past three
/// quarters of the way left of it, to stay in the frame; `dy` down.
fn label_marker(
    plot: &Plot<'_>,
    t: &Timeline,
    (at, top): (f64, f64),
    text: String,
    (color, dy): (RGBColor, i32),
) -> anyhow::Result<()> {
    let right_side = (at - t.time.lo) / (t.time.hi - t.time.lo) < 0.75;
    let (h, dx) = if right_side {
        (HPos::Left, 6)
    } else {
        (HPos::Right, -6)
    };
    let style = TextStyle::from((FONT, 14))
        .color(&color)
        .pos(Pos::new(h, VPos::Top));
    plot.draw(&(EmptyElement::at((at, top)) + Text::new(text, (dx, dy), style)))?;
    Ok(())
}

/// Both panels keep the same room on either side, so their time axes line up. The right
/// axis's room is a margin unless there is a right axis: a label area would make plotters
/// repeat the left axis's labels there.
fn builder<'a, 'b>(
    area: &'a Area<'b>,
    x_labels: u32,
    right_axis: bool,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(MARGIN)
        .margin_top(4)
        .x_label_area_size(x_labels)
        .y_label_area_size(Y_LABEL_AREA);
    match right_axis {
        true => builder.right_y_label_area_size(Y_LABEL_AREA),
        false => builder.margin_right(MARGIN + Y_LABEL_AREA),
    };
    builder
}

fn top_frame<'a, 'b>(area: &'a Area<'b>, t: &Timeline) -> anyhow::Result<DualChart<'a, 'b>> {
    let no_stock = || Axis::linear(0.0, 1.0, 0.0, true);
    let mut chart = builder(area, TOP_X_LABEL_AREA, t.stock.is_some())
        .build_cartesian_2d(t.time.clone(), t.rate.clone())?
        .set_secondary_coord(t.time.clone(), t.stock.clone().unwrap_or_else(no_stock));
    chart
        .configure_mesh()
        .y_desc("per second")
        .x_label_formatter(&|v| compact(*v))
        .y_label_formatter(&|v| compact(*v))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .draw()?;
    if t.stock.is_some() {
        chart
            .configure_secondary_axes()
            .y_desc("stock left")
            .y_label_formatter(&|v| compact(*v))
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 14))
            .draw()?;
    }
    Ok(chart)
}

/// A light red column over each interval with errors, and a red marker on its floor that
/// stays visible even when the column is a pixel wide.
fn draw_error_spans(plot: &Plot<'_>, t: &Timeline) -> anyhow::Result<()> {
    for span in &t.errors {
        let corners = [(span.from, t.rate.lo), (span.to, t.rate.hi)];
        plot.draw(&Rectangle::new(corners, ALARM.mix(0.15).filled()))?;
        let floor = ((span.from + span.to) / 2.0, t.rate.lo);
        plot.draw(&(EmptyElement::at(floor) + TriangleMarker::new((0, -7), 6, ALARM.filled())))?;
    }
    Ok(())
}

/// Shades everything below zero and draws the zero line in red, with the lowest stock
/// written in the shading: an oversell has to be impossible to miss.
fn draw_oversold(plot: &Plot<'_>, t: &Timeline) -> anyhow::Result<()> {
    let (time, rate) = (&t.time, &t.rate);
    let band = [(time.lo, rate.lo), (time.hi, 0.0)];
    plot.draw(&Rectangle::new(band, ALARM.mix(0.08).filled()))?;
    plot.draw(&PathElement::new(
        [(time.lo, 0.0), (time.hi, 0.0)],
        ALARM.stroke_width(2),
    ))?;
    let lowest = t.lowest_stock.unwrap_or(0);
    let text = format!("below 0: OVERSOLD (lowest stock {lowest})");
    let font = (FONT, 15).into_font().style(FontStyle::Bold);
    let style = font.color(&ALARM).pos(Pos::new(HPos::Left, VPos::Center));
    let at = EmptyElement::at((time.lo, rate.lo / 2.0));
    plot.draw(&(at + Text::new(text, (10, 0), style)))?;
    Ok(())
}

/// A dashed line where the stock first reached zero, labelled on the top panel only.
fn draw_sold_out(plot: &Plot<'_>, t: &Timeline, labelled: bool) -> anyhow::Result<()> {
    let Some(at) = t.sold_out_at else {
        return Ok(());
    };
    let Range { start: lo, end: hi } = plot.get_y_range();
    let line = DashedPathElement::new([(at, lo), (at, hi)], 6, 4, GREY.stroke_width(2));
    plot.draw(&line)?;
    if !labelled {
        return Ok(());
    }
    let text = format!("sold out at {} s", trim_decimals(&format!("{at:.1}")));
    label_marker(plot, t, (at, hi), text, (GREY, 6))
}

/// The stock line, with its points below zero marked in red.
fn draw_stock(plot: &Plot<'_>, t: &Timeline) -> anyhow::Result<()> {
    draw_segments(plot, &t.stock_left, STOCK.stroke_width(2))?;
    let negative = t.stock_left.iter().flatten().filter(|p| p.1 < 0.0);
    for &p in negative {
        plot.draw(&Circle::new(p, 4, ALARM.filled()))?;
    }
    Ok(())
}

fn draw_segments(plot: &Plot<'_>, segments: &Segments, style: ShapeStyle) -> anyhow::Result<()> {
    for run in segments {
        plot.draw(&PathElement::new(run.clone(), style))?;
        // A lone point between gaps has no line to show it.
        if let [p] = run[..] {
            plot.draw(&Circle::new(p, 3, style.color.filled()))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Bottom panel: latency

fn draw_bottom(area: &Area<'_>, t: &Timeline) -> anyhow::Result<()> {
    let (legend, body) = area.split_vertically(LEGEND_PX);
    if t.latency.is_some() {
        draw_legend(&legend, &latency_keys())?;
    }
    // 1 µs to 1 ms, only so an empty panel still has a frame.
    let y = t
        .latency
        .clone()
        .unwrap_or_else(|| Axis::log(0.0, 3.0, SHORT_LOG_DECADES));
    let chart = bottom_frame(&body, &t.time, y)?;
    let plot = chart.plotting_area();
    if t.latency.is_none() {
        let text = if t.is_empty() {
            "no data"
        } else {
            "no latency samples"
        };
        return plot_note(plot, text);
    }
    draw_sold_out(plot, t, false)?;
    if let Some((limit, text)) = &t.slo {
        let (lo, hi) = (t.time.lo, t.time.hi);
        let line =
            DashedPathElement::new([(lo, *limit), (hi, *limit)], 8, 4, OFFERED.stroke_width(1));
        plot.draw(&line)?;
        let style = TextStyle::from((FONT, 13))
            .color(&OFFERED)
            .pos(Pos::new(HPos::Left, VPos::Bottom));
        plot.draw(&(EmptyElement::at((lo, *limit)) + Text::new(text.clone(), (6, -3), style)))?;
    }
    // p99 last, so it is on top where the lines cross.
    draw_segments(plot, &t.max, MAX.stroke_width(2))?;
    draw_segments(plot, &t.p50, P50.stroke_width(2))?;
    draw_segments(plot, &t.p99, P99.stroke_width(2))
}

fn bottom_frame<'a, 'b>(area: &'a Area<'b>, time: &Axis, y: Axis) -> anyhow::Result<Chart<'a, 'b>> {
    let mut chart = builder(area, X_LABEL_AREA, false).build_cartesian_2d(time.clone(), y)?;
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc("latency (µs)")
        .x_label_formatter(&|v| compact(*v))
        .y_label_formatter(&|v| compact(10f64.powf(*v)))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .draw()?;
    Ok(chart)
}

// ---------------------------------------------------------------------------------------------
// Legends and notes

/// A legend entry: a sample of the line (or marker) and its name, with an optional grey
/// remark after it.
struct Key {
    label: &'static str,
    swatch: Swatch,
    remark: Option<String>,
}

enum Swatch {
    Line(ShapeStyle),
    Marker(RGBColor),
}

fn key(label: &'static str, swatch: Swatch) -> Key {
    Key {
        label,
        swatch,
        remark: None,
    }
}

fn top_keys(t: &Timeline) -> Vec<Key> {
    let mut keys = vec![
        key("purchases/s", Swatch::Line(PURCHASES.stroke_width(2))),
        key("sales/s", Swatch::Line(SALES.stroke_width(2))),
    ];
    if !t.offered.is_empty() {
        keys.push(key(
            "offered/s (dashed)",
            Swatch::Line(OFFERED.stroke_width(2)),
        ));
    }
    if t.stock.is_some() {
        keys.push(key(
            "stock left (right axis)",
            Swatch::Line(STOCK.stroke_width(2)),
        ));
    }
    if !t.errors.is_empty() {
        let total: u64 = t.errors.iter().map(|s| s.count).sum();
        let spans = t.errors.len();
        let plural = if spans == 1 { "" } else { "s" };
        let remark = format!("{} in {spans} interval{plural}", grouped(total));
        keys.push(Key {
            remark: Some(remark),
            ..key("errors", Swatch::Marker(ALARM))
        });
    }
    keys
}

fn latency_keys() -> Vec<Key> {
    vec![
        key("p50", Swatch::Line(P50.stroke_width(2))),
        key("p99", Swatch::Line(P99.stroke_width(2))),
        key("max", Swatch::Line(MAX.stroke_width(2))),
    ]
}

/// A row of keys above the panel, starting at the plot's left edge: outside the plot, so it
/// never covers data whatever the lines do.
fn draw_legend(area: &Area<'_>, keys: &[Key]) -> anyhow::Result<()> {
    let y = (LEGEND_PX / 2 + 2) as i32;
    let mut x = (MARGIN + Y_LABEL_AREA) as i32;
    let style = TextStyle::from((FONT, 15)).pos(Pos::new(HPos::Left, VPos::Center));
    let remark_style = style.color(&GREY);
    for k in keys {
        match k.swatch {
            Swatch::Line(line) => area.draw(&PathElement::new([(x, y), (x + 24, y)], line))?,
            Swatch::Marker(color) => {
                area.draw(&TriangleMarker::new((x + 12, y), 6, color.filled()))?
            }
        }
        x += 30;
        area.draw(&Text::new(k.label, (x, y), style.clone()))?;
        x += text_px(k.label, 15) as i32;
        if let Some(remark) = &k.remark {
            area.draw(&Text::new(
                format!("({remark})"),
                (x + 5, y),
                remark_style.clone(),
            ))?;
            x += 5 + (text_px(remark, 15) + text_px("()", 15)) as i32;
        }
        x += 22;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::chart::{assert_texts, texts};

    const RED: &str = "#D62728";

    fn point(t_s: f64, rate: f64, stock: Option<i64>, p99_us: Option<u64>) -> TimelinePoint {
        TimelinePoint {
            t_s,
            purchases_per_s: rate,
            sales_per_s: rate / 20.0,
            errors: 0,
            stock,
            p50_us: p99_us.map(|v| v / 8),
            p99_us,
            max_us: p99_us.map(|v| v.saturating_mul(3)),
            slo_us: None,
            target_per_s: None,
        }
    }

    /// 30 one-second intervals: ~2,000 purchases/s until the 1,000 units run out at 12 s,
    /// then nothing; p99 around 300 ms while selling.
    fn sale() -> Vec<TimelinePoint> {
        let interval = |i: i64| {
            let selling = i <= 12;
            let stock = (1000 - 84 * i).max(0);
            let rate = if selling { 2_000.0 } else { 0.0 };
            let p99 = selling.then_some(300_000);
            point(i as f64, rate, Some(stock), p99)
        };
        (1..=30).map(interval).collect()
    }

    /// Stock down to -3 at 5 s, errors in two intervals.
    fn oversell() -> Vec<TimelinePoint> {
        let interval = |i: i64| TimelinePoint {
            errors: [0, 4, 37][usize::from(i == 2) + 2 * usize::from(i == 4)],
            ..point(
                i as f64,
                1_800.0,
                Some((400 - 81 * i).max(-3)),
                Some(12_000),
            )
        };
        (1..=10).map(interval).collect()
    }

    fn svg(points: &[TimelinePoint]) -> String {
        String::from_utf8(render("timeline", points, None).unwrap()).unwrap()
    }

    fn lacks_text(svg: &str, unwanted: &str) -> bool {
        !texts(svg).iter().any(|t| t == unwanted)
    }

    #[test]
    fn realistic_sale_names_lines_axes_and_the_sell_out() {
        let svg = svg(&sale());
        let legend = [
            "purchases/s",
            "sales/s",
            "stock left (right axis)",
            "p50",
            "p99",
        ];
        let axes = [
            "time since start (s)",
            "per second",
            "stock left",
            "latency (µs)",
        ];
        let ticks = ["0", "10", "30", "2k", "1k", "100k", "1M"];
        assert_texts(&svg, &legend);
        assert_texts(&svg, &axes);
        assert_texts(&svg, &ticks);
        assert_texts(&svg, &["timeline", "max", "sold out at 12 s"]);
        assert!(lacks_text(&svg, "errors"));
        assert!(!svg.contains(RED), "red is reserved for trouble");
    }

    #[test]
    fn an_open_loop_draws_what_it_was_offered_and_where_it_fell_behind() {
        let ramp: Vec<TimelinePoint> = (1..=10)
            .map(|i| {
                let offered = 1000.0 * f64::from(i);
                let achieved = offered.min(6000.0);
                TimelinePoint {
                    target_per_s: Some(offered),
                    ..point(f64::from(i), achieved, Some(1_000_000), Some(2000))
                }
            })
            .collect();
        let drawn = svg(&ramp);
        assert!(
            drawn.contains("offered/s (dashed)"),
            "a key for the offered line"
        );
        assert!(
            drawn.contains("falls behind at 7,000 offered/s (7 s)"),
            "the first interval below 95%"
        );
        let kept_up: Vec<TimelinePoint> = ramp
            .iter()
            .map(|p| TimelinePoint {
                purchases_per_s: p.target_per_s.unwrap(),
                ..p.clone()
            })
            .collect();
        assert!(lacks_text(&svg(&kept_up), "falls behind"));
        assert!(
            lacks_text(&svg(&sale()), "offered/s"),
            "a closed loop offers nothing"
        );
    }

    #[test]
    fn an_slo_is_drawn_and_where_latency_first_crossed_it_marked() {
        // p99 climbs 10 ms a second; the SLO is 45 ms: over from 5 s on.
        let climbing: Vec<TimelinePoint> = (1..=8)
            .map(|i| TimelinePoint {
                slo_us: Some(10_000 * i),
                target_per_s: Some(100.0 * i as f64),
                ..point(i as f64, 100.0 * i as f64, None, Some(10_000 * i))
            })
            .collect();
        let slo = SloLimit {
            name: "p99".to_owned(),
            limit_us: 45_000,
        };
        let drawn = String::from_utf8(render("t", &climbing, Some(&slo)).unwrap()).unwrap();
        assert_texts(
            &drawn,
            &["SLO p99 ≤ 45 ms", "p99 over 45 ms at 500 offered/s (5 s)"],
        );
        // One interval over the limit is not a crossing; no SLO, no line.
        let spike: Vec<TimelinePoint> = climbing
            .iter()
            .map(|p| TimelinePoint {
                slo_us: Some(if p.t_s == 3.0 { 90_000 } else { 1_000 }),
                ..p.clone()
            })
            .collect();
        let drawn = String::from_utf8(render("t", &spike, Some(&slo)).unwrap()).unwrap();
        assert!(lacks_text(&drawn, "p99 over 45 ms at 300 offered/s (3 s)"));
        assert!(!svg(&climbing).contains("SLO"));
    }

    #[test]
    fn oversell_and_errors_are_red() {
        let svg = svg(&oversell());
        assert_texts(&svg, &["below 0: OVERSOLD (lowest stock -3)", "errors"]);
        assert_texts(&svg, &["(41 in 2 intervals)", "sold out at 5 s"]);
        let red_triangles = svg
            .lines()
            .filter(|l| l.starts_with("<polygon") && l.contains(RED));
        // One per interval with errors, plus the legend's.
        assert_eq!(red_triangles.count(), 3);
    }

    #[test]
    fn negative_stock_gets_room_and_a_shared_zero() {
        let (rate, stock) = top_axes(2_000.0, Some((-3.0, 1_000.0)));
        let stock = stock.unwrap();
        let zero_share = |a: &Axis| -a.lo / (a.hi - a.lo);
        assert!(zero_share(&stock) >= OVERSOLD_SHARE - 1e-9);
        assert!((zero_share(&rate) - zero_share(&stock)).abs() < 1e-9);
        assert!(rate.major.iter().all(|&t| t >= 0.0), "{:?}", rate.major);
        let (_, deep) = top_axes(100.0, Some((-5_000.0, 10.0)));
        let deep = deep.unwrap();
        assert!(deep.lo <= -5_000.0 && deep.hi >= 5_000.0);
        assert!(deep.major.contains(&0.0) && deep.major.iter().any(|&t| t < 0.0));
    }

    #[test]
    fn empty_timeline_renders_a_note_in_both_panels() {
        let svg = svg(&[]);
        let notes = texts(&svg).iter().filter(|t| *t == "no data").count();
        assert_eq!(notes, 2);
        assert!(lacks_text(&svg, "purchases/s"));
    }

    #[test]
    fn degenerate_timelines_render() {
        let mut gap = sale();
        gap[5].stock = None;
        gap[6].p99_us = None;
        gap[7].purchases_per_s = f64::NAN;
        let cases = [
            vec![point(1.0, 10.0, Some(3), Some(100))],
            vec![point(0.0, 0.0, Some(0), Some(0))],
            vec![point(1.0, 0.0, None, None), point(2.0, 0.0, None, None)],
            vec![
                point(f64::NAN, 5.0, None, None),
                point(2.0, 1e12, Some(i64::MIN), Some(u64::MAX)),
            ],
            vec![
                point(f64::MAX, 1.0, Some(1), Some(1)),
                point(-5.0, 1.0, Some(-1), None),
            ],
            vec![
                point(3.0, 1.0, Some(5), None),
                point(3.0, 2.0, Some(4), None),
            ],
            gap,
        ];
        for points in cases {
            let svg = svg(&points);
            assert_texts(&svg, &["purchases/s", "time since start (s)"]);
            assert!(lacks_text(&svg, "no data"));
        }
    }

    #[test]
    fn missing_latency_and_stock_leave_notes_not_lines() {
        let points = [point(1.0, 50.0, None, None), point(2.0, 60.0, None, None)];
        let svg = svg(&points);
        assert_texts(&svg, &["no latency samples"]);
        assert!(lacks_text(&svg, "stock left") && lacks_text(&svg, "p99"));
    }

    #[test]
    fn missing_values_split_lines() {
        let mut points = sale();
        points[3].stock = None;
        let refs: Vec<&TimelinePoint> = points.iter().collect();
        let runs = segments(&refs, |p| p.stock.map(|s| s as f64));
        let lengths: Vec<_> = runs.iter().map(Vec::len).collect();
        assert_eq!(lengths, [3, 26]);
        assert_eq!(segments(&refs[..0], p99), Segments::new());
    }

    #[test]
    fn latency_axis_spans_a_decade_and_labels_it() {
        let flat = [(1.0, log_us(300_000)), (2.0, log_us(300_000))];
        let axis = latency_axis(flat.iter()).unwrap();
        assert!(axis.hi - axis.lo >= 1.0 - 1e-9);
        let labels: Vec<_> = axis.major.iter().map(|t| compact(10f64.powf(*t))).collect();
        assert!(labels.contains(&"200k".to_string()), "{labels:?}");
        assert!(latency_axis([].iter()).is_none());
    }
}
