"""Pick the variant to ship: the fastest whose accuracy, against fp32 on the same texts, is within the allowed drop
(the paired 95 % interval's lower end, not a point estimate), and whose calibration got no worse than allowed."""
from __future__ import annotations

REFERENCE = "fp32"
EPS = 1e-9  # accuracies are ratios of counts; keep an exact-boundary drop inside the gate


def passes(r: dict, max_accuracy_drop: float, max_ece_increase: float | None) -> bool:
    """The variant's accuracy change is above -max_accuracy_drop at the low end of its paired interval, and its
    ECE rose by at most max_ece_increase (None: not bounded)."""
    low = r.get("delta_accuracy_ci95", [r["delta_accuracy"]])[0]
    return low >= -max_accuracy_drop - EPS and (max_ece_increase is None or r["delta_ece"] <= max_ece_increase + EPS)


def choose(results: dict[str, dict], max_accuracy_drop: float, max_ece_increase: float | None = None,
           speed_key: str = "latency_p50_ms_b1") -> tuple[str, str]:
    """(variant, reason). fp32 is always eligible, so it ships when no compressed variant passes."""
    passing = {n: r for n, r in results.items() if n == REFERENCE or passes(r, max_accuracy_drop, max_ece_increase)}
    winner = min(passing, key=lambda n: (passing[n][speed_key], passing[n].get("size_mb", 0.0)))
    failed = [f"{n} {_change(r)}" for n, r in results.items() if n not in passing]
    limit = f"{100 * max_accuracy_drop:.2f} pt accuracy drop (paired 95 % interval)" + (
        f" and {max_ece_increase:g} ECE increase" if max_ece_increase is not None else "")
    if winner != REFERENCE:
        return winner, (f"{winner}: fastest ({passing[winner][speed_key]:.2f} ms at {speed_key}) within the "
                        f"{limit}" + (f"; over the limit: {', '.join(failed)}" if failed else ""))
    if len(passing) == 1:
        return winner, f"no compressed variant within the {limit}: {', '.join(failed) or 'none measured'}; fp32 ships"
    return winner, f"fp32 is the fastest of those within the {limit}; fp32 ships"


def _change(r: dict) -> str:
    low, high = r.get("delta_accuracy_ci95", [r["delta_accuracy"]] * 2)
    return (f"{100 * r['delta_accuracy']:+.2f} pts [{100 * low:+.2f}, {100 * high:+.2f}], "
            f"ECE {r['delta_ece']:+.4f}")
