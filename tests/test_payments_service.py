"""PaymentService: invoices, pre-checkout, record + credit exactly once, refunds, trial, grants."""

import asyncio

import pytest

from bot.services.payments import (
    DAY,
    AlreadyRefunded,
    ChargeAlreadyRefunded,
    LowerTierRefused,
    PaymentNotFound,
    PaymentService,
    RefundRefused,
    TrialUnavailable,
    UnknownUser,
    make_payload,
    parse_payload,
)
from bot.services.quota import QuotaService
from tests.conftest import make_settings

# SQLite always; PostgreSQL too when TEST_DATABASE_URL is set (tests/conftest.py).
pytestmark = pytest.mark.both_engines

T0 = 1_767_225_600  # 2026-01-01 00:00 UTC
USER = 1001
OTHER = 1002


async def add_user(db, uid):
    await db.execute(
        "INSERT INTO users (id, first_name, created_at, updated_at) VALUES (?, 'u', 0, 0)", (uid,)
    )


@pytest.fixture
async def service(db, settings):
    await add_user(db, USER)
    await add_user(db, OTHER)
    return PaymentService(db, settings)


async def tier_of(db, uid=USER, now=T0):
    state = await QuotaService(db, {}).tier_of(uid, now=now)
    return state.tier, state.expires_at


async def pay(service, invoice, *, charge="ch-1", now=T0, user=USER, amount=None):
    return await service.receive(
        user_id=user,
        charge_id=charge,
        provider_charge_id=None,
        payload=invoice.payload,
        currency=invoice.currency,
        amount=invoice.amount if amount is None else amount,
        now=now,
    )


async def status_of(db, charge):
    return await db.fetchval("SELECT status FROM payments WHERE charge_id = ?", (charge,))


# --- payloads and invoices -----------------------------------------------------------------


def test_payload_round_trip_and_garbage():
    payload = make_payload(42, "tier2", "abcdEFGH1234")
    assert parse_payload(payload) == (42, "tier2", "abcdEFGH1234")
    assert len(payload.encode()) <= 128  # Telegram's limit for invoice payloads
    for bad in ("", "v1:42:tier3:abcdEFGH1234", "v2:42:tier1:abcdEFGH1234", "v1:x:tier1:abcdefgh"):
        assert parse_payload(bad) is None


async def test_invoice_uses_the_configured_price_and_is_stored(db, tmp_path):
    await add_user(db, USER)
    service = PaymentService(db, make_settings(tmp_path, TIER1_PRICE_STARS="7"))
    invoice = await service.create_invoice(USER, "tier1", now=T0)
    assert (invoice.amount, invoice.currency, invoice.days) == (7, "XTR", 30)
    assert parse_payload(invoice.payload) == (USER, "tier1", invoice.nonce)
    row = await db.fetchone("SELECT * FROM invoices WHERE nonce = ?", (invoice.nonce,))
    assert (row["user_id"], row["tier"], row["amount"], row["currency"]) == (
        USER,
        "tier1",
        7,
        "XTR",
    )
    other = await service.create_invoice(USER, "tier1", now=T0)
    assert other.nonce != invoice.nonce


async def test_free_is_not_for_sale(service):
    with pytest.raises(ValueError):
        await service.create_invoice(USER, "free")


async def test_lower_tier_invoice_refused_while_higher_in_force(service, db):
    await pay(service, await service.create_invoice(USER, "tier2", now=T0))
    with pytest.raises(LowerTierRefused):
        await service.create_invoice(USER, "tier1", now=T0 + 10)


# --- pre-checkout --------------------------------------------------------------------------


async def check(service, invoice, *, user=USER, currency="XTR", amount=None, payload=None):
    return await service.check_pre_checkout(
        user_id=user,
        payload=invoice.payload if payload is None else payload,
        currency=currency,
        amount=invoice.amount if amount is None else amount,
        now=T0,
    )


async def test_pre_checkout_accepts_our_invoice(service):
    invoice = await service.create_invoice(USER, "tier1", now=T0)
    assert await check(service, invoice) is None


