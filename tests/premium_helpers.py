"""Helpers for premium/payment handler tests: drive a purchase through the real dispatcher."""

from __future__ import annotations

from typing import Any

from aiogram.methods import AnswerPreCheckoutQuery, SendInvoice

from tests.harness import Harness


def buttons(call: Any) -> list[tuple[str, str | None]]:
    """(text, callback_data) of every inline button of a recorded send."""
    markup = call.reply_markup
    if markup is None:
        return []
    return [(b.text, b.callback_data) for row in markup.inline_keyboard for b in row]


async def request_invoice(h: Harness, user_id: int, tier: str, **kwargs: Any) -> SendInvoice:
    """Press "buy" on /premium and return the invoice the bot sent."""
    before = len(h.session.calls_of(SendInvoice))
    await h.feed(h.session.make_callback(user_id, f"prem:buy:{tier}", **kwargs))
    invoices = h.session.calls_of(SendInvoice)
    assert len(invoices) == before + 1, h.session.method_names()
    return invoices[-1]


async def pre_checkout(
    h: Harness, user_id: int, invoice: SendInvoice, **kwargs: Any
) -> AnswerPreCheckoutQuery:
    amount = kwargs.pop("amount", invoice.prices[0].amount)
    payload = kwargs.pop("payload", invoice.payload)
    currency = kwargs.pop("currency", invoice.currency)
    await h.feed(h.session.make_pre_checkout(user_id, payload, amount, currency, **kwargs))
    return h.session.last(AnswerPreCheckoutQuery)


async def pay(
    h: Harness, user_id: int, invoice: SendInvoice, charge_id: str = "charge-1", **kwargs: Any
) -> str:
    """Deliver a successful payment for ``invoice``; returns the bot's last text (receipt)."""
    update = h.session.make_successful_payment(
        user_id,
        invoice.payload,
        invoice.prices[0].amount,
        charge_id,
        invoice.currency,
        **kwargs,
    )
    await h.feed(update)
    return h.texts()[-1]


async def buy(h: Harness, user_id: int, tier: str, charge_id: str = "charge-1") -> str:
    invoice = await request_invoice(h, user_id, tier)
    answer = await pre_checkout(h, user_id, invoice)
    assert answer.ok, answer.error_message
    return await pay(h, user_id, invoice, charge_id)
