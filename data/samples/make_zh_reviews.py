"""Write zh_reviews.csv: short Chinese product/film/restaurant reviews labelled 好评 / 差评.

Generated from phrase templates written for this project (no external dataset), seeded, so the file
is reproducible: `python data/samples/make_zh_reviews.py`. Some rows use full-width letters, digits
and punctuation, Latin brand words or emoji, as real Chinese reviews do; a few are junk or duplicates
so cleaning has something to drop.
"""
from __future__ import annotations

import csv
import random
from pathlib import Path

SUBJECTS = ["这部电影", "这家餐厅", "这本书", "这款手机", "酒店的服务", "这次旅行", "这个耳机", "快递",
            "这家店的外卖", "这台电脑", "演员的表演", "剧情", "这双鞋", "客服", "这款游戏", "房间"]
WHEN = ["", "昨天买的", "上周看的", "周末去的", "第二次来，", "朋友推荐的，", "用了一个月，"]
ADVERBS = ["", "真的", "确实", "实在", "非常", "特别"]
POSITIVE = ["很好看", "物超所值", "让人惊喜", "很周到", "质量很好", "值得一看", "味道很棒", "速度很快",
            "做工精致", "音质清晰", "很舒服", "超出预期", "很有意思", "性价比很高"]
NEGATIVE = ["太无聊了", "质量很差", "不值这个价", "态度很差", "让人失望", "味道一般还很贵", "用两天就坏了",
            "速度太慢", "做工粗糙", "杂音很大", "很不舒服", "浪费时间", "一点意思都没有", "性价比很低"]
POS_END = ["。", "！", "，强烈推荐。", "，下次还来！", "，五星好评👍", "，ＯＫ！", "，给１０分。", "，会回购的。"]
NEG_END = ["。", "！", "，不推荐。", "，再也不来了。", "，差评👎", "，退货了。", "，只给１分。", "，别买。"]
BRANDS = [""] * 12 + ["iPhone ", "Sony ", "ＡＢＣ牌"]


def review(rng: random.Random, positive: bool) -> str:
    words, ends = (POSITIVE, POS_END) if positive else (NEGATIVE, NEG_END)
    subject = rng.choice(BRANDS) + rng.choice(SUBJECTS)
    word = rng.choice(words)
    adverb = "" if word.startswith("很") else rng.choice(ADVERBS)  # no 非常很: the adverb replaces 很
    return f"{rng.choice(WHEN)}{subject}{adverb}{word}{rng.choice(ends)}"


def main(n_per_class: int = 200, seed: int = 8) -> None:
    rng = random.Random(seed)
    rows: dict[str, str] = {}
    for label in ("好评", "差评"):
        while sum(v == label for v in rows.values()) < n_per_class:
            rows.setdefault(review(rng, label == "好评"), label)
    first = next(iter(rows))
    extra = [("。。。！", "差评"), ("👍👍", "好评"), (first, rows[first])]  # junk, junk, an exact duplicate
    keys = list(rows)
    rng.shuffle(keys)
    out = Path(__file__).with_name("zh_reviews.csv")
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows([(k, rows[k]) for k in keys] + extra)
    print(f"wrote {out}: {len(rows)} reviews + {len(extra)} rows for cleaning to drop")


if __name__ == "__main__":
    main()
