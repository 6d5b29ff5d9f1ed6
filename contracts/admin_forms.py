"""One form per ledger command: the admin's only way to change anything.

A form translates what staff typed into a command; the ledger decides. A domain error
comes back as a form error naming the rule, the resource and the first instant it breaks
at, and nothing is written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import pydantic
from django import forms

from ledger.domain import commands as c
from ledger.domain.events import CapacityLine
from ledger.errors import ConcurrencyError, InvalidInput, NotFound, RuleViolation
from ledger.service import Accepted, Context, execute
from ledger.unit_of_work import Ledger

PARTIES = "run_party_commands"
CONTRACTS = "run_contract_commands"
ALLOCATIONS = "run_allocation_commands"
LIMITS = "run_limit_commands"


def utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


class CapacityField(forms.CharField):
    """One line per resource: `gpu.h100 220000 gpu`."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 40, "placeholder": "gpu.h100 220000 gpu"})

    def to_python(self, value: Any) -> tuple[CapacityLine, ...]:  # type: ignore[override]
        lines = []
        for number, raw in enumerate(str(value or "").splitlines(), start=1):
            if not raw.strip():
                continue
            parts = raw.split()
            if len(parts) != 3:
                raise forms.ValidationError(f"line {number}: write `resource quantity unit`")
            try:
                quantity = Decimal(parts[1])
            except InvalidOperation:
                raise forms.ValidationError(f"line {number}: {parts[1]!r} is no quantity") from None
            try:
                lines.append(CapacityLine(resource=parts[0], quantity=quantity, unit=parts[2]))
            except pydantic.ValidationError as exc:
                raise forms.ValidationError(f"line {number}: {exc.errors()[0]['msg']}") from None
        if self.required and not lines:
            raise forms.ValidationError("at least one capacity line")
        return tuple(lines)


def _when(
    label: str = "Effective at (UTC)", required: bool = False, empty_means: str = "now"
) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=required,
        help_text="YYYY-MM-DD HH:MM, UTC" + ("" if required else f"; empty means {empty_means}"),
    )


def _reason(required: bool = True, backdated_needs_one: bool = True) -> forms.CharField:
    optional = "; required when backdated" if backdated_needs_one else "; optional"
    return forms.CharField(
        required=required,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="kept with the event" + ("" if required else optional),
    )


class CommandForm(forms.Form):
    permission: ClassVar[str]
    title: ClassVar[str]

    def command(self, target: str | None) -> c.Command:
        raise NotImplementedError

    def pinned_version(self) -> int | None:
        return None

    def submit(self, ledger: Ledger, target: str | None, actor: str) -> Accepted | None:
        """Run the command; on a domain error, add it to the form and return None."""
        ctx = Context(actor=actor, source="admin", expected_version=self.pinned_version())
        try:
            outcome = execute(ledger, self.command(target), ctx)
            assert isinstance(outcome, Accepted)  # no dry run, no idempotency key
            return outcome
        except RuleViolation as exc:
            where = "".join(
                (
                    f" (resource {exc.resource})" if exc.resource else "",
                    f"; first breaks at {exc.at:%Y-%m-%d %H:%M} UTC" if exc.at else "",
                )
            )
            self.add_error(None, f"Refused by rule {exc.rule}: {exc.detail}{where}.")
        except InvalidInput as exc:
            fields = [e for e in exc.errors if str(e.loc[-1]) in self.fields]
            for error in fields:
                self.add_error(str(error.loc[-1]), error.msg)
            if not fields:
                self.add_error(None, str(exc))
        except NotFound as exc:
            self.add_error(None, f"{exc}.")
        except ConcurrencyError as exc:
            now_at = "" if exc.actual is None else f", it is at version {exc.actual} now"
            self.add_error(
                None,
                f"The contract changed since you opened it (you saw version {exc.expected}"
                f"{now_at}): reload it and retry. Nothing was written.",
            )
        except pydantic.ValidationError as exc:
            for detail in exc.errors():
                field = str(detail["loc"][-1]) if detail["loc"] else None
                self.add_error(field if field in self.fields else None, detail["msg"])
        return None


class RegisterPartyForm(CommandForm):
    permission, title = PARTIES, "Register a party"
    party_id = forms.SlugField(label="Id")
    name = forms.CharField()
    roles = forms.MultipleChoiceField(
        choices=[("provider", "provider"), ("tenant", "tenant")],
        widget=forms.CheckboxSelectMultiple,
    )

    effective_at = _when("Since (UTC)")
    reason = _reason(required=False, backdated_needs_one=False)

    def command(self, target: str | None) -> c.Command:
        d = self.cleaned_data
        return c.RegisterParty(
            party_id=d["party_id"],
            name=d["name"],
            roles=tuple(d["roles"]),
            effective_at=utc(d["effective_at"]),
            reason=d["reason"] or None,
        )


