//! Summaries of samples, number formatting and Markdown tables.

use std::time::Duration;

/// Summary of a set of samples.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Smallest.
    pub min: f64,
    /// Median (50th percentile).
    pub median: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile (nearest rank).
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// The `q`-quantile (0..=1) of sorted samples, by nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summarises `samples` (any order).
pub fn summarize(samples: &[f64]) -> Summary {
    let mut s: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return Summary::default();
    }
    Summary {
        n: s.len(),
        min: s[0],
        median: quantile(&s, 0.5),
        p90: quantile(&s, 0.9),
        p99: quantile(&s, 0.99),
        max: s[s.len() - 1],
        mean: s.iter().sum::<f64>() / s.len() as f64,
    }
}

/// Milliseconds of a duration.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A count with thousands separators: `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate or size with three significant digits and separators: `512,000`, `48.2`, `0.731`.
pub fn sig3(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let a = x.abs();
    if a >= 1000.0 {
        let rounded = {
            let digits = a.log10().floor() as i32 + 1;
            let scale = 10f64.powi(digits - 3);
            (a / scale).round() * scale
        };
        let s = thousands(rounded as u64);
        if x < 0.0 {
            format!("-{s}")
        } else {
            s
        }
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else if a == 0.0 {
        "0".into()
    } else {
        format!("{x:.3}")
    }
}

/// Milliseconds, readable: `0.41 ms`, `12.3 ms`, `1.52 s`.
pub fn fmt_ms(x: f64) -> String {
    if x >= 1000.0 {
        format!("{} s", sig3(x / 1000.0))
    } else {
        format!("{} ms", sig3(x))
    }
}

/// Bytes, readable: `0 B`, `2.95 KB`, `18.4 MB` (decimal units).
pub fn fmt_bytes(b: f64) -> String {
    if b >= 1e9 {
        format!("{} GB", sig3(b / 1e9))
    } else if b >= 1e6 {
        format!("{} MB", sig3(b / 1e6))
    } else if b >= 1e3 {
        format!("{} KB", sig3(b / 1e3))
    } else {
        format!("{b:.0} B")
    }
}

/// A ratio: `12.3x`.
pub fn fmt_ratio(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        "-".into()
    } else {
        format!("{}x", sig3(x))
    }
}

/// A Markdown table built row by row.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|s| (*s).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are left empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The Markdown text.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        out.push_str(&line(&self.header));
        out.push_str(&line(
            &self
                .header
                .iter()
                .map(|_| "---".to_owned())
                .collect::<Vec<_>>(),
        ));
        for r in &self.rows {
            let mut r = r.clone();
            r.resize(self.header.len(), String::new());
            out.push_str(&line(&r));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_and_formats() {
        let s = summarize(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.min, s.median, s.max, s.n), (1.0, 3.0, 5.0, 5));
        let many: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(summarize(&many).p99, 99.0);
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(sig3(512_345.0), "512,000");
        assert_eq!(sig3(48.23), "48.2");
        assert_eq!(fmt_bytes(18_400_000.0), "18.4 MB");
        assert_eq!(fmt_ms(1520.0), "1.52 s");
        let mut t = Table::new(&["a", "b"]);
        t.row(vec!["1".into()]);
        assert_eq!(t.markdown(), "| a | b |\n| --- | --- |\n| 1 |  |\n");
    }
}
