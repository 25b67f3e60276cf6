"""Permissions named ACTION_ENTITY, and which roles hold them.

Every API route and every page names the one permission it needs; a test walks every route with
every role.  Maker-checker actions are split in two permissions (OVERRIDE_LABEL to propose,
APPROVE_LABEL to approve), and the service refuses an approval by the proposal's own maker.
"""

from __future__ import annotations

from collections.abc import Iterable

READS = frozenset(
    {
        "READ_LOAN",
        "READ_LABEL",
        "READ_BENEFIT",
        "READ_PRICE",
        "READ_PLEDGE",
        "READ_CERF",
        "READ_REPORT",
        "READ_APPROVAL",
    }
)
PERMISSIONS: dict[str, frozenset[str]] = {
    "officer": READS | {"IMPORT_LOAN", "EDIT_LOAN", "RUN_LABEL", "CONFIRM_LABEL", "OVERRIDE_LABEL", "ASSESS_BENEFIT",
                        "IMPORT_PRICE", "REGISTER_PLEDGE", "RUN_CERF", "SUBMIT_CERF", "CREATE_REPORT"},
    "checker": READS | {"APPROVE_LABEL", "APPROVE_PLEDGE", "RELEASE_PLEDGE", "APPROVE_CERF"},
    "risk_manager": READS | {"ASSESS_BENEFIT", "REVALUE_PLEDGE", "CREATE_REPORT"},
    "auditor": READS | {"READ_AUDIT"},
    "collateral_officer": READS | {"REGISTER_PLEDGE", "IMPORT_PRICE"},
    "collateral_manager": READS | {"RELEASE_PLEDGE"},
    "viewer": READS,
}  # fmt: skip
#: The permission that approves each kind of proposal (service/approvals.py).  They follow the
#: roles the collateral service itself asks of whoever carries the change out
#: (service/collateral.py: a registration by an officer or checker, a release by the collateral
#: manager or checker), so an allowed approval is never refused halfway.
APPROVER = {"label_override": "APPROVE_LABEL", "pledge_register": "APPROVE_PLEDGE",
            "pledge_release": "RELEASE_PLEDGE", "cerf_submit": "APPROVE_CERF"}  # fmt: skip
PERMISSIONS["admin"] = frozenset().union(*PERMISSIONS.values()) | {"MANAGE_USER", "READ_AUDIT"}
ALL_PERMISSIONS = PERMISSIONS["admin"]


def permissions_of(roles: Iterable[str]) -> frozenset[str]:
    return frozenset().union(*(PERMISSIONS.get(role, frozenset()) for role in roles))
