"""PostHog's Python SDK sending to Footprint: python posthog_client.py HOST API_KEY.

An anonymous visitor's page view and click, the user's own event and traits, an alias that
joins the visitor to the user, and the click resent with the same uuid. Exits non-zero if the
SDK reported an error.
"""
import sys

from posthog import Posthog

host, api_key = sys.argv[1], sys.argv[2]
errors = []
client = Posthog(api_key, host=host, on_error=lambda error, batch: errors.append(repr(error)), max_retries=1)

client.capture("$pageview", distinct_id="anon-phpy", properties={"$current_url": "https://shop.example/"},
               uuid="0190a5e4-0000-7000-8000-000000000001")
client.capture("clicked buy", distinct_id="anon-phpy", properties={"button": "buy"},
               uuid="0190a5e4-0000-7000-8000-000000000002")
client.capture("logged in", distinct_id="grace-phpy", uuid="0190a5e4-0000-7000-8000-000000000003")
client.flush()
client.set(distinct_id="grace-phpy", properties={"display_name": "Grace"})
client.alias(previous_id="grace-phpy", distinct_id="anon-phpy")
client.flush()
client.capture("clicked buy", distinct_id="anon-phpy", properties={"button": "buy"},
               uuid="0190a5e4-0000-7000-8000-000000000002")
client.flush()
client.shutdown()
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print("posthog-python: sent")
