//! Renders `index.html`: one self-contained page for a run.
//!
//! This module owns only the markup: it takes the page's texts and the charts' SVG documents
//! and returns the bytes of one HTML5 document. Everything is inline (the CSS in a `<style>`
//! block, the charts as inline SVG) and there is no JavaScript, so the page reads the same
//! from a report folder, an archive or a mail attachment, with no network. The verdict comes
//! first, because it is the one thing every reader looks for. Every text value is escaped
//! here; the SVGs are embedded as they are (minus their XML declaration), since they come
//! from this crate's own chart renderers.

use crate::verdict::Verdict;

/// Everything shown on the page, in the order it is shown (verdict first, charts last).
pub struct Page<'a> {
    /// e.g. "flash-sale (article)"
    pub title: &'a str,
    /// Shown first, large, green for PASS, red for FAIL, amber otherwise.
    pub verdict: Verdict,
    /// One sentence under the verdict, e.g. "Sold 1000 of 1000 units; no oversell; stock conserved." or "Oversold 2 units: final stock -2."
    pub headline: &'a str,
    /// Facts about the run shown as a two-column table (name, value), in order: e.g. ("redis", "embedded redis-server on 127.0.0.1:1234"), ("command", "seckill-bench run ...").
    pub facts: Vec<(String, String)>,
    /// The summary table: column names and one or more rows (usually one row); render as a table that scrolls horizontally if wide.
    pub summary: (Vec<String>, Vec<Vec<String>>),
    /// Per summary row, a relative link its first cell opens (a sweep
    /// point's own page); empty for none.
    pub links: Vec<Option<String>>,
    /// The audit table: rows of (invariant, expected, observed, pass) where pass is "true"/"false"; failing rows highlighted red.
    pub audit: Vec<[String; 4]>,
    /// Extra free-text notes shown as a list (e.g. "target rate not reached: 9,500 of 10,000 purchases/s"); may be empty.
    pub notes: Vec<String>,
    /// Lock-parameter advice: rows of (setting, value, measured, advice); may be empty.
    pub advice: Vec<[String; 4]>,
    /// Charts, in order: (heading, complete SVG document bytes as produced by plotters). Embed inline (strip any leading <?xml ...?> declaration); they must scale to the page width.
    pub charts: Vec<(String, Vec<u8>)>,
}

