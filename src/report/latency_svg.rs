//! Renders the latency-by-percentile chart (`latency.svg`).
//!
//! This module owns only the drawing: it takes plain numbers (percentile ladders per phase)
//! and returns the bytes of a complete SVG document. The layout follows HdrHistogram's
//! classic "latency by percentile distribution" plot: the x axis is `1 / (1 - p)` on a log
//! scale, so every extra "nine" (90%, 99%, 99.9%, ...) gets the same horizontal room.

use plotters::coord::combinators::WithKeyPoints;
use plotters::prelude::*;

use super::chart::{
    compact, log_minor_ticks, log_ticks, plot_note, svg_document, Area, DENSE_LOG_DECADES, FONT,
    MARGIN, PALETTE, WIDTH, X_LABEL_AREA, Y_LABEL_AREA,
};

/// One line on the chart: a phase name ("purchase", "lock_wait", "critical_section") and its
/// percentile ladder as (percentile in 0..=100, value in microseconds), ascending by percentile.
pub struct PhaseCurve<'a> {
    pub name: &'a str,
    pub points: Vec<(f64, u64)>,
}

const SIZE: (u32, u32) = (WIDTH, 560);
/// 99.9999%: beyond this the tick labels get long and the samples too few to mean much.
const MAX_FINITE_X: f64 = 1e6;
/// Guards decade arithmetic against `1 / (1 - 0.9999)` being 10000.000000000827.
const DECADE_EPS: f64 = 1e-6;
/// Legend geometry, in proportions of the plotting area, used to keep data out from under it.
const LEGEND_WIDTH_SHARE: f64 = 0.3;
const PLOT_HEIGHT_PX: f64 = 430.0;
/// Tableau-10 hues without red: across the reports red means trouble only.
const PHASE_COLORS: [RGBColor; 6] = [
    PALETTE[0], PALETTE[1], PALETTE[2], PALETTE[3], PALETTE[4], PALETTE[5],
];

/// A curve already mapped into chart space (x = 1/(1-p), y = µs clamped to >= 1).
struct Series<'a> {
    name: &'a str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

/// The x extent. `top` is where p = 100 is drawn, since its true position is infinity.
struct XAxis {
    top: f64,
    has_max: bool,
}

/// Renders the chart as a complete SVG document.
/// # Errors
/// When plotters fails to draw.
pub fn render(title: &str, curves: &[PhaseCurve<'_>]) -> anyhow::Result<Vec<u8>> {
    let x_axis = x_axis(curves);
    let series = to_series(curves, &x_axis);
    svg_document(SIZE, |root| draw_chart(root, title, &series, &x_axis))
}

type Axis = WithKeyPoints<LogCoord<f64>>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Axis, Axis>>;

fn draw_chart(
    root: &Area<'_>,
    title: &str,
    series: &[Series<'_>],
    x_axis: &XAxis,
) -> anyhow::Result<()> {
    let (y_lo, y_hi) = y_range(series, x_axis.top);
    let x_spec = (1.0..x_axis.top)
        .log_scale()
        .with_key_points(decades(1.0, x_axis.top));
    let (y_major, y_minor) = y_ticks(y_lo, y_hi);
    let y_spec = (y_lo..y_hi)
        .log_scale()
        .with_key_points(y_major)
        .with_light_points(y_minor);
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 24))
        .margin(MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(x_spec, y_spec)?;
    let x_fmt = |x: &f64| x_label(*x, x_axis);
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (µs)")
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|y| compact(*y))
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .draw()?;
    draw_series(&mut chart, series)?;
    finish(&mut chart, series)
}

fn draw_series(chart: &mut Chart<'_, '_>, series: &[Series<'_>]) -> anyhow::Result<()> {
    for s in series {
        let style = s.color.stroke_width(2);
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), style))?
            .label(s.name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
        // Markers keep sparse ladders and single-point curves visible.
        let marker = s.color.filled();
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, marker)))?;
    }
    Ok(())
}

