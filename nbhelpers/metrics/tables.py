"""The metric rows of ``Evaluator`` as a reader sees them: one table of final numbers per sample
set (``fid_table``), one sentence of fidelity and diversity (``fidelity_line``), FID curves over
training (``fid_curves``). Inception and classifier values never share a column or an axis: they
are on different scales.
"""
import pandas as pd

_TITLES = {"inception": "Inception", "classifier": "classifier"}


def fid_table(results: dict):
    """A pandas table, one row per sample set, each extractor in its own columns.

    ``results`` maps a name to ``Evaluator.evaluate`` output or to a list of FID rows (one
    per extractor). Columns: "<extractor> FID", "<extractor> N", "<extractor> ref" (and
    "<extractor> biased" when any row is), then KID and class coverage where present.
    Inception and classifier values never share a column: they are on different scales.
    """
    records = {}
    for name, result in results.items():
        rows = result["fid"] if isinstance(result, dict) and "fid" in result else result
        rows = [rows] if isinstance(rows, dict) else list(rows)
        record = {}
        for row in rows:
            title = _TITLES[row["features"]]
            if f"{title} FID" in record:
                raise ValueError(f"{name!r} has two {row['features']} FID rows (an epoch curve?); "
                                 f"use fid_curves for those")
            record.update({f"{title} FID": row["value"], f"{title} N": row["n"], f"{title} ref": row["ref"]})
            if row.get("biased"):
                record[f"{title} biased"] = True
        if isinstance(result, dict) and "kid" in result:
            k = result["kid"]
            record.update({f"{_TITLES[k['features']]} KID": k["mean"], f"{_TITLES[k['features']]} KID std": k["std"]})
        if isinstance(result, dict) and "class_coverage" in result:
            c = result["class_coverage"]
            record.update({"digits covered": c["covered"], "class entropy (bits)": c["entropy"]})
        for key, names in (("precision_recall", ("precision", "recall")), ("density_coverage", ("density", "coverage"))):
            row = result.get(key) if isinstance(result, dict) else None
            if row:
                record.update({f"{name} (k={row['k']})": row[name] for name in names})
        records[name] = record
    table = pd.DataFrame.from_dict(records, orient="index")
    for column in table.columns:
        if column.endswith("biased"):
            table[column] = table[column].astype("boolean").fillna(False)
    return table


def fidelity_line(result: dict) -> str:
    """One sentence with the precision/recall and density/coverage of an ``evaluate`` result."""
    pr, dc = result.get("precision_recall"), result.get("density_coverage")
    if not pr or not dc:
        return "precision/recall not measured"
    note = " (biased at this N: compare only at the same N)" if pr.get("biased") else ""
    return (f"{pr['features']} features, N={pr['n']} vs {pr['ref']}: precision {pr['precision']:.3f}, recall "
            f"{pr['recall']:.3f} (k={pr['k']}); density {dc['density']:.3f}, coverage {dc['coverage']:.3f} "
            f"(k={dc['k']}){note}")


def fid_curves(ax, curves: dict, features: str = "classifier", title: str = ""):
    """FID against epoch for several runs: ``curves`` maps a name to its FID rows.

    Only rows of ``features`` are drawn; they must share N and reference, which the axis
    label states (a curve is comparable only within one N and reference).
    """
    settings = set()
    for name, rows in curves.items():
        rows = sorted((r for r in rows if r["features"] == features), key=lambda r: r["epoch"])
        settings |= {(r["n"], r["ref"]) for r in rows}
        ax.plot([r["epoch"] for r in rows], [r["value"] for r in rows], marker="o", markersize=3, label=name)
    if len(settings) > 1:
        raise ValueError(f"the curves mix sample sizes / references {sorted(settings)}: not comparable")
    n, ref = settings.pop() if settings else ("?", "?")
    ax.set(xlabel="epoch", ylabel=f"{_TITLES[features]} FID (N={n}, vs {ref})", title=title)
    if len(curves) > 1:
        ax.legend()
    return ax
