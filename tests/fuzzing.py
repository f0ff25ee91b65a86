"""A seeded mutator of the shipped scenarios and experiments, and the rule every mutant
must obey: exit 0 with finite outputs, or exit 2 with a one-line message; never a
traceback, another exit status, or a hang.

The mutations are those that broke the project when it was attacked as a careless or
hostile user would: extreme and non-finite numbers, wrong types, missing, unknown and
duplicate keys, huge values, empty sections, names that are paths or TeX, bad colours,
unknown rules and events, oversized worlds and plans, truncated or garbled files, deep
nesting, alias bombs and recursive aliases, ``extends:`` to special files or down long
chains, Python tags, and random ``--set`` overrides.

Used by tests/test_fuzz.py (a few hundred cases in CI) and scripts/fuzz.py (``--runs N``
for a long local run).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import random
import shutil
import signal
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from abm.cli import main
from abm.scenario import ScenarioError, load, resolve_extends

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "configs").glob("*.yaml"))
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
CASE_SECONDS = 60  # a case that takes longer counts as a hang

EXTREMES = [math.inf, -math.inf, math.nan, 1e308, -1e308, 1.0e9 + 1, -1, 0, 10**30, 2**63, -0.0, 1e-308, 2**31]
EDGES = [1.0e9, 1.0e6, 1.0, 0.999, 1e-9, 0.0, 2, 100]  # allowed by many fields: must still give finite results
TYPES = ["text", [], {}, None, True, [1, 2], {"a": 1}, "2025-02-30", "1e999"]
NAMES = ["/tmp/abm-fuzz-absolute", "../up", "a/b", ".", "..", "$x^{$", r"$\frac{$", "x" * 500, "", "nul\x00byte", "back\\slash"]
COLOURS = ["notacolour", "#12", "", "rgb(1,2,3)", "#zzzzzz", 12]


@dataclass
class Tally:
    outcomes: Counter = field(default_factory=Counter)  # (kind, result) -> count
    failures: list[str] = field(default_factory=list)
    full_runs: int = 0

    @property
    def cases(self) -> int:
        return sum(self.outcomes.values())


class Hang(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: int):
    def fire(signum, frame):
        raise Hang(f"no answer after {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --------------------------------------------------------------------------- tree mutations


def _paths(tree: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in a tree of dicts and lists."""
    out = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


def _get(tree: Any, path: tuple) -> Any:
    for k in path:
        tree = tree[k]
    return tree


def _set(tree: Any, path: tuple, value: Any) -> None:
    _get(tree, path[:-1])[path[-1]] = value


def _pick(rng: random.Random, tree: Any, want=lambda v: True) -> tuple | None:
    paths = [p for p in _paths(tree) if want(_get(tree, p))]
    return rng.choice(paths) if paths else None


