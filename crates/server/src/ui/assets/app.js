// Overgang: the little the pages need beyond HTML. No inline scripts (the
// pages' Content-Security-Policy allows only this file).
"use strict";
(function () {
  // <div data-refresh="/ui/ops/fragment" data-interval="5">: reload the
  // element's content from the URL every few seconds, without a full page
  // reload. Pauses while the tab is hidden.
  function refresh(el) {
    var url = el.getAttribute("data-refresh");
    var secs = parseInt(el.getAttribute("data-interval") || "5", 10);
    function tick() {
      if (document.hidden) { return schedule(); }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.text(); })
        .then(function (html) { el.innerHTML = html; el.removeAttribute("aria-busy"); el.setAttribute("data-refreshed", String(Date.now())); })
        .catch(function () { el.setAttribute("data-stale", "1"); })
        .then(schedule);
    }
    function schedule() { setTimeout(tick, Math.max(1, secs) * 1000); }
    schedule();
  }
  // <form data-confirm="Are you sure?">: ask before submitting.
  function confirmForms() {
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.getAttribute("data-confirm"))) { e.preventDefault(); }
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh]").forEach(refresh);
    confirmForms();
  });
})();
// <form data-confirm …><input type="hidden" name="confirm" data-confirmed>:
// once the person has said yes in the browser's dialog, the form says so,
// and the server does not ask again on a page of its own (which is what a
// browser without script gets).
(function () {
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-confirm] input[data-confirmed]").forEach(function (input) {
      input.form.addEventListener("submit", function (e) {
        if (!e.defaultPrevented) { input.value = "yes"; }
      });
    });
  });
})();
