"""The network benchmark's profiler (benchmarks/network.py): its bookkeeping, at a tiny size. No timing asserted."""

import numpy as np

from benchmarks import network


def test_profile_accounts_for_every_op_and_sums_to_the_step() -> None:
    import vanilla_nn.autograd.engine as engine
    from vanilla_nn import models
    from vanilla_nn.autograd import function
    from vanilla_nn.functional import _dispatch

    record, saving = _dispatch.tape.record, dict(function.SAVING)
    model = models.resnet18(num_classes=10, width=4, rng=0)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32), dtype=np.float32)
    profile = network.profile_step(model, x, np.array([1, 7]), repeats=1)

    families = profile["families"]
    calls = {name: entry["calls"] for name, entry in families.items()}
    # ResNet-18: 20 convolutions, 20 batch norms, 17 ReLUs + 8 residual additions, max pool + adaptive average
    # pool, flatten + linear + cross-entropy; each family's forward and backward were timed
    assert sum(n for name, n in calls.items() if name.startswith("conv: ")) == 20, calls
    assert calls["batch norm"] == 20 and calls["elementwise / activations"] == 25, calls
    assert calls["pooling"] == 2 and calls["linear / loss / reshape"] == 3, calls
    assert all(entry["forward_ms"] > 0 and entry["backward_ms"] > 0 for entry in families.values()), families
    ops = sum(entry["forward_ms"] + entry["backward_ms"] for entry in families.values())
    assert profile["overhead_ms"] >= 0 and profile["optimizer_ms"] > 0
    assert abs(ops + profile["optimizer_ms"] + profile["overhead_ms"] - profile["total_ms"]) < 1e-6
    # the instrumentation is gone afterwards
    assert _dispatch.tape.record is record and saving == function.SAVING and function.Node is engine.Node
