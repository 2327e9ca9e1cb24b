// Live refresh for the console's incidents list and incident pages. Without
// this script the pages are complete as loaded and a reload shows the same.
// With it, the console's live stream (/admin/live, SSE) says when an
// incident or a maintenance window changed (drafts and on-call-only entries
// included); the page is then fetched again and each part marked
// data-console-live is swapped in when it differs, so forms being typed into
// stay as they are. It holds off after a while without any activity (a
// refresh would keep an unattended session alive past admin.session_idle) and
// stops once the session has ended.
(function () {
  "use strict";
  var regions = document.querySelectorAll("[data-console-live]");
  var note = document.querySelector("[data-console-live-note]");
  if (!regions.length || !window.EventSource || !window.fetch || !window.DOMParser) return;
  var idleLimit = 10 * 60 * 1000;
  var lastActivity = Date.now();
  var missed = false;
  var busy = false;
  var again = false;
  var source = null;

  function say(text) {
    if (note) note.textContent = text;
  }

  function utcTime() {
    return new Date().toISOString().slice(11, 19) + " UTC";
  }

  // Keeps keyboard focus on the same link or control when its part is replaced.
  function focusKey(root) {
    var active = document.activeElement;
    if (!active || !root.contains(active)) return null;
    if (active.id) return "#" + active.id;
    var href = active.getAttribute("href");
    return href ? '[href="' + href.replace(/"/g, '\\"') + '"]' : null;
  }

  function swap(fresh) {
    var changed = false;
    for (var i = 0; i < regions.length; i++) {
      var region = regions[i];
      var next = fresh.querySelector('[data-console-live="' + region.getAttribute("data-console-live") + '"]');
      if (!next || next.innerHTML === region.innerHTML) continue;
      var key = focusKey(region);
      region.innerHTML = next.innerHTML;
      changed = true;
      if (key) {
        var target = region.querySelector(key);
        if (target) target.focus();
      }
    }
    return changed;
  }

  function refresh() {
    if (document.hidden || Date.now() - lastActivity > idleLimit) {
      missed = true;
      return;
    }
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    missed = false;
    fetch(location.pathname, { credentials: "same-origin", redirect: "manual", headers: { accept: "text/html", "x-console-live": "refresh" } })
      .then(function (res) {
        // A redirect here is the sign-in page: the session ended. The header keeps the session's cookie, so the
        // person's next page load still says why (revoked, expired).
        if (res.type === "opaqueredirect" || res.status === 303) {
          if (source) source.close();
          say("Your session ended, so live refresh stopped. Reload the page to sign in again.");
          return null;
        }
        if (!res.ok) throw new Error("status " + res.status);
        return res.text();
      })
      .then(function (html) {
        if (html === null) return;
        if (swap(new DOMParser().parseFromString(html, "text/html"))) say("Updated at " + utcTime() + ".");
      })
      .catch(function () {
        say("The console did not answer; the next change tries again.");
      })
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  function active() {
    var wasIdle = Date.now() - lastActivity > idleLimit;
    lastActivity = Date.now();
    if (wasIdle && missed) refresh();
  }

  ["pointerdown", "keydown", "wheel", "touchstart"].forEach(function (type) {
    document.addEventListener(type, active, { passive: true });
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && missed) refresh();
  });
  // The console's own stream: every change to incidents and maintenance, drafts and on-call-only entries included.
  // A change between this page's rendering and the stream opening (or while it reconnected) is caught by a refresh when it opens.
  source = new EventSource("/admin/live");
  source.addEventListener("update", refresh);
  // The session ended (signed out, expired, token revoked): the refresh finds the sign-in page and says so.
  source.addEventListener("ended", function () {
    source.close();
    refresh();
  });
  // Says on the page whether the stream is open (tests and curious people read it; nothing depends on it).
  source.addEventListener("open", function () {
    document.body.setAttribute("data-live-stream", "open");
    refresh();
  });
  source.addEventListener("error", function () {
    document.body.setAttribute("data-live-stream", source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
    // Refused (401: the session is gone): the refresh says so and stops.
    if (source.readyState === EventSource.CLOSED) refresh();
  });
})();
