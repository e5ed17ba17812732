"""processor.redact: e-mail, card (Luhn-checked) and phone numbers become placeholders; nothing else does."""

from __future__ import annotations

import pytest

from processor.redact import KINDS, Redactor, luhn_valid, parse_kinds, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to ana.maria+news@mail.example.co.uk today", "write to [EMAIL] today"),
        ("<bob@example.com>", "<[EMAIL]>"),
        ("card 4111 1111 1111 1111 expires", "card [CARD] expires"),
        ("card 4111-1111-1111-1111.", "card [CARD]."),
        ("amex 378282246310005", "amex [CARD]"),
        ("call +49 30 1234567 now", "call [PHONE] now"),
        ("call (555) 123-4567", "call [PHONE]"),
        ("call 555-1234", "call [PHONE]"),
        ("call 5551234567", "call [PHONE]"),
        ("tel: +1.415.555.2671", "tel: [PHONE]"),
    ],
)
def test_redacts(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 4111111111111112 is not a card (Luhn fails) nor a phone (16 digits)",
        "on 2024-01-15 at 10:30 or 15.01.2024",
        "from 192.168.100.200",
        "version 1.2.3 costs 19.99 for 2 items, ticket 12345",
        "user@localhost is not an address with a domain",
    ],
)
def test_leaves_other_text_alone(text: str) -> None:
    assert redact(text) == text


def test_kinds_are_selectable_and_counted() -> None:
    text = "a@b.io, 4111 1111 1111 1111, +44 20 7946 0958"
    only_email = Redactor(["email"])
    assert only_email.redact(text) == "[EMAIL], 4111 1111 1111 1111, +44 20 7946 0958"
    everything = Redactor()
    assert everything.redact(text) == "[EMAIL], [CARD], [PHONE]"
    assert everything.counts == {"email": 1, "card": 1, "phone": 1}


def test_email_digits_are_not_taken_for_a_phone() -> None:
    assert redact("mail 5551234567@example.com") == "mail [EMAIL]"


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112") and not luhn_valid("79927398710")


def test_parse_kinds() -> None:
    assert parse_kinds("phone, EMAIL") == ("email", "phone")
    assert parse_kinds(",".join(KINDS)) == KINDS
    with pytest.raises(ValueError, match="unknown redaction kind 'ssn'; valid kinds: email, card, phone"):
        parse_kinds("email,ssn")
    with pytest.raises(ValueError, match="no redaction kind"):
        parse_kinds(" , ")
    with pytest.raises(ValueError, match="unknown redaction kind"):
        Redactor(["iban"])
