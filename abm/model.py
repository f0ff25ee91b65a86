"""The model: regional states and external powers exchanging offers, step by step.

One step is one period of ``time.step_months`` months (a quarter, the only period the
scenario accepts):

1. dated events of the period fire, then stochastic shocks are drawn (abm.events);
   economies grow along their paths;
2. corridors: upgrades open, freight is assigned to routes, then shock risk fades
   (abm.corridors);
3. powers make offers: standing offers that renew the ties they hold, reallocated by
   the allocation rule, and new money split by it;
4. states evaluate the period's offers together, against the ties they held at its
   start, and take them in whole, in part or not at all (decision rule); what they
   take becomes ties; then each power sets the new money it adds next period in
   answer to what its rivals' offers won (spending rule);
5. ties decay unless renewed (decay rule); a state that took more than a tolerance
   of the new spending of a power's rivals has defected;
6. powers answer defections (coercion rule): the state complies or defies; a coerced
   state may close its corridor segments to the coercer;
7. credibility follows delivery (credibility rule); domestic opinion moves (opinion
   rule);
8. neighbours' relations and trade move, and clashes may call on guarantees
   (neighbours rule);
9. states review their memberships (membership rule);
10. metrics are measured and collected.

The start is in balance: each tie the data gives is renewed by a standing offer sized
so that its expected uptake equals what decay drains (:meth:`RegionModel.size_standing_offers`),
so a world where nothing happens keeps its alignment, and change comes from mechanisms
and events rather than from units.

The model takes a scenario (path, mapping or :class:`abm.scenario.Scenario`) and an
``rng``: a seed, as :func:`abm.runner.run` passes the scenario's ``seed`` (with none, as in
Mesa, a fresh seed: each model is a run of its own, as ``mesa.batch_run``'s iterations
expect). A scenario with ``posterior:`` first draws its parameters from it by that seed
(:func:`abm.posterior.apply`), as every run does, so that a model built in a notebook or
the dashboard is the run ``abm run`` makes with that seed. Every source of chance
(decision noise, coercion, clashes, guarantees, random allocation, each shock and event)
draws from a stream of its own keyed by name under the seed (:meth:`RegionModel.stream`), so
that (scenario, seed) fixes the run and two scenarios run with the same seed meet the same
draws in every source they share (common random numbers: a scenario whose offers,
coercions or shocks differ does not reshuffle the others' draws; ODD, "Random numbers").
``model.config`` is the validated scenario (``model.scenario`` is Mesa's own holder).
"""

from __future__ import annotations

import datetime as dt
import json
import zlib

import mesa
import numpy as np

from abm import metrics, posterior
from abm.agents import STATE_ARRAYS, ExternalPower, RegionalState
from abm.corridors import CorridorNetwork
from abm.events import EventQueue
from abm.offers import DOMAIN_INDEX, DOMAINS, Offers, evaluate
from abm.organisations import Organisations
from abm.relations import NeighbourPairs
from abm.rules import make
from abm.scenario import Scenario, load, with_run_settings

# the model's sources of chance, each a stream of its own (RegionModel.stream); the events
# and shocks have one each, by their ids
STREAMS = ("decision", "coercion", "guarantees", "clashes", "allocation")
ROUNDING = 1e-9  # relative size below which a difference of sums is floating-point rounding, not money
BELIEF_FLOOR = 1e-6  # a base credibility under it is none: standing offers divide by it, and 1e-200 overflowed them and crashed the run


