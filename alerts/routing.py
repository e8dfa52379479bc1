"""Which routes an alert takes and which aggregation group it joins there, as Alertmanager decides."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from alerts.config import Route
from alerts.model import matches_all


def matching_routes(route: Route, labels: Mapping[str, str]) -> list[Route]:
    """The routes that take the alert: the deepest matching nodes, walked as Alertmanager walks them.

    The caller passes the root, which matches everything. A child that matches takes the alert, and
    siblings after it are tried only when it has ``continue``; when no child matches, the node itself does.
    """
    if not matches_all(route.matchers, labels):
        return []
    taken: list[Route] = []
    for child in route.routes:
        found = matching_routes(child, labels)
        if found:
            taken.extend(found)
            if not child.continue_matching:
                break
    return taken or [route]


@dataclass(frozen=True)
class GroupRef:
    """An aggregation group: one receiver, one route, one set of values of the route's group_by labels."""

    receiver: str
    key: str
    labels: Mapping[str, str]

    @property
    def key_hash(self) -> str:
        """The stored, fixed-length identity of the group."""
        return hashlib.sha256(f"{self.receiver}\n{self.key}".encode()).hexdigest()


def group_for(route: Route, labels: Mapping[str, str], fingerprint: str) -> GroupRef:
    """The group an alert joins on a route; grouping by every label puts each alert in its own group."""
    if route.group_by is None:
        group_labels = dict(labels)
        identity = fingerprint
    else:
        group_labels = {name: labels[name] for name in route.group_by if name in labels}
        identity = ", ".join(f'{name}="{value}"' for name, value in sorted(group_labels.items()))
    # The route's path keeps two routes to the same receiver apart, like Alertmanager's "{}/{...}:" prefix.
    return GroupRef(route.receiver, f"{route.path}:{{{identity}}}", group_labels)
