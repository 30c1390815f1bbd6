"""Local acceptance statistics (issue 13): what happened to each suggestion, kept on this machine only.

The editors report shown / accepted / partially accepted / dismissed; the :class:`Recorder` matches those events to
the suggestions the server offered and writes them to a small SQLite file in the user cache. Nothing here knows LSP.
"""

from codehearth.feedback.offers import Offer, OfferBook, task_kind
from codehearth.feedback.recorder import EVENTS, Recorder, store_path
from codehearth.feedback.stats import AcceptanceSummary, Counts, acceptance_summary

__all__ = [
    "EVENTS",
    "AcceptanceSummary",
    "Counts",
    "Offer",
    "OfferBook",
    "Recorder",
    "acceptance_summary",
    "store_path",
    "task_kind",
]
