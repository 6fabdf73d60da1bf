//! Pictures of a run, drawn with plotters into an RGB buffer and encoded as PNG by the
//! `image` crate: training curves and a confusion matrix. Text uses the Ubuntu font that
//! the `epaint_default_fonts` crate embeds, so no system fonts are needed.

use std::sync::Once;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use super::history::EpochRecord;

const FONT: &str = "sans-serif";

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The font is compiled in and valid; a failure only loses the text.
            let _ = plotters::style::register_font(FONT, style, epaint_default_fonts::UBUNTU_LIGHT);
        }
    });
}

fn png(buf: Vec<u8>, w: u32, h: u32) -> Result<Vec<u8>> {
    let img = image::RgbImage::from_raw(w, h, buf).ok_or_else(|| anyhow!("plot buffer size"))?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e:?}")
}

/// Two panels: loss and accuracy per epoch, training and validation. PNG bytes.
pub fn curves_png(history: &[EpochRecord]) -> Result<Vec<u8>> {
    register_font();
    let (w, h) = (1000u32, 420u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (left, right) = root.split_horizontally(w / 2);
        let n = history.len().max(2) as f32;
        type Pick = fn(&EpochRecord) -> Option<f32>;
        let panels: [(&str, Pick, Pick, _); 2] = [
            ("loss", |r| Some(r.loss), |r| r.val_loss, &left),
            ("accuracy", |r| Some(r.accuracy), |r| r.val_accuracy, &right),
        ];
        for (title, tr, va, area) in panels {
            let vals: Vec<f32> = history.iter().flat_map(|r| [tr(r), va(r)]).flatten().filter(|v| v.is_finite()).collect();
            let (mut lo, mut hi) = vals.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            if vals.is_empty() {
                (lo, hi) = (0.0, 1.0);
            }
            let pad = ((hi - lo) * 0.08).max(1e-3);
            let mut chart = ChartBuilder::on(area)
                .caption(title, (FONT, 22))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(56)
                .build_cartesian_2d(0.8f32..n + 0.2, (lo - pad)..(hi + pad))
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .label_style((FONT, 14))
                .x_labels(history.len().clamp(2, 12))
                .x_label_formatter(&|x| format!("{x:.0}"))
                .draw()
                .map_err(err)?;
            for (name, pick, color) in [("training", tr, BLUE), ("validation", va, RED)] {
                let pts: Vec<(f32, f32)> =
                    history.iter().filter_map(|r| pick(r).map(|v| (r.epoch as f32, v))).collect();
                if pts.is_empty() {
                    continue;
                }
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                    .map_err(err)?
                    .label(name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
                chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled()))).map_err(err)?;
            }
            chart
                .configure_series_labels()
                .label_font((FONT, 14))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    png(buf, w, h)
}

/// A confusion matrix (rows: true class, columns: predicted), cells shaded by the share of
/// the row, with counts. PNG bytes.
pub fn confusion_png(m: &[Vec<usize>], classes: &[String], title: &str) -> Result<Vec<u8>> {
    register_font();
    let k = m.len().max(1);
    let cell = (600 / k as u32).clamp(14, 60);
    let label_w = 150u32;
    let (w, h) = (label_w + cell * k as u32 + 30, 70 + cell * k as u32 + label_w);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        root.draw(&Text::new(title.to_string(), (10, 10), (FONT, 20).into_font())).map_err(err)?;
        root.draw(&Text::new("rows: true class, columns: predicted", (10, 36), (FONT, 14).into_font())).map_err(err)?;
        let (x0, y0) = (label_w as i32, 60i32);
        let fs = (cell as f64 * 0.38).clamp(8.0, 16.0);
        for (i, row) in m.iter().enumerate() {
            let total: usize = row.iter().sum::<usize>().max(1);
            for (j, &v) in row.iter().enumerate() {
                let share = v as f64 / total as f64;
                let shade = (255.0 * (1.0 - share)) as u8;
                let color = if i == j { RGBColor(shade, shade, 255) } else { RGBColor(255, shade, shade) };
                let (x, y) = (x0 + (j as u32 * cell) as i32, y0 + (i as u32 * cell) as i32);
                root.draw(&Rectangle::new([(x, y), (x + cell as i32, y + cell as i32)], color.filled())).map_err(err)?;
                root.draw(&Rectangle::new([(x, y), (x + cell as i32, y + cell as i32)], BLACK.mix(0.2))).map_err(err)?;
                if cell >= 22 {
                    let tc = if share > 0.6 { WHITE } else { BLACK };
                    let style = TextStyle::from((FONT, fs).into_font()).color(&tc);
                    root.draw(&Text::new(v.to_string(), (x + 3, y + cell as i32 / 2 - fs as i32 / 2), style)).map_err(err)?;
                }
            }
            let name = classes.get(i).cloned().unwrap_or_else(|| i.to_string());
            let style = TextStyle::from((FONT, fs).into_font());
            root.draw(&Text::new(name.clone(), (6, y0 + (i as u32 * cell) as i32 + cell as i32 / 2 - fs as i32 / 2), style.clone())).map_err(err)?;
            let style = style.transform(FontTransform::Rotate90);
            let xl = x0 + (i as u32 * cell) as i32 + cell as i32 / 2 + fs as i32 / 2;
            root.draw(&Text::new(name, (xl, y0 + (k as u32 * cell) as i32 + 6), style)).map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    png(buf, w, h)
}
