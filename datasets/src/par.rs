//! Work spread over the machine's cores where each piece is a pure function
//! of its input: the result is the same whatever the number of threads
//! (every random draw happens in one thread, in the stream's order).

use std::sync::{mpsc, Mutex};

/// Items `produce` makes one after another (calling `send` for each, in
/// order), each turned into a result by `work` on another core while the
/// next is made; the results in the order sent.
pub(crate) fn pipeline<T: Send, U: Send>(
    produce: impl FnOnce(&mut dyn FnMut(T)),
    work: impl Fn(T) -> U + Sync,
) -> Vec<U> {
    let cores = cores();
    let (tx, rx) = mpsc::channel::<(usize, T)>();
    let rx = Mutex::new(rx);
    std::thread::scope(|s| {
        let (rx, work) = (&rx, &work);
        let workers: Vec<_> = (0..cores)
            .map(|_| {
                s.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        match next {
                            Ok((i, item)) => done.push((i, work(item))),
                            Err(_) => break done,
                        }
                    }
                })
            })
            .collect();
        let mut sent = 0;
        produce(&mut |item| {
            // A worker that panicked shows when joined below.
            let _ = tx.send((sent, item));
            sent += 1;
        });
        drop(tx);
        let mut done: Vec<(usize, U)> = workers.into_iter().flat_map(join).collect();
        done.sort_unstable_by_key(|(i, _)| *i);
        done.into_iter().map(|(_, u)| u).collect()
    })
}

fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Two pure computations at once.
pub(crate) fn both<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (A, B) {
    std::thread::scope(|s| {
        let h = s.spawn(a);
        let b = b();
        (join(h), b)
    })
}

/// `work` on each item at once, one thread per item (few, large items);
/// the results in the items' order.
pub(crate) fn each<T: Send, U: Send>(items: Vec<T>, work: impl Fn(T) -> U + Sync) -> Vec<U> {
    let work = &work;
    std::thread::scope(|s| {
        let handles: Vec<_> = items.into_iter().map(|item| s.spawn(move || work(item))).collect();
        handles.into_iter().map(join).collect()
    })
}

/// How many cores the pure work here spreads over.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |c| c.get()).min(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_the_order_sent() {
        for n in [0, 1, 7, 300] {
            let got = pipeline(
                |send| (0..n).for_each(send),
                |i: usize| {
                    // Uneven work: later items would overtake earlier ones.
                    std::thread::sleep(std::time::Duration::from_micros(((n - i) % 5) as u64 * 50));
                    i * 2
                },
            );
            assert_eq!(got, (0..n).map(|i| i * 2).collect::<Vec<_>>(), "n = {n}");
        }
    }
}
