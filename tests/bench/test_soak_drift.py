"""The soak's drift compares memory only between samples holding the same llama contexts."""

from benchmarks.soak.drift import fit_drift, steady_samples

FULL = ["m:chat", "m:complete", "m:complete-2", "m:glance"]
AFTER_RELOAD = ["m:complete", "m:glance"]  # the spare and explanation contexts are made on first use


def sample(minute: float, rss: float, contexts: list[str] | None) -> dict:
    return {"minute": minute, "rss_mb": rss, "contexts": contexts}


def test_samples_taken_before_the_lazy_contexts_exist_are_left_out() -> None:
    samples = [sample(m, 520 + m * 0.1, FULL) for m in range(1, 61)]
    for m in (14, 15, 17, 20, 28, 29, 31, 32):  # after a reload, before the next explanation: ~100 MB lower
        samples[m - 1] = sample(m, 420, AFTER_RELOAD)
    steady = steady_samples(samples)
    assert len(steady) == 52
    assert all(s["contexts"] == FULL for s in steady)
    assert abs(fit_drift(steady, "rss_mb")["fitted"]) < 0.02
    assert abs(fit_drift(samples, "rss_mb")["fitted"]) > 0.05  # what the all-sample fit read (a false drift)


def test_a_real_leak_still_shows() -> None:
    samples = [sample(m, 500 + m * 1.0, FULL) for m in range(1, 61)]
    assert fit_drift(steady_samples(samples), "rss_mb")["fitted"] > 0.1


def test_samples_without_a_record_of_contexts_all_count() -> None:
    samples = [sample(m, 500, None) for m in range(1, 11)]
    assert steady_samples(samples) == samples
