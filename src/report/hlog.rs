//! `latency.hlog`: HdrHistogram's interval log format, one tagged histogram
//! per phase per report interval, readable by HdrHistogram's own tools
//! (HistogramLogProcessor, the `hdrh` Python package). Values are in
//! microseconds; the `Interval_Max` column is in milliseconds (divisor 1000,
//! declared in the header as the Rust implementation does).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;

use crate::metrics::CompressedHistogram;
use crate::record::RunRecord;

/// `Interval_Max` is written in milliseconds of our microsecond values.
const MAX_VALUE_DIVISOR: f64 = 1000.0;

/// The header: start and base time (timestamps are relative to it), the
/// divisor, and the column legend.
pub fn header(started: SystemTime) -> String {
    let epoch = started
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    format!(
        "#[Histograms of purchase phases in microseconds, written by seckill-bench]\n\
         #[StartTime: {epoch:.3} (seconds since epoch)]\n\
         #[BaseTime: {epoch:.3} (seconds since epoch)]\n\
         #[MaxValueDivisor: {MAX_VALUE_DIVISOR:.3}]\n\
         \"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n"
    )
}

/// The whole `latency.hlog`: header, then every interval's histogram of
/// every phase.
pub fn render(record: &RunRecord) -> Vec<u8> {
    let mut log = header(record.started_at);
    for row in &record.timeline.rows {
        for (phase, h) in &row.histograms {
            log += &interval_line(phase.name(), row.start, row.length, h);
        }
    }
    log.into_bytes()
}

/// One interval's histogram of one phase, as a log line.
pub fn interval_line(
    tag: &str,
    start: Duration,
    length: Duration,
    h: &CompressedHistogram,
) -> String {
    format!(
        "Tag={tag},{:.3},{:.3},{:.3},{}\n",
        start.as_secs_f64(),
        length.as_secs_f64(),
        h.max as f64 / MAX_VALUE_DIVISOR,
        base64::engine::general_purpose::STANDARD.encode(&h.v2_deflate)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::Histogram;

    #[test]
    fn lines_parse_back_with_the_hdrhistogram_reader() {
        let mut h = crate::metrics::new_histogram();
        for v in [100, 200, 300, 40_000] {
            h.record(v).unwrap();
        }
        let compressed = CompressedHistogram::new(&h).unwrap();
        let mut log = header(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        log += &interval_line(
            "purchase",
            Duration::ZERO,
            Duration::from_secs(1),
            &compressed,
        );
        log += &interval_line(
            "service",
            Duration::from_secs(1),
            Duration::from_secs(1),
            &compressed,
        );
        let entries: Vec<_> = IntervalLogIterator::new(log.as_bytes())
            .filter_map(|e| match e.unwrap() {
                LogEntry::Interval(i) => Some(i),
                _ => None,
            })
            .collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].tag().map(|t| t.as_str()), Some("service"));
        assert!((entries[0].max() - 40.0).abs() < 0.1, "max in ms");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(entries[0].encoded_histogram())
            .unwrap();
        let back: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
            .deserialize(&mut decoded.as_slice())
            .unwrap();
        assert_eq!(back.len(), 4);
        assert_eq!(back.max(), h.max());
    }
}