class RegisterFacilityForm(CommandForm):
    permission, title = PARTIES, "Register a facility"
    facility_id = forms.SlugField(label="Id")
    provider = forms.SlugField()
    name = forms.CharField()
    location = forms.CharField()
    capacity = CapacityField()
    effective_at = _when("In service since (UTC)")
    reason = _reason(required=False, backdated_needs_one=False)

    def command(self, target: str | None) -> c.Command:
        d = self.cleaned_data
        return c.RegisterFacility(
            facility_id=d["facility_id"],
            provider=d["provider"],
            name=d["name"],
            location=d["location"],
            capacity=d["capacity"],
            effective_at=utc(d["effective_at"]),
            reason=d["reason"] or None,
        )


class ChangeFacilityCapacityForm(CommandForm):
    permission, title = PARTIES, "Change the facility's capacity"
    capacity = CapacityField()
    effective_at = _when()
    reason = _reason(required=False)

    def command(self, target: str | None) -> c.Command:
        d = self.cleaned_data
        return c.ChangeFacilityCapacity(
            facility_id=target or "",
            capacity=d["capacity"],
            effective_at=utc(d["effective_at"]),
            reason=d["reason"] or None,
        )


class DraftContractForm(CommandForm):
    permission, title = CONTRACTS, "Draft a contract"
    contract_id = forms.SlugField(label="Id", required=False, help_text="empty: ctr_<random>")
    provider = forms.SlugField()
    tenant = forms.SlugField()
    facility = forms.SlugField()
    title_ = forms.CharField(label="Title")
    reference = forms.CharField(required=False)
    term_start = _when("Term start (UTC)", required=True)
    term_end = _when("Term end (UTC, excluded)", required=True)
    capacity = CapacityField()

    def command(self, target: str | None) -> c.Command:
        d = self.cleaned_data
        return c.DraftContract(
            contract_id=d["contract_id"] or None,
            provider=d["provider"],
            tenant=d["tenant"],
            facility=d["facility"],
            title=d["title_"],
            reference=d["reference"] or None,
            term={"start": utc(d["term_start"]), "end": utc(d["term_end"])},
            capacity=d["capacity"],
        )


class ContractCommandForm(CommandForm):
    """A command on a contract the page showed: it carries the version shown, and runs
    only if the contract is still at it, as `If-Match` does in the API."""

    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)

    def pinned_version(self) -> int | None:
        version: int = self.cleaned_data["version"]
        return version


class ReviseDraftForm(ContractCommandForm):
    permission, title = CONTRACTS, "Revise the draft"
    title_ = forms.CharField(label="Title", required=False)
    reference = forms.CharField(required=False)
    clear_reference = forms.BooleanField(
        required=False, label="Clear the reference", help_text="the draft keeps no reference"
    )
    term_start = _when("Term start (UTC)")
    term_end = _when("Term end (UTC)")
    capacity = CapacityField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("term_start")) != bool(data.get("term_end")):
            raise forms.ValidationError("give both ends of the term, or neither")
        return data

    def command(self, target: str | None) -> c.Command:
        d = self.cleaned_data
        term = None
        if d["term_start"]:
            term = {"start": utc(d["term_start"]), "end": utc(d["term_end"])}
        return c.ReviseDraft(
            contract_id=target or "",
            title=d["title_"] or None,
            reference=d["reference"] or None,
            term=term,
            capacity=d["capacity"] or None,
            cleared=("reference",) if d["clear_reference"] else (),
        )


class VoidContractForm(ContractCommandForm):
    permission, title = CONTRACTS, "Void the draft"
    reason = _reason()

    def command(self, target: str | None) -> c.Command:
        return c.VoidContract(contract_id=target or "", reason=self.cleaned_data["reason"])


class SignContractForm(ContractCommandForm):
    permission, title = CONTRACTS, "Sign the contract"
    signed_by = forms.CharField(help_text="comma-separated: SpaceX, Anthropic")
    effective_at = _when("Signed at (UTC)")
    reason = _reason(required=False)

    def command(self, target: str | None) -> c.Command:
        d = self.cleaned_data
        names = tuple(n.strip() for n in d["signed_by"].split(",") if n.strip())
        return c.SignContract(
            contract_id=target or "",
            signed_by=names,
            effective_at=utc(d["effective_at"]),
            reason=d["reason"] or None,
        )


