"""Check the tau label of every row of ``authors_pnas_fig5.csv`` against the authors' git history.

Each stored file ``.../resultsdump/<job>/error-<i>.txt`` of Pehlevan-Group/icl-asymptotic holds one
test error per line, appended by every run of the job's ``run.py`` with tau index ``i``
(``tvals[i]``). A job folder was reused across sweeps whose ``tvals`` grids differ, so the tau of
a line is the grid of the script *as committed with that line*. For every row this tool finds the
commit that added its line (``git blame`` at the row's commit; the row's ``run`` is the 0-based
line). Rows are then grouped into *sittings* (one job folder, one ``added_in``): a sitting's tau
labels are confirmed by a ``tvals`` grid of the job's ``run.py`` (its first uncommented assignment)
when that grid, at the file indices the sitting wrote, gives exactly the rows' taus. Four more
columns are written:

* ``added_in``, ``added_date``: the commit (8 hex digits) and date that added the line;
* ``grid_commit``: the commit of the ``run.py`` whose grid confirms the sitting's labels, the
  script committed with the lines (``added_in``) preferred, then the nearest other commit of that
  script (a sweep whose results were committed beside an older or newer script); empty where no
  committed grid does (the labels came from elsewhere; see docs/transformer.md);
* ``grid_len``: the length of that grid (empty where none);
* ``label_check``: ``grid`` (confirmed as above), ``listing`` (confirmed by the authors' own
  listing of the results before their files were renamed, see ``LISTINGS``), ``contradicted``
  (that listing puts these very values at another tau), ``sitting contradicted`` (another row of
  the same sitting is contradicted, so the sitting's file names cannot be trusted) or
  ``unconfirmed`` (neither check applies; the label is the one a plotting script of the authors
  gives, see docs/transformer.md). ``icl_asymptotics.pnas_experiments.read_authors`` leaves out
  the two ``contradicted`` kinds.

Needs a clone of the authors' repository (``fetch``: /work/.mirror/Pehlevan-Group+icl-asymptotic/repo);
reads, never writes, there. Run from the project root::

    python docs/results/authors_provenance.py --git-dir /path/to/icl-asymptotic/.git \\
        docs/results/authors_pnas_fig5.csv -o docs/results/authors_pnas_fig5.csv

Not part of the package or the tests (CI has no copy of that repository); its output is committed.
"""
from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
from datetime import datetime, timezone

import numpy as np

_SAFE = re.compile(r"^[\s\d.,\[\]()+\-e]*$")  # what is left of a grid once np.array/np.linspace/list are removed


#: The authors' listings of results made before a job's files were renamed to a new tau grid:
#: (plotting script, {array name: job folder}, the taus of the listing's rows). In
#: linear_error_curves/resultsdump/errorplot.py the commented arrays ``ar20_14``, ``ar40_14`` hold
#: 5 runs per tau of the first 14 taus of the old 17-value grid (its commented ``taus`` line);
#: ``job_linear_20_part1/rename.py`` then moved old file i to new index (0..16 -> 0,2,...,20,21,...,26).
_OLD17 = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 2.0, 2.5, 3.0, 5.0, 7.0, 10.0]
LISTINGS = [("Nonlinear/experiment/remote/linear_error_curves/resultsdump/errorplot.py",
             {"ar20_14": "Nonlinear/experiment/remote/linear_error_curves/resultsdump/job_linear20",
              "ar40_14": "Nonlinear/experiment/remote/linear_error_curves/resultsdump/job_linear40"},
             _OLD17[:14])]


def listing_taus(git_dir: str, commit: str = "HEAD") -> dict[str, list[tuple[float, list[float]]]]:
    """``{job: [(tau, [5 errors])]}`` from :data:`LISTINGS` (the script at ``commit``)."""
    import ast

    out = {}
    for script, arrays, taus in LISTINGS:
        text = _git(git_dir, "show", f"{commit}:{script}")
        for name, job in arrays.items():
            m = re.search(rf"^#\s*{name}\s*=\s*np\.array\((\[\[.*?\]\])\)", text, re.M)
            if m:
                out[job] = list(zip(taus, ast.literal_eval(m.group(1))))
    return out


def _git(git_dir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, *args], check=True, capture_output=True, text=True).stdout


def blame(git_dir: str, commit: str, path: str) -> list[tuple[str, str]]:
    """``[(commit, date)]`` of every line of ``path`` at ``commit``: the commit that added it."""
    out, meta, lines = _git(git_dir, "blame", "--line-porcelain", commit, "--", path), {}, []
    sha = None
    for line in out.splitlines():
        if line.startswith("\t"):
            lines.append((sha[:8], meta[sha]))
        elif re.match(r"^[0-9a-f]{40} ", line):
            sha = line.split()[0]
        elif line.startswith("committer-time "):
            t = datetime.fromtimestamp(int(line.split()[1]), tz=timezone.utc)
            meta[sha] = t.strftime("%Y-%m-%d")
    return lines


