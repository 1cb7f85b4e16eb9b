/* Beyond panel: drag-and-drop upload, confirmations, and live job updates.
   Hand-written, no libraries, nothing from the internet. Every page works without it; this
   only adds convenience. Configuration comes from data-* attributes (no inline script, so the
   Content-Security-Policy can forbid inline code). */
(function () {
  "use strict";

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  /* -- confirmations (delete, revoke) --------------------------------------------------------- */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  /* -- copy buttons (the new API token) ------------------------------------------------------- */
  $all("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = $(button.getAttribute("data-copy"));
      if (!input) { return; }
      input.select();
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
      } else { document.execCommand("copy"); done(); }
    });
  });

  /* -- upload: drag and drop, early size check ------------------------------------------------ */
  function formatSize(bytes) {
    var units = ["bytes", "KB", "MB", "GB"], value = bytes, i = 0;
    while (value >= 1024 && i < units.length - 1) { value /= 1024; i++; }
    return i === 0 ? value + " bytes" : value.toFixed(1) + " " + units[i];
  }

  var form = $("#upload-form");
  if (form) {
    var input = $("#file-input"), zone = $("#dropzone"), chosen = $("#chosen-file");
    var status = $("#upload-status"), button = $("#upload-button");
    var limit = parseInt(form.getAttribute("data-limit"), 10) || 0;

    var describe = function () {
      var file = input.files && input.files[0];
      chosen.textContent = file ? file.name + " (" + formatSize(file.size) + ")" : "";
      status.textContent = "";
      if (file) { modelHint(file); }
    };
    input.addEventListener("change", describe);

    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("dragging");
      });
    });
    ["dragleave", "dragend"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        if (!zone.contains(event.relatedTarget)) { zone.classList.remove("dragging"); }
      });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("dragging");
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) { return; }
      if (files.length > 1) { status.textContent = "Drop one file at a time."; return; }
      input.files = files;  // the normal form submission then sends it
      describe();
      input.focus();
    });
    // Dropping a file elsewhere on the page must not navigate away from the panel.
    window.addEventListener("dragover", function (event) { event.preventDefault(); });
    window.addEventListener("drop", function (event) { event.preventDefault(); });

    form.addEventListener("submit", function (event) {
      var file = input.files && input.files[0];
      if (!file) { return; }
      if (limit && file.size > limit) {
        // Say it now instead of sending megabytes the server will refuse (it answers 413 too).
        event.preventDefault();
        status.textContent = "“" + file.name + "” is " + formatSize(file.size) + ", more than the upload limit of " +
          form.getAttribute("data-limit-text") + ".";
        return;
      }
      button.disabled = true;
      status.textContent = "Uploading and checking “" + file.name + "”…";
    });
  }

  /* -- which model a file's header fits ----------------------------------------------------------
     With several models, read the chosen file's first lines and say which models' required
     columns its header has; when only one fits and another is selected, select that one. The
     server checks the file again whatever this says (and names the fitting model too). */
  function headerCells(line) {
    var best = [];
    [",", ";", "\t", "|"].forEach(function (sep) {
      var cells = line.split(sep);
      if (cells.length > best.length) { best = cells; }
    });
    return best.map(function (cell) {
      return cell.replace(/^\ufeff/, "").trim().replace(/^"(.*)"$/, "$1").trim().toLowerCase();
    });
  }

  function modelHint(file) {
    var select = $("#model-select"), hint = $("#model-hint");
    if (!select || !hint || !file.slice || !window.TextDecoder) { return; }
    hint.textContent = "";
    var reader = new FileReader();
    reader.onload = function () {
      var text = new TextDecoder("utf-8").decode(new Uint8Array(reader.result));
      // The header may sit under a title line or two, as in spreadsheet exports.
      var lines = text.split(/\r\n|\n|\r/).slice(0, 20).filter(function (l) { return l.trim() !== ""; });
      var headers = lines.map(headerCells);
      var fits = Array.prototype.filter.call(select.options, function (option) {
        var needed = JSON.parse(option.getAttribute("data-columns") || "[]");
        return headers.some(function (cells) {
          return needed.every(function (name) { return cells.indexOf(name.trim().toLowerCase()) >= 0; });
        });
      });
      var selected = select.options[select.selectedIndex];
      if (!fits.length || (fits.length > 1 && fits.indexOf(selected) >= 0)) { return; }
      if (fits.length === 1) {
        if (fits[0] !== selected) {
          select.value = fits[0].value;
          hint.textContent = "This file’s header fits only model " + fits[0].value + ": it is selected now.";
        } else {
          hint.textContent = "This file’s header fits only model " + fits[0].value + ".";
        }
      } else {
        hint.textContent = "This file’s header fits models " +
          fits.map(function (o) { return o.value; }).join(", ") + ": choose one.";
      }
    };
    reader.readAsArrayBuffer(file.slice(0, 65536));
  }

  var problems = $("#upload-problems");
  if (problems) { problems.focus(); }

  /* -- browser notifications (only if the user allows them) ------------------------------------ */
  var notifyButton = $("#enable-notifications");
  if (notifyButton && "Notification" in window && Notification.permission === "default") {
    notifyButton.hidden = false;
    notifyButton.addEventListener("click", function () {
      Notification.requestPermission().then(function () { notifyButton.hidden = true; });
    });
  }

  /* -- live updates ------------------------------------------------------------------------------- */
  var live = $("[data-updates-url]");
  if (!live) { return; }
  var since = live.getAttribute("data-since");
  var newestId = parseInt(live.getAttribute("data-newest-id"), 10) || 0;
  var pollMs = parseInt(live.getAttribute("data-poll-ms"), 10) || 2000;
  var nextUrl = live.getAttribute("data-next") || "/jobs";
  var announced = {};
  var notices = $("#notices");
  var stopped = false;

  function rowFrom(html) {
    var holder = document.createElement("tbody");
    holder.innerHTML = html.trim();  // rendered and escaped by the server's template
    return holder.firstElementChild;
  }

  function setText(row, name, text) {
    var cell = $("[data-field='" + name + "']", row);
    if (cell && cell.textContent !== text) { cell.textContent = text; }
  }

  function applyJob(job) {
    var row = document.getElementById("job-" + job.id);
    if (!row) { return; }
    var same = row.getAttribute("data-status") === job.status &&
      $("[data-field='attempts']", row).textContent.trim() === String(job.attempts);
    if (same) {
      // Still in the same state: only progress and time move. Updating in place keeps the
      // keyboard focus where the user left it.
      var bar = $("progress", row);
      if (bar && job.rows_total) { bar.max = job.rows_total; bar.value = job.rows_done; }
      bar && (bar.textContent = Math.round(job.progress * 100) + "%");
      setText(row, "rows", job.display.rows + " rows");
      setText(row, "duration", job.display.duration);
      return;
    }
    var focused = document.activeElement && row.contains(document.activeElement) ? document.activeElement : null;
    var focusKey = focused ? (focused.closest("form") ? focused.closest("form").getAttribute("action") : focused.getAttribute("href")) : null;
    var fresh = rowFrom(job.row_html);
    row.replaceWith(fresh);
    fresh.classList.add("flash-row");
    if (focusKey) {
      var again = $("form[action='" + focusKey + "'] button", fresh) || $("a[href='" + focusKey + "']", fresh) || $("a", fresh);
      if (again) { again.focus(); }
    }
  }

  function announce(item) {
    var key = item.id + "|" + item.finished_at;
    if (announced[key]) { return; }
    announced[key] = true;
    var ok = item.status === "PROCESS OK";
    var box = document.createElement("div");
    box.className = "notice " + (ok ? "notice-ok" : "notice-error");
    box.setAttribute("role", ok ? "status" : "alert");
    var text = document.createElement("span");
    text.textContent = "“" + item.file_name + "” " + (ok ? "finished: PROCESS OK." : "ended with an ERROR" + (item.error ? ": " + item.error : "."));
    box.appendChild(text);
    if (item.result_url) {
      var link = document.createElement("a");
      link.href = item.result_url;
      link.className = "btn btn-small btn-primary";
      link.textContent = "Download .xlsx";
      link.setAttribute("download", "");
      box.appendChild(link);
    }
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", function () { box.remove(); });
    box.appendChild(close);
    notices.prepend(box);
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        new Notification("Beyond: " + item.file_name, {
          body: ok ? "Finished: PROCESS OK. The result is ready to download." : "Ended with an ERROR.",
          tag: "beyond-job-" + item.id
        });
      } catch (e) { /* some browsers only allow notifications from a service worker */ }
    }
  }

  function poll() {
    if (stopped) { return; }
    var url = live.getAttribute("data-updates-url") + "?since=" + encodeURIComponent(since || "") +
      "&next=" + encodeURIComponent(nextUrl);
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 401) {
          stopped = true;
          var box = document.createElement("div");
          box.className = "notice notice-error";
          box.setAttribute("role", "alert");
          box.textContent = "Your session ended. Sign in again to see live updates.";
          notices.prepend(box);
          return null;
        }
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (!data) { return; }
        since = data.now;
        data.jobs.forEach(applyJob);
        data.finished.forEach(announce);
        Object.keys(data.counts || {}).forEach(function (status) {
          var count = $(".chip-" + status.toLowerCase().replace(/ /g, "-") + " .count");
          if (count) { count.textContent = data.counts[status]; }
        });
        if (data.newest_id > newestId) {
          var banner = $("#new-jobs");
          if (banner) { banner.hidden = false; }
        }
      })
      .catch(function () { /* offline for a moment: the next poll catches up */ })
      .then(function () {
        if (!stopped) { window.setTimeout(poll, document.hidden ? Math.max(pollMs, 10000) : pollMs); }
      });
  }
  window.setTimeout(poll, pollMs);
})();
