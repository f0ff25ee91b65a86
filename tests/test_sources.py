"""Sources live inside the repository: no file points outside it, and every citation key
resolves to an entry of docs/sources.md (and every entry there is cited). The configs are
typed by hand, so the baseline's values that the data tables give are checked against them
(docs/sources.md lists which)."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "docs" / "sources.md"
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".ipynb", ".toml", ".cff", ".txt", ".cfg", ".sh", ".json"}
# A citation key: @ + lowercase name + four-digit year (+ optional letter), e.g. @blank2025.
KEY = re.compile(r"(?<![\w.@/`])@([a-z][a-z0-9-]*\d{4}[a-z]?)\b")
DEFINED = re.compile(r"^\| `@([a-z][a-z0-9-]*\d{4}[a-z]?)` \|", re.M)
# Paths to material outside the repository (built from parts so this file does not match).
OUTSIDE = re.compile("(?:" + "|".join([r"\bshared" + "/", r"\bseeds" + "/", r"\b\d{3}_[0-9a-f]{16}\.txt"]) + ")")


def load(relative: str):
    """A YAML file of the repository, by its path from the root."""
    return yaml.safe_load((ROOT / relative).read_text(encoding="utf-8"))


def repo_text_files():
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if any(part.startswith(".") or part == "__pycache__" or part.endswith(".egg-info") for part in rel.parts):
            continue
        if path.is_file() and path.suffix in TEXT_SUFFIXES and path.stat().st_size < 5_000_000:
            yield rel, path.read_text(encoding="utf-8", errors="replace")


def test_no_file_refers_to_material_outside_the_repository():
    offenders = [f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
                 for rel, text in repo_text_files() for m in OUTSIDE.finditer(text)]
    assert not offenders, "paths outside the repository:\n" + "\n".join(offenders)


def test_every_cited_key_is_listed_and_every_listed_key_is_cited():
    defined = DEFINED.findall(SOURCES.read_text(encoding="utf-8"))
    assert len(defined) == len(set(defined)), "a key is listed twice in docs/sources.md"
    cited = {}
    for rel, text in repo_text_files():
        if rel == Path("docs/sources.md"):
            continue
        for key in KEY.findall(text):
            cited.setdefault(key, str(rel))
    unknown = {k: f for k, f in cited.items() if k not in defined}
    assert not unknown, f"keys not in docs/sources.md: {unknown}"
    uncited = sorted(set(defined) - set(cited))
    assert not uncited, f"listed in docs/sources.md but cited nowhere: {uncited}"
    # The baseline cites its sources (guards against the keys being stripped from it).
    assert len(KEY.findall((ROOT / "configs" / "baseline.yaml").read_text())) > 50


def test_data_tables_load_and_cite_every_section():
    for name in ("region_facts.yaml", "region_inputs.yaml"):
        text = (ROOT / "data" / name).read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        assert isinstance(data, dict) and data
        for section in data:  # each top-level table names at least one source by key
            block = text.split(f"\n{section}:", 1)[1].split("\n\n", 1)[0]
            assert KEY.search(block), f"{name}: {section} cites no source"


def test_citation_file_is_cff_1_2_0():
    cff = load("CITATION.cff")
    assert cff["cff-version"] == "1.2.0"
    for field in ("message", "title", "authors"):
        assert cff[field], field
    assert all("name" in a or "family-names" in a for a in cff["authors"])


def test_the_baselines_leadership_hazard_is_the_recorded_rate():
    """The hazard is computed from the table, not typed in: changes in the window over its
    quarters, every change dated inside the window and in a modelled state."""
    import datetime as dt

    record = load("data/hazards.yaml")["leadership_changes"]
    start, end = record["window"]["start"], record["window"]["end"]
    quarters = (end.year - start.year) * 4 + (end.month - start.month) // 3 + 1
    assert quarters == record["window"]["quarters"]
    baseline = load("configs/baseline.yaml")
    changes = record["changes"]
    assert all(start <= c["date"] <= end and c["state"] in baseline["states"] for c in changes)
    assert len({(c["state"], c["date"]) for c in changes}) == len(changes)
    shock = baseline["shocks"]["leadership_change"]
    assert shock["state"] == "random" and isinstance(start, dt.date)
    assert shock["hazard"] == len(changes) / quarters
    # The 2020 start knows only the record before it (its out-of-sample test).
    before = [c for c in changes if c["date"] < dt.date(2020, 1, 1)]
    start_2020 = load("configs/start_2020.yaml")
    assert start_2020["shocks"]["leadership_change"]["hazard"] == round(len(before) / (quarters - 20), 4)


def test_the_inputs_header_names_every_table_without_a_source():
    """data/region_inputs.yaml's header says every value cites its publisher except the tables it
    names: those must be exactly the tables without a key (and listed under 'Gaps')."""
    text = (ROOT / "data" / "region_inputs.yaml").read_text(encoding="utf-8")
    header = text.split("\n\n", 1)[0]
    blocks = re.split(r"\n(?=[a-z_0-9]+:)", text.split("\n\n", 1)[1])
    unsourced = {block.split(":", 1)[0] for block in blocks if not KEY.search(block)}
    named = {name for name in re.findall(r"\b([a-z]+(?:_[a-z0-9]+)+)\b", header) if name in yaml.safe_load(text)}
    assert named == unsourced
    gaps = SOURCES.read_text(encoding="utf-8").split("## Gaps", 1)[1]
    assert all(f"`{name}`" in gaps for name in unsourced)


# SIPRI's supplier names -> the baseline's powers; France, Germany, Italy and Spain are the
# EU's (ODD section 5); suppliers that are not modelled powers stay in a state's `other`.
SUPPLIERS = {"russia": "russia", "china": "china", "israel": "israel", "turkey": "turkey", "india": "india",
             "usa": "united_states", "france": "european_union", "germany": "european_union",
             "italy": "european_union", "spain": "european_union"}
NOT_MODELLED = {"jordan", "belarus", "slovakia"}


def test_the_baselines_security_ties_are_the_sipri_shares():
    """Every state's initial security ties are its arms-import shares in data/region_inputs.yaml
    (2017-2021, or 2016-2020 where no later row exists), supplier by supplier, with the EU's
    members summed: a supplier left out or counted under the wrong power fails here."""
    inputs = load("data/region_inputs.yaml")
    rows = {**inputs["arms_import_shares_pct_2016_2020"], **inputs["arms_import_shares_pct_2017_2021"]}
    baseline = load("configs/baseline.yaml")
    assert set(rows) == set(baseline["states"])
    for state, shares in rows.items():
        expected: dict[str, float] = {}
        for supplier, pct in shares.items():
            assert supplier in SUPPLIERS or supplier in NOT_MODELLED, (state, supplier)
            if supplier in SUPPLIERS:
                expected[SUPPLIERS[supplier]] = round(expected.get(SUPPLIERS[supplier], 0) + pct / 100, 6)
        got = {power: round(share, 6) for power, share in baseline["states"][state]["ties"]["security"].items()}
        assert got == expected, state


def test_the_baselines_trade_ties_are_the_national_shares_where_found():
    """Trade ties that data/region_inputs.yaml records (national statistics) are the
    baseline's, partner by partner; the rest are assumptions marked in the config."""
    found = load("data/region_inputs.yaml")["trade_shares_pct"]
    baseline = load("configs/baseline.yaml")
    partners = {"russia": "russia", "china": "china", "eu": "european_union"}
    checked = 0
    for key, row in found.items():
        if key == "not_found":
            continue
        ties = baseline["states"][key.rsplit("_", 1)[0]]["ties"]["trade"]
        for partner, power in partners.items():
            if partner in row:
                assert abs(ties[power] - row[partner] / 100) < 1e-9, (key, partner)
                checked += 1
    assert checked >= 9