class RegionModel(mesa.Model):
    """Great-power competition over a region of states.

    ``tables=False`` collects only the model's row each step, not the per-state and pair
    records the agents and relations tables are built from (see :class:`abm.metrics.Collector`)."""

    def __init__(self, scenario: str | dict | Scenario = "configs/baseline.yaml", rng=None, sets=(), steps: int | None = None, tables: bool = True):
        cfg = load(scenario, list(sets))  # shared, not copied: the model never writes to its scenario
        if steps is not None and steps != cfg.time.steps:
            cfg = with_run_settings(cfg, steps=steps)
        if rng is None:  # Mesa's meaning: a run of its own (mesa.batch_run's iterations), here a fresh integer seed, which a posterior draws by too
            rng = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)
        if cfg.posterior is not None:
            if not isinstance(rng, int | np.integer):
                raise ValueError(f"scenario {cfg.name} draws its parameters from a posterior by the run's seed: give rng as an integer seed, not {type(rng).__name__}")
            cfg = posterior.apply(cfg, int(rng))
        super().__init__(rng=rng)
        self.streams = {name: self.stream(name) for name in STREAMS}
        self.event_rng = self.stream("event")  # what an event draws from: in a step, the firing event's own stream; this one for an event applied by hand
        self.config = cfg
        self.state_keys = list(cfg.states)
        self.power_keys = list(cfg.powers)
        self.subregions = sorted({s.subregion for s in cfg.states.values()})
        self.rules = {family: make(family, getattr(cfg.rules, family)) for family in type(cfg.rules).model_fields}

        n, m = len(self.state_keys), len(self.power_keys)
        sizes = {"domains": len(DOMAINS), "powers": m}
        for name, shape in STATE_ARRAYS.items():  # the states' arrays, held here for vector work
            setattr(self, name, np.zeros((n, *(sizes[d] for d in shape)), dtype=int if name == "expiry" else float))
        for name in ("interests", "offers_to", "accepted_by"):  # the powers' arrays, powers x states
            setattr(self, name, np.zeros((m, n)))
        self.state_index = {k: n for n, k in enumerate(self.state_keys)}
        self.key_order = np.argsort(self.state_keys)  # the states by key: what an order-dependent metric follows, so that listing them otherwise changes nothing
        self.power_index = {k: n for n, k in enumerate(self.power_keys)}
        self.states = [RegionalState(self, k, n, cfg.states[k], self.power_index) for n, k in enumerate(self.state_keys)]
        self.powers = [ExternalPower(self, k, n, cfg.powers[k], self.state_index, self.power_index) for n, k in enumerate(self.power_keys)]
        self.credibility[:] = [p.credibility if p.credibility >= BELIEF_FLOOR else 0.0 for p in self.powers]  # every state starts from the power's standing
        self.delivery = np.ones((n, m))  # standing offers made, relative to the balanced start
        self.pairs = NeighbourPairs(cfg.states, self.state_keys)
        self.organisations = Organisations(cfg, self.state_keys, self.power_keys)  # its arrays come with the first observe()
        self.network = CorridorNetwork(cfg, self.rules["route_choice"], self.state_keys, self.power_keys)
        self.network.assign(0.0)
        self.events = EventQueue(cfg, self.stream)
        self.event_log: list[tuple[int, str, str, str, str, str, str]] = []  # (step, date, id, type, source, event_date, parameters)
        self.region = metrics.Group(np.ones(len(self.states), dtype=bool), self.pairs.i, self.pairs.j)
        self.subregion_groups = [metrics.Group(np.array([s.subregion == r for s in self.states]), self.pairs.i, self.pairs.j) for r in self.subregions]
        self.external_trade = np.array([cfg.states[k].external_trade for k in self.state_keys])  # at the start's GDP
        self.gdp0 = np.array([cfg.states[k].gdp for k in self.state_keys])
        self.gdp = self.gdp0.copy()
        self.growth = np.array([s.gdp_growth for s in self.states])
        self._names = cfg.metric_columns()  # metric column names by kind, built once

        self.rivalry = np.array([p.rivals for p in self.powers])  # rivalry[p, r]: p's hostility to r
        # powers that treat an acceptance of r's offer as a defection from themselves
        self.rivals_of = [
            [p.index for p in self.powers if p.rivals[r] >= 0.5 or r in p.exclusivity] for r in range(len(self.powers))
        ]
        # rival_mask[r, p]: p treats an acceptance of r's offer as a defection from itself
        self.rival_mask = np.zeros((m, m))
        for r, powers in enumerate(self.rivals_of):
            self.rival_mask[r, powers] = 1.0
        self.exclusive_mask = np.zeros((m, m))  # [p, r]: p's offers demand no ties with r
        for p in self.powers:
            self.exclusive_mask[p.index, p.exclusivity] = 1.0
        self.needs = np.array([s.needs for s in self.states])

        self._hhi_column = metrics.state_columns(self.power_keys).index("dependency_hhi")
        self.counts = dict.fromkeys(self._names["counts"], 0)
        self.coercions: list[tuple[int, str, str, str, str]] = []  # (step, power, state, tool, response)
        self.spending = np.zeros(m)  # USD bn each power offers in the step (none before the first)
        self.chosen = np.zeros((n, m))  # ties each state took from each power's new spending in the step
        self.taken_from_rivals = np.zeros((n, m))  # [s, p]: share of s's ties taken in the step from p's rivals' new spending (the defection test)
        self.new_money_taken = np.zeros((n, len(DOMAINS), m))  # USD bn of each power's new spending each state took in the step
        self.answered = np.zeros((m, len(DOMAINS)))  # new money each power adds to its budget in answer to rivals (the spending rule)
        self.observe()
        self.size_standing_offers()
        self.attention0 = self.rules["allocation"].reference(self)
        self.pairs.settle(None, self)
        self.measure()
        self.check_metric_columns()
        self.datacollector = metrics.Collector(
            model_reporters=metrics.model_reporters(list(self.metrics)),
            agenttype_reporters={RegionalState: metrics.state_reporters(self.power_keys)},
            records=tables,
        )
        self.datacollector.collect(self)

    # ------------------------------------------------------------------ schedule
    def step(self) -> None:
        self.counts = dict.fromkeys(self.counts, 0)
        self.gained[:] = 0.0  # every state's, through the model's arrays
        self.harmed[:] = 0.0
        self.chosen[:] = 0.0
        self.fire_events()
        self.grow_economies()
        self.move_freight()
        offers = self.make_offers()
        self.decide_offers(offers)
        self.answer_rivals()
        self.decay_ties()
        self.coerce_defectors(self.find_defections())
        self.rules["credibility"].update(self)
        self.rules["opinion"].update(self)
        self.rules["neighbours"].update(self.pairs, self)
        self.review_memberships()
        self.observe()
        self.measure()
        self.datacollector.collect(self)
        if self.steps >= self.config.time.steps:
            self.running = False

    def fire_events(self) -> None:
        """Apply the events of this step's period: dated ones, then shocks drawn."""
        start, end = self.config.date(self.steps - 1), self.config.date(self.steps)
        by_hand = self.event_rng
        for key, source, event, rng, on in self.events.due(start, end):
            self.event_rng = rng  # what the event applied now draws from: its own stream
            self.log(event.name, source, event.apply(self), key, on)
        self.event_rng = by_hand  # an event applied by hand between steps keeps to its own stream

    def grow_economies(self) -> None:
        """GDP follows each state's growth path; offers, trade ceilings and outside
        trade scale with it."""
        years = self.steps * self.config.time.step_months / 12.0
        self.gdp = self.gdp0 * (1.0 + self.growth) ** years
        self.pairs.gdp_i, self.pairs.gdp_j = self.gdp[self.pairs.i], self.gdp[self.pairs.j]

    def move_freight(self) -> None:
        end = self.config.date(self.steps)
        years = self.steps * self.config.time.step_months / 12.0
        for kind, params, key, on in self.network.step(self.steps, end, years):
            self.log(kind, "model" if kind == "corridor_reopen" else "scheduled", params, key, on)

    def review_memberships(self) -> None:
        for action, state, org in self.rules["membership"].review(self):
            if action == "leave":
                self.organisations.leave(state, org, self)
                self.log("exit", "calculus", {"state": state, "organisation": org})
            elif action in ("freeze", "resume"):
                self.organisations.freeze(state, org, frozen=action == "freeze")
                self.log(action, "calculus", {"state": state, "organisation": org})
            else:
                outcome = self.organisations.apply(state, org, self)
                kind = {"admitted": "accession", "blocked": "application_blocked", "closed": "application_refused"}[outcome]
                self.log(kind, "calculus", {"state": state, "organisation": org, **({"by": self.organisations[org].blocker(state)} if outcome == "blocked" else {})})

    def log(self, kind: str, source: str, params: dict, key: str = "", on: dt.date | None = None) -> None:
        """Record something that happened: a scenario event (its id and, if dated, its own
        date ``on``, which falls inside the step's period), a shock, or a change the model
        made itself (source 'calculus' or 'model')."""
        self.event_log.append((self.steps, self.date.isoformat(), key, kind, source, on.isoformat() if on else "", json.dumps(params, sort_keys=True)))

    def make_offers(self) -> Offers:
        """Each power's offers of the period, one per state and domain it spends on.

        * Standing offers renew the ties the power held at the start (their sizes from
          :meth:`size_standing_offers`, grown with the recipient's economy and scaled by
          the power's ``commitment``). The allocation rule moves them between states by
          its weights relative to its reference, keeping each domain's total.
        * New money (``budget``) is split by the weights themselves: normalised, states
          below ``min_weight`` dropped (all but the largest), the ``max_targets`` largest kept
          with any that tie the last of them.
        """
        spec = self.config.offers
        weights = np.asarray(self.rules["allocation"].weights(self), dtype=float)  # M x N
        relative = np.divide(weights, self.attention0, out=np.ones_like(weights), where=self.attention0 > 0)
        base = self.standing * (self.gdp / self.gdp0)  # M x 3 x N, what keeps the start's ties
        moved = base * relative[:, None, :]
        kept, now = base.sum(axis=2, keepdims=True), moved.sum(axis=2, keepdims=True)
        standing = np.divide(moved * kept, now, out=np.zeros_like(moved), where=now > 0)
        course = np.array([power.course for power in self.powers])[:, None]  # an inward power spends a share of what it would
        commitment = np.array([power.commitment for power in self.powers])  # M x 3: what budget_change and withdrawal left of the start's spending
        standing *= (commitment * course)[:, :, None]
        promised, made = base.sum(axis=1).T, standing.sum(axis=1).T  # N x M
        self.delivery = np.divide(made, promised, out=np.ones_like(made), where=promised > 0)

        totals = weights.sum(axis=1, keepdims=True)
        weights = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
        keep = weights >= np.minimum(spec.min_weight, weights.max(axis=1, keepdims=True))  # the floor trims slivers of attention; a power's best target stays, or a world of many states would get none of its money
        if spec.max_targets is not None and spec.max_targets < weights.shape[1]:  # the largest weights, and any that tie the last kept: listing order picks none
            keep &= weights >= -np.partition(-weights, spec.max_targets - 1, axis=1)[:, spec.max_targets - 1 : spec.max_targets]
        kept = np.where(keep, weights, 0.0)
        sums = kept.sum(axis=1, keepdims=True)
        share = np.divide(kept, sums, out=np.zeros_like(kept), where=sums > 0)
        budget = (np.array([power.budget for power in self.powers]) + self.answered * commitment) * course  # M x 3: the scenario's new money and the answer to rivals, which a power that cut its spending cuts alike
        sizes = standing + budget[:, :, None] * share[:, None, :]  # M x 3 x N
        self.spending = sizes.sum(axis=(1, 2))  # reported: the model's currency, which the balanced start sizes
        p, d, s = np.nonzero(sizes > 0)
        # maintenance: what renews the start's ties, as far as the standing offer covers it,
        # so that new money counts in full even where the standing offer fell short
        maintenance = np.minimum(base, standing)[p, d, s]
        offers = Offers(power=p, state=s, domain=d, size=sizes[p, d, s], duration=np.full(len(p), spec.duration), maintenance=maintenance)
        self.counts["offers_made"] = len(offers)
        return offers

    def size_standing_offers(self) -> None:
        """Size the standing offers so that the start is in balance.

        For every tie the data gives, the offer that renews it must add, once taken,
        what the decay rule drains from it a step (``upkeep``), in expectation: its
        gain is ``upkeep / chance``, with ``chance`` the decision rule's probability of
        taking it at the start (floored at ``offers.min_acceptance``). The chance
        depends on the offer's size, so the two are solved together by a few rounds of
        fixed-point iteration. Sizes are kept in USD bn at the start's GDP
        (``self.standing``, powers x domains x states); ``self.start_chance`` keeps the
        chances, states x domains x powers (NaN where there is no tie). A tie whose
        chance sits at the floor cannot be sustained by the state's own calculus: it
        is out of balance, and fades unless something changes.
        """
        n, m = len(self.states), len(self.powers)
        upkeep = self.rules["decay"].upkeep(self.ties)
        s, d, p = np.nonzero((upkeep > 0) & (self.credibility[:, None, :] > 0))
        needed = upkeep[s, d, p]
        usd_per_unit = self.gdp0[s] * self.config.offers.scale / self.credibility[s, p]
        chance = np.ones(len(s))
        duration = np.full(len(s), self.config.offers.duration)
        for _ in range(4):
            offers = Offers(p, s, d, needed / chance * usd_per_unit, duration)
            utility = evaluate(offers, self)
            chance = np.clip(self.rules["decision"].probability(offers, utility, self), self.config.offers.min_acceptance, 1.0)
        self.standing = np.zeros((m, len(DOMAINS), n))
        self.standing[p, d, s] = needed / chance * usd_per_unit
        self.start_chance = np.full((n, len(DOMAINS), m), np.nan)
        self.start_chance[s, d, p] = chance
        self.usual_gain = (upkeep * (self.credibility[:, None, :] > 0)).sum(axis=1)  # N x M: what the start's standing offers bring a step (none where the power has no credibility)

    def decide_offers(self, offers: Offers) -> None:
        """States decide on the period's offers together, against the ties they had at
        its start; what they take becomes ties."""
        n, m = len(self.states), len(self.powers)
        utility = evaluate(offers, self)
        noise = self.streams["decision"].standard_normal(self.standing.shape)[offers.power, offers.domain, offers.state]  # one per cell a step, offered or not
        taken_share = self.rules["decision"].accept(offers, utility, noise, self)
        offers.accepted = taken_share
        s, p, d, gain = offers.state, offers.power, offers.domain, offers.terms["gain"]
        a = taken_share > 0
        taken = gain * taken_share
        cell = (s * len(DOMAINS) + d) * m + p  # flat index into the N x 3 x M arrays
        self.ties.reshape(-1)[:] += np.bincount(cell, taken, self.ties.size)
        np.maximum.at(self.expiry.reshape(-1), cell[a], self.steps + offers.duration[a])
        self.gained.reshape(-1)[:] += np.bincount(s * m + p, taken, n * m)
        self.counts["offers_accepted"] = int(a.sum())
        if self.rules["allocation"].learns:
            self.learn(offers)
        # what a power spends beyond the upkeep of its start's ties is new: taking it is
        # a choice its rivals notice (find_defections), and new investment upgrades the
        # sponsor's routes (maintenance keeps the relationship, and the infrastructure, as
        # they were)
        new_spending = offers.size - (offers.maintenance if offers.maintenance is not None else 0.0)  # >= 0: maintenance is at most the standing offer
        new_spending[new_spending <= ROUNDING * offers.size] = 0.0  # a standing offer moved by nothing differs from its upkeep in the last bits: no new money
        beyond = np.divide(new_spending, offers.size, out=np.zeros(len(offers)), where=offers.size > 0)
        self.chosen.reshape(-1)[:] = np.bincount(s * m + p, taken * beyond, n * m)
        self.new_money_taken.reshape(-1)[:] = np.bincount(cell, new_spending * taken_share, self.new_money_taken.size)
        invested = a & (d == DOMAIN_INDEX["investment"]) & self.network.sponsors_route[s, p] & (new_spending > 0)
        if invested.any():
            total = np.bincount(s[invested] * m + p[invested], (new_spending * taken_share)[invested], n * m)
            for k in np.flatnonzero(total).tolist():
                self.network.invest(k // m, k % m, float(total[k]))

    def answer_rivals(self) -> None:
        """Each power sets the new money it adds next period in answer to what its rivals'
        offers won this one (the spending rule; none under ``fixed``)."""
        self.answered = self.rules["spending"].answer(self)

    def find_defections(self) -> list[tuple[int, int]]:
        """The (state, power) pairs where the state took, this step, more than
        ``offers.defection_tolerance`` of all its ties (at the step's start) from the
        power's rivals' new spending: the part of their offers beyond the upkeep of the
        start's ties (new money, or standing offers moved into the state). Counted from
        what the state chose, so that nothing else counts: a rival renewing its ties, however
        lumpy its standing offer; ties an event cut; the power's own ties fading because
        it spends less; ties growing under a decay rule that lets renewed ties accumulate
        (``expiry``); and one rival's losses never hide another's gain."""
        advance = self.chosen @ self.rival_mask  # [s, p]: new spending of p's rivals taken
        everything = self.total + self.other_total
        self.taken_from_rivals = np.divide(advance, everything[:, None], out=np.zeros_like(advance), where=everything[:, None] > 0)
        defected = self.taken_from_rivals > self.config.offers.defection_tolerance
        self.defections += defected
        return list(zip(*(k.tolist() for k in np.nonzero(defected))))

    def learn(self, offers: Offers) -> None:
        """Tell each power how its offers fared, state by state."""
        n, m = len(self.states), len(self.powers)
        key = offers.power * n + offers.state
        offered = np.bincount(key, minlength=n * m).reshape(m, n)
        taken = np.bincount(key, offers.accepted, minlength=n * m).reshape(m, n)
        allocation = self.rules["allocation"]
        for power in self.powers:
            targets = np.flatnonzero(offered[power.index])
            if len(targets):
                allocation.learn(power, targets, taken[power.index, targets], offered[power.index, targets])

    def coerce_defectors(self, defections: list[tuple[int, int]]) -> None:
        rule = self.rules["coercion"]
        draws = self.streams["coercion"].random((len(self.states), len(self.powers), 3))  # for every (state, power) a step, defected or not
        for s, p in defections:
            state = self.states[s]
            outcome = rule.respond(self.powers[p], state, self, draws[s, p])
            if outcome is None:
                continue
            tool, response = outcome
            self.counts["coercion_events"] += 1
            self.coercions.append((self.steps, self.power_keys[p], self.state_keys[s], tool, response))
            freight = self.config.freight
            if freight.closure_steps and state.opinion[p] < freight.closure_opinion:
                closed = self.network.close_for(state.key, self.power_keys[p], self.steps + freight.closure_steps)
                if closed:
                    self.log("segment_closure", "model", {"state": state.key, "against": self.power_keys[p], "corridors": closed})

    def decay_ties(self) -> None:
        """Ties fade by the decay rule; fear, damage and memories fade by a tenth a step."""
        self.rules["decay"].apply(self.ties, self.expiry, self.steps)
        for memory in (self.fear, self.defections):
            memory *= 0.9
        for state in self.states:
            state.damage *= 0.9

    # ------------------------------------------------------------------ perception
    def observe(self) -> None:
        """Refresh what agents see of each other for the next round of offers."""
        self.strength = self.ties.sum(axis=1)
        self.total = self.strength.sum(axis=1)
        self.other_total = self.other.sum(axis=1)
        self.sumsq = (self.strength**2).sum(axis=1)
        everything = self.total + self.other_total
        has_any = everything > 0
        safe = np.where(has_any, everything, 1.0)[:, None]
        self.alignment = self.strength / safe  # shares of all ties, other partners included
        self.other_share = np.where(has_any, self.other_total / safe[:, 0], 1.0)
        per_domain = self.ties.sum(axis=2) + self.other  # N x 3, other partners included
        self.domain_alignment = self.ties / np.where(per_domain > 0, per_domain, 1.0)[:, :, None]  # each domain's shares
        self.trade_alignment = self.domain_alignment[:, DOMAIN_INDEX["trade"]]
        self.autonomy = np.array([s.autonomy for s in self.states])
        self.threat = np.array([s.threat for s in self.states])
        tilt = self.alignment * np.exp(self.autonomy[:, None] * self.opinion)
        tilted = tilt.sum(axis=1, keepdims=True)  # the powers' part, redistributed; other partners' share kept
        self.declared = np.divide(tilt * (1.0 - self.other_share)[:, None], tilted, out=np.zeros_like(tilt), where=tilted > 0)
        self.observed = self.declared if self.config.offers.observe == "declared" else self.alignment
        self.influence = self.alignment.sum(axis=0) / len(self.states)  # = mean(axis=0), without its Python wrapper
        threat_weight = np.array([p.capability * p.propensity for p in self.powers])
        # expected punishment for accepting r's offer: rivals p of r present in the state
        self.backlash = (self.alignment * threat_weight + self.fear) @ self.rivalry
        menace = threat_weight * (self.alignment + self.fear + np.maximum(0.0, -self.opinion))
        self.main_threat = menace.argmax(axis=1)
        self.threatened = menace.max(axis=1) > 0  # a state no power menaces has no main threat: argmax's first power would be an artefact of the scenario's order
        if self.organisations.changed:
            self.organisations.refresh(self.pairs)
            self.group_memberships()
        self.conditions = self.condition_costs()

    def condition_costs(self) -> np.ndarray:
        """What complying with each power's conditions would cost each state (N x M):
        the governance gap and joining the power's club, scaled by autonomy, plus the
        share of ties to the rivals the power's exclusivity rules out."""
        governance = np.array([s.governance for s in self.states])
        demand = np.array([p.governance_demand for p in self.powers])
        gap = np.maximum(0.0, demand[None, :] - governance[:, None])
        club = 0.5 * self.organisations.outside_club
        return self.autonomy[:, None] * (gap + club) + self.alignment @ self.exclusive_mask.T

    # ------------------------------------------------------------------ lookups and shared actions
    def stream(self, *names: str) -> np.random.Generator:
        """The generator of one source of chance, keyed by its names under the run's
        seed: a child of the seed's ``SeedSequence`` whose spawn key holds the names'
        CRC-32. Keyed by name, not by order, so that two scenarios run with the same seed
        meet the same draws in every source they share, whatever the other draws (common
        random numbers)."""
        root = self.rng.bit_generator.seed_seq
        key = tuple(zlib.crc32(name.encode()) for name in names)
        return np.random.Generator(type(self.rng.bit_generator)(np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, *key))))

    def state(self, key: str) -> RegionalState:
        return self.states[self.state_index[key]]

    def power(self, key: str) -> ExternalPower:
        return self.powers[self.power_index[key]]

    def pair(self, a: str, b: str) -> int:
        return self.pairs.find(self.state_index[a], self.state_index[b])

    def clash(self, k: int, damage: float, rng: np.random.Generator) -> None:
        """A clash on neighbour pair ``k``: both sides suffer, feel threatened, the
        routes through them get riskier, and each calls on its security guarantees,
        decided by draws from ``rng``."""
        self.counts["conflict_events"] += 1
        i, j = int(self.pairs.i[k]), int(self.pairs.j[k])
        for victim, attacker in ((i, j), (j, i)):
            state = self.states[victim]
            state.damage += damage
            state.threat = min(1.0, state.threat + 0.05)
            self.network.add_risk(state.key, self.config.freight.conflict_risk)
            for kind, params in self.rules["credibility"].guarantee_called(self, victim, attacker, rng):
                self.log(kind, "model", params)

    def shift_credibility(self, power: int, delta: float) -> None:
        """Move a power's base credibility and every state's belief in it by ``delta``:
        a lasting change in what the power is (a withdrawal, a new posture)."""
        p = self.powers[power]
        p.credibility = float(np.clip(p.credibility + delta, 0.0, 1.0))
        self.shake_belief(power, delta)

    def shake_belief(self, power: int, delta: float) -> None:
        """Move every state's belief in a power by ``delta``, leaving its base
        credibility alone: a passing shock that delivery can undo (the credibility
        rule pulls belief back toward base x delivery)."""
        np.clip(self.credibility[:, power] + delta, 0.0, 1.0, out=self.credibility[:, power])

    def neighbour_count(self) -> np.ndarray:
        p, n = self.pairs, len(self.states)
        return np.bincount(p.i, minlength=n) + np.bincount(p.j, minlength=n)

    def neighbour_mean(self, values: np.ndarray) -> np.ndarray:
        """For each state, the mean of ``values`` (one row per state) over its
        neighbours; 0 for a state without neighbours."""
        p = self.pairs
        sums = np.zeros(values.shape)
        np.add.at(sums, p.i, values[p.j])
        np.add.at(sums, p.j, values[p.i])
        degree = self.neighbour_count().reshape(-1, *([1] * (values.ndim - 1)))
        return np.divide(sums, degree, out=np.zeros(values.shape), where=degree > 0)

    # ------------------------------------------------------------------ metrics
    def group_memberships(self) -> None:
        """What the metrics need of memberships, kept until they change: each regional
        format's group, and the mean institutional overlap of the region and subregions."""
        orgs, p = self.organisations, self.pairs
        self.format_groups = []
        for org in orgs.regional_formats():
            members = np.zeros(len(self.states), dtype=bool)
            members[list(org.active)] = True
            self.format_groups.append(metrics.Group(members, p.i, p.j))
        overlap = np.where(orgs.shared_format, 1.0, self.config.metrics.club_overlap * orgs.shared_club)
        self.institutions = [group.mean_pairwise(overlap) for group in (self.region, *self.subregion_groups)]
        self.metric_groups = metrics.Groups([self.region, *self.subregion_groups, *self.format_groups])

    def measure(self) -> None:
        """Compute every model metric for this step into ``self.metrics``."""
        cfg = self.config.metrics
        a = self.alignment
        d = metrics.js_distance_matrix(np.concatenate([a, self.other_share[:, None]], axis=1))
        self._regional_trade = self.pairs.trade_by_state(len(self.states))
        total_trade = self.external_trade * (self.gdp / self.gdp0) + self._regional_trade  # USD bn a year
        labels = metrics.blocs(a, d, cfg.blocs_method, cfg.bloc_similarity, self.key_order)
        p = self.pairs
        w = cfg.integration_weights
        weights = (w.trade, w.relations, w.institutions)
        benefit = (self.needs * np.log1p(self.ties.sum(axis=2))).sum(axis=1)
        damage = np.array([state.damage for state in self.states])
        welfare = benefit + (self._regional_trade + self.network.revenue) / self.gdp - damage
        self.state_table = metrics.state_table(a, self.other_share, self.domain_alignment, self.declared, self.opinion, self.defections, welfare)
        # the region, its subregions, then the regional formats: each group metric of all at once
        groups, names, k = self.metric_groups, self._names, 1 + len(self.subregions)
        fragmentation = groups.mean_pairwise(d)
        division = groups.mean_pairwise(a @ self.hostility @ a.T)  # mean a_i' H a_j over member pairs
        shares, relations = groups.trade_shares(p.trade, total_trade), groups.relations(p.relation)
        m = dict(zip(names["fragmentation"], fragmentation[:k]))
        m.update(zip(names["division"], division[:k]))
        for key, g in zip(names["integration"], range(k)):
            m[key] = metrics.composite(shares[g], relations[g], self.institutions[g], weights, cfg.trade_ceiling)
        m["polarization"] = metrics.polarization(d, cfg.polarization_alpha, cfg.polarization_bandwidth)
        m["blocs"] = int(labels.max()) + 1
        m["mean_dependency_hhi"] = float(self.state_table[:, self._hhi_column].sum() / len(a))  # = mean(), without its Python wrapper
        m.update(zip(names["influence"], self.influence.tolist()))
        m.update(zip(names["spending"], self.spending.tolist()))
        m["regional_trade_share"] = shares[0]
        m.update(self.network.metrics())
        m.update(zip(names["transit_revenue"], self.network.revenue.tolist()))
        for key, org in zip(names["members"], self.organisations):
            m[key] = len(org.active)
        for key, g in zip(names["cohesion"], range(k, len(groups))):
            m[key] = metrics.cohesion(groups.size[g], fragmentation[g], relations[g])
        m.update(self.counts)
        self.metrics = m
        self.bloc_labels = labels

    def check_metric_columns(self) -> None:
        """Hold :meth:`measure` to the columns :meth:`Scenario.metric_columns` declares, and
        the per-state table to :func:`abm.scenario.state_columns`:
        sweeps, ``watch`` and ``compare`` know the metrics from there, without building a
        model, so a metric added to one and not the other would be written by ``abm run``
        and called unknown by the rest (or the reverse, left out without a word)."""
        measured, declared = list(self.metrics), self.config.metric_names()
        if measured != declared:
            extra, lacking = [c for c in measured if c not in declared], [c for c in declared if c not in measured]
            raise RuntimeError(f"RegionModel.measure computes other metric columns than Scenario.metric_columns declares (computed only: {extra or 'none'}; declared only: {lacking or 'none'}"
                               f"{'; the same columns in another order' if not extra and not lacking else ''}): a metric is added to both, in the same order")
        if self.state_table.shape[1] != (columns := len(metrics.state_columns(self.power_keys))):  # else the run fails at its end, or drops a column without a word
            raise RuntimeError(f"abm.metrics.state_table computes {self.state_table.shape[1]} per-state columns where abm.scenario.state_columns declares {columns}: a per-state column is added to both, in the same order")

    @property
    def hostility(self) -> np.ndarray:
        """Rivalry made symmetric: what divides two camps, or two neighbours whose patrons
        are rivals, runs both ways."""
        return (self.rivalry + self.rivalry.T) / 2.0

    @property
    def date(self):
        return self.config.date(self.steps)


__all__ = ["RegionModel", "DOMAINS"]
