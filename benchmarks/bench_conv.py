"""How fast is a convolution layer's forward pass? Loops vs im2col vs PyTorch.

Companion of chapter 4 (book/04_conv_layers.ipynb). Times, in float32, the forward
pass of two layers with four implementations and prints a table:

* ``loops``            Python loop over output positions, one ``np.tensordot`` each;
* ``im2col``           patch matrix from ``sliding_window_view`` in (N, C, H, W) order,
                       then one matrix product;
* ``im2col-nhwc``      the same through a channels-last layout: the copy into the patch
                       matrix moves runs of C contiguous values, then one 2-D GEMM;
* ``im2col-per-image`` one image at a time: its patch matrix, (C*Fh*Fw, Ho*Wo), in one
                       reused buffer that stays in cache, one GEMM per image written
                       straight into the (N, C, H, W) output;
* ``torch``            ``torch.nn.functional.conv2d`` on the CPU (and on the GPU, with
                       synchronisation, when one is visible).

Layers: ``lenet`` (N=32, 1->6 channels, 32x32, 5x5) and ``vgg`` (N=8, 64->64 channels,
56x56, 3x3, padding 1). Every version is checked against PyTorch before it is timed.
This is a measurement, not a test: it never asserts anything about speed.

    python benchmarks/bench_conv.py                       # both layers, library thread defaults
    python benchmarks/bench_conv.py --threads 1           # one core for every library
    python benchmarks/bench_conv.py --layers vgg --repeats 20 --loops-budget 2
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view

LAYERS = {  # name: (x shape, w shape, stride, padding)
    "lenet": ((32, 1, 32, 32), (6, 1, 5, 5), 1, 0),
    "vgg": ((8, 64, 56, 56), (64, 64, 3, 3), 1, 1),
}


# --------------------------------------------------------------------------- implementations
# The same code as on the chapter's page (kept here so that the script runs on its own).


def out_size(n: int, f: int, stride: int, pad: int) -> int:
    return (n + 2 * pad - f) // stride + 1


def conv_loops(x, w, b, stride, pad):
    """Loop over output positions; at each, contract the window of every image with every filter."""
    N, C, H, W = x.shape
    O, _, Fh, Fw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Ho, Wo = out_size(H, Fh, stride, pad), out_size(W, Fw, stride, pad)
    y = np.empty((N, O, Ho, Wo), dtype=x.dtype)
    for i in range(Ho):
        for j in range(Wo):
            window = xp[:, :, i * stride : i * stride + Fh, j * stride : j * stride + Fw]
            y[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))
    y += b[None, :, None, None]
    return y


def conv_im2col(x, w, b, stride, pad):
    """Patch matrix (N*Ho*Wo, C*Fh*Fw) from a strided view in NCHW order, then one GEMM."""
    N, C, H, W = x.shape
    O, _, Fh, Fw = w.shape
    Ho, Wo = out_size(H, Fh, stride, pad), out_size(W, Fw, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    win = sliding_window_view(xp, (Fh, Fw), axis=(2, 3))[:, :, ::stride, ::stride]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(N * Ho * Wo, C * Fh * Fw)
    y = cols @ w.reshape(O, -1).T
    y += b
    return y.reshape(N, Ho, Wo, O).transpose(0, 3, 1, 2)


def conv_im2col_nhwc(x, w, b, stride, pad):
    """Channels-last patch matrix (runs of C contiguous values), one 2-D GEMM, NCHW result."""
    N, C, H, W = x.shape
    O, _, Fh, Fw = w.shape
    Ho, Wo = out_size(H, Fh, stride, pad), out_size(W, Fw, stride, pad)
    xh = np.pad(x.transpose(0, 2, 3, 1), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    win = sliding_window_view(xh, (Fh, Fw), axis=(1, 2))[:, ::stride, ::stride]  # (N, Ho, Wo, C, Fh, Fw)
    cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(N * Ho * Wo, Fh * Fw * C)
    y = cols @ w.transpose(0, 2, 3, 1).reshape(O, Fh * Fw * C).T
    y += b
    return np.ascontiguousarray(y.reshape(N, Ho, Wo, O).transpose(0, 3, 1, 2))


def conv_im2col_per_image(x, w, b, stride, pad):
    """Per-image patch matrix (C*Fh*Fw, Ho*Wo) in a reused buffer; GEMM written in place."""
    N, C, H, W = x.shape
    O, _, Fh, Fw = w.shape
    Ho, Wo = out_size(H, Fh, stride, pad), out_size(W, Fw, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    win = sliding_window_view(xp, (Fh, Fw), axis=(2, 3))[:, :, ::stride, ::stride]
    win = win.transpose(0, 1, 4, 5, 2, 3)  # (N, C, Fh, Fw, Ho, Wo)
    w_mat = w.reshape(O, C * Fh * Fw)
    y = np.empty((N, O, Ho * Wo), dtype=x.dtype)
    cols = np.empty((C, Fh, Fw, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        np.copyto(cols, win[n])
        np.matmul(w_mat, cols.reshape(C * Fh * Fw, Ho * Wo), out=y[n])
    y += b[:, None]
    return y.reshape(N, O, Ho, Wo)


NUMPY_METHODS = {
    "loops": conv_loops,
    "im2col": conv_im2col,
    "im2col-nhwc": conv_im2col_nhwc,
    "im2col-per-image": conv_im2col_per_image,
}


# --------------------------------------------------------------------------- timing


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def time_calls(fn, repeats: int, warmup: int, device: str = "cpu") -> list[float]:
    """Seconds per call, ``repeats`` times, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def run_layer(name: str, args) -> list[dict]:
    xs, ws, stride, pad = LAYERS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) / math.sqrt(math.prod(ws[1:]))).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    xt, wt, bt = (torch.from_numpy(a) for a in (x, w, b))
    ref = F.conv2d(xt, wt, bt, stride=stride, padding=pad).numpy()
    macs = ref.size * ws[1] * ws[2] * ws[3]
    rows = []

    def record(method, times, note="", scale=1.0):
        rows.append(
            {
                "layer": name,
                "method": method,
                "median": statistics.median(times) * scale,
                "min": min(times) * scale,
                "n": len(times),
                "macs": macs,
                "note": note,
            }
        )

    times = time_calls(lambda: F.conv2d(xt, wt, bt, stride=stride, padding=pad), args.repeats, args.warmup)
    record("torch", times)
    if torch.cuda.is_available():
        xg, wg, bg = (t.cuda() for t in (xt, wt, bt))
        # loose tolerance: cuDNN may use TF32 (10-bit mantissa) for float32 convolutions
        assert np.allclose(F.conv2d(xg, wg, bg, stride=stride, padding=pad).cpu().numpy(), ref, rtol=2e-2, atol=2e-2)
        record(
            "torch-cuda",
            time_calls(
                lambda: F.conv2d(xg, wg, bg, stride=stride, padding=pad),
                max(args.repeats, 20),
                max(args.warmup, 3),
                "cuda",
            ),
        )

    for method, fn in NUMPY_METHODS.items():
        if method == "loops" and args.loops_budget <= 0:
            rows.append(
                {
                    "layer": name,
                    "method": method,
                    "median": None,
                    "min": None,
                    "n": 0,
                    "macs": macs,
                    "note": "skipped (--loops-budget 0)",
                }
            )
            continue
        got = fn(x, w, b, stride, pad)
        assert got.shape == ref.shape and np.allclose(got, ref, rtol=1e-4, atol=1e-4), method
        repeats, warmup, note, scale, xr = args.repeats, args.warmup, "", 1.0, x
        if method == "loops":
            # The loop version is timed within a budget: fewer repeats, or a smaller batch
            # whose time is scaled up (its cost grows about linearly with the batch).
            first = time_calls(lambda: fn(x, w, b, stride, pad), 1, 0)[0]  # noqa: B023 - called at once
            if first * args.repeats > args.loops_budget:
                repeats, warmup = max(1, int(args.loops_budget / first)), 0
                note = f"{repeats} repeats only (budget {args.loops_budget:g} s)"
            if first > args.loops_budget:
                xr, repeats = x[:1], max(3, int(args.loops_budget / (first / len(x))))
                scale = float(len(x))
                note = f"batch 1, times x{len(x)} (one full call exceeds the {args.loops_budget:g} s budget)"
        timed = time_calls(lambda: fn(xr, w, b, stride, pad), repeats, warmup)  # noqa: B023 - called at once
        record(method, timed, note, scale)
    return rows


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'layer':6s} {'method':16s} {'median ms':>10s} {'min ms':>9s} {'x torch':>8s} {'GFLOP/s':>8s} {'runs':>5s}"
        "  note"
    )
    print(header)
    print("-" * len(header))
    for layer in dict.fromkeys(r["layer"] for r in rows):
        group = [r for r in rows if r["layer"] == layer]
        base = next(r["median"] for r in group if r["method"] == "torch")
        for r in group:
            if r["median"] is None:
                print(f"{layer:6s} {r['method']:16s} {'-':>10s} {'-':>9s} {'-':>8s} {'-':>8s} {0:5d}  {r['note']}")
                continue
            gflops = 2 * r["macs"] / r["median"] / 1e9
            print(
                f"{layer:6s} {r['method']:16s} {1e3 * r['median']:10.2f} {1e3 * r['min']:9.2f} "
                f"{r['median'] / base:8.2f} {gflops:8.1f} {r['n']:5d}  {r['note']}"
            )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", nargs="+", choices=list(LAYERS), default=list(LAYERS))
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per method (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls before timing")
    parser.add_argument(
        "--threads", type=int, default=None, help="threads for PyTorch and NumPy's BLAS (default: the libraries' own)"
    )
    parser.add_argument(
        "--loops-budget", type=float, default=5.0, help="seconds the loop version may take per layer (0: skip it)"
    )
    args = parser.parse_args(argv)

    limiter = None
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        try:
            from threadpoolctl import threadpool_limits

            limiter = threadpool_limits(limits=args.threads)
        except ImportError:
            print("threadpoolctl is not installed: NumPy's BLAS keeps its default thread count")
    print(
        f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"{platform.processor() or platform.machine()}, float32, forward pass only"
    )
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > cores - 0.5:
        print(
            f"warning: load average {load:.1f} on {cores} cores: other programs compete for the CPU, "
            "and multi-threaded timings (threads waiting for a busy core) are unreliable; "
            "compare with --threads 1"
        )
    for name in args.layers:
        xs, ws, stride, pad = LAYERS[name]
        print(f"  {name}: x {xs}, w {ws}, stride {stride}, padding {pad}")
    print()
    rows = []
    for name in args.layers:
        rows += run_layer(name, args)
    print_table(rows)
    print("\n'x torch' = median time / median time of torch.nn.functional.conv2d on the CPU.")
    if limiter is not None:
        limiter.restore_original_limits()


if __name__ == "__main__":
    main()
