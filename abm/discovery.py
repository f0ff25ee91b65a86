"""Scenario discovery: which combinations of conditions lead to an outcome class.

Sobol and Morris indices say which parameters matter on average; scenario discovery
says *where* in the parameter space an outcome of interest (a fragmented region, say)
concentrates. An experiment declares outcome classes as comparisons of a summary with a
number or a quantile over runs::

    outcomes:
      fragmented: fragmentation_south_caucasus_final > 0.5
      divided: division_final >= q80            # the top fifth of runs

and a ``discovery`` chart per class. ``abm report`` then runs, on one row per run
(swept parameters, and the base scenario when there are several, against the class):

* PRIM (Friedman & Fisher 1999, as adapted for scenario discovery by Bryant & Lempert
  2010): the peeling trajectory (coverage against density of each box), the chosen box
  (the one with the largest coverage whose density reaches the chart's ``density``) and
  its limits with quasi-p-values (one-sided binomial test that the restriction matters);
  the *pruned* box, the chosen box with only its significant limits (:func:`significance`),
  counted on the runs; and a check out of sample: PRIM refitted on random halves of the
  parameter points, each half's box chosen by the same rule and counted on the other half
  (:func:`holdout`), since a box's in-sample density flatters it;
* a CART tree (scikit-learn's DecisionTreeClassifier on the inputs coded as EMA Workbench's
  CART codes them, each category a 0/1 column; its leaves counted here);
* feature scores (extra-trees impurity importances, Jaxa-Rozen & Kwakkel 2018; EMA
  Workbench codes a category as one integer per value, in alphabetical order, so the trees
  split it as if its values were ordered).

The algorithms are EMA Workbench's (``ema_workbench.analysis``), imported only when a
discovery is computed, so loading an experiment stays cheap. This module parses and
evaluates the class expressions (used by :mod:`abm.experiment` to validate them, and by
the report for each point's share of runs in a class) and draws the results with the
report's conventions (:mod:`abm.chartstyle`).
"""

from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

# <summary> <op> <number | qP | quantile(p)>, joined by "and"
_TERM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*(>=|<=|>|<)\s*(?:(q)(\d+(?:\.\d+)?)|quantile\(\s*(\d*\.?\d+)\s*\)|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))\s*$")
GRAMMAR = "'<summary> <op> <threshold>' with op one of > >= < <= and threshold a number, qP (percentile P of the runs, 0-100) or quantile(p) (0-1); terms joined by 'and'"
OPS = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}


class ClassError(ValueError):
    """An outcome class expression that cannot be read (the message says why)."""


@dataclass(frozen=True)
class Term:
    summary: str
    op: str
    value: float
    quantile: bool  # value is a quantile (0-1) of the summary over runs, not a number


def parse(expression: str) -> list[Term]:
    """Terms of a class expression; raises :class:`ClassError` with the grammar."""
    if not isinstance(expression, str) or not expression.strip():
        raise ClassError(f"give an expression {GRAMMAR}")
    terms = []
    for part in re.split(r"\s+and\s+", expression.strip()):
        m = _TERM.match(part)
        if not m:
            raise ClassError(f"cannot read {part.strip()!r}: write {GRAMMAR}")
        name, op, q, pct, frac, number = m.groups()
        if q:
            value, quantile = float(pct) / 100, True
        elif frac is not None:
            value, quantile = float(frac), True
        else:
            value, quantile = float(number), False
        if quantile and not 0 < value < 1:
            raise ClassError(f"{part.strip()!r}: a quantile must lie strictly between 0 and 1 (q between 0 and 100)")
        if not np.isfinite(value):
            raise ClassError(f"{part.strip()!r}: the threshold must be finite")
        terms.append(Term(name, op, value, quantile))
    return terms


def thresholds(table: pd.DataFrame, expression: str) -> list[tuple[Term, float]]:
    """Each term of a class expression with the number its summary is compared with: a
    quantile's taken over the rows of ``table`` (one row per run), NaNs left out. A
    quantile of a summary without a value in any row (a threshold no run crossed) does not
    exist: :class:`ClassError` says so, where a NaN threshold would class no run and give
    the class a share of 0 that no run decided."""
    found = []
    for t in parse(expression):
        if not t.quantile:
            found.append((t, t.value))
            continue
        values = table[t.summary].to_numpy(dtype=float)
        if np.isnan(values).all():
            raise ClassError(f"'{t.summary}' has no value in any of the {len(values)} runs, so it has no quantile q{100 * t.value:g}")
        found.append((t, float(np.nanquantile(values, t.value))))
    return found


