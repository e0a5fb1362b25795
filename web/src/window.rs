//! The virtual window of a long table: which rows to put in the DOM for a scroll position, and
//! how much empty space stands in for the rest, so 100,000 tasks cost a screenful of rows.

/// Rows drawn beyond the visible ones, above and below, so fast scrolling shows no blank.
pub const OVERSCAN: usize = 10;

/// What to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Index of the first row drawn.
    pub offset: usize,
    /// Rows drawn.
    pub limit: usize,
    /// Empty space above the first row drawn, px.
    pub pad_top: u32,
    /// Empty space below the last row drawn, px.
    pub pad_bottom: u32,
}

/// The window for `total` rows of `row_px` each, seen through a viewport of `view_px` scrolled
/// by `scroll_px`.
pub fn window(total: usize, row_px: u32, view_px: u32, scroll_px: u32) -> Window {
    let row = row_px.max(1) as usize;
    let first_visible = (scroll_px as usize / row).min(total);
    let visible = (view_px as usize).div_ceil(row);
    let offset = first_visible.saturating_sub(OVERSCAN);
    let end = (first_visible + visible + OVERSCAN).min(total);
    let limit = end - offset;
    Window {
        offset,
        limit,
        pad_top: (offset * row) as u32,
        pad_bottom: ((total - end) * row) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        // (total, row, view, scroll) -> (offset, limit, pad_top, pad_bottom)
        let cases = [
            ((0, 20, 400, 0), (0, 0, 0, 0)),
            ((5, 20, 400, 0), (0, 5, 0, 0)),
            ((1000, 20, 400, 0), (0, 30, 0, 970 * 20)),
            ((1000, 20, 400, 2000), (90, 40, 1800, 870 * 20)),
            ((1000, 20, 400, 19_990), (989, 11, 989 * 20, 0)),
            // scrolled past the end (rows vanished): the tail is drawn, nothing negative.
            ((100, 20, 400, 1_000_000), (90, 10, 1800, 0)),
            (
                (100_000, 28, 600, 28 * 50_000),
                (49_990, 42, 49_990 * 28, (100_000 - 50_032) * 28),
            ),
        ];
        for ((total, row, view, scroll), (o, l, t, b)) in cases {
            let w = window(total, row, view, scroll);
            assert_eq!(
                (w.offset, w.limit, w.pad_top, w.pad_bottom),
                (o, l, t, b),
                "{total} {scroll}"
            );
            assert_eq!(
                (w.pad_top + w.pad_bottom) as usize + w.limit * row as usize,
                total * row as usize
            );
        }
    }
}
