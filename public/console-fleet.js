// Live refresh for the console's fleet page. Without this script the page
// shows the fleet as it was when loaded, with a Refresh link. With it, the
// nodes part is fetched again every few seconds and swapped in when it
// changed, keeping keyboard focus on the same control. It stops after a while
// without any activity, so a console left open still signs itself out when
// its session goes idle, and when the session has ended.
(function () {
  "use strict";
  var root = document.querySelector("[data-fleet-live]");
  var note = document.querySelector("[data-fleet-note]");
  if (!root || !window.fetch) return;
  var url = root.getAttribute("data-live-url");
  var every = Number(root.getAttribute("data-refresh-ms")) || 5000;
  var idleLimit = 10 * 60 * 1000;
  var lastActivity = Date.now();
  var timer = null;
  var stopped = false;

  function say(text) {
    if (note) note.textContent = text;
  }

  function schedule() {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(tick, every);
  }

  function swap(html) {
    if (root.innerHTML === html) return;
    var active = document.activeElement;
    var focusedId = active && active.id && root.contains(active) ? active.id : null;
    root.innerHTML = html;
    if (focusedId) {
      var again = document.getElementById(focusedId);
      if (again) again.focus();
    }
  }

  function tick() {
    if (document.hidden) return schedule();
    if (Date.now() - lastActivity > idleLimit) {
      say("Live refresh paused after 10 minutes without activity; it resumes when you use the page.");
      return;
    }
    fetch(url, { credentials: "same-origin", redirect: "manual", headers: { accept: "text/html" } })
      .then(function (res) {
        // A redirect here is the sign-in page: the session ended.
        if (res.type === "opaqueredirect" || res.status === 303) {
          stopped = true;
          say("Your session ended, so live refresh stopped. Reload the page to sign in again.");
          return null;
        }
        if (!res.ok) throw new Error("status " + res.status);
        return res.text();
      })
      .then(function (html) {
        if (html === null) return;
        swap(html);
        say("");
        schedule();
      })
      .catch(function () {
        say("The console did not answer; trying again shortly.");
        schedule();
      });
  }

  function active() {
    var wasIdle = Date.now() - lastActivity > idleLimit;
    lastActivity = Date.now();
    if (wasIdle && !stopped) {
      say("");
      tick();
    }
  }

  ["pointerdown", "keydown", "wheel", "touchstart"].forEach(function (type) {
    document.addEventListener(type, active, { passive: true });
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && !stopped) tick();
  });
  schedule();
})();
