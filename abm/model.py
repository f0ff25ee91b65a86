"""The model: regional states and external powers exchanging offers, step by step.

One step is one period of ``time.step_months`` months (a quarter by default):

1. dated events of the period fire, then stochastic shocks are drawn (abm.events);
2. corridors: upgrades open, risk fades, freight is assigned to routes (abm.corridors);
3. powers allocate their budgets and make offers (allocation rule);
4. states evaluate the offers, in random order, and accept or reject (decision rule);
   accepted offers become ties, and accepting a rival's offer counts as a defection;
5. powers answer defections (coercion rule); a coerced state may close its corridor
   segments to the coercer;
6. ties decay unless renewed (decay rule); domestic opinion moves (opinion rule);
7. neighbours' relations and trade move, and clashes may happen (neighbours rule);
8. states review their memberships (membership rule);
9. metrics are measured and collected.

The model takes a scenario (path, mapping or :class:`abm.scenario.Scenario`) and an
``rng``; everything random draws from ``self.rng`` so that (scenario, seed) fixes the run.
``model.config`` is the validated scenario (``model.scenario`` is Mesa's own holder).
"""

from __future__ import annotations

import mesa
import numpy as np

import json

from abm import metrics
from abm.agents import ExternalPower, RegionalState
from abm.corridors import CorridorNetwork
from abm.events import EventQueue
from abm.offers import DOMAIN_INDEX, DOMAINS, Offer, evaluate
from abm.organisations import Organisations
from abm.relations import NeighbourPairs
from abm.rules import make
from abm.scenario import Scenario, load


