"""The report the product was born from (../shared/seed-article.txt): its claims as a feed would
send them. Data only, importing nothing, so that tools without the package's dependencies (the
compose smoke) can send it too."""

from __future__ import annotations

from typing import Any

SEED_REPORT: dict[str, Any] = {
    "id": "seed-article-2017-11",
    "source": {"name": "Seed article: Iraqi forces recapture Rawa", "published_at": "2017-11-17"},
    "claims": [
        {
            "place": "Mosul",
            "country": "IQ",
            "actor": "Iraqi forces",
            "from_actor": "IS",
            "occurred_at": "2017-07",
            "note": "Iraqi forces retook Mosul in July",
        },
        {
            "place": "Raqqa",
            "country": "SY",
            "actor": "U.S.-backed forces",
            "from_actor": "IS",
            "occurred_at": "2017-10",
            "note": "U.S.-backed forces retook Raqqa in October",
        },
        {
            "place": "al-Qaim",
            "country": "IQ",
            "actor": "Iraqi security forces",
            "from_actor": "IS",
            "occurred_at": "2017-11-03",
            "supporting_actors": ["coalition"],
            "note": "Iraqi security forces retook al-Qaim district, IS's last main stronghold in Iraq",
        },
        {
            "place": "Deir ez-Zor",
            "country": "SY",
            "actor": "Syrian Army",
            "from_actor": "IS",
            "occurred_at": "2017-11-03",
            "note": "the Syrian Army and its allies recaptured Deir ez-Zor city",
        },
        {
            "place": "Abu Kamal",
            "country": "SY",
            "actor": "Syrian Army",
            "from_actor": "IS",
            "occurred_at": "2017-11-08",
            "note": "the Syrian Army pushed IS out of Abu Kamal",
        },
        {
            "place": "Abu Kamal",
            "country": "SY",
            "actor": "IS fighters",
            "share": 40,
            "from_actor": "Syrian government forces",
            "occurred_at": "2017-11-10",
            "note": "IS fighters recaptured 40 percent of the city; fighting continues",
        },
        {
            "place": "Rawa",
            "country": "IQ",
            "actor": "Iraqi forces",
            "from_actor": "IS",
            "occurred_at": "2017-11-17",
            "supporting_actors": ["U.S.-led coalition"],
            "note": "the last urban area in Iraq held by IS; the operation lasted five hours",
        },
    ],
}
