//! The colours of the reviewer's pages (report.html, summary.html): one
//! definition, which the screenshot tests look for too.

pub type Rgb = (u8, u8, u8);

/// A passed check.
pub const PASS_RGB: Rgb = (0x16, 0xa3, 0x4a);
/// A failed check.
pub const FAIL_RGB: Rgb = (0xdc, 0x26, 0x26);
/// Bars of charts (score profile, latency histograms).
pub const BAR_RGB: Rgb = (0x25, 0x63, 0xeb);
/// Table headers and the score.
pub const HEADER_RGB: Rgb = (0x1e, 0x29, 0x3b);

/// A colour as CSS writes it: `#rrggbb`.
pub fn css((r, g, b): Rgb) -> String {
    format!("#{}", hex::encode([r, g, b]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn css_writes_six_hex_digits() {
        assert_eq!(super::css(super::PASS_RGB), "#16a34a");
    }
}