async def test_pre_checkout_refusals(service, db, tmp_path):
    invoice = await service.create_invoice(USER, "tier1", now=T0)
    assert await check(service, invoice, user=OTHER) == "premium.pc_invalid"
    assert await check(service, invoice, currency="USD") == "premium.pc_invalid"
    assert await check(service, invoice, amount=1) == "premium.pc_price_changed"
    assert await check(service, invoice, payload="garbage") == "premium.pc_invalid"
    forged = make_payload(USER, "tier1", "NotIssuedByUs123")
    assert await check(service, invoice, payload=forged) == "premium.pc_invalid"
    # Same nonce, but a tier that was not on the invoice.
    swapped = make_payload(USER, "tier2", invoice.nonce)
    assert await check(service, invoice, payload=swapped) == "premium.pc_invalid"


async def test_pre_checkout_refuses_an_invoice_for_someone_else(service):
    invoice = await service.create_invoice(OTHER, "tier1", now=T0)
    # The payload names OTHER, USER tries to pay it.
    assert await check(service, invoice, user=USER) == "premium.pc_invalid"


async def test_pre_checkout_refuses_after_the_price_changed(service, db, tmp_path):
    invoice = await service.create_invoice(USER, "tier1", now=T0)
    dearer = PaymentService(db, make_settings(tmp_path, TIER1_PRICE_STARS="900"))
    assert await check(dearer, invoice) == "premium.pc_price_changed"
    assert await check(dearer, invoice, amount=900) == "premium.pc_price_changed"


async def test_pre_checkout_refuses_a_paid_invoice(service):
    invoice = await service.create_invoice(USER, "tier1", now=T0)
    await pay(service, invoice)
    assert await check(service, invoice) == "premium.pc_paid"


async def test_pre_checkout_refuses_lower_tier_during_higher(service):
    tier1 = await service.create_invoice(USER, "tier1", now=T0)
    await pay(service, await service.create_invoice(USER, "tier2", now=T0), charge="t2")
    assert await check(service, tier1) == "premium.pc_lower_tier"


# --- successful payments -------------------------------------------------------------------


async def test_payment_credits_30_days(service, db):
    invoice = await service.create_invoice(USER, "tier1", now=T0)
    outcome = await pay(service, invoice, now=T0 + 5)
    assert outcome.status == "credited"
    assert outcome.expires_at == T0 + 5 + 30 * DAY
    assert await tier_of(db, now=T0 + 5) == ("tier1", T0 + 5 + 30 * DAY)
    assert await status_of(db, "ch-1") == "credited"
    row = await db.fetchone("SELECT source, reminded_at FROM user_tiers WHERE user_id = ?", (USER,))
    assert row["source"] == "payment" and row["reminded_at"] is None


async def test_same_payment_twice_credits_once(service, db):
    invoice = await service.create_invoice(USER, "tier1", now=T0)
    first = await pay(service, invoice)
    second = await pay(service, invoice, now=T0 + 60)
    assert (first.status, second.status) == ("credited", "already")
    assert second.expires_at == first.expires_at == T0 + 30 * DAY
    assert await db.fetchval("SELECT COUNT(*) FROM payments") == 1


async def test_concurrent_deliveries_credit_once(service, db):
    invoice = await service.create_invoice(USER, "tier1", now=T0)
    outcomes = await asyncio.gather(*(pay(service, invoice) for _ in range(20)))
    assert sorted(o.status for o in outcomes).count("credited") == 1
    assert await tier_of(db) == ("tier1", T0 + 30 * DAY)


async def test_same_tier_extends_from_current_expiry(service, db):
    await pay(service, await service.create_invoice(USER, "tier1", now=T0), charge="a")
    later = T0 + 10 * DAY
    await pay(
        service, await service.create_invoice(USER, "tier1", now=later), charge="b", now=later
    )
    assert await tier_of(db, now=later) == ("tier1", T0 + 60 * DAY)


async def test_expired_tier_starts_fresh(service, db):
    await pay(service, await service.create_invoice(USER, "tier1", now=T0), charge="a")
    later = T0 + 40 * DAY
    assert (await tier_of(db, now=later))[0] == "free"
    await pay(
        service, await service.create_invoice(USER, "tier1", now=later), charge="b", now=later
    )
    assert await tier_of(db, now=later) == ("tier1", later + 30 * DAY)


