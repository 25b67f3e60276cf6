/* The import form with progress: the files are sent with XMLHttpRequest (whose upload events give
   the upload's progress), to /import/stream, which answers with JSON lines as the import runs:
   {"event": "start"|"queued"|"progress"|"working"|"done"|"rejected"|"error", ...} ("queued": other
   imports run first; its message, in the user's language, says how many).  The last line carries
   the outcome as HTML (the counts, or the row-level error table), rendered by the server in the
   user's language.  Without JavaScript the form posts to /import as a plain form and the page
   comes back with the same outcome.  A separate file, not an inline script, for the
   Content-Security-Policy. */
(function () {
  "use strict";
  var form = document.getElementById("import-form");
  var box = document.getElementById("import-progress");
  var result = document.getElementById("import-result");
  if (!form || !box || !result || !window.XMLHttpRequest || !window.FormData) {
    return;
  }
  var uploadBar = document.getElementById("upload-bar");
  var uploadText = document.getElementById("upload-text");
  var importBar = document.getElementById("import-bar");
  var importText = document.getElementById("import-text");
  var status = document.getElementById("import-status");
  var button = form.querySelector("button[type=submit]");
  var text = form.dataset;

  function number(value, digits) {
    return Number(value).toLocaleString(document.documentElement.lang, {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits
    });
  }

  function show(bar, label, share) {
    var pct = Math.max(0, Math.min(100, share * 100));
    bar.value = pct;
    label.textContent = number(pct, 0) + " %";
  }

  function fail(message) {
    status.textContent = text.failed + text.sep + message;
    status.className = "error";
    form.removeAttribute("data-busy");
    button.disabled = false;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (form.hasAttribute("data-busy")) {
      return;
    }
    var data = new FormData(form);
    var request = new XMLHttpRequest();
    var seen = 0;
    var finished = false;
    var lines = 0;
    form.setAttribute("data-busy", "1");
    button.disabled = true;
    box.hidden = false;
    result.innerHTML = "";
    status.className = "muted";
    status.textContent = text.uploading;
    show(uploadBar, uploadText, 0);
    show(importBar, importText, 0);

    function handle(line) {
      var message = JSON.parse(line);
      lines += 1;
      box.setAttribute("data-lines", String(lines));
      if (message.event === "start") {
        show(uploadBar, uploadText, 1);
        status.textContent = text.importing;
      } else if (message.event === "queued") {
        status.textContent = message.message;
        box.setAttribute("data-queued", String(message.ahead));
      } else if (message.event === "progress") {
        show(importBar, importText, message.total ? message.bytes / message.total : 1);
        status.textContent = text.importing + text.sep + text.rows + " " + number(message.rows, 0);
        box.setAttribute("data-rows", String(message.rows));
      } else if (message.event === "working") {
        status.textContent = text.working;
      } else if (message.event === "done" || message.event === "rejected") {
        finished = true;
        show(importBar, importText, 1);
        status.textContent = "";
        result.innerHTML = message.html;
        box.setAttribute("data-outcome", message.event);
        form.removeAttribute("data-busy");
        button.disabled = false;
      } else if (message.event === "error") {
        finished = true;
        fail(message.message);
      }
    }

    function read() {
      var body = request.responseText;
      var end = body.lastIndexOf("\n");
      if (end < seen) {
        return;
      }
      body.slice(seen, end).split("\n").forEach(function (line) {
        if (line.trim()) {
          handle(line);
        }
      });
      seen = end + 1;
    }

    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        show(uploadBar, uploadText, e.loaded / e.total);
      }
    });
    request.addEventListener("progress", function () {
      if (request.status === 200) {
        read();
      }
    });
    request.addEventListener("load", function () {
      var json = (request.getResponseHeader("Content-Type") || "").indexOf("application/x-ndjson") === 0;
      if (json) {
        read();
      }
      if (!finished) {
        var doc = json ? null : new DOMParser().parseFromString(request.responseText, "text/html");
        var said = doc && (doc.querySelector("main .error") || doc.querySelector("main h1"));
        fail(said ? said.textContent.trim() : String(request.status));
      }
    });
    request.addEventListener("error", function () {
      fail(String(request.status || "network"));
    });
    request.open("POST", form.dataset.stream);
    request.setRequestHeader("Accept", "application/x-ndjson");
    request.send(data);
  });
})();
