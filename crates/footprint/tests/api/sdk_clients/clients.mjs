// Segment's and PostHog's Node SDKs sending to Footprint: node clients.mjs HOST KEY.
// The same story as the Python scripts, with ids of their own: anonymous events, an identify
// (Segment: both ids; PostHog: $identify with $anon_distinct_id), an alias, a resent message.
// Exits non-zero if an SDK reported an error.
import { Analytics } from '@segment/analytics-node';
import { PostHog } from 'posthog-node';

const [host, key] = process.argv.slice(2);
const errors = [];

const segment = new Analytics({ writeKey: key, host, maxRetries: 1, flushInterval: 50 });
segment.on('error', (error) => errors.push(`segment: ${error?.reason ?? error?.message ?? JSON.stringify(error)}`));
const tracked = (event) => new Promise((resolve) => segment.track(event, () => resolve()));
await tracked({ anonymousId: 'anon-segnode', event: 'Viewed Product', properties: { sku: 'B2' }, messageId: 'segnode-1' });
await new Promise((resolve) => segment.page({ anonymousId: 'anon-segnode', name: 'Home', messageId: 'segnode-2' }, resolve));
await new Promise((resolve) =>
  segment.identify({ userId: 'ada-segnode', anonymousId: 'anon-segnode', traits: { display_name: 'Ada N' }, messageId: 'segnode-3' }, resolve));
await tracked({ userId: 'ada-segnode', event: 'Order Completed', messageId: 'segnode-4' });
await tracked({ userId: 'ada-segnode', event: 'Order Completed', messageId: 'segnode-4' });
await tracked({ anonymousId: 'device-segnode', event: 'Opened App', messageId: 'segnode-5' });
await new Promise((resolve) => segment.alias({ userId: 'ada-segnode', previousId: 'device-segnode' }, resolve));
await segment.closeAndFlush();

const posthog = new PostHog(key, { host, flushAt: 1, flushInterval: 0, fetchRetryCount: 1 });
posthog.on('error', (error) => errors.push(`posthog: ${error?.message ?? String(error)}`));
posthog.capture({ distinctId: 'anon-phnode', event: '$pageview', properties: { $current_url: 'https://shop.example/' },
  uuid: '0190a5e4-0000-7000-8000-0000000000a1' });
posthog.capture({ distinctId: 'anon-phnode', event: 'clicked buy', uuid: '0190a5e4-0000-7000-8000-0000000000a2' });
await posthog.flush();
posthog.identify({ distinctId: 'grace-phnode', properties: { $anon_distinct_id: 'anon-phnode', display_name: 'Grace N' } });
await posthog.flush();
posthog.capture({ distinctId: 'device-phnode', event: 'opened app', uuid: '0190a5e4-0000-7000-8000-0000000000a3' });
await posthog.flush();
posthog.alias({ distinctId: 'grace-phnode', alias: 'device-phnode' });
posthog.capture({ distinctId: 'anon-phnode', event: 'clicked buy', uuid: '0190a5e4-0000-7000-8000-0000000000a2' });
await posthog.shutdown();

if (errors.length > 0) {
  console.error(errors.join('\n'));
  process.exit(1);
}
console.log('@segment/analytics-node and posthog-node: sent');
