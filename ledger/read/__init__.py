"""The read side: queries over the projections, what was in force when, as known when.

Every query takes `as_of` (business time) and `known_at` (a position or a timestamp) and
answers from the active projection tables. An as-of lookup reads, per series, the last
row starting at or before `as_of` among those known at `known_at`: one index probe per
series, whatever the length of the history.

One module per concern; `directory` (who is who) and `feed` (the event feed) are imported
as modules, the queries and views from here.
"""

from ledger.read.contract_reads import (
    BATCH,
    ContractPage,
    contract,
    contract_page,
    contract_view,
    contracts,
)
from ledger.read.entitlement_reads import AnswerCache, entitlements, entitlements_json, limits
from ledger.read.facilities import facility
from ledger.read.history import changes, timeline
from ledger.read.known_at import (
    KnownAt,
    Snapshot,
    knowledge,
    snapshot,
    tenant_knowledge,
    tenant_snapshot,
)
from ledger.read.views import (
    AllocationView,
    Amounts,
    CapacityEntitlement,
    CapacityLineView,
    ChangeItem,
    Changes,
    ContractBrief,
    ContractShare,
    ContractView,
    Entitlements,
    FacilityContract,
    FacilityResource,
    FacilityView,
    Knowledge,
    LimitAmounts,
    LimitView,
    NextLimit,
    TermView,
    TimelineItem,
    View,
    WorkloadShare,
    trusted,
)

__all__ = [
    "BATCH",
    "AllocationView",
    "Amounts",
    "AnswerCache",
    "CapacityEntitlement",
    "CapacityLineView",
    "ChangeItem",
    "Changes",
    "ContractBrief",
    "ContractPage",
    "ContractShare",
    "ContractView",
    "Entitlements",
    "FacilityContract",
    "FacilityResource",
    "FacilityView",
    "Knowledge",
    "KnownAt",
    "LimitAmounts",
    "LimitView",
    "NextLimit",
    "Snapshot",
    "TermView",
    "TimelineItem",
    "View",
    "WorkloadShare",
    "changes",
    "contract",
    "contract_page",
    "contract_view",
    "contracts",
    "entitlements",
    "entitlements_json",
    "facility",
    "knowledge",
    "limits",
    "snapshot",
    "tenant_knowledge",
    "tenant_snapshot",
    "timeline",
    "trusted",
]
