//! Annotated frames: the label and score, the alerts, and for tiled inspection the tile
//! grid with a heat map of one class's scores blended over the frame.

use image::RgbImage;

use crate::font;
use crate::pipeline::FrameResult;
use crate::preprocess::Rect;
use crate::Frame;

/// Colors.
pub const WHITE: [u8; 3] = [255, 255, 255];
/// Alert red.
pub const RED: [u8; 3] = [230, 40, 40];
/// Banner background.
pub const BLACK: [u8; 3] = [0, 0, 0];

/// Blue → cyan → green → yellow → red for `v` in 0..=1.
pub fn colormap(v: f32) -> [u8; 3] {
    let v = v.clamp(0.0, 1.0);
    let seg = |a: f32| ((a.clamp(0.0, 1.0)) * 255.0) as u8;
    let r = seg(1.5 - (4.0 * v - 3.0).abs());
    let g = seg(1.5 - (4.0 * v - 2.0).abs());
    let b = seg(1.5 - (4.0 * v - 1.0).abs());
    [r, g, b]
}

/// Fill a rectangle (clipped to the image).
pub fn fill_rect(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, color: [u8; 3]) {
    let (iw, ih) = (img.width() as i64, img.height() as i64);
    for yy in y.max(0)..(y + h).min(ih) {
        for xx in x.max(0)..(x + w).min(iw) {
            img.put_pixel(xx as u32, yy as u32, image::Rgb(color));
        }
    }
}

/// Outline a rectangle `t` pixels thick.
pub fn stroke_rect(img: &mut RgbImage, r: Rect, t: i64, color: [u8; 3]) {
    let (x, y, w, h) = (r.x as i64, r.y as i64, r.w as i64, r.h as i64);
    fill_rect(img, x, y, w, t, color);
    fill_rect(img, x, y + h - t, w, t, color);
    fill_rect(img, x, y, t, h, color);
    fill_rect(img, x + w - t, y, t, h, color);
}

/// Write `text` with its top-left corner at (`x`, `y`).
pub fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, scale: u32, color: [u8; 3]) {
    let s = scale as i64;
    for (i, ch) in text.chars().enumerate() {
        let gx = x + i as i64 * (font::ADVANCE * scale) as i64;
        for col in 0..5 {
            for row in 0..font::HEIGHT {
                if font::pixel(ch, col, row) {
                    fill_rect(img, gx + col as i64 * s, y + row as i64 * s, s, s, color);
                }
            }
        }
    }
}

/// Text lines on a dark banner in the top-left corner.
pub fn banner(img: &mut RgbImage, lines: &[(String, [u8; 3])], scale: u32) {
    let pad = 2 * scale as i64;
    let lh = ((font::HEIGHT + 3) * scale) as i64;
    let w = lines.iter().map(|(t, _)| font::text_width(t, scale)).max().unwrap_or(0) as i64;
    fill_rect(img, 0, 0, w + 2 * pad, lines.len() as i64 * lh + pad, BLACK);
    for (i, (t, c)) in lines.iter().enumerate() {
        draw_text(img, pad, pad + i as i64 * lh, t, scale, *c);
    }
}

/// Blend a heat map over the image: each pixel takes the highest score of the tiles that
/// cover it, colored by [`colormap`], mixed in with weight `alpha`.
pub fn heat_overlay(img: &mut RgbImage, tiles: &[(Rect, f32)], alpha: f32) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut heat = vec![-1f32; w * h];
    for (r, v) in tiles {
        let (x0, y0) = (r.x.max(0.0) as usize, r.y.max(0.0) as usize);
        let (x1, y1) = (((r.x + r.w).ceil() as usize).min(w), ((r.y + r.h).ceil() as usize).min(h));
        for y in y0..y1 {
            for hv in &mut heat[y * w + x0..y * w + x1.max(x0)] {
                *hv = hv.max(*v);
            }
        }
    }
    for (p, &v) in img.pixels_mut().zip(&heat) {
        if v < 0.0 {
            continue;
        }
        let c = colormap(v);
        for k in 0..3 {
            p[k] = (p[k] as f32 * (1.0 - alpha) + c[k] as f32 * alpha) as u8;
        }
    }
}

