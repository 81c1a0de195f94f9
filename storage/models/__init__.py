"""All tables. Each feature keeps its models in its own module; import them all here
so Alembic and the tests see one metadata."""

from storage.models.base import Base, UTCDateTime
from storage.models.core import AuditEntry, Area, District, Invite, Person, Role, School, SchoolProgramme
from storage.models.reports import Draft, Report, ReportValue

__all__ = [
    "Area",
    "AuditEntry",
    "Base",
    "District",
    "Draft",
    "Invite",
    "Person",
    "Report",
    "ReportValue",
    "Role",
    "School",
    "SchoolProgramme",
    "UTCDateTime",
]
