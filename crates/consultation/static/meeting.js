// Live attendance on the meeting page: every screen in the hall polls the count, and the 签到 +1
// button records an arrival without reloading. Without this script the page works as before
// (the forms post and the page reloads).
(function () {
  'use strict';
  var PERIOD_MS = 3000;

  function show(card, a) {
    var q = card.querySelector('[data-testid=meeting-quorum]');
    if (q) {
      q.setAttribute('data-ok', a.quorum_ok ? 'true' : 'false');
      var tag = q.querySelector('.tag');
      if (tag) {
        tag.textContent = a.line;
        tag.className = 'tag ' + (a.quorum_ok ? 'ok' : 'warn');
      }
    }
    var input = card.querySelector('[data-live-present]');
    // Never overwrite what someone is typing.
    if (input && document.activeElement !== input) input.value = String(a.present);
  }

  function refresh(card) {
    return fetch(card.getAttribute('data-meeting-live'), { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (a) { if (a) show(card, a); })
      .catch(function () { /* offline for a moment: the next poll catches up */ });
  }

  function arrive(card, form, ev) {
    ev.preventDefault();
    var body = new URLSearchParams(new FormData(form));
    var button = form.querySelector('button');
    if (button) button.disabled = true;
    fetch(form.action, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-CSRF-Token': body.get('_csrf') || '' },
      body: body.toString(),
      redirect: 'manual'
    })
      .then(function (r) {
        // A refused arrival (e.g. already everyone) is shown by the page itself: post normally.
        if (r.status >= 400) form.submit();
      })
      .catch(function () { form.submit(); })
      .then(function () { return refresh(card); })
      .then(function () { if (button) button.disabled = false; });
  }

  function init() {
    var cards = document.querySelectorAll('[data-meeting-live]');
    Array.prototype.forEach.call(cards, function (card) {
      var form = card.querySelector('[data-live-arrive]');
      if (form) form.addEventListener('submit', function (ev) { arrive(card, form, ev); });
    });
    if (!cards.length) return;
    setInterval(function () {
      if (document.hidden) return;
      Array.prototype.forEach.call(cards, refresh);
    }, PERIOD_MS);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
