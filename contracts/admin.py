"""The admin as a command console: read-only lists over the ledger's tables, and one form
per command. Nothing here edits a row: the forms submit ledger commands, the ledger
decides, and the lists show what its events and projections say."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, get_args

import orjson
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from contracts import admin_forms as f
from contracts.charts import steps_svg
from contracts.models import (
    Allocation,
    Contract,
    Event,
    Facility,
    LimitChange,
    Party,
    current_payload,
)
from contracts.runtime import get_ledger
from contracts.time_travel import TimeTravelForm
from ledger import read
from ledger.domain import contract as contracts_domain
from ledger.domain.events import SLUG_PATTERN
from ledger.errors import NotFound
from ledger.read import directory
from ledger.read.feed import tenant_stream_ids
from ledger.timeline import END_OF_TIME

admin.site.site_header = "Capacity-contract ledger"
admin.site.site_title = "Ledger admin"
admin.site.index_title = "Operations"


def _now() -> datetime:
    """The ledger's clock, so the admin judges "now" as the ledger's commands do."""
    return get_ledger().clock()


def _can(request: HttpRequest, permission: str) -> bool:
    return bool(request.user.has_perm(f"contracts.{permission}"))


EARLIEST = datetime.min.replace(tzinfo=UTC)


def _shifted(moment: datetime, days: int) -> datetime:
    """`moment` moved by `days`, kept between the first instant and the ledger's end of
    time (a chart around a term ending in 9999 must not overflow)."""
    try:
        return min(max(moment + timedelta(days=days), EARLIEST), END_OF_TIME)
    except OverflowError:
        return END_OF_TIME if days > 0 else EARLIEST


_SLUG = re.compile(SLUG_PATTERN)


def _slug(text: str) -> str:
    """An id from an admin URL, if it can be one (parties, facilities, contracts and
    allocations all have slugs): anything else, a NUL or a newline included, is not found
    before it reaches a query or a URL."""
    if not _SLUG.fullmatch(text):
        raise Http404
    return text


def _by_id(model: Any, object_id: str) -> Any:
    """The row an admin URL names by its id (as the admin quotes it, or as it is); None for
    anything that is not one."""
    for candidate in dict.fromkeys((object_id, unquote(object_id))):
        if not all(_SLUG.fullmatch(part) for part in candidate.split("/")):
            continue
        found = model.objects.filter(pk=candidate).first()
        if found is not None:
            return found
    return None


if TYPE_CHECKING:  # ModelAdmin is generic only to the type checker
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin


class ReadOnly(_ModelAdmin):
    """No add, change or delete through the model: the ledger is changed by commands only."""

    add_form: type[f.CommandForm] | None = None
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.add_form is not None and _can(request, self.add_form.permission)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if self.add_form is None:  # this list has no command that adds to it
            raise PermissionDenied(f"{self.opts.verbose_name_plural} are not added here")
        return command_view(self, request, self.add_form, None, self._after_add)

    def _after_add(self, request: HttpRequest, form: f.CommandForm, outcome: Any) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")


def command_view(
    model_admin: admin.ModelAdmin[Any],
    request: HttpRequest,
    form_class: type[f.CommandForm],
    target: str | None,
    success_url: Any,
    subject: str = "",
    initial: dict[str, Any] | None = None,
) -> HttpResponse:
    """Show a command's form; on a valid submit run the command, and show a refusal as a
    form error (nothing written) or go on to `success_url`."""
    if not _can(request, form_class.permission):
        raise PermissionDenied(f"you may not {form_class.title.lower()}")
    form = form_class(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        outcome = form.submit(get_ledger(), target, request.user.get_username())
        if outcome is not None:
            messages.success(
                request, f"{form_class.title}: done (ledger position {outcome.position})."
            )
            url = success_url(request, form, outcome) if callable(success_url) else success_url
            return HttpResponseRedirect(url)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"{form_class.title}{f' — {subject}' if subject else ''}",
        "form": form,
        "opts": model_admin.opts,
    }
    return TemplateResponse(request, "admin/contracts/command_form.html", context)


# -- the event log --------------------------------------------------------------------------


class StreamKindFilter(admin.SimpleListFilter):
    title = "stream"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("party", "parties"), ("facility", "facilities"), ("contract", "contracts")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value():
            return queryset.filter(stream_id__startswith=f"{self.value()}-")
        return queryset


def _tenant_choices() -> list[tuple[str, str]]:
    with get_ledger().read() as conn:
        return [(p.id, p.name) for p in directory.parties(conn, limit=200) if "tenant" in p.roles]


class TenantFilter(admin.SimpleListFilter):
    title = "tenant"
    parameter_name = "tenant"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return _tenant_choices()

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        tenant = self.value()
        if not tenant:
            return queryset
        with get_ledger().read() as conn:
            streams = tenant_stream_ids(conn, tenant)
        return queryset.filter(stream_id__in=streams)


@admin.register(Event)
class EventAdmin(ReadOnly):
    list_display = (
        "position",
        "recorded_at",
        "effective_at",
        "stream_id",
        "type",
        "actor",
        "reason",
    )
    list_filter = ("type", StreamKindFilter, TenantFilter, "recorded_at")
    search_fields = ("=event_id", "stream_id", "metadata")
    readonly_fields = [field.name for field in Event._meta.fields]
    list_per_page = 100
    show_full_result_count = False

    @admin.display(description="actor")
    def actor(self, obj: Event) -> str:
        return str(obj.meta.get("actor") or "")

    @admin.display(description="reason")
    def reason(self, obj: Event) -> str:
        return str(obj.meta.get("reason") or "")


# -- parties, facilities, limits, allocations ----------------------------------------------


@admin.register(Party)
class PartyAdmin(ReadOnly):
    add_form = f.RegisterPartyForm
    list_display = ("party_id", "name", "roles", "position", "recorded_at")
    search_fields = ("party_id", "name", "roles")

    def get_urls(self) -> list[URLPattern]:
        urls = [
            path(
                "<str:party_id>/page/",
                self.admin_site.admin_view(self.tenant_page),
                name="contracts_party_page",
            ),
            path(
                "<str:party_id>/command/<str:name>/",
                self.admin_site.admin_view(self.command),
                name="contracts_party_command",
            ),
        ]
        return urls + super().get_urls()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        party = _by_id(Party, object_id)
        if party is None:
            raise Http404
        return HttpResponseRedirect(reverse("admin:contracts_party_page", args=[party.party_id]))

    COMMANDS: dict[str, type[f.CommandForm]] = {
        "close": f.ClosePeriodForm,
        "reopen": f.ReopenPeriodForm,
    }

    def command(self, request: HttpRequest, party_id: str, name: str) -> HttpResponse:
        party_id = _slug(party_id)
        form_class = self.COMMANDS.get(name)
        if form_class is None:
            raise Http404
        back = reverse("admin:contracts_party_page", args=[party_id])
        return command_view(self, request, form_class, party_id, back, party_id)

    def tenant_page(self, request: HttpRequest, party_id: str) -> HttpResponse:
        party_id = _slug(party_id)
        travel = TimeTravelForm(request.GET)
        question = travel.question()
        with get_ledger().read() as conn:
            try:
                party = directory.party(conn, party_id)
            except NotFound:
                raise Http404 from None
            entitlements = None
            charts = []
            closed = None
            if "tenant" in party.roles and question is not None:
                as_of, known_at = question["as_of"] or _now(), question["known_at"]
                try:
                    entitlements = read.entitlements(conn, party_id, as_of, known_at)
                except NotFound:  # registered after known_at: the page says so
                    entitlements = None
                closed = directory.closed_through(conn, party_id)
                start, end = _shifted(as_of, -365), _shifted(as_of, 730)
                items: list[read.TimelineItem] = []
                if entitlements is not None:
                    items = read.timeline(conn, party_id, start, end, known_at=known_at)
                for resource in sorted({i.resource for i in items}):
                    chart = steps_svg(
                        resource, [i for i in items if i.resource == resource], start, end
                    )
                    charts.append(mark_safe(chart))  # built from escaped values only
        context = {
            **self.admin_site.each_context(request),
            "title": f"{party.name} ({party.id})",
            "opts": self.opts,
            "party": party,
            "is_tenant": "tenant" in party.roles,
            "travel": travel,
            "understood": question is not None,
            "entitlements": entitlements,
            "charts": charts,
            "closed_through": closed,
            "as_of": request.GET.get("as_of", ""),
            "known_at": request.GET.get("known_at", ""),
            "can_periods": _can(request, f.PARTIES),
            "can_limits": _can(request, f.LIMITS),
        }
        return TemplateResponse(request, "admin/contracts/tenant_page.html", context)


@admin.register(Facility)
class FacilityAdmin(ReadOnly):
    add_form = f.RegisterFacilityForm
    list_display = ("facility_id", "provider", "name", "location", "recorded_at")
    list_filter = ("provider",)
    search_fields = ("facility_id", "name", "location")

    def get_urls(self) -> list[URLPattern]:
        urls = [
            path(
                "<str:facility_id>/capacity/",
                self.admin_site.admin_view(self.capacity),
                name="contracts_facility_capacity",
            )
        ]
        return urls + super().get_urls()

    def capacity(self, request: HttpRequest, facility_id: str) -> HttpResponse:
        facility_id = _slug(facility_id)
        back = (
            reverse("admin:contracts_facility_change", args=[facility_id])
            if Facility.objects.filter(facility_id=facility_id).exists()
            else reverse("admin:contracts_facility_changelist")
        )
        return command_view(
            self, request, f.ChangeFacilityCapacityForm, facility_id, back, facility_id
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        """The facility's utilisation now: capacity, reserved and free, contract by contract."""
        facility = _by_id(Facility, object_id)
        if facility is None:
            raise Http404
        with get_ledger().read() as conn:
            view = read.facility(conn, facility.facility_id, _now())
        context = {
            **self.admin_site.each_context(request),
            "title": f"{view.name} ({view.id})",
            "opts": self.opts,
            "facility": view,
            "can_change": _can(request, f.PARTIES),
        }
        return TemplateResponse(request, "admin/contracts/facility_page.html", context)


