/*
 * Search on a site opened from disk (file://). Browsers refuse `new Worker(url)` for file:// pages, and the
 * theme's search runs in a Web Worker. When the page is a file://, this replaces `Worker` with a stand-in that
 * runs the worker's script in a hidden same-origin iframe and passes messages both ways. Served over http(s)
 * it does nothing. (The name matters: the theme's offline plugin adds a copy from the network unless a
 * polyfill named iframe-worker is already configured; see mkdocs.yml.)
 */
(function () {
  "use strict";
  if (location.protocol !== "file:") {
    return;
  }

  function FileWorker(url) {
    var worker = this;
    var listeners = [];
    var pending = [];
    var ready = false;
    var frame = document.createElement("iframe");
    frame.setAttribute("aria-hidden", "true");
    frame.style.display = "none";
    (document.body || document.documentElement).appendChild(frame);
    var scope = frame.contentWindow;

    this.onmessage = null;
    this.onerror = null;

    function deliver(data) {
      var event = { data: data, target: worker };
      if (typeof worker.onmessage === "function") {
        worker.onmessage(event);
      }
      listeners.slice().forEach(function (listener) {
        listener.call(worker, event);
      });
    }

    function send(data) {
      scope.dispatchEvent(new scope.MessageEvent("message", { data: data }));
    }

    // Inside the iframe, the worker's global postMessage answers the page.
    scope.postMessage = function (data) {
      setTimeout(function () { deliver(data); }, 0);
    };
    scope.importScripts = function () {
      throw new Error("importScripts is not available on a site opened from disk");
    };

    var script = scope.document.createElement("script");
    script.src = new URL(url, location.href).href;
    script.onload = function () {
      ready = true;
      pending.splice(0).forEach(send);
    };
    script.onerror = function (error) {
      if (typeof worker.onerror === "function") {
        worker.onerror(error);
      }
    };
    scope.document.head.appendChild(script);

    this.postMessage = function (data) {
      if (ready) {
        setTimeout(function () { send(data); }, 0);
      } else {
        pending.push(data);
      }
    };
    this.addEventListener = function (type, listener) {
      if (type === "message") {
        listeners.push(listener);
      }
    };
    this.removeEventListener = function (type, listener) {
      listeners = listeners.filter(function (other) { return other !== listener; });
    };
    this.terminate = function () {
      frame.remove();
    };
  }

  window.Worker = FileWorker;
})();
