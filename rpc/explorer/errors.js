// Collects every error the page meets (uncaught, rejected, or written with console.error)
// into window.ternErrors, and counts them in the footer: a reader sees that something went
// wrong, and the browser tests read the list over WebDriver. A classic script, run first.
(function () {
  const errors = [];
  window.ternErrors = errors;
  function record(text) {
    errors.push(String(text));
    const counter = document.getElementById("page-errors");
    if (counter) {
      counter.hidden = false;
      counter.textContent = errors.length + " error" + (errors.length === 1 ? "" : "s") + " on this page: " + errors[errors.length - 1];
    }
  }
  window.addEventListener("error", function (event) {
    record(event.message || event.type);
  });
  window.addEventListener("unhandledrejection", function (event) {
    const reason = event.reason;
    record("unhandled rejection: " + (reason && reason.message ? reason.message : reason));
  });
  const original = console.error.bind(console);
  console.error = function () {
    record(Array.prototype.map.call(arguments, function (a) { return a && a.message ? a.message : String(a); }).join(" "));
    original.apply(null, arguments);
  };
})();