@admin.register(LimitChange)
class LimitChangeAdmin(ReadOnly):
    add_form = f.ChangeLimitForm
    list_display = (
        "tenant",
        "plan",
        "limit",
        "operation",
        "value",
        "effective_at",
        "until",
        "reason",
    )
    list_filter = (TenantFilter, "effective_at")
    search_fields = ("stream_id", "payload", "metadata")

    def tenant(self, obj: LimitChange) -> str:
        return obj.subject

    def plan(self, obj: LimitChange) -> str:
        return str(obj.data["plan"])

    def limit(self, obj: LimitChange) -> str:
        return str(obj.data["limit"])

    def operation(self, obj: LimitChange) -> str:
        factor = obj.data.get("factor")
        return f"{obj.data['operation']} by {factor}" if factor else str(obj.data["operation"])

    def value(self, obj: LimitChange) -> str:
        return "unlimited" if obj.data["unlimited"] else str(obj.data["value"])

    def until(self, obj: LimitChange) -> str:
        return str(obj.data.get("until") or "")

    def reason(self, obj: LimitChange) -> str:
        return str(obj.meta.get("reason") or "")


class AllocationTenantFilter(admin.SimpleListFilter):
    title = "tenant"
    parameter_name = "tenant"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return _tenant_choices()

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(tenant=self.value()) if self.value() else queryset


