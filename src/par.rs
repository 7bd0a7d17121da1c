//! Order-preserving parallel map over scoped threads: results come back in input order, so using
//! more cores never changes the output.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Applies `f` to every item on up to `threads` threads; the result vector matches `items` order.
/// Items are handed out in small runs as threads become free, so uneven items (a controller's
/// user-data, a large file) do not leave one core idle at the end.
pub fn map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads.clamp(1, 64).min(items.len());
    if threads <= 1 {
        return items.iter().map(&f).collect();
    }
    let run = items.len().div_ceil(threads * 16).max(1);
    let runs: Vec<&[T]> = items.chunks(run).collect();
    let next = AtomicUsize::new(0);
    let (f, runs, next) = (&f, &runs, &next);
    let mut done: Vec<(usize, Vec<R>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(r) = runs.get(i) else { break };
                        mine.push((i, r.iter().map(f).collect::<Vec<R>>()));
                    }
                    mine
                })
            })
            .collect();
        let mut all = Vec::with_capacity(runs.len());
        for h in handles {
            match h.join() {
                Ok(v) => all.extend(v),
                Err(p) => std::panic::resume_unwind(p),
            }
        }
        all
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    let mut out = Vec::with_capacity(items.len());
    for (_, v) in done {
        out.extend(v);
    }
    out
}

/// Worker threads to use: the machine's parallelism (affects speed only, never bytes).
pub fn threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order() {
        let v: Vec<u32> = (0..1000).collect();
        for t in [1, 2, 3, 7, 64] {
            assert_eq!(super::map(&v, t, |x| x * 2), v.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
        // Uneven work: early items are slow, so later runs finish first.
        let slow = |x: &u32| {
            if *x < 10 {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            x + 1
        };
        assert_eq!(super::map(&v, 4, slow), v.iter().map(|x| x + 1).collect::<Vec<_>>());
        assert!(super::map(&[] as &[u32], 4, |x| *x).is_empty());
    }
}
