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


def _number(value: float | str | None, digits: int) -> str:
    if value is None or isinstance(value, str | int):
        return "" if value is None else str(value)
    return f"{value:.{digits}f}"


def _g(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _time_markdown(board: dict[str, Any]) -> str:
    """The table ranked by time to target: medians with their 95 % bounds (- : not reached
    by half the runs, or unbounded)."""
    lines = [f"| rank | activation | reached | median epochs to {board['target']} [95 %] | "
             "median s | p (log-rank, Holm) | verdict |", "|---:|---|---:|---|---:|---:|---|"]
    for row in board["entries"]:
        p = f"{row['p_holm']:.3g}" if row.get("p_holm") is not None else ""
        lines.append(f"| {row['rank']:g} | {row['label']} | {row['target_reached']}/"
                     f"{row['target_runs']} | {_g(row['median_epochs'])} "
                     f"[{_g(row['median_epochs_low'])}, {_g(row['median_epochs_high'])}] | "
                     f"{_g(row['median_seconds'])} | {p} | {row.get('verdict') or ''} |")
    return "\n".join(lines) + "\n"


def _extra_columns(rows: list[dict[str, Any]], metric: str) -> list[str]:
    """The loss and the sparsity beside the ranked metric where the runs recorded them, a
    raced sweep's decisions, and the seeds that diverged or failed wherever any did."""
    extra = [c for c in ("val_loss", "val_sparsity", "val_sparsity_cett", "decision",
                         "decided_round")
             if c != metric and any(row.get(c) is not None for row in rows)]
    return extra + [c for c in ("diverged", "failed") if any(row.get(c) for row in rows)]


def leaderboard_markdown(board: dict[str, Any], digits: int = 4) -> str:
    """The ranked table; a `recipe` column appears when entries differ in more than the
    activation (only entries with the same recipe are tested against each other)."""
    if board.get("target"):
        return _time_markdown(board)
    metric = board["metric"]
    with_recipe = bool(board.get("differs_by"))
    recipe_head, recipe_rule = (" recipe |", "---|") if with_recipe else ("", "")
    extra = _extra_columns(board["entries"], metric)
    lines = [f"| rank | activation |{recipe_head} {metric} (mean ± std) | n | p (Holm) | d "
             f"| verdict |{''.join(f' {c} |' for c in extra)}",
             f"|---:|---|{recipe_rule}---|---:|---:|---:|---|{'---:|' * len(extra)}"]
    for row in board["entries"]:
        p = f"{row['p_holm']:.3g}" if row.get("p_holm") is not None else ""
        d = f"{row['cohens_d']:.2f}" if row.get("cohens_d") is not None else ""
        recipe = f" {row.get('recipe') or ''} |" if with_recipe else ""
        more = "".join(f" {_number(row.get(c), digits)} |" for c in extra)
        lines.append(f"| {row['rank']:g} | {row['label']} |{recipe} {_pm(row, digits)} | "
                     f"{row['n']} | {p} | {d} | {row.get('verdict') or ''} |{more}")
    return "\n".join(lines) + "\n"


def _tex(text: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("&", r"\&"),
                          ("%", r"\%"), ("#", r"\#"), ("$", r"\$")):
        text = text.replace(char, escaped)
    return text


def leaderboard_latex(board: dict[str, Any], digits: int = 4) -> str:
    metric = _tex(board["metric"])
    with_recipe = bool(board.get("differs_by"))
    lines = [rf"\begin{{tabular}}{{rl{'l' if with_recipe else ''}rrll}}", r"\hline",
             rf"Rank & Activation & {'Recipe & ' if with_recipe else ''}{metric} & $n$ & "
             rf"$p_\mathrm{{Holm}}$ & Verdict \\", r"\hline"]
    for row in board["entries"]:
        value = _pm(row, digits).replace("±", r"$\pm$")
        p = f"{row['p_holm']:.3g}" if row.get("p_holm") is not None else "--"
        recipe = f"{_tex(row.get('recipe') or '')} & " if with_recipe else ""
        lines.append(rf"{row['rank']:g} & {_tex(row['label'])} & {recipe}{value} & "
                     rf"{row['n']} & {p} & {_tex(row.get('verdict') or '')} \\")
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