@admin.register(Allocation)
class AllocationAdmin(ReadOnly):
    list_display = (
        "allocation_id",
        "contract",
        "tenant",
        "workload",
        "resource",
        "first_quantity",
        "starts_at",
        "ends_at",
    )
    list_filter = (AllocationTenantFilter, "resource", "starts_at")
    search_fields = ("allocation_id", "contract_id", "workload", "resource")

    @admin.display(description="contract", ordering="contract_id")
    def contract(self, obj: Allocation) -> str:
        url = reverse("admin:contracts_contract_change", args=[obj.contract_id])
        return format_html('<a href="{}">{}</a>', url, obj.contract_id)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        allocation = _by_id(Allocation, object_id)
        if allocation is None:
            raise Http404
        return HttpResponseRedirect(
            reverse("admin:contracts_contract_change", args=[allocation.contract_id])
        )


# -- contracts -----------------------------------------------------------------------------


class StatusFilter(admin.SimpleListFilter):
    """Status judged now by `ledger.domain.contract.status_at` itself: the rule has no
    second, SQL spelling to drift from it."""

    title = "status (now)"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in get_args(contracts_domain.Status)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        wanted = self.value()
        if wanted not in get_args(contracts_domain.Status):
            return queryset
        now = _now()
        terms = queryset.values_list(
            "contract_id", "lifecycle", "term_start", "term_end", "terminated_at"
        )
        matching = [
            contract_id
            for contract_id, lifecycle, start, end, terminated_at in terms.iterator()
            if contracts_domain.status_at(lifecycle, start, end, terminated_at, now) == wanted
        ]
        return queryset.filter(contract_id__in=matching)


CONTRACT_COMMANDS: dict[str, type[f.CommandForm]] = {
    "revise": f.ReviseDraftForm,
    "void": f.VoidContractForm,
    "sign": f.SignContractForm,
    "amend": f.AmendContractForm,
    "terminate": f.TerminateContractForm,
    "allocate": f.AllocateCapacityForm,
}
ALLOCATION_COMMANDS: dict[str, type[f.CommandForm]] = {
    "resize": f.ResizeAllocationForm,
    "release": f.ReleaseAllocationForm,
}


