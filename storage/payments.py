"""Invoices this bot issued and payments it received. The caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass

from storage.sqlite import Connection

RECEIVED = "received"  # recorded, not yet credited
CREDITED = "credited"
REFUNDED = "refunded"
UNMATCHED = "unmatched"  # recorded, but matches no invoice of ours: never credited


@dataclass(frozen=True, slots=True)
class InvoiceRow:
    nonce: str
    user_id: int
    tier: str
    days: int
    amount: int
    currency: str
    created_at: int
    subscription: bool = False  # a monthly Stars subscription (createInvoiceLink)


@dataclass(frozen=True, slots=True)
class PaymentRow:
    charge_id: str
    provider_charge_id: str | None
    user_id: int
    tier: str
    days: int
    amount: int
    currency: str
    payload: str
    status: str
    created_at: int
    credited_at: int | None
    refunded_at: int | None
    recurring: bool = False  # a subscription's payment (the first one or a renewal)
    period_end: int | None = None  # the subscription's paid period ends then


_PAYMENT_COLUMNS = (
    "charge_id, provider_charge_id, user_id, tier, days, amount, currency, payload, status, "
    "created_at, credited_at, refunded_at, recurring, period_end"
)
_INVOICE_COLUMNS = "nonce, user_id, tier, days, amount, currency, created_at, subscription"


def _payment(row: tuple[object, ...] | None) -> PaymentRow | None:
    if row is None:
        return None
    fields = list(row)
    fields[12] = bool(fields[12])
    return PaymentRow(*fields)  # type: ignore[arg-type]


async def add_invoice(conn: Connection, invoice: InvoiceRow) -> None:
    await conn.execute(
        f"INSERT INTO invoices ({_INVOICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            invoice.nonce,
            invoice.user_id,
            invoice.tier,
            invoice.days,
            invoice.amount,
            invoice.currency,
            invoice.created_at,
            int(invoice.subscription),
        ),
    )


async def get_invoice(conn: Connection, nonce: str) -> InvoiceRow | None:
    cursor = await conn.execute(
        f"SELECT {_INVOICE_COLUMNS} FROM invoices WHERE nonce = ?",
        (nonce,),
    )
    row = await cursor.fetchone()
    await cursor.close()
    if row is None:
        return None
    fields = list(row)
    fields[7] = bool(fields[7])
    return InvoiceRow(*fields)


async def is_payload_paid(conn: Connection, payload: str) -> bool:
    """A payment for this payload exists and was not refunded."""
    cursor = await conn.execute(
        "SELECT 1 FROM payments WHERE payload = ? AND status != ? LIMIT 1", (payload, REFUNDED)
    )
    row = await cursor.fetchone()
    await cursor.close()
    return row is not None


async def record(conn: Connection, payment: PaymentRow) -> bool:
    """Insert a payment under its charge id; False when it was already recorded."""
    cursor = await conn.execute(
        f"""
        INSERT INTO payments ({_PAYMENT_COLUMNS})
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (charge_id) DO NOTHING
        """,
        (
            payment.charge_id,
            payment.provider_charge_id,
            payment.user_id,
            payment.tier,
            payment.days,
            payment.amount,
            payment.currency,
            payment.payload,
            payment.status,
            payment.created_at,
            payment.credited_at,
            payment.refunded_at,
            int(payment.recurring),
            payment.period_end,
        ),
    )
    inserted = cursor.rowcount
    await cursor.close()
    return inserted == 1


async def get(conn: Connection, charge_id: str) -> PaymentRow | None:
    cursor = await conn.execute(
        f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE charge_id = ?", (charge_id,)
    )
    row = await cursor.fetchone()
    await cursor.close()
    return _payment(row)


async def mark_credited(conn: Connection, charge_id: str, now: int) -> PaymentRow | None:
    """Move a payment from received to credited; None when it was not 'received'.
    This status transition is what makes crediting happen at most once."""
    cursor = await conn.execute(
        f"UPDATE payments SET status = ?, credited_at = ? "
        f"WHERE charge_id = ? AND status = ? RETURNING {_PAYMENT_COLUMNS}",
        (CREDITED, now, charge_id, RECEIVED),
    )
    row = await cursor.fetchone()
    await cursor.close()
    return _payment(row)


async def mark_refunded(conn: Connection, charge_id: str, now: int) -> PaymentRow | None:
    """Mark a payment refunded; None when it already was (or does not exist)."""
    cursor = await conn.execute(
        f"UPDATE payments SET status = ?, refunded_at = ? "
        f"WHERE charge_id = ? AND status != ? RETURNING {_PAYMENT_COLUMNS}",
        (REFUNDED, now, charge_id, REFUNDED),
    )
    row = await cursor.fetchone()
    await cursor.close()
    return _payment(row)


async def pending(conn: Connection) -> list[str]:
    """Charge ids recorded but not yet credited (the bot stopped half-way)."""
    cursor = await conn.execute(
        "SELECT charge_id FROM payments WHERE status = ? ORDER BY created_at", (RECEIVED,)
    )
    rows = await cursor.fetchall()
    await cursor.close()
    return [row[0] for row in rows]


async def earned_since(conn: Connection, since: int, currency: str = "XTR") -> int:
    """Sum of payments in ``currency`` since ``since`` that were not refunded."""
    cursor = await conn.execute(
        "SELECT COALESCE(SUM(amount), 0) FROM payments "
        "WHERE currency = ? AND created_at >= ? AND status IN (?, ?)",
        (currency, since, RECEIVED, CREDITED),
    )
    row = await cursor.fetchone()
    await cursor.close()
    return int(row[0]) if row else 0