def _numeric(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def mutate_tree(rng: random.Random, data: dict, kind: str) -> str:
    """Change ``data`` in place; return the mutation's name."""
    op = rng.choice(["number", "number", "number", "edge", "edge", "edge", "type", "delete", "unknown", "huge", "empty", "name", "colour", "rule", "generated", "event", "steps"])
    if op == "number" and (p := _pick(rng, data, _numeric)):
        _set(data, p, rng.choice(EXTREMES))
    elif op == "edge" and (p := _pick(rng, data, _numeric)):
        for _ in range(rng.randint(1, 5)):  # several fields at once, as a careless edit would
            _set(data, p, rng.choice(EDGES))
            p = _pick(rng, data, _numeric)
    elif op == "type" and (p := _pick(rng, data)):
        _set(data, p, rng.choice(TYPES))
    elif op == "delete" and (p := _pick(rng, data)):
        del _get(data, p[:-1])[p[-1]]
    elif op == "unknown" and (p := _pick(rng, data, lambda v: isinstance(v, dict))):
        _get(data, p)[rng.choice(["budgett", "zz", "Name", "__class__", "x" * 300])] = rng.choice(EXTREMES + TYPES)
    elif op == "huge" and (p := _pick(rng, data)):
        _set(data, p, rng.choice(["9", "x", "é"]) * rng.choice([10_000, 300_000]))
    elif op == "empty":
        data[rng.choice(["states", "powers", "rules", "grid", "metrics", "time", "corridors", "freight"])] = rng.choice([{}, [], None])
    elif op == "name":
        data["name"] = rng.choice(NAMES)
    elif op == "colour" and kind == "scenario":
        data.setdefault("powers", {}).setdefault("russia", {})["color"] = rng.choice(COLOURS)
    elif op == "rule" and kind == "scenario":
        family = rng.choice(["allocation", "decision", "coercion", "decay", "opinion", "neighbours", "route_choice", "membership", "nonsense"])
        data.setdefault("rules", {})[family] = rng.choice([{"name": "hedgin"}, {"name": None}, {"name": "threshold", "noise": rng.choice(EXTREMES)}, {"name": "contest", "intensity": rng.choice(EXTREMES)}, "text"])
    elif op == "generated" and kind == "scenario":
        data["generated"] = {"n_states": rng.choice([2, 10, 5001, 10**6, -1, 2**40]), "n_powers": rng.choice([1, 5, 201, 10**6]), "budget": rng.choice([1.0, *EXTREMES])}
    elif op == "event" and kind == "scenario":
        data.setdefault("events", {})["fuzz"] = rng.choice([{"type": "nothing"}, {"type": "treaty", "date": "1900-01-01"}, {"date": "2030-01-01"}, {"type": 3}, None, {"type": "shock", "date": "2030-02-30"}])
    elif op == "steps":
        if kind == "scenario":
            data["time"] = {"steps": rng.choice([0, -1, 10**6, 2**63, 1.5, "x"]), "step_months": rng.choice([0, 13, 3]), "start": rng.choice(["2025-01-31", "2025-13-01", "1-01-01", "2025-01-01"])}
        else:
            data["replications"] = rng.choice([0, -1, 10**7, 10**12, "x", 1.5])
    elif kind == "experiment":
        return mutate_experiment(rng, data)
    else:
        return mutate_tree(rng, data, kind) if _paths(data) else "none"
    return op


def mutate_experiment(rng: random.Random, data: dict) -> str:
    op = rng.choice(["sample", "grid", "set", "scenario", "seed", "metrics", "charts"])
    if op == "sample":
        data.pop("grid", None)
        data["sample"] = {
            "method": rng.choice(["sobol", "morris", "latin", "factorial", "nonsense"]),
            "n": rng.choice([2**30, 4, 3, -1, 0, None, 10**12]),
            "ranges": {rng.choice(["rules.decision.noise", "seed", "time.steps", "nope.path", "generated.n_states"]): rng.choice([[0, 1], [1, 0], [0, math.inf], [-1e308, 1e308], [0], "x"])},
            "levels": rng.choice([4, 3, 1, 10**6]),
        }
    elif op == "grid":
        data.pop("sample", None)
        data["grid"] = {f"rules.decision.{k}": rng.choice([[0.1] * rng.choice([1, 1000]), [], [math.nan], "x", {"a": math.inf}]) for k in rng.sample(["noise", "threshold", "cap", "bonus"], rng.randint(1, 3))}
    elif op == "set":
        data["set"] = {rng.choice(["time.steps", "rules.decision.noise", "nope", "states", "seed"]): rng.choice(EXTREMES + TYPES)}
    elif op == "scenario":
        data.pop("scenarios", None)
        data["scenario"] = rng.choice(["/etc/passwd", "/dev/zero", "../experiments", "no_such.yaml", str(ROOT / "configs" / "baseline.yaml"), 3])
    elif op == "seed":
        data["seed"] = rng.choice([-1, 2**64, "x", 1.5, None])
    elif op == "metrics":
        data["metrics"] = rng.choice([{"series": "everything"}, {"series": ["nope"]}, {"summaries": [{"metric": "fragmentation", "stat": "at"}]}, {"summaries": [{"metric": "fragmentation", "stat": "first_crossing", "threshold": math.inf}]}, []])
    else:
        data["charts"] = rng.choice([[{"type": "pie"}], [{"type": "phase", "x": "a", "y": "a", "metric": "m"}], "x", [3]])
    return op


# --------------------------------------------------------------------------- text mutations


def mutate_text(rng: random.Random, text: str, folder: Path, kind: str) -> tuple[str | bytes, str]:
    op = rng.choice(["duplicate", "truncate", "garble", "deep", "bomb", "recursive", "extends", "chain", "tag", "bytes"])
    if op == "duplicate":
        lines = text.splitlines(keepends=True)
        tops = [k for k, line in enumerate(lines) if line[:1].isalpha()]
        k = rng.choice(tops) if tops else 0
        return text + "".join(lines[k : k + 3]), op
    if op == "truncate":
        return text[: rng.randrange(max(1, len(text)))], op
    if op == "garble":
        chars = list(text)
        for _ in range(rng.randint(1, 20)):
            chars.insert(rng.randrange(len(chars) + 1), rng.choice(":-[]{}&*!|>'\"#%@`\t\n ,?"))
        return "".join(chars), op
    if op == "bytes":
        raw = bytearray(text.encode())
        for _ in range(rng.randint(1, 10)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return bytes(raw), op
    section = "provenance" if kind == "scenario" else "description"
    if op == "deep":
        depth = rng.choice([70, 600, 5000])
        if rng.random() < 0.5:
            body = "[" * depth + "]" * depth
        else:
            depth = min(depth, 600)
            body = "\n" + "".join("  " * (k + 1) + f"k{k}:\n" for k in range(depth)) + "  " * (depth + 1) + "v: 1"
        return text + f"\n{section}: {body}\n", op
    if op == "bomb":
        rows = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        rows += [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
        return text + f"\n{section}:\n" + "".join(f"  {r}\n" for r in rows), op
    if op == "recursive":
        return text + f"\n{section}: &r [1, *r]\n", op
    if op == "tag":
        return text + f"\n{section}: !!python/object/apply:os.system ['echo pwned']\n", op
    if op == "extends" or kind == "experiment":
        fifo = folder / "fifo"
        if not fifo.exists():
            os.mkfifo(fifo)
        target = rng.choice(["/etc/passwd", "/dev/zero", "/dev/null", str(fifo), str(folder), "/proc/self/status", "missing.yaml", "self"])
        if kind == "experiment":
            return text + f"\nscenarios: {{x: '{target}'}}\n", op
        return f"extends: '{target if target != 'self' else 'case.yaml'}'\n" + "\n".join(line for line in text.splitlines() if not line.startswith("extends:")) + "\n", op
    # a long extends chain ending in a shipped scenario
    length = rng.choice([3, 20, 200])
    for k in range(length):
        (folder / f"link{k}.yaml").write_text(f"extends: link{k + 1}.yaml\n" if k < length - 1 else f"extends: {ROOT / 'configs' / 'baseline.yaml'}\n")
    return "extends: link0.yaml\nname: chained\n", "chain"


# --------------------------------------------------------------------------- running cases


def _one_line(err: str) -> bool:
    return err.count("\n") == 1 and err.startswith("error: ") and len(err) < 2000 and "Traceback" not in err


def _listing(err: str) -> bool:
    """An experiment's problems: one line, or a header and one line per problem (abm sweep)."""
    head, *items = err.splitlines()
    return _one_line(head + "\n") and all(line.startswith("  - ") and len(line) < 2000 for line in items) and "Traceback" not in err


def _call(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(args)
        except SystemExit as exc:  # argparse
            code = exc.code
    return code, err.getvalue()


def _set_override(rng: random.Random, scenario: dict) -> list[str]:
    paths = [".".join(map(str, p)) for p in _paths(scenario) if not isinstance(_get(scenario, p), dict | list)]
    path = rng.choice(paths + ["nope.path", "rules.decision.name", "time.steps", "seed"])
    value = rng.choice(["1e308", ".inf", ".nan", "-1", "x" * 5000, "&a [*a]", "[1, 2", "{a: 1}", "2025-02-30", "true", "0", "1e9", "hedging"])
    return [f"{path}={value}"]


def scenario_case(rng: random.Random, folder: Path, tally: Tally, full_run: bool) -> None:
    source = rng.choice(SCENARIOS)
    text = source.read_text()
    sets: list[str] = []
    if rng.random() < 0.5:
        data = yaml.safe_load(text) if rng.random() < 0.5 else resolve_extends(source)
        if "extends" in data:
            data["extends"] = str(source.parent / data["extends"])
        if rng.random() < 0.2:
            sets, op = _set_override(rng, data), "set"
        else:
            op = mutate_tree(rng, data, "scenario")
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text = text.replace("extends: ", f"extends: {source.parent}/", 1)
        text, op = mutate_text(rng, text, folder, "scenario")
    path = folder / "case.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        with deadline(CASE_SECONDS):
            try:
                load(path, sets)
                result = "valid"
            except ScenarioError as exc:
                result = "refused"
                if not _one_line(f"error: {exc}\n"):
                    raise AssertionError(f"message not one short line: {str(exc)[:300]!r}") from None
            if result == "valid" and full_run:
                tally.full_runs += 1
                out = folder / "out"
                code, err = _call(["run", str(path), "--steps", "4", "--no-charts", "--out", str(out), *sum((["--set", s] for s in sets), [])])
                if code == 0:
                    frame = pd.read_csv(out / "model.csv")
                    numbers = frame.select_dtypes("number")
                    if not numbers.apply(lambda c: c.map(math.isfinite)).all().all():
                        raise AssertionError(f"non-finite values in {[c for c in numbers if not numbers[c].map(math.isfinite).all()][:5]}")
                    result = "ran"
                elif code == 2 and _one_line(err):
                    result = "refused at run"
                else:
                    raise AssertionError(f"exit {code}: {err[-500:]}")
                shutil.rmtree(out, ignore_errors=True)
        tally.outcomes[("scenario", op, result)] += 1
    except Exception as exc:  # noqa: BLE001 - every other outcome is a finding
        tally.outcomes[("scenario", op, "FAILED")] += 1
        tally.failures.append(f"scenario {source.name} {op} {str(sets)[:200]}: {type(exc).__name__}: {str(exc)[:300]} | {traceback.format_exc(limit=-2)[-400:]!r}")


def experiment_case(rng: random.Random, folder: Path, tally: Tally) -> None:
    source = rng.choice(EXPERIMENTS)
    text = source.read_text().replace("../configs/", f"{ROOT}/configs/")
    if rng.random() < 0.65:
        data = yaml.safe_load(text)
        op = mutate_experiment(rng, data) if rng.random() < 0.5 else mutate_tree(rng, data, "experiment")
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text, op = mutate_text(rng, text, folder, "experiment")
    path = folder / "exp.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        with deadline(CASE_SECONDS):
            code, err = _call(["sweep", str(path), "--dry-run", "--workers", "1"])
        if code == 0:
            result = "valid"
        elif code == 2 and _listing(err):
            result = "refused"
        else:
            raise AssertionError(f"exit {code}: {err[-500:]}")
        tally.outcomes[("experiment", op, result)] += 1
    except Exception as exc:  # noqa: BLE001
        tally.outcomes[("experiment", op, "FAILED")] += 1
        tally.failures.append(f"experiment {source.name} {op}: {type(exc).__name__}: {str(exc)[:300]}")


def fuzz(runs: int, seed: int, folder: Path, experiments: float = 0.25, full_runs: float = 0.05) -> Tally:
    """``runs`` cases (a share of them experiments); a share of the valid scenarios is
    also run for 4 steps. Each case works in a fresh subfolder of ``folder``."""
    rng = random.Random(seed)
    tally = Tally()
    for k in range(runs):
        case = folder / f"case{k}"
        case.mkdir()
        if rng.random() < experiments:
            experiment_case(rng, case, tally)
        else:
            scenario_case(rng, case, tally, full_run=rng.random() < full_runs)  # only valid ones are run
        shutil.rmtree(case, ignore_errors=True)
    return tally


def report(tally: Tally) -> str:
    by_result = Counter()
    for (kind, _, result), n in tally.outcomes.items():
        by_result[(kind, result)] += n
    lines = [f"{tally.cases} cases, {tally.full_runs} full runs, {len(tally.failures)} failures"]
    lines += [f"  {kind:<10} {result:<15} {n}" for (kind, result), n in sorted(by_result.items())]
    lines += [f"  FAILED: {f}" for f in tally.failures[:20]]
    return "\n".join(lines)
