"""Hidden checks of lesson 00 (`labkit.ui.course.check("00", name, answer, lab)`): each returns
None when the answer holds, or a hint that does not give the answer away. The figures come from
the running lab itself (its PSS per service), not from numbers written here."""

from __future__ import annotations

from typing import Any


def pss_by_service(lab: Any) -> dict[str, int]:
    """Bytes of PSS per service summed over every node (the table the lesson prints)."""
    per: dict[str, int] = {}
    for services in lab.status(resources=True)["resources"]["pss"].values():
        for service, size in services.items():
            per[service] = per.get(service, 0) + size
    return per


def biggest(answer: Any, lab: Any) -> str | None:
    """The service that occupies the most memory in this lab (within 10 % of the largest: two
    measurements a minute apart may swap two close neighbours)."""
    if not isinstance(answer, str) or not answer.strip():
        return 'give a service name as text, e.g. "apache"'
    per = pss_by_service(lab)
    name = answer.strip().strip('"').lower()
    if name not in per:
        return f"this lab has no service {answer!r}; the table's rows are: {', '.join(sorted(per))}"
    top = max(per.values())
    if per[name] >= 0.9 * top:
        return None
    if per[name] == min(per.values()):
        return "that one takes the least; the table is sorted largest first"
    return "some service takes more than that one; the table is sorted largest first"
