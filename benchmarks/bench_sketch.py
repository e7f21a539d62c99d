"""Cost of the sketches of J^T: time against n and against m, with fitted exponents.

Usage::

    python benchmarks/bench_sketch.py            # n in 1k..16k at m = 4096; m in 1k..16k at n = 2000
    python benchmarks/bench_sketch.py --quick

The sketch size is fixed (s = 2000) so the exponents measure the work per column,
``O(n (m log m + d log d) + n s)`` for the tensor sketches; with ``s = gamma n`` the output
itself has ``gamma n^2`` entries. Peak memory is NumPy's allocations (tracemalloc); an
``n x P`` array of the same run is shown for scale. Writes ``benchmarks/sketch.md``.
"""

import argparse
import platform
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from skgn._network import TwoLayerReLU, add_bias_feature
from skgn._sketching import SKETCHES


def factors(n, m, d, seed=0):
    rng = np.random.default_rng(seed)
    X_tilde = add_bias_feature(rng.standard_normal((n, d)), True)
    W = rng.standard_normal((m, d + 1))
    signs = rng.choice([-1.0, 1.0], size=(m, 1))
    return TwoLayerReLU(signs).jacobian(W, X_tilde).kron_factors()


def measure(name, U, V, s, repeat=3):
    drawn = SKETCHES[name](s, random_state=0).draw((U.shape[1], V.shape[1]))
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        drawn.sketch_kron(U, V)
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    drawn.sketch_kron(U, V)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sketches", nargs="+", default=["tensor_srht", "tensorsketch"])
    args = parser.parse_args(argv)
    d, s = 20, 2000
    ns = [1000, 2000, 4000] if args.quick else [1000, 2000, 4000, 8000, 16000]
    ms = [1024, 2048, 4096] if args.quick else [1024, 2048, 4096, 8192, 16384]
    lines = [
        f"Command: `python benchmarks/bench_sketch.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
        f"Machine: {platform.machine()}, Python {platform.python_version()}, numpy "
        f"{np.__version__}; d={d}, s={s}, float64, best of 3.",
        "",
        "| sketch | n | m | seconds | peak MiB | n x P array MiB |",
        "|---|---|---|---|---|---|",
    ]
    exps = []
    for name in args.sketches:
        tn = []
        for n in ns:
            U, V = factors(n, 4096, d)
            sec, peak = measure(name, U, V, s)
            tn.append(sec)
            lines.append(f"| {name} | {n} | 4096 | {sec:.3f} | {peak / 2**20:.1f} | "
                         f"{n * 4096 * (d + 1) * 8 / 2**20:.0f} |")
            print(lines[-1], flush=True)
        tm = []
        for m in ms:
            U, V = factors(2000, m, d)
            sec, peak = measure(name, U, V, s)
            tm.append(sec)
            lines.append(f"| {name} | 2000 | {m} | {sec:.3f} | {peak / 2**20:.1f} | "
                         f"{2000 * m * (d + 1) * 8 / 2**20:.0f} |")
            print(lines[-1], flush=True)
        exps.append((name, np.polyfit(np.log(ns), np.log(tn), 1)[0],
                     np.polyfit(np.log(ms), np.log(tm), 1)[0]))
    lines += ["", "| sketch | exponent in n | exponent in m |", "|---|---|---|"]
    lines += [f"| {name} | {en:.2f} | {em:.2f} |" for name, en, em in exps]
    text = "\n".join(lines)
    print(text)
    Path(__file__).with_name("sketch.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
