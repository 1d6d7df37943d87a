//! The SVG chart: median throughput per workload (groups along x) and
//! engine (one colour each), on a logarithmic axis because an in-memory
//! skiplist and a synced LSM-tree differ by orders of magnitude.

use super::error::{Error, Result};
use super::report::{Summary, WORKLOAD_FIGURES};
use plotters::prelude::*;
use std::path::Path;

const WIDTH: u32 = 1400;
const HEIGHT: u32 = 700;
const COLOURS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];

/// Draws the chart of `summary` into the SVG file `path`.
pub fn draw(summary: &Summary, path: &Path) -> Result<()> {
    draw_inner(summary, path)
        .map_err(|e| Error::Usage(format!("cannot draw {}: {e}", path.display())))
}

fn draw_inner(
    summary: &Summary,
    path: &Path,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let throughput = &WORKLOAD_FIGURES[0];
    let workloads = summary.workloads();
    let engines = summary.engines();
    // One slot per engine and a gap per workload.
    let slots_per_group = engines.len() as i32 + 1;
    let slots = workloads.len() as i32 * slots_per_group;
    let mops = |e, w| summary.workload_median(e, w, throughput).map(|v| v * 1e-6);
    let values: Vec<f64> = workloads
        .iter()
        .flat_map(|&w| engines.iter().filter_map(move |&e| mops(e, w)))
        .filter(|v| *v > 0.0)
        .collect();
    let low = values
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .min(1.0)
        / 2.0;
    let high = values.iter().copied().fold(0.0, f64::max).max(1.0) * 2.0;

    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "fractio bench: throughput per workload (median)",
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(130)
        .y_label_area_size(70)
        .build_cartesian_2d((0..slots).into_segmented(), (low..high).log_scale())?;
    let label_slot = slots_per_group / 2 - 1;
    let label = |v: &SegmentValue<i32>| match v {
        SegmentValue::CenterOf(slot) if slot % slots_per_group == label_slot.max(0) => workloads
            .get((slot / slots_per_group) as usize)
            .map_or_else(String::new, |w| w.name().to_string()),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(slots as usize)
        .x_label_formatter(&label)
        .x_label_style(
            ("sans-serif", 13)
                .into_font()
                .transform(FontTransform::Rotate90),
        )
        .y_desc("Mops/s (log scale)")
        .draw()?;
    for (e, &engine) in engines.iter().enumerate() {
        let colour = COLOURS[e % COLOURS.len()];
        let bars = workloads.iter().enumerate().filter_map(|(w, &workload)| {
            let value = mops(engine, workload)?;
            let slot = w as i32 * slots_per_group + e as i32;
            Some(Rectangle::new(
                [
                    (SegmentValue::Exact(slot), low),
                    (SegmentValue::Exact(slot + 1), value),
                ],
                colour.filled(),
            ))
        });
        chart
            .draw_series(bars)?
            .label(engine.name())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