def test_the_baselines_gdp_and_population_are_the_world_bank_figures():
    """The configs are typed by hand, not built from the tables: every state's GDP and
    population in configs/baseline.yaml must be the World Bank figure that
    data/region_inputs.yaml records for it (@wdi-gdp2024, @wdi-pop2025), state by state."""
    inputs = load("data/region_inputs.yaml")
    states = load("configs/baseline.yaml")["states"]
    for field, table in (("gdp", "gdp_usd_bn_2023"), ("population", "population_m_2024")):
        assert set(inputs[table]) == set(states), table
        for state, value in inputs[table].items():
            assert states[state][field] == value, (state, field)


def baseline_pairs() -> dict[frozenset, dict]:
    """The baseline's neighbour entries by unordered pair (each pair is written once)."""
    pairs: dict[frozenset, dict] = {}
    for state, spec in load("configs/baseline.yaml")["states"].items():
        for other, entry in (spec.get("neighbours") or {}).items():
            pair = frozenset((state, other))
            assert pair not in pairs, f"{sorted(pair)} written twice"
            pairs[pair] = entry
    return pairs


def test_the_baselines_neighbour_trade_is_the_tabulated_figures():
    """The neighbour trade that the data tables record: Kazakhstan-Uzbekistan is the 4.2 bn of
    Uzbekistan's 2024 statistics (data/region_inputs.yaml, the basis of its trade shares);
    Kazakhstan-Kyrgyzstan is read below the upper bound @abazov2025 gives ('<2.0' bn in 2025,
    data/region_facts.yaml), not a figure; and all pairs within the C6 (Central Asia and
    Azerbaijan), the others assumed, add up to no more than the C6's mutual trade of 2024
    (@ihr2025)."""
    inputs, facts = load("data/region_inputs.yaml"), load("data/region_facts.yaml")
    pairs = baseline_pairs()
    basis = inputs["trade_shares_pct"]["uzbekistan_2024"]["basis"]
    assert pairs[frozenset(("kazakhstan", "uzbekistan"))]["trade"] == float(re.search(r"Kazakhstan ([\d.]+)", basis).group(1))
    bound = facts["regional_states"]["kazakhstan"]["trade_with_kyrgyzstan_usd_bn"][2025]
    assert bound.startswith("<")
    assert 0 < pairs[frozenset(("kazakhstan", "kyrgyzstan"))]["trade"] < float(bound[1:])
    states = load("configs/baseline.yaml")["states"]
    c6 = {s for s, spec in states.items() if spec["subregion"] == "central_asia"} | {"azerbaijan"}
    assert len(c6) == 6
    within = sum(entry.get("trade", 0.0) for pair, entry in pairs.items() if pair <= c6)
    assert within <= facts["region"]["c6_mutual_trade_usd_bn"][2024] + 1e-9, within


