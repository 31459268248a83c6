"""Tables out of the dashboards: CSV for every table, Markdown and LaTeX for the leaderboard
(mean +- std, n), ready for a paper."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return ""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns and not isinstance(row[k], dict | list)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _pm(row: dict[str, Any], digits: int) -> str:
    if row.get("mean") is None:
        return "n/a"
    std = row.get("std")
    return f"{row['mean']:.{digits}f} ± {std:.{digits}f}" if std is not None \
        else f"{row['mean']:.{digits}f}"


def leaderboard_markdown(board: dict[str, Any], digits: int = 4) -> str:
    metric = board["metric"]
    lines = [f"| rank | activation | {metric} (mean ± std) | n | p (Holm) | d | verdict |",
             "|---:|---|---|---:|---:|---:|---|"]
    for row in board["entries"]:
        p = f"{row['p_holm']:.3g}" if row.get("p_holm") is not None else ""
        d = f"{row['cohens_d']:.2f}" if row.get("cohens_d") is not None else ""
        lines.append(f"| {row['rank']:g} | {row['label']} | {_pm(row, digits)} | {row['n']} | "
                     f"{p} | {d} | {row.get('verdict') or ''} |")
    return "\n".join(lines) + "\n"


def _tex(text: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("&", r"\&"),
                          ("%", r"\%"), ("#", r"\#"), ("$", r"\$")):
        text = text.replace(char, escaped)
    return text


def leaderboard_latex(board: dict[str, Any], digits: int = 4) -> str:
    metric = _tex(board["metric"])
    lines = [r"\begin{tabular}{rlrrl}", r"\hline",
             rf"Rank & Activation & {metric} & $n$ & $p_\mathrm{{Holm}}$ \\", r"\hline"]
    for row in board["entries"]:
        value = _pm(row, digits).replace("±", r"$\pm$")
        p = f"{row['p_holm']:.3g}" if row.get("p_holm") is not None else "--"
        lines.append(rf"{row['rank']:g} & {_tex(row['label'])} & {value} & {row['n']} & "
                     rf"{p} \\")
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
