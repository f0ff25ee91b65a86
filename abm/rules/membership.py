"""How states join, leave and apply to organisations, by their own calculus.

The value of membership to a state: the organisation's bonus on offers from its
patrons, weighted by the state's needs, by its ties to those patrons and by their
credibility (a club is worth what its guarantees are believed to be: Armenia's view
of the CSTO, @abrahamyan2025; a guarantee that failed when called on lowers it, see
:mod:`abm.rules.credibility`), plus its public's affinity for the patrons; minus the
obligation against excluded powers (a cost on their offers), weighted by its ties to
them; minus a sovereignty cost scaled by autonomy; plus, for a regional format, the pull
of neighbours already inside. Reviews happen every ``every`` steps.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
from pydantic import Field, model_validator

from abm.rules.registry import Rule, RuleParams, register
from abm.units import MAX_COUNT


class MembershipRule(Rule):
    family = "membership"

    @abstractmethod
    def review(self, model) -> list[tuple[str, str, str]]:
        """Return the (action, state, organisation) changes the states want."""


@register
class Fixed(MembershipRule):
    """Memberships change only through scenario events."""

    name = "fixed"

    def review(self, model):
        return []


@register
class Calculus(MembershipRule):
    """Join (apply) when membership is worth more than ``join``; leave when worth less
    than ``leave``. The gap between the two is hysteresis: states don't flip-flop. With
    ``freeze`` set (between ``leave`` and ``join``), a member whose value falls below it
    freezes its participation instead of leaving: it stays a member on paper but takes
    neither the club's benefits nor its obligations, and counts for no shared membership
    (Armenia and the CSTO from February 2024, @abrahamyan2025); it resumes when the value
    rises above ``join`` again, and leaves when it falls below ``leave``."""

    name = "calculus"

    class Params(RuleParams):
        join: float = Field(0.05, description="value above which a non-member applies")
        leave: float = Field(-0.2, description="value below which a member leaves (exit is costly)")
        affinity: float = Field(0.1, ge=0.0, description="value per unit of mean opinion toward the patrons")
        neighbour_pull: float = Field(0.2, ge=0.0, description="value of a regional format per share of neighbours inside")
        every: int = Field(4, ge=1, le=MAX_COUNT, description="steps between reviews")
        freeze: float | None = Field(None, description="value below which a member freezes its participation (None: members only stay or leave)")

        @model_validator(mode="after")
        def _leave_freeze_join_in_order(self):
            if self.leave > self.join:  # a state valuing a club between the two would join and leave it at every review
                raise ValueError(f"leave ({self.leave}) must not exceed join ({self.join}): the gap between them is what keeps states from flip-flopping")
            if self.freeze is not None and not self.leave < self.freeze < self.join:
                raise ValueError(f"freeze ({self.freeze}) must lie between leave ({self.leave}) and join ({self.join})")
            return self

    def values(self, model) -> np.ndarray:
        """Value of membership to every state in every organisation (states x
        organisations), all organisations at once: each term below is a matrix product
        with the organisations' indicator rows (their patrons, the powers they exclude,
        their members if a regional format). A term an organisation lacks is zero."""
        orgs = list(model.organisations)
        k, m = len(orgs), len(model.powers)
        patrons, excluded, inside = np.zeros((k, m)), np.zeros((k, m)), np.zeros((len(model.states), k))
        for row, org in enumerate(orgs):
            patrons[row, sorted(org.patrons)] = 1.0
            excluded[row, org.excludes] = 1.0
            if org.kind == "regional_format":
                inside[sorted(org.active), row] = 1.0
        count = np.maximum(patrons.sum(axis=1), 1.0)
        benefits = np.array([org.benefits for org in orgs]).reshape(k, model.needs.shape[1])
        value = -np.array([org.membership_cost for org in orgs]) * model.autonomy[:, None]
        credibility = model.credibility @ patrons.T / count  # each state's own belief in the patrons (mean)
        value = value + (model.needs @ benefits.T) * (model.alignment @ patrons.T) * credibility
        value = value + self.params.affinity * (model.opinion @ patrons.T / count)
        value = value - np.array([org.obligation for org in orgs]) * (model.alignment @ excluded.T)
        return value + self.params.neighbour_pull * model.neighbour_mean(inside)

    def review(self, model):
        if model.steps % self.params.every:
            return []
        join, leave, freeze = self.params.join, self.params.leave, self.params.freeze
        changes = []
        for org, values in zip(model.organisations, self.values(model).T.tolist()):
            for state, v in zip(model.states, values):
                member = state.index in org.members
                if member and v < leave:
                    changes.append(("leave", state.key, org.key))
                elif member and freeze is not None and state.index not in org.frozen and v < freeze:
                    changes.append(("freeze", state.key, org.key))
                elif member and state.index in org.frozen and v > join:
                    changes.append(("resume", state.key, org.key))
                elif not member and v > join and (org.key, state.key) not in model.organisations.blocked:
                    changes.append(("apply", state.key, org.key))
        return changes
