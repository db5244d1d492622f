"""Segment's own Python SDK sending to Footprint: python segment_client.py HOST WRITE_KEY.

An anonymous visitor views a product and a page, then logs in (identify with both ids and
traits), orders, and the order is sent twice with the same messageId; a device's event is then
aliased to the user. Exits non-zero if the SDK reported an error.
"""
import sys

from segment import analytics

host, write_key = sys.argv[1], sys.argv[2]
errors = []
analytics.write_key = write_key
analytics.host = host
analytics.on_error = lambda error, batch: errors.append(repr(error))
analytics.max_retries = 1

analytics.track(anonymous_id="anon-segpy", event="Viewed Product", properties={"sku": "A1"}, message_id="segpy-1")
analytics.page(anonymous_id="anon-segpy", category="Shop", name="Home", properties={"path": "/"}, message_id="segpy-2")
analytics.flush()
analytics.identify(user_id="ada-segpy", anonymous_id="anon-segpy", traits={"display_name": "Ada"}, message_id="segpy-3")
analytics.track(user_id="ada-segpy", event="Order Completed", properties={"total": 30}, message_id="segpy-4")
analytics.flush()
analytics.track(user_id="ada-segpy", event="Order Completed", properties={"total": 30}, message_id="segpy-4")
analytics.track(anonymous_id="device-segpy", event="Opened App", message_id="segpy-5")
analytics.flush()
analytics.alias(previous_id="device-segpy", user_id="ada-segpy")
analytics.flush()
analytics.shutdown()
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print("segment-analytics-python: sent")