def test_turkmenistans_china_trade_share_is_the_derivation_its_comment_gives():
    """No share of Turkmenistan's trade was found (data/region_inputs.yaml, not_found): its
    China tie is derived, Chinese customs' 2024 total with China (@gacc2025, in that table's
    comment) over the assumed outside trade plus its neighbour entries' trade, rounded to
    one decimal as the baseline's comment says."""
    text = (ROOT / "data" / "region_inputs.yaml").read_text(encoding="utf-8")
    assert "turkmenistan" in load("data/region_inputs.yaml")["trade_shares_pct"]["not_found"]
    with_china = float(re.search(r"Turkmenistan ([\d.]+) bn with China in 2024", text).group(1))
    state = load("configs/baseline.yaml")["states"]["turkmenistan"]
    regional = sum(entry.get("trade", 0.0) for pair, entry in baseline_pairs().items() if "turkmenistan" in pair)
    assert round(with_china / (state["external_trade"] + regional), 1) == state["ties"]["trade"]["china"]


def test_data_tables_describe_an_untitled_article_as_the_bibliography_does():
    """An article whose headline the project's copy lacks is described in brackets; the
    data tables' source entries must use the bibliography's words, so that one article
    is not cited under two names."""
    titles = set(re.findall(r"^\| `@[^`]+` \| [^|]+ \| (\[[^\]]+\]) \|", SOURCES.read_text(), flags=re.M))
    cited = set()
    for path in (ROOT / "data").glob("*.yaml"):
        cited |= set(re.findall(r"title: \"(\[[^\"]+\])\"", path.read_text()))
    assert cited and titles >= cited, sorted(cited - titles)


