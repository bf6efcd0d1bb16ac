//! Work shared among the cores: one function over every item of a slice, the results in the
//! slice's order. Loading resolves a large site's components this way, and planning hashes
//! them.

/// `f` over every item, in order. A slice of `serial_below` items or more is cut into one
/// part per core, each mapped on a thread of its own; a shorter one is mapped on the calling
/// thread, since starting threads would cost more than they save.
pub fn map<T: Sync, R: Send>(items: &[T], serial_below: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if items.len() < serial_below || cores == 1 {
        return items.iter().map(f).collect();
    }
    let f = &f;
    std::thread::scope(|threads| {
        let parts: Vec<_> = items
            .chunks(items.len().div_ceil(cores))
            .map(|part| threads.spawn(move || part.iter().map(f).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_keep_the_order_of_the_items_however_the_work_is_cut() {
        let items: Vec<u64> = (0..10_001).collect();
        let squares: Vec<u64> = items.iter().map(|item| item * item).collect();
        assert_eq!(super::map(&items, 1, |item| item * item), squares);
        assert_eq!(super::map(&items, usize::MAX, |item| item * item), squares);
        assert_eq!(super::map(&items[..0], 1, |item| item * item), Vec::<u64>::new());
    }
}
