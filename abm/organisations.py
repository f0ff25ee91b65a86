"""Regional organisations: power-led clubs and the regional format.

A club (EAEU, CSTO, SCO, OTS, an EU association track) has a leader power; membership
gives the leader's (and member powers') offers a value bonus per domain (tariff
preferences, security guarantees) and binds members to refuse offers from excluded
powers (an obligation cost). A regional format (C5, C6, a Community of Central Asia)
has no leader; shared membership counts toward integration, and if an external power
joins it, the power's offers gain the format's bonus and its rivalry is imported into
the members' relations (``rivalry_import``), the lever the seeds recall from Russia's
entry into CACO in 2004 (@tolipov2025).

States join, leave and apply by the ``membership`` rule; vetoes block applicants (the
SCO bids of Azerbaijan and Armenia blocked by India and Pakistan, @ihr2025, @abrahamyan2025).
"""

from __future__ import annotations

import numpy as np

from abm.offers import DOMAINS


class Organisation:
    def __init__(self, key: str, spec, power_index: dict[str, int], state_index: dict[str, int]):
        self.key = key
        self.name = spec.name
        self.kind = spec.kind
        self.leader = power_index[spec.leader] if spec.leader else None
        self.powers = {power_index[p] for p in spec.powers}
        self.observers = {state_index[s] for s in spec.observers}
        self.members: set[int] = set()
        self.frozen: set[int] = set()  # members whose participation is frozen (no benefits, no obligations)
        self.benefits = np.array([spec.benefits.get(d) for d in DOMAINS])
        self.excludes = [power_index[p] for p in spec.excludes]
        self.obligation = spec.obligation
        self.membership_cost = spec.membership_cost
        self.open = spec.open
        self.vetoes = {holder: set(applicants) for holder, applicants in spec.vetoes.items()}
        self.rivalry_import = spec.rivalry_import

    @property
    def active(self) -> set[int]:
        """Members taking part: a frozen member takes neither benefits nor obligations,
        calls on no guarantee, counts in no metric of the organisation and draws no
        neighbour in (ODD 7.11.4)."""
        return self.members - self.frozen

    @property
    def patrons(self) -> set[int]:
        """Powers whose offers to members carry the organisation's benefits."""
        return self.powers | ({self.leader} if self.leader is not None else set())

    def blocker(self, state_key: str) -> str | None:
        return next((holder for holder, applicants in sorted(self.vetoes.items()) if state_key in applicants), None)


class Organisations:
    """All organisations of a model, and the arrays their memberships imply."""

    def __init__(self, scenario, state_keys: list[str], power_keys: list[str]):
        self.state_index = {k: n for n, k in enumerate(state_keys)}
        self.power_index = {k: n for n, k in enumerate(power_keys)}
        self.by_key = {k: Organisation(k, spec, self.power_index, self.state_index) for k, spec in scenario.organisations.items()}
        for key, spec in scenario.states.items():
            for org in spec.memberships:
                self.by_key[org].members.add(self.state_index[key])
        self.clubs = [spec.conditions.club for spec in scenario.powers.values()]  # club each power asks recipients to join
        self.blocked: set[tuple[str, str]] = set()  # (organisation, state) applications refused
        self.n_states, self.n_powers = len(state_keys), len(power_keys)
        self.changed = True

    def __iter__(self):
        return iter(self.by_key.values())

    def __getitem__(self, key: str) -> Organisation:
        return self.by_key[key]

    # ------------------------------------------------------------------ changes
    def join(self, state_key: str, org_key: str, model) -> None:
        s = self.state_index[state_key]
        self.by_key[org_key].members.add(s)
        model.states[s].memberships.add(org_key)
        self.changed = True

    def leave(self, state_key: str, org_key: str, model) -> None:
        s = self.state_index[state_key]
        self.by_key[org_key].members.discard(s)
        self.by_key[org_key].frozen.discard(s)
        model.states[s].memberships.discard(org_key)
        self.changed = True

    def freeze(self, state_key: str, org_key: str, frozen: bool = True) -> None:
        """A member freezes (or resumes) its participation."""
        s = self.state_index[state_key]
        (self.by_key[org_key].frozen.add if frozen else self.by_key[org_key].frozen.discard)(s)
        self.changed = True

    def admit_power(self, power_key: str, org_key: str) -> None:
        self.by_key[org_key].powers.add(self.power_index[power_key])
        self.changed = True

    def expel_power(self, power_key: str, org_key: str) -> bool:
        """Remove a power from an organisation; False if it was neither its leader nor a
        member power."""
        org = self.by_key[org_key]
        index = self.power_index[power_key]
        if index not in org.patrons:
            return False
        org.powers.discard(index)
        if org.leader == index:
            org.leader = None
        self.changed = True
        return True

    def apply(self, state_key: str, org_key: str, model) -> str:
        """A state applies; returns 'admitted', 'blocked' or 'closed'. A vetoed
        application stays blocked for as long as the veto stands."""
        org = self.by_key[org_key]
        if not org.open:
            return "closed"
        if org.blocker(state_key) is not None:
            self.blocked.add((org_key, state_key))
            return "blocked"
        self.join(state_key, org_key, model)
        return "admitted"

    # ------------------------------------------------------------------ implied arrays
    def refresh(self, pairs) -> None:
        """Recompute the arrays the model reads, after memberships change."""
        n, m = self.n_states, self.n_powers
        self.bonus = np.zeros((n, m, len(DOMAINS)))  # value bonus on offers from p to s, per domain
        self.obligation = np.zeros((n, m))  # cost of accepting an offer from p, for s
        self.shared_format = np.zeros((n, n), dtype=bool)  # s and t sit together in a regional format
        self.shared_club = np.zeros((n, n), dtype=bool)  # s and t sit together in a power-led club
        spill = np.ones(pairs.n)  # multiplier of patron-rivalry spill-over per neighbour pair
        for org in self:
            members = np.array(sorted(org.active), dtype=int)
            if len(members) == 0:
                continue
            for p in org.patrons:
                self.bonus[members, p, :] += org.benefits
            for p in org.excludes:
                self.obligation[members, p] += org.obligation
            if org.kind == "regional_format":
                self.shared_format[np.ix_(members, members)] = True
                inside = np.isin(pairs.i, members) & np.isin(pairs.j, members)
                spill[inside] += org.rivalry_import * len(org.powers)
            else:
                self.shared_club[np.ix_(members, members)] = True
        np.fill_diagonal(self.shared_format, False)
        np.fill_diagonal(self.shared_club, False)
        self.outside_club = np.zeros((n, m))  # 1 where power p asks s to join a club s is not in
        for p, club in enumerate(self.clubs):
            if club is not None:
                self.outside_club[:, p] = 1.0
                self.outside_club[sorted(self.by_key[club].active), p] = 0.0  # a frozen member is asked to take part again
        pairs.spill = spill
        pairs.shared = np.array([self.shared_count(a, b) for a, b in zip(pairs.i.tolist(), pairs.j.tolist())], dtype=float)
        self.changed = False

    def shared_count(self, a: int, b: int) -> int:
        return sum(1 for org in self if {a, b} <= org.active)

    def regional_formats(self) -> list[Organisation]:
        return [org for org in self if org.kind == "regional_format"]