/// Legend for real data, or a "no samples" note so an empty run still yields a valid chart.
fn finish<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, series: &[Series<'_>]) -> anyhow::Result<()> {
    if series.is_empty() {
        return plot_note(chart.plotting_area(), "no samples");
    }
    // Curves rise to the right, so the upper left is normally empty; `legend_headroom`
    // makes room there when a curve does not rise.
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .margin(12)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

/// `None` for p = 100 (and NaN), whose position is decided by [`x_axis`].
fn percentile_to_x(p: f64) -> Option<f64> {
    let p = p.clamp(0.0, 100.0);
    if p.is_nan() || p >= 100.0 {
        return None;
    }
    Some((1.0 / (1.0 - p / 100.0)).min(MAX_FINITE_X))
}

/// Puts p = 100 one decade past the last finite point, so it gets its own "100%" tick
/// instead of sitting on (and being mislabelled by) a 99.9..% tick.
fn x_axis(curves: &[PhaseCurve<'_>]) -> XAxis {
    let all = curves.iter().flat_map(|c| c.points.iter());
    let finite_max = all
        .clone()
        .filter_map(|&(p, _)| percentile_to_x(p))
        .fold(1.0, f64::max);
    let has_max = all.clone().any(|&(p, _)| p >= 100.0);
    let top = if has_max {
        decade_above(finite_max)
    } else {
        decade_at_or_above(finite_max).max(10.0)
    };
    XAxis { top, has_max }
}

fn to_series<'a>(curves: &[PhaseCurve<'a>], x_axis: &XAxis) -> Vec<Series<'a>> {
    let with_color = curves.iter().zip(PHASE_COLORS.iter().cycle());
    let series = with_color.map(|(c, &color)| Series {
        name: c.name,
        color,
        points: c
            .points
            .iter()
            .filter(|(p, _)| !p.is_nan())
            .map(|&(p, v)| (percentile_to_x(p).unwrap_or(x_axis.top), v.max(1) as f64))
            .collect(),
    });
    // A curve without points would only add a legend entry pointing at nothing.
    series.filter(|s| !s.points.is_empty()).collect()
}