def classify(table: pd.DataFrame, expression: str) -> np.ndarray:
    """Boolean class of each row of ``table`` (one row per run). Quantiles are taken over
    the rows given; a NaN summary (a threshold never crossed) is never in the class."""
    inside = np.ones(len(table), dtype=bool)
    for t, threshold in thresholds(table, expression):
        values = table[t.summary].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            inside &= OPS[t.op](values, threshold) & ~np.isnan(values)
    return inside


# --------------------------------------------------------------------------- analysis


@dataclass
class Discovery:
    """Results of one discovery: every table the report writes."""

    outcome: str
    expression: str
    share: float  # share of runs in the class
    trajectory: pd.DataFrame  # PRIM peeling trajectory: one row per box
    chosen: int  # index of the chosen box in the trajectory
    box: pd.DataFrame  # chosen box: parameter, min, max, quasi-p-values, the full range, the pruned box's limits, how many refits restrict it
    cart: pd.DataFrame  # CART leaves: coverage, density, mass, the leaf's limits
    tree: object  # the fitted sklearn DecisionTreeClassifier
    features: list[str]  # CART's feature names (categories as dummies)
    scores: pd.DataFrame  # feature: extra-trees importance
    peeled: object = None  # EMA Workbench's PrimBox: every box of the trajectory
    inputs: pd.DataFrame | None = None  # the input space searched (features())
    blank: int = 0  # runs outside the class because a summary it names has no value
    pruned: dict | None = None  # the chosen box with its significant limits only: coverage, density, mass, n, k
    holdout: pd.DataFrame | None = None  # one row per refit on a random half (holdout())

    def box_at(self, i: int) -> pd.DataFrame:
        """Limits and quasi-p-values of box ``i`` of the peeling trajectory (the table
        ``box`` holds for the chosen one, but for its ``refits_`` counts), for choosing another
        box by hand."""
        if i not in set(self.trajectory["id"]):
            raise KeyError(f"no box {i} on the peeling trajectory (boxes 0-{int(self.trajectory['id'].max())})")
        return _box_table(self.peeled, i, self.inputs)

    def describe(self, i: int) -> str:
        """One line on box ``i``: its coverage, density, runs and restricted parameters."""
        c = self.trajectory.set_index("id").loc[i]
        limits = self.box_at(i)
        restricted = ", ".join(limits["parameter"]) or "none (the whole space)"
        return f"box {i}: coverage {c['coverage']:.2f}, density {c['density']:.2f}, {int(c['n'])} runs ({c['mass']:.0%}); restricts {restricted}"


ALPHA = 0.05  # a box's family-wise error rate: the chance that any of its limits passes as significant by chance alone
HOLDOUT_FITS = 5  # refits on random halves of the points (holdout()); a discovery chart's default


def tested(found, i: int) -> int:
    """How many limits box ``i`` sets and tests: one per restricted side of a number, one
    per restricted category (EMA Workbench gives an untested side the quasi-p-value -1)."""
    return sum(qp >= 0 for pair in found.p_values[i].values() for qp in pair)


def significance(limits: int) -> float:
    """The quasi-p-value below which a limit of a box that tests ``limits`` limits is
    significant: ``ALPHA`` divided by their number (Bonferroni), so that the chance of
    calling any of them significant by chance alone stays under ``ALPHA``. Each
    quasi-p-value tests one limit against the box without it; a box tests several, and
    at 0.05 each one in twenty limits that do not matter would pass. (The limits were
    chosen by the search on the same runs, so even this reads them generously: the
    holdout is the check that does not.)"""
    return ALPHA / max(limits, 1)


def rule(limits: int) -> str:
    """The significance rule of a box that tests ``limits`` limits, in words."""
    if not limits:
        return "the box sets no limit (it is the whole space)"
    return f"a limit is significant below qp {ALPHA:g} / {limits} = {significance(limits):.2g} (Bonferroni over the box's {limits} limits)"


DUMMY_SEP = "!?!"  # between a category's parameter and its value in CART's 0/1 columns, as EMA Workbench's CART.sep


