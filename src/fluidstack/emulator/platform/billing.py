"""Balances, the user record, payments (Stripe intents) and depletion.

A balance is never stored as it changes: an account keeps the balance set at
``balance_time``, and what its instances cost since is integrated by the ledger. With
``auto_terminate_on_depletion``, an account whose balance has reached zero has its
instances terminated at that moment, applied lazily when the account is next seen.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import asdict
from typing import Any, Dict, List, Optional

from fluidstack.emulator.clock import iso
from fluidstack.emulator.platform.base import PlatformBase
from fluidstack.emulator.platform.records import (
    GONE_STATUSES,
    PAYMENT_INTENT_LIMIT,
    Account,
    Instance,
    PaymentIntent,
)
from fluidstack.emulator.responses import ApiError

logger = logging.getLogger("fluidstack.emulator")

__all__ = ["BillingMixin"]


class BillingMixin(PlatformBase):
    """Balance, company details, payments and depletion."""

    def balance(self, account: Account, now: Optional[float] = None) -> float:
        """Balance at ``now``: the last set balance minus what instances cost since."""
        with self.lock:
            at = self.clock.now() if now is None else now
            return round(self._unrounded_balance(account, at), 6)

    def _unrounded_balance(self, account: Account, at: float) -> float:
        """:meth:`balance` at ``at`` before its rounding to 6 decimals (lock held)."""
        spent = self.ledger.spent(account, at)
        if spent is None:  # a moment before the ledger's: sum every instance
            spent = sum(
                self.instances[i].cost_between(account.balance_time, at)
                for i in self.account_instances.get(account.id, [])
            )
        return account.balance_base - spent

    def _balance_for_sign(self, account: Account, now: float) -> float:
        """A value with the sign (and zeroness) of ``balance(account, now)``, for the
        checks that compare it with 0 (every create, twice). The rounding to 6 decimals
        is a correctly rounded decimal conversion (~40 % of a balance's cost); it can
        only change the sign of a value within 1e-6 of 0, so only such a value is
        rounded."""
        unrounded = self._unrounded_balance(account, now)
        if -1e-6 <= unrounded <= 1e-6:
            return round(unrounded, 6)
        return unrounded

    def user_view(self, account: Account) -> Dict[str, Any]:
        company = account.company
        return {
            "id": account.user_id,
            "first_name": "Emulated",
            "last_name": account.label,
            "email": account.email,
            "stripe_customer_id": account.stripe_customer_id,
            "workos_user_id": account.workos_user_id,
            "workos_organization_id": None,
            "is_banned": False,
            "created_at": iso(account.created_at),
            "updated_at": iso(account.updated_at),
            "auto_topup_enabled": False,
            "auto_topup_amount": 0,
            "auto_topup_minimum_balance": 0,
            "company_name": company.get("company_name"),
            "company_vat_number": company.get("company_vat_number"),
            "company_address": company.get("company_address"),
            "company_tax_id": company.get("company_tax_id"),
            "company_contact_info": company.get("company_contact_info"),
            "auto_terminate_on_depletion": account.auto_terminate_on_depletion,
        }

    def update_company(self, account: Account, changes: Dict[str, Optional[str]]) -> Dict[str, Any]:
        with self.lock:
            account.company = {**account.company, **changes}
            account.updated_at = self.clock.now()
            self._touch_account(account)
            self._commit()
            return self.user_view(account)

    def payment_intent(self, account: Account, amount: int, currency: str) -> Dict[str, Any]:
        """A pending payment intent of ``amount`` cents: the balance grows only when it
        completes (the Stripe webhook, or the control API acting as Stripe)."""
        with self.lock:
            rng = self._random("payment")
            intent_id = "pi_" + "".join(
                rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
                for _ in range(24)
            )
            intent = PaymentIntent(
                intent_id, account.id, amount, currency, "requires_payment_method", self.clock.now()
            )
            self.payment_intents[intent_id] = intent
            self._touch("payment", intent_id, asdict(intent))
            if len(self.payment_intents) > PAYMENT_INTENT_LIMIT:
                oldest = next(iter(self.payment_intents))  # dicts keep creation order
                del self.payment_intents[oldest]
                self._touch("payment", oldest, None)
            self._commit()
        secret = secrets.token_hex(12)  # a secret: never from the seed
        return {"client_secret": f"{intent_id}_secret_{secret}"}

    def complete_payment(self, intent_id: str, amount: Optional[int] = None) -> PaymentIntent:
        """Mark a payment intent paid and top up its account by the amount received
        (``amount`` cents; the intent's own by default). Completing it again changes
        nothing: Stripe delivers an event at least once."""
        with self.lock:
            intent = self.payment_intents.get(intent_id)
            if intent is None:
                raise ApiError(404, f"Payment intent {intent_id[:100]!r} not found")
            account = self.accounts.get(intent.account_id)
            if intent.status == "succeeded" or account is None:
                return intent
            received = intent.amount if amount is None else amount
            now = self.clock.now()
            self._settle_depletion(account, now)
            account.balance_base = self.balance(account, now) + received / 100.0
            account.balance_time = now
            self.ledger.rebase(account)
            account.updated_at = now
            intent.status = "succeeded"
            self._touch_account(account)
            self._touch("payment", intent.id, asdict(intent))
            self._commit()
            return intent

    def list_payment_intents(self) -> List[PaymentIntent]:
        with self.lock:
            return list(self.payment_intents.values())

    def set_balance(self, api_key: str, balance: float) -> Account:
        with self.lock:
            account = self.require_account_for_key(api_key)
            account.balance_base, account.balance_time = balance, self.clock.now()
            self.ledger.rebase(account)
            self._touch_account(account)
            self._commit()
            return account

    # -- depletion ----------------------------------------------------------------------

    def set_auto_terminate(self, api_key: str, enabled: bool) -> Account:
        with self.lock:
            account = self.require_account_for_key(api_key)
            now = self.clock.now()
            if enabled:
                self._settle_depletion(account, now)  # before: its balance may be spent
            account.auto_terminate_on_depletion = enabled
            account.updated_at = now
            self._touch_account(account)
            self._commit()
            return account

    def settle(self, account: Account) -> None:
        """Apply what the passage of simulated time did to ``account`` (depletion)."""
        with self.lock:
            if self._settle_depletion(account, self.clock.now()):
                self._commit()

    def _settle_depletion(self, account: Account, now: float) -> bool:
        """With ``auto_terminate_on_depletion``, terminate the account's instances at the
        moment its balance reached zero, if it has by ``now``. True when it did."""
        if not account.auto_terminate_on_depletion or self._balance_for_sign(account, now) >= 0:
            return False
        # The ledger noted the moment spending passed the balance while integrating it
        # (at balance_time for a balance set negative by hand): no walk over instances
        # per request, and none at all once they are gone (issue 15).
        at = self.ledger.depleted_at(account, now)
        if at is None:
            return False
        return self._terminate_all(account, min(at, now), now)

    def _terminate_all(self, account: Account, at: float, now: float) -> bool:
        ended: List[Instance] = []
        for instance_id in self.account_instances.get(account.id, []):
            instance = self.instances[instance_id]
            if instance.status_at(at) in GONE_STATUSES:
                continue
            instance.cut_future(at)
            instance.segments.append(("terminated", at))
            self._touch_instance(instance)
            ended.append(instance)
        if ended:
            self.ledger.rewrite(account, ended, now)
            logger.info("%s ran out of balance: its instances were terminated", account.label)
        return bool(ended)
