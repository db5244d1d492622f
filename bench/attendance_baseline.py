"""The gradient-boosting baseline for `footprint eval attendance`: scikit-learn's
HistGradientBoostingClassifier on exactly the feature columns Footprint's model reads, on the
same time split, printed next to Footprint's own figures.

    ./target/release/footprint eval attendance --csv FILE --write-rows /tmp/rows.csv --json > /tmp/footprint.json
    python3 bench/attendance_baseline.py /tmp/rows.csv --footprint /tmp/footprint.json

The rows file has one column per feature, then `attended` (0/1), `split` (train|test) and the
event's `day`. The
baseline's number of trees is chosen by early stopping on the last 1/8 of the training rows
(in time order, as Footprint's are), then it is refitted on all of them with that many.
"""
import argparse
import json

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

parser = argparse.ArgumentParser()
parser.add_argument("rows")
parser.add_argument("--footprint", help="the JSON report of `footprint eval attendance --json`")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

rows = pd.read_csv(args.rows)
features = [c for c in rows.columns if c not in ("attended", "split", "day")]
train = rows[rows.split == "train"]
test = rows[rows.split == "test"]
X, y = train[features].to_numpy(), train.attended.to_numpy()
inner = len(train) - len(train) // 8
# Early stopping on the time-ordered last eighth: fit on the first 7/8, count the useful trees.
scores = []
probe_model = HistGradientBoostingClassifier(max_iter=1000, learning_rate=0.05, early_stopping=False, random_state=args.seed)
probe_model.fit(X[:inner], y[:inner])
for staged in probe_model.staged_predict_proba(X[inner:]):
    scores.append(log_loss(y[inner:], staged[:, 1], labels=[0, 1]))
best = int(np.argmin(scores)) + 1
rounds = max(1, round(best * len(train) / inner))
model = HistGradientBoostingClassifier(max_iter=rounds, learning_rate=0.05, early_stopping=False, random_state=args.seed)
model.fit(X, y)
p = model.predict_proba(test[features].to_numpy())[:, 1]
t = test.attended.to_numpy()

def row(name, auc, brier, loss):
    print(f"| {name} | {auc:.4f} | {brier:.4f} | {loss:.4f} |")

print(f"{len(features)} columns; {len(train)} training rows, {len(test)} test rows; baseline trees: {rounds} (best {best} on the last eighth)")
print("| model | ROC AUC | Brier | log loss |")
print("|---|---:|---:|---:|")
if args.footprint:
    report = json.load(open(args.footprint))
    for scored in report["models"]:
        m = scored["metrics"]
        if m["roc_auc"] is not None and scored["model"].startswith("footprint"):
            row(scored["model"], m["roc_auc"], m["brier"], m["log_loss"])
row("scikit-learn HistGradientBoosting, same columns", roc_auc_score(t, p), brier_score_loss(t, p), log_loss(t, p))