/// Text scale for an image: 1 up to 480 px wide, then one step per 480 px.
pub fn scale_for(width: u32) -> u32 {
    (width / 480).clamp(1, 6)
}

/// Draw the results onto a copy of the frame. `labels[i]` names class `i`; `heat_class` is
/// the class whose tile scores make the heat map (tiled results only).
pub fn render(frame: &Frame, r: &FrameResult, labels: &[String], heat_class: Option<usize>, fps: f64) -> RgbImage {
    let mut img = RgbImage::from_raw(frame.width, frame.height, frame.rgb.clone())
        .unwrap_or_else(|| RgbImage::new(frame.width.max(1), frame.height.max(1)));
    let scale = scale_for(img.width());
    let name = |i: usize| labels.get(i).cloned().unwrap_or_else(|| format!("class {i}"));
    if !r.tiles.is_empty() {
        let class = heat_class.unwrap_or(r.label);
        let cells: Vec<(Rect, f32)> = r.tiles.iter().map(|t| (t.rect, t.scores.get(class).copied().unwrap_or(0.0))).collect();
        heat_overlay(&mut img, &cells, 0.45);
        for t in &r.tiles {
            stroke_rect(&mut img, t.rect, 1, [200, 200, 200]);
        }
        for t in &r.tiles {
            let alerted = r.alerts.iter().any(|a| a.tile == Some((t.row, t.col)));
            if alerted {
                stroke_rect(&mut img, t.rect, 2 * scale as i64, RED);
            }
            let text = format!("{} {:.2}", name(t.label), t.score);
            if (font::text_width(&text, scale) as f32) < t.rect.w - 4.0 {
                let (x, y) = (t.rect.x as i64 + 3 * scale as i64, (t.rect.y + t.rect.h) as i64 - 10 * scale as i64);
                fill_rect(&mut img, x - scale as i64, y - scale as i64, font::text_width(&text, scale) as i64 + 2, 9 * scale as i64, BLACK);
                draw_text(&mut img, x, y, &text, scale, if alerted { RED } else { WHITE });
            }
        }
    }
    let rate = if fps > 0.0 { format!("  {fps:.1} FPS") } else { String::new() };
    let mut lines = vec![(format!("#{} {} {:.2}{rate}", r.seq, name(r.label), r.score), WHITE)];
    if !r.tiles.is_empty() {
        let class = heat_class.unwrap_or(r.label);
        lines.push((format!("HEAT: {}", name(class)), WHITE));
    }
    for a in &r.alerts {
        let at = a.tile.map(|(tr, tc)| format!(" TILE {tr},{tc}")).unwrap_or_default();
        lines.push((format!("ALERT {} {:.2}{at}", name(a.class), a.score), RED));
    }
    lines.truncate(8);
    banner(&mut img, &lines, scale);
    img
}

/// Shrink to at most `max_w` pixels wide (nearest neighbour; previews only).
pub fn downscale(img: &RgbImage, max_w: u32) -> RgbImage {
    if img.width() <= max_w {
        return img.clone();
    }
    let w = max_w;
    let h = ((img.height() as u64 * w as u64) / img.width() as u64).max(1) as u32;
    RgbImage::from_fn(w, h, |x, y| {
        *img.get_pixel(x * img.width() / w, (y * img.height() / h).min(img.height() - 1))
    })
}

/// JPEG bytes of an image.
pub fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(img.len() / 8);
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    if enc.encode_image(img).is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colormap_ends() {
        assert_eq!(colormap(0.0)[2], 127);
        assert_eq!(colormap(1.0)[0], 127);
        assert!(colormap(0.5)[1] == 255);
    }

    #[test]
    fn heat_takes_the_max_of_covering_tiles() {
        let mut img = RgbImage::new(4, 2);
        let a = Rect { x: 0.0, y: 0.0, w: 3.0, h: 2.0 };
        let b = Rect { x: 2.0, y: 0.0, w: 2.0, h: 2.0 };
        heat_overlay(&mut img, &[(a, 0.0), (b, 1.0)], 1.0);
        assert_eq!(img.get_pixel(0, 0).0, colormap(0.0));
        assert_eq!(img.get_pixel(2, 0).0, colormap(1.0));
    }
}
