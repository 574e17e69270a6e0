// The demo approve page: reads app.plex.tv's fragment
// (#?clientID=..&code=..&context%5Bdevice%5D%5Bproduct%5D=..&forwardUrl=..),
// shows the asking app's name, and approves the PIN for the chosen user.
(function () {
  "use strict";
  function params() {
    var h = window.location.hash.replace(/^#\??/, "");
    var out = {};
    h.split("&").forEach(function (kv) {
      if (!kv) return;
      var i = kv.indexOf("=");
      var k = i < 0 ? kv : kv.slice(0, i);
      var v = i < 0 ? "" : kv.slice(i + 1);
      try { k = decodeURIComponent(k); v = decodeURIComponent(v.replace(/\+/g, " ")); } catch (e) { return; }
      out[k] = v;
    });
    return out;
  }
  function say(text, cls) {
    var m = document.getElementById("message");
    m.textContent = text;
    m.className = "message " + (cls || "");
  }
  document.addEventListener("DOMContentLoaded", function () {
    var p = params();
    var code = p.code || "";
    var product = p["context[device][product]"] || "";
    var productEl = document.getElementById("product");
    if (product) productEl.textContent = product;
    var form = document.getElementById("form");
    var allow = document.getElementById("allow");
    if (!code) {
      allow.disabled = true;
      say("No code in this link: open it from the app's sign-in button.", "error");
      return;
    }
    fetch("/demo/plextv/auth/pin?code=" + encodeURIComponent(code), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (pin) {
        if (!pin) { allow.disabled = true; say("This code is unknown or has expired.", "error"); return; }
        if (!product && pin.product) productEl.textContent = pin.product;
      })
      .catch(function () { /* the Allow answer will tell */ });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var chosen = form.querySelector("input[name=user]:checked");
      allow.disabled = true;
      fetch("/demo/plextv/auth/approve", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ code: code, clientID: p.clientID || "", user: chosen ? chosen.value : "owner" })
      }).then(function (r) {
        if (r.status !== 204) {
          allow.disabled = false;
          say(r.status === 404 ? "This code is unknown or has expired." : "Could not approve (" + r.status + ").", "error");
          return;
        }
        document.getElementById("ask").className = "hidden";
        say("Approved. You can close this window and return to the app.", "ok");
        if (p.forwardUrl) {
          document.getElementById("back-link").href = p.forwardUrl;
          document.getElementById("back").className = "";
        }
        window.setTimeout(function () { window.close(); }, 600);
      }).catch(function () {
        allow.disabled = false;
        say("Could not reach the demo plex.tv.", "error");
      });
    });
  });
})();
