"""Request and response bodies of the interactions API, one input model per interaction type.

Every type shares the common fields (account, time, author, title, body, linked contacts); its own
fields sit at the top level of the object and are stored in the interaction's ``data`` document.
``type`` picks the model (a discriminated union), so a field that does not belong to the type is
refused by name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    StringConstraints,
    Tag,
    ValidationInfo,
    field_validator,
)

from app.models import INTERACTION_TYPES
from app.types import INT32_MAX, INT32_MIN, ExternalId, NoNul, UTCTime, refuse_nul
from app.validation import UnionTags


def _contact_ref(value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        if not INT32_MIN <= value <= INT32_MAX:
            raise ValueError("is not a contact id: out of range")
        return value
    if isinstance(value, str) and 0 < len(value.strip()) <= 320:
        return refuse_nul(value.strip())
    raise ValueError("must be a contact id (a number), or a contact's external id or email")


#: A contact of the interaction's account: its id (a JSON number), external id or email.
ContactRef = Annotated[int | str, PlainValidator(_contact_ref, json_schema_input_type=int | str)]
ContactRefs = Annotated[list[ContactRef], Field(max_length=500)]
ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), NoNul
]
LongText = Annotated[str, StringConstraints(max_length=100_000), NoNul]
Url = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=2000, pattern=r"^https?://\S+$")
]
Minutes = Annotated[int, Field(ge=0, le=24 * 60)]

#: Batches of more than this many interactions are refused (split them).
MAX_BATCH = 1000


class _InteractionBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The type's own fields, stored in the ``data`` document.
    DATA_FIELDS: ClassVar[tuple[str, ...]] = ()

    account_id: ExternalId = Field(description="The account's external id")
    occurred_at: UTCTime
    external_id: ExternalId | None = Field(
        default=None, description="Your id for it: sending it again is a retry, not a new one"
    )
    author: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320), NoNul
    ] = Field(default="system", description="A user's email, or a system's name (`zendesk`)")
    title: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=500), NoNul
    ] | None = None
    body: LongText | None = None
    contacts: ContactRefs = Field(
        default_factory=list, description="Contact ids, external ids or emails on the account"
    )

    def data(self) -> dict[str, Any]:
        """The type-specific fields, as stored (unset optional fields left out)."""
        return self.model_dump(mode="json", include=set(self.DATA_FIELDS), exclude_none=True)

    def contact_refs(self) -> list[tuple[str, int, ContactRef]]:
        """Every contact reference with the field and index it came from."""
        return [("contacts", i, ref) for i, ref in enumerate(self.contacts)]

    def text(self) -> str | None:
        return self.body

    def request_hash(self) -> str:
        """SHA-256 of the canonical request: a retry must send the same interaction."""
        canonical = json.dumps(
            self.model_dump(mode="json", exclude={"external_id"}),
            sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


class MeetingIn(_InteractionBase):
    DATA_FIELDS = ("onboarding_topic", "duration_minutes")

    type: Literal["meeting"]
    attendees: ContactRefs = Field(default_factory=list, description="Linked like `contacts`")
    notes: LongText | None = Field(default=None, description="Stored as the body")
    onboarding_topic: ShortText | None = None
    duration_minutes: Minutes | None = None

    @field_validator("notes")
    @classmethod
    def _notes_or_body(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("body") is not None:
            raise ValueError("give notes or body, not both")
        return value

    def contact_refs(self) -> list[tuple[str, int, ContactRef]]:
        return super().contact_refs() + [("attendees", i, r) for i, r in enumerate(self.attendees)]

    def text(self) -> str | None:
        return self.notes if self.notes is not None else self.body


class CallIn(_InteractionBase):
    DATA_FIELDS = ("duration_minutes",)

    type: Literal["call"]
    duration_minutes: Minutes | None = None


class EmailIn(_InteractionBase):
    DATA_FIELDS = ("subject",)

    type: Literal["email_sent", "email_reply"]
    subject: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class SupportTicketIn(_InteractionBase):
    DATA_FIELDS = ("status", "severity", "ticket_id")

    type: Literal["support_ticket"]
    status: Literal["opened", "closed"] = "opened"
    severity: Literal["low", "normal", "high", "urgent"] = "normal"
    ticket_id: ShortText | None = None


class AttendanceIn(_InteractionBase):
    DATA_FIELDS = ("name", "attended")

    type: Literal["webinar", "event", "community"]
    name: ShortText | None = None
    attended: bool = Field(default=True, description="False: registered but did not come")


class CommunityPostIn(_InteractionBase):
    DATA_FIELDS = ("url",)

    type: Literal["community_post"]
    url: Url | None = None


class NpsResponseIn(_InteractionBase):
    DATA_FIELDS = ("score", "comment")

    type: Literal["nps_response"]
    score: Annotated[int, Field(ge=0, le=10)]
    comment: Annotated[str, StringConstraints(max_length=10_000)] | None = None


class EmailClickIn(_InteractionBase):
    DATA_FIELDS = ("url", "campaign")

    type: Literal["email_click"]
    url: Url | None = None
    campaign: ShortText | None = None


class MeetingScheduledIn(_InteractionBase):
    DATA_FIELDS = ("scheduled_for",)

    type: Literal["meeting_scheduled"]
    scheduled_for: UTCTime = Field(description="When the meeting will be; must be in the future")


class TrainingIn(_InteractionBase):
    DATA_FIELDS = ("name",)

    type: Literal["training"]
    name: ShortText | None = None


class CertificationIn(_InteractionBase):
    DATA_FIELDS = ("name", "level")

    type: Literal["certification"]
    name: ShortText | None = None
    level: Annotated[int, Field(ge=1, le=5)] | None = None


class NoteIn(_InteractionBase):
    type: Literal["note"]


AnyInteractionIn = (
    MeetingIn | CallIn | EmailIn | SupportTicketIn | AttendanceIn | CommunityPostIn
    | NpsResponseIn | EmailClickIn | MeetingScheduledIn | TrainingIn | CertificationIn | NoteIn
)
InteractionIn = Annotated[AnyInteractionIn, Field(discriminator="type")]


class InteractionBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: list[InteractionIn] = Field(min_length=1, max_length=MAX_BATCH)


def _shape(value: Any) -> str:
    if isinstance(value, InteractionBatchIn):
        return "batch"
    if isinstance(value, dict) and "data" in value and "type" not in value:
        return "batch"
    return "single"


#: The body of ``POST /api/v1/interactions``: one interaction, or ``{"data": [...]}``.
InteractionRequest = Annotated[
    Annotated[InteractionIn, Tag("single")] | Annotated[InteractionBatchIn, Tag("batch")],
    Discriminator(_shape),
]

_TYPES = frozenset(INTERACTION_TYPES)
#: Union tags in validation error locations of an InteractionRequest (see app.validation).
REQUEST_TAGS = UnionTags(lead=(frozenset({"single", "batch"}), _TYPES), item=_TYPES)
#: The same for a lone InteractionIn (a CSV row).
ITEM_TAGS = UnionTags(lead=(_TYPES,))
#: Every type-specific field name, for the CSV importer's header check.
TYPE_FIELDS = frozenset(
    name
    for model in (MeetingIn, CallIn, EmailIn, SupportTicketIn, AttendanceIn, CommunityPostIn,
                  NpsResponseIn, EmailClickIn, MeetingScheduledIn, TrainingIn, CertificationIn)
    for name in model.model_fields
) - frozenset(_InteractionBase.model_fields) - {"type"}


class InteractionContactPublic(BaseModel):
    id: int
    name: str | None
    email: str | None


class InteractionPublic(BaseModel):
    id: int
    account_id: str = Field(description="The account's external id")
    type: str
    occurred_at: dt.datetime
    external_id: str | None
    author: str
    title: str | None
    body: str | None
    data: dict[str, Any] = Field(description="The type's own fields")
    contacts: list[InteractionContactPublic]
    created_at: dt.datetime


class InteractionBatchPublic(BaseModel):
    data: list[InteractionPublic]
    created: int = Field(description="How many were new")
    replayed: int = Field(description="How many were retries of ones already stored")
