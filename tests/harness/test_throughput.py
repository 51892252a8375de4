import time
from types import SimpleNamespace

import pytest
import torch

from harness.suites.base import SuiteContext
from harness.suites.throughput.suite import (
    StaticDecoder,
    ThroughputConfig,
    ThroughputSuite,
    eager_generate,
    measure_decode_sides,
    measure_prefill,
    measure_prefill_sides,
    random_ids,
)
from harness.timing import Timer, TimingStats, measure, percentile
from skipbench.errors import InvalidInput
from tests.tiny import tiny_model

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_percentile_hand_worked():
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5  # between ranks 2 and 3
    assert percentile([1.0, 2.0, 3.0, 4.0], 90) == pytest.approx(3.7)  # 3 + 0.7 x (4 - 3)
    assert percentile([7.0], 90) == 7.0
    assert percentile([1.0, 2.0, 3.0], 0) == 1.0 and percentile([1.0, 2.0, 3.0], 100) == 3.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_timing_stats_summary():
    st = TimingStats((3.0, 1.0, 2.0, 10.0))
    assert st.repeats == 4 and st.median_ms == 2.5 and st.min_ms == 1.0 and st.mean_ms == 4.0
    assert st.to_dict()["samples_ms"] == [3.0, 1.0, 2.0, 10.0]


def test_measure_runs_warmup_then_repeats_and_times_on_cpu():
    calls = []
    stats = measure(lambda: calls.append(1) or time.sleep(0.01), "cpu", warmup=2, repeats=3)
    assert len(calls) == 5 and stats.repeats == 3
    assert all(s >= 9.0 for s in stats.samples_ms)  # 10 ms sleeps, monotonic clock
    with Timer("cpu") as t:
        time.sleep(0.02)
    assert 19.0 <= t.elapsed_ms < 1000.0


def test_config_validation_and_presets():
    with pytest.raises(InvalidInput, match="preset"):
        ThroughputConfig(preset="fast")
    with pytest.raises(InvalidInput, match="decode_modes"):
        ThroughputConfig(decode_modes=("turbo",))
    with pytest.raises(InvalidInput, match="new_tokens"):
        ThroughputConfig(new_tokens=1)
    with pytest.raises(InvalidInput, match="prefill_batch_sizes"):
        ThroughputConfig(prefill_batch_sizes=(0,))
    sleb = ThroughputConfig.from_params({"preset": "sleb"}).grid()
    assert sleb == {
        "prefill_batch_sizes": (1,),
        "prefill_seq_lens": (2048,),
        "decode_batch_sizes": (64,),
        "prompt_len": 64,
        "new_tokens": 128,
    }
    ortho = ThroughputConfig(preset="orthorank").grid()
    assert ortho["prefill_batch_sizes"] == (32,) and ortho["decode_batch_sizes"] == ()
    custom = ThroughputConfig.from_params(
        {"prefill_batch_sizes": "1,4", "prefill_seq_lens": "128"}
    ).grid()
    assert custom["prefill_batch_sizes"] == (1, 4) and custom["prefill_seq_lens"] == (128,)


def greedy_reference(model, ids, n):
    """Plain greedy loop: the whole sequence recomputed for every new token (no cache)."""
    cur = ids
    for _ in range(n):
        nxt = model(input_ids=cur, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)
        cur = torch.cat([cur, nxt], dim=1)
    return cur[:, ids.shape[1] :]


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "qwen3"])
def test_static_decoder_matches_plain_greedy_loop(model_type):
    model = tiny_model(model_type, 3)
    model.config._attn_implementation = "sdpa"
    ids = random_ids(3, 9, 96, seed=1, device="cpu")
    with torch.inference_mode():
        expected = greedy_reference(model, ids, 6)
        dec = StaticDecoder(model, 3, 9, 6, use_graph=False)
        first = dec.generate(ids).clone()
        again = dec.generate(ids).clone()  # the cache is rewound, not stale
        short = dec.generate(ids, 2).clone()
        eager = eager_generate(model, ids, 6)
    assert torch.equal(first, expected) and torch.equal(again, expected)
    assert torch.equal(short, expected[:, :2])
    assert torch.equal(eager, expected)


def test_eager_generate_ignores_eos():
    model = tiny_model("llama", 2)
    ids = random_ids(1, 5, 96, seed=2, device="cpu")
    with torch.inference_mode():
        first = greedy_reference(model, ids, 1)[0, 0].item()
        model.generation_config.eos_token_id = first  # greedy would stop right away
        out = eager_generate(model, ids, 4)
    assert out.shape == (1, 4) and first not in out[0].tolist()


def test_measure_prefill_reports_consistent_rates():
    model = tiny_model("llama", 2)
    rec = measure_prefill(model, 2, 16, "cpu", warmup=1, repeats=3)
    assert rec["repeats"] == 3 and rec["peak_memory_bytes"] is None
    assert rec["tokens_per_s"] == pytest.approx(2 * 16 / (rec["median_ms"] / 1e3))


def test_random_ids_are_seeded_and_in_range():
    a, b = random_ids(2, 50, 96, 3, "cpu"), random_ids(2, 50, 96, 3, "cpu")
    assert torch.equal(a, b) and a.min() >= 3 and a.max() < 96


