"""What a user does to engagements: delete one (remembered, so no later import brings it back)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailtrail.crm.errors import CrmError
from mailtrail.crm.workspaces.repository import WorkspaceRepository
from mailtrail.engagements.repository import EngagementRepository
from mailtrail.models import utcnow


def delete_engagement(session: Session, workspace_id: int, message_key: str, deleted_by: str | None) -> None:
    """Delete the workspace's engagement for ``message_key`` and leave a tombstone for rule 6."""
    repository = EngagementRepository(session, workspace_id)
    engagement_id = repository.existing_keys([message_key]).get(message_key)
    if engagement_id is None:
        raise CrmError(f"no engagement with message key {message_key!r} in this workspace")
    repository.delete(engagement_id, message_key, deleted_by, utcnow())
    # A running sync must see the tombstone in its next batch (rule 6).
    WorkspaceRepository(session).bump_rules_version(workspace_id)
