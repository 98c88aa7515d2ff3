// privlink console: small progressive enhancements. Every page works
// without this script; it only adds copy buttons, the create-endpoint
// form's VPC filter and live status on endpoint pages. It talks only to
// the console itself (same origin).
(function () {
  'use strict';

  // Copy buttons: navigator.clipboard where the page is a secure context,
  // else a hidden textarea and execCommand('copy'), else select the text.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return legacyCopy(text); });
    }
    return legacyCopy(text);
  }
  function legacyCopy(text) {
    return new Promise(function (resolve, reject) {
      var ta = document.createElement('textarea');
      ta.value = text;
      ta.setAttribute('readonly', '');
      ta.style.position = 'fixed';
      ta.style.top = '-1000px';
      document.body.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      document.body.removeChild(ta);
      if (ok) { resolve(); } else { reject(new Error('copy not permitted')); }
    });
  }
  function selectNode(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
  function initCopy() {
    document.querySelectorAll('button[data-copy]').forEach(function (b) {
      b.hidden = false;
      b.addEventListener('click', function () {
        var el = document.getElementById(b.getAttribute('data-copy'));
        if (!el) { return; }
        var label = b.textContent;
        copyText(el.textContent.trim()).then(function () {
          b.textContent = 'Copied';
          b.classList.add('done');
        }, function () {
          selectNode(el);
          b.textContent = 'Press Ctrl+C';
        }).then(function () {
          setTimeout(function () { b.textContent = label; b.classList.remove('done'); }, 1500);
        });
      });
    });
  }

  // Forms with data-confirm ask first (delete buttons).
  function initConfirm() {
    document.addEventListener('submit', function (ev) {
      var msg = ev.target.getAttribute && ev.target.getAttribute('data-confirm');
      if (msg && !window.confirm(msg)) { ev.preventDefault(); }
    });
  }

  // Create endpoint: offer only the chosen VPC's security groups and
  // vSwitches, and pre-select a vSwitch in the first two zones.
  function initVpcFilter() {
    var vpcSel = document.querySelector('select[data-vpc-select]');
    if (!vpcSel) { return; }
    function apply(reselect) {
      var vpc = vpcSel.value;
      document.querySelectorAll('select[data-vpc-filtered]').forEach(function (sel) {
        var firstMatch = null;
        Array.prototype.forEach.call(sel.options, function (o) {
          var v = o.getAttribute('data-vpc');
          if (v === null) { return; }
          var show = v === vpc;
          o.hidden = !show;
          o.disabled = !show;
          if (show && firstMatch === null) { firstMatch = o; }
        });
        var cur = sel.options[sel.selectedIndex];
        var zoneIdx = sel.getAttribute('data-zone-index');
        if (cur && cur.disabled) {
          sel.value = sel.name === 'securityGroup' ? 'new' : '';
        }
        if (reselect) {
          if (sel.name === 'securityGroup') {
            sel.value = firstMatch ? firstMatch.value : 'new';
          } else if (zoneIdx !== null) {
            sel.value = (firstMatch && Number(zoneIdx) < 2) ? firstMatch.value : '';
          }
        }
      });
    }
    vpcSel.addEventListener('change', function () { apply(true); });
    apply(false);
  }

  // Endpoint page: poll the console's status JSON while something is in
  // transition, and update the badges in place.
  var badgeClass = { Active: 'ok', Available: 'ok', Connected: 'ok', Creating: 'wait', Pending: 'wait', Connecting: 'wait' };
  function setBadge(container, value) {
    if (!container) { return; }
    var span = container.querySelector('.badge');
    if (!span) { return; }
    span.textContent = value || '–';
    span.className = 'badge badge-' + (value ? (badgeClass[value] || 'bad') : 'none');
  }
  function initPolling() {
    var root = document.querySelector('[data-status-url]');
    if (!root || root.getAttribute('data-settled') === 'true') { return; }
    var url = root.getAttribute('data-status-url');
    var note = document.querySelector('[data-polling]');
    if (note) { note.hidden = false; }
    var polls = 0;
    function tick() {
      polls++;
      fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' }, cache: 'no-store' })
        .then(function (r) { if (!r.ok) { throw new Error('HTTP ' + r.status); } return r.json(); })
        .then(function (st) {
          setBadge(root.querySelector('[data-ep="endpointStatus"]'), st.endpointStatus);
          setBadge(root.querySelector('[data-ep="connectionStatus"]'), st.connectionStatus);
          (st.zones || []).forEach(function (z) {
            var row = root.querySelector('tr[data-zone-id="' + CSS.escape(z.zoneId) + '"]');
            if (!row) { return; }
            var ip = row.querySelector('[data-zf="ip"]');
            if (ip) { ip.textContent = z.ip; }
            setBadge(row.querySelector('[data-zf="zoneStatus"]'), z.zoneStatus);
          });
          var hint = document.querySelector('[data-pending-hint]');
          if (hint) { hint.hidden = st.connectionStatus !== 'Pending'; }
          root.setAttribute('data-settled', st.settled ? 'true' : 'false');
          if (st.settled) {
            if (note) { note.hidden = true; }
            return;
          }
          setTimeout(tick, polls < 60 ? 1000 : 3000);
        })
        .catch(function () {
          if (note) { note.textContent = 'Live refresh stopped; reload the page.'; }
        });
    }
    setTimeout(tick, 500);
  }

  // Endpoint and service pages: reload the live section (traffic charts,
  // backend health, events; server-rendered HTML from the console itself)
  // every few seconds. Stops when the session ended (the answer is not the
  // section) or the page is hidden for good.
  function initLive() {
    var root = document.querySelector('[data-live-url]');
    if (!root) { return; }
    var url = root.getAttribute('data-live-url');
    var note = root.querySelector('[data-live-note]');
    if (note) { note.hidden = false; }
    function tick() {
      if (document.hidden) { setTimeout(tick, 5000); return; }
      fetch(url, { credentials: 'same-origin', cache: 'no-store', redirect: 'manual' })
        .then(function (r) { if (!r.ok) { throw new Error('HTTP ' + r.status); } return r.text(); })
        .then(function (text) {
          var doc = new DOMParser().parseFromString(text, 'text/html');
          var body = doc.querySelector('.live-body');
          if (!body) { throw new Error('not the live section'); }
          var cur = root.querySelector('.live-body');
          if (cur) { cur.replaceWith(document.adoptNode(body)); } else { root.appendChild(document.adoptNode(body)); }
          var n = root.querySelector('[data-live-note]');
          if (n) { n.hidden = false; }
          root.setAttribute('data-live-updated', String(Date.now()));
          setTimeout(tick, 5000);
        })
        .catch(function () {
          var n = root.querySelector('[data-live-note]');
          if (n) { n.textContent = '· live updates stopped; reload the page'; n.hidden = false; }
        });
    }
    setTimeout(tick, 5000);
  }

  function init() {
    document.documentElement.classList.add('js');
    initCopy();
    initConfirm();
    initVpcFilter();
    initPolling();
    initLive();
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
