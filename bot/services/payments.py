"""Premium tiers bought with Telegram Stars: invoices, pre-checkout, crediting, refunds, trial.

No aiogram types here; handlers translate updates into these calls.

The rules (also in the README):

* An invoice payload is ``v1:<user id>:<tier>:<nonce>``; the nonce is stored in ``invoices``
  with the tier, days, amount and currency, so only invoices this bot issued are accepted.
* Pre-checkout says ok only for a payload of ours, for the paying user, whose amount and
  currency equal the current price, not paid already, and not a lower tier than one in force.
* A successful payment is first recorded under its ``telegram_payment_charge_id`` (primary
  key: a second delivery is a no-op), then credited in one transaction that moves its status
  from ``received`` to ``credited`` and changes the tier. A payment left ``received`` by a crash
  is credited at the next start (:meth:`PaymentService.credit_pending`).
* Buying the tier in force extends it from its current expiry. Buying a higher tier starts it
  now; the unused time of a *paid* lower tier is converted into time of the new tier at the
  price ratio (10 days of Tier 1 at 500 ⭐ are worth 5 days of Tier 2 at 1000 ⭐), so nothing
  paid for is lost; trial and granted time is not converted. A lower tier cannot be bought
  while a higher one is in force (if such a payment arrives anyway, it extends the higher tier
  by its value at the price ratio).
* A refund removes the refunded payment's value (at the price ratio, if the tier changed
  since) from the tier in force; when nothing is left the user is back on Free.

Monthly subscriptions (Telegram Stars, ``subscription_period`` of 30 days):

* The invoice is a link (createInvoiceLink) with the same payload format; its ``invoices``
  row says ``subscription``. Its payments arrive with ``is_recurring`` and a
  ``subscription_expiration_date``; a payment whose kind does not match its invoice is
  unmatched. Each payment is recorded and credited once, exactly as above.
* The first payment gives the tier until the subscription's expiration date, plus the paid
  time left of the tier held before (converted at the price ratio when it was lower); that
  carried time stays with the subscription. A renewal moves the tier's end to the new
  expiration date (plus the carried time); it never shortens it.
* A payment that gives a higher tier stops the renewal of every lower-tier subscription of
  the user (editUserStarSubscription): decided in the crediting transaction (state
  ``canceling``), done right after, and tried again (at start, then every few minutes) until
  Telegram confirms. A refund of a subscription's payment stops its renewal the same way.
* ``subscription`` updates record the state (canceled, active, failed); a failed renewal is
  told to the user once, and the tier ends at its expiry.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.config import Settings
from bot.metrics import count_credited
from bot.services import clock
from bot.services.errors import DomainError
from bot.tiers import FREE, PAID_TIERS, PERIOD_DAYS, RANK, TIER1, TIER2, TRIAL_HOURS
from storage import admin as admin_repo
from storage import payments as payments_repo
from storage import star_subscriptions as subs_repo
from storage import tiers as tiers_repo
from storage.db import Database
from storage.payments import InvoiceRow, PaymentRow
from storage.star_subscriptions import SubscriptionRow
from storage.tiers import TierRow

logger = logging.getLogger(__name__)

CURRENCY = "XTR"
DAY = 86400
# Telegram accepts exactly this subscription_period (30 days).
SUBSCRIPTION_PERIOD = 30 * DAY
_PAYLOAD_RE = re.compile(r"^v1:(\d{1,20}):(tier1|tier2):([A-Za-z0-9_-]{8,64})$")


# --- errors --------------------------------------------------------------------------------


class PaymentError(DomainError):
    """An admin or user request about payments that cannot be done."""


class PaymentNotFound(PaymentError):
    text_key = "admin.refund_unknown"


class AlreadyRefunded(PaymentError):
    text_key = "admin.refund_twice"


class RefundRefused(PaymentError):
    """Telegram refused the refund. params: reason."""

    text_key = "admin.refund_failed"


class ChargeAlreadyRefunded(Exception):
    """Raised by a refund call when Telegram says the charge was refunded already."""


class UnknownUser(PaymentError):
    """No such user in the database. params: user_id."""

    text_key = "admin.unknown_user"


class LowerTierRefused(PaymentError):
    """A lower tier while a higher one is in force. params: tier, current."""

    text_key = "premium.lower_tier"


class AlreadySubscribed(PaymentError):
    """A subscription to this tier (or a higher one) renews already. params: tier."""

    text_key = "premium.sub_already"


class NoRenewal(PaymentError):
    """Nothing to cancel or resume: no such subscription in force."""

    text_key = "premium.sub_nothing"


class SubscriptionEditRefused(Exception):
    """Raised by an editUserStarSubscription call that Telegram refused (a final answer;
    any other exception means "not known, try again later")."""


class TrialUnavailable(Exception):
    """The trial cannot be taken now: ``next_at`` (unix seconds) or a paid tier in force."""

    def __init__(self, *, next_at: int | None = None, paid_tier: str | None = None) -> None:
        super().__init__("trial unavailable")
        self.next_at = next_at
        self.paid_tier = paid_tier


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Invoice:
    nonce: str
    payload: str
    user_id: int
    tier: str
    days: int
    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class CreditOutcome:
    """What became of a payment. status: credited (now), already (earlier), unmatched,
    refunded."""

    charge_id: str
    user_id: int
    status: str
    tier: str
    days: int
    amount: int
    expires_at: int | None = None
    bonus_seconds: int = 0
    active_tier: str | None = None  # the tier in force after crediting
    recurring: bool = False  # a subscription's payment
    renewal: bool = False  # ... and not its first
    period_end: int | None = None  # the subscription renews then
    stops_renewal: bool = False  # a lower-tier subscription's renewal is being stopped


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    payment: PaymentRow
    tier: str  # the user's tier in force after the refund
    expires_at: int | None
    telegram_had_refunded: bool = False
    renewal_stopped: bool = False  # it was a subscription's payment: no more renewals


@dataclass(frozen=True, slots=True)
class TrialInfo:
    available: bool
    next_at: int | None  # when it is available again (None: now, or never while paid)
    paid_tier: str | None  # a paid/granted tier in force that rules the trial out


@dataclass(frozen=True, slots=True)
class Plan:
    tier: str
    expires_at: int | None
    bonus_seconds: int = 0


@dataclass(frozen=True, slots=True)
class SubscriptionChange:
    """A ``subscription`` update recorded. tell_failure: tell the user (once) that the
    renewal failed."""

    subscription: SubscriptionRow
    tell_failure: bool
    tier_expires_at: int | None


EditCall = Callable[[int, str, bool], Awaitable[object]]
"""``call(user_id, charge_id, is_canceled)``: editUserStarSubscription."""


def make_payload(user_id: int, tier: str, nonce: str) -> str:
    return f"v1:{user_id}:{tier}:{nonce}"


def parse_payload(payload: str) -> tuple[int, str, str] | None:
    match = _PAYLOAD_RE.match(payload or "")
    if match is None:
        return None
    return int(match.group(1)), match.group(2), match.group(3)


def active(row: TierRow | None, now: int) -> TierRow | None:
    """The row if it holds a tier in force now, else None (expiry applied on read)."""
    if row is None or row.tier == FREE:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    return row


def plan_purchase(
    current: TierRow | None,
    *,
    tier: str,
    days: int,
    now: int,
    prices: dict[str, int],
) -> Plan:
    """The tier and expiry after paying for ``days`` of ``tier`` (see the module doc)."""
    period = days * DAY
    held = active(current, now)
    if held is None:
        return Plan(tier, now + period)
    if held.expires_at is None:  # a permanent grant: nothing to extend
        return Plan(held.tier, None)
    if held.tier == tier:
        return Plan(tier, held.expires_at + period)
    if RANK[tier] > RANK[held.tier]:
        bonus = 0
        if held.source == "payment":
            remaining = held.expires_at - now
            bonus = remaining * prices[held.tier] // prices[tier]
        return Plan(tier, now + period + bonus, bonus)
    # A lower tier than the one in force: its value extends the higher tier.
    value = period * prices[tier] // prices[held.tier]
    return Plan(held.tier, held.expires_at + value, value)


def plan_subscription(
    current: TierRow | None,
    *,
    tier: str,
    period_end: int,
    carried: int | None,
    now: int,
    prices: dict[str, int],
) -> Plan:
    """The tier and expiry after a subscription's payment. ``carried`` is the paid time the
    subscription carries (None for its first payment: computed here, returned as the bonus)."""
    held = active(current, now)
    if held is not None and held.expires_at is None:  # a permanent grant
        return Plan(held.tier, None)
    if held is not None and RANK[tier] < RANK[held.tier]:
        # A lower tier's renewal while a higher one is in force: its value extends it.
        value = SUBSCRIPTION_PERIOD * prices[tier] // prices[held.tier]
        assert held.expires_at is not None
        return Plan(held.tier, held.expires_at + value, value)
    bonus = carried or 0
    if carried is None and held is not None and held.source == "payment":
        assert held.expires_at is not None
        remaining = max(held.expires_at - now, 0)
        bonus = remaining * prices[held.tier] // prices[tier]
    target = period_end + bonus
    if held is not None and held.tier == tier and held.expires_at is not None:
        target = max(target, held.expires_at)
    return Plan(tier, target, bonus)


def plan_refund(
    current: TierRow | None, payment: PaymentRow, *, now: int, prices: dict[str, int]
) -> Plan:
    held = active(current, now)
    if held is None:
        return Plan(FREE, None)
    if held.expires_at is None:
        return Plan(held.tier, None)
    value = payment.days * DAY
    if held.tier != payment.tier and payment.tier in prices:
        value = value * prices[payment.tier] // prices[held.tier]
    expires = held.expires_at - value
    if expires <= now:
        return Plan(FREE, None)
    return Plan(held.tier, expires)


class PaymentService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.prices: dict[str, int] = {
            TIER1: settings.tier1_price_stars,
            TIER2: settings.tier2_price_stars,
        }
        self.trial_cooldown = settings.trial_cooldown_days * DAY
        self._refund_lock = asyncio.Lock()

    def price(self, tier: str) -> int:
        return self.prices[tier]

    @staticmethod
    async def _renewing_at_or_above(
        conn: Any, user_id: int, tier: str, now: int, *, except_payload: str = ""
    ) -> SubscriptionRow | None:
        for row in await subs_repo.current(conn, user_id, now=now):
            renews = row.state in (subs_repo.ACTIVE, subs_repo.FAILED)
            if renews and RANK[row.tier] >= RANK[tier] and row.payload != except_payload:
                return row
        return None

    async def tier_row(self, user_id: int) -> TierRow | None:
        row = await self.db.fetchone(
            f"SELECT {tiers_repo.COLUMNS} FROM user_tiers WHERE user_id = ?", (user_id,)
        )
        return None if row is None else TierRow(*row)

    # --- invoices and pre-checkout ---------------------------------------------------------

    async def create_invoice(
        self, user_id: int, tier: str, now: int | None = None, *, subscription: bool = False
    ) -> Invoice:
        """An invoice for 30 days of ``tier``; ``subscription``: a monthly plan that renews
        itself (refused while one of this tier or a higher one renews already)."""
        if tier not in PAID_TIERS:
            raise ValueError(f"not a paid tier: {tier!r}")
        now = clock.now() if now is None else now
        held = active(await self.tier_row(user_id), now)
        if held is not None and RANK[held.tier] > RANK[tier]:
            raise LowerTierRefused(tier=tier, current=held.tier)
        if subscription:
            async with self.db.transaction() as conn:
                renewing = await self._renewing_at_or_above(conn, user_id, tier, now)
            if renewing is not None:
                raise AlreadySubscribed(tier=renewing.tier)
        nonce = secrets.token_urlsafe(12)
        invoice = InvoiceRow(
            nonce=nonce,
            user_id=user_id,
            tier=tier,
            days=PERIOD_DAYS,
            amount=self.price(tier),
            currency=CURRENCY,
            created_at=now,
            subscription=subscription,
        )
        async with self.db.transaction() as conn:
            await payments_repo.add_invoice(conn, invoice)
        return Invoice(
            nonce=nonce,
            payload=make_payload(user_id, tier, nonce),
            user_id=user_id,
            tier=tier,
            days=invoice.days,
            amount=invoice.amount,
            currency=CURRENCY,
        )

    async def check_pre_checkout(
        self, *, user_id: int, payload: str, currency: str, amount: int, now: int | None = None
    ) -> str | None:
        """None when the payment may go ahead, else the text key of the reason."""
        now = clock.now() if now is None else now
        parsed = parse_payload(payload)
        if parsed is None:
            return "premium.pc_invalid"
        payload_user, tier, nonce = parsed
        async with self.db.transaction() as conn:
            invoice = await payments_repo.get_invoice(conn, nonce)
            paid = await payments_repo.is_payload_paid(conn, payload)
            current = await tiers_repo.get(conn, user_id)
        if (
            invoice is None
            or payload_user != user_id
            or invoice.user_id != user_id
            or invoice.tier != tier
        ):
            return "premium.pc_invalid"
        if paid:
            return "premium.pc_paid"
        if currency != CURRENCY or invoice.currency != CURRENCY:
            return "premium.pc_invalid"
        if amount != self.price(tier) or invoice.amount != amount:
            return "premium.pc_price_changed"
        held = active(current, now)
        if held is not None and RANK[held.tier] > RANK[tier]:
            return "premium.pc_lower_tier"
        if invoice.subscription:
            async with self.db.transaction() as conn:
                renewing = await self._renewing_at_or_above(
                    conn, user_id, tier, now, except_payload=payload
                )
            if renewing is not None:
                return "premium.pc_subscribed"
        return None

    # --- successful payments ---------------------------------------------------------------

    async def receive(
        self,
        *,
        user_id: int,
        charge_id: str,
        provider_charge_id: str | None,
        payload: str,
        currency: str,
        amount: int,
        now: int | None = None,
        recurring: bool = False,
        period_end: int | None = None,
    ) -> CreditOutcome:
        """Record (first, on its own) and then credit a successful payment. Safe to call
        again with the same charge id: it is recorded and credited once."""
        now = clock.now() if now is None else now
        await self.record(
            user_id=user_id,
            charge_id=charge_id,
            provider_charge_id=provider_charge_id,
            payload=payload,
            currency=currency,
            amount=amount,
            now=now,
            recurring=recurring,
            period_end=period_end,
        )
        return await self.credit(charge_id, now=now)

    async def record(
        self,
        *,
        user_id: int,
        charge_id: str,
        provider_charge_id: str | None,
        payload: str,
        currency: str,
        amount: int,
        now: int,
        recurring: bool = False,
        period_end: int | None = None,
    ) -> bool:
        """Store the payment under its charge id before anything else. A payment that does
        not match one of our invoices (or a subscription's payment for a one-off invoice, or
        the other way round) is stored as 'unmatched' and never credited."""
        async with self.db.transaction() as conn:
            parsed = parse_payload(payload)
            invoice = await payments_repo.get_invoice(conn, parsed[2]) if parsed else None
            matched = (
                parsed is not None
                and invoice is not None
                and invoice.user_id == user_id == parsed[0]
                and invoice.tier == parsed[1]
                and invoice.amount == amount
                and invoice.currency == currency == CURRENCY
                and invoice.subscription == recurring
                and (not recurring or period_end is not None)
            )
            tier = invoice.tier if invoice else (parsed[1] if parsed else "")
            inserted = await payments_repo.record(
                conn,
                PaymentRow(
                    charge_id=charge_id,
                    provider_charge_id=provider_charge_id,
                    user_id=user_id,
                    tier=tier,
                    days=invoice.days if invoice else 0,
                    amount=amount,
                    currency=currency,
                    payload=payload,
                    status=payments_repo.RECEIVED if matched else payments_repo.UNMATCHED,
                    created_at=now,
                    credited_at=None,
                    refunded_at=None,
                    recurring=recurring,
                    period_end=period_end if recurring else None,
                ),
            )
        if inserted and not matched:
            logger.error(
                "payment %s of user %d matches no invoice of ours: recorded as unmatched",
                charge_id,
                user_id,
            )
        return inserted

    async def credit(self, charge_id: str, now: int | None = None) -> CreditOutcome:
        """Credit a recorded payment once: the status change and the tier change are one
        transaction."""
        now = clock.now() if now is None else now
        async with self.db.transaction() as conn:
            payment = await payments_repo.mark_credited(conn, charge_id, now)
            if payment is None:
                existing = await payments_repo.get(conn, charge_id)
                if existing is None:
                    raise PaymentNotFound(charge_id=charge_id)
                current = active(await tiers_repo.get(conn, existing.user_id), now)
                status = {
                    payments_repo.CREDITED: "already",
                    payments_repo.REFUNDED: "refunded",
                }.get(existing.status, existing.status)
                return CreditOutcome(
                    charge_id=charge_id,
                    user_id=existing.user_id,
                    status=status,
                    tier=existing.tier,
                    days=existing.days,
                    amount=existing.amount,
                    expires_at=current.expires_at if current else None,
                    active_tier=current.tier if current else FREE,
                    recurring=existing.recurring,
                    period_end=existing.period_end,
                )
            current = await tiers_repo.get(conn, payment.user_id)
            renewal = False
            if payment.recurring and payment.period_end is not None:
                known = await subs_repo.get(conn, payment.payload)
                renewal = known is not None
                plan = plan_subscription(
                    current,
                    tier=payment.tier,
                    period_end=payment.period_end,
                    carried=known.bonus if known is not None else None,
                    now=now,
                    prices=self.prices,
                )
                await subs_repo.paid(
                    conn,
                    payload=payment.payload,
                    user_id=payment.user_id,
                    tier=payment.tier,
                    amount=payment.amount,
                    charge_id=known.charge_id if known is not None else charge_id,
                    period_end=payment.period_end,
                    bonus=plan.bonus_seconds if known is None else known.bonus,
                    now=now,
                )
                if renewal:
                    plan = Plan(plan.tier, plan.expires_at)  # the carried time is not new
            else:
                plan = plan_purchase(
                    current, tier=payment.tier, days=payment.days, now=now, prices=self.prices
                )
            await tiers_repo.put(
                conn,
                user_id=payment.user_id,
                tier=plan.tier,
                expires_at=plan.expires_at,
                source="payment",
                now=now,
            )
            stops = await self._stop_lower_renewals(conn, payment.user_id, plan.tier, now)
        count_credited(payment.tier, payment.amount)
        logger.info(
            "payment %s credited: user %d, %s for %d days",
            charge_id,
            payment.user_id,
            payment.tier,
            payment.days,
        )
        return CreditOutcome(
            charge_id=charge_id,
            user_id=payment.user_id,
            status="credited",
            tier=payment.tier,
            days=payment.days,
            amount=payment.amount,
            expires_at=plan.expires_at,
            bonus_seconds=plan.bonus_seconds,
            active_tier=plan.tier,
            recurring=payment.recurring,
            renewal=renewal,
            period_end=payment.period_end,
            stops_renewal=stops,
        )

    @staticmethod
    async def _stop_lower_renewals(conn: Any, user_id: int, tier: str, now: int) -> bool:
        """Decide to stop the renewal of the user's subscriptions below ``tier`` (the user
        is never charged for two plans); :meth:`finish_cancels` tells Telegram."""
        stopped = False
        for row in await subs_repo.current(conn, user_id, now=now):
            if RANK[row.tier] < RANK[tier]:
                stopped |= await subs_repo.mark_canceling(
                    conn, row.payload, by=subs_repo.BY_SWITCH, now=now
                )
        return stopped

    async def credit_pending(self, now: int | None = None) -> list[CreditOutcome]:
        """Credit every payment recorded but not credited (run at start)."""
        async with self.db.transaction() as conn:
            charge_ids = await payments_repo.pending(conn)
        outcomes = []
        for charge_id in charge_ids:
            outcome = await self.credit(charge_id, now=now)
            if outcome.status == "credited":
                logger.warning("payment %s was left uncredited: credited now", charge_id)
            outcomes.append(outcome)
        return outcomes

    # --- refunds ---------------------------------------------------------------------------

    async def refund(
        self,
        charge_id: str,
        call: Callable[[int, str], Awaitable[object]],
        now: int | None = None,
    ) -> RefundOutcome:
        """Refund a payment with ``call(user_id, charge_id)`` (refundStarPayment), then mark
        it refunded and take its value off the tier, in one transaction. A second refund is
        refused. ``call`` raises :class:`ChargeAlreadyRefunded` when Telegram had already
        refunded it (the record is then brought in line)."""
        async with self._refund_lock:
            async with self.db.transaction() as conn:
                payment = await payments_repo.get(conn, charge_id)
            if payment is None:
                raise PaymentNotFound(charge_id=charge_id)
            if payment.status == payments_repo.REFUNDED:
                raise AlreadyRefunded(charge_id=charge_id)
            telegram_had_refunded = False
            try:
                await call(payment.user_id, charge_id)
            except ChargeAlreadyRefunded:
                telegram_had_refunded = True
            now = clock.now() if now is None else now
            async with self.db.transaction() as conn:
                marked = await payments_repo.mark_refunded(conn, charge_id, now)
                if marked is None:
                    raise AlreadyRefunded(charge_id=charge_id)
                current = await tiers_repo.get(conn, payment.user_id)
                plan = Plan(FREE, None)
                if payment.status == payments_repo.CREDITED:
                    plan = plan_refund(current, payment, now=now, prices=self.prices)
                    await tiers_repo.put(
                        conn,
                        user_id=payment.user_id,
                        tier=plan.tier,
                        expires_at=plan.expires_at,
                        source=current.source if current and plan.tier != FREE else "refund",
                        now=now,
                    )
                else:
                    held = active(current, now)
                    if held is not None:
                        plan = Plan(held.tier, held.expires_at)
                stopped = payment.recurring and await subs_repo.mark_canceling(
                    conn, payment.payload, by=subs_repo.BY_REFUND, now=now
                )
        logger.info("payment %s of user %d refunded", charge_id, payment.user_id)
        return RefundOutcome(
            payment=marked,
            tier=plan.tier,
            expires_at=plan.expires_at,
            telegram_had_refunded=telegram_had_refunded,
            renewal_stopped=stopped,
        )

    # --- subscriptions ---------------------------------------------------------------------

    async def finish_cancels(self, call: EditCall, now: int | None = None) -> list[str]:
        """Tell Telegram to stop every renewal decided on (state ``canceling``); returns the
        payloads done. A refusal is final (the renewal cannot be stopped by the bot, or is
        stopped already); any other error leaves it for the next try
        (:class:`bot.services.renewal_stops.RenewalStops`)."""
        async with self.db.snapshot() as conn:
            rows = await subs_repo.canceling(conn)
        done = []
        for row in rows:
            try:
                await call(row.user_id, row.charge_id, True)
            except SubscriptionEditRefused as exc:
                logger.warning("stopping the renewal of %s was refused: %s", row.charge_id, exc)
            except Exception:
                logger.exception(
                    "could not stop the renewal of %s; tried again later", row.charge_id
                )
                continue
            async with self.db.transaction() as conn:
                await subs_repo.set_state(
                    conn,
                    row.payload,
                    state=subs_repo.CANCELED,
                    canceled_by=row.canceled_by,
                    now=clock.now() if now is None else now,
                )
            logger.info("renewal of subscription %s stopped (%s)", row.charge_id, row.canceled_by)
            done.append(row.payload)
        return done

    async def subscription_of(self, user_id: int, now: int | None = None) -> SubscriptionRow | None:
        """The subscription behind the user's tier in force (None: none, or it is over)."""
        now = clock.now() if now is None else now
        async with self.db.transaction() as conn:
            held = active(await tiers_repo.get(conn, user_id), now)
            rows = await subs_repo.current(conn, user_id, now=now)
        if held is None or not rows:
            return None
        same = [row for row in rows if row.tier == held.tier]
        return same[0] if same else None

    async def subscription_changed(
        self, *, user_id: int, payload: str, state: str, now: int | None = None, notice: bool = True
    ) -> SubscriptionChange | None:
        """Record a ``subscription`` update (idempotent). ``notice``: claim the one-time
        failure notice (the journal records without claiming; the handler claims)."""
        now = clock.now() if now is None else now
        async with self.db.transaction() as conn:
            row = await subs_repo.get(conn, payload)
            if row is None or row.user_id != user_id:
                logger.warning(
                    "subscription update %r of user %d for an unknown subscription", state, user_id
                )
                return None
            if state == subs_repo.CANCELED:
                if row.state not in (subs_repo.CANCELED, subs_repo.CANCELING):
                    row = (
                        await subs_repo.set_state(
                            conn, payload, state=state, canceled_by=subs_repo.BY_USER, now=now
                        )
                        or row
                    )
            elif state == subs_repo.ACTIVE:
                # A stop the bot decided (switch, refund) stands until Telegram has it.
                if row.state in (subs_repo.CANCELED, subs_repo.FAILED):
                    row = (
                        await subs_repo.set_state(
                            conn, payload, state=state, canceled_by=None, now=now
                        )
                        or row
                    )
            elif state == subs_repo.FAILED:
                if row.state == subs_repo.ACTIVE:
                    row = (
                        await subs_repo.set_state(
                            conn, payload, state=state, canceled_by=None, now=now
                        )
                        or row
                    )
            else:
                logger.warning("subscription update with unknown state %r ignored", state)
                return None
            tell = notice and await subs_repo.claim_failure_notice(conn, payload, now=now)
            held = active(await tiers_repo.get(conn, user_id), now)
        logger.info("subscription %s of user %d is %s", row.charge_id, user_id, row.state)
        return SubscriptionChange(row, tell, held.expires_at if held is not None else None)

    async def cancels_pending(self) -> bool:
        """Whether a renewal is still to be stopped at Telegram (see :meth:`finish_cancels`)."""
        async with self.db.snapshot() as conn:
            return bool(await subs_repo.canceling(conn))

    async def cancel_renewal(
        self, user_id: int, call: EditCall, now: int | None = None
    ) -> SubscriptionRow:
        """The user stops the renewal of their plan (/premium). Raises NoRenewal, or
        SubscriptionEditRefused when Telegram refuses."""
        now = clock.now() if now is None else now
        row = await self.subscription_of(user_id, now)
        if row is None or row.state not in (subs_repo.ACTIVE, subs_repo.FAILED):
            raise NoRenewal()
        await call(user_id, row.charge_id, True)
        async with self.db.transaction() as conn:
            updated = await subs_repo.set_state(
                conn, row.payload, state=subs_repo.CANCELED, canceled_by=subs_repo.BY_BOT, now=now
            )
        logger.info("user %d stopped the renewal of %s", user_id, row.charge_id)
        return updated or row

    async def resume_renewal(
        self, user_id: int, call: EditCall, now: int | None = None
    ) -> SubscriptionRow:
        """Turn the renewal back on, when it was stopped through the bot (Telegram lets the
        bot re-enable only what the bot cancelled)."""
        now = clock.now() if now is None else now
        row = await self.subscription_of(user_id, now)
        if row is None or row.state != subs_repo.CANCELED or row.canceled_by != subs_repo.BY_BOT:
            raise NoRenewal()
        await call(user_id, row.charge_id, False)
        async with self.db.transaction() as conn:
            updated = await subs_repo.set_state(
                conn, row.payload, state=subs_repo.ACTIVE, canceled_by=None, now=now
            )
        logger.info("user %d resumed the renewal of %s", user_id, row.charge_id)
        return updated or row

    # --- trial -----------------------------------------------------------------------------

    async def trial_info(self, user_id: int, now: int | None = None) -> TrialInfo:
        now = clock.now() if now is None else now
        row = await self.tier_row(user_id)
        held = active(row, now)
        if held is not None:
            return TrialInfo(False, None, held.tier)
        if row is not None and row.trial_taken_at is not None:
            next_at = row.trial_taken_at + self.trial_cooldown
            if next_at > now:
                return TrialInfo(False, next_at, None)
        return TrialInfo(True, None, None)

    async def take_trial(self, user_id: int, now: int | None = None) -> int:
        """Start the 24-hour Tier 1 trial; returns its end. Raises TrialUnavailable."""
        now = clock.now() if now is None else now
        expires = now + TRIAL_HOURS * 3600
        async with self.db.transaction() as conn:
            started = await tiers_repo.start_trial(
                conn,
                user_id=user_id,
                tier=TIER1,
                expires_at=expires,
                now=now,
                taken_before=now - self.trial_cooldown,
            )
        if started:
            logger.info("user %d took the trial", user_id)
            return expires
        info = await self.trial_info(user_id, now)
        raise TrialUnavailable(next_at=info.next_at, paid_tier=info.paid_tier)

    # --- grants (admin) --------------------------------------------------------------------

    async def grant(self, user_id: int, tier: str, days: int, now: int | None = None) -> Plan:
        """Admin grant: ``free`` revokes; the tier in force is extended by ``days``; any other
        tier is set for ``days`` from now."""
        now = clock.now() if now is None else now
        async with self.db.transaction() as conn:
            if not await admin_repo.user_exists(conn, user_id):
                raise UnknownUser(user_id=user_id)
            current = active(await tiers_repo.get(conn, user_id), now)
            if tier == FREE:
                plan = Plan(FREE, None)
            elif current is not None and current.tier == tier and current.expires_at is not None:
                plan = Plan(tier, current.expires_at + days * DAY)
            else:
                plan = Plan(tier, now + days * DAY)
            await tiers_repo.put(
                conn,
                user_id=user_id,
                tier=plan.tier,
                expires_at=plan.expires_at,
                source="grant",
                now=now,
            )
        logger.info("user %d granted %s for %d days", user_id, tier, days)
        return plan
