//! Shared pieces of the SVG charts (`latency_svg`, `sweep_svg`, `timeline_svg`): the common
//! look (canvas width, font, margins, label areas, the red-free palette and the alarm red),
//! the hand-ticked [`Axis`] with its linear and log tick rules, number formatting for tick
//! labels and values, text width estimates, and the SVG document and "no data" note every
//! chart starts and ends with.
//!
//! It does not draw any particular chart: layouts, series, legends and what the data means
//! stay in the chart modules. Log axes are linear axes over `log10(value)`; the tick helpers
//! work in that space, and a chart maps tick labels back with `10^t`.

use std::ops::Range;

pub(crate) use crate::util::format::{grouped, micros};

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub(super) const WIDTH: u32 = 900;
pub(super) const FONT: &str = "sans-serif";
pub(super) const MARGIN: u32 = 16;
pub(super) const X_LABEL_AREA: u32 = 50;
pub(super) const Y_LABEL_AREA: u32 = 70;
/// Tableau-10 without its red, which is reserved for alarms so red always means trouble.
pub(super) const PALETTE: [RGBColor; 9] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
/// Tableau-10's red: alarms and trouble only.
pub(super) const ALARM: RGBColor = RGBColor(214, 39, 40);
/// Secondary text: remarks, non-alarm notes, the sold-out marker.
pub(super) const GREY: RGBColor = RGBColor(90, 90, 90);
/// A full-height log axis keeps its 1-2-5 ticks up to this many decades (see [`log_ticks`]).
pub(super) const DENSE_LOG_DECADES: f64 = 4.0;

pub(super) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
pub(super) type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Axis, Axis>>;