/// Sober on purpose: system fonts, one accent colour per verdict, red only for failures.
const STYLE: &str = r#"
* { box-sizing: border-box; }
body { margin: 0; background: #f5f6f8; color: #1f2328;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 20px 48px; }
.verdict { display: flex; align-items: center; gap: 22px; padding: 18px 22px;
  border: 1px solid; border-left-width: 10px; border-radius: 8px; }
.verdict-word { font-size: 46px; font-weight: 800; letter-spacing: .03em; line-height: 1; }
.verdict.pass { border-color: #2e7d32; background: #edf7ee; }
.verdict.pass .verdict-word { color: #2e7d32; }
.verdict.fail { border-color: #c62828; background: #fdecea; }
.verdict.fail .verdict-word { color: #c62828; }
.verdict.other { border-color: #b26a00; background: #fff4e0; }
.verdict.other .verdict-word { color: #b26a00; }
h1 { font-size: 19px; font-weight: 600; margin: 0 0 2px; }
.headline { font-size: 17px; margin: 0; }
h2 { font-size: 17px; margin: 30px 0 8px; }
h3 { font-size: 15px; margin: 0 0 6px; }
.notes { margin: 18px 0 0; padding: 10px 14px 10px 32px; background: #fff;
  border: 1px solid #d9dde3; border-left: 4px solid #b26a00; border-radius: 6px; }
.scroll { overflow-x: auto; background: #fff; border: 1px solid #d9dde3; border-radius: 6px; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 6px 12px; text-align: left; vertical-align: top; border-bottom: 1px solid #e6e8eb; }
tr:last-child > th, tr:last-child > td { border-bottom: none; }
thead th { background: #eef0f3; font-weight: 600; white-space: nowrap; }
.facts th { width: 1%; white-space: nowrap; font-weight: 600; color: #4a525a; }
.facts td { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 13px; overflow-wrap: anywhere; }
.summary th, .summary td { white-space: nowrap; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.audit tr.pass td:last-child { color: #2e7d32; font-weight: 600; }
.audit tr.fail td { background: #fdecea; color: #b71c1c; font-weight: 600; }
figure { margin: 0 0 16px; padding: 12px; background: #fff; border: 1px solid #d9dde3; border-radius: 6px; }
figure svg { display: block; width: 100%; height: auto; }
"#;

/// Renders the page as a complete HTML5 document.
pub fn render(page: &Page<'_>) -> Vec<u8> {
    let sections = [
        verdict(page),
        notes(&page.notes),
        facts(&page.facts),
        summary(&page.summary.0, &page.summary.1, &page.links),
        audit(&page.audit),
        advice(&page.advice),
        charts(&page.charts),
    ];
    let title = format!("{} · {}", page.verdict, escape(page.title));
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{}</main>\n\
         </body>\n</html>\n",
        sections.concat()
    );
    html.into_bytes()
}

fn verdict(page: &Page<'_>) -> String {
    let class = page.verdict.css_class();
    format!(
        "<header class=\"verdict {class}\">\n<div class=\"verdict-word\">{}</div>\n\
         <div>\n<h1>{}</h1>\n<p class=\"headline\">{}</p>\n</div>\n</header>\n",
        page.verdict,
        escape(page.title),
        escape(page.headline)
    )
}

fn notes(notes: &[String]) -> String {
    if notes.is_empty() {
        return String::new();
    }
    let items: String = notes
        .iter()
        .map(|n| format!("<li>{}</li>\n", escape(n)))
        .collect();
    format!("<ul class=\"notes\">\n{items}</ul>\n")
}

fn facts(facts: &[(String, String)]) -> String {
    if facts.is_empty() {
        return String::new();
    }
    let rows: String = facts
        .iter()
        .map(|(name, value)| {
            let (name, value) = (escape(name), escape(value));
            format!("<tr><th scope=\"row\">{name}</th><td>{value}</td></tr>\n")
        })
        .collect();
    section("Run", "facts", &format!("<tbody>\n{rows}</tbody>\n"))
}

fn summary(columns: &[String], rows: &[Vec<String>], links: &[Option<String>]) -> String {
    if columns.is_empty() && rows.is_empty() {
        return String::new();
    }
    let numeric: Vec<bool> = (0..columns.len())
        .map(|i| numeric_column(rows, i))
        .collect();
    let head: String = columns
        .iter()
        .zip(&numeric)
        .map(|(c, &num)| format!("<th scope=\"col\"{}>{}</th>", num_class(num), escape(c)))
        .collect();
    let body: String = rows
        .iter()
        .enumerate()
        .map(|(i, row)| match links.get(i).cloned().flatten() {
            Some(href) => {
                let (first, rest) = row
                    .split_first()
                    .map_or((String::new(), &[][..]), |(f, r)| (f.clone(), r));
                format!(
                    "<tr><td><a href=\"{}\">{}</a></td>{}</tr>\n",
                    escape(&href),
                    escape(&first),
                    cells(rest, numeric.get(1..).unwrap_or(&[]))
                )
            }
            None => format!("<tr>{}</tr>\n", cells(row, &numeric)),
        })
        .collect();
    let table = format!("<thead>\n<tr>{head}</tr>\n</thead>\n<tbody>\n{body}</tbody>\n");
    section("Summary", "summary", &table)
}

fn audit(rows: &[[String; 4]]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let head = ["invariant", "expected", "observed", "pass"]
        .map(|c| format!("<th scope=\"col\">{c}</th>"))
        .concat();
    let body: String = rows.iter().map(audit_row).collect();
    let table = format!("<thead>\n<tr>{head}</tr>\n</thead>\n<tbody>\n{body}</tbody>\n");
    section("Audit", "audit", &table)
}

fn advice(rows: &[[String; 4]]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let head = ["setting", "value (ms)", "measured", "what it implies"]
        .map(|c| format!("<th scope=\"col\">{c}</th>"))
        .concat();
    let body: String = rows
        .iter()
        .map(|row| format!("<tr>{}</tr>\n", cells(row, &[false, true])))
        .collect();
    let table = format!("<thead>\n<tr>{head}</tr>\n</thead>\n<tbody>\n{body}</tbody>\n");
    section("Lock parameters", "advice", &table)
}

/// Only an explicit "false" is a failure: a value the audit could not decide is not
/// painted red, and not green either.
fn audit_row(row: &[String; 4]) -> String {
    let class = match row[3].trim() {
        "true" => " class=\"pass\"",
        "false" => " class=\"fail\"",
        _ => "",
    };
    format!("<tr{class}>{}</tr>\n", cells(row, &[]))
}

/// `numeric[i]`: column `i` is right-aligned, heading included.
fn cells(values: &[String], numeric: &[bool]) -> String {
    let cell = |(i, v): (usize, &String)| {
        let class = num_class(numeric.get(i).copied().unwrap_or(false));
        format!("<td{class}>{}</td>", escape(v))
    };
    values.iter().enumerate().map(cell).collect()
}

/// Right-aligned only when every value is a number, so the digits line up down the column
/// and a column never mixes alignments.
fn numeric_column(rows: &[Vec<String>], i: usize) -> bool {
    let mut values = rows.iter().map(|row| row.get(i).map_or("", String::as_str));
    !rows.is_empty() && values.all(looks_numeric)
}

fn num_class(numeric: bool) -> &'static str {
    match numeric {
        true => " class=\"num\"",
        false => "",
    }
}

/// "48,213", "-2", "0.53", "99.9%": digits with the usual separators, sign and unit.
fn looks_numeric(value: &str) -> bool {
    let bare: String = value
        .trim()
        .trim_end_matches('%')
        .chars()
        .filter(|&c| c != ',')
        .collect();
    !bare.is_empty() && bare.parse::<f64>().is_ok_and(f64::is_finite)
}

/// A heading and a table; the wrapper scrolls sideways, so a wide table never widens the page.
fn section(heading: &str, class: &str, table: &str) -> String {
    format!(
        "<section>\n<h2>{heading}</h2>\n<div class=\"scroll\">\n\
         <table class=\"{class}\">\n{table}</table>\n</div>\n</section>\n"
    )
}

fn charts(charts: &[(String, Vec<u8>)]) -> String {
    if charts.is_empty() {
        return String::new();
    }
    let figures: String = charts
        .iter()
        .map(|(heading, svg)| {
            let svg = String::from_utf8_lossy(svg);
            let (heading, svg) = (escape(heading), inline_svg(&svg));
            format!("<figure>\n<h3>{heading}</h3>\n{svg}\n</figure>\n")
        })
        .collect();
    format!("<section>\n<h2>Charts</h2>\n{figures}</section>\n")
}

/// The SVG document without its prologue (a BOM, an `<?xml ...?>` declaration, a doctype),
/// none of which may appear inside an HTML body.
fn inline_svg(svg: &str) -> &str {
    let mut rest = svg.trim_start_matches('\u{feff}').trim_start();
    for (open, close) in [("<?xml", "?>"), ("<!DOCTYPE", ">")] {
        let opens = rest
            .get(..open.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(open));
        if opens {
            rest = rest
                .split_once(close)
                .map_or("", |(_, after)| after)
                .trim_start();
        }
    }
    rest.trim_end()
}

/// Escapes text for both element content and quoted attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }

    fn audit_row(values: [&str; 4]) -> [String; 4] {
        values.map(str::to_string)
    }

    fn page() -> Page<'static> {
        Page {
            title: "flash-sale (article)",
            verdict: Verdict::Fail,
            headline: "Oversold 2 units: final stock -2.",
            facts: vec![(
                "redis".into(),
                "embedded redis-server on 127.0.0.1:1234".into(),
            )],
            summary: (
                strings(&["strategy", "sold", "purchases/s"]),
                vec![strings(&["article", "1,002", "2,013.5"])],
            ),
            links: vec![Some("001-a/index.html".to_owned())],
            audit: vec![
                audit_row(["stock never negative", ">= 0", "-2", "false"]),
                audit_row(["stock conserved", "1000", "1000", "true"]),
            ],
            notes: strings(&["target rate not reached: 9,500 of 10,000 purchases/s"]),
            advice: vec![strings(&[
                "lock_ttl_ms",
                "50",
                "critical_section max 81 ms",
                "TTL <50 ms> is below",
            ])
            .try_into()
            .unwrap()],
            charts: vec![(
                "timeline".into(),
                b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg viewBox=\"0 0 9 9\"></svg>\n"
                    .to_vec(),
            )],
        }
    }

    fn html(page: &Page<'_>) -> String {
        String::from_utf8(render(page)).unwrap()
    }

    fn position(html: &str, needle: &str) -> usize {
        html.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing"))
    }

    #[test]
    fn page_reads_verdict_first_then_the_rest_in_order() {
        let html = html(&page());
        assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<meta charset=\"utf-8\">"));
        let order = [
            "<div class=\"verdict-word\">FAIL</div>",
            "Oversold 2 units: final stock -2.",
            "<ul class=\"notes\">",
            "<table class=\"facts\">",
            "<table class=\"summary\">",
            "<table class=\"audit\">",
            "<table class=\"advice\">",
            "TTL &lt;50 ms&gt; is below",
            "<h3>timeline</h3>",
        ];
        let positions: Vec<_> = order.iter().map(|n| position(&html, n)).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        assert!(html.contains("<header class=\"verdict fail\">"));
    }

    #[test]
    fn a_summary_row_with_a_link_opens_it_from_its_first_cell() {
        let out = html(&page());
        assert!(
            out.contains("<td><a href=\"001-a/index.html\">article</a></td>"),
            "{out}"
        );
    }

    #[test]
    fn numeric_summary_columns_are_right_aligned() {
        let out = html(&page());
        assert!(out.contains("<th scope=\"col\" class=\"num\">sold</th>"));
        assert!(out.contains("<td class=\"num\">1,002</td>"));
        assert!(out.contains("<th scope=\"col\">strategy</th>"));
        // A row wider than the header still renders all its cells.
        let ragged = Page {
            summary: (strings(&["a"]), vec![strings(&["1", "x"])]),
            links: Vec::new(),
            ..page()
        };
        assert!(html(&ragged).contains("<td class=\"num\">1</td><td>x</td>"));
    }

    #[test]
    fn verdicts_get_their_colour_class() {
        for (verdict, class) in [
            (Verdict::Pass, "pass"),
            (Verdict::Fail, "fail"),
            (Verdict::Interrupted, "other"),
        ] {
            let html = html(&Page { verdict, ..page() });
            assert!(
                html.contains(&format!("<header class=\"verdict {class}\">")),
                "{verdict}"
            );
        }
    }

    #[test]
    fn failing_audit_rows_are_marked() {
        let html = html(&page());
        let fail = position(&html, "<tr class=\"fail\"><td>stock never negative</td>");
        let pass = position(&html, "<tr class=\"pass\"><td>stock conserved</td>");
        assert!(fail < pass);
        assert_eq!(html.matches("<tr class=\"fail\">").count(), 1);
    }

    #[test]
    fn hostile_text_is_escaped_everywhere() {
        let hostile = "<script>alert('x' & \"y\")</script>";
        assert_eq!(
            escape(hostile),
            "&lt;script&gt;alert(&#39;x&#39; &amp; &quot;y&quot;)&lt;/script&gt;"
        );
        let page = Page {
            title: "<script>alert(1)</script>",
            verdict: Verdict::Fail,
            headline: hostile,
            facts: vec![(hostile.into(), hostile.into())],
            summary: (strings(&[hostile]), vec![strings(&[hostile])]),
            links: vec![Some(hostile.into())],
            audit: vec![audit_row([hostile; 4])],
            notes: strings(&[hostile]),
            advice: vec![[hostile; 4].map(str::to_owned)],
            charts: vec![(hostile.into(), b"<svg></svg>".to_vec())],
        };
        let html = html(&page);
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn svg_is_inlined_without_its_prologue() {
        let html = html(&page());
        assert!(!html.contains("<?xml"));
        assert!(html.contains("<h3>timeline</h3>\n<svg viewBox=\"0 0 9 9\"></svg>\n</figure>"));
        let doctype = "\u{feff}<?xml version=\"1.0\"?>\n<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\">\n<svg/>";
        assert_eq!(inline_svg(doctype), "<svg/>");
        assert_eq!(inline_svg("<svg/>"), "<svg/>");
        assert_eq!(inline_svg("<?xml broken"), "");
    }

    #[test]
    fn empty_parts_render_without_their_sections() {
        let page = Page {
            facts: vec![],
            summary: (vec![], vec![]),
            audit: vec![],
            notes: vec![],
            advice: vec![],
            charts: vec![],
            ..page()
        };
        let html = html(&page);
        assert!(html.contains("FAIL") && html.ends_with("</html>\n"));
        for gone in ["<ul", "<table", "<figure", "Charts"] {
            assert!(!html.contains(gone), "{gone}");
        }
    }

    #[test]
    fn numbers_are_recognised_for_alignment() {
        for number in ["48,213", "-2", "0.53", "99.9%", " 7 "] {
            assert!(looks_numeric(number), "{number}");
        }
        for text in ["", "article", "1 ms", "NaN", "inf", ","] {
            assert!(!looks_numeric(text), "{text}");
        }
    }
}
