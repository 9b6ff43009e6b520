//! Thumbnails of images: decoded with bounded dimensions and memory (no decompression
//! bombs), scaled to fit a square keeping the aspect ratio, encoded as PNG.

use image::{ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// The longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIZE: u32 = 256;

/// Whether thumbnails can be made from files of this MIME type.
pub fn supported(mime: &str) -> bool {
    matches!(
        mime,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

/// A PNG thumbnail of the image in `bytes`, at most `max` pixels on its longest side (an
/// image that is already smaller keeps its size).
pub fn make(bytes: &[u8], max: u32) -> Result<Vec<u8>, String> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| e.to_string())?;
    let thumb = if img.width() > max || img.height() > max {
        img.thumbnail(max, max)
    } else {
        img
    };
    let mut out = Cursor::new(Vec::new());
    thumb
        .write_to(&mut out, ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_fit_the_box_and_keep_the_ratio() {
        let img = image::RgbImage::from_pixel(600, 300, image::Rgb([10, 20, 30]));
        let mut png = Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut png, ImageFormat::Png)
            .unwrap();
        let thumb = make(png.get_ref(), 256).unwrap();
        let t = image::load_from_memory(&thumb).unwrap();
        assert_eq!((t.width(), t.height()), (256, 128));
        assert!(make(b"not an image", 256).is_err());
        assert!(supported("image/webp") && !supported("image/svg+xml"));
    }
}