async def test_tier2_during_paid_tier1_starts_now_and_converts_the_rest(service, db):
    await pay(service, await service.create_invoice(USER, "tier1", now=T0), charge="a")
    later = T0 + 20 * DAY  # 10 days of Tier 1 left: worth 5 days of Tier 2 (500 vs 1000)
    invoice = await service.create_invoice(USER, "tier2", now=later)
    outcome = await pay(service, invoice, charge="b", now=later)
    assert outcome.bonus_seconds == 5 * DAY
    assert await tier_of(db, now=later) == ("tier2", later + 35 * DAY)


async def test_tier2_during_trial_converts_nothing(service, db):
    await service.take_trial(USER, now=T0)
    invoice = await service.create_invoice(USER, "tier2", now=T0 + 3600)
    outcome = await pay(service, invoice, now=T0 + 3600)
    assert outcome.bonus_seconds == 0
    assert await tier_of(db, now=T0 + 3600) == ("tier2", T0 + 3600 + 30 * DAY)


async def test_tier1_paid_during_tier2_extends_tier2_by_its_value(service, db):
    tier1 = await service.create_invoice(USER, "tier1", now=T0)  # issued before the upgrade
    await pay(service, await service.create_invoice(USER, "tier2", now=T0), charge="a")
    outcome = await pay(service, tier1, charge="b", now=T0 + DAY)
    assert outcome.status == "credited" and outcome.active_tier == "tier2"
    assert await tier_of(db, now=T0 + DAY) == ("tier2", T0 + 45 * DAY)


async def test_payment_recorded_but_not_credited_is_credited_at_start(service, db):
    """The bot died between recording and crediting: the next start credits it, once."""
    invoice = await service.create_invoice(USER, "tier1", now=T0)
    await service.record(
        user_id=USER,
        charge_id="crash",
        provider_charge_id=None,
        payload=invoice.payload,
        currency="XTR",
        amount=invoice.amount,
        now=T0,
    )
    assert await status_of(db, "crash") == "received"
    assert (await tier_of(db))[0] == "free"
    outcomes = await service.credit_pending(now=T0 + 60)
    assert [o.status for o in outcomes] == ["credited"]
    assert await tier_of(db, now=T0 + 60) == ("tier1", T0 + 60 + 30 * DAY)
    assert await service.credit_pending(now=T0 + 120) == []
    # The late delivery of the same update changes nothing.
    assert (await pay(service, invoice, charge="crash", now=T0 + 180)).status == "already"
    assert await tier_of(db, now=T0 + 180) == ("tier1", T0 + 60 + 30 * DAY)


