//! Pagination of `*/list` results: an opaque cursor (the offset of the next page) and a fixed
//! page size, so a client walks a long list in bounded replies.

use rmcp::{ErrorData, model::PaginatedRequestParams};

/// Items per page of `resources/list`, `resources/templates/list` and `prompts/list`.
pub(crate) const PAGE_SIZE: usize = 100;

/// The page `request` asks for, and the cursor of the next one. A cursor this server did not
/// hand out is an invalid-params error.
pub(crate) fn page<T: Clone>(
    items: &[T],
    request: Option<&PaginatedRequestParams>,
) -> Result<(Vec<T>, Option<String>), ErrorData> {
    page_sized(items, request, PAGE_SIZE)
}

fn page_sized<T: Clone>(
    items: &[T],
    request: Option<&PaginatedRequestParams>,
    size: usize,
) -> Result<(Vec<T>, Option<String>), ErrorData> {
    let start = match request.and_then(|r| r.cursor.as_deref()) {
        None => 0,
        Some(cursor) => cursor
            .parse::<usize>()
            .ok()
            .filter(|&start| start > 0 && start < items.len())
            .ok_or_else(|| {
                ErrorData::invalid_params(
                    format!("invalid cursor {cursor:?}: pass back a `nextCursor` from this server"),
                    None,
                )
            })?,
    };
    let end = start.saturating_add(size).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items[start..end].to_vec(), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cursor: &str) -> PaginatedRequestParams {
        PaginatedRequestParams::default().with_cursor(Some(cursor.to_owned()))
    }

    #[test]
    fn pages_walk_the_whole_list_once() {
        let items: Vec<u32> = (0..7).collect();
        let (first, next) = page_sized(&items, None, 3).expect("first");
        assert_eq!((first, next.as_deref()), (vec![0, 1, 2], Some("3")));
        let (second, next) = page_sized(&items, Some(&request("3")), 3).expect("second");
        assert_eq!((second, next.as_deref()), (vec![3, 4, 5], Some("6")));
        let (last, next) = page_sized(&items, Some(&request("6")), 3).expect("last");
        assert_eq!((last, next), (vec![6], None));
    }

    #[test]
    fn short_lists_fit_one_page_and_foreign_cursors_are_refused() {
        let (all, next) = page(&[1, 2], None).expect("page");
        assert_eq!((all, next), (vec![1, 2], None));
        for bad in ["", "x", "-1", "0", "2", "99999999999999999999999"] {
            let err = page(&[1, 2], Some(&request(bad))).expect_err(bad);
            assert!(err.message.contains("invalid cursor"), "{bad}: {err:?}");
        }
    }
}
