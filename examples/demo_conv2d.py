"""A conv2d forward and backward in vanilla_nn next to PyTorch's, on the same random data.

Run: python examples/demo_conv2d.py   (needs the `torch` extra: pip install -e '.[torch]')
"""

import numpy as np

import vanilla_nn.functional as F


def main() -> None:
    rng = np.random.default_rng(123)
    x = rng.random((2, 3, 5, 7))  # (N, C_in, H, W)
    w = rng.standard_normal((4, 3, 3, 3)) * 0.3  # (C_out, C_in, KH, KW)
    b = rng.standard_normal(4)
    options = dict(stride=2, padding=1, dilation=1, groups=1)

    y = F.conv2d(x, w, b, **options)
    gy = rng.random(y.shape)  # upstream gradient dL/dy
    gx, gw, gb = F.conv2d_backward(gy, x, w, b, **options)

    try:
        import torch
    except ModuleNotFoundError:
        print("PyTorch is not installed (pip install -e '.[torch]'); vanilla_nn results only.")
        torch = None

    results = {"output": y, "grad_input": gx, "grad_weight": gw, "grad_bias": gb}
    if torch is not None:
        xt = torch.tensor(x, requires_grad=True)
        wt = torch.tensor(w, requires_grad=True)
        bt = torch.tensor(b, requires_grad=True)
        yt = torch.nn.functional.conv2d(xt, wt, bt, **options)
        yt.backward(torch.tensor(gy))
        oracle = {"output": yt, "grad_input": xt.grad, "grad_weight": wt.grad, "grad_bias": bt.grad}

    np.set_printoptions(precision=6, suppress=True, linewidth=110, threshold=40, edgeitems=3)
    print(f"conv2d  input {x.shape}  weight {w.shape}  options {options}  ->  output {y.shape}\n")
    worst = 0.0
    for name, ours in results.items():
        print(f"== {name} {ours.shape}")
        print("vanilla_nn:\n", ours)
        if torch is not None:
            theirs = oracle[name].detach().numpy()
            print("PyTorch:\n", theirs)
            err = float(np.max(np.abs(ours - theirs)))
            rel = err / float(np.max(np.abs(theirs)))
            worst = max(worst, rel)
            print(f"max abs diff {err:.2e}   max rel diff {rel:.2e}\n")
    if torch is not None:
        verdict = "agree" if worst < 1e-10 else "DISAGREE"
        print(f"vanilla_nn and PyTorch {verdict} (worst relative difference {worst:.1e}, float64)")
        raise SystemExit(0 if worst < 1e-10 else 1)


if __name__ == "__main__":
    main()