def test_suite_output_shape_on_cpu():
    model = tiny_model("llama", 2)
    lm = SimpleNamespace(model=model, device=torch.device("cpu"), info={"random_weights": True})
    config = ThroughputConfig.from_params(
        {
            "prefill_batch_sizes": "1,2",
            "prefill_seq_lens": "8",
            "decode_batch_sizes": "2",
            "prompt_len": 4,
            "new_tokens": 3,
            "warmup": 0,
            "repeats": 2,
            "decode_repeats": 1,
        }
    )
    reports = []
    out = ThroughputSuite(config).run(
        lm, SuiteContext(progress=lambda w, f: reports.append((w, f)))
    )
    assert {w for w, _ in reports} == {"throughput"} and reports[-1] == ("throughput", 1.0)
    by_task = {}
    for r in out.results:
        by_task.setdefault(r.task, {})[r.metric] = r
    assert set(by_task) == {
        "prefill/b1x8",
        "prefill/b2x8",
        "decode-eager/b2p4n3",
        "decode-graph/b2p4n3",
    }
    assert set(by_task["prefill/b1x8"]) == {"latency_ms", "latency_p90_ms", "tokens_per_s"}
    assert set(by_task["decode-graph/b2p4n3"]) == {"ttft_ms", "tpot_ms", "tokens_per_s"}
    assert by_task["prefill/b2x8"]["latency_ms"].n == 2
    assert all(r.value >= 0 for r in out.results)
    for r in out.results:
        ThroughputSuite.metric(r.metric)  # every emitted metric is declared
    assert len(out.artifacts["throughput"]) == 4 and out.info["random_weights"] is True
    assert ThroughputSuite.needs_real_weights is False


@cuda
def test_graph_decoder_matches_eager_on_gpu():
    model = tiny_model("llama", 3).to("cuda")
    model.config._attn_implementation = "sdpa"
    ids = random_ids(2, 7, 96, seed=4, device="cuda")
    with torch.inference_mode():
        expected = StaticDecoder(model, 2, 7, 5, use_graph=False).generate(ids).clone()
        graphed = StaticDecoder(model, 2, 7, 5, use_graph=True)
        assert torch.equal(graphed.generate(ids), expected)
        assert torch.equal(graphed.generate(ids), expected)  # replays from a rewound cache


class _Recorder(torch.nn.Module):
    """Wraps a model: logs each forward under ``name`` and takes ``delay`` seconds first: on
    ``clock`` (a fake ``perf_counter_ns`` the test installs) when given, so that the timings are
    exact whatever else the machine is doing, else a real sleep."""

    def __init__(self, inner, name, delay, log, clock=None):
        super().__init__()
        self.inner, self.config, self.tag, self.delay, self.log = (
            inner,
            inner.config,
            name,
            delay,
            log,
        )
        self.clock = clock

    def forward(self, **kwargs):
        self.log.append(self.tag)
        if self.clock is not None:
            self.clock[0] += int(self.delay * 1e9)
        else:
            time.sleep(self.delay)
        return self.inner(**kwargs)


def test_prefill_sides_alternate_rounds_and_speedup_follows_the_slow_side(monkeypatch):
    import harness.timing

    clock = [0]  # the timer reads only this fake clock, which only the forwards advance
    monkeypatch.setattr(harness.timing, "time", SimpleNamespace(perf_counter_ns=lambda: clock[0]))
    model, log = tiny_model("llama", 2), []
    dense = _Recorder(model, "d", 0.001, log, clock)
    slow = _Recorder(model, "m", 0.03, log, clock)
    recs = measure_prefill_sides({"dense": dense, "method": slow}, 1, 8, "cpu", 0, 4, rounds=2)
    assert "".join(log) == "ddmmddmm"  # two rounds, two timed calls per side each
    assert recs["dense"]["repeats"] == recs["method"]["repeats"] == 4

    lm = SimpleNamespace(model=slow, device=torch.device("cpu"), info={})
    config = ThroughputConfig.from_params(
        {"prefill_seq_lens": "8", "decode_batch_sizes": "", "warmup": 0, "repeats": 2}
    )
    out = ThroughputSuite(config).run(lm, SuiteContext(baseline=dense))
    speedup = next(r.value for r in out.results if r.metric == "speedup")
    assert abs(speedup - 1 / 30) < 1e-9  # 1 ms against 30 ms of (fake) time per forward
    off = ThroughputSuite(ThroughputConfig.from_params({**config.to_dict(), "baseline": False}))
    assert not off.wants_baseline()
    out = off.run(lm, SuiteContext(baseline=dense))
    assert all(r.metric != "speedup" for r in out.results) and out.info["baseline"] == "none"


def test_decode_sides_alternate_rounds_on_the_same_prompt():
    model, log = tiny_model("llama", 2), []
    sides = {"dense": _Recorder(model, "d", 0.0, log), "method": _Recorder(model, "m", 0.0, log)}
    recs = measure_decode_sides(sides, 1, 4, 3, "graph", "cpu", 1, 3, rounds=2)
    runs = [c for i, c in enumerate(log) if i == 0 or log[i - 1] != c]
    assert "".join(runs) == "dmdm"  # every call of a side within a round comes together
    assert recs["dense"]["total"]["repeats"] == recs["method"]["total"]["repeats"] == 4
    assert recs["dense"]["graph"] is False and recs["method"]["mode"] == "graph"
