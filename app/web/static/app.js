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

  /* -- bulk actions: selected rows, or all N matching the filter; one confirmation ----------- */
  var bulkForm = $("#bulk-form");
  function updateBulk() {
    if (!bulkForm) { return; }
    var boxes = $all("input.select-job");
    var picked = boxes.filter(function (b) { return b.checked; }).length;
    var everyOne = $("#bulk-scope").value === "all";
    var total = parseInt(bulkForm.getAttribute("data-total"), 10) || 0;
    var pageBox = $("#select-page");
    if (pageBox) {
      pageBox.checked = boxes.length > 0 && picked === boxes.length;
      pageBox.indeterminate = picked > 0 && picked < boxes.length;
    }
    var allButton = $("#bulk-all");
    if (allButton) { allButton.textContent = "Select all " + total.toLocaleString("en-US") + " matching this filter"; }
    if (allButton) { allButton.hidden = everyOne || !(picked === boxes.length && boxes.length > 0 && total > boxes.length); }
    var chosen = everyOne ? total : picked;
    bulkForm.setAttribute("data-chosen", String(chosen));
    $("#bulk-count").textContent = everyOne ? "All " + total.toLocaleString("en-US") + " files matching this filter are selected." :
      (picked ? picked + " file" + (picked === 1 ? "" : "s") + " selected." : "Select files to act on several at once.");
    $all(".bulk-buttons button", bulkForm).forEach(function (b) { b.disabled = chosen === 0; });
  }
  if (bulkForm) {
    document.addEventListener("change", function (event) {
      var target = event.target;
      if (target.id === "select-page") {
        $all("input.select-job").forEach(function (b) { b.checked = target.checked; });
        $("#bulk-scope").value = "";
      } else if (target.classList && target.classList.contains("select-job")) {
        $("#bulk-scope").value = "";
      } else { return; }
      updateBulk();
    });
    $("#bulk-all").addEventListener("click", function () {
      $("#bulk-scope").value = "all";
      updateBulk();
    });
    bulkForm.addEventListener("submit", function (event) {
      var button = event.submitter;
      var count = parseInt(bulkForm.getAttribute("data-chosen"), 10) || 0;
      if (!button || !count) { event.preventDefault(); return; }
      var files = count.toLocaleString("en-US") + " file" + (count === 1 ? "" : "s");
      var question = button.getAttribute("data-label") + " " + files + "?" +
        (button.getAttribute("data-danger") ? " Their results are removed too; this cannot be undone." : "");
      if (!window.confirm(question)) { event.preventDefault(); return; }
      $("#bulk-confirmed").value = "1";  // asked here: the server acts at once
    });
    updateBulk();
  }

  /* -- the tab title counts running jobs ------------------------------------------------------ */
  var baseTitle = document.title.replace(/^\(\d+\) /, "");
  function setTitle(running) { document.title = (running ? "(" + running + ") " : "") + baseTitle; }

  /* -- live updates ------------------------------------------------------------------------------- */
  var live = $("[data-updates-url]");
  if (!live) { return; }
  var since = live.getAttribute("data-since");
  var newestId = parseInt(live.getAttribute("data-newest-id"), 10) || 0;
  var pollMs = parseInt(live.getAttribute("data-poll-ms"), 10) || 2000;
  var nextUrl = live.getAttribute("data-next") || "/jobs";
  var pageQuery = live.getAttribute("data-query") || "";
  var liveInsert = live.getAttribute("data-live-insert") === "1";
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
    var wasChecked = $("input.select-job", row);
    if (wasChecked && wasChecked.checked) { $("input.select-job", fresh).checked = true; }
    row.replaceWith(fresh);
    fresh.classList.add("flash-row");
    if (focusKey) {
      var again = $("form[action='" + focusKey + "'] button", fresh) || $("a[href='" + focusKey + "']", fresh) || $("a", fresh);
      if (again) { again.focus(); }
    }
  }

  function insertNew(items) {
    // Newest first from the server: insert the oldest first, each at the top.
    var body = $("#jobs-table tbody");
    if (!body || !items.length) { return; }
    items.slice().reverse().forEach(function (item) {
      if (document.getElementById("job-" + item.id)) { return; }
      var fresh = rowFrom(item.row_html);
      fresh.classList.add("flash-row");
      body.insertBefore(fresh, body.firstChild);
    });
    var wrap = $("#jobs-wrap"), empty = $("#jobs-empty");
    if (wrap) { wrap.hidden = false; }
    if (empty) { empty.hidden = true; }
    if (bulkForm) {
      bulkForm.hidden = false;
      var total = (parseInt(bulkForm.getAttribute("data-total"), 10) || 0) + items.length;
      bulkForm.setAttribute("data-total", String(total));
      updateBulk();
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
      "&next=" + encodeURIComponent(nextUrl) + "&after=" + newestId + (pageQuery ? "&" + pageQuery : "");
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
        setTitle((data.counts || {})["IN PROCESS"] || 0);
        if (liveInsert) {
          insertNew(data.new_jobs || []);
          newestId = Math.max(newestId, data.newest_id);  // what the filter hides is not "new" here
        } else if (data.newest_id > newestId) {
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