class RegionModel(mesa.Model):
    """Great-power competition over a region of states."""

    def __init__(self, scenario: str | dict | Scenario = "configs/baseline.yaml", rng=None, sets=(), steps: int | None = None):
        super().__init__(rng=rng)
        cfg = load(scenario, list(sets))
        if steps is not None:
            cfg = load(cfg, [f"time.steps={steps}"])
        self.config = cfg
        self.state_keys = list(cfg.states)
        self.power_keys = list(cfg.powers)
        self.subregions = sorted({s.subregion for s in cfg.states.values()})
        self.rules = {family: make(family, getattr(cfg.rules, family)) for family in type(cfg.rules).model_fields}

        self.states = [RegionalState(self, k, n, cfg.states[k], self.power_keys) for n, k in enumerate(self.state_keys)]
        self.powers = [ExternalPower(self, k, n, cfg.powers[k], self.state_keys, self.power_keys) for n, k in enumerate(self.power_keys)]
        self.state_index = {k: n for n, k in enumerate(self.state_keys)}
        self.power_index = {k: n for n, k in enumerate(self.power_keys)}
        self.pairs = NeighbourPairs(cfg.states, self.state_keys)
        self.organisations = Organisations(cfg, self.state_keys, self.power_keys)
        self.organisations.refresh(self.pairs)
        self.network = CorridorNetwork(cfg, self.rules["route_choice"], self.state_keys, self.power_keys)
        self.network.assign(0.0)
        self.events = EventQueue(cfg)
        self.event_log: list[tuple[int, str, str, str, str, str]] = []  # (step, date, id, type, source, parameters)
        self.subregion_members = {r: np.array([s.subregion == r for s in self.states]) for r in self.subregions}
        self.all_members = np.ones(len(self.states), dtype=bool)

        self.rivalry = np.array([p.rivals for p in self.powers])  # rivalry[p, r]: p's hostility to r
        # powers that treat an acceptance of r's offer as a defection from themselves
        self.rivals_of = [
            [p.index for p in self.powers if p.rivals[r] >= 0.5 or r in p.exclusivity] for r in range(len(self.powers))
        ]
        self.threat_weight = np.array([p.capability * p.propensity for p in self.powers])

        self.counts = dict.fromkeys(("offers_made", "offers_accepted", "coercion_events", "conflict_events"), 0)
        self.coercions: list[tuple[int, str, str, str]] = []  # (step, power, state, tool)
        self.observe()
        self.measure()
        self.datacollector = mesa.DataCollector(
            model_reporters=metrics.model_reporters(list(self.metrics)),
            agenttype_reporters={RegionalState: metrics.state_reporters(self.power_keys)},
        )
        self.datacollector.collect(self)

    # ------------------------------------------------------------------ schedule
    def step(self) -> None:
        self.counts = dict.fromkeys(self.counts, 0)
        for state in self.states:
            state.gained[:] = 0.0
            state.harmed[:] = 0.0
        self.fire_events()
        self.move_freight()
        offers = self.make_offers()
        defections = self.decide_offers(offers)
        self.coerce_defectors(defections)
        self.decay_ties()
        self.rules["opinion"].update(self.states, self)
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
        for key, source, event in self.events.due(start, end, self.rng):
            self.log(event.name, source, event.apply(self), key)

    def move_freight(self) -> None:
        start, end = self.config.date(self.steps - 1), self.config.date(self.steps)
        years = self.steps * self.config.time.step_months / 12.0
        for kind, params in self.network.step(self.steps, start, end, years):
            self.log(kind, "scheduled", params)

    def review_memberships(self) -> None:
        for action, state, org in self.rules["membership"].review(self):
            if action == "leave":
                self.organisations.leave(state, org, self)
                self.log("exit", "calculus", {"state": state, "organisation": org})
            else:
                outcome = self.organisations.apply(state, org, self)
                kind = {"admitted": "accession", "blocked": "application_blocked", "closed": "application_refused"}[outcome]
                self.log(kind, "calculus", {"state": state, "organisation": org, **({"by": self.organisations[org].blocker(state)} if outcome == "blocked" else {})})

    def log(self, kind: str, source: str, params: dict, key: str = "") -> None:
        """Record something that happened: a scenario event (its id), a shock, or a
        change the model made itself (source 'calculus' or 'model')."""
        self.event_log.append((self.steps, self.date.isoformat(), key, kind, source, json.dumps(params, sort_keys=True)))

    def make_offers(self) -> list[Offer]:
        """Each power spreads each domain's budget over its target states."""
        spec = self.config.offers
        offers = []
        for power in self.powers:
            weights = np.asarray(self.rules["allocation"].weights(power, self), dtype=float)
            total = weights.sum()
            if total <= 0:
                continue
            weights = weights / total
            targets = np.flatnonzero(weights >= spec.min_weight)
            if spec.max_targets is not None and len(targets) > spec.max_targets:
                targets = targets[np.argsort(-weights[targets], kind="stable")[: spec.max_targets]]
            if len(targets) == 0:
                continue
            share = weights[targets] / weights[targets].sum()
            for d in np.flatnonzero(power.budget > 0):
                for s, w in zip(targets.tolist(), (power.budget[d] * share).tolist()):
                    offers.append(Offer(power.index, s, int(d), w, spec.duration))
        self.counts["offers_made"] = len(offers)
        return offers

    def decide_offers(self, offers: list[Offer]) -> set[tuple[int, int]]:
        """States decide on offers in random order; return the (state, power) defections."""
        decision, allocation = self.rules["decision"], self.rules["allocation"]
        shocks = self.rng.standard_normal(len(offers))
        defections = set()
        for k in self.rng.permutation(len(offers)).tolist():
            offer = offers[k]
            state, power = self.states[offer.state], self.powers[offer.power]
            utility = evaluate(state, power, offer, self)
            offer.accepted = decision.accept(state, power, offer, utility, shocks[k], self)
            allocation.learn(power, offer.state, offer.accepted)
            if offer.accepted:
                state.accept(offer, offer.terms["gain"])
                if offer.domain == DOMAIN_INDEX["investment"]:
                    self.network.invest(state.key, power.key, offer.size)
                self.counts["offers_accepted"] += 1
                for p in self.rivals_of[offer.power]:
                    if state.strength[p] > 0:
                        defections.add((offer.state, p))
                        state.defections[p] += 1
            else:
                state.reject(offer)
        return defections

    def coerce_defectors(self, defections: set[tuple[int, int]]) -> None:
        rule = self.rules["coercion"]
        for s, p in sorted(defections):
            state = self.states[s]
            tool = rule.respond(self.powers[p], state, self)
            if tool is None:
                continue
            self.counts["coercion_events"] += 1
            self.coercions.append((self.steps, self.power_keys[p], self.state_keys[s], tool))
            freight = self.config.freight
            if freight.closure_steps and state.opinion[p] < freight.closure_opinion:
                closed = self.network.close_for(state.key, self.power_keys[p], self.steps + freight.closure_steps)
                if closed:
                    self.log("segment_closure", "model", {"state": state.key, "against": self.power_keys[p], "corridors": closed})

    def decay_ties(self) -> None:
        rule = self.rules["decay"]
        for state in self.states:
            rule.apply(state.ties, state.expiry, self.steps)
            state.fear *= 0.9
            state.damage *= 0.9
            state.rejections *= 0.9
            state.defections *= 0.9

    # ------------------------------------------------------------------ perception
    def observe(self) -> None:
        """Refresh what agents see of each other for the next round of offers."""
        for state in self.states:
            state.refresh()
        self.alignment = np.array([s.alignment for s in self.states])
        declared = np.array([s.declared for s in self.states])
        self.observed = declared if self.config.offers.observe == "declared" else self.alignment
        self.influence = self.alignment.mean(axis=0)
        fear = np.array([s.fear for s in self.states])
        # expected punishment for accepting r's offer: rivals p of r present in the state
        self.backlash = (self.alignment * self.threat_weight + fear) @ self.rivalry
        opinion = np.array([s.opinion for s in self.states])
        menace = self.threat_weight * (self.alignment + fear + np.maximum(0.0, -opinion))
        self.main_threat = menace.argmax(axis=1)
        if self.organisations.changed:
            self.organisations.refresh(self.pairs)

    # ------------------------------------------------------------------ lookups and shared actions
    def state(self, key: str) -> RegionalState:
        return self.states[self.state_index[key]]

    def power(self, key: str) -> ExternalPower:
        return self.powers[self.power_index[key]]

    def pair(self, a: str, b: str) -> int:
        return self.pairs.find(self.state_index[a], self.state_index[b])

    def clash(self, k: int, damage: float) -> None:
        """A clash on neighbour pair ``k``: both sides suffer, feel threatened, and the
        routes through them get riskier."""
        self.counts["conflict_events"] += 1
        for s in (self.pairs.i[k], self.pairs.j[k]):
            state = self.states[s]
            state.damage += damage
            state.threat = min(1.0, state.threat + 0.05)
            self.network.add_risk(state.key, self.config.freight.conflict_risk)

    def neighbours_of(self, s: int) -> np.ndarray:
        return self.pairs.adjacency[s]

    def regional_trade_of(self, s: int) -> float:
        return float(self._regional_trade[s])

    # ------------------------------------------------------------------ metrics
    def measure(self) -> None:
        """Compute every model metric for this step into ``self.metrics``."""
        cfg = self.config.metrics
        a = self.alignment
        d = metrics.js_distance_matrix(a)
        self._regional_trade = self.pairs.trade_by_state(len(self.states))
        scale = np.array([s.gdp for s in self.states]) * self.config.offers.scale
        power_trade = np.array([s.ties[DOMAIN_INDEX["trade"]].sum() for s in self.states]) * scale
        external = np.array([s.external_trade for s in self.states])
        total_trade = self._regional_trade + external + power_trade
        labels = metrics.blocs(a, d, cfg.blocs_method, cfg.bloc_similarity)
        p = self.pairs
        shared_format = self.organisations.shared_format

        def integration(members):
            return metrics.integration(p.i, p.j, p.trade, p.relation, total_trade, shared_format, members)

        m = {"fragmentation": metrics.mean_pairwise(d)}
        for r, members in self.subregion_members.items():
            m[f"fragmentation_{r}"] = metrics.mean_pairwise(d, np.flatnonzero(members))
        m["integration"] = integration(self.all_members)
        for r, members in self.subregion_members.items():
            m[f"integration_{r}"] = integration(members)
        m["polarization"] = metrics.esteban_ray(a, labels, cfg.polarization_alpha)
        m["blocs"] = int(labels.max()) + 1
        m["mean_dependency_hhi"] = float(metrics.hhi(a).mean())
        for k, key in enumerate(self.power_keys):
            m[f"influence_{key}"] = float(self.influence[k])
        m["regional_trade_share"] = metrics.trade_share(p.i, p.j, p.trade, total_trade, self.all_members)
        m.update(self.network.metrics())
        for k, key in enumerate(self.state_keys):
            m[f"transit_revenue_{key}"] = float(self.network.revenue[k])
        for org in self.organisations:
            m[f"members_{org.key}"] = len(org.members)
        for org in self.organisations.regional_formats():
            m[f"cohesion_{org.key}"] = metrics.cohesion(d, p.i, p.j, p.relation, np.array(sorted(org.members), dtype=int))
        m.update(self.counts)
        self.metrics = m
        self.bloc_labels = labels

    @property
    def date(self):
        return self.config.date(self.steps)


__all__ = ["RegionModel", "DOMAINS"]