/// A complete SVG document of `size` pixels: a white canvas handed to `draw`.
pub(super) fn svg_document(
    size: (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<u8>> {
    let mut svg = String::new();
    {
        // The backend only flushes into `svg` when it is dropped, hence the scope.
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    Ok(svg.into_bytes())
}

/// A grey note in the middle of a plot ("no data"), so an empty chart still reads as deliberate.
pub(super) fn plot_note<CT: CoordTranslate>(
    plot: &DrawingArea<SVGBackend<'_>, CT>,
    text: &str,
) -> anyhow::Result<()> {
    let area = plot.strip_coord_spec();
    let (w, h) = area.dim_in_pixel();
    let grey = BLACK.mix(0.6);
    let style = TextStyle::from((FONT, 22))
        .color(&grey)
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new(text, (w as i32 / 2, h as i32 / 2), style))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Axes

/// A linear axis with hand-picked ticks. plotters' own `WithKeyPoints` over `f64` cannot take
/// a label formatter, hence this stand-in, which lets every axis have its own. For log axes
/// `lo` and `hi` are log10 of the values.
#[derive(Clone)]
pub(super) struct Axis {
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) major: Vec<f64>,
    /// Faint gridlines without labels.
    pub(super) minor: Vec<f64>,
}

impl Axis {
    pub(super) fn new(lo: f64, hi: f64, major: Vec<f64>, minor: Vec<f64>) -> Self {
        Self {
            lo,
            hi,
            major,
            minor,
        }
    }

    /// About six 1-2-5 ticks from `ticks_from` up; `whole`: no fractional ticks (counts).
    pub(super) fn linear(lo: f64, hi: f64, ticks_from: f64, whole: bool) -> Self {
        Self::new(lo, hi, linear_ticks(ticks_from, hi, whole), vec![])
    }

    /// Over log10 of the values, with 1-2-5 ticks up to `dense_decades` decades (see
    /// [`log_ticks`]) and the faint 2..9 x 10^k gridlines that make it read as a log axis.
    pub(super) fn log(lo: f64, hi: f64, dense_decades: f64) -> Self {
        let major = log_ticks(lo, hi, dense_decades);
        Self::new(lo, hi, major, log_minor_ticks(lo, hi))
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.lo..self.hi).map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match hint.weight().allow_light_points() {
            true => self.minor.clone(),
            false => self.major.clone(),
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// Multiples of a 1-2-5 step, about six of them, from `lo` up.
pub(super) fn linear_ticks(lo: f64, hi: f64, whole: bool) -> Vec<f64> {
    let step = nice_step((hi - lo) / 6.0);
    let step = if whole { step.max(1.0) } else { step };
    let first = (lo / step).ceil();
    let ticks = (0..40).map(|k| (first + f64::from(k)) * step);
    ticks.take_while(|&t| t <= hi).collect()
}

/// The smallest 1, 2, 5 or 10 x 10^k at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let multiple = [1.0, 2.0, 5.0].into_iter().find(|&m| m * magnitude >= raw);
    multiple.unwrap_or(10.0) * magnitude
}

/// Positions (in log10) of 1, 2 and 5 x 10^k while the axis spans at most `dense_decades`
/// decades, of the bare powers of ten beyond (a short axis wants a lower limit).
pub(super) fn log_ticks(lo: f64, hi: f64, dense_decades: f64) -> Vec<f64> {
    let multiples: &[u32] = if hi - lo <= dense_decades {
        &[1, 2, 5]
    } else {
        &[1]
    };
    decade_multiples(lo, hi, multiples)
}

/// The faint 2..9 x 10^k gridlines that make a log axis readable as one; none over more than
/// six decades, where they would merge into a grey wash.
pub(super) fn log_minor_ticks(lo: f64, hi: f64) -> Vec<f64> {
    match hi - lo <= 6.0 {
        true => decade_multiples(lo, hi, &[2, 3, 4, 5, 6, 7, 8, 9]),
        false => vec![],
    }
}

/// Positions (in log10) of `m x 10^k` within `[lo, hi]`, ascending.
fn decade_multiples(lo: f64, hi: f64, multiples: &[u32]) -> Vec<f64> {
    let (first, last) = (lo.floor() as i32, hi.ceil() as i32);
    // Bounded so a degenerate range cannot ask for millions of decades.
    let decades = first..=last.min(first + 40);
    let all = decades.flat_map(|k| {
        multiples
            .iter()
            .map(move |&m| f64::from(k) + f64::from(m).log10())
    });
    all.filter(|&t| t >= lo && t <= hi).collect()
}

// ---------------------------------------------------------------------------------------------
// Numbers

/// Tick labels: 0.005, 2.5, 20, 1.5k, 400k, 2M; short enough never to collide.
pub(super) fn compact(v: f64) -> String {
    let (scaled, suffix) = match v.abs() {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e3 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    // Values below 1 keep one digit past their first significant one.
    let decimals = match scaled.abs() {
        a if a > 0.0 && a < 1.0 => ((-a.log10()).ceil() as usize + 1).min(12),
        _ => 2,
    };
    format!("{}{suffix}", trim_decimals(&format!("{scaled:.decimals$}")))
}

/// Values written on bars: 48,213 or 0.53; exact enough to quote, unlike tick labels.
pub(super) fn exact(v: f64) -> String {
    match v.abs() {
        a if !a.is_finite() => "n/a".to_string(),
        a if a >= 1e12 => compact(v),
        a if a >= 100.0 => grouped(v.round() as i64),
        _ => trim_decimals(&format!("{v:.2}")).to_string(),
    }
}

/// "1500.0" -> "1500", "2.50" -> "2.5", "-0.00" -> "0".
pub(super) fn trim_decimals(s: &str) -> &str {
    let trimmed = match s.contains('.') {
        true => s.trim_end_matches('0').trim_end_matches('.'),
        false => s,
    };
    if trimmed == "-0" {
        "0"
    } else {
        trimmed
    }
}

// ---------------------------------------------------------------------------------------------
// Text

/// Estimated rendered width. SVG gives no text metrics, so this assumes an average glyph of
/// 0.6 em; plotters writes font sizes divided by 1.24.
pub(super) fn text_px(text: &str, size: u32) -> u32 {
    (text.chars().count() as f64 * f64::from(size) / 1.24 * 0.6).ceil() as u32
}

/// How many characters of a `size` font fit in `px` (at least four), by [`text_px`]'s estimate.
pub(super) fn chars_fitting(px: u32, size: f64) -> usize {
    (f64::from(px) / (size / 1.24 * 0.6)).floor().max(4.0) as usize
}

/// Cuts a label that would overflow its column, marking the cut with an ellipsis.
pub(super) fn truncate(label: &str, max_chars: usize) -> String {
    if label.chars().count() <= max_chars {
        return label.to_string();
    }
    let kept: String = label.chars().take(max_chars.saturating_sub(1)).collect();
    format!("{kept}…")
}

/// The trimmed contents of every `<text>` element (plotters puts them on their own line):
/// what the charts' tests check their output by.
#[cfg(test)]
pub(super) fn texts(svg: &str) -> Vec<String> {
    let bodies = svg.split("<text").skip(1);
    let content = bodies.filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0));
    content.map(|c| c.trim().to_string()).collect()
}

/// Fails the test unless every `wanted` string is the whole content of some `<text>`.
#[cfg(test)]
pub(super) fn assert_texts(svg: &str, wanted: &[&str]) {
    let texts = texts(svg);
    for w in wanted {
        assert!(texts.iter().any(|t| t == w), "missing {w:?} in {texts:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_naturally() {
        let ticks = [
            0.0, 0.005, 2.5, 20.0, 400.0, 1_500.0, 400_000.0, 2e6, -200.0,
        ]
        .map(compact);
        let wanted = [
            "0", "0.005", "2.5", "20", "400", "1.5k", "400k", "2M", "-200",
        ];
        assert_eq!(ticks, wanted);
        let log_labels = [1.0, 500.0, 2000.0, 1e6].map(compact);
        assert_eq!(log_labels, ["1", "500", "2k", "1M"]);
        let values = [0.0, 3.0, 0.53, 48_213.4, -1_234.0, f64::NAN].map(exact);
        assert_eq!(values, ["0", "3", "0.53", "48,213", "-1,234", "n/a"]);
        assert_eq!(grouped(1_234_567u64), "1,234,567");
        assert_eq!(grouped(41u64), "41");
        assert_eq!(trim_decimals("1500.0"), "1500");
        assert_eq!(trim_decimals("-0.00"), "0");
    }

    #[test]
    fn linear_ticks_step_by_one_two_five() {
        assert_eq!(
            linear_ticks(0.0, 30.0, false),
            [0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
        );
        assert_eq!(linear_ticks(0.0, 1.0, true), [0.0, 1.0]);
        assert_eq!(linear_ticks(-3.0, 1.0, true), [-3.0, -2.0, -1.0, 0.0, 1.0]);
    }

    #[test]
    fn log_ticks_thin_out_over_many_decades() {
        let labels = |ticks: Vec<f64>| ticks.iter().map(|t| compact(10f64.powf(*t))).collect();
        let few: Vec<String> = labels(log_ticks(2.0, 4.5, 3.0));
        assert_eq!(few, ["100", "200", "500", "1k", "2k", "5k", "10k", "20k"]);
        let many: Vec<String> = labels(log_ticks(2.0, 5.5, 3.0));
        assert_eq!(many, ["100", "1k", "10k", "100k"]);
        assert_eq!(log_ticks(2.0, 5.5, 4.0).len(), 11);
        assert_eq!(log_minor_ticks(0.0, 1.0).len(), 8);
        assert!(log_minor_ticks(0.0, 7.0).is_empty());
    }

    #[test]
    fn long_labels_are_cut_to_fit() {
        assert_eq!(text_px("abcd", 15), 30);
        assert_eq!(chars_fitting(30, 15.0), 4);
        assert_eq!(truncate("strategy.kind=lua", 9), "strategy…");
        assert_eq!(truncate("lua", 9), "lua");
    }
}
