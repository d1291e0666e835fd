"""A book with a churn history to calibrate on: the demo (seed 7, 120 accounts, as of the tests'
clock) plus the views' admin, so the pages and the browser can sign in to it. Built once per
worker and engine (``databases.load``) and copied into each test's database; the tests that use
it share the browser tests' worker (``xdist_group("browser")``), so it is built once per engine."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlmodel import Session

from app.auth import users as users_svc
from app.demo import service as demo
from tests.conftest import AS_OF
from tests.views.data import ADMIN, PASSWORD

TOKYO = ZoneInfo("Asia/Tokyo")
ACCOUNTS = 120


def load_churn_book(session: Session) -> None:
    demo.load_demo(session, seed=7, accounts=ACCOUNTS, now=AS_OF, tz=TOKYO)
    users_svc.create_user(
        session, email=ADMIN, name="Admin", role="admin", password=PASSWORD, locale="en", now=AS_OF
    )