@admin.register(Contract)
class ContractAdmin(ReadOnly):
    add_form = f.DraftContractForm
    list_display = (
        "contract_id",
        "tenant",
        "provider",
        "facility",
        "status",
        "term_start",
        "term_end",
    )
    list_filter = ("tenant", "facility", StatusFilter, "lifecycle")
    search_fields = ("contract_id", "tenant", "facility")

    @admin.display(description="status (now)")
    def status(self, obj: Contract) -> str:
        return contracts_domain.status_at(
            obj.lifecycle,  # type: ignore[arg-type]
            obj.term_start,
            obj.term_end,
            obj.terminated_at,
            _now(),
        )

    def _after_add(self, request: HttpRequest, form: f.CommandForm, outcome: Any) -> str:
        return reverse("admin:contracts_contract_change", args=[outcome.result["contract_id"]])

    def get_urls(self) -> list[URLPattern]:
        urls = [
            path(
                "<str:contract_id>/command/<str:name>/",
                self.admin_site.admin_view(self.command),
                name="contracts_contract_command",
            ),
            path(
                "<str:contract_id>/allocations/<str:allocation_id>/<str:name>/",
                self.admin_site.admin_view(self.allocation_command),
                name="contracts_allocation_command",
            ),
        ]
        return urls + super().get_urls()

    def command(self, request: HttpRequest, contract_id: str, name: str) -> HttpResponse:
        contract_id = _slug(contract_id)
        form_class = CONTRACT_COMMANDS.get(name)
        if form_class is None:
            raise Http404
        back = reverse("admin:contracts_contract_change", args=[contract_id])
        initial = {"version": self._shown_version(request, contract_id)}
        return command_view(self, request, form_class, contract_id, back, contract_id, initial)

    @staticmethod
    def _shown_version(request: HttpRequest, contract_id: str) -> int:
        """The version the contract's page showed (its links carry it), else the current one:
        the form runs only while the contract is still at it."""
        shown = request.GET.get("version", "")
        if shown.isascii() and shown.isdigit() and 0 < len(shown) <= 16:
            return int(shown)
        with get_ledger().read() as conn:
            try:
                return read.contract(conn, contract_id, _now()).version
            except NotFound:
                raise Http404 from None

    def allocation_command(
        self, request: HttpRequest, contract_id: str, allocation_id: str, name: str
    ) -> HttpResponse:
        contract_id, allocation_id = _slug(contract_id), _slug(allocation_id)
        form_class = ALLOCATION_COMMANDS.get(name)
        if form_class is None:
            raise Http404
        back = reverse("admin:contracts_contract_change", args=[contract_id])
        initial = {"version": self._shown_version(request, contract_id)}
        target = f"{contract_id}/{allocation_id}"
        return command_view(self, request, form_class, target, back, allocation_id, initial)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        """The contract's page: its state now, its full history and its chart."""
        now = _now()
        ledger = get_ledger()
        with ledger.read() as conn:
            page = None
            # The change list links with the id quoted by the admin (`_` as `_5F`); the
            # ledger's own links name it as it is, and an id may hold `_` plus two hex
            # digits itself ("ctr_0000002"): the id as given first.
            for candidate in dict.fromkeys((object_id, unquote(object_id))):
                if not _SLUG.fullmatch(candidate):
                    continue
                try:
                    page = read.contract_page(conn, candidate, now)
                except NotFound:
                    continue
                object_id = candidate
                break
            if page is None:
                raise Http404
            history = ledger.store.read_stream(conn, contracts_domain.stream_id(object_id))
        view, state = page.view, page.lifecycle
        start, end = _shifted(view.term.start, -30), _shifted(view.term.end, 30)
        items = page.timeline(start, end)
        charts = [
            mark_safe(steps_svg(r, [i for i in items if i.resource == r], start, end))
            for r in sorted({i.resource for i in items})
        ]
        can = {"contracts": _can(request, f.CONTRACTS), "allocations": _can(request, f.ALLOCATIONS)}
        context = {
            **self.admin_site.each_context(request),
            "title": f"{view.title} ({view.id})",
            "opts": self.opts,
            "contract": view,
            "history": [
                {
                    "record": record,
                    "meta": record.metadata_dict(),
                    "change": orjson.dumps(current_payload(record)).decode(),
                }
                for record in history
            ],
            "charts": charts,
            "shown_at": page.shown_at,
            "status_now": view.status,
            "actions": [
                (name, form.title)
                for name, form in CONTRACT_COMMANDS.items()
                if can["contracts" if form.permission == f.CONTRACTS else "allocations"]
                and name in contracts_domain.ACTIONS.get(state, frozenset())
            ],
            "can_allocations": can["allocations"]
            and "resize" in contracts_domain.ACTIONS.get(state, frozenset()),
        }
        return TemplateResponse(request, "admin/contracts/contract_page.html", context)