@contextlib.contextmanager
def _quiet_ema():
    """EMA Workbench's analysis modules, imported on first use. Its framework package warns
    when ipyparallel (an optional executor we do not use) is missing, and its code still
    uses pandas idioms that pandas 3.1 deprecates (``inplace=``); those warnings, raised
    from EMA Workbench's own code, are silenced here. Any other warning stays an error
    under the test suite."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="ipyparallel not installed", category=UserWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ema_workbench\.")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"ema_workbench\.")
        with contextlib.suppress(ImportError):
            from pandas.errors import Pandas4Warning

            warnings.filterwarnings("ignore", category=Pandas4Warning, module=r"ema_workbench\.")
        from ema_workbench.analysis import feature_scoring, prim

        yield prim, feature_scoring


def features(table: pd.DataFrame, parameters: list[str]) -> pd.DataFrame:
    """The input space PRIM and CART search: swept parameters as numbers where they are
    numbers (categories otherwise), and the base scenario when there are several. EMA
    Workbench treats a column named ``scenario`` as an identifier and drops it, so the
    base scenario goes in as ``base``."""
    x = pd.DataFrame(index=range(len(table)))
    for p in parameters:
        col = table[p].reset_index(drop=True)
        numeric = pd.to_numeric(col, errors="coerce")
        number = numeric.notna().all() and not col.map(lambda v: isinstance(v, bool)).any()
        x[p] = numeric.astype(float) if number else col.astype(str).astype("category")
    if "scenario" in table and table["scenario"].nunique() > 1:
        x["base"] = pd.Categorical(table["scenario"].astype(str).to_numpy())
    return x


def analyse(table: pd.DataFrame, parameters: list[str], expression: str, outcome: str = "outcome", density: float = 0.8,
            mass_min: float = 0.05, peel_alpha: float = 0.05, depth: int = 3, seed: int = 0, fits: int = HOLDOUT_FITS) -> Discovery:
    """PRIM (with the pruned box and ``fits`` refits on random halves: :func:`holdout`),
    CART and feature scores for one outcome class over ``table`` (one row per run, the
    parameters and the summaries the expression names)."""
    with _quiet_ema() as ema:
        return _analyse(ema, table, parameters, expression, outcome, density, mass_min, peel_alpha, depth, seed, fits)


def _analyse(ema, table, parameters, expression, outcome, density, mass_min, peel_alpha, depth, seed, fits) -> Discovery:
    prim, feature_scoring = ema
    x = features(table, parameters)
    try:
        y = classify(table, expression)
    except ClassError as exc:  # a quantile that does not exist (thresholds): the class is undefined, not empty
        raise ClassError(f"outcome '{outcome}' ({expression}) is undefined: {exc}") from None
    if y.all() or not y.any():
        raise ClassError(f"outcome '{outcome}' ({expression}) holds for {int(y.sum())} of {len(y)} runs: nothing to discover")
    finder = prim.Prim(x, y.astype(int), peel_alpha=peel_alpha, mass_min=mass_min)
    found = finder.find_box()
    traj = found.peeling_trajectory[["id", "coverage", "density", "mass", "res_dim", "n", "k"]].copy()
    chosen = _choose(traj, density)
    limits = _pruned_limits(found, chosen)
    box = _box_table(found, chosen, x, limits)
    pruned = _stats(_inside(x, limits), y)
    refits = holdout(prim, x, y, density, mass_min, peel_alpha, fits, seed)
    for column in ("restricted", "significant") if len(refits) else ():  # no column of zeros for refits not made
        box[f"refits_{column}"] = box["parameter"].map(restricted(refits, column)).fillna(0).astype(int)
    from sklearn.tree import DecisionTreeClassifier

    # the classifier of EMA Workbench's CART.build_tree (leaves of at least mass_min of the
    # runs) on its coding of the inputs, with a depth limit, so that the tree can be read,
    # and a seed, so that ties between splits are reproducible
    coded = pd.get_dummies(x, prefix_sep=DUMMY_SEP)
    tree = DecisionTreeClassifier(min_samples_leaf=max(1, int(mass_min * len(x))), max_depth=depth, random_state=seed)
    tree.fit(coded.to_numpy(float), y.astype(int))
    leaves = _cart_table(tree, coded, x, y.astype(bool))
    scores, _ = feature_scoring.get_ex_feature_scores(x, y.astype(int), random_state=seed)
    scores = scores.reset_index().set_axis(["feature", "score"], axis=1)
    named = list(dict.fromkeys(t.summary for t in parse(expression)))
    blank = int(table[named].isna().any(axis=1).sum())
    return Discovery(outcome, expression, float(y.mean()), traj.reset_index(drop=True), chosen, box, leaves, tree, list(coded.columns), scores, found, x, blank, pruned, refits)


def _choose(trajectory: pd.DataFrame, density: float) -> int:
    """The box of a peeling trajectory a discovery reports: the largest coverage among the
    boxes at least ``density`` dense, or the densest box if none is."""
    dense = trajectory[trajectory["density"] >= density].sort_values(["coverage", "density"], ascending=False, kind="stable")
    if len(dense):
        return int(dense["id"].iloc[0])
    return int(trajectory.sort_values(["density", "coverage"], ascending=False, kind="stable")["id"].iloc[0])


def _pruned_limits(found, i: int) -> pd.DataFrame:
    """The limits of box ``i`` (EMA Workbench's box_lims: a row of lower and one of upper
    limits, a category's kept values in both) with every limit that is not significant
    moved back to the whole space's."""
    limits, space = found.box_lims[i].copy(), found.box_lims[0]
    below = significance(tested(found, i))
    for name, pair in found.p_values[i].items():
        for side, qp in enumerate(pair):
            if qp >= below:  # tested and not significant (an untested side's qp is -1)
                limits.at[side, name] = space.at[side, name]
                if isinstance(space.at[side, name], set):  # a category's limit is its set of kept values, in both rows
                    limits.at[1 - side, name] = space.at[1 - side, name]
    return limits


def _inside(x: pd.DataFrame, limits: pd.DataFrame) -> np.ndarray:
    """Which runs (rows of ``x``) a box holds: between its limits (inclusive, as PRIM
    counts them), a category among its kept values."""
    inside = np.ones(len(x), dtype=bool)
    for name in limits.columns:
        lo, hi = limits.at[0, name], limits.at[1, name]
        col = x[name]
        inside &= col.astype(str).isin(set(map(str, lo))).to_numpy() if isinstance(lo, set) else ((col >= lo) & (col <= hi)).to_numpy()
    return inside


def _stats(inside: np.ndarray, y: np.ndarray) -> dict:
    """Coverage, density, mass and counts of the runs ``inside`` a box, against the class
    ``y``; the density of a box that holds no run is NaN."""
    n, k = int(inside.sum()), int(y[inside].sum())
    return {"coverage": k / max(int(y.sum()), 1), "density": k / n if n else np.nan, "mass": n / len(y), "n": n, "k": k}


def holdout(prim, x: pd.DataFrame, y: np.ndarray, density: float, mass_min: float, peel_alpha: float, fits: int, seed: int) -> pd.DataFrame:
    """PRIM refitted on ``fits`` random halves of the points, each half's box chosen by the
    rule of the full fit (:func:`_choose`) and counted on the other half. A box's coverage
    and density are measured on the runs that shaped it, and the peeling stops where they
    look best, so they flatter it; on runs it has not seen they show what it finds. A
    parameter that some halves restrict and others do not is restricted by the sample
    rather than by the model. Halves are of parameter points, not runs: a point's
    replications all go to one half, or the held-out half would hold the very points the
    box was fitted on (with 3 replications, most of them). They are drawn within the
    points with a run in the class and outside them, so each half keeps about the class's
    share (and the held-out half holds at least one run of each); the draws follow
    ``seed``. One row per fit: the half's box and its coverage and density there, the
    same box's (``held_``) and its pruned box's (``held_pruned_``) on the other half, the
    parameters it restricts and those it restricts by a significant limit. With fewer
    than two points in the class, or outside it, no split leaves both halves one of each:
    the table is empty, and its ``attrs["skipped"]`` says why."""
    rng = np.random.default_rng(seed)
    point = pd.factorize(pd.MultiIndex.from_frame(x.astype(str)))[0]  # one code per parameter point, in order of first run
    hit = np.bincount(point, y, point.max() + 1) > 0
    members, others = np.flatnonzero(hit), np.flatnonzero(~hit)
    columns = ["fit", "box", "coverage", "density", "held_coverage", "held_density", "held_mass", "held_pruned_coverage", "held_pruned_density", "restricted", "significant"]
    if fits and min(len(members), len(others)) < 2:
        skipped = pd.DataFrame(columns=columns)
        skipped.attrs["skipped"] = (f"no holdout: {len(members)} parameter point(s) with a run in the class and {len(others)} without one; "
                                    "halves of the points need two of each (the refits would fit one half without the class, or test on one without it)")
        return skipped
    rows = []
    for fit in range(fits):
        a, b = rng.permutation(members), rng.permutation(others)
        train = np.flatnonzero(np.isin(point, np.concatenate([a[: len(a) // 2], b[: len(b) // 2]])))
        held = np.flatnonzero(np.isin(point, np.concatenate([a[len(a) // 2:], b[len(b) // 2:]])))
        found = prim.Prim(x.iloc[train].reset_index(drop=True), y[train].astype(int), peel_alpha=peel_alpha, mass_min=mass_min).find_box()
        i = _choose(found.peeling_trajectory, density)
        limits, pruned = found.box_lims[i], _pruned_limits(found, i)
        own = found.peeling_trajectory.set_index("id").loc[i]
        xh, yh = x.iloc[held], y[held]
        out, out_pruned = _stats(_inside(xh, limits), yh), _stats(_inside(xh, pruned), yh)
        restricts, below = list(found.p_values[i]), significance(tested(found, i))
        kept = [p for p, pair in found.p_values[i].items() if any(0 <= qp < below for qp in pair)]
        rows.append({"fit": fit, "box": i, "coverage": own["coverage"], "density": own["density"],
                     "held_coverage": out["coverage"], "held_density": out["density"], "held_mass": out["mass"],
                     "held_pruned_coverage": out_pruned["coverage"], "held_pruned_density": out_pruned["density"],
                     "restricted": "; ".join(restricts), "significant": "; ".join(kept)})  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def restricted(refits: pd.DataFrame, column: str = "restricted") -> pd.Series:
    """In how many fits of a :func:`holdout` table each parameter is restricted (or, with
    ``column="significant"``, restricted by a significant limit)."""
    return pd.Series([p for fit in refits[column] for p in fit.split("; ") if p], dtype=object).value_counts()


def _box_table(found, i: int, x: pd.DataFrame, pruned: pd.DataFrame | None = None) -> pd.DataFrame:
    """Limits of box ``i`` on its restricted parameters, with quasi-p-values, the range
    the parameter spans over all runs, and the limits of the pruned box (those of box
    ``i`` where significant, the range's otherwise)."""
    # from the box's own records (PrimBox.inspect(style="data") cannot hold a category's
    # set of values under pandas 3); p_values[i] has one entry per restricted parameter
    lims, qps = found.box_lims[i], found.p_values[i]
    pruned = _pruned_limits(found, i) if pruned is None else pruned
    rows = []

    def shown(value, numeric: bool):
        return value if numeric else ", ".join(sorted(map(str, value)))

    for name, (qp_lo, qp_hi) in qps.items():
        numeric = pd.api.types.is_numeric_dtype(x[name])
        rows.append({
            "parameter": name,
            "min": shown(lims[name].iloc[0], numeric), "max": lims[name].iloc[1] if numeric else "",
            "qp_lower": qp_lo if qp_lo >= 0 else np.nan, "qp_upper": qp_hi if qp_hi >= 0 else np.nan,
            "range_min": x[name].min() if numeric else ", ".join(sorted(map(str, x[name].unique()))),
            "range_max": x[name].max() if numeric else "",
            "pruned_min": shown(pruned[name].iloc[0], numeric), "pruned_max": pruned[name].iloc[1] if numeric else "",
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["parameter", "min", "max", "qp_lower", "qp_upper", "range_min", "range_max", "pruned_min", "pruned_max"])


def _cart_table(tree, coded: pd.DataFrame, x: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    """One row per leaf of the fitted tree: its coverage, density, number of restricted
    parameters (res dim) and mass, counted from the runs the tree sends to it, and in
    words the limits of the path that leads there. (EMA Workbench's ``CART.boxes`` and
    ``CART.stats`` would not do: on a categorical split they share one set of categories
    between every leaf and ignore the branch that keeps a category, so a sweep over
    several base scenarios gave every leaf a limit on the base and wrong masses.)"""
    t = tree.tree_
    leaf_of = tree.apply(coded.to_numpy(np.float32))  # the tree's own reading of every run
    names = list(coded.columns)
    dummies = {f"{col}{DUMMY_SEP}{cat}": (col, cat) for col in x.columns if not pd.api.types.is_numeric_dtype(x[col]) for cat in map(str, x[col].unique())}  # the 0/1 columns' names
    rows = []

    def walk(node: int, path: list[tuple[str, bool, float]]) -> None:
        if t.children_left[node] == -1:
            inside = leaf_of == node
            limits = _path_limits(path, x, dummies)
            rows.append({"coverage": y[inside].sum() / y.sum(), "density": y[inside].mean(), "res dim": len(limits), "mass": inside.mean(), "limits": "; ".join(limits)})
            return
        name, cut = names[t.feature[node]], float(t.threshold[node])
        walk(t.children_left[node], [*path, (name, False, cut)])  # feature <= cut
        walk(t.children_right[node], [*path, (name, True, cut)])  # feature > cut

    walk(0, [])
    return pd.DataFrame(rows)


def _path_limits(path: list[tuple[str, bool, float]], x: pd.DataFrame, dummies: dict[str, tuple[str, str]]) -> list[str]:
    """The limits a path of splits sets, one phrase per parameter it restricts: a number
    between its tightest cuts, a category among those the path leaves."""
    low: dict[str, float] = {}
    high: dict[str, float] = {}
    kept: dict[str, set[str]] = {}
    for name, above, cut in path:
        if name in dummies:  # dummy <= 0.5: not this category; > 0.5: this one
            col, cat = dummies[name]
            allowed = kept.setdefault(col, set(map(str, x[col].unique())))
            kept[col] = {cat} & allowed if above else allowed - {cat}
        elif above:
            low[name] = max(cut, low.get(name, -np.inf))
        else:
            high[name] = min(cut, high.get(name, np.inf))
    phrases = []
    for col in x.columns:
        if col in kept:
            phrases.append(f"{col} in {{{', '.join(sorted(kept[col]))}}}")
        elif col in low or col in high:
            lo, hi = low.get(col), high.get(col)
            phrases.append(f"{lo:.4g} < {col} <= {hi:.4g}" if lo is not None and hi is not None else f"{col} > {lo:.4g}" if lo is not None else f"{col} <= {hi:.4g}")
    return phrases


# --------------------------------------------------------------------------- report


def runs(results) -> pd.DataFrame:
    """What outcome classes are taken over, by the discovery charts and the report's shares
    alike: one row per successful run of a sweep, its point's parameters and its summaries."""
    # in plan order, not in the order runs arrived: the same sweep gives the same discovery
    # whatever the number of workers (PRIM's ties and the trees' draws follow row order)
    # one row per run: identical points (a value listed twice in a grid) share their runs,
    # which would otherwise weigh twice in PRIM's densities and the trees, and in quantiles
    return results.table().sort_values(["point", "replication"], kind="stable").drop_duplicates("run").reset_index(drop=True)


def run(ctx, chart) -> Discovery:
    """The discovery a report chart asks for, on every successful run of the sweep."""
    table = runs(ctx.results)
    expression = ctx.spec.get("outcomes", {})[chart.outcome]
    parameters = chart.parameters or ctx.results.parameters
    return analyse(table, parameters, expression, chart.outcome, chart.density, chart.mass_min, depth=chart.depth, seed=ctx.spec.get("seed", 0), fits=chart.holdout)


def _name(feature: str) -> str:
    """A feature in words; a category's 0/1 column as ``(parameter = value)``."""
    from abm import chartstyle as cs

    if DUMMY_SEP in feature:
        column, value = feature.split(DUMMY_SEP, 1)
        return f"({_name(column)} = {value})"
    return "base scenario" if feature == "base" else cs.label(feature)


def _what(d: Discovery) -> str:
    # a run without a value (a threshold never crossed) is outside the class by the rule
    # (abm.discovery.classify): said wherever the class is, since for 'late' it is the latest
    blank = f", counting {d.blank} run(s) without a value (threshold never crossed) as outside it" if d.blank else ""
    return f"'{d.outcome}' ({d.expression}): {d.share:.1%} of runs{blank}"


def prim_figure(ctx, d: Discovery, title: str | None = None, box: int | None = None):
    """Peeling trajectory: coverage against density of each box, the chosen box (or
    ``box``) ringed."""
    from abm import chartstyle as cs
    from abm import report

    fig, body = report._canvas(6.0, 4.2)
    ax = body.subplots()
    t = d.trajectory
    dims = sorted(t["res_dim"].unique())
    colours = cs.palette(len(dims))
    markers = [m for m in cs.MARKERS if m != "x"]  # filled markers take the black edge
    for k, r in enumerate(dims):
        part = t[t["res_dim"] == r]
        ax.scatter(part["coverage"], part["density"], s=18, color=colours[k], marker=markers[k % len(markers)], edgecolor="black", linewidth=0.3, label=f"{r} restricted")
    ax.plot(t["coverage"], t["density"], color="0.6", linewidth=0.6, zorder=0)
    box = d.chosen if box is None else box
    c = t.loc[t["id"] == box].iloc[0]
    ax.scatter([c["coverage"]], [c["density"]], s=120, facecolor="none", edgecolor="black", linewidth=1.2, label=f"chosen box {box}")
    ax.axhline(d.share, color="0.4", linestyle=":", linewidth=0.8, label=f"share of runs in class ({d.share:.2f})")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("coverage (share of the class's runs inside the box)")
    ax.set_ylabel("density (share of the box's runs in the class)")
    ax.grid(True, color="0.9", linewidth=0.6)
    handles, labels = ax.get_legend_handles_labels()
    report._legend_below(body, handles, labels, "parameters restricted")
    note = (f"PRIM peeling trajectory for {_what(d)}; each point is one box, from the whole space (coverage 1) inward; "
            f"chosen box {box}: coverage {c['coverage']:.2f}, density {c['density']:.2f}, {int(c['n'])} runs")
    return report._decorate(fig, ctx.footer, title or f"Scenario discovery: when is the region '{d.outcome}'?", note)


def box_picker(d: Discovery, directory):
    """A notebook widget to choose a box on the peeling trajectory of ``d`` (a discovery
    of the sweep in ``directory``): a slider over the boxes (from the whole space inward),
    the trajectory with that box ringed, and its limits with their quasi-p-values. Needs
    ipywidgets (ImportError without it); where widgets are not rendered, print
    ``d.describe(i)`` and ``d.box_at(i)`` instead."""
    import io

    import ipywidgets as widgets
    import matplotlib

    from abm import report
    from abm.results import Results

    ctx = report.ReportContext(Results(directory))
    ids = d.trajectory["id"].astype(int).tolist()
    slider = widgets.SelectionSlider(options=ids, value=d.chosen, description="box", continuous_update=False, layout=widgets.Layout(width="95%"))
    image, table = widgets.Image(format="png"), widgets.HTML()

    def show(change=None) -> None:
        i = slider.value
        with matplotlib.rc_context(report.STYLE):
            fig = prim_figure(ctx, d, box=i)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90)
        image.value = buffer.getvalue()
        table.value = f"<p>{d.describe(i)}</p>" + d.box_at(i).to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="")

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, widgets.HBox([image, table])])


def box_figure(ctx, d: Discovery, title: str | None = None):
    """The chosen box: each restricted parameter's limits within its swept range, with
    quasi-p-values; a parameter none of whose limits is significant is drawn in grey (the
    pruned box leaves it out)."""
    from abm import chartstyle as cs
    from abm import report

    rows = d.box
    limits = tested(d.peeled, d.chosen)
    below = significance(limits)
    fig, body = report._canvas(7.0, 0.45 * max(2, len(rows)) + 0.8)
    ax = body.subplots()
    for i, r in enumerate(rows.itertuples(index=False)):
        y = len(rows) - 1 - i
        qps = [(side, v) for side, v in (("lower", r.qp_lower), ("upper", r.qp_upper)) if pd.notna(v)]
        qp = "; ".join(f"{side} qp {v:.2g}" + ("" if v < below else ", dropped") for side, v in qps)
        kept = any(v < below for _, v in qps)
        if isinstance(r.min, str):  # a category: the values the box keeps
            ax.text(0.01, y, f"only {r.min}", ha="left", va="center", fontsize=7, color="black" if kept else "0.5")
            ax.text(1.02, y, f"(qp {qp.split('qp ')[-1]})", va="center", fontsize=7)
            continue
        lo, hi = float(r.range_min), float(r.range_max)
        span = (hi - lo) or 1.0
        ax.barh(y, (float(r.max) - float(r.min)) / span, left=(float(r.min) - lo) / span, height=0.5, color=cs.OKABE_ITO[0] if kept else "0.8", edgecolor="black", linewidth=0.5)
        ax.text(1.02, y, f"{float(r.min):.3g} - {float(r.max):.3g}  ({qp})", va="center", fontsize=7)
    ax.set_yticks(range(len(rows)), [_name(p) for p in rows["parameter"]][::-1], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("position within the swept range (0 = lowest value sampled, 1 = highest)")
    ax.grid(True, axis="x", color="0.9", linewidth=0.6)
    c = d.trajectory.loc[d.trajectory["id"] == d.chosen].iloc[0]
    note = (f"PRIM box {d.chosen} for {_what(d)}: coverage {c['coverage']:.2f}, density {c['density']:.2f}; "
            f"bars: the box's limits; qp: quasi-p-value of each limit (one-sided binomial test, Bryant & Lempert 2010): {rule(limits)}, "
            f"the others are dropped (grey: no significant limit); pruned box: coverage {d.pruned['coverage']:.2f}, density {d.pruned['density']:.2f}"
            + (f"; {held}" if (held := _held(d)) else ""))
    return report._decorate(fig, ctx.footer, title or f"The conditions under which the region is '{d.outcome}'", note)


def _held(d: Discovery, digits: int = 2) -> str:
    """The holdout's medians in words, or why there are none ("" for refits not asked for)."""
    h = d.holdout
    if not len(h):
        return h.attrs.get("skipped", "")
    return (f"held out ({len(h)} refits on random halves, each box tested on the other half): median coverage {h['held_coverage'].median():.{digits}f}, "
            f"density {h['held_density'].median():.{digits}f}")


def scores_figure(ctx, d: Discovery, title: str | None = None):
    """Extra-trees feature scores, largest first."""
    from abm import chartstyle as cs
    from abm import report

    s = d.scores
    fig, body = report._canvas(6.5, 0.3 * len(s) + 0.8)
    ax = body.subplots()
    y = np.arange(len(s))[::-1]
    ax.barh(y, s["score"], height=0.6, color=cs.OKABE_ITO[2], edgecolor="black", linewidth=0.5)
    ax.set_yticks(y, [_name(f) for f in s["feature"]], fontsize=8)
    ax.set_xlim(0, max(0.05, float(s["score"].max()) * 1.1))
    ax.set_xlabel("feature score (extra-trees impurity importance; scores sum to 1)")
    ax.grid(True, axis="x", color="0.9", linewidth=0.6)
    note = f"which inputs separate {_what(d)} from the rest (extra trees, 100 trees; Jaxa-Rozen & Kwakkel 2018)"
    return report._decorate(fig, ctx.footer, title or f"What decides whether the region is '{d.outcome}'", note)


def cart_figure(ctx, d: Discovery, title: str | None = None):
    """The CART tree, each node with its split, run count and share in the class."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from sklearn.tree import plot_tree

    from abm import report

    leaves = d.tree.get_n_leaves()
    fig, body = report._canvas(max(7.0, 1.6 * leaves), 1.2 * d.tree.get_depth() + 1.5)
    FigureCanvasAgg(fig)  # plot_tree measures its boxes with the canvas's renderer
    ax = body.subplots()
    plot_tree(d.tree, ax=ax, feature_names=[_name(f) for f in d.features], class_names=["other", d.outcome], filled=True, impurity=False, proportion=True, rounded=True, fontsize=7)
    note = f"CART tree for {_what(d)}; each node: its split, share of runs (samples), shares per class (value); leaves of at least {d.tree.min_samples_leaf} runs"
    if any(DUMMY_SEP in d.features[i] for i in d.tree.tree_.feature if i >= 0):  # a split on a category (leaves are -2)
        note += "; (parameter = value) <= 0.5: the runs with another value go left"
    return report._decorate(fig, ctx.footer, title or f"Classification tree: '{d.outcome}' or not", note)


def figures(ctx, chart, d: Discovery | None = None) -> dict:
    """Every figure of a discovery chart, by file suffix."""
    d = run(ctx, chart) if d is None else d
    return {"prim": prim_figure(ctx, d, chart.title), "box": box_figure(ctx, d), "cart": cart_figure(ctx, d), "scores": scores_figure(ctx, d)}


def write(ctx, chart, out, stem: str) -> list:
    """Tables (CSV, and Markdown for the box) and figures (PNG and SVG) of a discovery chart."""
    from abm import report

    d = run(ctx, chart)
    written = []
    d.trajectory.to_csv(out / f"{stem}_trajectory.csv", index=False)
    d.cart.to_csv(out / f"{stem}_cart.csv", index=False)
    d.scores.to_csv(out / f"{stem}_scores.csv", index=False)
    written += [out / f"{stem}_trajectory.csv", out / f"{stem}_cart.csv", out / f"{stem}_scores.csv"]
    c = d.trajectory.loc[d.trajectory["id"] == d.chosen].iloc[0]
    p = d.pruned
    notes = [f"outcome {_what(d)}", f"box {d.chosen} of the peeling trajectory: coverage {c['coverage']:.3f}, density {c['density']:.3f}, mass {c['mass']:.3f}, {int(c['n'])} runs",
             f"qp_lower/qp_upper: quasi-p-values of each limit (one-sided binomial test; Bryant & Lempert 2010); {rule(tested(d.peeled, d.chosen))}",
             f"pruned box (pruned_min/pruned_max: the box's significant limits, the swept range elsewhere): coverage {p['coverage']:.3f}, density {p['density']:.3f}, mass {p['mass']:.3f}, {p['n']} runs"]
    if len(d.holdout):
        h = d.holdout
        others = restricted(h).drop(d.box["parameter"], errors="ignore")
        notes += [f"{_held(d, 3)} (its pruned box: coverage {h['held_pruned_coverage'].median():.3f}, density {h['held_pruned_density'].median():.3f}); "
                  f"in sample on their halves {h['coverage'].median():.3f} and {h['density'].median():.3f}; halves drawn with the spec's seed ({ctx.spec.get('seed', 0)}); each fit: {stem}_holdout.csv",
                  f"refits_restricted/refits_significant: in how many of the {len(h)} refits the parameter is restricted / restricted by a significant limit"
                  + (f"; restricted there but not in this box: {', '.join(f'{q} ({n})' for q, n in others.items())}" if len(others) else "")]
        d.holdout.to_csv(out / f"{stem}_holdout.csv", index=False)
        written.append(out / f"{stem}_holdout.csv")
    elif skipped := _held(d):
        notes.append(skipped)
    written += report._table_files(d.box, out, f"{stem}_box", notes)
    for suffix, fig in figures(ctx, chart, d).items():
        written += report.save(fig, out, f"{stem}_{suffix}")
    return written
