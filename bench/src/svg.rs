//! `throughput.svg`: calls per second per contender, one panel per concurrency, written by
//! hand (no plotting crate). Horizontal bars (long names stay readable), each labelled with its
//! median and its ratio to ours; a thin whisker spans the rounds' minimum to maximum. Each
//! panel has its own linear scale starting at zero, so bar lengths compare honestly within a
//! panel; the panels are not meant to be compared by length.

use std::fmt::Write as _;

use crate::throughput::{CONCURRENCIES, Row, Settings};

const WIDTH: f64 = 1040.0;
const LABEL_W: f64 = 230.0;
const BAR_X: f64 = LABEL_W + 10.0;
const BAR_MAX_W: f64 = 500.0;
const BAR_H: f64 = 22.0;
const ROW_H: f64 = 32.0;
const PANEL_HEAD: f64 = 58.0;

/// The chart of `rows`.
pub fn chart(rows: &[Row], settings: &Settings, quick: bool) -> String {
    let panels: Vec<(usize, Vec<&Row>)> = CONCURRENCIES
        .iter()
        .map(|c| (*c, rows.iter().filter(|r| r.concurrency == *c).collect()))
        .filter(|(_, rows): &(usize, Vec<&Row>)| !rows.is_empty())
        .collect();
    let top = 70.0;
    let height = top
        + panels
            .iter()
            .map(|(_, r)| PANEL_HEAD + r.len() as f64 * ROW_H + 24.0)
            .sum::<f64>()
        + 30.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="13">"##
    );
    let _ = writeln!(
        s,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>
<text x="20" y="30" font-size="18" font-weight="600" fill="#111">tools/call throughput: calls per second (higher is better)</text>
<text x="20" y="52" fill="#555">add_note + list_notes alternating, keep-alive, loopback; median of {} round(s) × {:?}{}; whisker: min–max over rounds; ratio = ours ÷ this</text>"##,
        settings.rounds,
        settings.duration,
        if quick { " (quick run)" } else { "" }
    );
    let mut y = top;
    for (concurrency, rows) in &panels {
        panel(&mut s, y, *concurrency, rows);
        y += PANEL_HEAD + rows.len() as f64 * ROW_H + 24.0;
    }
    let _ = writeln!(s, "</svg>");
    s
}

fn panel(s: &mut String, y0: f64, concurrency: usize, rows: &[&Row]) {
    let max = rows
        .iter()
        .flat_map(|r| {
            r.calls_per_sec_runs
                .iter()
                .copied()
                .chain([r.calls_per_sec_median])
        })
        .fold(0.0_f64, f64::max);
    let (step, top) = nice_scale(max);
    let x = |v: f64| BAR_X + BAR_MAX_W * (v / top);
    let _ = writeln!(
        s,
        r##"<text x="20" y="{}" font-size="15" font-weight="600" fill="#111">concurrency {concurrency}</text>"##,
        y0 + 20.0
    );
    let grid_top = y0 + PANEL_HEAD - 14.0;
    let grid_bottom = y0 + PANEL_HEAD + rows.len() as f64 * ROW_H;
    let mut tick = 0.0;
    while tick <= top + step / 2.0 {
        let tx = x(tick);
        let _ = writeln!(
            s,
            r##"<line x1="{tx:.1}" y1="{grid_top:.1}" x2="{tx:.1}" y2="{grid_bottom:.1}" stroke="#e3e3e3"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#777" font-size="11">{}</text>"##,
            grid_top - 4.0,
            thousands(tick)
        );
        tick += step;
    }
    for (i, r) in rows.iter().enumerate() {
        let cy = y0 + PANEL_HEAD + i as f64 * ROW_H;
        let (fill, weight) = if r.ours {
            ("#d9480f", "600")
        } else if r.key == "bare-axum" {
            ("#adb5bd", "400")
        } else {
            ("#4263eb", "400")
        };
        let w = (x(r.calls_per_sec_median) - BAR_X).max(1.0);
        let _ = writeln!(
            s,
            r##"<text x="{LABEL_W}" y="{:.1}" text-anchor="end" fill="#222" font-weight="{weight}">{}</text>"##,
            cy + BAR_H * 0.7,
            xml(&r.contender)
        );
        let _ = writeln!(
            s,
            r##"<rect x="{BAR_X}" y="{cy:.1}" width="{w:.1}" height="{BAR_H}" fill="{fill}" rx="2"/>"##
        );
        if r.calls_per_sec_runs.len() > 1 {
            let lo = r
                .calls_per_sec_runs
                .iter()
                .copied()
                .fold(f64::MAX, f64::min);
            let hi = r.calls_per_sec_runs.iter().copied().fold(0.0, f64::max);
            let my = cy + BAR_H / 2.0;
            let _ = writeln!(
                s,
                r##"<line x1="{:.1}" y1="{my:.1}" x2="{:.1}" y2="{my:.1}" stroke="#111" stroke-width="1.2"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#111"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#111"/>"##,
                x(lo),
                x(hi),
                x(lo),
                my - 5.0,
                x(lo),
                my + 5.0,
                x(hi),
                my - 5.0,
                x(hi),
                my + 5.0
            );
        }
        let label_x = x(r
            .calls_per_sec_median
            .max(r.calls_per_sec_runs.iter().copied().fold(0.0, f64::max)))
            + 8.0;
        let ratio = if r.ours {
            "ours".to_owned()
        } else {
            format!("ours ×{}", ratio(r.ours_over_this_calls))
        };
        let _ = writeln!(
            s,
            r##"<text x="{label_x:.1}" y="{:.1}" fill="#222">{} /s <tspan fill="#777">({ratio}; p50 {} µs)</tspan></text>"##,
            cy + BAR_H * 0.7,
            thousands(r.calls_per_sec_median),
            thousands(r.p50_us)
        );
    }
}

/// A tick step (1, 2 or 5 × 10ⁿ) giving about five ticks, and the axis end (a multiple of it).
fn nice_scale(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 1.0);
    }
    let rough = max / 5.0;
    let mag = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * mag);
    (step, (max / step).ceil() * step)
}

/// `12345.6` → `12,346`.
fn thousands(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let n = v.round() as i64;
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A ratio with sensible precision: `0.93`, `1.04`, `12.3`, `48`.
pub fn ratio(r: f64) -> String {
    if !r.is_finite() {
        "n/a".into()
    } else if r >= 20.0 {
        format!("{r:.0}")
    } else if r >= 10.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.2}")
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_numbers() {
        assert_eq!(nice_scale(23_000.0), (5_000.0, 25_000.0));
        assert_eq!(nice_scale(870.0), (200.0, 1_000.0));
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(ratio(0.934), "0.93");
        assert_eq!(ratio(48.4), "48");
    }
}
