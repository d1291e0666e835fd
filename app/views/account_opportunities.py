"""The account page's panel of expansion opportunities of an account
(context for ``accounts/_opportunities.html``; its forms post to ``app.views.pipeline``)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from app.expansion import service as svc
from app.models import LOST_REASONS, OPPORTUNITY_KINDS
from app.scoring import expansion as pure
from app.views.page import Viewer
from app.views.pipeline import labels


def new_form(**values: Any) -> dict[str, Any]:
    """The add-opportunity form: blank (with a fresh retry key) or as submitted."""
    form = {
        "kind": "upsell_seats",
        "title": "",
        "amount": "",
        "stage": "identified",
        "expected_close_on": "",
        "notes": "",
        "key": uuid.uuid4().hex,
    }
    form.update({k: v for k, v in values.items() if v is not None})
    if not form["key"]:
        form["key"] = uuid.uuid4().hex
    return {"opp_form": form}


def opportunities_context(session: Any, viewer: Viewer, account: Any) -> dict[str, Any]:
    """The account's opportunities (open first) with the open pipeline's total and weighted
    amount in the account's currency, and the add form for CSMs and admins."""
    _, items = svc.account_opportunities(session, account_id=account.external_id, today=viewer.today)
    open_items = [v for v in items if v.is_open and v.opportunity.currency == account.currency]
    return {
        "opportunities": items,
        "opp_open_amount": sum((v.opportunity.amount for v in open_items), start=Decimal(0)),
        "opp_open_weighted": sum((v.weighted for v in open_items), start=Decimal(0)),
        "opp_open_count": len([v for v in items if v.is_open]),
        "opp_labels": labels(viewer),
        "opp_kinds": OPPORTUNITY_KINDS,
        "opp_open_stages": pure.OPEN_STAGES,
        "opp_stages": pure.STAGES,
        "opp_lost_reasons": LOST_REASONS,
        "opp_can_edit": viewer.can_edit,
        "opp_errors": {},
        "opp_notices": {},
        "opp_form_errors": {},
        "opp_saved": False,
        "opp_account": account,
        **new_form(),
    }
