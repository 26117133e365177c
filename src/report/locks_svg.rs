//! Renders the lock-safety Gantt strip (`locks.svg`): the lock holds around the first overlap
//! the checker found, one row per client, so the overlap can be seen rather than taken on trust.
//!
//! This module owns only the drawing: it takes the checker's [`LockWindow`] and returns the
//! bytes of a complete SVG document. Finding overlaps and choosing which holds the window keeps
//! belong to `checker`. Each bar runs from the reply granting the lock to the stock write; a
//! dashed tick marks where the lock's TTL ran out. The time both clients of the first overlap
//! held the lock is shaded, in the alarm red only when both of their writes applied: a refused
//! (fenced) write is the lock protocol working, not trouble.

use std::time::Duration;

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::chart::{
    exact, svg_document, text_px, trim_decimals, Area, Axis, Chart, ALARM, FONT, GREY, MARGIN,
    PALETTE, WIDTH, X_LABEL_AREA, Y_LABEL_AREA,
};
use crate::checker::{ClientId, LockWindow, Overlap, Span};

const TITLE: &str = "Lock holds around the first overlap";
/// The title strip that `titled` takes, give or take a few pixels.
const TITLE_PX: u32 = 40;
const SUBTITLE_PX: u32 = 24;
const LEGEND_PX: u32 = 28;
const ROW_PX: u32 = 40;
/// Room above the client rows, in rows: the "TTL expired" label, then the overlap caption.
const HEADER_ROWS: f64 = 1.4;
/// Where the "TTL expired" label and the overlap caption sit, in rows above the top row's edge.
const EXPIRY_LABEL_AT: f64 = 0.35;
const CAPTION_AT: f64 = 1.0;
/// Half a bar's height and half a TTL tick's, in rows.
const BAR_HALF: f64 = 0.3;
const TICK_HALF: f64 = 0.45;
const APPLIED: RGBColor = PALETTE[0];
/// Light enough that a "refused" label still reads over it.
const HATCH: RGBColor = RGBColor(175, 175, 175);
const HATCH_STEP: i32 = 7;
/// Bars are drawn no thinner than this, so a hold of a few microseconds still shows.
const MIN_BAR_PX: i32 = 2;
/// The overlap is shaded at least this wide.
const MIN_SHADE_PX: i32 = 6;
const NEUTRAL: RGBColor = RGBColor(127, 127, 127);
/// TTL ticks: dark enough to read over an applied bar's blue.
const TICK: RGBColor = RGBColor(40, 40, 40);

/// Renders `locks.svg`: a Gantt strip of the lock holds around the first overlap.
///
/// Rows are clients, the stale and the newer client of `window.first` on top; the x axis is
/// milliseconds since the run's start, from `window.from` to `window.to`.
/// # Errors
/// When plotters fails to draw.
pub fn render(window: &LockWindow) -> anyhow::Result<Vec<u8>> {
    let strip = Strip::new(window);
    svg_document((WIDTH, strip.height()), |root| {
        let body = root.titled(TITLE, (FONT, 24))?;
        let (head, body) = body.split_vertically(SUBTITLE_PX + LEGEND_PX);
        draw_head(&head, &strip)?;
        draw_plot(&body, &strip)
    })
}

type Plot<'a> = DrawingArea<SVGBackend<'a>, Cartesian2d<Axis, Axis>>;

// ---------------------------------------------------------------------------------------------
// Data

/// The window reduced to what gets drawn, with both axes decided up front.
struct Strip<'a> {
    window: &'a LockWindow,
    /// Milliseconds since the run's start.
    time: Axis,
    /// Row `i` (0 at the top) is centred on `rows.len() - 1 - i`.
    rows: Axis,
    clients: Vec<ClientId>,
    /// The window's spans, plus the first overlap's should the window lack them.
    spans: Vec<Span>,
}

impl<'a> Strip<'a> {
    fn new(window: &'a LockWindow) -> Self {
        let clients = row_order(window);
        let mut spans = window.spans.clone();
        for span in [window.first.stale, window.first.newer] {
            if !spans.contains(&span) {
                spans.push(span);
            }
        }
        Self {
            window,
            time: time_axis(window),
            rows: row_axis(clients.len()),
            clients,
            spans,
        }
    }

