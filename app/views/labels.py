"""Words the pages show for stored values (roles, bands, segments, types...), marked for the
translation catalogs: templates translate them with ``_(value)`` at render time, and these
markers are how the extractor finds them."""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message


ROLES = (N_("admin"), N_("csm"), N_("viewer"))
BANDS = (N_("good"), N_("normal"), N_("bad"))
TREND = (N_("up"), N_("down"), N_("flat"))
SEGMENTS = (N_("enterprise"), N_("mid_market"), N_("smb"))
INDUSTRIES = (
    N_("manufacturing"), N_("retail"), N_("it_services"), N_("finance"), N_("healthcare"),
    N_("logistics"), N_("real_estate"), N_("education"), N_("media"), N_("hospitality"),
    N_("construction"), N_("professional_services"),
)
INTERACTION_TYPES = (
    N_("meeting"), N_("call"), N_("email_sent"), N_("email_reply"), N_("support_ticket"),
    N_("webinar"), N_("event"), N_("community"), N_("community_post"), N_("nps_response"),
    N_("email_click"), N_("meeting_scheduled"), N_("training"), N_("certification"), N_("note"),
)
TIMELINE_KINDS = (
    N_("meetings"), N_("emails"), N_("tickets"), N_("nps"), N_("attendance"), N_("other"),
)
ONBOARDING_TOPICS = (
    N_("kickoff"), N_("admin_setup"), N_("data_import"), N_("user_training"), N_("integration"),
    N_("adoption_review"), N_("executive_review"),
)
PLAN_STATUSES = (N_("draft"), N_("active"), N_("completed"), N_("archived"))
GOAL_STATUSES = (N_("not_started"), N_("on_track"), N_("at_risk"), N_("achieved"), N_("dropped"))
SETTINGS_SECTIONS = (
    N_("settings:users"), N_("settings:keys"), N_("settings:sources"), N_("settings:features"),
    N_("settings:health"),
)
