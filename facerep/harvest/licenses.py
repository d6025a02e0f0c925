"""Flickr licence ids and names (the answer of `flickr.photos.licenses.getInfo`).

Ids 1-6 are the Creative Commons 2.0 licences, 7-10 the public-domain marks (no known copyright
restrictions, United States Government work, CC0, Public Domain Mark) and 11-16 the Creative Commons
4.0 licences Flickr added later. Id 0, "All Rights Reserved", is never allowed by default: the
harvester checks every returned photo's licence itself instead of trusting the server-side filter.
"""

FLICKR_LICENSES: dict[int, str] = {
    0: "All Rights Reserved",
    1: "CC BY-NC-SA 2.0",
    2: "CC BY-NC 2.0",
    3: "CC BY-NC-ND 2.0",
    4: "CC BY 2.0",
    5: "CC BY-SA 2.0",
    6: "CC BY-ND 2.0",
    7: "No known copyright restrictions",
    8: "United States Government Work",
    9: "CC0 1.0",
    10: "Public Domain Mark 1.0",
    11: "CC BY 4.0",
    12: "CC BY-SA 4.0",
    13: "CC BY-ND 4.0",
    14: "CC BY-NC 4.0",
    15: "CC BY-NC-SA 4.0",
    16: "CC BY-NC-ND 4.0",
}

DEFAULT_ALLOWED: tuple[int, ...] = tuple(i for i in FLICKR_LICENSES if i != 0)


def license_name(license_id: int | str | None) -> str:
    """The licence's name, or `unknown:<id>` for an id Flickr did not publish."""
    try:
        return FLICKR_LICENSES[int(license_id)]  # type: ignore[arg-type]
    except (TypeError, ValueError, KeyError):
        return f"unknown:{license_id}"


def is_allowed(license_id: int | str | None, allowed: list[int] | tuple[int, ...]) -> bool:
    """True when the photo's licence id parses and is in the allowed set."""
    try:
        return int(license_id) in set(allowed)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
