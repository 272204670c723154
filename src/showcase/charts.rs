//! The report's charts, drawn by plotters' SVG backend with no font loaded: titles,
//! axis names and legends are the HTML around each SVG (see `report.rs`).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{BreakerRun, DeadlineRun, DrainRun, RateLimitRun, ShapeRun};

const OK: RGBColor = RGBColor(46, 160, 67);
const REFUSED: RGBColor = RGBColor(207, 34, 46);
const FAILED: RGBColor = RGBColor(191, 135, 0);
const QUOTA: RGBColor = RGBColor(9, 105, 218);
const SHADE: RGBColor = RGBColor(220, 220, 220);

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Drawn = Result<(), Box<dyn std::error::Error>>;

/// Draws `draw` on a `w` x `h` SVG and returns its text.
fn svg(w: u32, h: u32, draw: impl FnOnce(&Area<'_>) -> Drawn) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (w, h)).into_drawing_area();
        root.fill(&WHITE).expect("fill");
        draw(&root).expect("a chart drawn in memory");
        root.present().expect("present");
    }
    out
}

/// `(ok, refused)` bins as two lines, with an optional quota line, on `area`.
fn bins_chart(
    area: &Area<'_>,
    bin_ms: u64,
    bins: &[(u32, u32)],
    x_ms: u64,
    quota: Option<f64>,
) -> Drawn {
    let top = bins.iter().map(|b| b.0.max(b.1)).max().unwrap_or(1).max(1) as f64;
    let top = quota.map_or(top, |q| top.max(q)) * 1.15;
    let mut chart = ChartBuilder::on(area)
        .margin(8)
        .x_label_area_size(22)
        .y_label_area_size(34)
        .build_cartesian_2d(0u64..x_ms, 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .y_label_formatter(&|v| format!("{v}"))
        .draw()?;
    // The quota first (dashed), so a client held exactly to it shows over it.
    if let Some(q) = quota {
        let dashes = (0..x_ms).step_by(40).map(|x| (x, (x + 25).min(x_ms)));
        chart.draw_series(
            dashes.map(|(a, b)| PathElement::new([(a, q), (b, q)], QUOTA.stroke_width(2))),
        )?;
    }
    let at = |i: usize| i as u64 * bin_ms + bin_ms / 2;
    chart.draw_series(LineSeries::new(
        bins.iter()
            .enumerate()
            .map(|(i, b)| (at(i), f64::from(b.0))),
        OK.stroke_width(2),
    ))?;
    chart.draw_series(LineSeries::new(
        bins.iter()
            .enumerate()
            .map(|(i, b)| (at(i), f64::from(b.1))),
        REFUSED.stroke_width(2),
    ))?;
    Ok(())
}

/// Admitted and refused per bin per key, against the quota per bin.
pub(super) fn rate_limit(run: &RateLimitRun) -> String {
    let quota = f64::from(run.rate) * run.bin_ms as f64 / 1000.0;
    let x_ms = run.keys.iter().map(|k| k.bins.len()).max().unwrap_or(1) as u64 * run.bin_ms;
    svg(900, 440, |root| {
        for (area, key) in root.split_evenly((2, 2)).iter().zip(&run.keys) {
            bins_chart(area, run.bin_ms, &key.bins, x_ms, Some(quota))?;
        }
        Ok(())
    })
}

/// The unshaped and the shaped client's 200s and 429s, as the API answered them.
pub(super) fn shape(run: &ShapeRun) -> String {
    let x_ms = run.unshaped.bins.len().max(run.shaped.bins.len()) as u64 * run.bin_ms;
    svg(900, 260, |root| {
        let (left, right) = root.split_horizontally(450);
        bins_chart(&left, run.bin_ms, &run.unshaped.bins, x_ms, None)?;
        bins_chart(&right, run.bin_ms, &run.shaped.bins, x_ms, None)
    })
}

fn state_colour(state: &str) -> RGBColor {
    match state {
        "closed" => OK,
        "open" => REFUSED,
        _ => FAILED,
    }
}

/// The breaker's state as a band over the calls' outcomes, the outage shaded.
pub(super) fn breaker(run: &BreakerRun) -> String {
    let top = run
        .bins
        .iter()
        .map(|b| b.0.max(b.1).max(b.2))
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.3;
    svg(900, 300, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .x_label_area_size(22)
            .y_label_area_size(34)
            .build_cartesian_2d(0u64..run.end_ms, 0f64..top)?;
        let (down, up) = run.outage_ms;
        chart.draw_series([Rectangle::new([(down, 0.0), (up, top)], SHADE.filled())])?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_label_formatter(&|v| format!("{v}"))
            .draw()?;
        // The state band: from each transition to the next, coloured by the state entered.
        let band = top * 0.9;
        let mut spans = vec![(0, "closed".to_owned())];
        spans.extend(run.transitions.iter().map(|(at, _, to)| (*at, to.clone())));
        for (i, (from, state)) in spans.iter().enumerate() {
            let to = spans.get(i + 1).map_or(run.end_ms, |s| s.0);
            chart.draw_series([Rectangle::new(
                [(*from, band), (to, top)],
                state_colour(state).filled(),
            )])?;
        }
        let at = |i: usize| i as u64 * run.bin_ms + run.bin_ms / 2;
        for (pick, colour) in [(0, OK), (1, FAILED), (2, REFUSED)] {
            chart.draw_series(LineSeries::new(
                run.bins.iter().enumerate().map(|(i, b)| {
                    let v = [b.0, b.1, b.2][pick];
                    (at(i), f64::from(v))
                }),
                colour.stroke_width(2),
            ))?;
        }
        Ok(())
    })
}

