"""The checks a standards bundle must pass beyond its own format, injected by the composition roots.

The shared kernel (``federation.standards``) checks the catalogue, the calendar years and the bundle's shape; it
cannot judge the parts other packages read: the supervision rules' parameters
(:class:`~county_node.supervision.domain.parameters.SupervisionParameters`) and the scoring rules (read by
:func:`federation.scoring_rules.parse_scoring_rules`). The province's publish command and every receiving node
(city, county) run :func:`bundle_validators`, so a bundle a rule could not read is refused at publication and
quarantined on receipt, and the bundle in force stays.
"""

from __future__ import annotations

from county_node.supervision.domain.parameters import SupervisionParameters
from federation.scoring_rules import parse_scoring_rules
from federation.standards import BundleValidator, StandardsBundle

__all__ = ["bundle_validators", "validate_rule_parameters", "validate_scoring_rules"]


def validate_rule_parameters(bundle: StandardsBundle) -> None:
    """The bundle's ``rule_parameters`` as the supervision rules read them (a bad key raises StandardsError)."""
    SupervisionParameters.from_bundle(bundle)


def validate_scoring_rules(bundle: StandardsBundle) -> None:
    """A bundle either carries no scoring rules (an empty mapping: nothing to score under it) or rules that
    :func:`~federation.scoring_rules.parse_scoring_rules` accepts."""
    if bundle.scoring_rules:
        parse_scoring_rules(bundle.scoring_rules)


def bundle_validators() -> tuple[BundleValidator, ...]:
    return (validate_rule_parameters, validate_scoring_rules)