class AmendContractForm(ContractCommandForm):
    permission, title = CONTRACTS, "Amend the contract"
    effective_at = _when(required=True)
    capacity = CapacityField(required=False, help_text="the resources it sets; 0 removes one")
    term_end = _when("New term end (UTC)")
    reason = _reason()

    def command(self, target: str | None) -> c.Command:
        d = self.cleaned_data
        return c.AmendContract(
            contract_id=target or "",
            effective_at=utc(d["effective_at"]),
            capacity=d["capacity"] or (),
            term_end=utc(d["term_end"]),
            reason=d["reason"],
        )


class TerminateContractForm(ContractCommandForm):
    permission, title = CONTRACTS, "Terminate the contract"
    effective_at = _when(required=True)
    reason = _reason()

    def command(self, target: str | None) -> c.Command:
        d = self.cleaned_data
        return c.TerminateContract(
            contract_id=target or "",
            effective_at=utc(d["effective_at"]),
            reason=d["reason"],
        )


class AllocateCapacityForm(ContractCommandForm):
    permission, title = ALLOCATIONS, "Allocate capacity"
    allocation_id = forms.SlugField(required=False, help_text="empty: alc_<random>")
    workload = forms.SlugField()
    resource = forms.CharField()
    quantity = forms.DecimalField(max_digits=30, decimal_places=6)
    effective_at = _when()
    until = _when("Until (UTC)", empty_means="no end")
    reason = _reason(required=False)

    def command(self, target: str | None) -> c.Command:
        d = self.cleaned_data
        return c.AllocateCapacity(
            contract_id=target or "",
            allocation_id=d["allocation_id"] or None,
            workload=d["workload"],
            resource=d["resource"],
            quantity=d["quantity"],
            effective_at=utc(d["effective_at"]),
            until=utc(d["until"]),
            reason=d["reason"] or None,
        )


class ResizeAllocationForm(ContractCommandForm):
    permission, title = ALLOCATIONS, "Resize the allocation"
    quantity = forms.DecimalField(max_digits=30, decimal_places=6)
    effective_at = _when()
    reason = _reason()

    def command(self, target: str | None) -> c.Command:
        contract_id, allocation_id = (target or "/").split("/", 1)
        d = self.cleaned_data
        return c.ResizeAllocation(
            contract_id=contract_id,
            allocation_id=allocation_id,
            quantity=d["quantity"],
            effective_at=utc(d["effective_at"]),
            reason=d["reason"],
        )


class ReleaseAllocationForm(ContractCommandForm):
    permission, title = ALLOCATIONS, "Release the allocation"
    effective_at = _when()
    reason = _reason(required=False)

    def command(self, target: str | None) -> c.Command:
        contract_id, allocation_id = (target or "/").split("/", 1)
        d = self.cleaned_data
        return c.ReleaseAllocation(
            contract_id=contract_id,
            allocation_id=allocation_id,
            effective_at=utc(d["effective_at"]),
            reason=d["reason"] or None,
        )


class ChangeLimitForm(CommandForm):
    permission, title = LIMITS, "Change a limit"
    tenant = forms.SlugField()
    plan = forms.SlugField()
    limit = forms.SlugField()
    operation = forms.ChoiceField(
        choices=[("set", "set to a value"), ("scale", "scale by a factor"), ("remove", "remove")]
    )
    value = forms.DecimalField(required=False, max_digits=30, decimal_places=6)
    factor = forms.DecimalField(required=False, max_digits=30, decimal_places=6)
    effective_at = _when()
    until = _when("Until (UTC)", empty_means="no end")
    reason = _reason()

    def command(self, target: str | None) -> c.Command:
        d = self.cleaned_data
        return c.ChangeLimit(
            tenant=d["tenant"],
            plan=d["plan"],
            limit=d["limit"],
            operation=d["operation"],
            value=d["value"],
            factor=d["factor"],
            effective_at=utc(d["effective_at"]),
            until=utc(d["until"]),
            reason=d["reason"],
        )


class ClosePeriodForm(CommandForm):
    permission, title = PARTIES, "Close the books"
    through = _when("Closed through (UTC)", required=True)
    reason = _reason(required=False)

    def command(self, target: str | None) -> c.Command:
        d = self.cleaned_data
        return c.ClosePeriod(
            tenant=target or "",
            through=utc(d["through"]),
            reason=d["reason"] or None,
        )


class ReopenPeriodForm(CommandForm):
    permission, title = PARTIES, "Reopen the books"
    through = _when("Closed only through (UTC)", required=True)
    reason = _reason()

    def command(self, target: str | None) -> c.Command:
        d = self.cleaned_data
        return c.ReopenPeriod(
            tenant=target or "",
            through=utc(d["through"]),
            reason=d["reason"],
        )