/// Each request's budget at each hop: sent to A, A has, A calls B with, B received.
pub(super) fn deadline(run: &DeadlineRun) -> String {
    let top = run.rows.iter().map(|r| r.sent_to_a).max().unwrap_or(1) as f64 * 1.1;
    let palette = [QUOTA, OK, FAILED, REFUSED];
    svg(900, 300, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .x_label_area_size(22)
            .y_label_area_size(34)
            .build_cartesian_2d(-0.2f64..3.2, 0f64..top)?;
        chart
            .configure_mesh()
            .x_labels(4)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v}"))
            .draw()?;
        for (row, colour) in run.rows.iter().zip(palette.iter().cycle()) {
            let hops = [
                Some(row.sent_to_a),
                row.a_has,
                row.a_calls_b,
                row.b_received,
            ];
            let points: Vec<(f64, f64)> = hops
                .iter()
                .enumerate()
                .map_while(|(i, v)| v.map(|v| (i as f64, v as f64)))
                .collect();
            chart.draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?;
            chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, colour.filled())))?;
        }
        Ok(())
    })
}

/// Each deploy's timeline from SIGTERM: tollgate-drain's phases above, plain below.
pub(super) fn drain(run: &DrainRun) -> String {
    let end = run.drained.exit_ms.max(run.plain.exit_ms).max(1) + 50;
    svg(900, 160, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .x_label_area_size(22)
            .build_cartesian_2d(0u64..end, 0f64..2.0)?;
        chart.configure_mesh().disable_y_mesh().y_labels(0).draw()?;
        let (closing, done) = run.drained.phases_ms.unwrap_or((0, run.drained.exit_ms));
        let rows = [
            (
                1.1,
                vec![
                    (0, closing, QUOTA),
                    (closing, done, FAILED),
                    (done, run.drained.exit_ms, OK),
                ],
            ),
            (
                0.1,
                vec![(
                    0,
                    run.plain.exit_ms,
                    if run.plain.lost > 0 { REFUSED } else { SHADE },
                )],
            ),
        ];
        for (y, spans) in rows {
            for (from, to, colour) in spans {
                chart.draw_series([Rectangle::new(
                    [(from, y), (to.max(from + 1), y + 0.8)],
                    colour.filled(),
                )])?;
            }
        }
        Ok(())
    })
}
