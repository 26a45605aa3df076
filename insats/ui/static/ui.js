// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  // Exit forms: show the details of the chosen reason only (they are ignored otherwise).
  function syncExitReason(select) {
    var form = select.form;
    if (!form) return;
    form.querySelectorAll("[data-when-reason]").forEach(function (set) {
      var shown = set.getAttribute("data-when-reason") === select.value;
      set.hidden = !shown;
    });
  }
  function init(root) {
    root.querySelectorAll("select[data-exit-reason]").forEach(function (select) {
      syncExitReason(select);
      select.addEventListener("change", function () { syncExitReason(select); });
    });
    // A refusal moves focus to its message, so it is read out and seen first.
    var refusal = root.querySelector("#refusal");
    if (refusal) { refusal.setAttribute("tabindex", "-1"); refusal.focus(); }
  }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSwap", function (event) { init(event.target); });
})();
