"""The scikit-learn baseline for `footprint bench kmeans`: times KMeans and reports its inertia on the points that
`footprint bench kmeans --write FILE` wrote (same data), medians of several runs.

    ./target/release/footprint bench kmeans --write /tmp/blobs.f64
    python3 bench/sklearn_kmeans.py /tmp/blobs.f64 --rows 100000 --dims 32 --k 8
"""
import argparse
import statistics
import time

import numpy as np
from sklearn.cluster import KMeans

parser = argparse.ArgumentParser()
parser.add_argument("file")
parser.add_argument("--rows", type=int, default=100_000)
parser.add_argument("--dims", type=int, default=32)
parser.add_argument("--k", type=int, default=8)
parser.add_argument("--runs", type=int, default=5)
args = parser.parse_args()

points = np.fromfile(args.file, dtype="<f8").reshape(args.rows, args.dims)
seconds = []
inertias = []
for run in range(args.runs):
    started = time.perf_counter()
    model = KMeans(n_clusters=args.k, n_init=1, random_state=100 + run).fit(points)
    seconds.append(time.perf_counter() - started)
    inertias.append(model.inertia_)
print(
    f"scikit-learn KMeans: {args.rows} x {args.dims}, k = {args.k}, 1 init, {args.runs} runs: "
    f"time median {statistics.median(seconds):.3f} s (min {min(seconds):.3f} s, max {max(seconds):.3f} s); "
    f"inertia median {statistics.median(inertias):.1f} (min {min(inertias):.1f}, max {max(inertias):.1f})"
)