def grid(git_dir: str, commit: str, script: str) -> list[float] | None:
    """The file-index -> tau map of ``script`` at ``commit``: its ``tvals`` grid (the first
    uncommented assignment), shifted by the script's ``tauind = tauind + OFFSET`` where it has one
    (file ``error-{i}`` then holds ``tvals[i - OFFSET]``; NaN below the offset), or None."""
    try:
        text = _git(git_dir, "show", f"{commit}:{script}")
    except subprocess.CalledProcessError:
        return None
    shift = re.search(r"^tauind\s*=\s*tauind\s*\+\s*(\d+)", text, re.M)
    offset = int(shift.group(1)) if shift else 0
    for line in text.splitlines():
        m = re.match(r"^tvals\s*=\s*(.*?);?\s*(P\s*=.*)?$", line.split("#")[0].strip())
        if not m:
            continue
        expr = m.group(1).rstrip("; ")
        if not _SAFE.match(re.sub(r"np\.array|np\.linspace|list", "", expr)):
            return None  # not a literal grid: say so rather than guess
        values = [float(v) for v in eval(expr, {"__builtins__": {}, "np": np, "list": list})]  # noqa: S307
        return [float("nan")] * offset + values
    return None


def script_grids(git_dir: str, script: str) -> list[tuple[str, str, list[float]]]:
    """``[(commit, date, grid)]`` of every commit of ``script`` with a readable grid, oldest first."""
    out = []
    for line in _git(git_dir, "log", "--all", "--reverse", "--format=%h %cs", "--", script).splitlines():
        c, date = line.split()
        g = grid(git_dir, c, script)
        if g is not None:
            out.append((c[:8], date, g))
    return out


def annotate(rows: list[dict], git_dir: str) -> list[dict]:
    blames, sittings = {}, {}
    out = []
    for r in rows:
        path, commit = r["source_path"], r["commit"]
        if (commit, path) not in blames:
            blames[commit, path] = blame(git_dir, commit, path)
        lines, run = blames[commit, path], int(r["run"])
        added, date = lines[run] if run < len(lines) else ("", "")
        job = path.rsplit("/", 1)[0]
        i = int(re.search(r"error-(\d+)\.txt$", path).group(1))
        sittings.setdefault((job, added), {})[i] = float(r["tau"])
        out.append({**r, "added_in": added, "added_date": date})
    grids, found = {}, {}
    for (job, added), taus in sittings.items():
        script = job.split("/resultsdump/")[0] + "/run.py"
        if script not in grids:
            grids[script] = script_grids(git_dir, script)
        cands = sorted(grids[script], key=lambda cdg: (cdg[0][:8] != added[:8], abs(_days(cdg[1], out, added))))
        ok = [(c, g) for c, _, g in cands
              if all(i < len(g) and abs(g[i] - tau) < 1e-9 for i, tau in taus.items())]
        found[job, added] = ok[0] if ok else ("", [])
    for r in out:
        c, g = found[r["source_path"].rsplit("/", 1)[0], r["added_in"]]
        r["grid_commit"], r["grid_len"] = c, (len(g) if c else "")
        r["label_check"] = "grid" if c else "unconfirmed"
    # the authors' pre-rename listings: find each listed set of 5 values among the rows of its job
    files = {}
    for r in out:
        files.setdefault(r["source_path"], []).append(r)
    bad_sittings = set()
    for job, listed in listing_taus(git_dir).items():
        for tau, values in listed:
            for path, rs in files.items():
                if path.rsplit("/", 1)[0] != job:
                    continue
                hit = [r for r in rs if any(abs(float(r["icl"]) - v) <= 1e-6 * abs(v) for v in values)]
                if len(hit) == len(values):
                    for r in hit:
                        if r["label_check"] == "grid":
                            continue  # a committed grid confirms it already
                        if abs(float(r["tau"]) - tau) < 1e-9:
                            r["label_check"] = "listing"
                        else:
                            r["label_check"] = "contradicted"
                            bad_sittings.add((job, r["added_in"]))
    for r in out:
        if r["label_check"] == "unconfirmed" and (r["source_path"].rsplit("/", 1)[0], r["added_in"]) in bad_sittings:
            r["label_check"] = "sitting contradicted"
    return out


def _days(date: str, rows: list[dict], added: str) -> int:
    d0 = next(r["added_date"] for r in rows if r["added_in"] == added)
    return (datetime.fromisoformat(date) - datetime.fromisoformat(d0)).days


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("table", help="authors_pnas_fig5.csv")
    p.add_argument("--git-dir", required=True, help="the .git folder of a clone of Pehlevan-Group/icl-asymptotic")
    p.add_argument("-o", "--output", required=True, help="where to write the annotated table")
    a = p.parse_args(argv)
    with open(a.table, newline="") as fh:
        rows = list(csv.DictReader(fh))
    new = ["added_in", "added_date", "grid_commit", "grid_len", "label_check"]
    base = [k for k in rows[0] if k not in new]
    done = annotate([{k: r[k] for k in base} for r in rows], a.git_dir)
    with open(a.output, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=base + new,
                           lineterminator="\n")
        w.writeheader()
        w.writerows(done)
    from collections import Counter

    print(f"wrote {a.output}: {len(done)} rows; label_check: {dict(Counter(r['label_check'] for r in done))}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
