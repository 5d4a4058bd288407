//! The latency chart (SVG): latency by percentile on a log-percentile axis (the HdrHistogram
//! view, where tails are visible), and per-second p50 / p99 / max over the measured phase
//! (where stalls are visible).

use crate::plan::Plan;
use crate::run::Outcome;
use plotters::prelude::*;
use std::error::Error;
use std::path::Path;

pub fn write_svg(path: &Path, plan: &Plan, outcome: &Outcome) -> Result<(), Box<dyn Error>> {
    let h = &outcome.stats.latency_ns;
    if h.is_empty() {
        return Err("no measured requests to draw".into());
    }
    let root = SVGBackend::new(path, (960, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let (upper, lower) = root.split_vertically(380);
    let mode = match plan.rate {
        Some(rate) => format!("open loop, {rate:.0} req/s"),
        None => "closed loop".to_string(),
    };
    let label = if plan.label.is_empty() {
        String::new()
    } else {
        format!("{} · ", plan.label)
    };
    let title = format!(
        "{label}{} — {mode}, {} connections",
        plan.scenario.name(),
        plan.connections
    );

    // Latency by percentile: x = -log10(1 - q), so 1 = p90, 2 = p99, 3 = p99.9, 4 = p99.99.
    let points: Vec<(f64, f64)> = (0..=400)
        .map(|i| {
            let x = f64::from(i) / 100.0;
            let q = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(q) as f64 / 1e6)
        })
        .collect();
    let top = points.iter().map(|p| p.1).fold(0.0, f64::max) * 1.1 + 1e-3;
    let mut chart = ChartBuilder::on(&upper)
        .caption(&title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..4f64, 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_labels(5)
        .x_label_formatter(&|x| {
            let p = 100.0 * (1.0 - 10f64.powf(-x));
            format!("{}%", trim(p))
        })
        .draw()?;
    chart
        .draw_series(LineSeries::new(points, BLUE.stroke_width(2)))?
        .label("latency at percentile")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    legend(&mut chart)?;

    // Per second of the measured phase.
    let seconds = outcome.measured.as_secs_f64().floor().max(1.0) as usize;
    let timeline: Vec<_> = outcome.stats.timeline_us.iter().take(seconds).collect();
    let series = |f: &dyn Fn(&hdrhistogram::Histogram<u64>) -> u64| -> Vec<(f64, f64)> {
        timeline
            .iter()
            .enumerate()
            .filter(|(_, h)| !h.is_empty())
            .map(|(i, h)| (i as f64 + 0.5, f(h) as f64 / 1e3))
            .collect()
    };
    let p50 = series(&|h| h.value_at_quantile(0.5));
    let p99 = series(&|h| h.value_at_quantile(0.99));
    let max = series(&|h| h.max());
    let top = max.iter().map(|p| p.1).fold(0.0, f64::max) * 1.1 + 1e-3;
    let mut chart = ChartBuilder::on(&lower)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..seconds as f64, 0f64..top)?;
    chart
        .configure_mesh()
        .x_desc("second of the measured phase")
        .y_desc("latency (ms)")
        .draw()?;
    for (points, color, name) in [(p50, GREEN, "p50"), (p99, RED, "p99"), (max, BLACK, "max")] {
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    legend(&mut chart)?;
    root.present()?;
    Ok(())
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|e| e.to_string())
}

/// 99.900 → "99.9", 90.000 → "90".
fn trim(p: f64) -> String {
    let s = format!("{p:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
