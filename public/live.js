// Live updates for the status page: without this script the page is complete
// and a reload shows the same. With it, the banner, incidents, maintenance and
// components are replaced in place when the server says they changed (SSE),
// and each uptime bar is one tab stop whose days the arrow keys walk through.
(function () {
  "use strict";
  var body = document.body;
  var version = body.getAttribute("data-live-version") || "";

  function rovingBars(root) {
    var bars = root.querySelectorAll(".uptime-bar");
    for (var i = 0; i < bars.length; i++) {
      var cells = bars[i].querySelectorAll(".cell");
      for (var j = 0; j < cells.length; j++) cells[j].tabIndex = j === cells.length - 1 ? 0 : -1;
    }
  }

  document.addEventListener("keydown", function (event) {
    var cell = event.target;
    if (!cell.classList || !cell.classList.contains("cell")) return;
    var next = null;
    if (event.key === "ArrowLeft") next = cell.previousElementSibling;
    else if (event.key === "ArrowRight") next = cell.nextElementSibling;
    else if (event.key === "Home") next = cell.parentElement.firstElementChild;
    else if (event.key === "End") next = cell.parentElement.lastElementChild;
    if (!next) return;
    event.preventDefault();
    cell.tabIndex = -1;
    next.tabIndex = 0;
    next.focus();
  });

  function apply(update) {
    var parts = update.fragments;
    for (var name in parts) {
      var target = document.querySelector('[data-live="' + name + '"]');
      if (target && target.innerHTML !== parts[name]) {
        target.innerHTML = parts[name];
        if (name === "components") rovingBars(target);
      }
    }
    version = String(update.version);
    body.setAttribute("data-live-version", version);
  }

  rovingBars(document);
  if (!window.EventSource) return;
  var source = null;
  function connect() {
    source = new EventSource("/live?v=" + encodeURIComponent(version));
    source.addEventListener("update", function (event) {
      try {
        apply(JSON.parse(event.data));
      } catch (err) {
        // A bad frame must not break the page; the next update or a reload fixes it.
      }
    });
  }
  connect();
  // Reconnect with the version we have, so a page that slept catches up at once.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && source && source.readyState === EventSource.CLOSED) connect();
  });
})();
