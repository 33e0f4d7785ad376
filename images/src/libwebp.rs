//! WebP decoding through libwebp's advanced API, which scales while it decodes, as libvips
//! does: a 5120-pixel WebP comes out at the size of the largest variant, and its full-size
//! pixels are never made (neither the time to convert them nor the memory to hold them).
//!
//! The `webp` crate wraps only libwebp's simple decoder, so this module calls `WebPDecode`
//! through `libwebp-sys`, the binding under it. That one call is the workspace's only unsafe
//! code (the workspace denies it everywhere else).
#![allow(unsafe_code)]

use image::{DynamicImage, RgbImage, RgbaImage};
use libwebp_sys as sys;

/// A still WebP decoded at `width` x `height`: its own size, or smaller, libwebp's rescaler
/// averaging the pixels it drops. `None` for what libwebp does not decode (an animation) or
/// finds damaged.
pub fn decode(bytes: &[u8], width: u32, height: u32, alpha: bool) -> Option<DynamicImage> {
    let channels = if alpha { 4 } else { 3 };
    let stride = width as usize * channels;
    let mut pixels = vec![0u8; stride * height as usize];
    let mut config = sys::WebPDecoderConfig::new().ok()?;
    config.options.use_scaling = 1;
    config.options.scaled_width = i32::try_from(width).ok()?;
    config.options.scaled_height = i32::try_from(height).ok()?;
    config.output.colorspace = if alpha {
        sys::WEBP_CSP_MODE::MODE_RGBA
    } else {
        sys::WEBP_CSP_MODE::MODE_RGB
    };
    config.output.is_external_memory = 1;
    config.output.u.RGBA = sys::WebPRGBABuffer {
        rgba: pixels.as_mut_ptr(),
        stride: i32::try_from(stride).ok()?,
        size: pixels.len(),
    };
    // SAFETY: libwebp reads `bytes.len()` bytes from `bytes`, which lives through the call.
    // It writes only into the external output buffer, `pixels`: `size` bytes, `stride` bytes
    // a row, which it checks against the scaled size asked before writing a row. With
    // external memory it allocates no output the caller must free, and it frees its own
    // decoding state before returning.
    let status = unsafe { sys::WebPDecode(bytes.as_ptr(), bytes.len(), &raw mut config) };
    if status != sys::VP8StatusCode::VP8_STATUS_OK {
        return None;
    }
    if alpha {
        RgbaImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgba8)
    } else {
        RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8)
    }
}