def test_the_odds_parameter_table_cites_what_the_baseline_cites():
    """ODD 7.16's source cells for values set per state or power name the keys that
    configs/baseline.yaml's comments give those values, no more and no fewer (they had
    drifted: a key cited for threat, investment ties and relations that the config never
    used for them). Neighbour lines mix relation, border and trade in one comment, so those
    rows must cite only keys of neighbour lines."""
    odd = (ROOT / "docs" / "ODD.md").read_text(encoding="utf-8").splitlines()
    config = (ROOT / "configs" / "baseline.yaml").read_text(encoding="utf-8").splitlines()

    def row(name: str, after: str = "") -> set[str]:
        line = next(line for line in odd[odd.index("#### 7.16.2 Regional states (`states.<id>`)"):] if line.startswith(f"| `{name}` |"))
        cell = line.rsplit("|", 2)[1]
        return set(KEY.findall(cell.split(after)[-1] if after else cell))

    def lines(pattern: str) -> set[str]:
        return {key for line in config if re.match(pattern, line) for key in KEY.findall(line)}

    assert row("autonomy") == lines(r"\s+autonomy: ")
    assert row("threat") == lines(r"\s+threat: ")
    assert row("ties.<domain>.<power>", "investment:") == lines(r"\s+investment: \{")
    assert row("credibility") == lines(r"\s+credibility: \d")
    neighbours = lines(r"\s+\w+: \{relation: ")
    assert row("neighbours.<state>.relation") <= neighbours and row("neighbours.<state>.border_open") <= neighbours


# A citation names its author, title, outlet and date (or publisher, dataset and year); an
# address may follow as the `url` of such a mapping, never stand for the citation itself.
URL = re.compile(r"https?://")
SOURCE_FIELD = re.compile(r"^(sources?|\w+_sources?|corroboration)$")


def bare_url_citations(path: Path) -> list[str]:
    """The places in a YAML file where a URL stands as a citation: any string under a source
    field (`source`, `sources`, `*_source`, `corroboration`, in lists too) holding an address,
    any other string beginning with one, and any `url` of a mapping without a title and an
    outlet or publisher."""
    found = []

    def walk(node, where: str, under_source: bool) -> None:
        if isinstance(node, dict):
            if "url" in node and not ("title" in node and ("outlet" in node or "publisher" in node)):
                found.append(f"{where}: url without title and outlet/publisher")
            for key, value in node.items():
                if key == "url" and isinstance(value, str):
                    continue
                walk(value, f"{where}/{key}", under_source or bool(SOURCE_FIELD.match(str(key))))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{where}[{i}]", under_source)
        elif isinstance(node, str) and (URL.match(node.strip().strip("'\"<")) or (under_source and URL.search(node))):
            found.append(f"{where}: {node[:80]}")

    walk(yaml.safe_load(path.read_text(encoding="utf-8")), str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path), False)
    return found


def test_no_data_table_cites_a_source_by_a_bare_url():
    """data/region_2020.yaml cited 23 sources as bare addresses (`source: https://...`), against
    the rule that a source is cited by author, title, outlet and date: every source field of
    the data tables and configs must be a citation, with any address kept as its `url`."""
    files = sorted((ROOT / "data").rglob("*.yaml")) + sorted((ROOT / "configs").rglob("*.yaml"))
    assert any(p.name == "region_2020.yaml" for p in files)
    offenders = [hit for path in files for hit in bare_url_citations(path)]
    assert not offenders, "sources cited by a bare URL:\n" + "\n".join(offenders)
