"""The shop platforms Tracker reads: one line each. A new platform is a module and a line here."""

from __future__ import annotations

from tracker.orders import generic, shopify, stripe, woocommerce
from tracker.orders.platform import Platform

PLATFORMS: dict[str, Platform] = {
    platform.name: platform
    for platform in (
        shopify.PLATFORM,
        woocommerce.PLATFORM,
        stripe.PLATFORM,
        generic.PLATFORM,
    )
}
