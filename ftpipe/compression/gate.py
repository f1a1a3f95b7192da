"""Pick the variant to ship: the fastest whose accuracy is within the allowed drop from fp32."""
from __future__ import annotations

REFERENCE = "fp32"
EPS = 1e-9  # accuracies are ratios of counts; keep an exact-boundary drop inside the gate


def choose(results: dict[str, dict], max_accuracy_drop: float, speed_key: str = "latency_p50_ms_b1"
           ) -> tuple[str, str]:
    """(variant, reason). fp32 is always eligible, so it ships when no compressed variant passes."""
    reference = results[REFERENCE]["accuracy"]
    floor = reference - max_accuracy_drop
    passing = {n: r for n, r in results.items() if r["accuracy"] >= floor - EPS}
    winner = min(passing, key=lambda n: (passing[n][speed_key], passing[n].get("size_mb", 0.0)))
    failed = [f"{n} {100 * (r['accuracy'] - reference):+.2f} pts" for n, r in results.items() if n not in passing]
    limit = f"{100 * max_accuracy_drop:.2f} pt accuracy drop"
    if winner != REFERENCE:
        return winner, (f"{winner}: fastest ({passing[winner][speed_key]:.2f} ms at {speed_key}) within the "
                        f"{limit}" + (f"; over the limit: {', '.join(failed)}" if failed else ""))
    if len(passing) == 1:
        return winner, f"no compressed variant within the {limit}: {', '.join(failed) or 'none measured'}; fp32 ships"
    return winner, f"fp32 is the fastest of those within the {limit}; fp32 ships"
