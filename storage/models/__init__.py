"""All tables. Each feature keeps its models in its own module; import them all here
so Alembic and the tests see one metadata."""

from storage.models.base import Base, UTCDateTime
from storage.models.core import AuditEntry, Area, District, Invite, Person, Role, School, SchoolProgramme
from storage.models.reports import Draft, Report, ReportFlag, ReportValue, ReviewPrompt
from storage.models.reminders import DigestSend, ReminderSend, SendStatus
from storage.models.broadcasts import Broadcast, BroadcastStatus, OutboxRow, OutboxStatus
from storage.models.budget import SendBudgetRow
from storage.models.replies import BroadcastReply, ReplyKind, ReplyMessage
from storage.models.dashboard import DashboardLink

__all__ = [
    "Area",
    "AuditEntry",
    "Base",
    "Broadcast",
    "BroadcastReply",
    "DashboardLink",
    "BroadcastStatus",
    "DigestSend",
    "District",
    "Draft",
    "Invite",
    "OutboxRow",
    "OutboxStatus",
    "Person",
    "ReplyKind",
    "ReplyMessage",
    "ReminderSend",
    "Report",
    "ReportFlag",
    "ReportValue",
    "ReviewPrompt",
    "Role",
    "School",
    "SchoolProgramme",
    "SendBudgetRow",
    "SendStatus",
    "UTCDateTime",
]
