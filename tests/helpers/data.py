"""Labelled text for the tests: generated sentiment rows, English reviews split as clean writes them, and the
eight snippets the compression tests' tiny classifier reads."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

# clean-stage splits for the augment tests: real sentences (WordNet has synonyms for them) plus hostile ones
TRAIN_REVIEWS = [
    ("The acting is wonderful and the story keeps you guessing until the end.", 1),
    ("A beautiful film with a clever script and strong performances.", 1),
    ("The director builds tension slowly, and the payoff is worth the wait.", 1),
    ("Funny, warm and surprisingly moving, this comedy deserves a large audience.", 1),
    ("The music is lovely and the photography captures the city at night.", 1),
    ("An honest portrait of a family that refuses to give up hope.", 1),
    ("The plot is dull and the characters never feel real.", 0),
    ("A boring movie that wastes a talented cast on a silly script.", 0),
    ("The jokes fall flat and the pacing drags badly in the middle.", 0),
    ("It's a loud, empty picture with nothing to say.", 0),
    ("The red car is fast", 1),
    ("He paid $5 for <b>it</b> [sic] ^ \\ @home and left.", 0),
]
VALIDATION_REVIEWS = [("A clever and moving drama about two old friends.", 1),
                      ("The story is thin and the ending is weak.", 0)]
TEST_REVIEWS = [("A tense thriller with a terrific lead performance.", 1), ("Slow, dull and far too long.", 0)]

# the compression tests' inputs: eight snippets, alternately positive (1) and negative (0)
SNIPPET_NAMES = ["negative", "positive"]
SNIPPETS = ["a warm and funny film", "dull, slow and far too long", "the cast is superb",
            "I walked out after an hour", "an instant classic", "not worth the ticket",
            "sharp writing and a great score", "a mess from start to finish"]
SNIPPET_LABELS = [1, 0, 1, 0, 1, 0, 1, 0]


def sentiment_rows(n: int = 60, classes: tuple[str, ...] = ("pos", "neg")) -> list[dict]:
    """Distinct, clearly labelled texts for small pipelines."""
    words = {"pos": "wonderful superb delightful", "neg": "dreadful boring awful", "neu": "average plain ordinary"}
    return [{"text": f"review {i}: a {words[c].split()[i % 3]} film number {i}", "label": c}
            for i in range(n) for c in classes][:n * len(classes)]


def write_clean(root: Path, train=TRAIN_REVIEWS, validation=VALIDATION_REVIEWS, test=TEST_REVIEWS) -> None:
    """data/clean/{train,validation,test}.parquet + labels.json, as the clean stage writes them."""
    clean = root / "data" / "clean"
    clean.mkdir(parents=True, exist_ok=True)
    start = 0
    for name, rows in (("train", train), ("validation", validation), ("test", test)):
        frame = pd.DataFrame(rows, columns=["text", "label"]).astype({"label": "int64"})
        frame["source_row"] = pd.Series(range(start, start + len(rows)), dtype="int64")
        start += len(rows)
        frame.to_parquet(clean / f"{name}.parquet", index=False)
    (clean / "labels.json").write_text(json.dumps({"names": ["negative", "positive"]}))


def noisy_sentiment_rows(per_class: int = 100, flips: int = 10, seed: int = 0) -> tuple[list[dict], set[str]]:
    """Separable two-class texts (two class words among neutral filler), with `flips` labels swapped: the rows
    and the flipped texts, for the label audit's tests."""
    import random

    rng = random.Random(seed)
    words = {"pos": "wonderful superb delightful brilliant charming moving".split(),
             "neg": "dreadful boring awful tedious clumsy dull".split()}
    filler = "the film plot actor scene story camera music night city house road cast year".split()
    rows = [{"text": f"{i} {rng.choice(filler)} {rng.choice(words[c])} {rng.choice(filler)} {rng.choice(words[c])} "
                     f"{rng.choice(filler)}", "label": c} for c in words for i in range(per_class)]
    flipped = rng.sample(range(len(rows)), flips)
    for i in flipped:
        rows[i]["label"] = "neg" if rows[i]["label"] == "pos" else "pos"
    return rows, {rows[i]["text"] for i in flipped}