async def test_crediting_rolls_back_with_the_tier(service, db, monkeypatch):
    """Record + credit: if the tier write fails, the status stays 'received'."""
    invoice = await service.create_invoice(USER, "tier1", now=T0)

    async def broken_put(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("storage.tiers.put", broken_put)
    with pytest.raises(RuntimeError):
        await pay(service, invoice, charge="x")
    assert await status_of(db, "x") == "received"
    monkeypatch.undo()
    assert [o.status for o in await service.credit_pending(now=T0)] == ["credited"]
    assert (await tier_of(db))[0] == "tier1"


async def test_unmatched_payment_is_recorded_never_credited(service, db):
    outcome = await service.receive(
        user_id=USER,
        charge_id="odd",
        provider_charge_id="prov",
        payload="something else",
        currency="XTR",
        amount=3,
        now=T0,
    )
    assert outcome.status == "unmatched"
    assert await status_of(db, "odd") == "unmatched"
    assert (await tier_of(db))[0] == "free"
    assert await service.credit_pending(now=T0) == []


async def test_amount_below_the_invoice_is_unmatched(service, db):
    invoice = await service.create_invoice(USER, "tier2", now=T0)
    outcome = await pay(service, invoice, amount=1)
    assert outcome.status == "unmatched"
    assert (await tier_of(db))[0] == "free"


async def test_payment_by_another_user_is_unmatched(service, db):
    invoice = await service.create_invoice(USER, "tier1", now=T0)
    outcome = await pay(service, invoice, user=OTHER)
    assert outcome.status == "unmatched"
    assert (await tier_of(db, OTHER))[0] == "free" and (await tier_of(db, USER))[0] == "free"


async def test_credit_of_unknown_charge(service):
    with pytest.raises(PaymentNotFound):
        await service.credit("nope")


# --- refunds -------------------------------------------------------------------------------


class Calls:
    def __init__(self, error=None):
        self.calls = []
        self.error = error

    async def __call__(self, user_id, charge_id):
        self.calls.append((user_id, charge_id))
        if self.error is not None:
            raise self.error


async def test_refund_revokes_and_second_refund_is_refused(service, db):
    await pay(service, await service.create_invoice(USER, "tier1", now=T0))
    call = Calls()
    outcome = await service.refund("ch-1", call, now=T0 + DAY)
    assert call.calls == [(USER, "ch-1")]
    assert outcome.tier == "free" and outcome.expires_at is None
    assert await status_of(db, "ch-1") == "refunded"
    assert (await tier_of(db, now=T0 + DAY))[0] == "free"
    with pytest.raises(AlreadyRefunded):
        await service.refund("ch-1", call, now=T0 + DAY)
    assert len(call.calls) == 1  # Telegram was not asked twice
    # A refunded payment delivered again gives nothing.
    again = await pay(service, await service.create_invoice(USER, "tier1"), charge="ch-1")
    assert again.status == "refunded"


async def test_refund_takes_off_only_the_refunded_period(service, db):
    await pay(service, await service.create_invoice(USER, "tier1", now=T0), charge="a")
    await pay(service, await service.create_invoice(USER, "tier1", now=T0), charge="b")
    outcome = await service.refund("a", Calls(), now=T0 + DAY)
    assert (outcome.tier, outcome.expires_at) == ("tier1", T0 + 30 * DAY)


async def test_refund_of_tier1_after_upgrade_takes_its_value_off_tier2(service, db):
    await pay(service, await service.create_invoice(USER, "tier1", now=T0), charge="a")
    await pay(service, await service.create_invoice(USER, "tier2", now=T0), charge="b")
    # Tier 2: 30 days + 15 converted from Tier 1. Refunding Tier 1 removes those 15.
    outcome = await service.refund("a", Calls(), now=T0)
    assert (outcome.tier, outcome.expires_at) == ("tier2", T0 + 30 * DAY)


async def test_refund_unknown_charge(service):
    with pytest.raises(PaymentNotFound):
        await service.refund("nope", Calls())


async def test_refund_refused_by_telegram_changes_nothing(service, db):
    await pay(service, await service.create_invoice(USER, "tier1", now=T0))
    with pytest.raises(RefundRefused):
        await service.refund("ch-1", Calls(RefundRefused(reason="no")), now=T0)
    assert await status_of(db, "ch-1") == "credited"
    assert (await tier_of(db))[0] == "tier1"


async def test_refund_already_done_in_telegram_is_recorded(service, db):
    await pay(service, await service.create_invoice(USER, "tier1", now=T0))
    outcome = await service.refund("ch-1", Calls(ChargeAlreadyRefunded()), now=T0)
    assert outcome.telegram_had_refunded
    assert await status_of(db, "ch-1") == "refunded"
    assert (await tier_of(db))[0] == "free"


async def test_concurrent_refunds_call_telegram_once(service, db):
    await pay(service, await service.create_invoice(USER, "tier1", now=T0))
    call = Calls()
    results = await asyncio.gather(
        *(service.refund("ch-1", call, now=T0) for _ in range(5)), return_exceptions=True
    )
    assert len(call.calls) == 1
    assert sum(isinstance(r, AlreadyRefunded) for r in results) == 4


async def test_refund_of_unmatched_payment_leaves_the_tier(service, db):
    await service.receive(
        user_id=USER,
        charge_id="odd",
        provider_charge_id=None,
        payload="x",
        currency="XTR",
        amount=3,
        now=T0,
    )
    await service.grant(USER, "tier1", 3, now=T0)
    outcome = await service.refund("odd", Calls(), now=T0)
    assert (outcome.tier, outcome.expires_at) == ("tier1", T0 + 3 * DAY)
    assert await status_of(db, "odd") == "refunded"


# --- trial ---------------------------------------------------------------------------------


async def test_trial_once_per_cooldown(service, db):
    expires = await service.take_trial(USER, now=T0)
    assert expires == T0 + 24 * 3600
    assert await tier_of(db) == ("tier1", expires)
    with pytest.raises(TrialUnavailable) as info:
        await service.take_trial(USER, now=T0 + 2 * DAY)  # trial over, cooldown (7 d) not
    assert info.value.next_at == T0 + 7 * DAY
    info2 = await service.trial_info(USER, now=T0 + 2 * DAY)
    assert not info2.available and info2.next_at == T0 + 7 * DAY
    assert await service.take_trial(USER, now=T0 + 7 * DAY) == T0 + 8 * DAY


async def test_trial_not_while_a_paid_tier_is_in_force(service, db):
    await pay(service, await service.create_invoice(USER, "tier2", now=T0))
    with pytest.raises(TrialUnavailable) as info:
        await service.take_trial(USER, now=T0 + 1)
    assert info.value.paid_tier == "tier2"
    assert (await service.trial_info(USER, now=T0)).paid_tier == "tier2"
    assert await tier_of(db, now=T0 + 1) == ("tier2", T0 + 30 * DAY)


async def test_concurrent_trial_taps_start_one_trial(service, db):
    results = await asyncio.gather(
        *(service.take_trial(USER, now=T0) for _ in range(10)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1


async def test_trial_cooldown_zero(db, tmp_path):
    await add_user(db, USER)
    service = PaymentService(db, make_settings(tmp_path, TRIAL_COOLDOWN_DAYS="0"))
    await service.take_trial(USER, now=T0)
    await service.take_trial(USER, now=T0 + DAY)  # the first one ended: again at once


async def test_buying_tier1_during_trial_extends_it(service, db):
    await service.take_trial(USER, now=T0)
    await pay(service, await service.create_invoice(USER, "tier1", now=T0), now=T0 + 3600)
    assert await tier_of(db, now=T0 + 3600) == ("tier1", T0 + DAY + 30 * DAY)


# --- grants --------------------------------------------------------------------------------


async def test_grant_sets_extends_and_revokes(service, db):
    plan = await service.grant(USER, "tier2", 10, now=T0)
    assert (plan.tier, plan.expires_at) == ("tier2", T0 + 10 * DAY)
    plan = await service.grant(USER, "tier2", 5, now=T0 + DAY)
    assert plan.expires_at == T0 + 15 * DAY
    plan = await service.grant(USER, "tier1", 2, now=T0 + DAY)
    assert (plan.tier, plan.expires_at) == ("tier1", T0 + 3 * DAY)
    plan = await service.grant(USER, "free", 0, now=T0 + DAY)
    assert plan.tier == "free"
    assert (await tier_of(db, now=T0 + DAY))[0] == "free"


async def test_grant_unknown_user(service):
    with pytest.raises(UnknownUser):
        await service.grant(999, "tier1", 1)


async def test_stops_pending_at_telegram_are_listed_and_finished_once(db, service):
    from storage import star_subscriptions as subs

    async with db.transaction() as conn:
        for payload in ("sub-a", "sub-b"):
            await subs.paid(
                conn,
                payload=payload,
                user_id=USER,
                tier="tier1",
                amount=500,
                charge_id=f"charge-{payload}",
                period_end=T0 + 30 * DAY,
                bonus=0,
                now=T0,
            )
        assert await subs.mark_canceling(conn, "sub-a", by=subs.BY_SWITCH, now=T0)
    assert await service.cancels_pending()
    calls: list[tuple[int, str, bool]] = []

    async def refuse_once_then_stop(user_id: int, charge_id: str, canceled: bool) -> None:
        calls.append((user_id, charge_id, canceled))
        if len(calls) == 1:
            raise ConnectionError("Telegram did not answer")

    assert await service.finish_cancels(refuse_once_then_stop, now=T0) == []
    assert await service.cancels_pending()  # still to stop: a failed call changes nothing
    assert await service.finish_cancels(refuse_once_then_stop, now=T0 + 60) == ["sub-a"]
    assert not await service.cancels_pending()
    assert calls == [(USER, "charge-sub-a", True)] * 2  # sub-b renews: never touched
    async with db.snapshot() as conn:
        row = await subs.get(conn, "sub-a")
    assert row is not None and (row.state, row.canceled_by) == (subs.CANCELED, subs.BY_SWITCH)
