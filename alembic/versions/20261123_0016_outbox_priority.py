"""outbox priority and deadline: person-requested emails first, automated ones not sent late

``priority`` orders the sender's claims (1: a person asked for it; 0: bulk); ``send_by`` is the
end of an automated email's window. The claim index leads with the priority; ``sent_at`` is
indexed for the send rate (messages sent in the last minute).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23 20:00:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("send_by", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index("ix_outbox_state_next_attempt")
        batch_op.create_index(
            "ix_outbox_state_priority_next_attempt", ["state", "priority", "next_attempt_at"], unique=False
        )
        batch_op.create_index("ix_outbox_sent_at", ["sent_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_sent_at")
        batch_op.drop_index("ix_outbox_state_priority_next_attempt")
        batch_op.create_index("ix_outbox_state_next_attempt", ["state", "next_attempt_at"], unique=False)
        batch_op.drop_column("send_by")
        batch_op.drop_column("priority")