/// Pads the data by a factor of 1.5 each way so markers never sit on the frame, and spans
/// at least one decade so a flat curve still gets a few tick labels.
fn y_range(series: &[Series<'_>], x_top: f64) -> (f64, f64) {
    let ys = || series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let lo = ys().fold(f64::INFINITY, f64::min);
    let hi = ys().fold(0.0, f64::max);
    if !lo.is_finite() {
        return (1.0, 1000.0);
    }
    let (lo, hi) = (lo / 1.5, hi * 1.5);
    let widen = (10.0 / (hi / lo)).max(1.0).sqrt();
    let (lo, hi) = (lo / widen, hi * widen);
    (lo, hi.max(legend_headroom(series, x_top, lo)))
}

/// The top of the y axis that keeps the upper-left legend clear of the data.
///
/// Curves usually rise to the right, so this rarely changes anything; it matters for a
/// high flat curve, which would otherwise run straight through the legend box.
fn legend_headroom(series: &[Series<'_>], x_top: f64, lo: f64) -> f64 {
    let reach = x_top.powf(LEGEND_WIDTH_SHARE);
    let under_legend = series.iter().flat_map(|s| s.points.iter());
    let peak = under_legend
        .filter(|p| p.0 <= reach)
        .map(|p| p.1 * 1.5)
        .fold(lo, f64::max);
    let height_share = (30.0 + 22.0 * series.len() as f64) / PLOT_HEIGHT_PX;
    lo * (peak / lo).powf(1.0 / (1.0 - height_share.min(0.5)))
}

/// The y axis's (major, minor) ticks in µs: the shared log ticks, picked over log10(µs).
fn y_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let (lo, hi) = (lo.log10(), hi.log10());
    // Samples are whole microseconds, so sub-µs ticks would only label empty space.
    let to_us = |ticks: Vec<f64>| {
        let whole_us = ticks.into_iter().filter(|&t| t >= 0.0);
        whole_us.map(|t| 10f64.powf(t)).collect()
    };
    (
        to_us(log_ticks(lo, hi, DENSE_LOG_DECADES)),
        to_us(log_minor_ticks(lo, hi)),
    )
}

/// Powers of ten in `[lo, hi]`.
fn decades(lo: f64, hi: f64) -> Vec<f64> {
    let first = (lo.log10() - DECADE_EPS).ceil() as i32;
    let last = (hi.log10() + DECADE_EPS).floor() as i32;
    (first..=last).map(|k| 10f64.powi(k)).collect()
}

fn decade_at_or_above(v: f64) -> f64 {
    10f64.powi((v.log10() - DECADE_EPS).ceil() as i32)
}

fn decade_above(v: f64) -> f64 {
    10f64.powi((v.log10() + DECADE_EPS).floor() as i32 + 1)
}

fn x_label(x: f64, axis: &XAxis) -> String {
    if axis.has_max && x >= axis.top * (1.0 - DECADE_EPS) {
        return "100%".to_string();
    }
    percentile_label(x.log10().round() as usize)
}

/// The percentile at x = 10^nines: 0%, 90%, 99%, 99.9%, ...
fn percentile_label(nines: usize) -> String {
    match nines {
        0 => "0%".to_string(),
        1 => "90%".to_string(),
        n => format!("99{}{}%", if n > 2 { "." } else { "" }, "9".repeat(n - 2)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::chart::texts;

    fn ladder(scale: u64) -> Vec<(f64, u64)> {
        let ps = [0.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0];
        let base = [100, 140, 180, 260, 400, 900, 3_000, 12_000, 50_000];
        ps.into_iter().zip(base.map(|v| v * scale / 4)).collect()
    }

    fn example() -> Vec<PhaseCurve<'static>> {
        vec![
            PhaseCurve {
                name: "purchase",
                points: ladder(4),
            },
            PhaseCurve {
                name: "lock_wait",
                points: ladder(2),
            },
            PhaseCurve {
                name: "critical_section",
                points: ladder(1),
            },
        ]
    }

    fn render_str(curves: &[PhaseCurve<'_>]) -> String {
        String::from_utf8(render("latency", curves).unwrap()).unwrap()
    }

    fn has_text(texts: &[String], wanted: &str) -> bool {
        texts.iter().any(|t| t == wanted)
    }

    #[test]
    fn realistic_chart_has_names_and_percentile_labels() {
        let svg = render_str(&example());
        assert!(svg.contains("<svg"));
        let texts = texts(&svg);
        let names = ["purchase", "lock_wait", "critical_section"];
        let axes = ["latency (µs)", "percentile", "1k", "10k"];
        let ticks = ["0%", "90%", "99%", "99.9%", "99.99%", "100%"];
        for wanted in names.iter().chain(&axes).chain(&ticks) {
            assert!(has_text(&texts, wanted), "missing {wanted} in {texts:?}");
        }
        // Ticks stop where the data stops.
        assert!(!has_text(&texts, "99.999%"));
    }

    #[test]
    fn empty_inputs_render_a_note() {
        let empty_curve = [PhaseCurve {
            name: "purchase",
            points: vec![],
        }];
        for curves in [&[][..], &empty_curve[..]] {
            let svg = render_str(curves);
            assert!(svg.contains("<svg"));
            assert!(has_text(&texts(&svg), "no samples"));
        }
    }

    #[test]
    fn degenerate_curves_do_not_error() {
        let cases = [
            vec![(0.0, 0), (50.0, 0), (100.0, 0)],
            vec![(99.0, 500)],
            vec![(100.0, 7)],
            vec![(0.0, 250), (90.0, 250), (99.0, 250), (100.0, 250)],
            vec![(f64::NAN, 5), (150.0, u64::MAX), (-3.0, 1)],
        ];
        for points in cases {
            let svg = render_str(&[PhaseCurve {
                name: "lock_wait",
                points,
            }]);
            let texts = texts(&svg);
            assert!(has_text(&texts, "lock_wait"), "{texts:?}");
            assert!(!has_text(&texts, "no samples"));
        }
    }

    #[test]
    fn labels_are_readable() {
        let labels: Vec<_> = (0..5).map(percentile_label).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%"]);
    }

    #[test]
    fn max_gets_its_own_decade() {
        let axis = x_axis(&example());
        assert!(axis.has_max);
        assert!((axis.top - 1e5).abs() < 1e-6);
    }

    #[test]
    fn high_flat_curve_leaves_room_for_the_legend() {
        let flat = [PhaseCurve {
            name: "purchase",
            points: vec![(0.0, 50_000), (99.0, 50_000), (100.0, 50_000)],
        }];
        let axis = x_axis(&flat);
        let (lo, hi) = y_range(&to_series(&flat, &axis), axis.top);
        let line_height = (50_000f64 / lo).ln() / (hi / lo).ln();
        assert!(
            line_height < 0.8,
            "flat line at {line_height} of the plot height"
        );
    }
}
