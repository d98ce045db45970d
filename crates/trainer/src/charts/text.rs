//! Text on the charts, drawn right.
//!
//! plotters 0.3.7 draws ab_glyph text by placing each glyph's bitmap at the pen position,
//! ignoring the glyph's left bearing (`px_bounds().min.x`). In a monospace font a narrow
//! glyph sits in the middle of its cell, so '.' and '-' land at the cell's left edge and the
//! labels read "5. 00e- 3" and "accur acy". [`Text`] wraps the bitmap backend and draws text
//! itself with the bearing applied; every other primitive is the bitmap backend's own. (It
//! is a wrapper and not a patched plotters: the fix stays visible and needs no fork.)

use ab_glyph::{Font, FontRef, ScaleFont};
use plotters::prelude::BitMapBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

type Failure<B> = DrawingErrorKind<<B as DrawingBackend>::ErrorType>;

/// A bitmap backend whose text is drawn with `font`.
pub struct Text<'a> {
    inner: BitMapBackend<'a>,
    font: FontRef<'static>,
}

impl<'a> Text<'a> {
    pub fn new(inner: BitMapBackend<'a>, font: FontRef<'static>) -> Self {
        Text { inner, font }
    }

    /// Calls `pixel(x, y, coverage)` for every pixel of `text` at `size`, with (0, 0) the
    /// top left of its layout box, as plotters lays text out (a line of `size` pixels).
    fn glyph_pixels(&self, text: &str, size: f32, mut pixel: impl FnMut(i32, i32, f32)) {
        let font = self.font.as_scaled(size);
        let mut pen = 0f32;
        let mut prev = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = prev {
                pen += font.kern(p, id);
            }
            prev = Some(id);
            if let Some(outline) = font.outline_glyph(font.scaled_glyph(c)) {
                let rect = outline.px_bounds();
                let x0 = (pen + rect.min.x) as i32;
                let y0 = (size / 2.0 + rect.min.y) as i32;
                outline.draw(|x, y, c| pixel(x0 + x as i32, y0 + y as i32, c));
            }
            pen += font.h_advance(id);
        }
    }
}

impl DrawingBackend for Text<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), Failure<Self>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), Failure<Self>> {
        self.inner.present()
    }

    fn draw_pixel(&mut self, p: BackendCoord, c: BackendColor) -> Result<(), Failure<Self>> {
        self.inner.draw_pixel(p, c)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), Failure<Self>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), Failure<Self>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), Failure<Self>> {
        self.inner.draw_path(path, style)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), Failure<Self>> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), Failure<Self>> {
        self.inner.blit_bitmap(pos, size, src)
    }

    /// plotters' own `draw_text` (anchor, layout box, rotation), with the glyphs placed by
    /// [`Text::glyph_pixels`].
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), Failure<Self>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let ((min_x, min_y), (max_x, max_y)) = style
            .layout_box(text)
            .map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        let (width, height) = (max_x - min_x, max_y - min_y);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Right => -width,
            HPos::Center => -width / 2,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let trans = style.transform();
        let (w, h) = self.get_size();
        let mut pixels = Vec::new();
        self.glyph_pixels(text, style.size() as f32, |x, y, c| pixels.push((x, y, c)));
        for (x, y, coverage) in pixels {
            let (x, y) = trans.transform(x + dx - min_x, y + dy - min_y);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && x < w as i32 && y >= 0 && y < h as i32 {
                let alpha = color.alpha * coverage as f64;
                self.inner
                    .draw_pixel((x, y), BackendColor { alpha, ..color })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The glyph of '.' sits in the middle of its monospace cell, as the font draws it, not
    /// at the cell's left edge (plotters' "5. 00e- 3").
    #[test]
    fn glyphs_keep_their_left_bearing() {
        let font = FontRef::try_from_slice(super::super::FONT_BYTES).unwrap();
        let advance = font.as_scaled(13.0).h_advance(font.glyph_id('0'));
        let mut pixels = [0u8; 3];
        let text = Text::new(BitMapBackend::with_buffer(&mut pixels, (1, 1)), font);
        let mut xs = Vec::new();
        text.glyph_pixels("0.0", 13.0, |x, _, c| {
            let cell = (x as f32 / advance) as i32;
            if cell == 1 && c > 0.5 {
                xs.push(x as f32);
            }
        });
        assert!(!xs.is_empty(), "no '.' drawn");
        let mean = xs.iter().sum::<f32>() / xs.len() as f32;
        let centre = 1.5 * advance;
        assert!(
            (mean - centre).abs() < 1.5,
            "'.' at {mean}, its cell's centre is {centre}"
        );
    }
}
