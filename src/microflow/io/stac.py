"""STAC Items as inputs: an Item JSON (a file or a URL) in place of a raster, with an asset name.

``resolve_input(path, asset, role)`` returns the raster to open (the asset's absolute href: a URL
read in windows by :mod:`microflow.io.remote`, or a local file) and, for an item, a record of
where it came from (item id, collection, asset, href), which the product keeps in its ``SOURCES``
tag (:func:`sources_tag`). Anything that is not an Item JSON passes through unchanged.

Without ``asset`` an item must hold exactly one GeoTIFF/COG asset (media type ``image/tiff`` or a
``.tif`` href), else the error lists the asset names to choose from.
"""

from __future__ import annotations

import json
import os

from microflow.errors import InputError, ParameterError
from microflow.io.remote import is_url, one_line


def is_stac_item(path) -> bool:
    """True for a path or URL ending in ``.json`` (before any ``?query``)."""
    return isinstance(path, (str, os.PathLike)) and os.fspath(path).split("?", 1)[0].lower().endswith(".json")


def _load_item(path: str, role: str):
    import pystac

    from microflow.io.remote import RETRY_DELAYS

    if not is_url(path) and not os.path.exists(path):
        raise InputError(f"{role} STAC item not found: {path}")
    pauses = list(RETRY_DELAYS) if is_url(path) else []
    while True:
        try:
            return pystac.Item.from_file(path)
        except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError, pystac.STACError) as exc:
            transient = isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError)
            if transient and pauses and "404" not in str(exc):
                import time

                time.sleep(pauses.pop(0))
                continue
            raise InputError(f"{role} STAC item {path} could not be read: {one_line(exc)}") from None


def _raster_assets(item) -> list[str]:
    names = []
    for name, asset in item.assets.items():
        media = (asset.media_type or "").lower()
        href = asset.href.split("?", 1)[0].lower()
        if "image/tiff" in media or href.endswith((".tif", ".tiff")):
            names.append(name)
    return names


def resolve_input(path, asset: str | None, role: str) -> tuple[str, dict | None]:
    """``(raster path, source record or None)`` of one input; see the module docstring."""
    text = os.fspath(path) if isinstance(path, os.PathLike) else path
    if not is_stac_item(text):
        return text, None
    item = _load_item(text, role)
    if asset is None:
        candidates = _raster_assets(item)
        if len(candidates) != 1:
            raise ParameterError(f"{role} STAC item {item.id} has {len(candidates)} GeoTIFF assets "
                                 f"({', '.join(candidates) or 'none'}): choose one with --asset NAME")
        asset = candidates[0]
    if asset not in item.assets:
        raise ParameterError(f"{role} STAC item {item.id} has no asset {asset!r}; its assets: "
                             f"{', '.join(item.assets)}")
    href = item.assets[asset].get_absolute_href() or item.assets[asset].href
    record = {"role": role, "item": item.id, "collection": item.collection_id, "asset": asset, "href": href,
              "datetime": item.datetime.isoformat() if item.datetime else None, "stac_item": text}
    return href, record


def sources_tag(records) -> dict:
    """``{"SOURCES": JSON list}`` of the records that are not None (empty dict when none)."""
    kept = [r for r in records if r]
    return {"SOURCES": json.dumps(kept)} if kept else {}
