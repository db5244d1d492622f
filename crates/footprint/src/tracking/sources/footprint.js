/* Footprint's browser tracker, served by Footprint at /footprint.js:
 *   <script defer src="https://footprint.example/footprint.js" data-key="fp_pub_…"></script>
 * Sends nothing before footprint.consent({analytics: true}) (or data-consent="granted" when the
 * site has another legal basis), nor ever under Do-Not-Track or Global Privacy Control (unless
 * data-respect-dnt="false"). Page views, single-page navigation included; footprint.track(type,
 * properties); footprint.identify(userId); clicks on elements marked data-fp-event="name" (their
 * other data-fp-* attributes become properties). The anonymous id is kept in localStorage only
 * once analytics consent is given, otherwise it lasts one page. Events are batched within the
 * page, sent with fetch (keepalive; retried once) and with sendBeacon when the page goes away. */
(function (w, d) {
  'use strict';
  var script = d.currentScript;
  if (!script || (w.footprint && w.footprint.version)) return;
  var nav = w.navigator;
  var key = script.getAttribute('data-key') || '';
  var base = script.getAttribute('data-api') || new URL(script.src, w.location.href).origin;
  var endpoint = base + '/api/collect?key=' + encodeURIComponent(key);
  var quiet = script.getAttribute('data-respect-dnt') !== 'false' &&
    (nav.doNotTrack === '1' || w.doNotTrack === '1' || nav.globalPrivacyControl === true);
  var CONSENT = 'fp_consent', ANONYMOUS = 'fp_anonymous_id', USER = 'fp_user_id';

  function read(name) {
    try { return w.localStorage.getItem(name); } catch (e) { return null; }
  }
  function write(name, value) {
    try {
      if (value == null) w.localStorage.removeItem(name); else w.localStorage.setItem(name, value);
    } catch (e) { /* storage refused: ids last one page */ }
  }
  function newId() {
    return w.crypto && w.crypto.randomUUID ? w.crypto.randomUUID()
      : Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  var consent = null;
  try { consent = JSON.parse(read(CONSENT)); } catch (e) { consent = null; }
  if (!consent && script.getAttribute('data-consent') === 'granted') {
    consent = { analytics: true, preferences: false, improvement: false };
  }
  function allowed() { return !quiet && !!consent && consent.analytics === true; }
  var remembered = allowed() && read(CONSENT) !== null;
  var anonymousId = (remembered && read(ANONYMOUS)) || newId();
  var userId = (remembered && read(USER)) || null;
  function remember() {
    write(ANONYMOUS, anonymousId);
    write(USER, userId);
  }

  var queue = [], timer = 0;
  function post(body, retried) {
    if (!w.fetch) { if (nav.sendBeacon) nav.sendBeacon(endpoint, body); return; }
    w.fetch(endpoint, { method: 'POST', body: body, keepalive: true, credentials: 'omit',
      headers: { 'Content-Type': 'text/plain' } })
      .then(function (response) { if (response.status >= 500 && !retried) post(body, true); },
        function () { if (!retried) setTimeout(function () { post(body, true); }, 1000); });
  }
  function flush(leaving) {
    clearTimeout(timer);
    timer = 0;
    if (!queue.length) return;
    var body = JSON.stringify({ sentAt: new Date().toISOString(), batch: queue.splice(0, 100) });
    if (leaving && nav.sendBeacon && nav.sendBeacon(endpoint, body)) return;
    post(body, false);
    if (queue.length) flush(leaving);
  }
  function enqueue(message, force) {
    if (quiet || (!force && !allowed())) return;
    message.messageId = newId();
    message.timestamp = new Date().toISOString();
    message.anonymousId = anonymousId;
    if (userId) message.userId = userId;
    message.context = message.context || {};
    message.context.page = { url: w.location.href, path: w.location.pathname, title: d.title,
      referrer: d.referrer };
    message.context.library = { name: 'footprint.js', version: '1' };
    queue.push(message);
    if (queue.length >= 20) flush(false);
    else if (!timer) timer = setTimeout(function () { flush(false); }, 1000);
  }

  var lastPath = null;
  function page() {
    var path = w.location.pathname + w.location.search;
    if (path === lastPath) return;
    lastPath = path;
    enqueue({ type: 'page', properties: { url: w.location.href, path: w.location.pathname,
      title: d.title, referrer: d.referrer } });
  }

  var api = {
    version: 1,
    track: function (type, properties) {
      enqueue({ type: 'track', event: String(type), properties: properties || {} });
    },
    page: function () { lastPath = null; page(); },
    identify: function (id) {
      userId = id == null ? null : String(id);
      if (allowed()) remember();
      // The choice made in this page is the person's: recorded for the user too.
      if (userId) enqueue({ type: 'identify', context: { consent: consent } });
    },
    consent: function (given) {
      var was = allowed();
      consent = { analytics: !!(given && given.analytics), preferences: !!(given && given.preferences),
        improvement: !!(given && given.improvement) };
      write(CONSENT, JSON.stringify(consent));
      // Recorded by Footprint for this id, whatever the choice.
      enqueue({ type: 'track', event: 'consent_updated', context: { consent: consent } }, true);
      if (consent.analytics) {
        remember();
        if (!was) { lastPath = null; page(); }
      } else {
        write(ANONYMOUS, null);
        write(USER, null);
      }
      flush(false);
    }
  };
  w.footprint = api;

  var history = w.history;
  ['pushState', 'replaceState'].forEach(function (name) {
    var original = history[name];
    history[name] = function () {
      var result = original.apply(this, arguments);
      page();
      return result;
    };
  });
  w.addEventListener('popstate', page);
  d.addEventListener('click', function (event) {
    var element = event.target && event.target.closest && event.target.closest('[data-fp-event]');
    if (!element) return;
    var properties = {};
    for (var name in element.dataset) {
      if (name.indexOf('fp') === 0 && name !== 'fpEvent') {
        properties[name.charAt(2).toLowerCase() + name.slice(3)] = element.dataset[name];
      }
    }
    api.track(element.getAttribute('data-fp-event'), properties);
  }, true);
  w.addEventListener('pagehide', function () { flush(true); });
  d.addEventListener('visibilitychange', function () { if (d.visibilityState === 'hidden') flush(true); });
  page();
})(window, document);