    fn height(&self) -> u32 {
        let plot = (self.clients.len() as f64 + HEADER_ROWS) * f64::from(ROW_PX);
        TITLE_PX + SUBTITLE_PX + LEGEND_PX + 2 * MARGIN + X_LABEL_AREA + plot.ceil() as u32
    }

    /// The centre of `client`'s row on the row axis.
    fn center(&self, client: ClientId) -> f64 {
        let index = self.clients.iter().position(|&c| c == client);
        (self.clients.len() - 1 - index.unwrap_or(0)) as f64
    }

    /// The top edge of the top row: the header above it holds labels, not bars.
    fn rows_top(&self) -> f64 {
        self.clients.len() as f64 - 0.5
    }

    /// The y tick label at row centre `y`: the client, with its part in the first overlap.
    fn row_label(&self, y: f64) -> String {
        let from_top = self.clients.len() as f64 - 1.0 - y.round();
        let Some(client) = self.clients.get(from_top.max(0.0) as usize) else {
            return String::new();
        };
        match from_top as usize {
            0 => format!("{client} (stale)"),
            1 => format!("{client} (newer)"),
            _ => client.to_string(),
        }
    }
}

/// The first overlap's stale client, then its newer one, then the rest by id.
fn row_order(window: &LockWindow) -> Vec<ClientId> {
    let first = [window.first.stale.client, window.first.newer.client];
    let mut rest: Vec<ClientId> = window.spans.iter().map(|s| s.client).collect();
    rest.retain(|c| !first.contains(c));
    rest.sort_unstable();
    rest.dedup();
    let mut clients = first.to_vec();
    clients.dedup();
    clients.extend(rest);
    clients
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `window.from` to `window.to` in ms, with a unit range should the window be empty.
fn time_axis(window: &LockWindow) -> Axis {
    let lo = ms(window.from);
    let hi = ms(window.to).max(lo);
    let hi = if hi > lo { hi } else { lo + 1.0 };
    Axis::linear(lo, hi, lo, false)
}

fn row_axis(rows: usize) -> Axis {
    let rows_f = rows as f64;
    let centers = (0..rows).map(|i| i as f64).collect();
    Axis::new(-0.5, rows_f - 0.5 + HEADER_ROWS, centers, vec![])
}

/// When both clients of the first overlap held the lock, in ms.
fn overlap_ms(first: &Overlap) -> (f64, f64) {
    let from = first.stale.granted.max(first.newer.granted);
    let to = first.stale.write_sent.min(first.newer.write_sent);
    (ms(from), ms(to))
}

/// Where `span`'s lock expired, in ms, if that was before its write and inside the window.
fn expiry_ms(strip: &Strip<'_>, span: &Span) -> Option<f64> {
    let expiry = span.granted + strip.window.ttl;
    let at = ms(expiry);
    let shown = expiry < span.write_sent && at > strip.time.lo && at < strip.time.hi;
    shown.then_some(at)
}

/// What the shaded overlap means, and its colour.
fn caption(first: &Overlap) -> (&'static str, RGBColor) {
    match (first.stale.applied, first.newer.applied) {
        (true, true) => ("both held the lock: both writes applied", ALARM),
        (false, true) => ("both held the lock: the stale write was refused", GREY),
        (true, false) => ("both held the lock: the newer write was refused", GREY),
        (false, false) => ("both held the lock: both writes were refused", GREY),
    }
}

/// Tick labels with as many decimals as the tick step needs (12345.5, not 12.35k).
fn ms_label(v: f64, axis: &Axis) -> String {
    let step = match axis.major[..] {
        [a, b, ..] => b - a,
        _ => 1.0,
    };
    let decimals = (-step.log10() - 1e-9).ceil().clamp(0.0, 6.0) as usize;
    trim_decimals(&format!("{v:.decimals$}")).to_string()
}

// ---------------------------------------------------------------------------------------------
// Subtitle and legend

fn draw_head(area: &Area<'_>, strip: &Strip<'_>) -> anyhow::Result<()> {
    let (subtitle, legend) = area.split_vertically(SUBTITLE_PX);
    let x = (MARGIN + y_label_area(strip)) as i32;
    let ttl = exact(ms(strip.window.ttl));
    let text = format!("lock TTL {ttl} ms; each bar runs from the lock grant to the stock write");
    let style = TextStyle::from((FONT, 15))
        .color(&GREY)
        .pos(Pos::new(HPos::Left, VPos::Center));
    subtitle.draw(&Text::new(text, (x, (SUBTITLE_PX / 2) as i32), style))?;
    draw_legend(&legend, strip, x)
}

/// A legend entry: a sample of what is drawn, and its name.
enum Swatch {
    Fill(RGBAColor),
    Hatched,
    Tick,
}

/// The keys for what this strip draws: the refused and TTL keys only when there are some.
fn keys(strip: &Strip<'_>) -> Vec<(&'static str, Swatch)> {
    let mut keys = vec![("applied write", Swatch::Fill(APPLIED.to_rgba()))];
    if strip.spans.iter().any(|s| !s.applied) {
        keys.push(("refused write", Swatch::Hatched));
    }
    if strip.spans.iter().any(|s| expiry_ms(strip, s).is_some()) {
        keys.push(("TTL expiry", Swatch::Tick));
    }
    let shade = overlap_shade(&strip.window.first);
    keys.push(("both held the lock", Swatch::Fill(shade)));
    keys
}

/// A row of keys above the plot, from `x` on: outside the plot, so it never covers a bar.
fn draw_legend(area: &Area<'_>, strip: &Strip<'_>, mut x: i32) -> anyhow::Result<()> {
    let y = (LEGEND_PX / 2) as i32;
    let style = TextStyle::from((FONT, 15)).pos(Pos::new(HPos::Left, VPos::Center));
    for (label, swatch) in keys(strip) {
        let corners = [(x, y - 7), (x + 24, y + 7)];
        match swatch {
            Swatch::Fill(color) => area.draw(&Rectangle::new(corners, color.filled()))?,
            Swatch::Hatched => draw_hatched(area, corners[0], (24, 14))?,
            Swatch::Tick => {
                let line = [(x + 12, y - 9), (x + 12, y + 9)];
                area.draw(&DashedPathElement::new(line, 4, 3, TICK.stroke_width(2)))?
            }
        }
        area.draw(&Text::new(label, (x + 30, y), style.clone()))?;
        x += 30 + text_px(label, 15) as i32 + 22;
    }
    Ok(())
}

fn overlap_shade(first: &Overlap) -> RGBAColor {
    match first.is_unsafe() {
        true => ALARM.mix(0.18),
        false => NEUTRAL.mix(0.18),
    }
}

// ---------------------------------------------------------------------------------------------
// The strip

fn draw_plot(area: &Area<'_>, strip: &Strip<'_>) -> anyhow::Result<()> {
    let chart = frame(area, strip)?;
    let plot = chart.plotting_area();
    draw_row_lines(plot, strip)?;
    draw_overlap(plot, strip)?;
    for span in &strip.spans {
        draw_bar(plot, strip, span)?;
    }
    draw_expiries(plot, strip)
}

/// Wide enough for the longest row label ("w12c127 (newer)").
fn y_label_area(strip: &Strip<'_>) -> u32 {
    let rows = 0..strip.clients.len();
    let labels = rows.map(|i| strip.row_label(i as f64));
    let widest = labels.map(|l| text_px(&l, 14)).max().unwrap_or(0);
    Y_LABEL_AREA.max(widest + 24)
}

fn frame<'a, 'b>(area: &'a Area<'b>, strip: &Strip<'_>) -> anyhow::Result<Chart<'a, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .margin(MARGIN)
        .margin_top(4)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(y_label_area(strip))
        .build_cartesian_2d(strip.time.clone(), strip.rows.clone())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("time since start (ms)")
        .x_label_formatter(&|v| ms_label(*v, &strip.time))
        .y_label_formatter(&|v| strip.row_label(*v))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .draw()?;
    Ok(chart)
}

/// Faint lines between rows, so a bar reads as belonging to its label.
fn draw_row_lines(plot: &Plot<'_>, strip: &Strip<'_>) -> anyhow::Result<()> {
    let (lo, hi) = (strip.time.lo, strip.time.hi);
    for i in 0..strip.clients.len() {
        let y = i as f64 + 0.5;
        plot.draw(&PathElement::new([(lo, y), (hi, y)], BLACK.mix(0.12)))?;
    }
    Ok(())
}

/// The time both clients of the first overlap held the lock, shaded over every row, with its
/// caption in the header kept inside the frame.
fn draw_overlap(plot: &Plot<'_>, strip: &Strip<'_>) -> anyhow::Result<()> {
    let first = &strip.window.first;
    let (from, to) = overlap_ms(first);
    let (from, to) = (clamp(from, &strip.time), clamp(to, &strip.time));
    draw_shade(plot, strip, (from, to))?;
    let (text, color) = caption(first);
    let at = ((from + to) / 2.0, strip.rows_top() + CAPTION_AT);
    let font = (FONT, 15).into_font().style(FontStyle::Bold);
    let style = font.color(&color).pos(Pos::new(HPos::Center, VPos::Center));
    let dx = inside_frame(plot, at, text_px(text, 15) as i32 / 2);
    plot.draw(&(EmptyElement::at(at) + Text::new(text, (dx, 0), style)))?;
    Ok(())
}

/// The shading over the whole height, widened to [`MIN_SHADE_PX`] around its middle so an
/// overlap of a few microseconds is still seen.
fn draw_shade(plot: &Plot<'_>, strip: &Strip<'_>, (from, to): (f64, f64)) -> anyhow::Result<()> {
    let (x0, y0) = plot.map_coordinate(&(from, strip.rows.hi));
    let (x1, y1) = plot.map_coordinate(&(to, strip.rows.lo));
    let widen = (MIN_SHADE_PX - (x1 - x0)).max(0);
    let corners = [(-widen / 2, 0), (x1 - x0 + widen - widen / 2, y1 - y0)];
    let shade = Rectangle::new(corners, overlap_shade(&strip.window.first).filled());
    plot.draw(&(EmptyElement::at((from, strip.rows.hi)) + shade))?;
    Ok(())
}

fn clamp(v: f64, axis: &Axis) -> f64 {
    v.clamp(axis.lo, axis.hi)
}

/// How far to move a label centred on `at`, `half_px` wide each way, to keep it in the frame.
fn inside_frame(plot: &Plot<'_>, at: (f64, f64), half_px: i32) -> i32 {
    let x = plot.map_coordinate(&at).0;
    let (frame, _) = plot.get_pixel_range();
    let (left, right) = (frame.start + half_px + 4, frame.end - half_px - 4);
    x.clamp(left, right.max(left)) - x
}

/// One hold: a filled bar for an applied write, a hatched one for a refused write.
fn draw_bar(plot: &Plot<'_>, strip: &Strip<'_>, span: &Span) -> anyhow::Result<()> {
    let c = strip.center(span.client);
    let from = clamp(ms(span.granted), &strip.time);
    let to = clamp(ms(span.write_sent), &strip.time);
    // In pixels from the plot's top-left corner, where the hatching is drawn.
    let (frame_x, frame_y) = plot.get_pixel_range();
    let (x0, y0) = plot.map_coordinate(&(from, c + BAR_HALF));
    let (x1, y1) = plot.map_coordinate(&(to, c - BAR_HALF));
    let (x0, x1) = (x0 - frame_x.start, x1 - frame_x.start);
    let size = ((x1 - x0).max(MIN_BAR_PX), y1 - y0);
    if span.applied {
        let bar = Rectangle::new([(0, 0), size], APPLIED.filled());
        return Ok(plot.draw(&(EmptyElement::at((from, c + BAR_HALF)) + bar))?);
    }
    draw_hatched(&plot.strip_coord_spec(), (x0, y0 - frame_y.start), size)?;
    label_refused(plot, strip, span, (x0, x1))
}

/// A white box of `size` pixels at `at`, hatched in grey with a grey border.
fn draw_hatched(area: &Area<'_>, at: (i32, i32), size: (i32, i32)) -> anyhow::Result<()> {
    let (x, y) = at;
    let at = |p: (i32, i32)| (x + p.0, y + p.1);
    let corners = [at((0, 0)), at(size)];
    area.draw(&Rectangle::new(corners, WHITE.filled()))?;
    for [a, b] in hatch_lines(size.0, size.1) {
        area.draw(&PathElement::new([at(a), at(b)], HATCH.stroke_width(1)))?;
    }
    area.draw(&Rectangle::new(corners, GREY.stroke_width(1)))?;
    Ok(())
}

/// 45° lines ("/") across a `w` by `h` box, from its top-left corner: the lines x + y = c.
fn hatch_lines(w: i32, h: i32) -> Vec<[(i32, i32); 2]> {
    let sums = (1..).map(|k| k * HATCH_STEP).take_while(|&c| c < w + h);
    let line = |c: i32| {
        let (start, end) = ((c - h).max(0), c.min(w));
        [(start, c - start), (end, c - end)]
    };
    sums.map(line).collect()
}

/// "refused" inside the bar when it fits there; beside it only for the first overlap's holds,
/// since elsewhere it could land on a neighbouring bar.
fn label_refused(
    plot: &Plot<'_>,
    strip: &Strip<'_>,
    span: &Span,
    (x0, x1): (i32, i32),
) -> anyhow::Result<()> {
    const TEXT: &str = "refused";
    let width = text_px(TEXT, 14) as i32;
    let first = [strip.window.first.stale, strip.window.first.newer];
    let (h, x) = match x1 - x0 >= width + 10 {
        true => (HPos::Center, (x0 + x1) / 2),
        false if !first.contains(span) => return Ok(()),
        false if x1 + 6 + width < plot.dim_in_pixel().0 as i32 => (HPos::Left, x1 + 6),
        false => (HPos::Right, x0 - 6),
    };
    let font = (FONT, 14).into_font().style(FontStyle::Bold);
    let style = font.color(&GREY).pos(Pos::new(h, VPos::Center));
    let y = plot
        .map_coordinate(&(strip.time.lo, strip.center(span.client)))
        .1;
    let y = y - plot.get_pixel_range().1.start;
    plot.strip_coord_spec()
        .draw(&Text::new(TEXT, (x, y), style))?;
    Ok(())
}

/// A dashed tick where a lock expired while its client still held it; the stale hold's
/// reaches up to its label. An expiry after the write is left out: by then the client had
/// let go, and a tick in an empty row would suggest an event that did not matter.
fn draw_expiries(plot: &Plot<'_>, strip: &Strip<'_>) -> anyhow::Result<()> {
    let stale = strip.window.first.stale;
    for span in &strip.spans {
        let Some(at) = expiry_ms(strip, span) else {
            continue;
        };
        let c = strip.center(span.client);
        let top = match *span == stale {
            true => strip.rows_top() + EXPIRY_LABEL_AT - 0.15,
            false => c + TICK_HALF,
        };
        let line = [(at, c - TICK_HALF), (at, top)];
        plot.draw(&DashedPathElement::new(line, 4, 3, TICK.stroke_width(2)))?;
    }
    match expiry_ms(strip, &stale) {
        Some(at) => label_expiry(plot, strip, at),
        None => Ok(()),
    }
}

/// "TTL expired" beside the top of the stale hold's tick, on whichever side has room.
fn label_expiry(plot: &Plot<'_>, strip: &Strip<'_>, at: f64) -> anyhow::Result<()> {
    let right_side = (at - strip.time.lo) / (strip.time.hi - strip.time.lo) < 0.75;
    let (h, dx) = match right_side {
        true => (HPos::Left, 6),
        false => (HPos::Right, -6),
    };
    let style = TextStyle::from((FONT, 14))
        .color(&GREY)
        .pos(Pos::new(h, VPos::Center));
    let anchor = EmptyElement::at((at, strip.rows_top() + EXPIRY_LABEL_AT));
    plot.draw(&(anchor + Text::new("TTL expired", (dx, 0), style)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::chart::{assert_texts, texts};

    const RED: &str = "#D62728";
    const TTL_MS: u64 = 30;

    fn client(worker: u32, client: u32) -> ClientId {
        ClientId { worker, client }
    }

    fn span(c: ClientId, from_ms: u64, to_ms: u64, applied: bool) -> Span {
        Span {
            client: c,
            granted: Duration::from_millis(from_ms),
            write_sent: Duration::from_millis(to_ms),
            applied,
        }
    }

    /// w1c2 is granted at 1000 ms and paused past its 30 ms TTL; w0c3 gets the lock at
    /// 1031 ms; w1c2 then writes at 1045 ms, applied or refused as `stale_applied` says.
    /// Two more clients hold the lock before and after.
    fn window(stale_applied: bool) -> LockWindow {
        let stale = span(client(1, 2), 1000, 1045, stale_applied);
        let newer = span(client(0, 3), 1031, 1036, true);
        let others = [
            span(client(0, 0), 990, 996, true),
            span(client(2, 1), 1037, 1040, true),
            span(client(0, 0), 1041, 1044, true),
        ];
        LockWindow {
            ttl: Duration::from_millis(TTL_MS),
            first: Overlap { stale, newer },
            from: Duration::from_micros(988_750),
            to: Duration::from_micros(1_056_250),
            spans: [stale, newer].into_iter().chain(others).collect(),
        }
    }

    fn svg(window: &LockWindow) -> String {
        String::from_utf8(render(window).unwrap()).unwrap()
    }

    /// The client row labels, top to bottom by their `y` attribute.
    fn row_labels(svg: &str) -> Vec<String> {
        let texts = svg.split("<text").skip(1);
        let mut rows: Vec<(i32, String)> = texts
            .filter_map(|t| {
                let y = t.split_once(" y=\"")?.1.split_once('"')?.0.parse().ok()?;
                let body = t.split_once('>')?.1.split_once("</text>")?.0.trim();
                body.starts_with('w').then(|| (y, body.to_string()))
            })
            .collect();
        rows.sort();
        rows.into_iter().map(|(_, label)| label).collect()
    }

    #[test]
    fn unsafe_overlap_is_drawn_in_red_with_both_clients_on_top() {
        let svg = svg(&window(true));
        assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"));
        assert_texts(&svg, &["w1c2 (stale)", "w0c3 (newer)", "TTL expired"]);
        assert_texts(&svg, &["both held the lock: both writes applied"]);
        assert_texts(&svg, &["time since start (ms)", "1000", "1040"]);
        let labels = row_labels(&svg);
        let order = ["w1c2 (stale)", "w0c3 (newer)", "w0c0", "w2c1"];
        assert_eq!(labels, order, "rows top to bottom");
        assert!(svg.contains(RED), "an unsafe overlap is trouble");
        assert_texts(&svg, &["applied write", "TTL expiry", "both held the lock"]);
        assert!(!texts(&svg)
            .iter()
            .any(|t| t == "refused" || t == "refused write"));
        assert!(texts(&svg).iter().any(|t| t.contains("lock TTL 30 ms")));
    }

    #[test]
    fn fenced_overlap_is_neutral_and_marks_the_refused_write() {
        let svg = svg(&window(false));
        assert_texts(&svg, &["w1c2 (stale)", "w0c3 (newer)", "TTL expired"]);
        assert_texts(&svg, &["refused", "refused write"]);
        assert_texts(&svg, &["both held the lock: the stale write was refused"]);
        assert!(!svg.contains(RED), "red is reserved for trouble");
    }

    #[test]
    fn expiry_outside_the_window_is_not_labelled() {
        let mut w = window(true);
        w.ttl = Duration::from_secs(10);
        let svg = svg(&w);
        assert!(!texts(&svg)
            .iter()
            .any(|t| t == "TTL expired" || t == "TTL expiry"));
        assert_texts(&svg, &["w1c2 (stale)"]);
    }

    #[test]
    fn degenerate_windows_render() {
        let mut empty = window(true);
        empty.spans.clear();
        empty.to = empty.from;
        let mut outside = window(false);
        outside.spans.push(span(client(3, 0), 0, 5_000, false));
        for w in [empty, outside] {
            let svg = svg(&w);
            assert_texts(&svg, &["w1c2 (stale)", "w0c3 (newer)"]);
        }
    }

    #[test]
    fn tick_labels_keep_the_digits_the_step_needs() {
        let axis = Axis::linear(12_340.0, 12_346.0, 12_340.0, false);
        let labels: Vec<_> = axis.major.iter().map(|v| ms_label(*v, &axis)).collect();
        assert_eq!(labels[..3], ["12340", "12341", "12342"]);
        let fine = Axis::new(10.0, 10.3, vec![10.0, 10.05, 10.1], vec![]);
        let labels: Vec<_> = fine.major.iter().map(|v| ms_label(*v, &fine)).collect();
        assert_eq!(labels, ["10", "10.05", "10.1"]);
    }

    #[test]
    fn only_expiries_inside_a_hold_get_a_tick() {
        let w = window(true);
        let strip = Strip::new(&w);
        assert_eq!(expiry_ms(&strip, &w.first.stale), Some(1030.0));
        // w0c0 wrote at 996 ms; its lock would have expired at 1020 ms, inside the window.
        assert_eq!(expiry_ms(&strip, &w.spans[2]), None);
        assert_eq!(expiry_ms(&strip, &w.first.newer), None);
    }

    #[test]
    fn hatch_lines_stay_inside_their_box() {
        let lines = hatch_lines(30, 10);
        assert_eq!(lines.len(), 5);
        for (x, y) in lines.iter().flatten() {
            assert!((0..=30).contains(x) && (0..=10).contains(y), "{x},{y}");
        }
    }
}
