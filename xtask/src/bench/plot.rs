//! The results as an SVG bar chart: per workload, each device's median
//! ratio to `linear`, with the range of its rounds as an error bar, and
//! `linear` itself as the line at 1.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::{LINEAR, Results, WORKLOADS, rank};

/// Debian's DejaVu Sans (`fonts-dejavu-core`, in `.ci/lab-packages`):
/// plotters measures text with the font it draws with.
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

const COLOURS: [RGBColor; 6] = [
    RGBColor(120, 120, 120),
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];

/// The devices shown, in order: every device but `linear`, with its set
/// when there is more than one.
fn devices(results: &Results) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for m in &results.measurements {
        let key = (m.set, m.device.clone());
        if m.device != LINEAR && !out.contains(&key) {
            out.push(key);
        }
    }
    out.sort_by(|a, b| (a.0, rank(&a.1)).cmp(&(b.0, rank(&b.1))));
    out
}

pub fn svg(results: &Results, path: &Path) -> Result<()> {
    let bytes = std::fs::read(FONT).with_context(|| format!("reading {FONT}"))?;
    register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(bytes.into_boxed_slice()),
    )
    .map_err(|_| anyhow!("{FONT} is not a font plotters can read"))?;
    let devices = devices(results);
    let sets = results.sets.len();
    // Room above the highest error bar for the legend.
    let top = (results.measurements.iter())
        .map(|m| m.ratio_to_linear.max)
        .fold(1.1_f64, f64::max)
        * 1.05
        + 0.1 * devices.len() as f64;
    let bottom = (results.measurements.iter())
        .map(|m| m.ratio_to_linear.min)
        .fold(0.9_f64, f64::min)
        .min(0.0);
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let width = devices.len() as f64 + 1.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Throughput relative to linear: Linux {} ({}), {}",
                results.line, results.release, results.date
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..WORKLOADS.len() as f64 * width, bottom..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("ratio to linear (median, range of rounds)")
        .draw()?;
    for (w, workload) in WORKLOADS.iter().enumerate() {
        let centre = (w as f64 + 0.5) * width;
        chart.draw_series(std::iter::once(Text::new(
            format!("{} ({})", workload.name, workload.unit),
            (centre - width * 0.3, bottom - (top - bottom) * 0.04),
            ("sans-serif", 14),
        )))?;
    }
    for (d, (set, device)) in devices.iter().enumerate() {
        let colour = COLOURS[d % COLOURS.len()];
        let label = if sets > 1 {
            format!("{device} (set {set})")
        } else {
            device.clone()
        };
        let mut bars = Vec::new();
        let mut errors = Vec::new();
        for (w, workload) in WORKLOADS.iter().enumerate() {
            let Some(m) = (results.measurements.iter())
                .find(|m| m.set == *set && &m.device == device && m.workload == workload.name)
            else {
                continue;
            };
            let x = w as f64 * width + 0.5 + d as f64;
            let r = m.ratio_to_linear;
            bars.push(Rectangle::new(
                [(x, bottom.max(0.0)), (x + 0.8, r.median)],
                colour.filled(),
            ));
            errors.push(ErrorBar::new_vertical(
                x + 0.4,
                r.min,
                r.median,
                r.max,
                BLACK.stroke_width(1),
                6,
            ));
        }
        chart
            .draw_series(bars)?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
        chart.draw_series(errors)?;
    }
    chart.draw_series(LineSeries::new(
        [(0.0, 1.0), (WORKLOADS.len() as f64 * width, 1.0)],
        BLACK.stroke_width(1),
    ))?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()?;
    root.present()?;
    Ok(())
}
