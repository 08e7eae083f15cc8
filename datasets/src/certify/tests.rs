use super::*;

/// One pass of `k` resamples of `n` draws each: a hit when the resample's
/// first draw is below n / 3 (a count that depends on every draw's place).
fn one_pass(rng: &mut Rng, n: usize, k: usize, extra: bool) -> usize {
    (0..k)
        .filter(|_| {
            let first = rng.below(n);
            (1..n).for_each(|_| {
                rng.below(n);
            });
            if extra {
                rng.next_u64();
            }
            first < n / 3
        })
        .count()
}

#[test]
fn resamples_split_across_cores_count_and_end_as_one_pass() {
    for n in [1, 5, 333] {
        let mut single = Rng::stream(9, 0, "hits");
        let want = one_pass(&mut single, n, POWER_RESAMPLES, false);
        let mut split = Rng::stream(9, 0, "hits");
        let got = resampled_hits(&mut split, n, |rng, k| one_pass(rng, n, k, false));
        assert_eq!(got, want, "n = {n}");
        assert_eq!(split.word_pos(), single.word_pos(), "the stream is left where one pass leaves it");
        assert_eq!(split.next_u64(), single.next_u64());
    }
}

#[test]
fn resamples_that_draw_more_than_counted_run_again_in_one_pass() {
    // Each resample draws once more than `resampled_hits` counts (as a
    // rejection in `below` would): the parts do not meet, and the figure
    // is the one-pass figure.
    let n = 40;
    let mut single = Rng::stream(9, 0, "hits-extra");
    let want = one_pass(&mut single, n, POWER_RESAMPLES, true);
    let mut split = Rng::stream(9, 0, "hits-extra");
    let got = resampled_hits(&mut split, n, |rng, k| one_pass(rng, n, k, true));
    assert_eq!(got, want);
    assert_eq!(split.word_pos(), single.word_pos());
}
