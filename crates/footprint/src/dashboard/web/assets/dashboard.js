// Footprint's dashboard: additions to pages that work without this file.
// - forms marked data-confirm ask before they are sent;
// - an element marked data-live shows this node's ingestion figures, refreshed every 10 s.
"use strict";
(function () {
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  function refresh(panel) {
    fetch("/ui/live", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (live) {
        if (!live) { return; }
        panel.querySelectorAll("[data-live-field]").forEach(function (field) {
          var value = live[field.getAttribute("data-live-field")];
          if (value !== undefined) { field.textContent = value; }
        });
      })
      .catch(function () { /* the next refresh tries again */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live]").forEach(function (panel) {
      window.setInterval(function () { refresh(panel); }, 10000);
    });
  });
})();
