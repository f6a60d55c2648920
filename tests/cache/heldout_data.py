"""A synthetic held-out set for the plan cache: intents, phrasings and values that do not
occur in the shared dev set, with adversarial near-duplicates (enable/disable, lock/unlock,
"don't", swapped roles). Deterministic for a seed; used by the tests and to estimate
generalisation (``python tests/cache/heldout_data.py OUT.jsonl``)."""

from __future__ import annotations

import json
import random
import sys
from datetime import date, timedelta
from typing import Any

CITIES = [
    "Lyon",
    "Nice",
    "Turin",
    "Bern",
    "Osaka",
    "Lagos",
    "Nairobi",
    "Lima",
    "Quito",
    "Porto",
    "Krakow",
    "Seville",
    "Valencia",
    "Dublin",
    "Oslo",
    "Kyiv",
    "Tbilisi",
    "Baku",
    "Riga",
    "Tallinn",
    "Vilnius",
    "Sofia",
    "Athens",
    "Cairo",
    "Tunis",
    "Dakar",
    "Kampala",
    "Denver",
    "Boston",
    "Chicago",
    "Toronto",
    "Calgary",
    "Bogota",
    "Santiago",
    "Auckland",
    "Brisbane",
    "Kuala Lumpur",
    "Buenos Aires",
    "Rio de Janeiro",
    "Cape Town",
    "Tel Aviv",
    "Mexico City",
]
PEOPLE = ["ana", "ben", "chloe", "dev", "emil", "fatima", "goran", "hana", "ivan", "jun"]
DOMAINS = ["contoso.com", "fabrikam.org", "northwind.io", "tailspin.net"]
CURRENCIES = [("$", "USD"), ("€", "EUR"), ("£", "GBP")]
NOW = date(2027, 3, 10)


def _email(rng: random.Random) -> str:
    sep = rng.choice([".", "_", ""])
    return f"{rng.choice(PEOPLE)}{sep}{rng.choice(PEOPLE)}@{rng.choice(DOMAINS)}"


def _date(rng: random.Random) -> tuple[str, str]:
    day = NOW + timedelta(days=rng.randint(0, 200))
    style = rng.randint(0, 4)
    text = [
        day.isoformat(),
        f"{day.day} {day.strftime('%B')} {day.year}",
        f"{day.strftime('%B')} {day.day}, {day.year}",
        f"{day.strftime('%b')} {day.day}, {day.year}",
        f"{day.month}/{day.day}/{day.year}",
    ][style]
    return text, day.isoformat()


def _money(rng: random.Random) -> tuple[str, float, str]:
    amount = round(rng.uniform(5, 5000), rng.choice([0, 2]))
    symbol, code = rng.choice(CURRENCIES)
    shown = f"{amount:,.2f}" if amount != int(amount) or rng.random() < 0.5 else f"{int(amount):,}"
    text = f"{symbol}{shown}" if rng.random() < 0.6 else f"{shown} {code}"
    return text, float(amount), code


def _two_cities(rng: random.Random) -> tuple[str, str]:
    first, second = rng.sample(CITIES, 2)
    return first, second


def _hotel(rng: random.Random) -> tuple[str, Any]:
    city = rng.choice(CITIES)
    (t1, d1), (t2, d2) = sorted([_date(rng), _date(rng)], key=lambda p: p[1])
    if d1 == d2:
        d2 = (date.fromisoformat(d1) + timedelta(days=2)).isoformat()
        t2 = d2
    phrasing = rng.choice(
        [
            f"Book a hotel in {city} from {t1} to {t2}",
            f"I need a room in {city}, check-in {t1}, check-out {t2}",
            f"Find me a hotel room in {city} for {t1} until {t2}",
        ]
    )
    args = {"city": city, "checkin": d1, "checkout": d2}
    return phrasing, [{"tool": "search_hotels", "args": args}, {"tool": "book_hotel", "args": args}]


def _flight(rng: random.Random, negated: bool) -> tuple[str, Any]:
    origin, destination = _two_cities(rng)
    text, day = _date(rng)
    if negated:
        phrasing = rng.choice(
            [
                f"Don't book a flight from {origin} to {destination} on {text}",
                f"Do not book a flight from {origin} to {destination} on {text}",
            ]
        )
        return phrasing, [{"tool": "respond_to_user", "args": {"template": "no_action"}}]
    phrasing = rng.choice(
        [
            f"Book a flight from {origin} to {destination} on {text}",
            f"Book me a flight to {destination} from {origin} on {text}",
            f"Reserve a flight {origin} to {destination} on {text}",
        ]
    )
    args = {"origin": origin, "destination": destination, "date": day}
    return phrasing, [
        {"tool": "search_flights", "args": args},
        {"tool": "book_flight", "args": args},
    ]


def _account(rng: random.Random) -> tuple[str, Any]:
    email = _email(rng)
    action = rng.choice(["lock", "unlock", "enable", "disable"])
    if action in ("lock", "unlock"):
        phrasing = rng.choice(
            [
                f"{action.capitalize()} the account of {email}",
                f"Please {action} {email}'s account",
            ]
        )
        return phrasing, [{"tool": f"{action}_user", "args": {"email": email}}]
    phrasing = rng.choice(
        [
            f"{action.capitalize()} two-factor authentication for {email}",
            f"{action.capitalize()} 2FA for {email} please",
        ]
    )
    return phrasing, [{"tool": f"{action}_mfa", "args": {"email": email}}]


def _transfer(rng: random.Random) -> tuple[str, Any]:
    text, amount, code = _money(rng)
    payer, payee = _email(rng), _email(rng)
    while payee == payer:
        payee = _email(rng)
    phrasing = rng.choice(
        [
            f"Transfer {text} from {payer} to {payee}",
            f"Move {text} to {payee} from {payer}",
        ]
    )
    args = {"from": payer, "to": payee, "amount": amount, "currency": code}
    return phrasing, [{"tool": "transfer_funds", "args": args}]


def _refund(rng: random.Random) -> tuple[str, Any]:
    text, amount, code = _money(rng)
    order = rng.choice([f"INV-{rng.randint(1000, 99999)}", f"#{rng.randint(10000, 99999)}"])
    phrasing = rng.choice(
        [
            f"Refund {text} for order {order}",
            f"Issue a refund of {text} on order {order}",
        ]
    )
    args = {"order_id": order.lstrip("#"), "amount": amount, "currency": code}
    return phrasing, [{"tool": "refund_order", "args": args}]


def _dress(rng: random.Random, text: str) -> str:
    roll = rng.random()
    if roll < 0.1:
        text = "Hey, " + text[0].lower() + text[1:]
    elif roll < 0.2:
        text = text[0].lower() + text[1:]
    elif roll < 0.27 and not text.endswith("please"):
        text += " please"
    return text


def generate(count: int = 400, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    makers = [
        (_hotel, 3),
        (lambda r: _flight(r, False), 3),
        (lambda r: _flight(r, True), 1),
        (_account, 4),
        (_transfer, 2),
        (_refund, 2),
    ]
    pool = [maker for maker, weight in makers for _ in range(weight)]
    rows = []
    for number in range(count):
        query, plan = rng.choice(pool)(rng)
        tenant = "acme" if number % 3 else "globex"
        rows.append(
            {
                "tenant": tenant,
                "query": _dress(rng, query),
                "plan": plan,
                "now": f"{NOW.isoformat()}T09:00:00Z",
            }
        )
    return rows


if __name__ == "__main__":
    with open(sys.argv[1], "w", encoding="utf-8") as handle:
        for row in generate():
            handle.write(json.dumps(row) + "\n")
